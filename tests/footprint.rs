//! Issue 12, "footprint": small entries (~10-byte keys, u64 values) take at
//! most 4× the bytes raw heed takes for the same key and value bytes.
//! Bytes, not time: the pages the tables use, as LMDB counts them.
//! `PERSISTDICT_FOOTPRINT_N` overrides the 100,000 entries (the benchmark
//! `footprint` group of `persistdict/benches/vs_heed.rs` measures 1,000,000).

use heed::types::Bytes;
use persistdict::codec::{Bincode, Codec};
use persistdict::{Durability, Maintenance, PersistDict};

const BATCH: u64 = 10_000;

fn key(i: u64) -> String {
    format!("key{i:07}")
}

/// Bytes of the pages persistdict's tables use after writing `n` entries,
/// one commit per 10,000.
fn ours(dir: &std::path::Path, n: u64, window_days: Option<u32>) -> u64 {
    let mut b =
        PersistDict::<String, u64>::builder(dir).maintenance(Maintenance::Disabled).durability(Durability::NoSync);
    if let Some(days) = window_days {
        b = b.expire_days(days);
    }
    let d = b.open().unwrap();
    for start in (0..n).step_by(BATCH as usize) {
        d.extend((start..(start + BATCH).min(n)).map(|i| (key(i), i))).unwrap();
    }
    assert_eq!(d.len().unwrap() as u64, n);
    d.stats().unwrap().used_bytes
}

/// The same with raw heed: the same bincode bytes, one commit per 10,000.
fn raw(dir: &std::path::Path, n: u64) -> u64 {
    // SAFETY: the directory is opened once, here.
    let env = unsafe { heed::EnvOpenOptions::new().map_size(1 << 32).open(dir).unwrap() };
    let w = env.write_txn().unwrap();
    let db = env
        .create_databases_and_commit(w, |o, w| -> heed::Result<_> {
            Ok(heed::CommitOrAbort::<_, ()>::Commit(o.create_database::<Bytes, Bytes>(w, None)?))
        })
        .unwrap()
        .unwrap_commit();
    for start in (0..n).step_by(BATCH as usize) {
        let mut w = env.write_txn().unwrap();
        for i in start..(start + BATCH).min(n) {
            db.put(&mut w, &Bincode.encode(&key(i)).unwrap(), &Bincode.encode(&i).unwrap()).unwrap();
        }
        w.commit().unwrap();
    }
    let r = env.read_txn().unwrap();
    let s = db.stat(&r).unwrap();
    (s.branch_pages + s.leaf_pages + s.overflow_pages) as u64 * u64::from(s.page_size)
}

#[test]
fn small_entries_take_at_most_four_times_raw_heeds_bytes() {
    let n = std::env::var("PERSISTDICT_FOOTPRINT_N").ok().and_then(|n| n.parse().ok()).unwrap_or(100_000);
    let (a, b, c) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let heed = raw(a.path(), n);
    let plain = ours(b.path(), n, None);
    let windowed = ours(c.path(), n, Some(30));
    let ratio = |x: u64| x as f64 / heed as f64;
    let report = format!(
        "{n} entries: heed {heed} B ({:.1} B/entry); persistdict {plain} B ({:.2}x), with expire_days(30) {windowed} B ({:.2}x)",
        heed as f64 / n as f64,
        ratio(plain),
        ratio(windowed)
    );
    eprintln!("{report}");
    assert!(ratio(plain) <= 4.0, "{report}");
}
