//! The byte-level handle: one opened view of a store with its own options
//! (durability, expiry window, LRU). `PersistDict` wraps it with types; the
//! macro's memo store uses it directly.

use std::num::NonZeroUsize;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tracing::{debug, warn};

use crate::builder::{Maintenance, Options};
use crate::clock;
use crate::env::{self, EnvOptions};
use crate::error::{Error, Result};
use crate::front_cache::{Cached, FrontCache};
use crate::key::Lookup;
use crate::maintenance::{self, HandlePlan};
use crate::meta;
use crate::record::Header;
use crate::stats::Stats;
use crate::store::{PutOutcome, Store, WriteClock};

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
    granularity_ms: u64,
}

impl Handle {
    pub fn open(opts: Options) -> Result<Handle> {
        let env_opts =
            EnvOptions { map_size: opts.map_size, key_size_limit: opts.key_size_limit, dir_mode: opts.dir_mode };
        let (store, _fresh) = env::open_shared(&opts.path, &env_opts)?;
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
            window: opts.expire_after,
            durability: opts.durability,
            timeout: opts.maintenance_timeout,
            interval: opts.maintenance_interval,
            background: opts.maintenance == Maintenance::Background,
        };
        // Opening where nothing is due costs one lookup of the oldest atime.
        let due_now = match (plan.background, opts.expire_after) {
            (true, Some(window)) => store.any_due(clock::cutoff(window))?,
            _ => false,
        };
        let ticket = store.maintenance.register(&store, id, plan, due_now);
        let handle = Handle {
            front: NonZeroUsize::new(opts.lru_capacity).map(|n| Mutex::new(FrontCache::new(n))),
            granularity_ms: clock::duration_ms(opts.granularity()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            id,
            ticket,
            name,
            store,
            opts,
        };
        if handle.opts.maintenance == Maintenance::Foreground {
            let plan = handle.store.maintenance.combined().unwrap_or(plan);
            maintenance::run(&handle.store, plan.window, handle.opts.durability, handle.opts.maintenance_timeout)?;
        }
        debug!(name = %handle.name, path = %handle.store.path.display(), "opened");
        Ok(handle)
    }

    pub fn path(&self) -> &Path {
        &self.opts.path
    }

    pub fn lookup<'a>(&self, encoded: &'a [u8]) -> Lookup<'a> {
        Lookup::new(encoded, self.store.key_size_limit, self.opts.hasher)
    }

    fn front(&self) -> Option<MutexGuard<'_, FrontCache>> {
        self.front.as_ref().map(|m| m.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn clock(&self, now_ms: u64) -> WriteClock {
        WriteClock { now_ms, granularity_ms: self.granularity_ms }
    }

    fn fresh(&self, h: &Header, now_ms: u64) -> bool {
        now_ms.saturating_sub(h.atime_ms) < self.granularity_ms
    }

    /// Reads `encoded` and hands the value bytes to `decode`; refreshes atime
    /// when it is older than the granularity.
    pub fn get<R>(&self, encoded: &[u8], decode: impl FnOnce(&[u8]) -> Result<R>) -> Result<Option<R>> {
        let now = clock::now_ms();
        self.store.maintenance.tick(&self.store, now);
        if self.front.is_some() {
            let last = self.store.last_txn_id();
            let mut front = self.front().expect("front cache is on");
            if let Some(c) = front.get(last, encoded)
                && self.fresh(&c.header, now)
            {
                let value = c.value.clone();
                drop(front);
                self.hits.fetch_add(1, Ordering::Relaxed);
                return decode(&value).map(Some);
            }
            drop(front);
            self.misses.fetch_add(1, Ordering::Relaxed);
        }
        let lookup = self.lookup(encoded);
        let caching = self.front.is_some();
        let found = self.store.read(|txn, _| {
            let snapshot = txn.id();
            self.store.get_in(txn, &lookup, |value, header| {
                let copy: Option<Arc<[u8]>> = caching.then(|| value.into());
                Ok((decode(value), header, copy, snapshot))
            })
        })?;
        let Some((decoded, header, copy, snapshot)) = found else { return Ok(None) };
        let decoded = decoded?;
        if !self.fresh(&header, now) {
            if let Err(e) = self.store.touch(self.opts.durability, &lookup, header, self.clock(now)) {
                warn!(name = %self.name, error = %e, "could not refresh atime; the value is returned anyway");
            }
        } else if let (Some(value), Some(mut front)) = (copy, self.front()) {
            front.insert_read(snapshot, encoded, Cached { value, header });
        }
        Ok(Some(decoded))
    }

    /// Whether `encoded` is present; leaves atime alone.
    pub fn contains(&self, encoded: &[u8]) -> Result<bool> {
        self.header(encoded).map(|h| h.is_some())
    }

    pub fn header(&self, encoded: &[u8]) -> Result<Option<Header>> {
        self.store.maintenance.tick(&self.store, clock::now_ms());
        let lookup = self.lookup(encoded);
        self.store.read(|txn, _| self.store.get_in(txn, &lookup, |_, h| Ok(h)))
    }

    fn after_write(&self, txn_id: usize, encoded: &[u8], new: Option<Cached>) {
        if let Some(mut front) = self.front() {
            let last = self.store.last_txn_id();
            front.after_write(txn_id, last, encoded, new);
        }
    }

    /// Brings the front cache up to date after this handle stored `value`
    /// under `lookup` in write transaction `txn_id`.
    fn after_put(&self, txn_id: usize, lookup: &Lookup<'_>, value: &[u8], now: u64, outcome: PutOutcome) {
        let Some(mut front) = self.front() else { return };
        if outcome == PutOutcome::Displaced {
            // Another key lost its slot to this one: its cached value must go.
            front.clear();
        }
        // The header is only needed for freshness; ctime is not read from the cache.
        let header = Header { hashed: lookup.digest.is_some(), seq: 0, ctime_ms: now, atime_ms: now, indexed_ms: now };
        let last = self.store.last_txn_id();
        front.after_write(txn_id, last, lookup.encoded, Some(Cached { value: value.into(), header }));
    }

    pub fn put(&self, encoded: &[u8], value: &[u8]) -> Result<PutOutcome> {
        let lookup = self.lookup(encoded);
        let now = clock::now_ms();
        self.store.maintenance.tick(&self.store, now);
        let (outcome, txn_id) = self.store.write(self.opts.durability, encoded.len() + value.len(), |txn, _| {
            let id = txn.id();
            Ok((self.store.put_in(txn, &lookup, value, self.clock(now), &mut None)?, id))
        })?;
        self.after_put(txn_id, &lookup, value, now, outcome);
        debug!(name = %self.name, ?outcome, "put");
        Ok(outcome)
    }

    /// Stores `value` unless the key got a value meanwhile; returns the
    /// value bytes that are stored now (`None`: ours).
    pub fn put_if_absent(&self, encoded: &[u8], value: &[u8]) -> Result<Option<Vec<u8>>> {
        let lookup = self.lookup(encoded);
        let now = clock::now_ms();
        let (stored, txn_id) = self.store.write(self.opts.durability, encoded.len() + value.len(), |txn, _| {
            let id = txn.id();
            if let Some(bytes) = self.store.get_in(txn, &lookup, |v, _| Ok(v.to_vec()))? {
                return Ok((Err(bytes), id));
            }
            Ok((Ok(self.store.put_in(txn, &lookup, value, self.clock(now), &mut None)?), id))
        })?;
        match stored {
            Ok(outcome) => {
                self.after_put(txn_id, &lookup, value, now, outcome);
                Ok(None)
            }
            Err(existing) => Ok(Some(existing)),
        }
    }

    pub fn remove(&self, encoded: &[u8]) -> Result<bool> {
        self.store.maintenance.tick(&self.store, clock::now_ms());
        let lookup = self.lookup(encoded);
        let (removed, txn_id) = self.store.write(self.opts.durability, 64, |txn, _| {
            let id = txn.id();
            Ok((self.store.remove_in(txn, &lookup)?, id))
        })?;
        self.after_write(txn_id, encoded, None);
        Ok(removed)
    }

    /// Writes many pairs in one transaction; with `once`, fails if the
    /// database was initialized and marks it initialized.
    pub fn put_many(&self, pairs: &[(Vec<u8>, Vec<u8>)], once: bool) -> Result<()> {
        let now = clock::now_ms();
        self.store.maintenance.tick(&self.store, now);
        let hint: usize = pairs.iter().map(|(k, v)| k.len() + v.len() + 64).sum();
        self.store.write(self.opts.durability, hint, |txn, t| {
            if once {
                if t.meta.get(txn, meta::INITIALIZED_KEY).map_err(self.store.lm("reading metadata"))?.is_some() {
                    return Err(Error::AlreadyInitialized { path: self.store.path.clone() });
                }
                t.meta.put(txn, meta::INITIALIZED_KEY, &[1]).map_err(self.store.lm("marking initialized"))?;
            }
            let mut next_seq = None;
            for (k, v) in pairs {
                self.store.put_in(txn, &self.lookup(k), v, self.clock(now), &mut next_seq)?;
            }
            Ok(())
        })?;
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

    /// Removes entries whose atime is older than this handle's window.
    pub fn expire(&self) -> Result<usize> {
        let Some(window) = self.opts.expire_after else { return Ok(0) };
        let (total, _) = self.store.expire_window(self.opts.durability, window, None)?;
        if let Some(mut front) = self.front() {
            front.clear();
        }
        debug!(name = %self.name, removed = total, "expired");
        Ok(total)
    }

    /// Entry count, in O(1).
    pub fn len(&self) -> Result<usize> {
        self.store.maintenance.tick(&self.store, clock::now_ms());
        self.store.len()
    }

    pub fn wait_for_maintenance(&self, timeout: Duration) -> bool {
        self.ticket == 0 || self.store.maintenance.wait(self.ticket, timeout)
    }

    pub fn stats(&self) -> Result<Stats> {
        Ok(Stats {
            entries: self.store.len()?,
            disk_bytes: self.store.disk_bytes(),
            lru_hits: self.hits.load(Ordering::Relaxed),
            lru_misses: self.misses.load(Ordering::Relaxed),
            lru_len: self.front().map_or(0, |f| f.len()),
            expire_examined: self.store.expire_examined.load(Ordering::Relaxed),
        })
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.store.maintenance.unregister(self.id);
        self.store.users.fetch_sub(1, Ordering::AcqRel);
    }
}
