//! Streaming iteration in insertion order.
//!
//! An iterator reads one consistent snapshot (an LMDB read transaction it
//! owns) in batches, so memory stays bounded whatever the size of the
//! database. It holds no lock between batches: the same thread may write
//! while iterating, and writers elsewhere are not blocked. A long-lived
//! iterator keeps LMDB from reusing the pages its snapshot sees, so the file
//! may grow meanwhile; drop iterators when done.

use std::collections::VecDeque;
use std::sync::Arc;

use heed::{RoTxn, WithoutTls};
use serde::de::DeserializeOwned;

use crate::codec::Codec;
use crate::dict::persist_dict::{Inner, PersistDict};
use crate::error::Result;

const BATCH: usize = 256;

/// Turns one entry's key and value bytes into an item.
type Projector<T, KC, VC> = fn(&Inner<KC, VC>, &[u8], &[u8]) -> Result<T>;

/// The streaming iterator behind [`PersistDict::iter`], `keys` and `values`.
pub(crate) struct Iter<T, KC, VC> {
    inner: Arc<Inner<KC, VC>>,
    txn: Option<RoTxn<'static, WithoutTls>>,
    /// The raw order-index key to continue after (`None`: from the start).
    /// Raw bytes, so that a malformed row can neither stop nor restart the walk.
    after: Option<Vec<u8>>,
    buf: VecDeque<Result<(Vec<u8>, Vec<u8>)>>,
    project: Projector<T, KC, VC>,
}

impl<T, KC, VC> Iter<T, KC, VC> {
    fn fill(&mut self) -> Result<()> {
        let Some(txn) = &self.txn else { return Ok(()) };
        let inner = &self.inner;
        let store = &inner.h.store;
        let buf = &mut self.buf;
        let last = store.with_gate(|| {
            store.order_batch(txn, self.after.as_deref(), BATCH, |tail, _, rec| match rec {
                Ok(rec) => {
                    let key = rec.full_key.unwrap_or(tail);
                    if rec.header.type_fp != inner.types.fp {
                        buf.push_back(Err(inner.h.mismatch(key, rec.header.type_fp, &inner.types)));
                    } else {
                        buf.push_back(Ok((key.to_vec(), rec.value.to_vec())));
                    }
                }
                Err(e) => buf.push_back(Err(store.corrupt(tail, e))),
            })
        })?;
        match last {
            Some(k) => self.after = Some(k),
            None => self.txn = None,
        }
        Ok(())
    }
}

impl<T, KC: Codec, VC: Codec> Iterator for Iter<T, KC, VC> {
    type Item = Result<T>;

    fn next(&mut self) -> Option<Result<T>> {
        loop {
            if let Some(item) = self.buf.pop_front() {
                return Some(item.and_then(|(k, v)| (self.project)(&self.inner, &k, &v)));
            }
            self.txn.as_ref()?;
            if let Err(e) = self.fill() {
                self.txn = None;
                return Some(Err(e));
            }
        }
    }
}

impl<K, V, KC: Codec, VC: Codec> PersistDict<K, V, KC, VC> {
    fn iter_with<T>(&self, project: Projector<T, KC, VC>) -> Result<Iter<T, KC, VC>> {
        let txn = self.store().snapshot()?;
        Ok(Iter { inner: self.inner.clone(), txn: Some(txn), after: None, buf: VecDeque::new(), project })
    }

    /// All entries in insertion order, streamed from one snapshot.
    ///
    /// # Errors
    /// The outer `Result`: the snapshot could not be taken; each item: that
    /// entry could not be read or decoded (iteration goes on).
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// let d: persistdict::PersistDict<String, u32> = persistdict::PersistDict::open(dir.path())?;
    /// d.extend([("b".to_string(), 2), ("a".to_string(), 1)])?;
    /// let all: Vec<(String, u32)> = d.iter()?.collect::<Result<_, _>>()?;
    /// assert_eq!(all, [("b".to_string(), 2), ("a".to_string(), 1)]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn iter(&self) -> Result<impl Iterator<Item = Result<(K, V)>> + use<K, V, KC, VC>>
    where
        K: DeserializeOwned,
        V: DeserializeOwned,
    {
        self.iter_with(|d, k, v| Ok((d.decode_key(k)?, d.decode_value(k, v)?)))
    }

    /// All keys in insertion order. See [`iter`](Self::iter).
    ///
    /// # Errors
    /// As [`iter`](Self::iter).
    pub fn keys(&self) -> Result<impl Iterator<Item = Result<K>> + use<K, V, KC, VC>>
    where
        K: DeserializeOwned,
    {
        self.iter_with(|d, k, _| d.decode_key(k))
    }

    /// All values in insertion order. See [`iter`](Self::iter).
    ///
    /// # Errors
    /// As [`iter`](Self::iter).
    pub fn values(&self) -> Result<impl Iterator<Item = Result<V>> + use<K, V, KC, VC>>
    where
        V: DeserializeOwned,
    {
        self.iter_with(|d, k, v| d.decode_value(k, v))
    }
}
