//! [`Stats`]: what a handle can tell about itself.

/// A snapshot of a dictionary's figures, from [`PersistDict::stats`](crate::PersistDict::stats).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Stats {
    /// Entries in the database (all handles, all processes).
    pub entries: usize,
    /// Size of the data file on disk, in bytes.
    pub disk_bytes: u64,
    /// Reads this handle answered from its in-memory LRU.
    pub lru_hits: u64,
    /// Reads this handle had to take to LMDB while its LRU was on.
    pub lru_misses: u64,
    /// Entries in this handle's LRU now.
    pub lru_len: usize,
    /// Atime-index rows examined by expiry in this process since the
    /// directory was opened: proportional to what expired, not to the size.
    pub expire_examined: u64,
    /// Bytes of the pages the tables use: what the data file would shrink
    /// to if compacted (what `max_bytes` counts).
    pub used_bytes: u64,
    /// Entries evicted by size budgets in this process since the directory
    /// was opened.
    pub evictions: u64,
    /// Memoized calls answered from the cache (a memo store's stats only;
    /// this process, since the function's first call).
    pub memo_hits: u64,
    /// Memoized calls that found no fresh result.
    pub memo_misses: u64,
    /// Memoized calls whose body ran in this process.
    pub memo_computes: u64,
    /// Total time their bodies took.
    pub memo_compute_time: std::time::Duration,
    /// Calls that waited for another process computing the same call.
    pub memo_waits: u64,
    /// Calls that served a stale result because the recomputation failed
    /// (`on_error = "serve_stale"`).
    pub memo_stale_serves: u64,
    /// Computations that failed (an `Err`; a panic is not counted).
    pub memo_errors: u64,
    /// `#[persist_cache]` with the remote tier (feature `redis`): results
    /// this function took from the remote (its local cache missed). Zero
    /// for a `PersistDict` and without the tier.
    pub remote_hits: u64,
    /// Remote lookups of this function that found nothing usable (absent,
    /// or a bad value, which is then overwritten).
    pub remote_misses: u64,
    /// Remote operations of this function that failed or timed out (each
    /// call went on locally).
    pub remote_errors: u64,
}
