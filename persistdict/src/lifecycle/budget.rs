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
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering;

use heed::RwTxn;
use tracing::warn;

use crate::error::Result;
use crate::lifecycle::atime_index;
use crate::storage::record;
use crate::storage::store::Store;

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
pub(crate) struct Budgets {
    handles: Mutex<HashMap<u64, Budget>>,
    /// The budget in force, recomputed when a handle comes or goes, so that
    /// a write reads two atomics instead of folding the map
    /// (`u64::MAX`: no limit).
    max_bytes: AtomicU64,
    max_entries: AtomicU64,
}

impl Default for Budgets {
    fn default() -> Self {
        Budgets {
            handles: Mutex::default(),
            max_bytes: AtomicU64::new(u64::MAX),
            max_entries: AtomicU64::new(u64::MAX),
        }
    }
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
        self.publish(&handles);
    }

    pub(crate) fn unregister(&self, id: u64) {
        let mut handles = self.lock();
        handles.remove(&id);
        self.publish(&handles);
    }

    /// Stores the smallest of every open handle's budget.
    fn publish(&self, handles: &HashMap<u64, Budget>) {
        let b = handles.values().fold(Budget::default(), |acc, b| acc.min(*b));
        self.max_bytes.store(b.max_bytes.unwrap_or(u64::MAX), Ordering::Release);
        self.max_entries.store(b.max_entries.unwrap_or(u64::MAX), Ordering::Release);
    }

    /// The budget in force: the smallest of every open handle's.
    pub(crate) fn current(&self) -> Budget {
        let limit = |a: &AtomicU64| Some(a.load(Ordering::Acquire)).filter(|&n| n != u64::MAX);
        Budget { max_bytes: limit(&self.max_bytes), max_entries: limit(&self.max_entries) }
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
    // Rows are passed over by seq: the protected entry's, read once.
    let protect = match protect {
        Some(stored) => match store.t.entries.get(txn, stored).map_err(store.lm("reading an entry"))? {
            Some(bytes) => record::decode_header(bytes).ok().map(|h| h.seq),
            None => None,
        },
        None => None,
    };
    // Rows that lag their entry's atime move forward; each moves once, but
    // bound the work of one write all the same.
    let mut moved = 0;
    while evicted < limit && moved < limit.saturating_mul(64) && over(store, txn, budget)? {
        let Some(row) = least_recently_used(store, txn, protect)? else { break };
        // A row that leads nowhere is taken off the index: the next turn
        // finds another one.
        let Some((stored, h)) = atime_index::take_row(store, txn, &row)? else { continue };
        if h.atime_ms > h.indexed_ms {
            atime_index::move_forward(store, txn, &stored, h)?;
            moved += 1;
        } else {
            atime_index::remove_entry(store, txn, &stored, h)?;
            evicted += 1;
        }
    }
    store.evictions.fetch_add(evicted as u64, Ordering::Relaxed);
    Ok(evicted)
}

/// The key of the atime-index row with the smallest (atime, seq) among the
/// first rows of each window's range; rows of seq `protect` are passed over.
fn least_recently_used(store: &Store, txn: &RwTxn<'_>, protect: Option<u64>) -> Result<Option<Vec<u8>>> {
    let mut best: Option<atime_index::Row> = None;
    for head in atime_index::window_heads(store, txn, protect) {
        let head = head?;
        let key = |r: &atime_index::Row| (r.0.1, r.0.2);
        if best.as_ref().is_none_or(|b| key(&head) < key(b)) {
            best = Some(head);
        }
    }
    Ok(best.map(|(_, row)| row))
}
