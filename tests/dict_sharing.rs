//! Sharing one directory: handles, threads, processes; map growth; long keys.

use std::process::Command;

use persistdict::PersistDict;

const CHILD: &str = env!("CARGO_BIN_EXE_persistdict-child");

fn child(args: &[&str]) -> String {
    let out = Command::new(CHILD).args(args).output().expect("spawn child");
    assert!(out.status.success(), "child failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn two_handles_see_each_others_writes_and_removals() {
    let dir = tempfile::tempdir().unwrap();
    let a: PersistDict<u64, u64> = PersistDict::open(dir.path()).unwrap();
    let b: PersistDict<u64, u64> = PersistDict::open(dir.path()).unwrap();
    a.insert(&1, &10).unwrap();
    assert_eq!(b.get(&1).unwrap(), Some(10));
    b.insert(&1, &11).unwrap();
    assert_eq!(a.get(&1).unwrap(), Some(11));
    a.remove(&1).unwrap();
    assert_eq!(b.get(&1).unwrap(), None);
}

#[test]
fn a_symlinked_path_finds_the_same_environment() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real");
    let link = dir.path().join("link");
    let a: PersistDict<u64, u64> = PersistDict::open(&real).unwrap();
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let b: PersistDict<u64, u64> = PersistDict::open(&link).unwrap();
    a.insert(&5, &5).unwrap();
    assert_eq!(b.get(&5).unwrap(), Some(5));
}

#[test]
fn two_processes_write_concurrently() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let p = path.to_str().unwrap();
    // Create it first so both children open an existing environment.
    drop(PersistDict::<u64, u64>::open(&path).unwrap());
    let c1 = Command::new(CHILD).args(["write", p, "0", "5000"]).spawn().unwrap();
    let c2 = Command::new(CHILD).args(["write", p, "5000", "5000"]).spawn().unwrap();
    for mut c in [c1, c2] {
        assert!(c.wait().unwrap().success());
    }
    let d: PersistDict<u64, u64> = PersistDict::open(&path).unwrap();
    assert_eq!(d.len().unwrap(), 10_000);
    for k in (0..10_000).step_by(97) {
        assert_eq!(d.get(&k).unwrap(), Some(k * 2));
    }
}

#[test]
fn lru_is_coherent_across_processes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let p = path.to_str().unwrap();
    let d: PersistDict<u64, u64> = PersistDict::builder(&path).lru_capacity(16).open().unwrap();
    d.insert(&1, &100).unwrap();
    assert_eq!(d.get(&1).unwrap(), Some(100));
    assert_eq!(d.get(&1).unwrap(), Some(100)); // now in the LRU
    child(&["insert", p, "1", "200"]);
    assert_eq!(d.get(&1).unwrap(), Some(200));
    assert_eq!(child(&["get", p, "1"]), "200");
}

#[test]
fn two_hundred_reader_threads() {
    let dir = tempfile::tempdir().unwrap();
    let d: PersistDict<u64, u64> = PersistDict::builder(dir.path()).lru_capacity(0).open().unwrap();
    d.extend((0..1000).map(|i| (i, i))).unwrap();
    let barrier = std::sync::Barrier::new(200);
    std::thread::scope(|s| {
        for t in 0..200u64 {
            let (d, barrier) = (d.clone(), &barrier);
            s.spawn(move || {
                barrier.wait();
                let it = d.iter().unwrap(); // holds a reader slot while all others read
                barrier.wait();
                for k in 0..100 {
                    assert_eq!(d.get(&((t + k) % 1000)).unwrap(), Some((t + k) % 1000));
                }
                assert_eq!(it.count(), 1000);
            });
        }
    });
}

#[test]
fn the_map_grows_from_tiny_to_300_mib() {
    let dir = tempfile::tempdir().unwrap();
    let d: PersistDict<u64, Vec<u8>> = PersistDict::builder(dir.path())
        .map_size(64 * 1024)
        .durability(persistdict::Durability::NoSync)
        .open()
        .unwrap();
    let chunk = vec![0xA5u8; 1 << 20];
    for i in 0..300 {
        d.insert(&i, &chunk).unwrap();
    }
    assert_eq!(d.len().unwrap(), 300);
    assert_eq!(d.get(&299).unwrap().map(|v| v.len()), Some(1 << 20));
    assert!(d.stats().unwrap().disk_bytes >= 300 << 20);
}

fn weak_hash(_: &[u8]) -> [u8; 32] {
    [42; 32]
}

#[test]
fn a_forced_hash_collision_is_a_miss_never_a_wrong_value() {
    let dir = tempfile::tempdir().unwrap();
    let d: PersistDict<String, String> =
        PersistDict::builder(dir.path()).key_size_limit(8).__key_hasher(weak_hash).open().unwrap();
    let (a, b) = ("a long key number one".to_string(), "another long key, two".to_string());
    d.insert(&a, &"A".to_string()).unwrap();
    assert_eq!(d.get(&a).unwrap().as_deref(), Some("A"));
    assert_eq!(d.get(&b).unwrap(), None, "b collides with a but must not see its value");
    assert!(!d.contains_key(&b).unwrap());
    assert!(!d.remove(&b).unwrap());
    d.insert(&b, &"B".to_string()).unwrap();
    assert_eq!(d.get(&b).unwrap().as_deref(), Some("B"));
    assert_eq!(d.get(&a).unwrap(), None);
    let keys: Vec<String> = d.keys().unwrap().collect::<Result<_, _>>().unwrap();
    assert_eq!(keys, [b]);
}

#[test]
fn a_directory_deleted_after_the_last_handle_is_not_served_from_memory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    for round in 0..20u64 {
        let d: PersistDict<u64, u64> = PersistDict::builder(&path).expire_days(1).open().unwrap();
        assert_eq!(d.len().unwrap(), 0, "round {round}: a deleted database was served from memory");
        d.insert(&round, &round).unwrap();
        drop(d);
        std::fs::remove_dir_all(&path).unwrap();
    }
}
