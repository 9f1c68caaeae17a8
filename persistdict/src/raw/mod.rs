//! A byte-level view of any persistdict database, whatever its codecs: what
//! the `persistdict` command and the Python binding are built on.
//!
//! [`RawDb`] sees entries as their encoded key and value bytes with their
//! metadata ([`RawEntry`]), never decodes them, and offers what operating a
//! cache needs: listing in insertion order, lookup and removal by encoded
//! key, the meta table, statistics, expiry, the integrity check, a
//! compacted copy, and a portable export file that another cache can import
//! (see [`RawDb::export`]).
//!
//! Opening is careful: [`RawDb::open`] first reads the directory's
//! `data.mdb` itself (no LMDB, no memory map) and refuses anything that is
//! not a persistdict database, an empty directory, a stray file or another
//! application's LMDB environment, with [`Error::NotADatabase`], creating
//! and changing nothing.
//!
//! ```
//! use persistdict::{PersistDict, raw::RawDb};
//! # let dir = tempfile::tempdir()?;
//! let d: PersistDict<String, u32> = PersistDict::open(dir.path())?;
//! d.insert("a", &1)?;
//!
//! let raw = RawDb::open(dir.path())?; // beside the typed handle, or in another process
//! let entries: Vec<_> = raw.entries()?.collect::<Result<_, _>>()?;
//! assert_eq!(entries.len(), 1);
//! assert_eq!(entries[0].key, b"\x01a"); // bincode: length prefix, then the bytes
//! assert_eq!(raw.codecs()?.as_deref(), Some("bincode2-standard/bincode2-standard"));
//! assert_eq!(raw.remove(&[entries[0].key.clone()])?, 1);
//! assert_eq!(d.get("a")?, None);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod export;
#[cfg(unix)]
mod probe;

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use heed::{RoTxn, WithoutTls};

use crate::dict::builder::Options;
use crate::dict::handle::Handle;
use crate::error::{Error, Result};
use crate::lifecycle::integrity::{self, IntegrityReport, Verdict};
use crate::lifecycle::maintenance::Maintenance;
use crate::storage::meta;
use crate::storage::record::{self, Header};
use crate::storage::store::Durability;

pub use export::{EXPORT_VERSION, ImportReport};

/// One entry as stored: its encoded key and value and its metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEntry {
    /// The full encoded key (for a key stored hashed, the key itself, not its hash).
    pub key: Vec<u8>,
    /// The encoded value.
    pub value: Vec<u8>,
    /// When the key was first inserted.
    pub ctime: SystemTime,
    /// When the entry was last read or written (at the atime granularity).
    pub atime: SystemTime,
    /// The expiry window of the entry's last writer; `None`: never expires.
    pub window: Option<Duration>,
    /// The fingerprint of the key and value types it was written with (see
    /// [`RawDb::type_names`]).
    pub type_fp: u64,
    /// Its insertion sequence number.
    pub seq: u64,
    /// Bytes of the stored record (key, value and envelope).
    pub size: u64,
}

/// Figures of a whole database, from [`RawDb::stats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct RawStats {
    /// Entries.
    pub entries: u64,
    /// Bytes of the pages the tables use: what a compacted copy would take.
    pub used_bytes: u64,
    /// Size of the data file on disk.
    pub disk_bytes: u64,
    /// The LMDB map size (it grows automatically).
    pub map_size: u64,
    /// Reader slots LMDB has handed out in the lock file (a high-water mark
    /// of concurrent readers across processes, not the live ones).
    pub reader_slots: u32,
    /// LMDB's last committed transaction id.
    pub last_txn_id: u64,
}

/// What [`RawDb::open_with`] may be asked for beyond the defaults.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct RawOptions {
    /// A size budget enforced on this handle's writes (imports), least
    /// recently used first, as [`Builder::max_bytes`](crate::Builder::max_bytes).
    pub max_bytes: Option<u64>,
    /// An entry budget enforced on this handle's writes, as
    /// [`Builder::max_entries`](crate::Builder::max_entries).
    pub max_entries: Option<u64>,
    /// Create the database when the directory does not exist (never in an
    /// existing directory that holds no database).
    pub create: bool,
}

/// A byte-level handle on a persistdict database. See the [module docs](self).
///
/// Its reads do not refresh atimes; its writes (removal, expiry, repair,
/// import) commit fully synced. No maintenance thread runs for it.
pub struct RawDb {
    h: Handle,
}

impl std::fmt::Debug for RawDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawDb").field("path", &self.h.store.path).finish()
    }
}

fn system_time(ms: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_millis(ms)
}

/// Milliseconds since the epoch of `t` (0 before it).
pub(crate) fn epoch_ms(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// `tail`: the stored key without its prefix (the encoded key, or its
/// SHA-256 when hashed).
fn entry_of(tail: &[u8], bytes: &[u8], rec: record::Record<'_>) -> RawEntry {
    let h = rec.header;
    RawEntry {
        key: rec.full_key.unwrap_or(tail).to_vec(),
        value: rec.value.to_vec(),
        ctime: system_time(h.ctime_ms),
        atime: system_time(h.atime_ms),
        window: (h.window_ms != record::NEVER).then(|| Duration::from_millis(h.window_ms)),
        type_fp: h.type_fp,
        seq: h.seq,
        size: (tail.len() + 1 + bytes.len()) as u64,
    }
}

/// Checks that `path` is a persistdict database without touching it.
fn check_is_database(path: &Path) -> Result<()> {
    let not = |reason: &str| Error::NotADatabase { path: path.to_path_buf(), reason: reason.to_string() };
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(not("no such directory")),
        Err(e) => return Err(Error::io(path, "reading the directory's metadata", e)),
    };
    if !meta.is_dir() {
        return Err(not("a file, not a database directory"));
    }
    let data = path.join("data.mdb");
    match std::fs::metadata(&data) {
        Ok(m) if m.is_file() => {}
        Ok(_) => return Err(not("data.mdb is not a file")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(not("no data.mdb in the directory")),
        Err(e) => return Err(Error::io(&data, "reading data.mdb's metadata", e)),
    }
    #[cfg(unix)]
    match probe::probe(&data).map_err(|e| Error::io(&data, "reading data.mdb", e))? {
        probe::Probe::Persistdict(v) if v == meta::FORMAT_VERSION => {}
        probe::Probe::Persistdict(found) => {
            return Err(Error::FormatVersion { path: path.to_path_buf(), found, supported: meta::FORMAT_VERSION });
        }
        probe::Probe::Not(reason) => return Err(not(&reason)),
    }
    Ok(())
}

impl RawDb {
    /// Opens the persistdict database in directory `path`, whatever its
    /// codecs, beside any other handles and processes.
    ///
    /// # Errors
    /// [`Error::NotADatabase`] when `path` is not a persistdict database
    /// (nothing is created or changed then), [`Error::FormatVersion`] for a
    /// database of another format version, or a storage error.
    pub fn open(path: impl AsRef<Path>) -> Result<RawDb> {
        Self::open_with(path, RawOptions::default())
    }

    /// [`open`](Self::open) with options: budgets enforced on imports, or
    /// creating a database where the directory does not exist.
    ///
    /// # Errors
    /// As [`open`](Self::open).
    pub fn open_with(path: impl AsRef<Path>, options: RawOptions) -> Result<RawDb> {
        let path = path.as_ref();
        let create = options.create && !path.exists();
        if !create {
            check_is_database(path)?;
        }
        let mut opts = Options::new(path);
        opts.maintenance = Maintenance::Disabled;
        opts.lru_capacity = 0;
        opts.max_bytes = options.max_bytes;
        opts.max_entries = options.max_entries;
        opts.validate()?;
        let h = Handle::open(opts)?;
        tracing::debug!(path = %h.store.path.display(), "opened a raw view");
        Ok(RawDb { h })
    }

    /// Closes this view now: when no other handle of this process uses the
    /// directory, the LMDB environment is closed before `close` returns, so
    /// the directory can be deleted, recreated and opened again at once (as
    /// [`PersistDict::close`](crate::PersistDict::close)).
    ///
    /// # Errors
    /// The environment was still open after 30 seconds (another thread of
    /// this process was still closing it).
    pub fn close(self) -> Result<()> {
        self.h.close(Duration::from_secs(30))
    }

    /// Whether the database was populated by `PersistDict::initialize` since
    /// it was created or last cleared.
    ///
    /// # Errors
    /// A storage error.
    pub fn is_initialized(&self) -> Result<bool> {
        self.h.is_initialized()
    }

    /// The canonical path of the database directory.
    pub fn path(&self) -> &Path {
        &self.h.store.path
    }

    fn meta_string(&self, key: &[u8]) -> Result<Option<String>> {
        Ok(self.h.store.meta_get(key)?.map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// The on-disk format version recorded in the database.
    ///
    /// # Errors
    /// A storage error.
    pub fn format_version(&self) -> Result<u32> {
        let v = self.h.store.meta_get(meta::FORMAT_VERSION_KEY)?;
        Ok(v.as_deref().and_then(meta::read_u32).unwrap_or(0))
    }

    /// The key size limit recorded in the database: longer encoded keys are stored hashed.
    pub fn key_size_limit(&self) -> usize {
        self.h.store.key_size_limit
    }

    /// The codecs recorded by the first typed open, `"<key codec>/<value
    /// codec>"` (e.g. `"bincode2-standard/json"`); `None` before any.
    ///
    /// # Errors
    /// A storage error.
    pub fn codecs(&self) -> Result<Option<String>> {
        self.meta_string(meta::CODECS_KEY)
    }

    /// The key and value type names recorded for type fingerprint `fp`
    /// (meta `types/<fp>`), as written by the dictionary or the macro.
    ///
    /// # Errors
    /// A storage error.
    pub fn type_names(&self, fp: u64) -> Result<Option<String>> {
        self.meta_string(&meta::types_key(fp))
    }

    /// Every record of the meta table, key and value bytes, in key order.
    ///
    /// # Errors
    /// A storage error.
    pub fn meta(&self) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.meta_prefixed(b"")
    }

    /// The meta records whose key starts with `prefix`.
    fn meta_prefixed(&self, prefix: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let store = &self.h.store;
        store.read(|txn, t| {
            let lm = store.lm("reading metadata");
            let mut out = Vec::new();
            // LMDB refuses an empty key: walk the table, keep the prefix.
            for item in t.meta.iter(txn).map_err(&lm)? {
                let (k, v) = item.map_err(&lm)?;
                if k.starts_with(prefix) {
                    out.push((k.to_vec(), v.to_vec()));
                }
            }
            Ok(out)
        })
    }

    /// The function records of `#[persist_cache]` namespaces (meta
    /// `fns/<16 hex digits of the key prefix>`): the prefix of their keys and
    /// the record's bytes (JSON: namespace, function, version, first and last use).
    ///
    /// # Errors
    /// A storage error.
    pub fn function_records(&self) -> Result<Vec<([u8; 8], Vec<u8>)>> {
        let mut out = Vec::new();
        for (k, v) in self.meta_prefixed(b"fns/")? {
            let hex = std::str::from_utf8(&k[4..]).ok().filter(|h| h.len() == 16);
            if let Some(prefix) = hex.and_then(|h| u64::from_str_radix(h, 16).ok()) {
                out.push((prefix.to_be_bytes(), v));
            }
        }
        Ok(out)
    }

    /// All entries in insertion order, streamed from one snapshot (memory
    /// stays bounded). A record that fails its checks is an `Err` item and
    /// iteration goes on.
    ///
    /// # Errors
    /// The outer `Result`: the snapshot could not be taken.
    pub fn entries(&self) -> Result<RawIter<'_>> {
        let txn = self.h.store.snapshot()?;
        Ok(RawIter { db: self, txn: Some(txn), after: None, buf: VecDeque::new() })
    }

    /// The entry under encoded key `key`; does not refresh its atime.
    ///
    /// # Errors
    /// [`Error::Corrupt`] for a record that fails its checks, or a storage error.
    pub fn get(&self, key: &[u8]) -> Result<Option<RawEntry>> {
        let store = &self.h.store;
        let lookup = self.h.lookup(key);
        store.read(|txn, t| {
            let Some(bytes) = t.entries.get(txn, lookup.stored()).map_err(store.lm("reading an entry"))? else {
                return Ok(None);
            };
            let rec = record::decode(bytes).map_err(|e| store.corrupt(key, e))?;
            if !lookup.matches(rec.full_key) {
                return Ok(None);
            }
            Ok(Some(entry_of(&lookup.stored()[1..], bytes, rec)))
        })
    }

    /// The captured arguments of the memoized call stored under encoded key
    /// `key`: JSON `{"args": {"<name>": <value>, ...}, "compute_ms": n}`, or
    /// `{"truncated": true, "len": n, "compute_ms": n}` when the rendering
    /// was longer than the bound (see `#[persist_cache(capture_args)]`).
    /// `None` for entries without (dictionary entries, opted-out functions).
    ///
    /// # Errors
    /// A storage error.
    pub fn captured_args(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let store = &self.h.store;
        let lookup = self.h.lookup(key);
        store.read(|txn, t| {
            Ok(t.args.get(txn, lookup.stored()).map_err(store.lm("reading captured arguments"))?.map(<[u8]>::to_vec))
        })
    }

    /// Removes the entries under these encoded keys (and their captured
    /// arguments); returns how many were there.
    ///
    /// # Errors
    /// A storage error (nothing of the failed batch is removed).
    pub fn remove(&self, keys: &[Vec<u8>]) -> Result<usize> {
        let n = self.h.remove_many(keys)?;
        tracing::debug!(path = %self.path().display(), removed = n, "raw remove");
        Ok(n)
    }

    /// Entries, bytes used and on disk, map size, reader slots.
    ///
    /// # Errors
    /// A storage error.
    pub fn stats(&self) -> Result<RawStats> {
        let store = &self.h.store;
        let info = store.with_gate(|| Ok(store.env.info()))?;
        Ok(RawStats {
            entries: store.len()? as u64,
            used_bytes: store.used_bytes()?,
            disk_bytes: store.disk_bytes(),
            map_size: info.map_size as u64,
            reader_slots: info.number_of_readers,
            last_txn_id: info.last_txn_id as u64,
        })
    }

    /// The oldest ctime and the newest atime of all entries (`None` when
    /// empty). Reads every record header.
    ///
    /// # Errors
    /// A storage error.
    pub fn time_span(&self) -> Result<Option<(SystemTime, SystemTime)>> {
        let store = &self.h.store;
        store.read(|txn, t| {
            let lm = store.lm("reading entries");
            let mut span: Option<(u64, u64)> = None;
            for item in t.entries.iter(txn).map_err(&lm)? {
                let (stored, bytes) = item.map_err(&lm)?;
                if crate::storage::key::stored_tail(stored).is_none() {
                    continue; // a table record
                }
                if let Ok(h) = record::decode_header(bytes) {
                    span = Some(span.map_or((h.ctime_ms, h.atime_ms), |(c, a)| (c.min(h.ctime_ms), a.max(h.atime_ms))));
                }
            }
            Ok(span.map(|(c, a)| (system_time(c), system_time(a))))
        })
    }

    /// Removes the entries not used within their own expiry windows; returns how many.
    ///
    /// # Errors
    /// A storage error.
    pub fn expire(&self) -> Result<usize> {
        self.h.expire()
    }

    /// The integrity check of records and indexes (see
    /// [`PersistDict::check_integrity`](crate::PersistDict::check_integrity)),
    /// without decoding: keys and values are not judged, only checksums,
    /// envelopes and indexes. Repairs the indexes, reports the rest.
    ///
    /// # Errors
    /// [`Error::CorruptFile`] for a damaged B-tree, or a storage error.
    pub fn verify(&self) -> Result<IntegrityReport> {
        integrity::check(&self.h.store, Durability::Sync, |_, _, _| Verdict::Fine)
    }

    /// Writes a compacted copy into directory `dest` (see
    /// [`PersistDict::compact_to`](crate::PersistDict::compact_to)); returns its size.
    ///
    /// # Errors
    /// As `PersistDict::compact_to`.
    pub fn compact_to(&self, dest: impl AsRef<Path>) -> Result<u64> {
        crate::lifecycle::compact::compact_to(&self.h.store, dest.as_ref())
    }

    /// The directory this view was opened on, as given.
    pub fn given_path(&self) -> PathBuf {
        self.h.opts.path.clone()
    }

    /// Writes `entry` unless the database holds the same key with a later
    /// atime (the newer entry wins); keeps its ctime, atime, window and type
    /// fingerprint. Returns whether it was written. Budgets of this handle
    /// apply.
    fn put_entry_in(&self, txn: &mut heed::RwTxn<'_>, entry: &RawEntry, next_seq: &mut Option<u64>) -> Result<bool> {
        let store = &self.h.store;
        let lookup = self.h.lookup(&entry.key);
        let (ctime_ms, atime_ms) = (epoch_ms(entry.ctime), epoch_ms(entry.atime));
        if let Some(bytes) = store.t.entries.get(txn, lookup.stored()).map_err(store.lm("reading an entry"))?
            && let Ok(h) = record::decode_header(bytes)
            && lookup.matches(record::full_key_unchecked(bytes, &h))
            && h.atime_ms >= atime_ms
        {
            return Ok(false);
        }
        let window_ms =
            entry.window.map_or(record::NEVER, |w| crate::storage::clock::duration_ms(w).min(record::NEVER - 1));
        let stamp = crate::storage::store::Stamp {
            now_ms: atime_ms,
            window_ms,
            type_fp: entry.type_fp,
            granularity_ms: Some(0),
            reset_ctime: false,
        };
        store.put_in(txn, &lookup, &entry.value, stamp, next_seq)?;
        // put_in stamps ctime = atime for a new key: set the entry's own.
        let mut rec = store
            .t
            .entries
            .get(txn, lookup.stored())
            .map_err(store.lm("reading an entry"))?
            .map(<[u8]>::to_vec)
            .unwrap_or_default();
        if let Ok(h) = record::decode_header(&rec)
            && h.ctime_ms != ctime_ms.min(atime_ms)
        {
            record::rewrite_header(&mut rec, &Header { ctime_ms: ctime_ms.min(atime_ms), ..h })
                .map_err(|e| store.corrupt(&entry.key, e))?;
            store.t.entries.put(txn, lookup.stored(), &rec).map_err(store.lm("writing an entry"))?;
        }
        Ok(true)
    }
}

/// The streaming iterator of [`RawDb::entries`].
pub struct RawIter<'a> {
    db: &'a RawDb,
    txn: Option<RoTxn<'static, WithoutTls>>,
    after: Option<Vec<u8>>,
    buf: VecDeque<Result<RawEntry>>,
}

impl std::fmt::Debug for RawIter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawIter").field("path", &self.db.path()).finish_non_exhaustive()
    }
}

const BATCH: usize = 256;

impl RawIter<'_> {
    fn fill(&mut self) -> Result<()> {
        let Some(txn) = &self.txn else { return Ok(()) };
        let store = &self.db.h.store;
        let buf = &mut self.buf;
        let last = store.with_gate(|| {
            store.order_batch(txn, self.after.as_deref(), BATCH, |tail, bytes, rec| match rec {
                Ok(rec) => buf.push_back(Ok(entry_of(tail, bytes, rec))),
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

impl Iterator for RawIter<'_> {
    type Item = Result<RawEntry>;

    fn next(&mut self) -> Option<Result<RawEntry>> {
        loop {
            if let Some(item) = self.buf.pop_front() {
                return Some(item);
            }
            self.txn.as_ref()?;
            if let Err(e) = self.fill() {
                self.txn = None;
                return Some(Err(e));
            }
        }
    }
}
