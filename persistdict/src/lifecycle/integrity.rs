//! `check_integrity`: a full check of a database's records and indexes.
//!
//! It walks the data file's B-trees first (`storage/btree_check.rs`), then
//! reads every record (checksums; key and value decoding is judged by the
//! typed layer, `dict/integrity.rs`) and every index row, repairs what can be repaired
//! without losing data (index rows are derived data; a ctime after atime
//! gets atime = ctime) and reports the rest. Records that fail their
//! checksum or no longer decode are reported, never deleted: remove them
//! yourself once you have looked.

use crate::error::Result;
use crate::storage::key;
use crate::storage::record::{self, Header};
use crate::storage::store::{Durability, IndexKey, Store, atime_key, seq_key, split_atime_key, split_seq_key};

/// What [`PersistDict::check_integrity`](crate::PersistDict::check_integrity) found and repaired.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct IntegrityReport {
    /// Records examined.
    pub entries_checked: usize,
    /// Records whose checksum or envelope is broken (reported, kept).
    pub corrupt_records: usize,
    /// Entries written with other key or value types than this handle's
    /// (reported, kept; not decoded).
    pub type_mismatches: usize,
    /// Keys that no longer decode with the key codec as `K` (reported, kept).
    pub undecodable_keys: usize,
    /// Values that no longer decode with the value codec as `V` (reported, kept).
    pub undecodable_values: usize,
    /// Entries without their order-index row (repaired).
    pub missing_order_rows: usize,
    /// Entries without their atime-index row (repaired).
    pub missing_atime_rows: usize,
    /// Order-index rows pointing nowhere (removed).
    pub orphan_order_rows: usize,
    /// Atime-index rows pointing nowhere or at an older state (removed).
    pub orphan_atime_rows: usize,
    /// Entries whose ctime was after their atime (atime set to ctime).
    pub ctime_after_atime: usize,
}

impl IntegrityReport {
    /// Whether nothing at all was found.
    pub fn is_clean(&self) -> bool {
        *self == IntegrityReport { entries_checked: self.entries_checked, ..IntegrityReport::default() }
    }

    /// How many problems were repaired.
    pub fn repaired(&self) -> usize {
        self.missing_order_rows
            + self.missing_atime_rows
            + self.orphan_order_rows
            + self.orphan_atime_rows
            + self.ctime_after_atime
    }
}

/// What the typed layer says of one record that passed its checksums.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Fine,
    /// Written with other key or value types.
    TypeMismatch,
    /// The key does not decode (and maybe the value neither).
    UndecodableKey {
        value_too: bool,
    },
    UndecodableValue,
}

/// Checks every record and index row of `store`, repairs what is safe to
/// repair and reports the rest; `judge` says whether a record's key and
/// value decode as the caller's types. Walks the data file's B-trees first
/// (see `PersistDict::check_integrity`).
pub(crate) fn check(
    store: &Store,
    durability: Durability,
    judge: impl Fn(&Header, &[u8], &[u8]) -> Verdict,
) -> Result<IntegrityReport> {
    let report = store.write(durability, 1 << 16, |txn, t| {
        // First the file's B-trees, with bounds-checked reads and no
        // LMDB cursor: a damaged page must be reported, not followed.
        // Holding the write transaction, the last commit is stable.
        #[cfg(unix)]
        check_btrees(store, (txn.id() as u64).saturating_sub(1))?;
        let lm = store.lm("checking integrity");
        let mut r = IntegrityReport::default();
        // (seq, stored key tail) rows to write.
        let mut order_fix: Vec<(u64, Vec<u8>)> = Vec::new();
        let mut atime_fix: Vec<IndexKey> = Vec::new();
        let mut header_fix: Vec<(Vec<u8>, Header)> = Vec::new();
        for item in t.entries.iter(txn).map_err(&lm)? {
            let (stored, bytes) = item.map_err(&lm)?;
            let Some(tail) = key::stored_tail(stored) else {
                // A table record, not an entry.
                continue;
            };
            r.entries_checked += 1;
            let rec = match record::decode(bytes) {
                Ok(rec) => rec,
                Err(_) => {
                    r.corrupt_records += 1;
                    continue;
                }
            };
            let key = rec.full_key.unwrap_or(tail);
            match judge(&rec.header, key, rec.value) {
                Verdict::Fine => {}
                Verdict::TypeMismatch => r.type_mismatches += 1,
                Verdict::UndecodableKey { value_too } => {
                    r.undecodable_keys += 1;
                    r.undecodable_values += usize::from(value_too);
                }
                Verdict::UndecodableValue => r.undecodable_values += 1,
            }
            let mut h = rec.header;
            let mut fixed = false;
            if h.ctime_ms > h.atime_ms {
                r.ctime_after_atime += 1;
                h.atime_ms = h.ctime_ms;
                fixed = true;
            }
            if h.indexed_ms > h.atime_ms {
                // Indexed in the future: list it under its atime (the
                // row at the new place is counted as missing below).
                h.indexed_ms = h.atime_ms;
                fixed = true;
            }
            if fixed {
                header_fix.push((stored.to_vec(), h));
            }
            if t.order.get(txn, &seq_key(h.seq)).map_err(&lm)? != Some(tail) {
                r.missing_order_rows += 1;
                order_fix.push((h.seq, tail.to_vec()));
            }
            let ak = atime_key(h.window_ms, h.indexed_ms, h.seq);
            if t.atime.get(txn, &ak).map_err(&lm)?.is_none() {
                r.missing_atime_rows += 1;
                atime_fix.push(ak);
            }
        }
        // Whether an index row, whose order row holds `tail`, leads to an
        // entry that `check` accepts. A record that fails its checks keeps
        // its rows: it is reported, and the user may still look at it or
        // remove it.
        let points_home = |txn: &heed::RoTxn<'_>, tail: &[u8], check: &dyn Fn(&Header) -> bool| -> Result<bool> {
            Ok(match t.entries.get(txn, &key::StoredKey::from_tail(tail)).map_err(&lm)? {
                Some(bytes) => record::decode_header(bytes).map_or(true, |h| check(&h)),
                None => false,
            })
        };
        let mut order_del = Vec::new();
        for item in t.order.iter(txn).map_err(&lm)? {
            let (k, tail) = item.map_err(&lm)?;
            let seq = split_seq_key(k);
            if seq.is_none() || !points_home(txn, tail, &|h| Some(h.seq) == seq)? {
                order_del.push(k.to_vec());
            }
        }
        r.orphan_order_rows = order_del.len();
        // The order index and the headers are repaired first: the atime
        // index finds its entries through the order index.
        for k in &order_del {
            t.order.delete(txn, k).map_err(&lm)?;
        }
        for (stored, h) in &header_fix {
            let Some(mut bytes) = t.entries.get(txn, stored).map_err(&lm)?.map(<[u8]>::to_vec) else { continue };
            if record::rewrite_header(&mut bytes, h).is_ok() {
                t.entries.put(txn, stored, &bytes).map_err(&lm)?;
            }
        }
        for (seq, tail) in &order_fix {
            t.order.put(txn, &seq_key(*seq), tail).map_err(&lm)?;
        }
        let mut atime_del = Vec::new();
        for item in t.atime.iter(txn).map_err(&lm)? {
            let (k, _) = item.map_err(&lm)?;
            let home = match split_atime_key(k) {
                Some((window, indexed, seq)) => match t.order.get(txn, &seq_key(seq)).map_err(&lm)? {
                    Some(tail) => {
                        points_home(txn, tail, &|h| (h.window_ms, h.indexed_ms, h.seq) == (window, indexed, seq))?
                    }
                    None => false,
                },
                None => false,
            };
            if !home {
                atime_del.push(k.to_vec());
            }
        }
        r.orphan_atime_rows = atime_del.len();
        for k in &atime_del {
            t.atime.delete(txn, k).map_err(&lm)?;
        }
        for k in &atime_fix {
            t.atime.put(txn, k, &[]).map_err(&lm)?;
        }
        Ok(r)
    })?;
    if report.is_clean() {
        tracing::debug!(path = %store.path.display(), checked = report.entries_checked, "integrity check: clean");
    } else {
        tracing::warn!(path = %store.path.display(), ?report, "integrity check found problems");
    }
    Ok(report)
}

/// Walks the data file's B-trees as of committed transaction `txn_id`.
#[cfg(unix)]
fn check_btrees(store: &Store, txn_id: u64) -> Result<()> {
    let file_path = store.path.join("data.mdb");
    let file = std::fs::File::open(&file_path)
        .map_err(|e| crate::error::Error::io(&file_path, "opening data.mdb for the B-tree check", e))?;
    match crate::storage::btree_check::check_file(&file, Some(txn_id)) {
        Ok(Ok(found)) => {
            tracing::debug!(path = %store.path.display(), pages = found.pages_visited, "B-tree check: clean");
            Ok(())
        }
        Ok(Err(c)) => {
            Err(crate::error::Error::CorruptFile { path: store.path.clone(), page: c.page, reason: c.reason })
        }
        Err(e) => Err(crate::error::Error::io(&file_path, "reading data.mdb for the B-tree check", e)),
    }
}
