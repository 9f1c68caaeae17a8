//! The in-memory LRU in front of LMDB, and its coherence rule.
//!
//! Every cached value is tagged with the LMDB transaction id it was read at.
//! A lookup first compares the tag with LMDB's last committed transaction id
//! (read from the shared meta page, so it sees commits of every handle and
//! every process): if anything was committed since, the cache is emptied.
//! A value overwritten or removed elsewhere is therefore never served. A
//! handle's own write keeps the rest of the cache when it was the only commit
//! since the tag.

use std::any::Any;
use std::num::NonZeroUsize;
use std::sync::Arc;

use lru::LruCache;

use crate::storage::record::Header;

/// A cached value and the header it was read with.
#[derive(Clone)]
pub(crate) struct Cached {
    pub value: Arc<[u8]>,
    pub header: Header,
    /// The value decoded, for a dictionary built with
    /// [`Builder::cache_decoded`](crate::Builder::cache_decoded): set at the
    /// first hit, on this very entry (so it always matches `value`).
    pub decoded: Option<Arc<dyn Any + Send + Sync>>,
}

/// How a dictionary that caches decoded values clones them out of the
/// cache and puts them in (fn pointers: `V` needs no bound here).
pub(crate) struct Typed<R> {
    pub clone: fn(&(dyn Any + Send + Sync)) -> Option<R>,
    pub boxed: fn(&R) -> Arc<dyn Any + Send + Sync>,
}

impl<R> Clone for Typed<R> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<R> Copy for Typed<R> {}

pub(crate) struct FrontCache {
    lru: LruCache<Vec<u8>, Cached>,
    tag: usize,
}

impl FrontCache {
    pub fn new(capacity: NonZeroUsize) -> Self {
        FrontCache { lru: LruCache::new(capacity), tag: 0 }
    }

    /// The cached value of `key`, if the cache is still current at `last_txn`.
    pub fn get(&mut self, last_txn: usize, key: &[u8]) -> Option<&Cached> {
        if last_txn != self.tag {
            self.lru.clear();
            self.tag = last_txn;
            return None;
        }
        self.lru.get(key)
    }

    /// Caches a value read in a snapshot with id `snapshot`.
    pub fn insert_read(&mut self, snapshot: usize, key: &[u8], cached: Cached) {
        if snapshot > self.tag {
            self.lru.clear();
            self.tag = snapshot;
        }
        if snapshot == self.tag {
            self.lru.put(key.to_vec(), cached);
        }
    }

    /// After this handle committed write transaction `txn`, which changed
    /// `key` to `new` (`None`: removed): if it was the only commit since the
    /// tag, keep the cache and update `key`; otherwise drop `key` and leave
    /// the rest for the next lookup to empty.
    ///
    /// `txn` must be the id of a commit that wrote something: LMDB does not
    /// consume an id for a write transaction that changed nothing, so
    /// another writer's next commit carries the same id, and taking it for
    /// ours would tag the cache as current at a commit it has not seen.
    pub fn after_write(&mut self, txn: usize, key: &[u8], new: Option<Cached>) {
        if self.tag.checked_add(1) == Some(txn) {
            self.tag = txn;
            match new {
                Some(c) => {
                    self.lru.put(key.to_vec(), c);
                }
                None => {
                    self.lru.pop(key);
                }
            }
        } else {
            self.lru.pop(key);
        }
    }

    /// The entry of `key`, to attach its decoded value (no LRU promotion).
    pub fn entry_mut(&mut self, key: &[u8]) -> Option<&mut Cached> {
        self.lru.peek_mut(key)
    }

    pub fn clear(&mut self) {
        self.lru.clear();
    }

    pub fn len(&self) -> usize {
        self.lru.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cached(v: &[u8]) -> Cached {
        Cached {
            value: v.into(),
            header: Header { hashed: false, seq: 0, ctime_ms: 0, atime_ms: 0, indexed_ms: 0, window_ms: 0, type_fp: 0 },
            decoded: None,
        }
    }

    #[test]
    fn any_foreign_commit_empties_the_cache() {
        let mut c = FrontCache::new(NonZeroUsize::new(4).unwrap());
        c.insert_read(5, b"k", cached(b"v"));
        assert!(c.get(5, b"k").is_some());
        assert!(c.get(6, b"k").is_none());
        assert_eq!(c.len(), 0);
    }

    #[test]
    fn own_write_keeps_the_cache_only_when_it_was_the_only_commit() {
        let mut c = FrontCache::new(NonZeroUsize::new(4).unwrap());
        c.insert_read(5, b"a", cached(b"1"));
        c.after_write(6, b"b", Some(cached(b"2")));
        assert!(c.get(6, b"a").is_some());
        assert_eq!(&*c.get(6, b"b").unwrap().value, b"2");
        // Someone else committed 7 before our 8.
        c.after_write(8, b"a", None);
        assert!(c.get(8, b"b").is_none());
    }
}
