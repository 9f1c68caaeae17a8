//! Review 4: two compact_to calls into one destination: the "destination
//! already holds a database" check is not atomic with the rename, and both
//! write the same temporary file (heed opens it with truncate).
use std::sync::Barrier;

use persistdict::{Durability, PersistDict};

#[test]
fn two_compactions_into_one_destination() {
    let root = tempfile::tempdir().unwrap();
    let small: PersistDict<u32, String> =
        PersistDict::builder(root.path().join("small")).durability(Durability::NoSync).open().unwrap();
    let big: PersistDict<u32, String> =
        PersistDict::builder(root.path().join("big")).durability(Durability::NoSync).open().unwrap();
    small.extend((0..10u32).map(|i| (i, format!("small{i}")))).unwrap();
    big.extend((0..200_000u32).map(|i| (i, format!("big{i}-{}", "x".repeat(60))))).unwrap();
    let dest = root.path().join("dest");
    let barrier = Barrier::new(2);
    let (rs, rb) = std::thread::scope(|s| {
        let a = s.spawn(|| {
            barrier.wait();
            small.compact_to(&dest)
        });
        let b = s.spawn(|| {
            barrier.wait();
            // Start once the small copy has opened its temporary file (it
            // then writes a few pages and syncs them: the window).
            // (Temporary names are per call now: wait for any, or for the
            // small copy to be in place, with a bound.)
            let started = std::time::Instant::now();
            let any_tmp = || {
                std::fs::read_dir(&dest).into_iter().flatten().flatten().any(|e| {
                    let n = e.file_name().to_string_lossy().into_owned();
                    n.starts_with("data.mdb")
                })
            };
            while !any_tmp() && started.elapsed() < std::time::Duration::from_secs(5) {
                std::thread::yield_now();
            }
            big.compact_to(&dest)
        });
        (a.join().unwrap(), b.join().unwrap())
    });
    eprintln!("small: {rs:?}\nbig: {rb:?}");
    assert!(!(rs.is_ok() && rb.is_ok()), "both succeeded: one destination, two databases; the first was overwritten");
    let copy: PersistDict<u32, String> = PersistDict::open(&dest).unwrap();
    let n = copy.len().unwrap();
    if rs.is_ok() {
        assert_eq!(n, 10, "small's compact_to returned Ok, dest holds {n} entries");
        assert_eq!(copy.get(&3).unwrap().as_deref(), Some("small3"));
    }
    if rb.is_ok() {
        assert_eq!(n, 200_000, "big's compact_to returned Ok, dest holds {n} entries");
    }
    assert!(copy.check_integrity().unwrap().is_clean());
}
