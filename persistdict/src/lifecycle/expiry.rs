//! Expiry sweeps over the atime index, which is keyed by (window, atime,
//! seq): each distinct window's due range is found by one seek, so a sweep
//! costs the number of windows plus what is due, and entries written without
//! a window (`record::NEVER`) sort last, out of every sweep.

use std::ops::Bound;
use std::sync::atomic::Ordering;

use crate::error::Result;
use crate::lifecycle::atime_index;
use crate::storage::record;
use crate::storage::store::{Durability, Store, atime_key};

/// Entries removed per write transaction by an expiry sweep.
pub(crate) const EXPIRE_BATCH: usize = 1000;

impl Store {
    /// The atime-index rows that are due at `now_ms`, window by window, at
    /// most `max` (plus whether more are due). Each window's due range is
    /// found by one seek, so the cost is the number of windows plus what is due.
    fn due_rows(&self, txn: &heed::RoTxn<'_>, now_ms: u64, max: usize) -> Result<(Vec<Vec<u8>>, bool)> {
        let lm = self.lm("reading the atime index");
        let mut due = Vec::new();
        for head in atime_index::window_heads(self, txn, None) {
            let ((w, first_atime, _), _) = head?;
            if w == record::NEVER {
                break;
            }
            let cutoff = now_ms.saturating_sub(w);
            if first_atime < cutoff {
                let (from, to) = (atime_key(w, 0, 0), atime_key(w, cutoff, 0));
                for item in
                    self.t.atime.range(txn, &(Bound::Included(&from[..]), Bound::Excluded(&to[..]))).map_err(&lm)?
                {
                    if due.len() == max {
                        return Ok((due, true));
                    }
                    let (k, _) = item.map_err(&lm)?;
                    due.push(k.to_vec());
                }
            }
        }
        Ok((due, false))
    }

    /// Removes up to `max` entries that are due at `now_ms` under their own
    /// windows. Returns (removed, more are due).
    pub(crate) fn expire_batch(&self, durability: Durability, now_ms: u64, max: usize) -> Result<(usize, bool)> {
        self.write(durability, 4096, |txn, _| {
            let (due, more) = self.due_rows(txn, now_ms, max)?;
            self.expire_examined.fetch_add(due.len() as u64, Ordering::Relaxed);
            let mut removed = 0;
            for row in &due {
                // Only the entry this row still indexes counts (found by the
                // row's seq in the order index); its exact atime decides
                // whether it expires or its row moves forward.
                let Some((stored, h)) = atime_index::take_row(self, txn, row)? else { continue };
                if h.atime_ms < now_ms.saturating_sub(h.window_ms) {
                    atime_index::remove_entry(self, txn, &stored, h)?;
                    removed += 1;
                } else {
                    atime_index::move_forward(self, txn, &stored, h)?;
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
            for head in atime_index::window_heads(self, txn, None) {
                let ((w, first_atime, _), _) = head?;
                if w == record::NEVER {
                    break;
                }
                if first_atime < now_ms.saturating_sub(w) {
                    return Ok(true);
                }
            }
            Ok(false)
        })
    }
}
