//! Size budgets: `max_entries` and `max_bytes`, enforced by the writer in
//! its own write transaction, least recently used entries first.
//!
//! The victim is found on the atime index, keyed by (window, atime, seq):
//! the least recently used entry is the smallest atime among the first rows
//! of each window's range (entries without a window included), one seek per
//! distinct window. Eviction costs what it evicts. An index row lags its
//! entry's atime by less than the atime granularity: a row whose entry was
//! used since it was indexed is moved forward instead, as expiry does.
//! `max_bytes` counts the pages the tables use (LMDB's statistics, O(1)),
//! which is what the file would shrink to if compacted; the data file
//! itself never shrinks on its own.
//!
//! When handles of one directory disagree, the smallest budget wins (with a
//! warning).

use std::collections::HashMap;
use std::ops::Bound;
use std::sync::Mutex;
use std::sync::atomic::Ordering;

use heed::RwTxn;
use tracing::warn;

use crate::error::Result;
use crate::storage::record::{self, Header};
use crate::storage::store::{Store, atime_key, seq_key, split_atime_key};

/// Most entries one write evicts: "within budget after any write, up to one
/// eviction batch".
pub(crate) const EVICT_BATCH: usize = 256;

/// A handle's budgets; `None` is no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Budget {
    pub max_bytes: Option<u64>,
    pub max_entries: Option<u64>,
}

impl Budget {
    pub(crate) fn is_set(&self) -> bool {
        self.max_bytes.is_some() || self.max_entries.is_some()
    }

    fn min(self, other: Budget) -> Budget {
        let min = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        Budget {
            max_bytes: min(self.max_bytes, other.max_bytes),
            max_entries: min(self.max_entries, other.max_entries),
        }
    }
}

/// The budgets of the handles open on one environment.
#[derive(Default)]
pub(crate) struct Budgets {
    handles: Mutex<HashMap<u64, Budget>>,
}

impl Budgets {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Budget>> {
        self.handles.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers handle `id`'s budget; warns when it differs from another
    /// handle's (the smallest wins).
    pub(crate) fn register(&self, store: &Store, id: u64, budget: Budget) {
        let mut handles = self.lock();
        if budget.is_set() && handles.values().any(|b| b.is_set() && *b != budget) {
            warn!(path = %store.path.display(), ?budget,
                "handles of this directory set different size budgets; the smallest of each wins");
        }
        handles.insert(id, budget);
    }

    pub(crate) fn unregister(&self, id: u64) {
        self.lock().remove(&id);
    }

    /// The budget in force: the smallest of every open handle's.
    pub(crate) fn current(&self) -> Budget {
        self.lock().values().fold(Budget::default(), |acc, b| acc.min(*b))
    }
}

/// Whether the database, as `txn` sees it, is over `budget`.
fn over(store: &Store, txn: &RwTxn<'_>, budget: Budget) -> Result<bool> {
    if let Some(max) = budget.max_entries
        && store.count_in(txn)? > max
    {
        return Ok(true);
    }
    if let Some(max) = budget.max_bytes
        && store.used_bytes_in(txn)? > max
    {
        return Ok(true);
    }
    Ok(false)
}

/// Evicts least recently used entries inside the writer's transaction until
/// the database is within `budget`, at most `limit`, never the entry under
/// `protect` (the one this write just stored: a write never evicts what it
/// wrote). Returns how many were evicted.
pub(crate) fn enforce(
    store: &Store,
    txn: &mut RwTxn<'_>,
    budget: Budget,
    limit: usize,
    protect: Option<&[u8]>,
) -> Result<usize> {
    let mut evicted = 0;
    // Rows that lag their entry's atime move forward; each moves once, but
    // bound the work of one write all the same.
    let mut moved = 0;
    while evicted < limit && moved < limit.saturating_mul(64) && over(store, txn, budget)? {
        let Some((row, stored)) = least_recently_used(store, txn, protect)? else { break };
        let lm = store.lm("evicting an entry");
        store.t.atime.delete(txn, &row).map_err(&lm)?;
        let Some((window, atime, seq)) = split_atime_key(&row) else { continue };
        let header = match store.t.entries.get(txn, &stored).map_err(&lm)? {
            Some(bytes) => record::decode_header(bytes).ok(),
            None => None,
        };
        // A row left by a replaced entry just goes.
        let Some(h) = header.filter(|h| h.indexed_ms == atime && h.seq == seq && h.window_ms == window) else {
            continue;
        };
        if h.atime_ms > atime {
            // Used since it was indexed: its row moves to its real atime.
            let mut rec = store.t.entries.get(txn, &stored).map_err(&lm)?.map(<[u8]>::to_vec).unwrap_or_default();
            record::rewrite_header(&mut rec, &Header { indexed_ms: h.atime_ms, ..h });
            store.t.entries.put(txn, &stored, &rec).map_err(&lm)?;
            store.t.atime.put(txn, &atime_key(window, h.atime_ms, seq), &stored).map_err(&lm)?;
            moved += 1;
            continue;
        }
        store.t.entries.delete(txn, &stored).map_err(&lm)?;
        store.t.order.delete(txn, &seq_key(seq)).map_err(&lm)?;
        evicted += 1;
    }
    store.evictions.fetch_add(evicted as u64, Ordering::Relaxed);
    Ok(evicted)
}

/// An eviction candidate: its (atime, seq), index row and stored key.
type Candidate = ((u64, u64), Vec<u8>, Vec<u8>);

/// The atime-index row with the smallest (atime, seq) across all windows
/// (the first row of each window's range), with its stored key; rows of
/// `protect` are passed over.
fn least_recently_used(store: &Store, txn: &RwTxn<'_>, protect: Option<&[u8]>) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
    let lm = store.lm("reading the atime index");
    let mut best: Option<Candidate> = None;
    let mut window = 0u64;
    loop {
        let start = atime_key(window, 0, 0);
        let mut range = store.t.atime.range(txn, &(Bound::Included(&start[..]), Bound::Unbounded)).map_err(&lm)?;
        let first = loop {
            match range.next() {
                None => break None,
                Some(item) => {
                    let (k, v) = item.map_err(&lm)?;
                    if protect == Some(v) {
                        continue;
                    }
                    if let Some(parsed) = split_atime_key(k) {
                        break Some((parsed, k.to_vec(), v.to_vec()));
                    }
                }
            }
        };
        let Some(((w, a, seq), k, v)) = first else { break };
        if best.as_ref().is_none_or(|(b, _, _)| (a, seq) < *b) {
            best = Some(((a, seq), k, v));
        }
        match w.checked_add(1) {
            Some(next) => window = next,
            None => break,
        }
    }
    Ok(best.map(|(_, k, v)| (k, v)))
}
