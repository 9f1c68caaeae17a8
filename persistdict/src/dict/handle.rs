//! The byte-level handle: one opened view of a store with its own options
//! (durability, expiry window, LRU). `PersistDict` wraps it with types; the
//! macro's memo store uses it directly.

use std::collections::HashSet;
use std::num::NonZeroUsize;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use heed::RwTxn;
use tracing::{debug, warn};

use crate::dict::builder::Options;
use crate::dict::fingerprint::{Fp, Types};
use crate::dict::front_cache::{Cached, FrontCache, Typed};
use crate::dict::memoize::Flights;
use crate::dict::stats::Stats;
use crate::error::{Error, Result};
use crate::lifecycle::budget::{self, Budget, Budgets};
use crate::lifecycle::maintenance::{self, HandlePlan};
use crate::lifecycle::maintenance::{EnvMaintenance, Maintenance};
use crate::storage::clock;
use crate::storage::key::{Lookup, display_key};
use crate::storage::meta;
use crate::storage::record::{self, Header};
use crate::storage::registry::{self, EnvOptions};
use crate::storage::store::{PutOutcome, Stamp, Store, granularity_ms};

static NEXT_HANDLE_ID: AtomicU64 = AtomicU64::new(1);

pub(crate) struct Handle {
    pub store: Arc<Store>,
    pub opts: Options,
    pub name: String,
    front: Option<Mutex<FrontCache>>,
    hits: AtomicU64,
    misses: AtomicU64,
    id: u64,
    ticket: u64,
    /// The window this handle stamps on what it writes (`record::NEVER`: none).
    window_ms: u64,
    /// The atime granularity the user set, if any.
    explicit_granularity_ms: Option<u64>,
    /// Type fingerprints whose names this handle has recorded in the meta
    /// table, and the last one, checked first without a lock (a dict writes
    /// one pair of types).
    recorded_types: Mutex<HashSet<Fp>>,
    last_recorded: AtomicU64,
    /// The maintenance state of the store's environment.
    maintenance: Arc<EnvMaintenance>,
    /// The single-flight registry of the store's environment.
    pub flights: Arc<Flights>,
    /// The size budgets of the store's environment.
    budgets: Arc<Budgets>,
}

impl Handle {
    pub fn open(opts: Options) -> Result<Handle> {
        let env_opts =
            EnvOptions { map_size: opts.map_size, key_size_limit: opts.key_size_limit, dir_mode: opts.dir_mode };
        let (store, _fresh) = registry::open_shared(&opts.path, &env_opts)?;
        if let Some(requested) = opts.key_size_limit
            && requested != store.key_size_limit
        {
            warn!(path = %store.path.display(), requested, recorded = store.key_size_limit,
                "key_size_limit differs from the one recorded in the database; using the recorded one");
        }
        let name = opts.name.clone().unwrap_or_else(|| {
            opts.path.file_name().map_or_else(|| opts.path.display().to_string(), |n| n.to_string_lossy().into_owned())
        });
        let id = NEXT_HANDLE_ID.fetch_add(1, Ordering::Relaxed);
        let plan = HandlePlan {
            durability: opts.durability,
            timeout: opts.maintenance_timeout,
            interval: opts.maintenance_interval,
            background: opts.maintenance == Maintenance::Background,
        };
        // Opening where nothing is due costs one lookup per distinct window.
        let due_now = plan.background && store.any_due(clock::now_ms())?;
        let maintenance = store.ext.get::<EnvMaintenance>();
        let ticket = maintenance.register(&store, id, plan, due_now);
        let handle = Handle {
            front: NonZeroUsize::new(opts.lru_capacity).map(|n| Mutex::new(FrontCache::new(n))),
            window_ms: opts.expire_after.map_or(record::NEVER, |w| clock::duration_ms(w).min(record::NEVER - 1)),
            explicit_granularity_ms: opts.atime_granularity.map(clock::duration_ms),
            recorded_types: Mutex::new(HashSet::new()),
            last_recorded: AtomicU64::new(0),
            flights: store.ext.get::<Flights>(),
            budgets: {
                let budgets = store.ext.get::<Budgets>();
                budgets.register(&store, id, Budget { max_bytes: opts.max_bytes, max_entries: opts.max_entries });
                budgets
            },
            maintenance,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            id,
            ticket,
            name,
            store,
            opts,
        };
        if handle.opts.maintenance == Maintenance::Foreground {
            maintenance::run(&handle.store, handle.opts.durability, handle.opts.maintenance_timeout)?;
        }
        debug!(name = %handle.name, path = %handle.store.path.display(), "opened");
        Ok(handle)
    }

    pub fn path(&self) -> &Path {
        &self.opts.path
    }

    /// Drops this handle and, when it was the last one of its environment in
    /// this process, waits until LMDB has closed the environment (a
    /// maintenance batch in progress finishes first), at most `timeout`. A
    /// handle inherited through `fork()` is dropped without waiting: its
    /// environment belongs to the parent and is never closed here.
    ///
    /// # Errors
    /// The environment was still open after `timeout` (an iterator or a
    /// transaction of another thread still uses it).
    pub fn close(self, timeout: Duration) -> Result<()> {
        let store = Arc::downgrade(&self.store);
        let path = self.store.path.clone();
        let forked = self.store.forked();
        drop(self);
        if forked {
            return Ok(());
        }
        let deadline = std::time::Instant::now() + timeout;
        let still_open = || {
            Error::lmdb(
                &path,
                "closing the environment: another thread of this process still uses it (an iterator, a transaction)",
                heed::Error::EnvAlreadyOpened,
            )
        };
        // Other handles keep the environment open: nothing to wait for. A
        // maintenance batch holds the store without being a user: wait for it.
        while let Some(s) = store.upgrade() {
            if s.users.load(Ordering::Acquire) > 0 {
                return Ok(());
            }
            drop(s);
            if std::time::Instant::now() >= deadline {
                return Err(still_open());
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        // The store is gone; heed closes the environment with its last reference.
        if let Some(event) = heed::env_closing_event(&path)
            && !event.wait_timeout(deadline.saturating_duration_since(std::time::Instant::now()))
        {
            return Err(still_open());
        }
        debug!(path = %path.display(), "closed");
        Ok(())
    }

    /// Whether the initialize-once flag is set (see `PersistDict::initialize`).
    pub fn is_initialized(&self) -> Result<bool> {
        Ok(self.store.meta_get(meta::INITIALIZED_KEY)?.is_some())
    }

    pub fn lookup<'a>(&self, encoded: &'a [u8]) -> Lookup<'a> {
        Lookup::new(encoded, self.store.key_size_limit, self.opts.hasher)
    }

    fn front(&self) -> Option<MutexGuard<'_, FrontCache>> {
        self.front.as_ref().map(|m| m.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn stamp(&self, now_ms: u64, types: &Types) -> Stamp {
        Stamp {
            now_ms,
            window_ms: self.window_ms,
            type_fp: types.fp,
            granularity_ms: self.explicit_granularity_ms,
            reset_ctime: false,
        }
    }

    /// Whether an entry's atime is recent enough that a read need not refresh it.
    fn fresh(&self, h: &Header, now_ms: u64) -> bool {
        now_ms.saturating_sub(h.atime_ms) < granularity_ms(h.window_ms, self.explicit_granularity_ms)
    }

    /// The error for an entry of `encoded` stored with fingerprint `stored`
    /// and read as `types`.
    pub(crate) fn mismatch(&self, encoded: &[u8], stored: Fp, types: &Types) -> Error {
        let recorded = self.store.meta_get(&meta::types_key(stored)).ok().flatten();
        let stored = match recorded {
            Some(names) => String::from_utf8_lossy(&names).into_owned(),
            None => format!("other types (fingerprint {stored:016x})"),
        };
        Error::TypeMismatch {
            path: self.store.path.clone(),
            key: display_key(encoded),
            stored,
            requested: types.describe(),
        }
    }

    /// Records the names of `types` in the meta table, once per handle, in
    /// the write transaction that first stores an entry with them.
    fn record_types(&self, txn: &mut RwTxn<'_>, types: &Types) -> Result<bool> {
        if self.last_recorded.load(Ordering::Relaxed) == types.fp {
            return Ok(false);
        }
        if self.recorded_types.lock().unwrap_or_else(|e| e.into_inner()).contains(&types.fp) {
            return Ok(false);
        }
        let key = meta::types_key(types.fp);
        let lm = self.store.lm("recording type names");
        if self.store.t.meta.get(txn, &key).map_err(&lm)?.is_none() {
            self.store.t.meta.put(txn, &key, types.describe().as_bytes()).map_err(&lm)?;
        }
        Ok(true)
    }

    fn types_recorded(&self, types: &Types) {
        self.last_recorded.store(types.fp, Ordering::Relaxed);
        self.recorded_types.lock().unwrap_or_else(|e| e.into_inner()).insert(types.fp);
    }

    /// Reads `encoded` and hands the value bytes to `decode` when they were
    /// written with `types` ([`Error::TypeMismatch`] otherwise: they are not
    /// decoded); refreshes atime when it is older than the granularity.
    pub fn get<R>(
        &self,
        encoded: &[u8],
        types: &Types,
        decode: impl FnOnce(&[u8], &Header) -> Result<R>,
    ) -> Result<Option<R>> {
        self.get_typed(encoded, types, None, decode)
    }

    /// [`get`](Self::get), serving decoded values from the front cache when
    /// `typed` says how (see [`Typed`]).
    pub fn get_typed<R>(
        &self,
        encoded: &[u8],
        types: &Types,
        typed: Option<Typed<R>>,
        decode: impl FnOnce(&[u8], &Header) -> Result<R>,
    ) -> Result<Option<R>> {
        let now = clock::now_ms();
        self.maintenance.tick(&self.store, now);
        if self.front.is_some() {
            let last = self.store.last_txn_id()?;
            let mut front = self.front().expect("front cache is on");
            if let Some(c) = front.get(last, encoded)
                && self.fresh(&c.header, now)
            {
                if c.header.type_fp != types.fp {
                    let stored = c.header.type_fp;
                    drop(front);
                    return Err(self.mismatch(encoded, stored, types));
                }
                if let (Some(t), Some(d)) = (typed, &c.decoded)
                    && let Some(v) = (t.clone)(&**d)
                {
                    drop(front);
                    self.hits.fetch_add(1, Ordering::Relaxed);
                    return Ok(Some(v));
                }
                let (value, header) = (c.value.clone(), c.header);
                drop(front);
                self.hits.fetch_add(1, Ordering::Relaxed);
                let v = decode(&value, &header)?;
                if let Some(t) = typed
                    && let Some(mut front) = self.front()
                    && let Some(c) = front.entry_mut(encoded)
                    && Arc::ptr_eq(&c.value, &value)
                {
                    c.decoded = Some((t.boxed)(&v));
                }
                return Ok(Some(v));
            }
            drop(front);
            self.misses.fetch_add(1, Ordering::Relaxed);
        }
        let lookup = self.lookup(encoded);
        let caching = self.front.is_some();
        let found = self.store.read(|txn, _| {
            let snapshot = txn.id();
            self.store.get_in(txn, &lookup, |value, header| {
                if header.type_fp != types.fp {
                    return Ok(Err(header.type_fp));
                }
                let copy: Option<Arc<[u8]>> = caching.then(|| value.into());
                Ok(Ok((decode(value, &header), header, copy, snapshot)))
            })
        })?;
        let Some(found) = found else { return Ok(None) };
        let (decoded, header, copy, snapshot) = found.map_err(|stored| self.mismatch(encoded, stored, types))?;
        let decoded = decoded?;
        if !self.fresh(&header, now) {
            if let Err(e) = self.store.touch(self.opts.durability, &lookup, header, now, self.explicit_granularity_ms) {
                warn!(name = %self.name, error = %e, "could not refresh atime; the value is returned anyway");
            }
        } else if let (Some(value), Some(mut front)) = (copy, self.front()) {
            front.insert_read(snapshot, encoded, Cached { value, header, decoded: None });
        }
        Ok(Some(decoded))
    }

    /// Whether `encoded` is present; leaves atime alone.
    pub fn contains(&self, encoded: &[u8]) -> Result<bool> {
        self.header(encoded).map(|h| h.is_some())
    }

    pub fn header(&self, encoded: &[u8]) -> Result<Option<Header>> {
        self.maintenance.tick(&self.store, clock::now_ms());
        let lookup = self.lookup(encoded);
        self.store.read(|txn, _| self.store.get_in(txn, &lookup, |_, h| Ok(h)))
    }

    /// Brings the front cache up to date after this handle committed write
    /// transaction `txn_id`, which changed `encoded` to `new` (`None`:
    /// removed). Only for transactions that wrote something: LMDB gives a
    /// transaction that wrote nothing no id of its own (the next writer
    /// commits under the same id), so such a "commit" must not move the
    /// cache's tag.
    fn after_write(&self, txn_id: usize, encoded: &[u8], new: Option<Cached>) {
        if let Some(mut front) = self.front() {
            front.after_write(txn_id, encoded, new);
        }
    }

    /// Brings the front cache up to date after this handle stored `value`
    /// under `lookup` in write transaction `txn_id`.
    fn after_put(&self, txn_id: usize, lookup: &Lookup<'_>, value: &[u8], stamp: Stamp, outcome: PutOutcome) {
        let Some(mut front) = self.front() else { return };
        if outcome == PutOutcome::Displaced {
            // Another key lost its slot to this one: its cached value must go.
            front.clear();
        }
        // An overwrite kept the entry's first ctime, which is not known here:
        // a memo store reads ctime (`fresh_for`), so the entry is dropped
        // from the cache rather than cached with a ctime the disk lacks.
        if outcome == PutOutcome::Replaced && !stamp.reset_ctime {
            front.after_write(txn_id, lookup.encoded, None);
            return;
        }
        // A new entry's (or a restarted) ctime is now; seq is not read from
        // the cache.
        let now = stamp.now_ms;
        let header = Header {
            hashed: lookup.digest.is_some(),
            seq: 0,
            ctime_ms: now,
            atime_ms: now,
            indexed_ms: now,
            window_ms: stamp.window_ms,
            type_fp: stamp.type_fp,
        };
        front.after_write(txn_id, lookup.encoded, Some(Cached { value: value.into(), header, decoded: None }));
    }

    /// The budget in force, after checking that an entry of `size` bytes
    /// can fit it at all ([`Error::OverBudget`] otherwise: an entry larger
    /// than the whole budget is refused rather than stored and evicted).
    fn check_budget(&self, size: usize) -> Result<Budget> {
        let budget = self.budgets.current();
        if let Some(max) = budget.max_bytes {
            // The record, its index rows, and a page of slack.
            let needed = (size as u64).saturating_add(4096);
            if needed > max / 2 {
                return Err(Error::OverBudget { path: self.store.path.clone(), size: size as u64, max_bytes: max });
            }
        }
        Ok(budget)
    }

    /// Evicts what `budget` requires, inside the write transaction, never
    /// the entry stored under `protect`.
    fn enforce(&self, txn: &mut RwTxn<'_>, budget: Budget, limit: usize, protect: Option<&[u8]>) -> Result<usize> {
        if budget.is_set() { budget::enforce(&self.store, txn, budget, limit, protect) } else { Ok(0) }
    }

    /// Entries were evicted by this handle's commit: its front cache may
    /// hold some of them.
    fn after_evictions(&self, evicted: usize) {
        if evicted > 0
            && let Some(mut front) = self.front()
        {
            front.clear();
        }
    }

    pub fn put(&self, encoded: &[u8], value: &[u8], types: &Types) -> Result<PutOutcome> {
        self.put_with(encoded, value, types, false, |_| Ok(()))
    }

    /// [`put`](Self::put), restarting ctime with `reset_ctime`, and running
    /// `also` in the same write transaction (a memo lease released with the
    /// result it guarded).
    pub(crate) fn put_with(
        &self,
        encoded: &[u8],
        value: &[u8],
        types: &Types,
        reset_ctime: bool,
        mut also: impl FnMut(&mut RwTxn<'_>) -> Result<()>,
    ) -> Result<PutOutcome> {
        let lookup = self.lookup(encoded);
        let now = clock::now_ms();
        self.maintenance.tick(&self.store, now);
        let stamp = Stamp { reset_ctime, ..self.stamp(now, types) };
        let budget = self.check_budget(encoded.len() + value.len())?;
        let (outcome, txn_id, recorded, evicted) =
            self.store.write(self.opts.durability, encoded.len() + value.len(), |txn, _| {
                let id = txn.id();
                let recorded = self.record_types(txn, types)?;
                let outcome = self.store.put_in(txn, &lookup, value, stamp, &mut None)?;
                let evicted = self.enforce(txn, budget, budget::EVICT_BATCH, Some(lookup.stored()))?;
                also(txn)?;
                Ok((outcome, id, recorded, evicted))
            })?;
        if recorded {
            self.types_recorded(types);
        }
        self.after_evictions(evicted);
        self.after_put(txn_id, &lookup, value, stamp, outcome);
        debug!(name = %self.name, ?outcome, "put");
        Ok(outcome)
    }

    /// Stores `value` unless the key got a value meanwhile; returns the
    /// value bytes that are stored now (`None`: ours).
    ///
    /// # Errors
    /// [`Error::TypeMismatch`] when the value there was written with other types.
    pub fn put_if_absent(&self, encoded: &[u8], value: &[u8], types: &Types) -> Result<Option<Vec<u8>>> {
        let lookup = self.lookup(encoded);
        let now = clock::now_ms();
        let stamp = self.stamp(now, types);
        let budget = self.check_budget(encoded.len() + value.len())?;
        let (stored, txn_id, recorded, evicted) =
            self.store.write(self.opts.durability, encoded.len() + value.len(), |txn, _| {
                let id = txn.id();
                if let Some(found) = self.store.get_in(txn, &lookup, |v, h| Ok((v.to_vec(), h.type_fp)))? {
                    return Ok((Err(found), id, false, 0));
                }
                let recorded = self.record_types(txn, types)?;
                let outcome = self.store.put_in(txn, &lookup, value, stamp, &mut None)?;
                let evicted = self.enforce(txn, budget, budget::EVICT_BATCH, Some(lookup.stored()))?;
                Ok((Ok(outcome), id, recorded, evicted))
            })?;
        if recorded {
            self.types_recorded(types);
        }
        self.after_evictions(evicted);
        match stored {
            Ok(outcome) => {
                self.after_put(txn_id, &lookup, value, stamp, outcome);
                Ok(None)
            }
            // Nothing was written: the front cache is left as it is.
            Err((_, fp)) if fp != types.fp => Err(self.mismatch(encoded, fp, types)),
            Err((existing, _)) => Ok(Some(existing)),
        }
    }

    pub fn remove(&self, encoded: &[u8]) -> Result<bool> {
        self.maintenance.tick(&self.store, clock::now_ms());
        let lookup = self.lookup(encoded);
        let (removed, txn_id) = self.store.write(self.opts.durability, 64, |txn, _| {
            let id = txn.id();
            Ok((self.store.remove_in(txn, &lookup)?, id))
        })?;
        #[cfg(test)]
        tests::after_commit_hook();
        // A remove of an absent key wrote nothing: no commit to account for.
        if removed {
            self.after_write(txn_id, encoded, None);
        }
        Ok(removed)
    }

    /// Removes many keys, a thousand per write transaction; returns how many were there.
    pub fn remove_many(&self, keys: &[Vec<u8>]) -> Result<usize> {
        let mut removed = 0;
        for chunk in keys.chunks(1000) {
            removed += self.store.write(self.opts.durability, 64 * chunk.len(), |txn, _| {
                let mut n = 0;
                for k in chunk {
                    n += usize::from(self.store.remove_in(txn, &self.lookup(k))?);
                }
                Ok(n)
            })?;
        }
        if let Some(mut front) = self.front() {
            front.clear();
        }
        Ok(removed)
    }

    /// Writes many pairs in one transaction; with `once`, fails if the
    /// database was initialized and marks it initialized.
    pub fn put_many(&self, pairs: &[(Vec<u8>, Vec<u8>)], types: &Types, once: bool) -> Result<()> {
        let now = clock::now_ms();
        self.maintenance.tick(&self.store, now);
        let hint: usize = pairs.iter().map(|(k, v)| k.len() + v.len() + 64).sum();
        let stamp = self.stamp(now, types);
        let biggest = pairs.iter().map(|(k, v)| k.len() + v.len()).max().unwrap_or(0);
        let budget = self.check_budget(biggest)?;
        let recorded = self.store.write(self.opts.durability, hint, |txn, t| {
            if once {
                if t.meta.get(txn, meta::INITIALIZED_KEY).map_err(self.store.lm("reading metadata"))?.is_some() {
                    return Err(Error::AlreadyInitialized { path: self.store.path.clone() });
                }
                t.meta.put(txn, meta::INITIALIZED_KEY, &[1]).map_err(self.store.lm("marking initialized"))?;
            }
            let recorded = !pairs.is_empty() && self.record_types(txn, types)?;
            let mut next_seq = None;
            for (k, v) in pairs {
                self.store.put_in(txn, &self.lookup(k), v, stamp, &mut next_seq)?;
            }
            self.enforce(txn, budget, pairs.len() + budget::EVICT_BATCH, None)?;
            Ok(recorded)
        })?;
        if recorded {
            self.types_recorded(types);
        }
        if let Some(mut front) = self.front() {
            front.clear();
        }
        debug!(name = %self.name, count = pairs.len(), "put many");
        Ok(())
    }

    pub fn clear(&self) -> Result<()> {
        self.store.write(self.opts.durability, 64, |txn, _| self.store.clear_in(txn))?;
        if let Some(mut front) = self.front() {
            front.clear();
        }
        debug!(name = %self.name, "cleared");
        Ok(())
    }

    /// Removes the entries that are due under their own windows.
    pub fn expire(&self) -> Result<usize> {
        let (total, _) = self.store.expire_due(self.opts.durability, None)?;
        if let Some(mut front) = self.front() {
            front.clear();
        }
        debug!(name = %self.name, removed = total, "expired");
        Ok(total)
    }

    /// Entry count, in O(1).
    pub fn len(&self) -> Result<usize> {
        self.maintenance.tick(&self.store, clock::now_ms());
        self.store.len()
    }

    pub fn wait_for_maintenance(&self, timeout: Duration) -> bool {
        self.ticket == 0 || self.maintenance.wait(self.ticket, timeout)
    }

    pub fn stats(&self) -> Result<Stats> {
        Ok(Stats {
            entries: self.store.len()?,
            disk_bytes: self.store.disk_bytes(),
            lru_hits: self.hits.load(Ordering::Relaxed),
            lru_misses: self.misses.load(Ordering::Relaxed),
            lru_len: self.front().map_or(0, |f| f.len()),
            expire_examined: self.store.expire_examined.load(Ordering::Relaxed),
            used_bytes: self.store.used_bytes()?,
            evictions: self.store.evictions.load(Ordering::Relaxed),
            ..Stats::default()
        })
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        // In a fork child the maintenance state's lock may have been held by
        // a parent thread at the fork: leave it alone.
        if !self.store.forked() {
            self.maintenance.unregister(self.id);
            self.budgets.unregister(self.id);
        }
        self.store.users.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;

    thread_local! {
        static AFTER_COMMIT: RefCell<Option<Box<dyn FnOnce()>>> = const { RefCell::new(None) };
    }

    /// Runs the hook set by a test, between a write's commit and the front
    /// cache's update: the window another writer's commit can fall into.
    pub(super) fn after_commit_hook() {
        if let Some(f) = AFTER_COMMIT.with(|h| h.borrow_mut().take()) {
            f();
        }
    }

    fn types() -> Types {
        Types::of::<u32, u32>(true, true)
    }

    /// Issue 10, item 1: a remove that finds nothing commits nothing, and
    /// LMDB gives the next writer's commit the id this transaction had.
    /// Taking that id for our own commit marked the front cache current at
    /// the other writer's commit, and it kept serving the overwritten value.
    #[test]
    fn item01_an_empty_remove_never_makes_the_lru_serve_an_overwritten_value() {
        let dir = tempfile::tempdir().unwrap();
        let open = || Arc::new(Handle::open(Options::new(dir.path())).unwrap());
        let (a, b) = (open(), open());
        let t = types();
        let decode = |v: &[u8], _: &Header| Ok(v.to_vec());
        a.put(b"k", b"old", &t).unwrap();
        assert_eq!(a.get(b"k", &t, decode).unwrap().as_deref(), Some(&b"old"[..]));
        assert_eq!(a.get(b"k", &t, decode).unwrap().as_deref(), Some(&b"old"[..]), "served from the LRU");
        // Another writer commits right after A's empty remove "committed".
        let b2 = b.clone();
        AFTER_COMMIT.with(|h| *h.borrow_mut() = Some(Box::new(move || drop(b2.put(b"k", b"new", &types())))));
        assert!(!a.remove(b"missing").unwrap());
        assert_eq!(a.get(b"k", &t, decode).unwrap().as_deref(), Some(&b"new"[..]));
    }
}
