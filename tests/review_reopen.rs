//! Review: drop the last handle while a background sweep runs, reopen at once.
use std::time::{Duration, Instant};

use persistdict::{Maintenance, PersistDict};

#[test]
fn reopen_during_a_sweep_loses_nothing_that_is_not_due() {
    let dir = tempfile::tempdir().unwrap();
    {
        let d: PersistDict<u32, u32> = PersistDict::builder(dir.path())
            .expire_after(Duration::from_millis(1))
            .maintenance(Maintenance::Disabled)
            .open()
            .unwrap();
        d.extend((0..20_000u32).map(|i| (i, i))).unwrap();
        let keep: PersistDict<u32, u32> =
            PersistDict::builder(dir.path()).maintenance(Maintenance::Disabled).open().unwrap();
        keep.extend((100_000..100_100u32).map(|i| (i, i))).unwrap();
    }
    std::thread::sleep(Duration::from_millis(20));
    let t0 = Instant::now();
    for round in 0..20u32 {
        let d: PersistDict<u32, u32> =
            PersistDict::builder(dir.path()).maintenance(Maintenance::Background).open().unwrap();
        d.insert(&(200_000 + round), &round).unwrap();
        for i in 100_000..100_100u32 {
            assert_eq!(d.get(&i).unwrap(), Some(i), "round {round}");
        }
        drop(d);
    }
    assert!(t0.elapsed() < Duration::from_secs(60), "took {:?}", t0.elapsed());
    let d: PersistDict<u32, u32> =
        PersistDict::builder(dir.path()).maintenance(Maintenance::Foreground).open().unwrap();
    for round in 0..20u32 {
        assert_eq!(d.get(&(200_000 + round)).unwrap(), Some(round));
    }
    assert_eq!(d.len().unwrap(), 120);
    assert!(d.check_integrity().unwrap().is_clean());
}
