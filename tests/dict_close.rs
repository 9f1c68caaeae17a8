//! Issue 16: `close()` and `is_initialized()`, what the Python binding needs
//! from the crate. A garbage collector may keep a dropped dictionary alive;
//! after an explicit `close()`, a directory deleted and recreated at the same
//! path opens at once.

use std::time::{Duration, Instant};

use persistdict::raw::RawDb;
use persistdict::{Error, Maintenance, PersistDict};

type Dict = PersistDict<String, u32>;

#[test]
fn without_close_a_replaced_directory_is_still_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let old: Dict = PersistDict::open(&path).unwrap();
    old.insert("a", &1).unwrap();
    std::fs::remove_dir_all(&path).unwrap();
    assert!(matches!(Dict::open(&path), Err(Error::StillOpen { .. })));
    // close() is what the binding calls when Python drops its object late.
    old.close().unwrap();
    let started = Instant::now();
    let new: Dict = PersistDict::open(&path).unwrap();
    assert!(started.elapsed() < Duration::from_secs(1), "opened at once");
    assert_eq!(new.len().unwrap(), 0);
}

#[test]
fn close_then_delete_and_recreate_opens_at_once_every_time() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    for round in 0..20u32 {
        let started = Instant::now();
        let d: Dict = PersistDict::builder(&path).expire_days(1).open().unwrap();
        assert_eq!(d.len().unwrap(), 0, "round {round}: a fresh directory");
        d.insert("k", &round).unwrap();
        d.close().unwrap();
        std::fs::remove_dir_all(&path).unwrap();
        assert!(started.elapsed() < Duration::from_secs(2), "round {round} waited");
    }
}

#[test]
fn close_waits_for_a_running_maintenance_batch() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    {
        let d: PersistDict<u32, u32> = PersistDict::builder(&path)
            .expire_after(Duration::from_millis(1))
            .maintenance(Maintenance::Disabled)
            .open()
            .unwrap();
        d.extend((0..2000).map(|i| (i, i))).unwrap();
    }
    std::thread::sleep(Duration::from_millis(5));
    // Everything is due: this open starts a background expiry batch.
    let d: PersistDict<u32, u32> = PersistDict::builder(&path).maintenance(Maintenance::Background).open().unwrap();
    d.close().unwrap();
    std::fs::remove_dir_all(&path).unwrap();
    let d: PersistDict<u32, u32> = PersistDict::open(&path).unwrap();
    assert_eq!(d.len().unwrap(), 0);
}

#[test]
fn close_leaves_other_handles_and_clones_working() {
    let dir = tempfile::tempdir().unwrap();
    let a: Dict = PersistDict::open(dir.path()).unwrap();
    let b: Dict = PersistDict::open(dir.path()).unwrap();
    let a2 = a.clone();
    a.insert("x", &1).unwrap();
    a.close().unwrap(); // a clone remains: returns at once
    assert_eq!(a2.get("x").unwrap(), Some(1));
    a2.close().unwrap(); // another handle remains: the environment stays open
    assert_eq!(b.get("x").unwrap(), Some(1));
    b.insert("y", &2).unwrap();
    b.close().unwrap();
    let c: Dict = PersistDict::open(dir.path()).unwrap();
    assert_eq!(c.len().unwrap(), 2);
}

#[test]
fn a_raw_view_closes_too() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let d: Dict = PersistDict::open(&path).unwrap();
    d.insert("a", &1).unwrap();
    d.close().unwrap();
    let raw = RawDb::open(&path).unwrap();
    assert_eq!(raw.stats().unwrap().entries, 1);
    raw.close().unwrap();
    std::fs::remove_dir_all(&path).unwrap();
    let d: Dict = PersistDict::open(&path).unwrap();
    assert!(d.is_empty().unwrap());
}

#[test]
fn is_initialized_reads_the_flag_without_setting_it() {
    let dir = tempfile::tempdir().unwrap();
    let d: Dict = PersistDict::open(dir.path()).unwrap();
    let other: Dict = PersistDict::open(dir.path()).unwrap();
    assert!(!d.is_initialized().unwrap());
    assert!(!d.is_initialized().unwrap(), "asking did not set it");
    d.insert("plain", &0).unwrap();
    assert!(!d.is_initialized().unwrap(), "an insert is not an initialize");
    d.initialize([]).unwrap(); // even an empty initialize counts
    assert!(other.is_initialized().unwrap(), "seen by another handle");
    assert!(RawDb::open(dir.path()).unwrap().is_initialized().unwrap(), "and by the raw view");
    assert!(matches!(other.initialize([]), Err(Error::AlreadyInitialized { .. })));
    other.clear().unwrap();
    assert!(!d.is_initialized().unwrap());
    d.initialize([("a".to_string(), 1)]).unwrap();
    assert!(d.is_initialized().unwrap());
}
