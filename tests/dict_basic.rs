//! Every map-like method against a real LMDB directory.

use persistdict::{Error, PersistDict};

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

#[test]
fn insert_get_overwrite_remove() {
    let dir = tmp();
    let d: PersistDict<String, Vec<u32>> = PersistDict::open(dir.path().join("db")).unwrap();
    assert_eq!(d.get("a").unwrap(), None);
    d.insert("a", &vec![1, 2]).unwrap();
    assert_eq!(d.get("a").unwrap(), Some(vec![1, 2]));
    d.insert(&"a".to_string(), &vec![3]).unwrap();
    assert_eq!(d.get("a").unwrap(), Some(vec![3]));
    assert!(d.contains_key("a").unwrap());
    assert_eq!(d.len().unwrap(), 1);
    assert!(d.remove("a").unwrap());
    assert!(!d.remove("a").unwrap());
    assert!(!d.contains_key("a").unwrap());
    assert!(d.is_empty().unwrap());
}

#[test]
fn values_survive_reopen() {
    let dir = tmp();
    let path = dir.path().join("db");
    {
        let d: PersistDict<u64, String> = PersistDict::open(&path).unwrap();
        d.extend((0..100).map(|i| (i, format!("v{i}")))).unwrap();
    }
    let d: PersistDict<u64, String> = PersistDict::open(&path).unwrap();
    assert_eq!(d.len().unwrap(), 100);
    assert_eq!(d.get(&42).unwrap().as_deref(), Some("v42"));
}

#[test]
fn iteration_is_in_insertion_order_and_overwrite_keeps_place() {
    let dir = tmp();
    let d: PersistDict<String, u32> = PersistDict::open(dir.path()).unwrap();
    for k in ["z", "a", "m"] {
        d.insert(k, &1).unwrap();
    }
    d.insert("a", &2).unwrap();
    let keys: Vec<String> = d.keys().unwrap().collect::<Result<_, _>>().unwrap();
    assert_eq!(keys, ["z", "a", "m"]);
    let values: Vec<u32> = d.values().unwrap().collect::<Result<_, _>>().unwrap();
    assert_eq!(values, [1, 2, 1]);
    let pairs: Vec<(String, u32)> = d.iter().unwrap().collect::<Result<_, _>>().unwrap();
    assert_eq!(pairs[1], ("a".to_string(), 2));
}

#[test]
fn iterator_is_a_snapshot_and_the_same_thread_may_write_meanwhile() {
    let dir = tmp();
    let d: PersistDict<u32, u32> = PersistDict::open(dir.path()).unwrap();
    d.extend((0..1000).map(|i| (i, i))).unwrap();
    let mut seen = 0;
    for (i, item) in d.iter().unwrap().enumerate() {
        let (k, v) = item.unwrap();
        assert_eq!((k, v), (i as u32, i as u32));
        d.insert(&(10_000 + k), &0).unwrap();
        d.remove(&k).unwrap();
        seen += 1;
    }
    assert_eq!(seen, 1000);
    assert_eq!(d.len().unwrap(), 1000);
    assert!(!d.contains_key(&5).unwrap());
}

#[test]
fn clear_empties_everything() {
    let dir = tmp();
    let d: PersistDict<u32, u32> = PersistDict::open(dir.path()).unwrap();
    d.extend((0..10).map(|i| (i, i))).unwrap();
    d.clear().unwrap();
    assert!(d.is_empty().unwrap());
    assert_eq!(d.iter().unwrap().count(), 0);
    d.insert(&1, &1).unwrap();
    assert_eq!(d.get(&1).unwrap(), Some(1));
}

#[test]
fn metadata_keeps_ctime_across_overwrite_and_reopen() {
    let dir = tmp();
    let path = dir.path().join("db");
    let ctime = {
        let d: PersistDict<String, u32> = PersistDict::open(&path).unwrap();
        d.insert("k", &1).unwrap();
        let m = d.metadata("k").unwrap().unwrap();
        assert!(m.ctime <= m.atime);
        std::thread::sleep(std::time::Duration::from_millis(20));
        d.insert("k", &2).unwrap();
        let m2 = d.metadata("k").unwrap().unwrap();
        assert_eq!(m2.ctime, m.ctime);
        assert!(m2.atime > m.atime);
        m.ctime
    };
    let d: PersistDict<String, u32> = PersistDict::open(&path).unwrap();
    assert_eq!(d.metadata("k").unwrap().unwrap().ctime, ctime);
    assert_eq!(d.metadata("missing").unwrap(), None);
}

#[test]
fn get_or_insert_with_computes_once_and_try_variant_stores_only_ok() {
    let dir = tmp();
    let d: PersistDict<String, u64> = PersistDict::open(dir.path()).unwrap();
    let mut calls = 0;
    for _ in 0..3 {
        let v = d.get_or_insert_with("k", || {
            calls += 1;
            7
        });
        assert_eq!(v.unwrap(), 7);
    }
    assert_eq!(calls, 1);
    let r = d.try_get_or_insert_with("e", || Err::<u64, &str>("boom")).unwrap();
    assert_eq!(r, Err("boom"));
    assert!(!d.contains_key("e").unwrap());
    let r = d.try_get_or_insert_with("e", || Ok::<u64, &str>(5)).unwrap();
    assert_eq!(r, Ok(5));
    assert_eq!(d.get("e").unwrap(), Some(5));
}

#[test]
fn name_path_and_stats() {
    let dir = tmp();
    let path = dir.path().join("mydb");
    let d: PersistDict<u32, u32> = PersistDict::open(&path).unwrap();
    assert_eq!(d.name(), "mydb");
    assert_eq!(d.path(), path);
    d.insert(&1, &1).unwrap();
    d.get(&1).unwrap();
    d.get(&1).unwrap();
    let s = d.stats().unwrap();
    assert_eq!(s.entries, 1);
    assert!(s.disk_bytes > 0);
    assert!(s.lru_hits >= 1, "{s:?}");
    let named: PersistDict<u32, u32> = PersistDict::builder(&path).name("other").open().unwrap();
    assert_eq!(named.name(), "other");
}

#[test]
fn empty_key_huge_key_and_huge_value_work() {
    let dir = tmp();
    let d: PersistDict<Vec<u8>, Vec<u8>> = PersistDict::open(dir.path()).unwrap();
    d.insert(&vec![], &vec![1]).unwrap();
    assert_eq!(d.get(&vec![]).unwrap(), Some(vec![1]));
    let big_key = vec![7u8; 10 << 20];
    d.insert(&big_key, &vec![2]).unwrap();
    assert_eq!(d.get(&big_key).unwrap(), Some(vec![2]));
    let big_value = vec![9u8; 50 << 20];
    d.insert(&vec![3], &big_value).unwrap();
    assert_eq!(d.get(&vec![3]).unwrap().map(|v| v.len()), Some(50 << 20));
    let keys: Vec<Vec<u8>> = d.keys().unwrap().collect::<Result<_, _>>().unwrap();
    assert_eq!(keys.len(), 3);
    assert_eq!(keys[1].len(), 10 << 20);
}

#[test]
fn a_type_change_is_a_type_mismatch_and_the_entry_stays() {
    let dir = tmp();
    let path = dir.path().join("db");
    let d: PersistDict<String, String> = PersistDict::open(&path).unwrap();
    d.insert("k", &"text".to_string()).unwrap();
    let as_int: PersistDict<String, u64> = PersistDict::open(&path).unwrap();
    let err = as_int.get("k").unwrap_err();
    assert!(matches!(err, Error::TypeMismatch { .. }), "{err}");
    assert!(err.to_string().contains("alloc::string::String") && err.to_string().contains("u64"), "{err}");
    assert!(err.to_string().contains("\"k\"") || err.to_string().contains('k'), "{err}");
    assert_eq!(d.get("k").unwrap().as_deref(), Some("text"));
}

#[test]
fn json_codec_and_codec_mismatch() {
    let dir = tmp();
    let path = dir.path().join("db");
    let d: PersistDict<String, Vec<u8>, persistdict::Json, persistdict::Json> =
        PersistDict::builder(&path).key_codec(persistdict::Json).value_codec(persistdict::Json).open().unwrap();
    d.insert("k", &vec![1, 2]).unwrap();
    assert_eq!(d.get("k").unwrap(), Some(vec![1, 2]));
    drop(d);
    let err = PersistDict::<String, Vec<u8>>::open(&path).unwrap_err();
    assert!(matches!(err, Error::CodecMismatch { .. }), "{err}");
}

#[test]
fn invalid_options_are_errors() {
    let dir = tmp();
    for limit in [0, 512, 10_000] {
        let err = PersistDict::<u32, u32>::builder(dir.path()).key_size_limit(limit).open().unwrap_err();
        assert!(matches!(err, Error::InvalidOption { .. }), "{err}");
    }
}

#[test]
fn clones_and_threads_share_one_dict() {
    let dir = tmp();
    let d: PersistDict<u32, u32> = PersistDict::open(dir.path()).unwrap();
    std::thread::scope(|s| {
        for t in 0..4 {
            let d = d.clone();
            s.spawn(move || {
                for i in 0..250 {
                    d.insert(&(t * 1000 + i), &i).unwrap();
                }
            });
        }
    });
    assert_eq!(d.len().unwrap(), 1000);
    fn assert_send_sync<T: Send + Sync + Clone>(_: &T) {}
    assert_send_sync(&d);
}

#[test]
fn the_key_size_limit_recorded_at_creation_wins() {
    let dir = tempfile::tempdir().unwrap();
    let long = "a key longer than eight bytes".to_string();
    {
        let d: PersistDict<String, u32> = PersistDict::builder(dir.path()).key_size_limit(8).open().unwrap();
        d.insert(&long, &1).unwrap(); // stored under its SHA-256
    }
    // A different limit later is ignored (with a warning): the key is still found.
    let d: PersistDict<String, u32> = PersistDict::builder(dir.path()).key_size_limit(200).open().unwrap();
    assert_eq!(d.get(&long).unwrap(), Some(1));
    d.insert(&long, &2).unwrap();
    assert_eq!(d.len().unwrap(), 1);
}

#[test]
fn a_key_that_encodes_to_a_table_name_is_an_ordinary_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    // bincode writes a [u8; N] as its N bytes: these keys encode exactly to
    // the names of the tables kept in the main database beside the entries.
    let names: [[u8; 17]; 2] = [*b"persistdict.order", *b"persistdict.atime"];
    {
        let d: PersistDict<[u8; 17], u32> = PersistDict::open(&path).unwrap();
        for (i, name) in names.iter().enumerate() {
            d.insert(name, &(i as u32)).unwrap();
        }
        assert_eq!(d.len().unwrap(), 2);
        assert_eq!(d.get(&names[1]).unwrap(), Some(1));
        assert_eq!(d.keys().unwrap().collect::<Result<Vec<_>, _>>().unwrap(), names);
        assert!(d.check_integrity().unwrap().is_clean());
        d.clear().unwrap();
        assert!(d.is_empty().unwrap());
        d.insert(&names[0], &7).unwrap();
    }
    // The tables themselves are intact.
    let d: PersistDict<[u8; 17], u32> = PersistDict::open(&path).unwrap();
    assert_eq!(d.get(&names[0]).unwrap(), Some(7));
    d.initialize([]).unwrap();
    assert!(d.check_integrity().unwrap().is_clean());
}
