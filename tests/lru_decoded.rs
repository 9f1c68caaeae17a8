//! `Builder::cache_decoded`: the LRU keeps values decoded, and is exactly as
//! coherent as the byte LRU: a value changed or removed by another handle,
//! this handle or another process is never served from it.

use std::collections::HashMap;

use persistdict::PersistDict;

const CHILD: &str = env!("CARGO_BIN_EXE_persistdict-child");

fn decoded(path: &std::path::Path) -> PersistDict<u64, u64> {
    PersistDict::builder(path).lru_capacity(64).cache_decoded().open().unwrap()
}

#[test]
fn another_handle_or_process_changing_a_value_is_seen() {
    let dir = tempfile::tempdir().unwrap();
    let a = decoded(dir.path());
    let b: PersistDict<u64, u64> = PersistDict::builder(dir.path()).lru_capacity(0).open().unwrap();
    a.insert(&1, &10).unwrap();
    assert_eq!(a.get(&1).unwrap(), Some(10));
    assert_eq!(a.get(&1).unwrap(), Some(10), "now decoded in the LRU");
    assert!(a.stats().unwrap().lru_hits >= 1);
    b.insert(&1, &11).unwrap();
    assert_eq!(a.get(&1).unwrap(), Some(11), "another handle's overwrite");
    assert_eq!(a.get(&1).unwrap(), Some(11));
    b.remove(&1).unwrap();
    assert_eq!(a.get(&1).unwrap(), None, "another handle's removal");
    a.insert(&1, &12).unwrap();
    assert_eq!(a.get(&1).unwrap(), Some(12), "our own write");
    assert_eq!(a.get(&1).unwrap(), Some(12));
    let out =
        std::process::Command::new(CHILD).args(["insert", dir.path().to_str().unwrap(), "1", "13"]).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(a.get(&1).unwrap(), Some(13), "another process's overwrite");
}

#[test]
fn a_random_workload_of_two_handles_matches_a_model() {
    let dir = tempfile::tempdir().unwrap();
    let handles = [decoded(dir.path()), decoded(dir.path())];
    let mut model: HashMap<u64, u64> = HashMap::new();
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    for step in 0..4000u64 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let h = &handles[(x % 2) as usize];
        let key = (x >> 8) % 16;
        match (x >> 16) % 4 {
            0 => {
                h.insert(&key, &step).unwrap();
                model.insert(key, step);
            }
            1 => {
                h.remove(&key).unwrap();
                model.remove(&key);
            }
            _ => assert_eq!(h.get(&key).unwrap(), model.get(&key).copied(), "step {step}, key {key}"),
        }
    }
}
