//! Format 3's atime rows carry no stored key: a row's seq finds its entry
//! through the order index. Rows that cannot be parsed, whose seq leads
//! nowhere, or whose entry disagrees must neither hang nor stop expiry and
//! eviction, nor take a live entry with them.

use std::time::Duration;

use heed::types::Bytes;
use persistdict::{Maintenance, PersistDict};

type Raw = heed::Database<'static, Bytes, Bytes>;

/// Opens the order and atime tables with raw heed and hands them to `f`.
fn tamper(path: &std::path::Path, f: impl FnOnce(&mut heed::RwTxn<'_>, Raw, Raw)) {
    // SAFETY: no other environment of this directory is open in this process.
    let env = unsafe { heed::EnvOpenOptions::new().max_dbs(8).open(path).unwrap() };
    let w = env.write_txn().unwrap();
    let (order, atime) = env
        .create_databases_and_commit(w, |o, w| -> heed::Result<_> {
            Ok(heed::CommitOrAbort::<_, ()>::Commit((
                o.create_database::<Bytes, Bytes>(w, Some("persistdict.order"))?,
                o.create_database::<Bytes, Bytes>(w, Some("persistdict.atime"))?,
            )))
        })
        .unwrap()
        .unwrap_commit();
    let mut w = env.write_txn().unwrap();
    f(&mut w, order, atime);
    w.commit().unwrap();
    env.prepare_for_closing().wait();
}

/// Bad rows in every window an entry can have: window 0 and 1 ms (due at
/// once), never (0xFF), and unparseable ones before, between and after.
fn plant_bad_rows(w: &mut heed::RwTxn<'_>, order: Raw, atime: Raw) {
    let rows: [&[u8]; 9] = [
        &[],                 // empty key is refused by LMDB: skipped below
        &[0, 0, 0x23, 0xE7], // window 0, atime 0, seq 999: leads nowhere
        &[1, 0, 3],          // window 1 ms, atime 0, seq 3: entry 3 has another window
        &[1, 0, 0x40, 0, 0], // non-canonical seq: unparseable
        &[0x20],             // truncated
        &[0xFF, 0, 0x1F],    // never, atime 0, seq 31: leads nowhere
        &[0xFF, 0, 4],       // never, atime 0, seq 4: entry 4 is indexed elsewhere
        &[0xE1, 0, 0, 0, 0], // unparseable first byte
        &[0xFF; 30],         // unparseable, sorts last
    ];
    for row in rows.into_iter().filter(|r| !r.is_empty()) {
        atime.put(w, row, &[]).unwrap();
    }
    // An order row for seq 31 that leads to no entry.
    order.put(w, &[0x1F], b"no such key").unwrap();
}

#[test]
fn bad_atime_rows_neither_hang_nor_stop_expiry() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let open = |window: Option<Duration>| {
        let mut b = PersistDict::<u32, u32>::builder(&path).maintenance(Maintenance::Disabled);
        if let Some(w) = window {
            b = b.expire_after(w);
        }
        b.open().unwrap()
    };
    open(None).extend((0..10).map(|i| (i, i))).unwrap();
    open(Some(Duration::from_millis(50))).extend((10..20).map(|i| (i, i))).unwrap();
    tamper(&path, plant_bad_rows);
    std::thread::sleep(Duration::from_millis(100));
    let d = open(None);
    assert_eq!(d.expire().unwrap(), 10, "the 10 short-window entries, and nothing else");
    let keys: Vec<u32> = d.keys().unwrap().collect::<Result<_, _>>().unwrap();
    assert_eq!(keys, (0..10).collect::<Vec<_>>());
    // What expiry did not meet, check_integrity removes; then all is clean.
    let r = d.check_integrity().unwrap();
    assert_eq!(r.missing_atime_rows, 0, "{r:?}");
    assert!(d.check_integrity().unwrap().is_clean());
    assert_eq!(d.len().unwrap(), 10);
}

#[test]
fn bad_atime_rows_neither_hang_nor_stop_eviction() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    PersistDict::<u32, u32>::open(&path).unwrap().extend((0..20).map(|i| (i, i))).unwrap();
    tamper(&path, plant_bad_rows);
    let d: PersistDict<u32, u32> =
        PersistDict::builder(&path).max_entries(5).maintenance(Maintenance::Disabled).open().unwrap();
    d.insert(&100, &100).unwrap();
    // Least recently used first: 0..=15 go, 16..20 and the new entry stay.
    let keys: Vec<u32> = d.keys().unwrap().collect::<Result<_, _>>().unwrap();
    assert_eq!(keys, [16, 17, 18, 19, 100]);
    d.check_integrity().unwrap();
    assert!(d.check_integrity().unwrap().is_clean());
}
