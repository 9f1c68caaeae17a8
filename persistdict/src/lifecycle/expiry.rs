//! Expiry sweeps over the atime index, which is keyed by (window, atime,
//! seq): each distinct window's due range is found by one seek, so a sweep
//! costs the number of windows plus what is due, and entries written without
//! a window (`record::NEVER`) sort last, out of every sweep.

use std::ops::Bound;
use std::sync::atomic::Ordering;

use crate::error::Result;
use crate::storage::record::{self, Header};
use crate::storage::store::{Durability, IndexRow, Store, atime_key, seq_key, split_atime_key};

/// Entries removed per write transaction by an expiry sweep.
pub(crate) const EXPIRE_BATCH: usize = 1000;

impl Store {
    /// The first atime-index row of the first window at or after `window`
    /// (windows below `record::NEVER` only): one B-tree lookup.
    fn first_row_from_window(&self, txn: &heed::RoTxn<'_>, window: u64) -> Result<Option<(u64, u64)>> {
        let lm = self.lm("reading the atime index");
        let start = atime_key(window, 0, 0);
        let mut range = self.t.atime.range(txn, &(Bound::Included(&start[..]), Bound::Unbounded)).map_err(&lm)?;
        loop {
            let Some(item) = range.next() else { return Ok(None) };
            let (k, _) = item.map_err(&lm)?;
            match split_atime_key(k) {
                Some((w, _, _)) if w == record::NEVER => return Ok(None),
                Some((w, a, _)) => return Ok(Some((w, a))),
                // A malformed row: skipped here, removed by check_integrity().
                None => continue,
            }
        }
    }

    /// The atime-index rows that are due at `now_ms`, window by window, at
    /// most `max` (plus whether more are due). Each window's due range is
    /// found by one seek, so the cost is the number of windows plus what is due.
    fn due_rows(&self, txn: &heed::RoTxn<'_>, now_ms: u64, max: usize) -> Result<(Vec<IndexRow>, bool)> {
        let lm = self.lm("reading the atime index");
        let mut due = Vec::new();
        let mut window = 0u64;
        while let Some((w, first_atime)) = self.first_row_from_window(txn, window)? {
            let cutoff = now_ms.saturating_sub(w);
            if first_atime < cutoff {
                let (from, to) = (atime_key(w, 0, 0), atime_key(w, cutoff, 0));
                for item in
                    self.t.atime.range(txn, &(Bound::Included(&from[..]), Bound::Excluded(&to[..]))).map_err(&lm)?
                {
                    if due.len() == max {
                        return Ok((due, true));
                    }
                    let (k, v) = item.map_err(&lm)?;
                    due.push((k.to_vec(), v.to_vec()));
                }
            }
            match w.checked_add(1) {
                Some(next) => window = next,
                None => break,
            }
        }
        Ok((due, false))
    }

    /// Removes up to `max` entries that are due at `now_ms` under their own
    /// windows. Returns (removed, more are due).
    pub(crate) fn expire_batch(&self, durability: Durability, now_ms: u64, max: usize) -> Result<(usize, bool)> {
        self.write(durability, 4096, |txn, t| {
            let lm = self.lm("expiring entries");
            let (due, more) = self.due_rows(txn, now_ms, max)?;
            self.expire_examined.fetch_add(due.len() as u64, Ordering::Relaxed);
            let mut removed = 0;
            for (idx_key, stored) in &due {
                t.atime.delete(txn, idx_key).map_err(&lm)?;
                let Some((window, atime, seq)) = split_atime_key(idx_key) else { continue };
                let header = match t.entries.get(txn, stored).map_err(&lm)? {
                    Some(bytes) => record::decode_header(bytes).ok(),
                    None => None,
                };
                // Only act on the entry this row indexes (a row left by a
                // replaced entry just goes away). Its exact atime decides: it
                // expires, or it was used since it was indexed and its row
                // moves forward to its atime.
                let Some(h) = header.filter(|h| h.indexed_ms == atime && h.seq == seq && h.window_ms == window) else {
                    continue;
                };
                if h.atime_ms < now_ms.saturating_sub(h.window_ms) {
                    t.entries.delete(txn, stored).map_err(&lm)?;
                    t.order.delete(txn, &seq_key(seq)).map_err(&lm)?;
                    removed += 1;
                } else {
                    let mut rec = t.entries.get(txn, stored).map_err(&lm)?.map(<[u8]>::to_vec).unwrap_or_default();
                    record::rewrite_header(&mut rec, &Header { indexed_ms: h.atime_ms, ..h });
                    t.entries.put(txn, stored, &rec).map_err(&lm)?;
                    t.atime.put(txn, &atime_key(window, h.atime_ms, seq), stored).map_err(&lm)?;
                }
            }
            Ok((removed, more))
        })
    }

    /// Removes the entries not used within their own windows,
    /// `EXPIRE_BATCH` per write transaction. Stops after the batch in
    /// progress once `deadline` has passed, or once the last handle of this
    /// directory is gone (a sweep never keeps a closed directory busy).
    /// Returns (removed, interrupted). When nothing is due it costs one
    /// lookup per distinct window.
    pub(crate) fn expire_due(
        &self,
        durability: Durability,
        deadline: Option<std::time::Instant>,
    ) -> Result<(usize, bool)> {
        let now = crate::storage::clock::now_ms();
        let mut removed = 0;
        if !self.any_due(now)? {
            return Ok((0, false));
        }
        loop {
            let (n, more) = self.expire_batch(durability, now, EXPIRE_BATCH)?;
            removed += n;
            if !more {
                return Ok((removed, false));
            }
            if deadline.is_some_and(|d| std::time::Instant::now() >= d) || self.users.load(Ordering::Acquire) == 0 {
                return Ok((removed, true));
            }
        }
    }

    /// Whether any entry is due at `now_ms`: one lookup per distinct window.
    pub(crate) fn any_due(&self, now_ms: u64) -> Result<bool> {
        self.read(|txn, _| {
            let mut window = 0u64;
            while let Some((w, first_atime)) = self.first_row_from_window(txn, window)? {
                if first_atime < now_ms.saturating_sub(w) {
                    return Ok(true);
                }
                match w.checked_add(1) {
                    Some(next) => window = next,
                    None => break,
                }
            }
            Ok(false)
        })
    }
}
