//! The on-disk layout of a real database, read with raw heed: the entries in
//! the unnamed main database, the other tables' names and keys, metadata
//! records and the record envelope. A change to any of them must come with a
//! new `persistdict::FORMAT_VERSION`. The expected bytes are derived here,
//! independently of the crate's code (LEB128 and a bitwise CRC-32C below).

use heed::types::Bytes;
use persistdict::{Error, PersistDict};

type Raw = heed::Database<'static, Bytes, Bytes>;

/// CRC-32C (Castagnoli), bit by bit.
fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0x82F6_3B78 } else { crc >> 1 };
        }
    }
    !crc
}

fn leb128(mut v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
    out
}

/// An ordered integer of an index key below 2^53: the top 3 bits of the
/// first byte count the bytes that follow, the low 5 bits are the value's
/// high bits, then big-endian bytes, the fewest that hold the value.
fn ordered(v: u64) -> Vec<u8> {
    let t = (0..=6).find(|t| v < 1u64 << (5 + 8 * t)).unwrap();
    let mut out = vec![(t << 5) as u8 | (v >> (8 * t)) as u8];
    out.extend(&v.to_be_bytes()[8 - t..]);
    out
}

/// Opens the four tables of a directory with raw heed (persistdict must not
/// have it open in this process).
fn raw_tables(path: &std::path::Path) -> (heed::Env, [Raw; 4]) {
    // SAFETY: not open elsewhere in this process.
    let env = unsafe { heed::EnvOpenOptions::new().max_dbs(8).open(path).unwrap() };
    let w = env.write_txn().unwrap();
    let tables = env
        .create_databases_and_commit(w, |o, w| -> heed::Result<_> {
            Ok(heed::CommitOrAbort::<_, ()>::Commit([
                o.create_database(w, None)?,
                o.create_database(w, Some("persistdict.order"))?,
                o.create_database(w, Some("persistdict.atime"))?,
                o.create_database(w, Some("persistdict.meta"))?,
            ]))
        })
        .unwrap()
        .unwrap_commit();
    (env, tables)
}

#[test]
fn a_stored_entry_has_the_pinned_layout() {
    assert_eq!(persistdict::FORMAT_VERSION, 3);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    {
        let d: PersistDict<String, u32> = PersistDict::builder(&path).key_size_limit(100).open().unwrap();
        d.insert("key", &0x01020304).unwrap();
        d.insert(&"k".repeat(200), &5).unwrap();
    }
    let (env, [entries, order, atime, meta]) = raw_tables(&path);
    let r = env.read_txn().unwrap();
    assert_eq!(meta.get(&r, b"format_version").unwrap(), Some(&3u32.to_le_bytes()[..]));
    assert_eq!(meta.get(&r, b"key_size_limit").unwrap(), Some(&100u32.to_le_bytes()[..]));
    assert_eq!(meta.get(&r, b"codecs").unwrap(), Some(&b"bincode2-standard/bincode2-standard"[..]));

    // bincode 2 standard: "key" = [3, b'k', b'e', b'y']; 0x01020304 as varint = [252, 4, 3, 2, 1].
    // The stored key is the byte 0xFF, then the encoded key.
    let stored_key = [0xFF, 3u8, b'k', b'e', b'y'];
    let rec = entries.get(&r, &stored_key).unwrap().unwrap();
    // A fresh entry without a window: tag 0x30, no flags; seq 0; ctime; type_fp; value; CRC-32C.
    assert_eq!(rec[0], 0x30, "record tag, no flags: plain key, atime = indexed = ctime, no window");
    assert_eq!(rec[1], 0, "seq of the first insert (LEB128)");
    let mut ctime = 0u64;
    let mut at = 2;
    for shift in (0..).step_by(7) {
        ctime |= u64::from(rec[at] & 0x7F) << shift;
        at += 1;
        if rec[at - 1] & 0x80 == 0 {
            break;
        }
    }
    let type_fp = u64::from_le_bytes(rec[at..at + 8].try_into().unwrap());
    let names = meta.get(&r, format!("types/{type_fp:016x}").as_bytes()).unwrap().unwrap();
    assert_eq!(names, b"(key alloc::string::String, value u32)", "the type names behind the fingerprint");
    let mut expected = vec![0x30, 0];
    expected.extend(leb128(ctime));
    expected.extend(type_fp.to_le_bytes());
    expected.extend([252, 4, 3, 2, 1]);
    expected.extend(crc32c(&expected).to_le_bytes());
    assert_eq!(rec, &expected[..]);
    assert_eq!(rec.len(), 1 + 1 + 6 + 8 + 5 + 4, "a 16-byte header today (6-byte ctime), the value, the checksum");

    // Order index: seq as an ordered integer (seq 0 = [0], seq 1 = [1]) -> stored key without its 0xFF.
    assert_eq!(order.get(&r, &[0]).unwrap(), Some(&stored_key[1..]));
    // Atime index: window (never = the byte 0xFF), atime, seq; the value is empty.
    let mut akey = vec![0xFF];
    akey.extend(ordered(ctime));
    akey.extend(ordered(0));
    assert_eq!(atime.get(&r, &akey).unwrap(), Some(&[][..]));
    assert_eq!(atime.len(&r).unwrap(), 2);
    assert_eq!(ordered(1_700_000_000_000).len(), 6);
    assert_eq!(ordered(1_000_000), [0x4F, 0x42, 0x40]);

    // The long key is stored under its SHA-256 with the full key in the record.
    let digest = order.get(&r, &[1]).unwrap().unwrap();
    assert_eq!(digest.len(), 32, "the SHA-256 of the encoded key");
    let hashed_rec = entries.get(&r, &[&[0xFF][..], digest].concat()).unwrap().unwrap();
    assert_eq!(hashed_rec[0], 0x31, "flags: hashed key");
    assert_eq!(hashed_rec[1], 1, "seq 1");
    let body = &hashed_rec[2 + leb128(ctime).len() + 8..hashed_rec.len() - 4];
    // Full-key length as LEB128 (201 = [0xC9, 0x01]), the full key, then the value.
    assert_eq!(&body[..2], &leb128(201)[..], "bincode of a 200-byte string: 1-byte varint length (< 251) + bytes");
    assert_eq!(&body[2..4], &[200, b'k']);
    assert_eq!(&body[2 + 201..], &[5]);
    let crc_at = hashed_rec.len() - 4;
    assert_eq!(&hashed_rec[crc_at..], &crc32c(&hashed_rec[..crc_at]).to_le_bytes());
}

/// A database of format version 2 (what persistdict wrote before the
/// footprint work) is refused with the format-version error, and opening it
/// changes nothing in its data file.
#[test]
fn a_version_2_database_is_refused_and_left_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    std::fs::create_dir(&path).unwrap();
    {
        let (env, [entries, order, atime, meta]) = raw_tables(&path);
        let mut w = env.write_txn().unwrap();
        meta.put(&mut w, b"format_version", &2u32.to_le_bytes()).unwrap();
        meta.put(&mut w, b"key_size_limit", &511u32.to_le_bytes()).unwrap();
        // A v2 record: tag 2, flags 0, seq, ctime, atime, indexed, window (never), type_fp, body_crc, header_crc.
        let mut rec = vec![2u8, 0];
        for field in [0u64, 1_700_000_000_000, 1_700_000_000_000, 1_700_000_000_000, u64::MAX, 42] {
            rec.extend(field.to_le_bytes());
        }
        rec.extend(crc32c(&[5]).to_le_bytes());
        rec.extend(crc32c(&rec).to_le_bytes());
        rec.push(5);
        entries.put(&mut w, &[3, b'k', b'e', b'y'], &rec).unwrap();
        order.put(&mut w, &0u64.to_be_bytes(), &[3, b'k', b'e', b'y']).unwrap();
        let mut akey = u64::MAX.to_be_bytes().to_vec();
        akey.extend(1_700_000_000_000u64.to_be_bytes());
        akey.extend(0u64.to_be_bytes());
        atime.put(&mut w, &akey, &[3, b'k', b'e', b'y']).unwrap();
        w.commit().unwrap();
        env.prepare_for_closing().wait();
    }
    let before = std::fs::read(path.join("data.mdb")).unwrap();
    for _ in 0..2 {
        let err = PersistDict::<String, u32>::open(&path).unwrap_err();
        assert!(matches!(err, Error::FormatVersion { found: 2, supported: 3, .. }), "{err}");
        let msg = err.to_string();
        assert!(msg.contains(path.to_str().unwrap()), "{msg}");
    }
    assert_eq!(std::fs::read(path.join("data.mdb")).unwrap(), before, "the v2 data file is untouched");
}
