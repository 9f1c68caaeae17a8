//! The store behind each `#[persist_cache]` function, and the call path the
//! generated code runs.
//!
//! Keys are 32 bytes: the first 8 bytes of SHA-256(namespace), so that one
//! function's entries are a contiguous range (cleared by a range delete),
//! then the first 24 bytes (192 bits) of SHA-256(namespace, concrete type
//! names, bincode of the arguments). 32 bytes because serde serializes arrays
//! up to that length, which lets [`MemoStore::dict`] type keys as `[u8; 32]`.
//! Values are the bincode bytes of the result (of `T` for a `Result<T, E>`).
//!
//! Failure policy: the cache never breaks the function. If the database
//! cannot be opened, read or written, or a stored value no longer decodes,
//! the function runs and a `tracing` warning says why.

use std::cell::Cell;
use std::path::PathBuf;
use std::sync::OnceLock;

use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use tracing::{debug, warn};

use crate::builder::{Durability, Maintenance, Options};
use crate::codec::{Bincode, Codec};
use crate::error::{Error, Result};
use crate::handle::Handle;
use crate::stats::Stats;

/// What the attribute was given; built by generated code.
#[doc(hidden)]
#[derive(Debug)]
pub struct MemoConfig {
    pub db: Option<&'static str>,
    pub crate_name: &'static str,
    pub namespace: &'static str,
    pub expire_days: Option<u32>,
    pub durability: Durability,
    pub lru_capacity: usize,
}

/// The persistent cache of one `#[persist_cache]` function, reached through
/// the function's companion (`<fn>_cache(args).store()`).
///
/// It opens its database at the first call: `PERSISTDICT_DISABLE=1` turns
/// it off; without `db`, the directory is `<root>/<crate name>/` where
/// `<root>` is `$PERSISTDICT_DIR` or `persistdict/` in the user cache folder.
pub struct MemoStore {
    config: MemoConfig,
    handle: OnceLock<Option<Handle>>,
    prefix: OnceLock<[u8; PREFIX_LEN]>,
}

const KEY_LEN: usize = 32;
const PREFIX_LEN: usize = 8;
/// The codecs of a memo store are the dictionary defaults, so that
/// [`MemoStore::dict`] can open it as a `PersistDict<[u8; 32], V>`: under
/// bincode a `[u8; 32]` encodes as its 32 bytes, and results are stored as
/// bincode.
const CODECS: &str = "bincode2-standard/bincode2-standard";

thread_local! {
    static BYPASS: Cell<Option<&'static str>> = const { Cell::new(None) };
}

impl MemoStore {
    #[doc(hidden)]
    pub const fn new(config: MemoConfig) -> Self {
        MemoStore { config, handle: OnceLock::new(), prefix: OnceLock::new() }
    }

    fn prefix(&self) -> &[u8; PREFIX_LEN] {
        self.prefix.get_or_init(|| {
            let d = Sha256::digest(self.config.namespace.as_bytes());
            d[..PREFIX_LEN].try_into().expect("PREFIX_LEN bytes")
        })
    }

    /// The directory this function's cache lives in.
    pub fn path(&self) -> PathBuf {
        match self.config.db {
            Some(db) => {
                let p = PathBuf::from(db);
                if p.is_relative() { std::env::current_dir().map(|c| c.join(&p)).unwrap_or(p) } else { p }
            }
            None => {
                let root = std::env::var_os("PERSISTDICT_DIR")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| dirs::cache_dir().unwrap_or_else(std::env::temp_dir).join("persistdict"));
                root.join(self.config.crate_name)
            }
        }
    }

    fn handle(&self) -> Option<&Handle> {
        self.handle
            .get_or_init(|| {
                if std::env::var("PERSISTDICT_DISABLE").is_ok_and(|v| v == "1") {
                    debug!(function = self.config.namespace, "PERSISTDICT_DISABLE=1: caching off");
                    return None;
                }
                let path = self.path();
                match self.open(path.clone()) {
                    Ok(h) => Some(h),
                    Err(e) => {
                        warn!(function = self.config.namespace, path = %path.display(), error = %e,
                            "persist_cache: cannot open the cache; the function runs uncached");
                        None
                    }
                }
            })
            .as_ref()
    }

    fn options(&self, path: &std::path::Path) -> Options {
        let mut opts = Options::new(path);
        opts.lru_capacity = self.config.lru_capacity;
        opts.durability = self.config.durability;
        opts.maintenance = Maintenance::Background;
        opts.expire_after = self.config.expire_days.map(|d| std::time::Duration::from_secs(u64::from(d) * 86_400));
        opts
    }

    fn open(&self, path: PathBuf) -> Result<Handle> {
        let opts = self.options(&path);
        opts.validate()?;
        let h = Handle::open(opts)?;
        h.store.check_codecs(CODECS)?;
        Ok(h)
    }

    /// Whether caching is on (the database opened and is not disabled).
    pub fn is_enabled(&self) -> bool {
        self.handle().is_some()
    }

    /// Removes every stored result of this function (all argument values,
    /// all generic instantiations), and returns how many.
    ///
    /// # Errors
    /// When the cache is off or the write fails.
    pub fn clear(&self) -> Result<usize> {
        let h = self.handle().ok_or_else(|| self.off())?;
        let start = *self.prefix();
        let keys: Vec<Vec<u8>> = h.store.read(|txn, t| {
            let lm = h.store.lm("listing a function's entries");
            let mut out = Vec::new();
            for item in t.entries.prefix_iter(txn, &start[..]).map_err(&lm)? {
                out.push(item.map_err(&lm)?.0.to_vec());
            }
            Ok(out)
        })?;
        let mut removed = 0;
        for chunk in keys.chunks(1000) {
            removed += h.store.write(h.opts.durability, 64, |txn, _| {
                let mut n = 0;
                for k in chunk {
                    n += usize::from(h.store.remove_in(txn, &h.lookup(k))?);
                }
                Ok(n)
            })?;
        }
        Ok(removed)
    }

    /// The underlying database as a typed dictionary: keys are the 32-byte
    /// call keys ([`CallKey::key`]), values the stored results, of type `V`
    /// (the function's return type, or `T` for a `Result<T, E>`). The
    /// database may be shared with other functions, whose entries will not
    /// decode as `V`.
    ///
    /// # Errors
    /// When the cache is off or the database cannot be opened.
    pub fn dict<V>(&self) -> Result<crate::PersistDict<[u8; KEY_LEN], V>> {
        if self.handle().is_none() {
            return Err(self.off());
        }
        crate::PersistDict::from_parts(self.options(&self.path()), Bincode, Bincode)
    }

    /// Entry count of the whole database (shared by every function using it)
    /// and this function's LRU figures.
    ///
    /// # Errors
    /// When the cache is off or the read fails.
    pub fn stats(&self) -> Result<Stats> {
        self.handle().ok_or_else(|| self.off())?.stats()
    }

    /// Runs `call` (a call of this function) past the cache: the body runs,
    /// nothing is read or stored.
    pub fn uncached<R>(&self, call: impl FnOnce() -> R) -> R {
        let previous = BYPASS.with(|b| b.replace(Some(self.config.namespace)));
        let out = call();
        BYPASS.with(|b| b.set(previous));
        out
    }

    fn bypassed(&self) -> bool {
        BYPASS.with(|b| {
            if b.get() == Some(self.config.namespace) {
                b.set(None);
                true
            } else {
                false
            }
        })
    }

    fn off(&self) -> Error {
        Error::InvalidOption {
            path: self.path(),
            message: format!("the cache of {} is off (disabled, or it could not be opened)", self.config.namespace),
        }
    }

    fn store_value<T: Serialize + ?Sized>(&self, h: &Handle, key: &Key, value: &T) {
        let bytes = match Bincode.encode(value) {
            Ok(b) => b,
            Err(e) => {
                warn!(function = self.config.namespace, error = %e, "persist_cache: cannot encode the result; not stored");
                return;
            }
        };
        if let Err(e) = h.put(&key.0, &bytes) {
            warn!(function = self.config.namespace, error = %e, "persist_cache: cannot store the result");
        }
    }

    /// The stored result of `key`, decoded in place; `None` (and a warning)
    /// for a miss, a read error or bytes that no longer decode.
    fn cached<T: DeserializeOwned>(&self, h: &Handle, key: &Key) -> Option<T> {
        match h.get(&key.0, |bytes| Ok(Bincode.decode::<T>(bytes))) {
            Ok(Some(Ok(v))) => Some(v),
            Ok(None) => None,
            Ok(Some(Err(e))) => {
                warn!(function = self.config.namespace, name = %h.name, error = %e,
                    "persist_cache: a stored result no longer decodes (its type changed?); recomputing");
                None
            }
            Err(e) => {
                warn!(function = self.config.namespace, error = %e, "persist_cache: cannot read the cache; computing");
                None
            }
        }
    }
}

/// A call's key: 32 bytes, see the module docs.
#[doc(hidden)]
#[derive(Clone, PartialEq, Eq)]
pub struct Key([u8; KEY_LEN]);

/// Builds a call's key; generated code feeds it the arguments.
#[doc(hidden)]
pub struct KeyBuilder {
    hasher: Option<Sha256>,
    prefix: [u8; PREFIX_LEN],
    store: &'static MemoStore,
    buf: Vec<u8>,
}

/// Arguments that can be part of a `#[persist_cache]` key.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be part of a #[persist_cache] key: it does not implement serde::Serialize",
    label = "this argument is hashed into the cache key",
    note = "derive serde::Serialize for it, or leave it out of the key with #[persist_cache(ignore(arg))]"
)]
#[doc(hidden)]
pub trait CacheKey: Serialize {}
impl<T: Serialize + ?Sized> CacheKey for T {}

/// Results that `#[persist_cache]` can store.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be stored by #[persist_cache]: it must implement serde::Serialize and serde::DeserializeOwned",
    label = "this return type is stored on disk",
    note = "derive serde::Serialize and serde::Deserialize for it (for Result<T, E>, only T needs them)"
)]
#[doc(hidden)]
pub trait CacheValue: Serialize + DeserializeOwned {}
impl<T: Serialize + DeserializeOwned> CacheValue for T {}

impl KeyBuilder {
    #[doc(hidden)]
    pub fn new(store: &'static MemoStore) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(store.config.namespace.as_bytes());
        hasher.update([0]);
        KeyBuilder { hasher: Some(hasher), prefix: *store.prefix(), store, buf: Vec::new() }
    }

    /// Adds a concrete type name (generic instantiations differ).
    #[doc(hidden)]
    pub fn ty(&mut self, name: &str) {
        if let Some(h) = &mut self.hasher {
            h.update((name.len() as u64).to_le_bytes());
            h.update(name.as_bytes());
        }
    }

    /// Adds an argument.
    #[doc(hidden)]
    pub fn arg<T: CacheKey + ?Sized>(&mut self, value: &T) {
        let Some(h) = &mut self.hasher else { return };
        self.buf.clear();
        match bincode::serde::encode_into_std_write(value, &mut self.buf, bincode::config::standard()) {
            Ok(_) => {
                h.update((self.buf.len() as u64).to_le_bytes());
                h.update(&self.buf);
            }
            Err(e) => {
                warn!(function = self.store.config.namespace, error = %e,
                    "persist_cache: an argument cannot be encoded; this call runs uncached");
                self.hasher = None;
            }
        }
    }

    #[doc(hidden)]
    pub fn finish(self) -> Option<Key> {
        let digest = self.hasher?.finalize();
        let mut k = [0u8; KEY_LEN];
        k[..PREFIX_LEN].copy_from_slice(&self.prefix);
        k[PREFIX_LEN..].copy_from_slice(&digest[..KEY_LEN - PREFIX_LEN]);
        Some(Key(k))
    }
}

/// What a companion call (`<fn>_cache(args)`) returns: one call's key.
pub struct CallKey {
    store: &'static MemoStore,
    key: Option<Key>,
}

impl CallKey {
    #[doc(hidden)]
    pub fn new(store: &'static MemoStore, key: Option<Key>) -> Self {
        CallKey { store, key }
    }

    /// The call's key in the function's database ([`MemoStore::dict`]), or
    /// `None` when its arguments could not be encoded.
    pub fn key(&self) -> Option<[u8; KEY_LEN]> {
        self.key.as_ref().map(|k| k.0)
    }

    /// Whether this call's result is stored (does not refresh its atime).
    pub fn is_cached(&self) -> bool {
        match (self.store.handle(), &self.key) {
            (Some(h), Some(k)) => h.contains(&k.0).unwrap_or(false),
            _ => false,
        }
    }

    /// Forgets this call's result; true if there was one.
    ///
    /// # Errors
    /// When the cache is off or the write fails.
    pub fn invalidate(&self) -> Result<bool> {
        let h = self.store.handle().ok_or_else(|| self.store.off())?;
        match &self.key {
            Some(k) => h.remove(&k.0),
            None => Ok(false),
        }
    }

    /// The function's whole cache: clear, stats, path, uncached calls.
    pub fn store(&self) -> &'static MemoStore {
        self.store
    }
}

/// The call path shared by [`call`] and [`call_result`]: `stored` picks what
/// of a result is kept (`found` turns a stored value back into a result).
fn memoize<T: CacheValue, R>(
    store: &'static MemoStore,
    key: Option<Key>,
    body: impl FnOnce() -> R,
    stored: fn(&R) -> Option<&T>,
    found: fn(T) -> R,
) -> R {
    let (Some(h), Some(key), false) = (store.handle(), key, store.bypassed()) else { return body() };
    h.store.flights.run(
        &key.0,
        || store.cached(h, &key),
        found,
        || {
            let r = body();
            if let Some(v) = stored(&r) {
                store.store_value(h, &key, v);
            }
            r
        },
    )
}

/// [`memoize`] for `async fn`s.
async fn memoize_async<T: CacheValue, R>(
    store: &'static MemoStore,
    key: Option<Key>,
    body: impl Future<Output = R>,
    stored: fn(&R) -> Option<&T>,
    found: fn(T) -> R,
) -> R {
    let (Some(h), Some(key), false) = (store.handle(), key, store.bypassed()) else { return body.await };
    let lead = async {
        let r = body.await;
        if let Some(v) = stored(&r) {
            store.store_value(h, &key, v);
        }
        r
    };
    h.store.flights.run_async(&key.0, || store.cached(h, &key), found, lead).await
}

/// The call path of a sync function whose whole result is stored.
#[doc(hidden)]
pub fn call<R: CacheValue>(store: &'static MemoStore, key: Option<Key>, body: impl FnOnce() -> R) -> R {
    memoize(store, key, body, |r| Some(r), |v| v)
}

/// The call path of a sync function returning `Result`: only `Ok` is stored.
#[doc(hidden)]
pub fn call_result<T: CacheValue, E>(
    store: &'static MemoStore,
    key: Option<Key>,
    body: impl FnOnce() -> std::result::Result<T, E>,
) -> std::result::Result<T, E> {
    memoize(store, key, body, |r| r.as_ref().ok(), Ok)
}

/// The call path of an `async fn` whose whole result is stored.
#[doc(hidden)]
pub async fn call_async<R: CacheValue>(
    store: &'static MemoStore,
    key: Option<Key>,
    body: impl Future<Output = R>,
) -> R {
    memoize_async(store, key, body, |r| Some(r), |v| v).await
}

/// The call path of an `async fn` returning `Result`: only `Ok` is stored.
#[doc(hidden)]
pub async fn call_result_async<T: CacheValue, E>(
    store: &'static MemoStore,
    key: Option<Key>,
    body: impl Future<Output = std::result::Result<T, E>>,
) -> std::result::Result<T, E> {
    memoize_async(store, key, body, |r| r.as_ref().ok(), Ok).await
}
