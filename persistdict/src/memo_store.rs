//! The store behind each `#[persist_cache]` function, and the call path the
//! generated code runs.
//!
//! **One store per function.** The wrapper and its companion each expand a
//! `static MemoStore`, but both resolve, at their first use, to one shared
//! [`FnStore`] registered under the function's full configuration: one
//! directory (a relative `db` resolves against the current directory once,
//! at the first call of either), one handle, one LRU, one set of stats.
//!
//! **Keys name the exact computation.** A call's key is 32 bytes: the first 8
//! bytes of SHA-256(namespace), so that one function's entries are a
//! contiguous range (cleared by a range delete), then 24 bytes (192 bits) of
//! SHA-256 over:
//! - the namespace: module path, function name, a digest of the signature and
//!   of the body tokens (or the user's `version`);
//! - the function's *identity*: `type_name_of_val` of a closure defined in
//!   the wrapper, which names the enclosing items (two identical nested `fn
//!   inner()` in two outer functions, two impls or trait impls) and the
//!   concrete values of every generic parameter of the function and of its
//!   `impl` block, type and const generics alike;
//! - the arguments in a canonical encoding (see `canonical.rs`: equal
//!   `HashMap`s and `HashSet`s give equal bytes).
//!
//! Values are the bincode bytes of the result (of `T` for a `Result<T, E>`,
//! however spelled: the generated code asks the compiler, see [`KindProbe`]).
//! Each record carries the fingerprint of the stored type's serde shape: a
//! result whose type changed between builds (a field reordered or retyped)
//! reads as a miss, is recomputed and overwrites the old bytes, which are
//! never decoded into the new type.
//!
//! Failure policy: the cache never breaks the function. If the database
//! cannot be opened, read or written, or a stored value no longer decodes,
//! the function runs and a `tracing` warning says why.

use std::borrow::Cow;
use std::cell::Cell;
use std::collections::HashMap;
use std::marker::PhantomData;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, LazyLock, Mutex, OnceLock};
use std::task::{Context, Poll};

use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use tracing::{debug, warn};

use crate::builder::{Durability, Maintenance, Options};
use crate::codec::{Bincode, Codec};
use crate::error::{Error, Result};
use crate::fingerprint::{self, Types};
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
/// It opens its database at the first call of the function or its
/// companion: `PERSISTDICT_DISABLE=1` (or `true`/`yes`) turns it off;
/// without `db`, the directory is `<root>/<crate name>/` where `<root>` is
/// `$PERSISTDICT_DIR` or `persistdict/` in the user cache folder.
///
/// ```
/// # #[cfg(feature = "macros")] {
/// # let dir = tempfile::tempdir().unwrap();
/// use persistdict::persist_cache;
///
/// #[persist_cache(db = "cache/square")]
/// fn square(x: u64) -> u64 { x * x }
///
/// # std::env::set_current_dir(dir.path()).unwrap();
/// assert_eq!(square(3), 9);
/// let store = square_cache(3).store();
/// assert!(store.is_enabled());
/// assert_eq!(store.uncached(|| square(3)), 9); // runs the body, stores nothing
/// assert_eq!(store.clear().unwrap(), 1);
/// assert!(!square_cache(3).is_cached());
/// # }
/// ```
pub struct MemoStore {
    config: MemoConfig,
    shared: OnceLock<Arc<FnStore>>,
}

/// What the wrapper and the companion of one function share.
struct FnStore {
    namespace: &'static str,
    path: PathBuf,
    handle: Option<Handle>,
    prefix: [u8; PREFIX_LEN],
    config_lru: usize,
    config_durability: Durability,
    config_expire_days: Option<u32>,
}

/// Every function store of the process, by full configuration.
static FN_STORES: LazyLock<Mutex<HashMap<String, Arc<FnStore>>>> = LazyLock::new(Default::default);

const KEY_LEN: usize = 32;
const PREFIX_LEN: usize = 8;
/// The codecs of a memo store are the dictionary defaults, so that
/// [`MemoStore::dict`] can open it as a `PersistDict<[u8; 32], V>`: under
/// bincode a `[u8; 32]` encodes as its 32 bytes, and results are stored as
/// bincode.
const CODECS: &str = "bincode2-standard/bincode2-standard";

thread_local! {
    /// The namespace whose next call on this thread runs past the cache.
    static BYPASS: Cell<Option<&'static str>> = const { Cell::new(None) };
}

fn disabled_by_env() -> bool {
    std::env::var("PERSISTDICT_DISABLE")
        .is_ok_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes"))
}

impl MemoStore {
    #[doc(hidden)]
    pub const fn new(config: MemoConfig) -> Self {
        MemoStore { config, shared: OnceLock::new() }
    }

    fn shared(&self) -> &FnStore {
        self.shared.get_or_init(|| {
            let id = format!("{:?}", self.config);
            let mut stores = FN_STORES.lock().unwrap_or_else(|e| e.into_inner());
            stores.entry(id).or_insert_with(|| Arc::new(FnStore::open(&self.config))).clone()
        })
    }

    fn handle(&self) -> Option<&Handle> {
        self.shared().handle.as_ref()
    }

    /// The directory this function's cache lives in (resolved once, at the
    /// first call of the function or its companion).
    pub fn path(&self) -> PathBuf {
        self.shared().path.clone()
    }

    /// Whether caching is on (the database opened and is not disabled).
    pub fn is_enabled(&self) -> bool {
        self.handle().is_some()
    }

    /// Removes every stored result of this function (all argument values,
    /// all generic instantiations), and returns how many. Two identical
    /// functions nested in different outer functions share a namespace
    /// prefix: clearing one clears both.
    ///
    /// # Errors
    /// When the cache is off or the write fails.
    pub fn clear(&self) -> Result<usize> {
        let shared = self.shared();
        let h = shared.handle.as_ref().ok_or_else(|| self.off())?;
        let start = shared.prefix;
        let keys: Vec<Vec<u8>> = h.store.read(|txn, t| {
            let lm = h.store.lm("listing a function's entries");
            let mut out = Vec::new();
            for item in t.entries.prefix_iter(txn, &start[..]).map_err(&lm)? {
                let key = item.map_err(&lm)?.0;
                if key.len() == KEY_LEN {
                    out.push(key.to_vec());
                }
            }
            Ok(out)
        })?;
        h.remove_many(&keys)
    }

    /// The underlying database as a typed dictionary: keys are the 32-byte
    /// call keys ([`CallKey::key`]), values the stored results, of type `V`
    /// (the function's return type, or `T` for a `Result<T, E>`). The
    /// database may be shared with other functions: their entries read as
    /// [`Error::TypeMismatch`] unless their results have `V`'s serde shape.
    ///
    /// # Errors
    /// When the cache is off or the database cannot be opened.
    pub fn dict<V: DeserializeOwned>(&self) -> Result<crate::PersistDict<[u8; KEY_LEN], V>> {
        if self.handle().is_none() {
            return Err(self.off());
        }
        crate::PersistDict::from_parts(self.shared().options(), Bincode, Bincode)
    }

    /// Entry count of the whole database (shared by every function using
    /// it), and this function's LRU hits and misses (the wrapper's and the
    /// companion's calls together).
    ///
    /// # Errors
    /// When the cache is off or the read fails.
    pub fn stats(&self) -> Result<Stats> {
        self.handle().ok_or_else(|| self.off())?.stats()
    }

    /// Runs `call`, a call of this function, past the cache: the body runs,
    /// nothing is read or stored. For an `async fn`, use
    /// [`uncached_async`](Self::uncached_async): an async call's body starts
    /// only when its future is polled, after this method returned.
    pub fn uncached<R>(&self, call: impl FnOnce() -> R) -> R {
        let guard = BypassGuard::set(self.config.namespace);
        let out = call();
        if guard.unused() {
            warn!(
                function = self.config.namespace,
                "uncached(): the closure did not call the function (for an async fn, use uncached_async)"
            );
        }
        out
    }

    /// Awaits `call`, a call of this `async fn`, past the cache: the body
    /// runs, nothing is read or stored.
    ///
    /// ```
    /// # #[cfg(feature = "macros")] {
    /// # let dir = tempfile::tempdir().unwrap();
    /// # std::env::set_current_dir(dir.path()).unwrap();
    /// #[persistdict::persist_cache(db = "cache/fetch")]
    /// async fn fetch(id: u32) -> String { format!("item {id}") }
    ///
    /// # fn block_on<F: Future>(f: F) -> F::Output {
    /// #     let mut f = std::pin::pin!(f);
    /// #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    /// #     loop { if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; } }
    /// # }
    /// # block_on(async {
    /// let fresh = fetch_cache(1).store().uncached_async(fetch(1)).await;
    /// assert_eq!(fresh, "item 1");
    /// assert!(!fetch_cache(1).is_cached());
    /// # });
    /// # }
    /// ```
    pub fn uncached_async<F: Future>(&self, call: F) -> impl Future<Output = F::Output> {
        Uncached { namespace: self.config.namespace, inner: Box::pin(call) }
    }

    /// Whether this call runs past the cache; consumes the request.
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

    fn store_value<T: Serialize + ?Sized>(&self, h: &Handle, key: &Key, value: &T, types: &Types) {
        let bytes = match Bincode.encode(value) {
            Ok(b) => b,
            Err(e) => {
                warn!(function = self.config.namespace, error = %e, "persist_cache: cannot encode the result; not stored");
                return;
            }
        };
        match h.put(&key.0, &bytes, types) {
            Ok(_) => debug!(function = self.config.namespace, "persist_cache: stored"),
            Err(e) => warn!(function = self.config.namespace, error = %e, "persist_cache: cannot store the result"),
        }
    }

    /// The stored result of `key`, decoded in place; `None` (and a warning)
    /// for a miss, a read error, other types, or bytes that no longer decode.
    fn cached<T: DeserializeOwned>(&self, h: &Handle, key: &Key, types: &Types) -> Option<T> {
        match h.get(&key.0, types, |bytes| Ok(Bincode.decode::<T>(bytes))) {
            Ok(Some(Ok(v))) => {
                debug!(function = self.config.namespace, "persist_cache: hit");
                Some(v)
            }
            Ok(None) => {
                debug!(function = self.config.namespace, "persist_cache: miss");
                None
            }
            Ok(Some(Err(e))) => {
                warn!(function = self.config.namespace, name = %h.name, error = %e,
                    "persist_cache: a stored result no longer decodes; recomputing");
                None
            }
            Err(e @ Error::TypeMismatch { .. }) => {
                warn!(function = self.config.namespace, error = %e, "persist_cache: stored under other types; recomputing");
                None
            }
            Err(e) => {
                warn!(function = self.config.namespace, error = %e, "persist_cache: cannot read the cache; computing");
                None
            }
        }
    }
}

impl FnStore {
    fn open(config: &MemoConfig) -> FnStore {
        let path = resolve_path(config);
        let d = Sha256::digest(config.namespace.as_bytes());
        let mut prefix = [0u8; PREFIX_LEN];
        prefix.copy_from_slice(&d[..PREFIX_LEN]);
        let mut store = FnStore {
            namespace: config.namespace,
            path,
            handle: None,
            prefix,
            config_lru: config.lru_capacity,
            config_durability: config.durability,
            config_expire_days: config.expire_days,
        };
        if disabled_by_env() {
            debug!(function = config.namespace, "PERSISTDICT_DISABLE is set: caching off");
            return store;
        }
        match store.open_handle() {
            Ok(h) => store.handle = Some(h),
            Err(e) => {
                warn!(function = config.namespace, path = %store.path.display(), error = %e,
                    "persist_cache: cannot open the cache; the function runs uncached");
            }
        }
        store
    }

    fn options(&self) -> Options {
        let mut opts = Options::new(&self.path);
        opts.lru_capacity = self.config_lru;
        opts.durability = self.config_durability;
        opts.maintenance = Maintenance::Background;
        opts.expire_after = self.config_expire_days.map(|d| std::time::Duration::from_secs(u64::from(d) * 86_400));
        opts
    }

    fn open_handle(&self) -> Result<Handle> {
        let opts = self.options();
        opts.validate()?;
        let h = Handle::open(opts)?;
        h.store.check_codecs(CODECS)?;
        debug!(function = self.namespace, path = %self.path.display(), "persist_cache: store opened");
        Ok(h)
    }
}

/// The directory of a function's cache: `db` (a relative one against the
/// current directory now), or `<root>/<crate name>/`.
fn resolve_path(config: &MemoConfig) -> PathBuf {
    match config.db {
        Some(db) => {
            let p = PathBuf::from(db);
            if p.is_relative() { std::env::current_dir().map(|c| c.join(&p)).unwrap_or(p) } else { p }
        }
        None => {
            let root = std::env::var_os("PERSISTDICT_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| dirs::cache_dir().unwrap_or_else(std::env::temp_dir).join("persistdict"));
            root.join(config.crate_name)
        }
    }
}

/// Sets the bypass request for a namespace and restores the previous one
/// when dropped, also when the call panics.
struct BypassGuard {
    namespace: &'static str,
    previous: Option<&'static str>,
}

impl BypassGuard {
    fn set(namespace: &'static str) -> Self {
        BypassGuard { namespace, previous: BYPASS.with(|b| b.replace(Some(namespace))) }
    }

    /// Whether the request is still pending (no call consumed it).
    fn unused(&self) -> bool {
        BYPASS.with(|b| b.get() == Some(self.namespace))
    }
}

impl Drop for BypassGuard {
    fn drop(&mut self) {
        BYPASS.with(|b| b.set(self.previous));
    }
}

/// The future of [`MemoStore::uncached_async`]: requests the bypass around
/// every poll of the call (its body checks it at its first poll).
struct Uncached<F> {
    namespace: &'static str,
    inner: Pin<Box<F>>,
}

impl<F: Future> Future for Uncached<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let _guard = BypassGuard::set(self.namespace);
        self.inner.as_mut().poll(cx)
    }
}

/// A call's key: 32 bytes, see the module docs.
#[doc(hidden)]
#[derive(Clone, PartialEq, Eq)]
pub struct Key([u8; KEY_LEN]);

/// Builds a call's key; generated code feeds it the arguments. Finished by
/// the result kind (which knows the stored type).
#[doc(hidden)]
pub struct KeyBuilder {
    hasher: Option<Sha256>,
    store: &'static MemoStore,
    buf: Vec<u8>,
}

/// Arguments that can be part of a `#[persist_cache]` key.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be part of a #[persist_cache] key: it does not implement serde::Serialize",
    label = "this argument is hashed into the cache key",
    note = "derive serde::Serialize for it, or leave it out of the key with #[persist_cache(ignore(arg))]",
    note = "`Arc<T>` and `Rc<T>` implement Serialize only with serde's `rc` feature"
)]
#[doc(hidden)]
pub trait CacheKey: Serialize {}
#[diagnostic::do_not_recommend]
impl<T: Serialize + ?Sized> CacheKey for T {}

/// Results that `#[persist_cache]` can store.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be stored by #[persist_cache]: it must implement serde::Serialize and serde::DeserializeOwned",
    label = "this return type is stored on disk",
    note = "derive serde::Serialize and serde::Deserialize for it (for Result<T, E>, only T needs them)",
    note = "`Arc<T>` and `Rc<T>` implement them only with serde's `rc` feature"
)]
#[doc(hidden)]
pub trait CacheValue: Serialize + DeserializeOwned {}
// `do_not_recommend`: a type that is neither Serialize nor Deserialize gets
// one error (this trait's message), not one per missing serde trait.
#[diagnostic::do_not_recommend]
impl<T: Serialize + DeserializeOwned> CacheValue for T {}

/// The function identity of a call site: `site` is `type_name_of_val` of a
/// closure in the wrapper (or the companion), which ends in one
/// `::{{closure}}` per closure or async block around it. The companion
/// `f_cache` passes `Some(("f_cache", "f"))` so that its identity is the
/// wrapper's: the last path segment (before its generic arguments) is renamed.
fn identity<'a>(site: &'a str, companion: Option<(&str, &str)>) -> Cow<'a, str> {
    let mut s = site;
    while let Some(rest) = s.strip_suffix("::{{closure}}") {
        s = rest;
    }
    let Some((from, to)) = companion else { return Cow::Borrowed(s) };
    let head_end = generics_start(s).unwrap_or(s.len());
    let (head, generics) = s.split_at(head_end);
    match head.strip_suffix(from) {
        Some(parent) if parent.is_empty() || parent.ends_with("::") => Cow::Owned(format!("{parent}{to}{generics}")),
        _ => Cow::Borrowed(s),
    }
}

/// Where the generic arguments of the last path segment of a type name
/// start (`f<u8, 3>` -> the index of `<`), if it has any.
fn generics_start(s: &str) -> Option<usize> {
    if !s.ends_with('>') {
        return None;
    }
    let bytes = s.as_bytes();
    let mut depth = 0usize;
    for i in (0..bytes.len()).rev() {
        match bytes[i] {
            // `->` in a fn pointer type is not a bracket.
            b'>' if i > 0 && bytes[i - 1] == b'-' => {}
            b'>' => depth += 1,
            b'<' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

impl KeyBuilder {
    /// Starts the key of a call: `site` is `type_name_of_val` of a closure
    /// defined in the wrapper (see [`identity`]).
    #[doc(hidden)]
    pub fn new(store: &'static MemoStore, site: &'static str, companion: Option<(&str, &str)>) -> Self {
        let mut hasher = Sha256::new();
        let namespace = store.config.namespace;
        let id = identity(site, companion);
        for part in [namespace.as_bytes(), id.as_bytes()] {
            hasher.update((part.len() as u64).to_le_bytes());
            hasher.update(part);
        }
        KeyBuilder { hasher: Some(hasher), store, buf: Vec::new() }
    }

    /// Adds a concrete type name (the type behind an `impl Trait` argument).
    #[doc(hidden)]
    pub fn ty(&mut self, name: &str) {
        if let Some(h) = &mut self.hasher {
            h.update([b't']);
            h.update((name.len() as u64).to_le_bytes());
            h.update(name.as_bytes());
        }
    }

    /// Adds an argument.
    #[doc(hidden)]
    pub fn arg<T: CacheKey + ?Sized>(&mut self, value: &T) {
        let Some(h) = &mut self.hasher else { return };
        self.buf.clear();
        match crate::canonical::encode(value, &mut self.buf) {
            Ok(()) => {
                h.update([b'a']);
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

    /// Adds an `extra_key` expression's value.
    #[doc(hidden)]
    pub fn extra<T: CacheKey + ?Sized>(&mut self, value: &T) {
        if let Some(h) = &mut self.hasher {
            h.update([b'x']);
        }
        self.arg(value);
    }

    /// The key. The stored type is not part of it: every entry carries its
    /// type fingerprint, and a result stored with another shape (the result
    /// type changed between builds) is a miss that is recomputed and
    /// overwritten, so old bytes are never decoded into a new type and their
    /// space is reclaimed at once.
    fn finish(self) -> Option<Key> {
        let hasher = self.hasher?;
        let digest = hasher.finalize();
        let mut k = [0u8; KEY_LEN];
        k[..PREFIX_LEN].copy_from_slice(&self.store.shared().prefix);
        k[PREFIX_LEN..].copy_from_slice(&digest[..KEY_LEN - PREFIX_LEN]);
        Some(Key(k))
    }
}

/// The entry types of a memo result `T`: key `[u8; 32]`, value `T`, so
/// that [`MemoStore::dict`] reads them as a `PersistDict<[u8; 32], T>`.
fn memo_types<T: DeserializeOwned>() -> Types {
    static CACHE: LazyLock<Mutex<HashMap<&'static str, Types>>> = LazyLock::new(Default::default);
    let name = std::any::type_name::<T>();
    if let Some(t) = CACHE.lock().unwrap_or_else(|e| e.into_inner()).get(name) {
        return *t;
    }
    let t = Types {
        fp: fingerprint::pair(fingerprint::of::<[u8; KEY_LEN]>(), fingerprint::of::<T>()),
        key: std::any::type_name::<[u8; KEY_LEN]>(),
        value: name,
    };
    CACHE.lock().unwrap_or_else(|e| e.into_inner()).insert(name, t);
    t
}

/// What a companion call (`<fn>_cache(args)`) returns: one call's key.
pub struct CallKey {
    store: &'static MemoStore,
    key: Option<Key>,
}

impl CallKey {
    /// The call's key in the function's database ([`MemoStore::dict`]), or
    /// `None` when its arguments could not be encoded.
    pub fn key(&self) -> Option<[u8; KEY_LEN]> {
        self.key.as_ref().map(|k| k.0)
    }

    /// Whether a result is stored for this call (does not refresh its atime).
    /// One written by an older shape of the result type counts; the next
    /// call recomputes and replaces it.
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

/// Probes, at the call site, whether a function's return type is a
/// `Result` (whatever its spelling: an alias, `io::Result<T>`,
/// `fmt::Result`): the compiler resolves aliases, the macro cannot.
/// `(&&KindProbe::<R>::new()).kind()` picks [`ResultKind`] when `R` is a
/// `Result<T, E>` (the `&KindProbe<Result<..>>` impl matches first), else
/// [`PlainKind`] (autoref specialization).
#[doc(hidden)]
pub struct KindProbe<R>(PhantomData<fn() -> R>);

impl<R> KindProbe<R> {
    #[doc(hidden)]
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Self {
        KindProbe(PhantomData)
    }
}

/// The `Result` side of [`KindProbe`].
#[doc(hidden)]
pub trait ResultProbe {
    /// The kind of the probed return type.
    type Kind;
    /// See [`KindProbe`].
    fn kind(&self) -> Self::Kind;
}

impl<T, E> ResultProbe for &KindProbe<std::result::Result<T, E>> {
    type Kind = ResultKind<T, E>;
    fn kind(&self) -> ResultKind<T, E> {
        ResultKind(PhantomData)
    }
}

/// The fallback side of [`KindProbe`].
#[doc(hidden)]
pub trait PlainProbe {
    /// The kind of the probed return type.
    type Kind;
    /// See [`KindProbe`].
    fn kind(&self) -> Self::Kind;
}

impl<R> PlainProbe for KindProbe<R> {
    type Kind = PlainKind<R>;
    fn kind(&self) -> PlainKind<R> {
        PlainKind(PhantomData)
    }
}

/// A function returning `Result<T, E>`: only `Ok` values are stored; `E`
/// needs no trait at all.
#[doc(hidden)]
pub struct ResultKind<T, E>(PhantomData<fn() -> (T, E)>);

/// A function returning anything else: the whole value is stored.
#[doc(hidden)]
pub struct PlainKind<R>(PhantomData<fn() -> R>);

impl<T, E> ResultKind<T, E> {
    /// The call path of a sync function.
    #[doc(hidden)]
    pub fn call(
        self,
        store: &'static MemoStore,
        kb: KeyBuilder,
        body: impl FnOnce() -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E>
    where
        T: CacheValue,
    {
        memoize(store, kb, body, |r| r.as_ref().ok(), Ok)
    }

    /// The call path of an `async fn`.
    #[doc(hidden)]
    pub async fn call_async(
        self,
        store: &'static MemoStore,
        kb: KeyBuilder,
        body: impl Future<Output = std::result::Result<T, E>>,
    ) -> std::result::Result<T, E>
    where
        T: CacheValue,
    {
        memoize_async(store, kb, body, |r| r.as_ref().ok(), Ok).await
    }

    /// The companion's key.
    #[doc(hidden)]
    pub fn call_key(self, store: &'static MemoStore, kb: KeyBuilder) -> CallKey {
        CallKey { store, key: kb.finish() }
    }
}

impl<R> PlainKind<R> {
    /// The call path of a sync function.
    #[doc(hidden)]
    pub fn call(self, store: &'static MemoStore, kb: KeyBuilder, body: impl FnOnce() -> R) -> R
    where
        R: CacheValue,
    {
        memoize(store, kb, body, |r| Some(r), |v| v)
    }

    /// The call path of an `async fn`.
    #[doc(hidden)]
    pub async fn call_async(self, store: &'static MemoStore, kb: KeyBuilder, body: impl Future<Output = R>) -> R
    where
        R: CacheValue,
    {
        memoize_async(store, kb, body, |r| Some(r), |v| v).await
    }

    /// The companion's key.
    #[doc(hidden)]
    pub fn call_key(self, store: &'static MemoStore, kb: KeyBuilder) -> CallKey {
        CallKey { store, key: kb.finish() }
    }
}

/// The call path of sync functions: `stored` picks what of a result is kept
/// (`found` turns a stored value back into a result).
fn memoize<T: CacheValue, R>(
    store: &'static MemoStore,
    kb: KeyBuilder,
    body: impl FnOnce() -> R,
    stored: fn(&R) -> Option<&T>,
    found: fn(T) -> R,
) -> R {
    let types = memo_types::<T>();
    let (Some(h), false) = (store.handle(), store.bypassed()) else { return body() };
    let Some(key) = kb.finish() else { return body() };
    h.store.flights.run(
        &key.0,
        || store.cached(h, &key, &types),
        found,
        || {
            let r = body();
            if let Some(v) = stored(&r) {
                store.store_value(h, &key, v, &types);
            }
            r
        },
    )
}

/// [`memoize`] for `async fn`s.
async fn memoize_async<T: CacheValue, R>(
    store: &'static MemoStore,
    kb: KeyBuilder,
    body: impl Future<Output = R>,
    stored: fn(&R) -> Option<&T>,
    found: fn(T) -> R,
) -> R {
    let types = memo_types::<T>();
    let (Some(h), false) = (store.handle(), store.bypassed()) else { return body.await };
    let Some(key) = kb.finish() else { return body.await };
    let lead = async {
        let r = body.await;
        if let Some(v) = stored(&r) {
            store.store_value(h, &key, v, &types);
        }
        r
    };
    h.store.flights.run_async(&key.0, || store.cached(h, &key, &types), found, lead).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_strips_closures_and_renames_the_companion() {
        assert_eq!(identity("a::f::{{closure}}", None), "a::f");
        assert_eq!(identity("a::af<i16>::{{closure}}::{{closure}}", None), "a::af<i16>");
        assert_eq!(identity("a::f_cache<u8, 3>::{{closure}}", Some(("f_cache", "f"))), "a::f<u8, 3>");
        assert_eq!(identity("<a::A as a::Tr>::m_cache::{{closure}}", Some(("m_cache", "m"))), "<a::A as a::Tr>::m");
        assert_eq!(
            identity("a::Foo<fn(u8) -> u8>::g_cache<alloc::vec::Vec<u8>>::{{closure}}", Some(("g_cache", "g"))),
            "a::Foo<fn(u8) -> u8>::g<alloc::vec::Vec<u8>>"
        );
        // Only a whole segment is renamed.
        assert_eq!(identity("a::xf_cache::{{closure}}", Some(("f_cache", "f"))), "a::xf_cache");
    }

    #[test]
    #[allow(clippy::needless_borrow)]
    fn the_result_probe_sees_through_aliases() {
        type R = std::result::Result<u32, std::fmt::Error>;
        fn is_result<K: 'static>(_: K) -> bool {
            std::any::TypeId::of::<K>() == std::any::TypeId::of::<ResultKind<u32, std::fmt::Error>>()
        }
        assert!(is_result((&&KindProbe::<R>::new()).kind()));
        assert!(!is_result((&&KindProbe::<u32>::new()).kind()));
    }
}
