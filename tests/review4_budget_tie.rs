//! Review 4: with budgets and two expiry windows, an insert can evict the
//! entry it just wrote (ties in atime across windows go to the smaller
//! window, whatever the seq), and the writer's front LRU then serves the
//! evicted entry.
use std::time::Duration;

use persistdict::{Durability, Maintenance, PersistDict};

#[test]
fn an_insert_never_evicts_its_own_entry_nor_is_it_served_after_eviction() {
    let dir = tempfile::tempdir().unwrap();
    let b = || {
        PersistDict::<u32, Vec<u8>>::builder(dir.path())
            .maintenance(Maintenance::Disabled)
            .durability(Durability::NoSync)
            .max_entries(1)
    };
    let x = b().open().unwrap(); // no window
    let y = b().expire_after(Duration::from_secs(3600)).open().unwrap(); // 1 h window
    for attempt in 0..2000u32 {
        let (kx, ky) = (2 * attempt, 2 * attempt + 1);
        x.insert(&kx, &vec![1]).unwrap();
        let _ = y.get(&u32::MAX).unwrap(); // brings y's LRU tag up to date
        y.insert(&ky, &vec![2]).unwrap();
        let got = y.get(&ky).unwrap();
        let present = y.contains_key(&ky).unwrap();
        assert_eq!(got.is_some(), present, "attempt {attempt}: get(ky) = {got:?} but contains_key(ky) = {present}");
        assert!(
            present,
            "attempt {attempt}: insert(ky) returned Ok, ky was evicted by its own insert; kx kept = {}",
            x.contains_key(&kx).unwrap()
        );
    }
}
