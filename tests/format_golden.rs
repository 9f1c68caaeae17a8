//! The on-disk layout of a real database, read with raw heed: the entries in
//! the unnamed main database, the other tables' names,
//! metadata records and the record envelope. A change to any of them must
//! come with a new `persistdict::FORMAT_VERSION`.

use heed::types::Bytes;
use persistdict::PersistDict;

type Raw = heed::Database<'static, Bytes, Bytes>;

#[test]
fn a_stored_entry_has_the_pinned_layout() {
    assert_eq!(persistdict::FORMAT_VERSION, 2);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    {
        let d: PersistDict<String, u32> = PersistDict::builder(&path).key_size_limit(100).open().unwrap();
        d.insert("key", &0x01020304).unwrap();
        d.insert(&"k".repeat(200), &5).unwrap();
    }
    // SAFETY: not open elsewhere in this process.
    let env = unsafe { heed::EnvOpenOptions::new().max_dbs(8).open(&path).unwrap() };
    let w = env.write_txn().unwrap();
    let (entries, order, atime, meta): (Raw, Raw, Raw, Raw) = env
        .create_databases_and_commit(w, |o, w| -> heed::Result<_> {
            Ok(heed::CommitOrAbort::<_, ()>::Commit((
                o.create_database(w, None)?,
                o.create_database(w, Some("persistdict.order"))?,
                o.create_database(w, Some("persistdict.atime"))?,
                o.create_database(w, Some("persistdict.meta"))?,
            )))
        })
        .unwrap()
        .unwrap_commit();
    let r = env.read_txn().unwrap();
    assert_eq!(meta.get(&r, b"format_version").unwrap(), Some(&2u32.to_le_bytes()[..]));
    assert_eq!(meta.get(&r, b"key_size_limit").unwrap(), Some(&100u32.to_le_bytes()[..]));
    assert_eq!(meta.get(&r, b"codecs").unwrap(), Some(&b"bincode2-standard/bincode2-standard"[..]));

    // bincode 2 standard: "key" = [3, b'k', b'e', b'y']; 0x01020304 as varint = [252, 4, 3, 2, 1].
    let stored_key = [3u8, b'k', b'e', b'y'];
    let rec = entries.get(&r, &stored_key).unwrap().unwrap();
    assert_eq!(rec[0], 2, "record tag");
    assert_eq!(rec[1], 0, "flags: plain key");
    assert_eq!(&rec[2..10], &0u64.to_le_bytes(), "seq of the first insert");
    let ctime = u64::from_le_bytes(rec[10..18].try_into().unwrap());
    let atime_ms = u64::from_le_bytes(rec[18..26].try_into().unwrap());
    let indexed_ms = u64::from_le_bytes(rec[26..34].try_into().unwrap());
    assert_eq!((ctime, indexed_ms), (atime_ms, atime_ms));
    assert_eq!(&rec[34..42], &u64::MAX.to_le_bytes(), "window_ms: never expires");
    let type_fp = u64::from_le_bytes(rec[42..50].try_into().unwrap());
    let names = meta.get(&r, format!("types/{type_fp:016x}").as_bytes()).unwrap().unwrap();
    assert_eq!(names, b"(key alloc::string::String, value u32)", "the type names behind the fingerprint");
    assert_eq!(rec.len(), 58 + 5, "a 58-byte header, then the value");
    assert_eq!(&rec[58..], &[252, 4, 3, 2, 1]);
    assert_eq!(order.get(&r, &0u64.to_be_bytes()).unwrap(), Some(&stored_key[..]));
    // atime index key: window (never = u64::MAX), atime, seq; big-endian.
    let mut akey = u64::MAX.to_be_bytes().to_vec();
    akey.extend_from_slice(&atime_ms.to_be_bytes());
    akey.extend_from_slice(&0u64.to_be_bytes());
    assert_eq!(atime.get(&r, &akey).unwrap(), Some(&stored_key[..]));

    // The long key is stored under its SHA-256 with the full key in the record.
    let (hashed_key, hashed_rec) =
        order.get(&r, &1u64.to_be_bytes()).unwrap().map(|k| (k, entries.get(&r, k).unwrap().unwrap())).unwrap();
    assert_eq!(hashed_key.len(), 32);
    assert_eq!(hashed_rec[1], 1, "flags: hashed key");
    let full_len = u32::from_le_bytes(hashed_rec[58..62].try_into().unwrap()) as usize;
    assert_eq!(full_len, 201, "bincode of a 200-byte string: 1-byte varint length (< 251) + bytes");
    assert_eq!(&hashed_rec[62 + full_len..], &[5]);
}
