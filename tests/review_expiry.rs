//! Review: per-entry expiry across handles with different windows.
use std::thread::sleep;
use std::time::Duration;

use persistdict::{Maintenance, PersistDict};

#[test]
fn each_entry_expires_by_its_last_writers_window() {
    let dir = tempfile::tempdir().unwrap();
    let short: PersistDict<String, u32> = PersistDict::builder(dir.path())
        .expire_after(Duration::from_millis(300))
        .maintenance(Maintenance::Disabled)
        .open()
        .unwrap();
    let never: PersistDict<String, u32> =
        PersistDict::builder(dir.path()).maintenance(Maintenance::Disabled).lru_capacity(0).open().unwrap();
    let long: PersistDict<String, u32> = PersistDict::builder(dir.path())
        .expire_after(Duration::from_secs(3600))
        .maintenance(Maintenance::Disabled)
        .open()
        .unwrap();
    short.insert("s", &1).unwrap();
    short.insert("s_then_never", &2).unwrap();
    never.insert("s_then_never", &3).unwrap();
    never.insert("n_then_s", &4).unwrap();
    short.insert("n_then_s", &5).unwrap();
    short.insert("s_then_long", &6).unwrap();
    long.extend([("s_then_long".to_string(), 7)]).unwrap();
    short.insert("kept_alive", &8).unwrap();
    short.insert("gois", &9).unwrap();
    // A get_or_insert_with that finds the entry is a read, not a write.
    assert_eq!(long.get_or_insert_with("gois", || 10).unwrap(), 9);
    for _ in 0..8 {
        sleep(Duration::from_millis(100));
        // A read through a handle without a window keeps it alive.
        assert_eq!(never.get("kept_alive").unwrap(), Some(8));
    }
    // 800 ms since the short-window writes; kept_alive read 100 ms ago.
    let removed = long.expire().unwrap();
    let mut left: Vec<String> = never.keys().unwrap().map(|k| k.unwrap()).collect();
    left.sort();
    assert_eq!(left, ["kept_alive", "s_then_long", "s_then_never"], "removed {removed}");
    assert_eq!(removed, 3);
}
