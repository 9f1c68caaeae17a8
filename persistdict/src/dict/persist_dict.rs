//! [`PersistDict`]: the typed dictionary on disk.

use std::borrow::Borrow;
use std::marker::PhantomData;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::codec::{Bincode, Codec};
use crate::dict::builder::{Builder, Options};
use crate::dict::fingerprint::Types;
use crate::dict::front_cache::Typed;
use crate::dict::handle::Handle;
use crate::dict::stats::Stats;
use crate::error::{Error, Result};
use crate::storage::clock;
use crate::storage::key::display_key;

/// When an entry was first inserted and last read or written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryMeta {
    /// First insert; kept when the value is overwritten.
    pub ctime: SystemTime,
    /// Last read or write, refreshed at the handle's atime granularity (by
    /// default a tenth of the expiry window, at most a minute), so it may lag
    /// the last read by up to that much. Millisecond precision.
    pub atime: SystemTime,
}

pub(crate) struct Inner<KC, VC> {
    pub h: Handle,
    pub kc: KC,
    pub vc: VC,
    /// The key and value types of this dictionary, checked on every read.
    pub types: Types,
    /// Whether inserts check that a value reads back as written (see
    /// `encode_value`): only for a codec that is not self-describing and a
    /// value type that holds a struct.
    pub check_round_trip: bool,
}

impl<KC: Codec, VC: Codec> Inner<KC, VC> {
    fn decode_error(&self, encoded_key: &[u8], source: crate::error::BoxError) -> Error {
        Error::Decode { path: self.h.store.path.clone(), key: display_key(encoded_key), source }
    }

    /// Decodes a stored key; the error names it.
    pub(crate) fn decode_key<K: DeserializeOwned>(&self, encoded_key: &[u8]) -> Result<K> {
        self.kc.decode(encoded_key).map_err(|source| self.decode_error(encoded_key, source))
    }

    /// Decodes a stored value; the error names its key.
    pub(crate) fn decode_value<V: DeserializeOwned>(&self, encoded_key: &[u8], bytes: &[u8]) -> Result<V> {
        self.vc.decode(bytes).map_err(|source| self.decode_error(encoded_key, source))
    }
}

/// A typed, persistent, thread- and process-safe dictionary stored in an
/// LMDB directory.
///
/// A `PersistDict` is a cheap handle: clone it freely, share it between
/// threads; every method takes `&self`. Any number of handles, in this and
/// other processes, may open the same directory; in one process they share
/// one LMDB environment, and a write through one is seen by all at their
/// next read.
///
/// Keys are taken by reference through [`Borrow`], like `HashMap::get`: a
/// `PersistDict<String, _>` is queried with a `&str`. The borrowed form must
/// encode to the same bytes as the owned one, which holds for
/// `String`/`str`, `Vec<T>`/`[T]` and `T`/`&T` under both shipped codecs.
///
/// # Example
/// ```
/// use persistdict::PersistDict;
/// # let dir = tempfile::tempdir()?;
/// let d: PersistDict<String, Vec<f32>> = PersistDict::open(dir.path().join("emb"))?;
/// d.insert("hello", &vec![0.1, 0.2])?;
/// assert_eq!(d.get("hello")?, Some(vec![0.1, 0.2]));
/// assert_eq!(d.len()?, 1);
/// assert!(d.remove("hello")?);
/// assert!(d.is_empty()?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct PersistDict<K, V, KC = Bincode, VC = Bincode> {
    pub(crate) inner: Arc<Inner<KC, VC>>,
    /// Set by [`Builder::cache_decoded`](crate::Builder::cache_decoded).
    pub(crate) typed: Option<Typed<V>>,
    _types: PhantomData<fn() -> (K, V)>,
}

impl<K, V, KC, VC> Clone for PersistDict<K, V, KC, VC> {
    fn clone(&self) -> Self {
        PersistDict { inner: self.inner.clone(), typed: self.typed, _types: PhantomData }
    }
}

impl<K, V, KC, VC> std::fmt::Debug for PersistDict<K, V, KC, VC> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PersistDict").field("name", &self.inner.h.name).field("path", &self.inner.h.path()).finish()
    }
}

impl<K, V> PersistDict<K, V> {
    /// Opens (or creates) the dictionary in directory `path` with the
    /// defaults listed on [`Builder`].
    ///
    /// # Errors
    /// As [`Builder::open`].
    pub fn open(path: impl AsRef<Path>) -> Result<Self>
    where
        K: DeserializeOwned,
        V: DeserializeOwned,
    {
        Builder::new(path).open()
    }

    /// Starts configuring a dictionary in directory `path`.
    pub fn builder(path: impl AsRef<Path>) -> Builder<K, V> {
        Builder::new(path)
    }
}

impl<K, V, KC: Codec, VC: Codec> PersistDict<K, V, KC, VC> {
    pub(crate) fn from_parts(opts: Options, kc: KC, vc: VC) -> Result<Self>
    where
        K: DeserializeOwned,
        V: DeserializeOwned,
    {
        let types = Types::of::<K, V>(!kc.self_describing(), !vc.self_describing());
        let h = Handle::open(opts)?;
        h.store.check_codecs(&format!("{}/{}", kc.name(), vc.name()))?;
        let check_round_trip = !vc.self_describing() && crate::dict::fingerprint::may_not_round_trip::<V>();
        Ok(PersistDict {
            inner: Arc::new(Inner { h, kc, vc, types, check_round_trip }),
            typed: None,
            _types: PhantomData,
        })
    }

    pub(crate) fn handle(&self) -> &Handle {
        &self.inner.h
    }

    pub(crate) fn store(&self) -> &crate::storage::store::Store {
        &self.inner.h.store
    }

    fn path_buf(&self) -> std::path::PathBuf {
        self.inner.h.store.path.clone()
    }

    pub(crate) fn encode_key<Q: Serialize + ?Sized>(&self, key: &Q) -> Result<Vec<u8>> {
        self.inner
            .kc
            .encode(key)
            .map(|c| c.into_owned())
            .map_err(|source| Error::EncodeKey { path: self.path_buf(), source })
    }

    /// Encodes a value, and checks that it reads back as written: with a
    /// format that is not self-describing, a type whose `Serialize` and
    /// `Deserialize` disagree (`#[serde(skip_serializing_if)]` leaves out
    /// bytes its `Deserialize` then reads from the next field) would be
    /// stored and later read back as another value. Such a value is refused.
    fn encode_value(&self, encoded_key: &[u8], value: &V) -> Result<Vec<u8>>
    where
        V: Serialize + DeserializeOwned,
    {
        let err = |source| Error::EncodeValue { path: self.path_buf(), key: display_key(encoded_key), source };
        let bytes = self.inner.vc.encode(value).map(|c| c.into_owned()).map_err(err)?;
        if self.inner.check_round_trip {
            let decoded = self.inner.vc.decode::<V>(&bytes).map_err(err)?;
            if !crate::dict::canonical::same_value(value, &decoded) {
                return Err(err("the value does not read back as written: its Serialize and Deserialize disagree \
                     under this codec (e.g. #[serde(skip_serializing_if)], which bincode cannot represent); \
                     use the Json codec for this type, or drop the attribute"
                    .into()));
            }
        }
        Ok(bytes)
    }

    pub(crate) fn get_encoded(&self, encoded: &[u8]) -> Result<Option<V>>
    where
        V: DeserializeOwned,
    {
        self.inner
            .h
            .get_typed(encoded, &self.inner.types, self.typed, |bytes, _| self.inner.decode_value(encoded, bytes))
    }

    pub(crate) fn insert_encoded_if_absent(&self, encoded: &[u8], value: V) -> Result<V>
    where
        V: Serialize + DeserializeOwned,
    {
        let bytes = self.encode_value(encoded, &value)?;
        match self.inner.h.put_if_absent(encoded, &bytes, &self.inner.types)? {
            None => Ok(value),
            Some(existing) => self.inner.decode_value(encoded, &existing),
        }
    }

    /// The value of `key`, or `None`. Refreshes the entry's atime (at the
    /// atime granularity).
    ///
    /// # Errors
    /// [`Error::TypeMismatch`] when the entry was written with other key or
    /// value types (their serde shapes differ), [`Error::Decode`] when the
    /// stored bytes still do not decode as a `V` (the entry stays as it is in
    /// both cases), [`Error::Corrupt`] when they fail their checksum, or a
    /// storage error.
    pub fn get<Q>(&self, key: &Q) -> Result<Option<V>>
    where
        K: Borrow<Q>,
        Q: Serialize + ?Sized,
        V: DeserializeOwned,
    {
        let encoded = self.encode_key(key)?;
        self.get_encoded(&encoded)
    }

    /// Inserts or overwrites. An overwrite keeps the entry's ctime and its
    /// place in iteration order; atime becomes now. Returns when the write is
    /// committed with the handle's [`Durability`](crate::Durability).
    ///
    /// Returns `()` rather than the old value: decoding it would cost every
    /// insert, and fail for entries written with another type.
    ///
    /// # Errors
    /// An encoding or storage error; nothing stored is changed then.
    pub fn insert<Q>(&self, key: &Q, value: &V) -> Result<()>
    where
        K: Borrow<Q>,
        Q: Serialize + ?Sized,
        V: Serialize + DeserializeOwned,
    {
        let encoded = self.encode_key(key)?;
        let bytes = self.encode_value(&encoded, value)?;
        self.inner.h.put(&encoded, &bytes, &self.inner.types).map(drop)
    }

    /// Removes `key`; `true` if it was there. Returns a `bool`, not the old
    /// value, so that an entry whose bytes no longer decode can be removed.
    ///
    /// # Errors
    /// An encoding or storage error.
    pub fn remove<Q>(&self, key: &Q) -> Result<bool>
    where
        K: Borrow<Q>,
        Q: Serialize + ?Sized,
    {
        let encoded = self.encode_key(key)?;
        self.inner.h.remove(&encoded)
    }

    /// Whether `key` is present. Does not refresh atime.
    ///
    /// # Errors
    /// An encoding or storage error.
    pub fn contains_key<Q>(&self, key: &Q) -> Result<bool>
    where
        K: Borrow<Q>,
        Q: Serialize + ?Sized,
    {
        let encoded = self.encode_key(key)?;
        self.inner.h.contains(&encoded)
    }

    /// ctime and atime of `key`, or `None`. Does not refresh atime.
    ///
    /// # Errors
    /// An encoding or storage error.
    pub fn metadata<Q>(&self, key: &Q) -> Result<Option<EntryMeta>>
    where
        K: Borrow<Q>,
        Q: Serialize + ?Sized,
    {
        let encoded = self.encode_key(key)?;
        Ok(self
            .inner
            .h
            .header(&encoded)?
            .map(|h| EntryMeta { ctime: clock::to_system_time(h.ctime_ms), atime: clock::to_system_time(h.atime_ms) }))
    }

    /// Number of entries, in O(1).
    ///
    /// # Errors
    /// A storage error.
    pub fn len(&self) -> Result<usize> {
        self.inner.h.len()
    }

    /// Whether there are no entries.
    ///
    /// # Errors
    /// A storage error.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// Removes every entry and resets the initialize-once flag.
    ///
    /// # Errors
    /// A storage error.
    pub fn clear(&self) -> Result<()> {
        self.inner.h.clear()
    }

    fn encode_pairs(&self, pairs: impl IntoIterator<Item = (K, V)>) -> Result<Vec<(Vec<u8>, Vec<u8>)>>
    where
        K: Serialize,
        V: Serialize + DeserializeOwned,
    {
        pairs
            .into_iter()
            .map(|(k, v)| {
                let ek = self.encode_key(&k)?;
                let ev = self.encode_value(&ek, &v)?;
                Ok((ek, ev))
            })
            .collect()
    }

    /// Inserts many entries in one transaction: all or none.
    ///
    /// # Errors
    /// An encoding error (nothing is written then) or a storage error.
    pub fn extend(&self, pairs: impl IntoIterator<Item = (K, V)>) -> Result<()>
    where
        K: Serialize,
        V: Serialize + DeserializeOwned,
    {
        let pairs = self.encode_pairs(pairs)?;
        self.inner.h.put_many(&pairs, &self.inner.types, false)
    }

    /// Populates the dictionary once: the first call inserts `pairs` and
    /// marks the database initialized (in the database, so it holds across
    /// handles and processes); later calls fail until [`clear`](Self::clear).
    ///
    /// # Errors
    /// [`Error::AlreadyInitialized`], or as [`extend`](Self::extend).
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// let d: persistdict::PersistDict<String, u32> = persistdict::PersistDict::open(dir.path())?;
    /// d.initialize([("a".to_string(), 1), ("b".to_string(), 2)])?;
    /// assert!(matches!(d.initialize([]), Err(persistdict::Error::AlreadyInitialized { .. })));
    /// d.clear()?;
    /// d.initialize([("c".to_string(), 3)])?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn initialize(&self, pairs: impl IntoIterator<Item = (K, V)>) -> Result<()>
    where
        K: Serialize,
        V: Serialize + DeserializeOwned,
    {
        let pairs = self.encode_pairs(pairs)?;
        self.inner.h.put_many(&pairs, &self.inner.types, true)
    }

    /// Whether the dictionary was populated by [`initialize`](Self::initialize)
    /// (by any handle or process) since it was created or last cleared. Only
    /// reads: unlike calling `initialize`, asking changes nothing.
    ///
    /// # Errors
    /// A storage error.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// let d: persistdict::PersistDict<String, u32> = persistdict::PersistDict::open(dir.path())?;
    /// assert!(!d.is_initialized()?);
    /// d.initialize([("a".to_string(), 1)])?;
    /// assert!(d.is_initialized()?);
    /// d.clear()?;
    /// assert!(!d.is_initialized()?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_initialized(&self) -> Result<bool> {
        self.inner.h.is_initialized()
    }

    /// Closes this handle now rather than when it is dropped. When no other
    /// handle of this process uses the directory (clones of this handle and
    /// its open iterators count as users), the LMDB environment is closed
    /// before `close` returns, after a maintenance batch in progress
    /// finishes (waiting at most the maintenance timeout): the directory
    /// can then be deleted, recreated and opened again at once. Other
    /// handles keep it open, and `close` returns at once then.
    ///
    /// Needed where drops are late: a garbage-collected language binding,
    /// a handle kept in a cache. A handle inherited through `fork()` is
    /// dropped without touching the parent's environment.
    ///
    /// # Errors
    /// The environment was still in use by another thread of this process
    /// (an iterator, a transaction) when the maintenance timeout ran out.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("db");
    /// let d: persistdict::PersistDict<String, u32> = persistdict::PersistDict::open(&path)?;
    /// d.insert("a", &1)?;
    /// d.close()?;
    /// std::fs::remove_dir_all(&path)?; // replaced by a new, empty database
    /// let d: persistdict::PersistDict<String, u32> = persistdict::PersistDict::open(&path)?;
    /// assert_eq!(d.get("a")?, None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn close(self) -> Result<()> {
        match Arc::try_unwrap(self.inner) {
            Ok(inner) => {
                let timeout = inner.h.opts.maintenance_timeout;
                inner.h.close(timeout)
            }
            // Another clone or an iterator still uses this handle.
            Err(_) => Ok(()),
        }
    }

    /// Removes the entries that are due now, each under its own window (the
    /// window of the handle that last wrote it; entries written without one
    /// never expire), and returns how many. Costs in proportion to what
    /// expires (plus one lookup per distinct window).
    ///
    /// # Errors
    /// A storage error.
    pub fn expire(&self) -> Result<usize> {
        self.inner.h.expire()
    }

    /// Waits until the maintenance run requested when this handle opened has
    /// finished; `true` if it did within `timeout`, and at once when
    /// maintenance is `Foreground` or `Disabled`, or when nothing was due at open.
    pub fn wait_for_maintenance(&self, timeout: Duration) -> bool {
        self.inner.h.wait_for_maintenance(timeout)
    }

    /// The name used in logs.
    pub fn name(&self) -> &str {
        &self.inner.h.name
    }

    /// The path this handle was opened with.
    pub fn path(&self) -> &Path {
        self.inner.h.path()
    }

    /// Writes a compacted copy of the database (no free pages: what
    /// [`Stats::used_bytes`] counts) into directory `dest`, created if
    /// missing, and returns the copy's size in bytes. It reads one
    /// consistent snapshot; writers are not blocked. The data file itself
    /// never shrinks (LMDB reuses freed pages): to replace it, stop every
    /// process using the directory, move it aside and move `dest` into its
    /// place.
    ///
    /// # Errors
    /// `dest` is a file or already holds a database
    /// ([`Error::InvalidOption`]), or an I/O error.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// let d: persistdict::PersistDict<u32, Vec<u8>> = persistdict::PersistDict::open(dir.path().join("db"))?;
    /// d.extend((0..1000).map(|i| (i, vec![0; 1000])))?;
    /// for i in 0..900 {
    ///     d.remove(&i)?;
    /// }
    /// let size = d.compact_to(dir.path().join("compacted"))?;
    /// assert!(size < d.stats()?.disk_bytes);
    /// let copy: persistdict::PersistDict<u32, Vec<u8>> =
    ///     persistdict::PersistDict::open(dir.path().join("compacted"))?;
    /// assert_eq!(copy.len()?, 100);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn compact_to(&self, dest: impl AsRef<Path>) -> Result<u64> {
        crate::lifecycle::compact::compact_to(&self.inner.h.store, dest.as_ref())
    }

    /// Entry count, size on disk, LRU hits and misses.
    ///
    /// # Errors
    /// A storage error.
    pub fn stats(&self) -> Result<Stats> {
        self.inner.h.stats()
    }
}
