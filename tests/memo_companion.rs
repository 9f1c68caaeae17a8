//! Issue 10, item 7: the companion shares the function's one store. With a
//! relative `db` and a current directory changed after the first call,
//! `is_cached`, `invalidate` and `dict` still act on the database the
//! function uses, and `stats` shows the function's own LRU figures.
//! (Its own test binary: it changes the process's current directory.)

use std::sync::atomic::{AtomicUsize, Ordering};

use persistdict::persist_cache;

static CALLS: AtomicUsize = AtomicUsize::new(0);

#[persist_cache(db = "companion_cache")]
fn double(x: u32) -> u32 {
    CALLS.fetch_add(1, Ordering::SeqCst);
    x * 2
}

#[test]
fn item07_the_companion_acts_on_the_functions_store_after_a_chdir() {
    let first = tempfile::tempdir().unwrap();
    let second = tempfile::tempdir().unwrap();
    std::env::set_current_dir(first.path()).unwrap();
    assert_eq!(double(21), 42);
    std::env::set_current_dir(second.path()).unwrap();
    assert!(double_cache(21).is_cached());
    assert_eq!(
        double_cache(21).store().path().canonicalize().unwrap(),
        first.path().canonicalize().unwrap().join("companion_cache")
    );
    assert_eq!(double(21), 42);
    let stats = double_cache(0).store().stats().unwrap();
    assert!(stats.lru_hits >= 1, "the function's LRU hits show through the companion: {stats:?}");
    assert!(double_cache(21).invalidate().unwrap());
    assert!(!double_cache(21).is_cached());
    assert_eq!(double(21), 42);
    assert_eq!(CALLS.load(Ordering::SeqCst), 2, "invalidate removed the entry the function reads");
    assert!(!second.path().join("companion_cache").exists());
}
