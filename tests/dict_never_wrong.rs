//! Issue 10 ("never a wrong value"), the dictionary's side: each test is
//! named after the item it pins and failed before its fix.

use std::time::Duration;

use heed::types::Bytes;
use persistdict::{Error, Maintenance, PersistDict};
use serde::{Deserialize, Serialize};

type Raw = heed::Database<'static, Bytes, Bytes>;

/// Opens the directory with raw heed (persistdict must not have it open in
/// this process) and hands `f` the write transaction and the tables
/// (entries, order, atime).
fn tamper(path: &std::path::Path, f: impl FnOnce(&mut heed::RwTxn<'_>, Raw, Raw, Raw)) {
    // SAFETY: no other environment of this directory is open in this process.
    let env = unsafe { heed::EnvOpenOptions::new().max_dbs(8).open(path).unwrap() };
    let w = env.write_txn().unwrap();
    let (entries, order, atime) = env
        .create_databases_and_commit(w, |o, w| -> heed::Result<_> {
            Ok(heed::CommitOrAbort::<_, ()>::Commit((
                o.create_database::<Bytes, Bytes>(w, None)?,
                o.create_database::<Bytes, Bytes>(w, Some("persistdict.order"))?,
                o.create_database::<Bytes, Bytes>(w, Some("persistdict.atime"))?,
            )))
        })
        .unwrap()
        .unwrap_commit();
    let mut w = env.write_txn().unwrap();
    f(&mut w, entries, order, atime);
    w.commit().unwrap();
    env.prepare_for_closing().wait();
}

#[test]
fn item02_a_u32_read_back_as_i32_is_a_type_mismatch_not_minus_3() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    PersistDict::<String, u32>::open(&path).unwrap().insert("k", &5).unwrap();
    let as_i32: PersistDict<String, i32> = PersistDict::open(&path).unwrap();
    let err = as_i32.get("k").unwrap_err();
    assert!(matches!(err, Error::TypeMismatch { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains(path.to_str().unwrap()) && msg.contains("u32") && msg.contains("i32"), "{msg}");
    // Iteration decodes keys and values: it reports the entry, never decodes it.
    assert!(matches!(as_i32.iter().unwrap().next(), Some(Err(Error::TypeMismatch { .. }))));
    // The entry is untouched and reads back through its own types.
    assert_eq!(PersistDict::<String, u32>::open(&path).unwrap().get("k").unwrap(), Some(5));
}

mod before {
    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    pub struct Point {
        pub x: u32,
        pub y: u32,
    }
}
mod after {
    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    pub struct Point {
        pub y: u32,
        pub x: u32,
    }
}

#[test]
fn item02_a_struct_whose_fields_were_swapped_is_not_decoded_into_the_wrong_fields() {
    let dir = tempfile::tempdir().unwrap();
    PersistDict::<u8, before::Point>::open(dir.path()).unwrap().insert(&1, &before::Point { x: 1, y: 2 }).unwrap();
    let d: PersistDict<u8, after::Point> = PersistDict::open(dir.path()).unwrap();
    assert!(matches!(d.get(&1), Err(Error::TypeMismatch { .. })));
    // The key type is covered too.
    let by_u16: PersistDict<u16, before::Point> = PersistDict::open(dir.path()).unwrap();
    assert!(matches!(by_u16.keys().unwrap().next(), Some(Err(Error::TypeMismatch { .. }))));
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct WithOptional {
    name: String,
    #[serde(default)]
    extra: Option<u32>,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Plain {
    name: String,
}

#[test]
fn item02_a_self_describing_codec_keeps_compatible_changes_readable() {
    use persistdict::Json;
    let dir = tempfile::tempdir().unwrap();
    let old: PersistDict<String, Plain, Json, Json> =
        PersistDict::builder(dir.path()).key_codec(Json).value_codec(Json).open().unwrap();
    old.insert("a", &Plain { name: "n".into() }).unwrap();
    let new: PersistDict<String, WithOptional, Json, Json> =
        PersistDict::builder(dir.path()).key_codec(Json).value_codec(Json).open().unwrap();
    assert_eq!(new.get("a").unwrap(), Some(WithOptional { name: "n".into(), extra: None }));
}

#[test]
fn item11_a_malformed_order_row_neither_hangs_iteration_nor_hides_an_entry() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    PersistDict::<u32, u32>::open(&path).unwrap().extend((0..5).map(|i| (i, i))).unwrap();
    tamper(&path, |w, _, order, _| {
        // Sorts after every 8-byte seq: it is the "last" row.
        order.put(w, &[0xFF; 9], b"junk").unwrap();
        order.put(w, &[0x00; 3], b"junk").unwrap();
    });
    let d: PersistDict<u32, u32> = PersistDict::open(&path).unwrap();
    let keys: Vec<u32> = d.keys().unwrap().collect::<Result<_, _>>().unwrap();
    assert_eq!(keys, [0, 1, 2, 3, 4]);
    // The next insert takes a fresh seq (not 1, which entry 1 holds).
    d.insert(&5, &5).unwrap();
    let keys: Vec<u32> = d.keys().unwrap().collect::<Result<_, _>>().unwrap();
    assert_eq!(keys, [0, 1, 2, 3, 4, 5]);
    let r = d.check_integrity().unwrap();
    assert_eq!(r.orphan_order_rows, 2, "{r:?}");
    assert!(d.check_integrity().unwrap().is_clean());
}

#[test]
fn item12_a_record_with_a_damaged_header_can_be_removed_and_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    PersistDict::<u32, String>::open(&path).unwrap().extend((0..3).map(|i| (i, format!("v{i}")))).unwrap();
    // bincode of 1u32 is [1], stored under [0xFF, 1]: damage both records' headers.
    tamper(&path, |w, entries, _, _| {
        for key in [[0xFF, 1u8], [0xFF, 2u8]] {
            let mut rec = entries.get(w, &key).unwrap().unwrap().to_vec();
            rec[5] ^= 0xFF; // inside the header (ctime): the record checksum fails
            entries.put(w, &key, &rec).unwrap();
        }
    });
    let d: PersistDict<u32, String> = PersistDict::open(&path).unwrap();
    assert!(matches!(d.get(&1), Err(Error::Corrupt { .. })));
    assert!(d.remove(&1).unwrap(), "the entry get reports as corrupt can be removed");
    assert_eq!(d.get(&1).unwrap(), None);
    d.insert(&2, &"again".to_string()).unwrap();
    assert_eq!(d.get(&2).unwrap().as_deref(), Some("again"));
    // The damaged records' old index rows are not read as theirs: no key twice.
    let keys: Vec<u32> = d.keys().unwrap().collect::<Result<_, _>>().unwrap();
    assert_eq!(keys, [0, 2]);
    d.check_integrity().unwrap();
    assert!(d.check_integrity().unwrap().is_clean());
}

#[test]
fn item14_a_tiny_map_size_never_says_map_full() {
    let dir = tempfile::tempdir().unwrap();
    for size in [0, 1, 4096, 16 << 10, 31 << 10] {
        let path = dir.path().join(format!("db{size}"));
        let d: PersistDict<u32, Vec<u8>> = PersistDict::builder(&path).map_size(size).open().unwrap();
        d.extend((0..50).map(|i| (i, vec![i as u8; 4000]))).unwrap();
        assert_eq!(d.len().unwrap(), 50);
    }
}

#[test]
fn item13_reopening_after_the_last_handle_dropped_during_a_sweep_works() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    {
        let d: PersistDict<u32, u32> = PersistDict::builder(&path)
            .expire_after(Duration::from_millis(1))
            .maintenance(Maintenance::Disabled)
            .durability(persistdict::Durability::NoSync)
            .open()
            .unwrap();
        d.extend((0..30_000).map(|i| (i, i))).unwrap();
    }
    std::thread::sleep(Duration::from_millis(20));
    for _ in 0..3 {
        // The open starts a background sweep of 30 batches; the handle
        // goes at once, the sweep stops at its next batch, and the reopen
        // gets a fresh environment instead of waiting and failing.
        drop(PersistDict::<u32, u32>::builder(&path).maintenance(Maintenance::Background).open().unwrap());
        let d: PersistDict<u32, u32> =
            PersistDict::builder(&path).maintenance(Maintenance::Disabled).open().expect("reopen during a sweep");
        assert!(d.len().unwrap() <= 30_000);
    }
}

#[test]
fn item08_an_entry_keeps_the_window_of_its_last_writer_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let short = |p: &std::path::Path| {
        PersistDict::<u32, u32>::builder(p)
            .expire_after(Duration::from_millis(100))
            .maintenance(Maintenance::Disabled)
            .open()
            .unwrap()
    };
    short(&path).insert(&1, &1).unwrap();
    PersistDict::<u32, u32>::open(&path).unwrap().insert(&2, &2).unwrap();
    std::thread::sleep(Duration::from_millis(150));
    // A handle without a window still removes what is due under each entry's own.
    let none: PersistDict<u32, u32> = PersistDict::builder(&path).maintenance(Maintenance::Disabled).open().unwrap();
    assert_eq!(none.expire().unwrap(), 1);
    assert_eq!(none.keys().unwrap().collect::<Result<Vec<_>, _>>().unwrap(), [2]);
}

/// The two meta pages LMDB writes when it creates a file, before any
/// commit (transaction id 0 in both).
fn uncommitted_data_file() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    // SAFETY: a directory of our own.
    let env = unsafe { heed::EnvOpenOptions::new().open(dir.path()).unwrap() };
    env.prepare_for_closing().wait();
    std::fs::read(dir.path().join("data.mdb")).unwrap()
}

/// Issue 10, item 17: LMDB writes a new file's meta pages without a sync
/// until the first commit; a power loss in between left short, zeroed or
/// torn meta pages, and every later open failed with "move the directory
/// aside". A directory in which no commit ever completed now opens as new
/// (the torn file is kept aside), and new databases are created whole in a
/// temporary directory and linked into place.
#[test]
fn item17_a_directory_whose_first_commit_never_completed_opens_as_new() {
    let metas = uncommitted_data_file();
    assert_eq!(metas.len(), 8192);
    let torn_states: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("one zeroed page", vec![0; 4096]),
        ("two zeroed pages", vec![0; 8192]),
        ("both metas, never committed", metas.clone()),
        ("second meta torn", metas[..5000].to_vec()),
        ("first meta zeroed", [vec![0; 4096], metas[4096..].to_vec()].concat()),
        ("garbage", (0..8192u32).map(|i| (i * 7919 % 251) as u8).collect()),
    ];
    for (what, bytes) in torn_states {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("data.mdb"), &bytes).unwrap();
        let d: PersistDict<u32, u32> = PersistDict::open(dir.path()).unwrap_or_else(|e| panic!("{what}: {e}"));
        d.insert(&1, &1).unwrap();
        assert_eq!(d.get(&1).unwrap(), Some(1), "{what}");
        drop(d);
        let aside = std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with("data.mdb.torn-"))
            .count();
        assert_eq!(aside, 1, "{what}: the torn file is kept aside");
        assert_eq!(PersistDict::<u32, u32>::open(dir.path()).unwrap().get(&1).unwrap(), Some(1), "{what}");
    }
    // No temporary creation directory is left behind.
    let dir = tempfile::tempdir().unwrap();
    drop(PersistDict::<u32, u32>::open(dir.path()).unwrap());
    let names: Vec<String> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!(names.iter().all(|n| n == "data.mdb" || n == "lock.mdb"), "{names:?}");
}
