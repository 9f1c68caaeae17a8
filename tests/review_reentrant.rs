//! Review: `get_or_insert_with` whose closure uses the same key of the same
//! dictionary (the docs say `f` "may use this dictionary itself").
use std::sync::mpsc;
use std::time::Duration;

use persistdict::PersistDict;

#[test]
fn reentrant_get_or_insert_with_on_the_same_key_does_not_hang() {
    let dir = tempfile::tempdir().unwrap();
    let d: PersistDict<String, u32> = PersistDict::open(dir.path()).unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        // Without the single flight: the inner call stores 1, the outer finds it.
        let v = d.get_or_insert_with("k", || d.get_or_insert_with("k", || 1).unwrap() + 1);
        let _ = tx.send(v.map_err(|e| e.to_string()));
    });
    match rx.recv_timeout(Duration::from_secs(10)) {
        Ok(r) => assert!(r.is_ok(), "{r:?}"),
        Err(_) => panic!("hang: the closure waits for the flight its own caller leads"),
    }
}
