//! [`Builder`]: how a [`PersistDict`] is configured and opened.

use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::codec::{Bincode, Codec};
use crate::dict::front_cache::Typed;
use crate::dict::persist_dict::PersistDict;
use crate::error::{Error, Result};
use crate::lifecycle::maintenance::Maintenance;
use crate::storage::key::{KeyHasher, sha256};
use crate::storage::store::Durability;

pub use crate::storage::key::MAX_KEY_SIZE;

/// The smallest `max_bytes` budget.
const MIN_MAX_BYTES: u64 = 64 << 10;

/// Builds a [`PersistDict`]; start with [`PersistDict::builder`].
///
/// Setters take the builder by value and return it; [`open`](Self::open)
/// checks everything and opens the database.
///
/// # Defaults
/// | option | default |
/// |---|---|
/// | `name` | the last component of the path |
/// | `expire_after` | never |
/// | `atime_granularity` | a tenth of each entry's expiry window, at most one minute |
/// | `maintenance` | [`Maintenance::Background`] |
/// | `maintenance_timeout` | 30 s |
/// | `maintenance_interval` | 10 min |
/// | `lru_capacity` | 128 entries |
/// | `key_size_limit` | 511 bytes (LMDB's maximum) |
/// | `durability` | [`Durability::Sync`] |
/// | `map_size` | 1 MiB, grown automatically |
/// | `max_bytes`, `max_entries` | none |
/// | `key_codec`, `value_codec` | [`Bincode`] |
/// | `dir_mode` | `0o700` (owner only) for directories it creates |
///
/// # Example
/// ```
/// use std::time::Duration;
/// use persistdict::{Durability, Maintenance, PersistDict};
/// # let dir = tempfile::tempdir()?;
/// let d: PersistDict<String, Vec<f32>> = PersistDict::builder(dir.path().join("emb"))
///     .name("embeddings")
///     .expire_days(30)
///     .maintenance(Maintenance::Foreground)
///     .lru_capacity(1024)
///     .durability(Durability::NoMetaSync)
///     .open()?;
/// assert_eq!(d.name(), "embeddings");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "a builder does nothing until `open()` is called"]
pub struct Builder<K, V, KC = Bincode, VC = Bincode> {
    pub(crate) opts: Options,
    pub(crate) key_codec: KC,
    pub(crate) value_codec: VC,
    typed: Option<Typed<V>>,
    _types: PhantomData<fn() -> (K, V)>,
}

/// The codec-independent options.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    pub path: PathBuf,
    pub name: Option<String>,
    pub expire_after: Option<Duration>,
    pub atime_granularity: Option<Duration>,
    pub maintenance: Maintenance,
    pub maintenance_timeout: Duration,
    pub maintenance_interval: Duration,
    pub lru_capacity: usize,
    pub key_size_limit: Option<usize>,
    pub durability: Durability,
    pub map_size: usize,
    pub max_bytes: Option<u64>,
    pub max_entries: Option<u64>,
    pub dir_mode: u32,
    pub hasher: KeyHasher,
}

impl Options {
    pub(crate) fn new(path: &Path) -> Self {
        Options {
            path: path.to_path_buf(),
            name: None,
            expire_after: None,
            atime_granularity: None,
            maintenance: Maintenance::Background,
            maintenance_timeout: Duration::from_secs(30),
            maintenance_interval: Duration::from_secs(600),
            lru_capacity: 128,
            key_size_limit: None,
            durability: Durability::Sync,
            map_size: 1 << 20,
            max_bytes: None,
            max_entries: None,
            dir_mode: 0o700,
            hasher: sha256,
        }
    }

    /// Checks the options that `open` cannot check by itself.
    pub(crate) fn validate(&self) -> Result<()> {
        let invalid = |message: String| Err(Error::InvalidOption { path: self.path.clone(), message });
        if let Some(limit) = self.key_size_limit
            && !(1..=MAX_KEY_SIZE).contains(&limit)
        {
            return invalid(format!("key_size_limit must be 1..={MAX_KEY_SIZE}, got {limit}"));
        }
        if self.expire_after == Some(Duration::ZERO) {
            return invalid("the expiry window must be longer than zero".into());
        }
        if self.max_entries == Some(0) {
            return invalid("max_entries must be at least 1 (leave it out for no limit)".into());
        }
        if let Some(max) = self.max_bytes
            && max < MIN_MAX_BYTES
        {
            return invalid(format!(
                "max_bytes must be at least {MIN_MAX_BYTES} (the tables' own pages take some), got {max}"
            ));
        }
        if self.maintenance_interval.is_zero() {
            return invalid("maintenance_interval must be longer than zero".into());
        }
        Ok(())
    }
}

impl<K, V> Builder<K, V> {
    pub(crate) fn new(path: impl AsRef<Path>) -> Self {
        Builder {
            opts: Options::new(path.as_ref()),
            key_codec: Bincode,
            value_codec: Bincode,
            typed: None,
            _types: PhantomData,
        }
    }
}

impl<K, V, KC: Codec, VC: Codec> Builder<K, V, KC, VC> {
    /// The name used in logs. Default: the last component of the path.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.opts.name = Some(name.into());
        self
    }

    /// Entries not read or written for `days` days expire. The window is
    /// stamped on every entry this handle writes: each entry expires by the
    /// window of whoever wrote it last, whatever other handles say.
    pub fn expire_days(self, days: u32) -> Self {
        self.expire_after(Duration::from_secs(u64::from(days) * 86_400))
    }

    /// Entries not read or written for `window` expire.
    pub fn expire_after(mut self, window: Duration) -> Self {
        self.opts.expire_after = Some(window);
        self
    }

    /// How stale an entry's atime may get before a read refreshes it (a
    /// refresh is a small write). Default: a tenth of the entry's own expiry
    /// window, at most a minute, so atime is precise to that and reads stay
    /// read-only.
    pub fn atime_granularity(mut self, granularity: Duration) -> Self {
        self.opts.atime_granularity = Some(granularity);
        self
    }

    /// When maintenance (expiry, stale reader slots) runs. See [`Maintenance`].
    pub fn maintenance(mut self, mode: Maintenance) -> Self {
        self.opts.maintenance = mode;
        self
    }

    /// The longest one maintenance run may take; a run that reaches it stops
    /// after the batch in progress (1,000 entries) and resumes next time.
    pub fn maintenance_timeout(mut self, timeout: Duration) -> Self {
        self.opts.maintenance_timeout = timeout;
        self
    }

    /// How often background maintenance runs in a long-running process.
    pub fn maintenance_interval(mut self, interval: Duration) -> Self {
        self.opts.maintenance_interval = interval;
        self
    }

    /// Entries whose encoded bytes this handle keeps in memory in front of
    /// LMDB (a hit skips the LMDB lookup, not the decode); 0 turns it off.
    pub fn lru_capacity(mut self, entries: usize) -> Self {
        self.opts.lru_capacity = entries;
        self
    }

    /// Encoded keys longer than this (1..=511) are stored under their
    /// SHA-256. Recorded when the database is created; a later, different
    /// value is ignored with a warning.
    pub fn key_size_limit(mut self, bytes: usize) -> Self {
        self.opts.key_size_limit = Some(bytes);
        self
    }

    /// How much commits wait for the disk. See [`Durability`].
    pub fn durability(mut self, durability: Durability) -> Self {
        self.opts.durability = durability;
        self
    }

    /// A size budget: after any write returns, the pages the tables use
    /// (see [`Stats::used_bytes`](crate::Stats::used_bytes)) are within
    /// `bytes`, up to one eviction batch; least recently used entries are
    /// evicted first, by the writer, in its own transaction. At least
    /// 64 KiB; an entry larger than half the budget is refused with
    /// [`Error::OverBudget`]. When handles of one directory disagree, the
    /// smallest budget wins. Default: none.
    pub fn max_bytes(mut self, bytes: u64) -> Self {
        self.opts.max_bytes = Some(bytes);
        self
    }

    /// An entry budget: after any write returns, there are at most
    /// `entries` entries (up to one eviction batch), least recently used
    /// evicted first. At least 1. Default: none.
    pub fn max_entries(mut self, entries: u64) -> Self {
        self.opts.max_entries = Some(entries);
        self
    }

    /// The initial LMDB map size in bytes; the map grows automatically.
    pub fn map_size(mut self, bytes: usize) -> Self {
        self.opts.map_size = bytes;
        self
    }

    /// The Unix permission bits of directories `open` creates (default 0o700).
    /// LMDB has no page checksums: a process that maps a file someone else
    /// corrupted may crash, so keep the directory private.
    pub fn dir_mode(mut self, mode: u32) -> Self {
        self.opts.dir_mode = mode;
        self
    }

    /// The codec of keys. Default [`Bincode`].
    pub fn key_codec<C: Codec>(self, codec: C) -> Builder<K, V, C, VC> {
        Builder {
            opts: self.opts,
            key_codec: codec,
            value_codec: self.value_codec,
            typed: self.typed,
            _types: PhantomData,
        }
    }

    /// The codec of values. Default [`Bincode`].
    pub fn value_codec<C: Codec>(self, codec: C) -> Builder<K, V, KC, C> {
        Builder {
            opts: self.opts,
            key_codec: self.key_codec,
            value_codec: codec,
            typed: self.typed,
            _types: PhantomData,
        }
    }

    /// Replaces the SHA-256 of long keys; only for tests that force collisions.
    #[doc(hidden)]
    pub fn __key_hasher(mut self, hasher: fn(&[u8]) -> [u8; 32]) -> Self {
        self.opts.hasher = hasher;
        self
    }

    /// Checks the options, opens (or creates) the database and returns a handle.
    ///
    /// # Errors
    /// [`Error::InvalidOption`] for out-of-range options; [`Error::NotADirectory`],
    /// [`Error::Io`], [`Error::BadFile`], [`Error::FormatVersion`],
    /// [`Error::CodecMismatch`] or [`Error::Lmdb`] when the directory cannot be used.
    pub fn open(self) -> Result<PersistDict<K, V, KC, VC>>
    where
        K: serde::de::DeserializeOwned,
        V: serde::de::DeserializeOwned,
    {
        self.opts.validate()?;
        let mut d = PersistDict::from_parts(self.opts, self.key_codec, self.value_codec)?;
        d.typed = self.typed;
        Ok(d)
    }
}

impl<K, V, KC, VC> Builder<K, V, KC, VC>
where
    V: Clone + Send + Sync + 'static,
{
    /// Keeps the LRU's values decoded: a hit in the LRU (see
    /// [`lru_capacity`](Self::lru_capacity)) clones the value instead of
    /// decoding its bytes again, which for a value with many elements (a
    /// `Vec`, a map) is most of a read's cost. Needs `V: Clone`; coherence
    /// is the LRU's own (a value changed by anyone since is never served).
    /// No effect with the LRU off.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// let d: persistdict::PersistDict<u32, Vec<f32>> =
    ///     persistdict::PersistDict::builder(dir.path()).lru_capacity(1000).cache_decoded().open()?;
    /// d.insert(&1, &vec![0.5; 768])?;
    /// assert_eq!(d.get(&1)?, Some(vec![0.5; 768])); // decoded, then kept decoded
    /// assert_eq!(d.get(&1)?, Some(vec![0.5; 768])); // cloned from the LRU
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn cache_decoded(mut self) -> Self {
        self.typed =
            Some(Typed { clone: |any| any.downcast_ref::<V>().cloned(), boxed: |v| std::sync::Arc::new(v.clone()) });
        self
    }
}
