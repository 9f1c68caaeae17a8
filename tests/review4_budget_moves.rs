//! Review 4: `enforce` stops after EVICT_BATCH index rows were *moved*
//! (entries overwritten within the atime granularity keep their old index
//! row), so an insert can return with the database over max_entries.
use std::time::Duration;

use persistdict::{Durability, Maintenance, PersistDict};

#[test]
fn max_entries_holds_after_overwrites_within_the_granularity() {
    let dir = tempfile::tempdir().unwrap();
    let d = PersistDict::<u32, Vec<u8>>::builder(dir.path())
        .maintenance(Maintenance::Disabled)
        .durability(Durability::NoSync)
        .max_entries(300)
        .open()
        .unwrap();
    for i in 0..300u32 {
        d.insert(&i, &vec![0]).unwrap();
    }
    std::thread::sleep(Duration::from_millis(5));
    // Overwrites within the default granularity (60 s): rows stay where they were.
    for i in 0..300u32 {
        d.insert(&i, &vec![1]).unwrap();
    }
    d.insert(&1000, &vec![2]).unwrap();
    assert!(d.len().unwrap() <= 300, "{} entries after an insert, max_entries 300", d.len().unwrap());
}
