//! The atime index, keyed by (window, atime, seq), as expiry and eviction
//! walk it: the first row of each window, and what a row stands for.
//!
//! A row lags its entry's atime by less than the atime granularity (a write
//! within the granularity leaves the index alone), so the entry's own header
//! decides: a row whose entry was used since it was indexed moves forward.

use std::ops::Bound;

use heed::RwTxn;

use crate::error::Result;
use crate::storage::record::{self, Header};
use crate::storage::store::{Store, atime_key, seq_key, split_atime_key};

/// An index row: (window, atime, seq), the row's key, and the stored key of
/// the entry it indexes.
pub(crate) type Row = ((u64, u64, u64), Vec<u8>, Vec<u8>);

/// The first well-formed row at or after the first row of `window`, passing
/// over rows of the entry stored under `skip`: one seek.
pub(crate) fn first_row_from(
    store: &Store,
    txn: &heed::RoTxn<'_>,
    window: u64,
    skip: Option<&[u8]>,
) -> Result<Option<Row>> {
    let lm = store.lm("reading the atime index");
    let start = atime_key(window, 0, 0);
    for item in store.t.atime.range(txn, &(Bound::Included(&start[..]), Bound::Unbounded)).map_err(&lm)? {
        let (k, v) = item.map_err(&lm)?;
        if skip == Some(v) {
            continue;
        }
        // A malformed row is passed over here and removed by check_integrity().
        if let Some(parsed) = split_atime_key(k) {
            return Ok(Some((parsed, k.to_vec(), v.to_vec())));
        }
    }
    Ok(None)
}

/// The first row of each window in turn (each found by one seek), from the
/// smallest window up, with those of entries that never expire last.
pub(crate) fn window_heads<'a>(
    store: &'a Store,
    txn: &'a heed::RoTxn<'a>,
    skip: Option<&'a [u8]>,
) -> impl Iterator<Item = Result<Row>> + 'a {
    let mut next = Some(0u64);
    std::iter::from_fn(move || {
        let window = next?;
        match first_row_from(store, txn, window, skip) {
            Ok(Some(row)) => {
                next = row.0.0.checked_add(1);
                Some(Ok(row))
            }
            Ok(None) => None,
            Err(e) => {
                next = None;
                Some(Err(e))
            }
        }
    })
}

/// Takes index row `row` off the index and returns the header of the entry
/// it indexes, when the row is still that entry's (a row left by a replaced
/// entry just goes).
pub(crate) fn take_row(store: &Store, txn: &mut RwTxn<'_>, row: &[u8], stored: &[u8]) -> Result<Option<Header>> {
    let lm = store.lm("updating the atime index");
    store.t.atime.delete(txn, row).map_err(&lm)?;
    let Some((window, atime, seq)) = split_atime_key(row) else { return Ok(None) };
    let header = match store.t.entries.get(txn, stored).map_err(&lm)? {
        Some(bytes) => record::decode_header(bytes).ok(),
        None => None,
    };
    Ok(header.filter(|h| h.indexed_ms == atime && h.seq == seq && h.window_ms == window))
}

/// Indexes an entry whose row was taken (see [`take_row`]) under its real
/// atime: it was used since it was indexed.
pub(crate) fn move_forward(store: &Store, txn: &mut RwTxn<'_>, stored: &[u8], h: Header) -> Result<()> {
    let lm = store.lm("updating the atime index");
    let mut rec = store.t.entries.get(txn, stored).map_err(&lm)?.map(<[u8]>::to_vec).unwrap_or_default();
    record::rewrite_header(&mut rec, &Header { indexed_ms: h.atime_ms, ..h });
    store.t.entries.put(txn, stored, &rec).map_err(&lm)?;
    store.t.atime.put(txn, &atime_key(h.window_ms, h.atime_ms, h.seq), stored).map_err(&lm)?;
    Ok(())
}

/// Removes an entry whose row was taken (see [`take_row`]).
pub(crate) fn remove_entry(store: &Store, txn: &mut RwTxn<'_>, stored: &[u8], h: Header) -> Result<()> {
    let lm = store.lm("removing an entry");
    store.t.entries.delete(txn, stored).map_err(&lm)?;
    store.t.order.delete(txn, &seq_key(h.seq)).map_err(&lm)?;
    store.drop_args_in(txn, stored)
}
