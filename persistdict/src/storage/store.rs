//! The byte-level store under the typed facade: the LMDB tables, the
//! transactions, map growth and the record envelopes. It speaks only bytes;
//! `dict.rs` adds types, the macro's memo store uses it directly.
//!
//! Tables (LMDB databases in one environment):
//!
//! | table | LMDB database | key | value |
//! |---|---|---|---|
//! | entries | the unnamed main database | 0xFF ++ encoded key or its SHA-256 (see `key.rs`) | record (see `record.rs`) |
//! | order | `persistdict.order` | seq | stored key without its 0xFF prefix |
//! | atime | `persistdict.atime` | window_ms ++ atime_ms ++ seq | empty |
//! | meta | `persistdict.meta` | name | bytes (see `meta.rs`) |
//! | args | `persistdict.args` | stored key | captured call arguments, JSON (memo entries only; see `memo/store.rs`) |
//!
//! Entries live in the main database because LMDB rewrites a named
//! database's record in the main database whenever that database's root
//! changes: one page more per commit, which was most of the cost of an
//! overwrite over raw heed. The three table names are keys of the main
//! database too; every entry's key starts with the byte 0xFF (`key.rs`), so
//! entries sort after them (LMDB then appends entries written in key order
//! and fills its pages) and can never land on a table record.
//!
//! `order` gives insertion order (seq is assigned at first insert, inside
//! the write transaction, so it is exact across threads and processes);
//! `atime` lets expiry and eviction visit only what is due.
//!
//! Index keys are tuples of *ordered integers* (format version 3, see
//! [`IndexKey`]): the top 3 bits of the first byte count the bytes that
//! follow, big-endian; an atime key's window is the single byte 0xFF for
//! entries that never expire. Byte order is numeric order, so LMDB's
//! bytewise order is the tuple's, and today's values are short: seq 3 bytes
//! (below 2^21), atime 6, window 1 (none) or 5 (30 days). An atime row has
//! an empty value: its seq finds the stored key in `order`, which costs one
//! lookup per row expiry or eviction takes, and saves a stored key per
//! entry. A row whose seq leads nowhere, or to an entry with another
//! header, is removed when met (`lifecycle/atime_index.rs`).
//!
//! Per entry of an 11-byte encoded key and a 5-byte value, with LMDB's
//! 8-byte node header, 2-byte alignment and 2-byte page pointer: entries 50
//! bytes (v2: 84, in half-empty pages), order 24 (30), atime 20 (46): 94
//! bytes where raw heed takes 26. The order index keeps the stored key
//! without its prefix: one byte less, two with LMDB's alignment.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::mem::ManuallyDrop;
use std::ops::Bound;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard};

use heed::types::Bytes;
use heed::{Database, Env, FlagSetMode, RoTxn, RwTxn, WithoutTls};
use tracing::{debug, warn};

use crate::error::{Error, Result};
use crate::storage::key::{ENTRY_PREFIX, Lookup, display_key};
use crate::storage::meta;
use crate::storage::record::{self, Header};
use crate::storage::registry::{self, EnvOptions};

/// How much a commit waits for the disk. LMDB never corrupts the database in
/// any of these modes on a *process* crash: a committed write is in the OS
/// page cache as soon as `insert` returns, so a killed process loses nothing.
/// They differ on an *operating-system* crash or power loss:
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(u8)]
pub enum Durability {
    /// Every commit is flushed (data, then meta page) before `insert`
    /// returns: nothing acknowledged is lost. The slowest mode.
    #[default]
    Sync = 0,
    /// Data pages are flushed, the meta page is not: an OS crash may roll
    /// back the last commit(s), the database stays consistent.
    NoMetaSync = 1,
    /// Nothing is flushed by commits (the OS writes back on its own): an OS
    /// crash may lose the commits of the last seconds, and with them the
    /// consistency LMDB otherwise guarantees. Fine for a cache you can rebuild.
    NoSync = 2,
}

pub(crate) type Db = Database<'static, Bytes, Bytes>;

/// The named tables, sorted; see the module docs.
pub(crate) const TABLE_NAMES: [&str; 4] =
    ["persistdict.args", "persistdict.atime", "persistdict.meta", "persistdict.order"];

/// A range of raw keys, as LMDB range operations take it.
type KeyRange<'a> = (Bound<&'a [u8]>, Bound<&'a [u8]>);

/// The four tables.
#[derive(Clone, Copy)]
pub(crate) struct Tables {
    pub entries: Db,
    pub order: Db,
    pub atime: Db,
    pub meta: Db,
    pub args: Db,
}

/// One open LMDB environment, shared by every handle on its directory in
/// this process.
pub(crate) struct Store {
    /// Not dropped in a fork child: closing an inherited environment there
    /// is not allowed (see `Drop`).
    pub env: ManuallyDrop<Env<WithoutTls>>,
    pub t: Tables,
    /// Canonical path of the directory.
    pub path: PathBuf,
    id: (u64, u64),
    /// Held for reading by every operation that touches the map, for writing
    /// by a map resize: LMDB may only remap when no operation of this process
    /// is inside it.
    gate: RwLock<()>,
    /// The key size limit recorded in the database.
    pub key_size_limit: usize,
    /// Which sync flags the environment has now (a `Durability` as u8).
    durability_now: AtomicU8,
    /// Per-environment state of the layers above (maintenance, single
    /// flight), keyed by type. Not dropped in a fork child (see `Drop`).
    pub ext: ManuallyDrop<Extensions>,
    /// Index entries examined by expiry sweeps, for stats and tests.
    pub expire_examined: AtomicU64,
    /// Entries evicted by size budgets in this process.
    pub evictions: AtomicU64,
    /// The fork generation the environment was opened in (LMDB forbids
    /// use after fork; see `fork.rs`).
    pub fork_generation: u64,
    /// Open handles (background threads are not users): at zero the store
    /// is closing and the registry no longer hands it out.
    pub users: AtomicUsize,
}

fn is_mdb(e: &heed::Error, which: heed::MdbError) -> bool {
    matches!(e, heed::Error::Mdb(m) if std::mem::discriminant(m) == std::mem::discriminant(&which))
}

fn is_map_full(e: &Error) -> bool {
    matches!(e, Error::Lmdb { source, .. }
        if source.downcast_ref::<heed::Error>().is_some_and(|h| is_mdb(h, heed::MdbError::MapFull)))
}

/// An index key, built on the stack: at most three ordered integers.
#[derive(Clone, Copy)]
pub(crate) struct IndexKey {
    buf: [u8; 3 * ORDERED_MAX],
    len: u8,
}

impl IndexKey {
    fn new() -> Self {
        IndexKey { buf: [0; 3 * ORDERED_MAX], len: 0 }
    }

    /// Appends `v` as an ordered integer: the top 3 bits of the first
    /// byte say how many bytes follow (t = 0..=6), its low 5 bits are the
    /// value's high bits, then its t low bytes big-endian, the fewest that
    /// hold it (so values below 2^21 take 3 bytes, below 2^45 six); values
    /// from 2^53 are 0xE0 then 8 bytes. Byte order is numeric order, and no
    /// encoding is a prefix of another, so a tuple of them sorts as the
    /// tuple does.
    fn push(&mut self, v: u64) -> &mut Self {
        let bits = 64 - v.leading_zeros() as usize;
        let at = usize::from(self.len);
        let len = if bits <= 53 {
            let t = bits.saturating_sub(5).div_ceil(8);
            self.buf[at] = (t << 5) as u8 | (v >> (8 * t)) as u8;
            self.buf[at + 1..at + 1 + t].copy_from_slice(&v.to_be_bytes()[8 - t..]);
            1 + t
        } else {
            self.buf[at] = WIDE;
            self.buf[at + 1..at + 9].copy_from_slice(&v.to_be_bytes());
            9
        };
        self.len += len as u8;
        self
    }

    /// Appends a window: [`record::NEVER`] is the single byte 0xFF, after
    /// every other window, so entries that never expire sort last.
    fn push_window(&mut self, w: u64) -> &mut Self {
        if w == record::NEVER {
            self.buf[self.len as usize] = WINDOW_NEVER;
            self.len += 1;
            self
        } else {
            self.push(w)
        }
    }
}

impl std::ops::Deref for IndexKey {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.buf[..self.len as usize]
    }
}

/// The longest ordered integer (a first byte and 8 bytes).
const ORDERED_MAX: usize = 9;
/// The first byte of an ordered integer of 2^53 or more.
const WIDE: u8 = 0xE0;
/// The window byte of entries that never expire: after every ordered integer.
const WINDOW_NEVER: u8 = 0xFF;

/// Reads an ordered integer (see [`IndexKey::push`]) at `*at`; `None` when
/// malformed or not in its one canonical form (the fewest bytes), so a
/// parsed key is always the key its values build.
fn take_ordered(k: &[u8], at: &mut usize) -> Option<u64> {
    let first = *k.get(*at)?;
    let t = usize::from(first >> 5);
    let (v, len, min) = if t == 7 {
        if first != WIDE {
            return None;
        }
        let bytes: [u8; 8] = k.get(*at + 1..*at + 9)?.try_into().ok()?;
        (u64::from_be_bytes(bytes), 9, 1u64 << 53)
    } else {
        let bytes = k.get(*at + 1..*at + 1 + t)?;
        let v = bytes.iter().fold(u64::from(first & 0x1F), |acc, &b| acc << 8 | u64::from(b));
        (v, 1 + t, if t == 0 { 0 } else { 1u64 << (5 + 8 * (t - 1)) })
    };
    if v < min {
        return None;
    }
    *at += len;
    Some(v)
}

fn take_window(k: &[u8], at: &mut usize) -> Option<u64> {
    if k.get(*at) == Some(&WINDOW_NEVER) {
        *at += 1;
        return Some(record::NEVER);
    }
    take_ordered(k, at).filter(|&w| w != record::NEVER)
}

/// The order index key of `seq`: an ordered integer (3 bytes below 2^21).
pub(crate) fn seq_key(seq: u64) -> IndexKey {
    *IndexKey::new().push(seq)
}

/// The seq of an order index key; `None` for a malformed row.
pub(crate) fn split_seq_key(k: &[u8]) -> Option<u64> {
    let mut at = 0;
    take_ordered(k, &mut at).filter(|_| at == k.len())
}

/// The atime index key of an entry: its expiry window, the atime it is
/// indexed under, its seq, as ordered integers (see [`IndexKey::push`]).
/// Grouping by window first lets a sweep seek each window's due range
/// directly (cost proportional to what is due), and entries without a
/// window (`record::NEVER`, one byte 0xFF) sort last, out of every sweep.
/// The row's value is empty: the entry is found through the order index by
/// its seq.
pub(crate) fn atime_key(window_ms: u64, atime_ms: u64, seq: u64) -> IndexKey {
    *IndexKey::new().push_window(window_ms).push(atime_ms).push(seq)
}

/// (window_ms, atime_ms, seq) of an atime index key; `None` for a malformed row.
pub(crate) fn split_atime_key(k: &[u8]) -> Option<(u64, u64, u64)> {
    let mut at = 0;
    let w = take_window(k, &mut at)?;
    let a = take_ordered(k, &mut at)?;
    let s = take_ordered(k, &mut at)?;
    (at == k.len()).then_some((w, a, s))
}

/// The atime refresh granularity of an entry: the handle's explicit one, or
/// a tenth of the entry's own window, at most a minute.
pub(crate) fn granularity_ms(window_ms: u64, explicit: Option<u64>) -> u64 {
    explicit.unwrap_or((window_ms / 10).min(60_000))
}

/// What a write stamps on the entry it writes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stamp {
    pub now_ms: u64,
    /// The writer's expiry window; `record::NEVER` for none.
    pub window_ms: u64,
    /// The fingerprint of the types the value was encoded from.
    pub type_fp: u64,
    /// The writer's explicit atime granularity, if it set one.
    pub granularity_ms: Option<u64>,
    /// An overwrite restarts ctime: a memoized result's ctime is when it was
    /// computed (freshness counts from there), a dictionary entry's when it
    /// was first inserted.
    pub reset_ctime: bool,
}

/// Per-environment state that the layers above hang on a store, one value
/// per type, created on first use and dropped with the store: the store
/// keeps it without knowing what it is, so the byte layer imports nothing
/// from above.
#[derive(Default)]
pub(crate) struct Extensions(std::sync::Mutex<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>);

impl Extensions {
    /// This store's `T`, created with `T::default()` at the first call.
    pub(crate) fn get<T: Any + Send + Sync + Default>(&self) -> Arc<T> {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let any = map.entry(TypeId::of::<T>()).or_insert_with(|| Arc::new(T::default())).clone();
        // Keyed by the type's id: the downcast cannot fail.
        any.downcast::<T>().unwrap_or_else(|_| Arc::new(T::default()))
    }
}

/// What lies under a key's LMDB key, as a write sees it.
enum Slot {
    Empty,
    /// This key's record, with its header.
    Ours(Header),
    /// Another key's record (a hash collision), with its header.
    Other(Header),
    /// A record that fails its checks, with its header read without the
    /// checksum when it parses (to find its index rows, see
    /// [`Store::unindex_damaged`]).
    Damaged(Option<Header>),
}

/// What `put` found under the key before writing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PutOutcome {
    Inserted,
    Replaced,
    /// The key took the slot of another key (a hash collision): caches of
    /// that other key must go.
    Displaced,
}

impl Store {
    pub(crate) fn new(env: Env<WithoutTls>, path: PathBuf, id: (u64, u64), opts: &EnvOptions) -> Result<Self> {
        let p = path.clone();
        let lm = |action: &'static str| {
            let p = p.clone();
            move |e| Error::lmdb(&p, action, e)
        };
        check_format_before_writing(&env, &path)?;
        let wtxn = first_write_txn(&env).map_err(lm("starting the first transaction"))?;
        let (entries, order, atime, meta_db, args) = env
            .create_databases_and_commit(wtxn, |opener, wtxn| -> heed::Result<_> {
                let open = |name: &str, wtxn: &mut RwTxn<'_>| {
                    opener.database_options().types::<Bytes, Bytes>().name(name).create(wtxn)
                };
                let entries = opener.database_options().types::<Bytes, Bytes>().create(wtxn)?;
                let [args, atime, meta, order] = TABLE_NAMES;
                let tables = (entries, open(order, wtxn)?, open(atime, wtxn)?, open(meta, wtxn)?, open(args, wtxn)?);
                Ok(heed::CommitOrAbort::<_, ()>::Commit(tables))
            })
            .map_err(lm("creating the tables"))?
            .unwrap_commit();
        let mut wtxn = first_write_txn(&env).map_err(lm("starting the first transaction"))?;
        let limit = init_meta(&path, meta_db, &mut wtxn, opts.key_size_limit)?;
        wtxn.commit().map_err(lm("recording the format version"))?;
        let _ = env.clear_stale_readers();
        Ok(Store {
            env: ManuallyDrop::new(env),
            t: Tables { entries, order, atime, meta: meta_db, args },
            id,
            gate: RwLock::new(()),
            key_size_limit: limit,
            durability_now: AtomicU8::new(Durability::Sync as u8),
            ext: ManuallyDrop::new(Extensions::default()),
            expire_examined: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
            fork_generation: crate::storage::fork::generation(),
            users: AtomicUsize::new(0),
            path,
        })
    }

    pub(crate) fn lm(&self, action: &'static str) -> impl Fn(heed::Error) -> Error + '_ {
        move |e| Error::lmdb(&self.path, action, e)
    }

    /// Whether this process is a fork child of the one that opened the
    /// environment.
    pub(crate) fn forked(&self) -> bool {
        crate::storage::fork::generation() != self.fork_generation
    }

    /// `Err(OpenedBeforeFork)` in a fork child: every operation checks it first.
    pub(crate) fn check_fork(&self) -> Result<()> {
        if self.forked() {
            return Err(Error::OpenedBeforeFork { path: self.path.clone() });
        }
        Ok(())
    }

    fn gate(&self) -> RwLockReadGuard<'_, ()> {
        self.gate.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Another process grew the map: adopt its size.
    fn adopt_map_size(&self) -> Result<()> {
        let _w = self.gate.write().unwrap_or_else(|e| e.into_inner());
        // SAFETY: the write gate guarantees no operation of this process is
        // inside the map (see `gate`).
        unsafe { self.env.resize(0) }.map_err(self.lm("adopting the map size grown by another process"))
    }

    /// The map is full: grow it, unless another thread did since `seen`.
    fn grow(&self, seen: usize, hint: usize) -> Result<()> {
        let _w = self.gate.write().unwrap_or_else(|e| e.into_inner());
        let current = self.env.info().map_size;
        if current > seen {
            return Ok(());
        }
        let new =
            registry::round_to_page(current.saturating_mul(2).max(current.saturating_add(hint.saturating_mul(2))));
        debug!(path = %self.path.display(), from = current, to = new, "growing the LMDB map");
        // SAFETY: as in `adopt_map_size`.
        unsafe { self.env.resize(new) }.map_err(self.lm("growing the map"))
    }

    /// Runs `f` in a read transaction, adopting another process's map growth.
    pub(crate) fn read<R>(&self, f: impl FnOnce(&RoTxn<'_, WithoutTls>, &Tables) -> Result<R>) -> Result<R> {
        self.check_fork()?;
        loop {
            let gate = self.gate();
            match self.env.read_txn() {
                Ok(txn) => {
                    let out = f(&txn, &self.t);
                    drop(txn);
                    drop(gate);
                    return out;
                }
                Err(e) if is_mdb(&e, heed::MdbError::MapResized) => {
                    drop(gate);
                    self.adopt_map_size()?;
                }
                Err(e) => return Err(self.lm("starting a read transaction")(e)),
            }
        }
    }

    /// A read transaction that owns its environment reference, for
    /// iterators. It must only be used under [`Store::with_gate`].
    pub(crate) fn snapshot(&self) -> Result<RoTxn<'static, WithoutTls>> {
        self.check_fork()?;
        loop {
            let gate = self.gate();
            match Env::clone(&self.env).static_read_txn() {
                Ok(txn) => return Ok(txn),
                Err(e) if is_mdb(&e, heed::MdbError::MapResized) => {
                    drop(gate);
                    self.adopt_map_size()?;
                }
                Err(e) => return Err(self.lm("starting a read transaction")(e)),
            }
        }
    }

    /// Runs `f` while no map resize can happen. An idle read transaction
    /// survives a resize (it holds page numbers, not pointers), but a cursor
    /// in use does not.
    pub(crate) fn with_gate<R>(&self, f: impl FnOnce() -> Result<R>) -> Result<R> {
        self.check_fork()?;
        let _g = self.gate();
        f()
    }

    /// Runs `f` in a write transaction with `durability`, growing the map
    /// and retrying when it is full. `f` may run more than once, so it must
    /// only touch the transaction. `hint` is the size of what it writes.
    pub(crate) fn write<R>(
        &self,
        durability: Durability,
        hint: usize,
        mut f: impl FnMut(&mut RwTxn<'_>, &Tables) -> Result<R>,
    ) -> Result<R> {
        self.check_fork()?;
        loop {
            let gate = self.gate();
            // Under the gate: env.info() reads the meta pages in the map,
            // which a resize in another thread would unmap.
            let seen = self.env.info().map_size;
            let mut txn = match self.env.write_txn() {
                Ok(txn) => txn,
                Err(e) if is_mdb(&e, heed::MdbError::MapResized) => {
                    drop(gate);
                    self.adopt_map_size()?;
                    continue;
                }
                Err(e) => return Err(self.lm("starting a write transaction")(e)),
            };
            self.set_durability(durability)?;
            let result = f(&mut txn, &self.t).and_then(|r| {
                txn.commit().map_err(self.lm("committing"))?;
                Ok(r)
            });
            drop(gate);
            match result {
                Err(e) if is_map_full(&e) => self.grow(seen, hint)?,
                other => return other,
            }
        }
    }

    /// Sets the environment's sync flags. Called inside a write transaction:
    /// only the writer reads them (at commit) and there is one writer at a
    /// time, so handles with different durabilities can share one environment.
    fn set_durability(&self, d: Durability) -> Result<()> {
        if self.durability_now.load(Ordering::Relaxed) == d as u8 {
            return Ok(());
        }
        let all = heed::EnvFlags::NO_SYNC | heed::EnvFlags::NO_META_SYNC;
        let want = match d {
            Durability::Sync => heed::EnvFlags::empty(),
            Durability::NoMetaSync => heed::EnvFlags::NO_META_SYNC,
            Durability::NoSync => heed::EnvFlags::NO_SYNC,
        };
        // SAFETY: we hold the write transaction, so no other thread of this
        // process calls set_flags now; relaxing sync is what the user chose.
        unsafe {
            self.env.set_flags(all, FlagSetMode::Disable).map_err(self.lm("setting durability"))?;
            if !want.is_empty() {
                self.env.set_flags(want, FlagSetMode::Enable).map_err(self.lm("setting durability"))?;
            }
        }
        self.durability_now.store(d as u8, Ordering::Relaxed);
        Ok(())
    }

    pub(crate) fn corrupt(&self, encoded: &[u8], e: record::RecordError) -> Error {
        Error::Corrupt { path: self.path.clone(), key: display_key(encoded), reason: e.to_string() }
    }

    /// Looks `lookup` up and hands its value bytes to `visit` inside the
    /// read transaction (no copy).
    pub(crate) fn get_in<R>(
        &self,
        txn: &RoTxn<'_, WithoutTls>,
        lookup: &Lookup<'_>,
        visit: impl FnOnce(&[u8], Header) -> Result<R>,
    ) -> Result<Option<R>> {
        let Some(bytes) = self.t.entries.get(txn, lookup.stored()).map_err(self.lm("reading an entry"))? else {
            return Ok(None);
        };
        let rec = record::decode(bytes).map_err(|e| self.corrupt(lookup.encoded, e))?;
        if !lookup.matches(rec.full_key) {
            return Ok(None);
        }
        visit(rec.value, rec.header).map(Some)
    }

    /// What lies under `lookup`'s LMDB key inside a write transaction.
    fn slot_in(&self, txn: &RwTxn<'_>, lookup: &Lookup<'_>) -> Result<Slot> {
        let Some(bytes) = self.t.entries.get(txn, lookup.stored()).map_err(self.lm("reading an entry"))? else {
            return Ok(Slot::Empty);
        };
        // The checksum covers the whole record; a damaged one is still
        // replaced or removed (see Slot::Damaged).
        Ok(match record::decode_header(bytes) {
            Ok(h) if lookup.matches(record::full_key_unchecked(bytes, &h)) => Slot::Ours(h),
            Ok(h) => Slot::Other(h),
            Err(_) => Slot::Damaged(record::decode_header_unchecked(bytes).ok()),
        })
    }

    /// One batch of the insertion-order walk both iterators share: up to
    /// `batch` entries after order key `after` (from the start with `None`),
    /// each given to `visit` with its stored-key tail, its bytes and its record, or the
    /// record's error when it fails its checks. A malformed order row, or one
    /// whose entry is gone or has another seq (left behind by a damaged
    /// record later overwritten), is skipped: `check_integrity()` removes it.
    /// Returns the last order key read (`None`: the walk is over). Run it
    /// under [`Store::with_gate`].
    pub(crate) fn order_batch(
        &self,
        txn: &RoTxn<'_, WithoutTls>,
        after: Option<&[u8]>,
        batch: usize,
        mut visit: impl FnMut(&[u8], &[u8], std::result::Result<record::Record<'_>, record::RecordError>),
    ) -> Result<Option<Vec<u8>>> {
        let lm = self.lm("iterating");
        let range = match after {
            Some(k) => (Bound::Excluded(k), Bound::Unbounded),
            None => (Bound::Unbounded, Bound::Unbounded),
        };
        let mut last = None;
        for item in self.t.order.range(txn, &range).map_err(&lm)?.take(batch) {
            let (seq, tail) = item.map_err(&lm)?;
            last = Some(seq.to_vec());
            let Some(seq) = split_seq_key(seq) else { continue };
            let stored = crate::storage::key::StoredKey::from_tail(tail);
            let Some(bytes) = self.t.entries.get(txn, &stored).map_err(&lm)? else { continue };
            match record::decode(bytes) {
                Ok(rec) if rec.header.seq != seq => {}
                Ok(rec) => visit(tail, bytes, Ok(rec)),
                Err(e) => match record::decode_header(bytes) {
                    Ok(h) if h.seq != seq => {}
                    _ => visit(tail, bytes, Err(e)),
                },
            }
        }
        Ok(last)
    }

    /// The next free sequence number: one past the largest well-formed row
    /// of the order index. A malformed row (wrong length) is skipped, never
    /// read as seq 0, which would hand out a seq that is in use.
    fn next_seq(&self, txn: &RwTxn<'_>) -> Result<u64> {
        let lm = self.lm("reading the order index");
        for item in self.t.order.rev_iter(txn).map_err(&lm)? {
            let (k, _) = item.map_err(&lm)?;
            if let Some(seq) = split_seq_key(k) {
                return Ok(seq.wrapping_add(1));
            }
            warn!(path = %self.path.display(), "skipping a malformed order-index row; check_integrity() removes it");
        }
        Ok(0)
    }

    /// Removes an entry's index rows (not the entry).
    fn unindex(&self, txn: &mut RwTxn<'_>, h: &Header) -> Result<()> {
        let lm = self.lm("updating the indexes");
        self.t.order.delete(txn, &seq_key(h.seq)).map_err(&lm)?;
        self.t.atime.delete(txn, &atime_key(h.window_ms, h.indexed_ms, h.seq)).map_err(&lm)?;
        Ok(())
    }

    /// Removes the index rows of a damaged record that its unchecked header
    /// `h` names, only when the order row of `h.seq` leads back to this
    /// record's stored key: a damaged header can then only name rows of this
    /// record, never another entry's. What is not found is left for
    /// `check_integrity()` (readers check each row against the record).
    fn unindex_damaged(&self, txn: &mut RwTxn<'_>, lookup: &Lookup<'_>, h: Option<Header>) -> Result<()> {
        let Some(h) = h else { return Ok(()) };
        let lm = self.lm("updating the indexes");
        if self.t.order.get(txn, &seq_key(h.seq)).map_err(&lm)? == Some(lookup.tail()) {
            self.unindex(txn, &h)?;
        }
        Ok(())
    }

    /// The `indexed_ms` of an entry whose atime becomes `now_ms` and whose
    /// window becomes `window_ms`: kept (no index write) while the window is
    /// unchanged and `now_ms` is within the granularity of the last
    /// indexing, else the row moves.
    fn reindex(
        &self,
        txn: &mut RwTxn<'_>,
        old: &Header,
        now_ms: u64,
        window_ms: u64,
        granularity_ms: u64,
    ) -> Result<u64> {
        if old.window_ms == window_ms && old.indexed_ms <= now_ms && now_ms - old.indexed_ms < granularity_ms {
            return Ok(old.indexed_ms);
        }
        let lm = self.lm("updating the atime index");
        self.t.atime.delete(txn, &atime_key(old.window_ms, old.indexed_ms, old.seq)).map_err(&lm)?;
        self.t.atime.put(txn, &atime_key(window_ms, now_ms, old.seq), &[]).map_err(&lm)?;
        Ok(now_ms)
    }

    /// Inserts or overwrites inside a write transaction; keeps ctime and
    /// order on overwrite. The entry takes the writer's window and types.
    pub(crate) fn put_in(
        &self,
        txn: &mut RwTxn<'_>,
        lookup: &Lookup<'_>,
        value: &[u8],
        stamp: Stamp,
        next_seq: &mut Option<u64>,
    ) -> Result<PutOutcome> {
        let lm = self.lm("writing an entry");
        let now_ms = stamp.now_ms;
        let fresh = |seq: u64| Header {
            hashed: lookup.digest.is_some(),
            seq,
            ctime_ms: now_ms,
            atime_ms: now_ms,
            indexed_ms: now_ms,
            window_ms: stamp.window_ms,
            type_fp: stamp.type_fp,
        };
        let (header, outcome) = match self.slot_in(txn, lookup)? {
            Slot::Ours(old) => {
                let gran = granularity_ms(stamp.window_ms, stamp.granularity_ms);
                let indexed_ms = self.reindex(txn, &old, now_ms, stamp.window_ms, gran)?;
                let ctime_ms = if stamp.reset_ctime { now_ms } else { old.ctime_ms.min(now_ms) };
                (Header { ctime_ms, indexed_ms, seq: old.seq, ..fresh(old.seq) }, PutOutcome::Replaced)
            }
            slot => {
                let displaced = match slot {
                    // Another key shares this LMDB key (a hash collision): the new key takes the slot.
                    Slot::Other(old) => {
                        warn!(path = %self.path.display(), key = %display_key(lookup.encoded), "replacing a colliding entry");
                        self.unindex(txn, &old)?;
                        true
                    }
                    // A damaged record: the index rows its unchecked header
                    // leads to go if they lead back here; others are left
                    // orphaned, and readers of the indexes check each row
                    // against the record's seq.
                    Slot::Damaged(h) => {
                        warn!(path = %self.path.display(), key = %display_key(lookup.encoded), "replacing a damaged record");
                        self.unindex_damaged(txn, lookup, h)?;
                        true
                    }
                    _ => false,
                };
                let seq = match *next_seq {
                    Some(seq) => seq,
                    None => self.next_seq(txn)?,
                };
                *next_seq = Some(seq.wrapping_add(1));
                self.t.order.put(txn, &seq_key(seq), lookup.tail()).map_err(&lm)?;
                self.t.atime.put(txn, &atime_key(stamp.window_ms, now_ms, seq), &[]).map_err(&lm)?;
                (fresh(seq), if displaced { PutOutcome::Displaced } else { PutOutcome::Inserted })
            }
        };
        let rec = record::encode(&header, lookup.full_key(), value);
        self.t.entries.put(txn, lookup.stored(), &rec).map_err(&lm)?;
        Ok(outcome)
    }

    /// Removes inside a write transaction; true when the key was there. A
    /// record whose header is damaged is removed too (its LMDB key is this
    /// key's, or its SHA-256): otherwise the entry `get` reports as corrupt
    /// could never go.
    pub(crate) fn remove_in(&self, txn: &mut RwTxn<'_>, lookup: &Lookup<'_>) -> Result<bool> {
        match self.slot_in(txn, lookup)? {
            Slot::Ours(h) => {
                self.unindex(txn, &h)?;
                self.t.entries.delete(txn, lookup.stored()).map_err(self.lm("removing an entry"))?;
                self.drop_args_in(txn, lookup.stored())?;
                Ok(true)
            }
            Slot::Damaged(h) => {
                warn!(path = %self.path.display(), key = %display_key(lookup.encoded), "removing a damaged record");
                self.unindex_damaged(txn, lookup, h)?;
                self.t.entries.delete(txn, lookup.stored()).map_err(self.lm("removing an entry"))?;
                Ok(true)
            }
            Slot::Empty | Slot::Other(_) => Ok(false),
        }
    }

    /// Sets the atime of `lookup` to `now_ms` if its record still has the
    /// header `seen` (another writer may have refreshed or replaced it).
    /// The entry keeps its window and types: reading is not writing.
    pub(crate) fn touch(
        &self,
        durability: Durability,
        lookup: &Lookup<'_>,
        seen: Header,
        now_ms: u64,
        explicit_granularity: Option<u64>,
    ) -> Result<()> {
        self.write(durability, 64, |txn, t| {
            let Some(bytes) = t.entries.get(txn, lookup.stored()).map_err(self.lm("reading an entry"))? else {
                return Ok(());
            };
            let Ok(h) = record::decode_header(bytes) else { return Ok(()) };
            if h != seen || h.atime_ms >= now_ms {
                return Ok(());
            }
            let mut rec = bytes.to_vec();
            let gran = granularity_ms(h.window_ms, explicit_granularity);
            let indexed_ms = self.reindex(txn, &h, now_ms, h.window_ms, gran)?;
            // The header passed its checksum in this transaction: the rewrite cannot fail.
            if record::rewrite_header(&mut rec, &Header { atime_ms: now_ms, indexed_ms, ..h }).is_err() {
                return Ok(());
            }
            t.entries.put(txn, lookup.stored(), &rec).map_err(self.lm("refreshing atime"))?;
            Ok(())
        })
    }

    /// Removes every entry and the initialize-once flag.
    pub(crate) fn clear_in(&self, txn: &mut RwTxn<'_>) -> Result<()> {
        let lm = self.lm("clearing");
        // The main database also holds the table records: delete the entries
        // after them (every stored key starts with ENTRY_PREFIX).
        let first = [ENTRY_PREFIX];
        let entries: KeyRange<'_> = (Bound::Included(&first[..]), Bound::Unbounded);
        self.t.entries.delete_range(txn, &entries).map_err(&lm)?;
        self.t.order.clear(txn).map_err(&lm)?;
        self.t.atime.clear(txn).map_err(&lm)?;
        self.t.args.clear(txn).map_err(&lm)?;
        self.t.meta.delete(txn, meta::INITIALIZED_KEY).map_err(&lm)?;
        Ok(())
    }

    /// Removes the captured arguments of the entry stored under `stored`
    /// (one O(1) count first: nothing to do in a table left empty).
    pub(crate) fn drop_args_in(&self, txn: &mut RwTxn<'_>, stored: &[u8]) -> Result<()> {
        let lm = self.lm("removing captured arguments");
        if self.t.args.len(txn).map_err(&lm)? > 0 {
            self.t.args.delete(txn, stored).map_err(&lm)?;
        }
        Ok(())
    }

    /// Entries, as `txn` sees them (the main database's count less its
    /// three table records).
    pub(crate) fn count_in(&self, txn: &heed::RoTxn<'_>) -> Result<u64> {
        let all = self.t.entries.len(txn).map_err(self.lm("counting entries"))?;
        Ok(all.saturating_sub(TABLE_NAMES.len() as u64))
    }

    /// Bytes of the pages the four tables use, as `txn` sees them: what the
    /// file would shrink to if compacted (LMDB's statistics, O(1)).
    pub(crate) fn used_bytes_in(&self, txn: &heed::RoTxn<'_>) -> Result<u64> {
        let lm = self.lm("reading table statistics");
        let mut total = 0u64;
        for db in [self.t.entries, self.t.order, self.t.atime, self.t.meta, self.t.args] {
            let s = db.stat(txn).map_err(&lm)?;
            let pages = (s.branch_pages + s.leaf_pages + s.overflow_pages) as u64;
            total = total.saturating_add(pages.saturating_mul(u64::from(s.page_size)));
        }
        Ok(total)
    }

    /// [`used_bytes_in`](Self::used_bytes_in) in a read transaction of its own.
    pub(crate) fn used_bytes(&self) -> Result<u64> {
        self.read(|txn, _| self.used_bytes_in(txn))
    }

    pub(crate) fn len(&self) -> Result<usize> {
        // The main database's count includes the three table records.
        self.read(|txn, t| {
            let all = t.entries.len(txn).map_err(self.lm("counting entries"))?;
            Ok((all as usize).saturating_sub(TABLE_NAMES.len()))
        })
    }

    pub(crate) fn meta_get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.read(|txn, t| Ok(t.meta.get(txn, key).map_err(self.lm("reading metadata"))?.map(<[u8]>::to_vec)))
    }

    /// Records the codec names, or checks them against the recorded ones.
    pub(crate) fn check_codecs(&self, names: &str) -> Result<()> {
        match self.meta_get(meta::CODECS_KEY)? {
            Some(stored) if stored == names.as_bytes() => Ok(()),
            Some(stored) => Err(Error::CodecMismatch {
                path: self.path.clone(),
                stored: String::from_utf8_lossy(&stored).into_owned(),
                requested: names.to_string(),
            }),
            None => self.write(Durability::Sync, 64, |txn, t| {
                if t.meta.get(txn, meta::CODECS_KEY).map_err(self.lm("reading metadata"))?.is_none() {
                    t.meta.put(txn, meta::CODECS_KEY, names.as_bytes()).map_err(self.lm("recording the codecs"))?;
                }
                Ok(())
            }),
        }
    }

    /// Bytes the data file takes on disk.
    pub(crate) fn disk_bytes(&self) -> u64 {
        if self.forked() {
            return 0;
        }
        self.env.real_disk_size().unwrap_or(0)
    }

    /// LMDB's last committed transaction id: changes whenever anyone, in any
    /// process, commits a write. Reads the meta page, no lock.
    pub(crate) fn last_txn_id(&self) -> Result<usize> {
        self.with_gate(|| Ok(self.env.info().last_txn_id))
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        if self.forked() {
            // A fork child: the layers' threads do not exist here (the
            // maintenance thread's join would fail), and closing the inherited
            // environment is not allowed. Leak both; the parent's environment
            // is untouched.
            registry::unregister(self.id);
            return;
        }
        // The layers' state goes first: maintenance stops and joins its
        // thread before the environment closes.
        // SAFETY: dropped once, here, and never used again.
        unsafe { ManuallyDrop::drop(&mut self.ext) };
        registry::unregister(self.id);
        debug!(path = %self.path.display(), "closing LMDB environment");
        // SAFETY: dropped once, here, and never used again.
        unsafe { ManuallyDrop::drop(&mut self.env) };
    }
}

/// A write transaction on an environment no other thread of this process
/// uses yet, adopting a map that another process grew since it was opened.
fn first_write_txn(env: &Env<WithoutTls>) -> heed::Result<RwTxn<'_>> {
    loop {
        match env.write_txn() {
            Err(e) if is_mdb(&e, heed::MdbError::MapResized) => {
                // SAFETY: the Store is not built yet: no other transaction
                // of this process can be using the environment.
                unsafe { env.resize(0) }?;
            }
            other => return other,
        }
    }
}

/// Checks or records the format version and key size limit of a database.
/// Refuses a database of another format version before anything is
/// written: creating a table that an older format did not have would
/// change its file.
fn check_format_before_writing(env: &Env<WithoutTls>, path: &std::path::Path) -> Result<()> {
    let lm = |action| move |e| Error::lmdb(path, action, e);
    let rtxn = env.read_txn().map_err(lm("reading the format version"))?;
    let meta: Option<Db> = env
        .open_databases_and_commit(rtxn, |opener, r| -> heed::Result<_> {
            let db = opener.database_options().types::<Bytes, Bytes>().name(TABLE_NAMES[2]).open(r)?;
            Ok(heed::CommitOrAbort::<_, ()>::Commit(db))
        })
        .map_err(lm("opening the metadata table"))?
        .unwrap_commit();
    let Some(meta) = meta else { return Ok(()) };
    let rtxn = env.read_txn().map_err(lm("reading the format version"))?;
    if let Some(v) = meta.get(&rtxn, meta::FORMAT_VERSION_KEY).map_err(lm("reading the format version"))? {
        let found = meta::read_u32(v).unwrap_or(u32::MAX);
        if found != meta::FORMAT_VERSION {
            return Err(Error::FormatVersion { path: path.to_path_buf(), found, supported: meta::FORMAT_VERSION });
        }
    }
    Ok(())
}

fn init_meta(path: &std::path::Path, meta_db: Db, wtxn: &mut RwTxn<'_>, requested: Option<usize>) -> Result<usize> {
    let requested_limit = requested.unwrap_or(crate::storage::key::MAX_KEY_SIZE);
    let lm = |action| move |e| Error::lmdb(path, action, e);
    match meta_db.get(wtxn, meta::FORMAT_VERSION_KEY).map_err(lm("reading the format version"))? {
        Some(v) => {
            let found = meta::read_u32(v).unwrap_or(u32::MAX);
            if found != meta::FORMAT_VERSION {
                return Err(Error::FormatVersion { path: path.to_path_buf(), found, supported: meta::FORMAT_VERSION });
            }
        }
        None => {
            meta_db
                .put(wtxn, meta::FORMAT_VERSION_KEY, &meta::FORMAT_VERSION.to_le_bytes())
                .map_err(lm("recording the format version"))?;
        }
    }
    match meta_db.get(wtxn, meta::KEY_SIZE_LIMIT_KEY).map_err(lm("reading the key size limit"))? {
        Some(v) => {
            let stored = meta::read_u32(v).map(|n| n as usize).filter(|n| (1..=511).contains(n)).ok_or_else(|| {
                Error::BadFile { path: path.to_path_buf(), reason: "invalid key_size_limit record".into() }
            })?;
            if requested.is_some_and(|r| r != stored) {
                warn!(path = %path.display(), stored, requested = requested_limit,
                    "key_size_limit differs from the one the database was created with; using the recorded one");
            }
            Ok(stored)
        }
        None => {
            meta_db
                .put(wtxn, meta::KEY_SIZE_LIMIT_KEY, &(requested_limit as u32).to_le_bytes())
                .map_err(lm("recording the key size limit"))?;
            Ok(requested_limit)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLES: [u64; 12] =
        [0, 1, 255, 256, 65_535, 65_536, 1 << 24, 1_700_000_000_000, 1 << 56, u64::MAX - 1, u64::MAX, 7];

    #[test]
    fn index_keys_sort_as_their_tuples_and_parse_back() {
        let mut tuples = Vec::new();
        for &w in &SAMPLES {
            for &a in &SAMPLES[..6] {
                for &s in &SAMPLES[..4] {
                    tuples.push((w, a, s));
                }
            }
        }
        for &t in &tuples {
            assert_eq!(split_atime_key(&atime_key(t.0, t.1, t.2)), Some(t));
        }
        let mut by_bytes = tuples.clone();
        by_bytes.sort_by(|x, y| atime_key(x.0, x.1, x.2)[..].cmp(&atime_key(y.0, y.1, y.2)[..]));
        // Numeric order, except that NEVER (u64::MAX) is the largest window anyway.
        tuples.sort();
        assert_eq!(by_bytes, tuples);
        let mut seqs = SAMPLES.to_vec();
        seqs.sort_by(|x, y| seq_key(*x)[..].cmp(&seq_key(*y)[..]));
        assert!(seqs.windows(2).all(|p| p[0] <= p[1]));
        for s in SAMPLES {
            assert_eq!(split_seq_key(&seq_key(s)), Some(s));
        }
        assert_eq!(&seq_key(3)[..], &[3]);
        assert_eq!(&seq_key(1_000_000)[..], &[0x4F, 0x42, 0x40]);
        assert_eq!(&seq_key(1 << 53)[..], &[0xE0, 0, 0x20, 0, 0, 0, 0, 0, 0]);
        assert_eq!(&atime_key(record::NEVER, 0, 0)[..], &[0xFF, 0, 0]);
        assert_eq!(atime_key(30 * 86_400_000, 1_700_000_000_000, 0).len(), 5 + 6 + 1);
    }

    #[test]
    fn malformed_index_keys_are_rejected() {
        for bad in [&[][..], &[0, 0], &[0x20], &[0x20, 5], &[0xE1, 0, 0, 0, 0, 0, 0, 0, 0], &[0xFF; 9], &[0x00; 3]] {
            assert_eq!(split_seq_key(bad), None, "{bad:?}");
        }
        // Non-canonical encodings never parse: a parsed key is the key its values build.
        assert_eq!(split_seq_key(&[0xE0, 0, 0, 0, 0, 0, 0, 0, 5]), None);
        assert_eq!(split_seq_key(&[0xE0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]), Some(u64::MAX));
        assert_eq!(split_atime_key(&[0xE0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0]), None);
        assert_eq!(split_atime_key(&[0x20, 7, 0, 0]), None);
        assert_eq!(split_atime_key(&[0u8; 24]), None);
        assert_eq!(split_atime_key(&[0, 0, 0, 0]), None);
        assert_eq!(split_atime_key(&[0, 0, 0]), Some((0, 0, 0)));
    }
}
