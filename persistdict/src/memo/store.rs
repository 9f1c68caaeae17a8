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

use std::cell::Cell;
use std::collections::HashMap;

use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, OnceLock};
use std::task::{Context, Poll};

use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use tracing::{debug, warn};

use crate::codec::{Bincode, Codec};
use crate::dict::builder::Options;
use crate::dict::fingerprint::Types;
use crate::dict::handle::Handle;
use crate::dict::stats::Stats;
use crate::error::{Error, Result};
use crate::lifecycle::maintenance::Maintenance;
use crate::memo::key::{KEY_LEN, Key, PREFIX_LEN};
use crate::memo::lease::Lease;
use crate::memo::versions::UseClock;
use crate::storage::clock;
use crate::storage::store::Durability;

/// What the attribute was given; built by generated code.
#[doc(hidden)]
#[derive(Debug)]
pub struct MemoConfig {
    pub db: Option<&'static str>,
    pub crate_name: &'static str,
    pub namespace: &'static str,
    /// `expire = "12h"` or `expire_days = N`, in milliseconds.
    pub expire_ms: Option<u64>,
    /// `fresh_for = "1h"`, in milliseconds.
    pub fresh_for_ms: Option<u64>,
    /// `on_error = "serve_stale"`.
    pub serve_stale: bool,
    /// `single_flight = "machine"` (true, the default) or `"process"`.
    pub machine_flight: bool,
    /// `lease_timeout = "30s"`, in milliseconds.
    pub lease_timeout_ms: u64,
    /// `capture_args = false` turns it off (see `capture.rs`).
    pub capture_args: bool,
    /// `refresh = "background"`.
    pub refresh_background: bool,
    pub durability: Durability,
    pub lru_capacity: usize,
    /// `max_size`, in bytes.
    pub max_bytes: Option<u64>,
    pub max_entries: Option<u64>,
    /// `module_path!()` where the function is defined.
    pub module: &'static str,
    /// `file:line:column` of the function's name, to tell apart two
    /// identical functions nested in two blocks of one function (see
    /// `key.rs`).
    pub location: &'static str,
    /// `prune = "auto"`: remove superseded versions of the function once
    /// unused (see `versions.rs`).
    pub prune_auto: bool,
    /// `name = "..."` was given: the name is the function, for versions.
    pub named: bool,
    /// `remote = false` turns this off: the function stays off the remote
    /// tier (feature `redis`) even when `PERSISTDICT_REMOTE` is set.
    pub remote: bool,
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
    /// The key hasher's state after the namespace and the identity of the
    /// first call site seen (the only one, unless the function is generic):
    /// the hot path clones it instead of hashing them again.
    key_base: OnceLock<(std::any::TypeId, Sha256)>,
    /// The entry types of the first result type seen (likewise).
    types: OnceLock<(std::any::TypeId, Types)>,
}

/// What the wrapper and the companion of one function share.
struct FnStore {
    namespace: &'static str,
    path: PathBuf,
    handle: Option<Handle>,
    /// The 8-byte prefix of this function's keys: SHA-256 of the namespace
    /// and the function's path (see [`FnStore::set_function_path`]), so that
    /// two functions of one namespace string (identical functions nested
    /// in two functions, or methods of two impls) keep their entries apart
    /// for `clear()` and pruning.
    prefix: OnceLock<[u8; PREFIX_LEN]>,
    config_lru: usize,
    config_durability: Durability,
    config_expire_ms: Option<u64>,
    config_max_bytes: Option<u64>,
    config_max_entries: Option<u64>,
    use_clock: UseClock,
    auto_prune: bool,
    counters: Counters,
    /// The closure type behind each identity string used in this process
    /// (wrapper and companion apart, as their closures differ).
    identities: Mutex<HashMap<(String, bool), std::any::TypeId>>,
    /// The function's path for version records: its first call site's
    /// identity without generic arguments, so that two functions of one
    /// name (nested in two functions, methods of two impls) are never
    /// taken for two versions of one (see `versions.rs`).
    function_path: OnceLock<String>,
    #[cfg(feature = "redis")]
    remote: Option<crate::remote::FnRemote>,
}

/// Every function store of the process, by full configuration.
static FN_STORES: LazyLock<Mutex<HashMap<String, Arc<FnStore>>>> = LazyLock::new(Default::default);

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
        MemoStore { config, shared: OnceLock::new(), key_base: OnceLock::new(), types: OnceLock::new() }
    }

    fn shared(&self) -> &FnStore {
        self.shared.get_or_init(|| {
            let id = format!("{:?}", self.config);
            let mut stores = FN_STORES.lock().unwrap_or_else(|e| e.into_inner());
            stores.entry(id).or_insert_with(|| Arc::new(FnStore::open(&self.config))).clone()
        })
    }

    /// The function's namespace (path, signature and body digests).
    pub(crate) fn namespace(&self) -> &'static str {
        self.config.namespace
    }

    /// The key hasher after the namespace and the call site's identity,
    /// from the cache when `site_id` (the call site's closure type) is the
    /// cached one. `None` when another type of this process already used
    /// the same identity string (see [`FnStore::claim_identity`]): that call
    /// runs uncached.
    pub(crate) fn key_base(
        &self,
        site_id: std::any::TypeId,
        identity: impl FnOnce() -> (String, bool),
        compute: impl FnOnce(&str) -> Sha256,
    ) -> Option<Sha256> {
        if let Some((cached, h)) = self.key_base.get()
            && *cached == site_id
        {
            return Some(h.clone());
        }
        let (id, companion) = identity();
        if !self.shared().claim_identity(&id, companion, site_id) {
            return None;
        }
        self.shared().set_function_path(&id);
        let h = compute(&id);
        let _ = self.key_base.set((site_id, h.clone()));
        Some(h)
    }

    /// The entry types of result type `T`, from the cache when it is the cached one.
    pub(crate) fn types_of<T>(&self, compute: impl FnOnce() -> Types) -> Types {
        let id = typeid::of::<T>();
        if let Some((cached, t)) = self.types.get()
            && *cached == id
        {
            return *t;
        }
        let t = compute();
        let _ = self.types.set((id, t));
        t
    }

    /// The function's module path and source location.
    pub(crate) fn place(&self) -> (&'static str, &'static str) {
        (self.config.module, self.config.location)
    }

    /// The 8-byte key prefix of this function's entries.
    pub(crate) fn prefix(&self) -> [u8; PREFIX_LEN] {
        self.shared().prefix()
    }

    pub(crate) fn use_clock(&self) -> &UseClock {
        &self.shared().use_clock
    }

    pub(crate) fn auto_prune(&self) -> bool {
        self.shared().auto_prune
    }

    pub(crate) fn handle(&self) -> Option<&Handle> {
        self.shared().handle.as_ref()
    }

    /// The function's view of the remote tier, when it is on.
    #[cfg(feature = "redis")]
    pub(crate) fn remote(&self) -> Option<&crate::remote::FnRemote> {
        self.shared().remote.as_ref()
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
    /// all generic instantiations), and returns how many; another function
    /// of the same name and body (nested in another function, a method of
    /// another impl) keeps its entries, here and on the remote tier.
    ///
    /// # Errors
    /// When the cache is off or the write fails.
    pub fn clear(&self) -> Result<usize> {
        let shared = self.shared();
        let h = shared.handle.as_ref().ok_or_else(|| self.off())?;
        let keys: Vec<Vec<u8>> =
            crate::memo::versions::entries_of(h, &shared.prefix())?.into_iter().map(|(k, _)| k).collect();
        #[cfg(feature = "redis")]
        crate::remote::clear(self);
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
        let mut s = self.handle().ok_or_else(|| self.off())?.stats()?;
        self.counters().fill(&mut s);
        #[cfg(feature = "redis")]
        crate::remote::fill_stats(self, &mut s);
        Ok(s)
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
    pub(crate) fn bypassed(&self) -> bool {
        BYPASS.with(|b| {
            if b.get() == Some(self.config.namespace) {
                b.set(None);
                true
            } else {
                false
            }
        })
    }

    pub(crate) fn off(&self) -> Error {
        Error::InvalidOption {
            path: self.path(),
            message: format!("the cache of {} is off (disabled, or it could not be opened)", self.config.namespace),
        }
    }

    /// The function's policies.
    pub(crate) fn policy(&self) -> Policy {
        Policy {
            machine: self.config.machine_flight,
            lease_timeout_ms: self.config.lease_timeout_ms.max(1),
            serve_stale: self.config.serve_stale,
            refresh_background: self.config.refresh_background,
        }
    }

    /// The function as version records name it: the user's `name`, else
    /// the path of its first call site (`None` before any call).
    pub(crate) fn function_name(&self) -> Option<String> {
        if self.config.named {
            return None;
        }
        self.shared().function_path.get().cloned()
    }

    /// Whether calls store their arguments (`capture_args`).
    pub(crate) fn captures_args(&self) -> bool {
        self.config.capture_args
    }

    /// The function's call counters.
    pub(crate) fn counters(&self) -> &Counters {
        &self.shared().counters
    }

    /// The bytes to store for `value`, or `None` (and a warning) when it
    /// cannot be encoded or would not read back as written.
    pub(crate) fn prepare_value<T: Serialize + DeserializeOwned>(&self, value: &T) -> Option<Vec<u8>> {
        let bytes = match Bincode.encode(value) {
            Ok(b) => b.into_owned(),
            Err(e) => {
                warn!(function = self.config.namespace, error = %e, "persist_cache: cannot encode the result; not stored");
                return None;
            }
        };
        // A result that would not read back as written (a Serialize and a
        // Deserialize that disagree, e.g. #[serde(skip_serializing_if)]) is
        // not stored: it would come back as another value.
        let reads_back = Bincode.decode::<T>(&bytes).is_ok_and(|v| crate::dict::canonical::same_value(value, &v));
        if !reads_back {
            warn!(
                function = self.config.namespace,
                "persist_cache: the result does not read back as written (#[serde(skip_serializing_if)]?); not stored"
            );
            return None;
        }
        Some(bytes)
    }

    /// Stores a computed result (its ctime restarts: freshness counts from
    /// now) and releases `lease` in the same transaction; true if stored.
    pub(crate) fn put_value(
        &self,
        h: &Handle,
        key: &Key,
        bytes: &[u8],
        types: &Types,
        lease: Option<&Lease>,
        args: Option<&[u8]>,
    ) -> bool {
        let lookup = h.lookup(&key.0);
        let put = h.put_with(&key.0, bytes, types, true, |txn| {
            if let Some(a) = args {
                h.store.t.args.put(txn, lookup.stored(), a).map_err(h.store.lm("storing the captured arguments"))?;
            }
            match lease {
                Some(l) => crate::memo::lease::release_in(h, txn, &key.0, l),
                None => Ok(()),
            }
        });
        match put {
            Ok(_) => {
                debug!(function = self.config.namespace, bytes = bytes.len(), "persist_cache: stored");
                true
            }
            Err(e) => {
                warn!(function = self.config.namespace, error = %e, "persist_cache: cannot store the result");
                false
            }
        }
    }

    /// The stored result of `key` if it is fresh; a stale one goes to
    /// `stale` (for `on_error = "serve_stale"`) and reads as `None`, as do
    /// a miss, a read error, other types, or bytes that no longer decode
    /// (with a warning).
    pub(crate) fn look<T: DeserializeOwned>(
        &self,
        h: &Handle,
        key: &Key,
        types: &Types,
        stale: &Mutex<Option<T>>,
    ) -> Option<T> {
        match h.get(&key.0, types, |bytes, header| Ok((Bincode.decode::<T>(bytes), header.ctime_ms))) {
            Ok(Some((Ok(v), ctime_ms))) => {
                if let Some(fresh_for) = self.config.fresh_for_ms
                    && !crate::memo::run::is_fresh(ctime_ms, clock::now_ms(), fresh_for)
                {
                    debug!(function = self.config.namespace, "persist_cache: stale (past fresh_for); recomputing");
                    *stale.lock().unwrap_or_else(|e| e.into_inner()) = Some(v);
                    return None;
                }
                debug!(function = self.config.namespace, "persist_cache: hit");
                Some(v)
            }
            Ok(None) => {
                debug!(function = self.config.namespace, "persist_cache: miss");
                None
            }
            Ok(Some((Err(e), _))) => {
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

/// A function's policies (see `run.rs`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Policy {
    pub machine: bool,
    pub lease_timeout_ms: u64,
    pub serve_stale: bool,
    pub refresh_background: bool,
}

/// What a function's calls did in this process, for [`Stats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    computes: AtomicU64,
    compute_us: AtomicU64,
    waits: AtomicU64,
    stale_serves: AtomicU64,
    errors: AtomicU64,
}

impl Counters {
    pub(crate) fn hit(&self) {
        self.hits.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn miss(&self) {
        self.misses.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn waited(&self) {
        self.waits.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn failed(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn computed(&self, store: &MemoStore, took: std::time::Duration) {
        self.computes.fetch_add(1, Ordering::Relaxed);
        self.compute_us.fetch_add(took.as_micros() as u64, Ordering::Relaxed);
        debug!(function = store.namespace(), compute_ms = took.as_secs_f64() * 1e3, "persist_cache: computed");
    }
    pub(crate) fn served_stale(&self, store: &MemoStore) {
        self.stale_serves.fetch_add(1, Ordering::Relaxed);
        warn!(function = store.namespace(), "persist_cache: the recomputation failed; serving the last stored result");
    }

    fn fill(&self, s: &mut Stats) {
        s.memo_hits = self.hits.load(Ordering::Relaxed);
        s.memo_misses = self.misses.load(Ordering::Relaxed);
        s.memo_computes = self.computes.load(Ordering::Relaxed);
        s.memo_compute_time = std::time::Duration::from_micros(self.compute_us.load(Ordering::Relaxed));
        s.memo_waits = self.waits.load(Ordering::Relaxed);
        s.memo_stale_serves = self.stale_serves.load(Ordering::Relaxed);
        s.memo_errors = self.errors.load(Ordering::Relaxed);
    }
}

impl FnStore {
    fn open(config: &MemoConfig) -> FnStore {
        let path = resolve_path(config);
        let mut store = FnStore {
            namespace: config.namespace,
            path,
            handle: None,
            prefix: OnceLock::new(),
            config_lru: config.lru_capacity,
            config_durability: config.durability,
            config_expire_ms: config.expire_ms,
            config_max_bytes: config.max_bytes,
            config_max_entries: config.max_entries,
            use_clock: UseClock::default(),
            counters: Counters::default(),
            identities: Mutex::new(HashMap::new()),
            function_path: OnceLock::new(),
            auto_prune: config.prune_auto,
            #[cfg(feature = "redis")]
            remote: crate::remote::FnRemote::for_function(config),
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

    /// Fixes the function's path (its first call site's identity without
    /// generic arguments) and with it the key prefix. Every key is built
    /// after this (`KeyBuilder::new` runs before anything reads the prefix).
    fn set_function_path(&self, id: &str) {
        let path = self.function_path.get_or_init(|| crate::memo::key::without_generics(id).to_string());
        self.prefix.get_or_init(|| {
            let mut h = Sha256::new();
            h.update(self.namespace.as_bytes());
            h.update([0]);
            h.update(path.as_bytes());
            let d = h.finalize();
            let mut p = [0u8; PREFIX_LEN];
            p.copy_from_slice(&d[..PREFIX_LEN]);
            p
        });
    }

    /// The key prefix (the namespace's alone if no key was built yet).
    fn prefix(&self) -> [u8; PREFIX_LEN] {
        *self.prefix.get_or_init(|| {
            let d = Sha256::digest(self.namespace.as_bytes());
            let mut p = [0u8; PREFIX_LEN];
            p.copy_from_slice(&d[..PREFIX_LEN]);
            p
        })
    }

    /// Records that `site_id` uses identity `id`; false when another type
    /// already did. Rust's type names are not unique (two local `struct M`
    /// in two blocks of one function have one name, and so do two closures
    /// of one function), so two instantiations of a generic function could
    /// get one key: in this process the second is caught here, runs
    /// uncached and warns. (Across processes it cannot be told; the docs
    /// say so.)
    fn claim_identity(&self, id: &str, companion: bool, site_id: std::any::TypeId) -> bool {
        let mut ids = self.identities.lock().unwrap_or_else(|e| e.into_inner());
        match ids.get(&(id.to_string(), companion)) {
            Some(known) if *known == site_id => true,
            Some(_) => {
                warn!(
                    function = self.namespace,
                    identity = id,
                    "persist_cache: two different types share this type name (local items in two blocks of one function?); this instantiation runs uncached"
                );
                false
            }
            None => {
                ids.insert((id.to_string(), companion), site_id);
                true
            }
        }
    }

    fn options(&self) -> Options {
        let mut opts = Options::new(&self.path);
        opts.lru_capacity = self.config_lru;
        opts.durability = self.config_durability;
        opts.maintenance = Maintenance::Background;
        opts.expire_after = self.config_expire_ms.map(std::time::Duration::from_millis);
        opts.max_bytes = self.config_max_bytes;
        opts.max_entries = self.config_max_entries;
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

/// What a companion call (`<fn>_cache(args)`) returns: one call's key,
/// in the function's own store.
///
/// ```
/// # #[cfg(feature = "macros")] {
/// # let dir = tempfile::tempdir().unwrap();
/// # std::env::set_current_dir(dir.path()).unwrap();
/// #[persistdict::persist_cache(db = "cache/len")]
/// fn len(text: String) -> usize { text.len() }
///
/// let call = len_cache("hi".to_string());
/// assert!(!call.is_cached());
/// assert_eq!(len("hi".to_string()), 2);
/// assert!(call.is_cached());
/// let key = call.key().expect("the arguments encode");
/// let stored = call.store().dict::<usize>().unwrap().get(&key).unwrap();
/// assert_eq!(stored, Some(2));
/// assert!(call.invalidate().unwrap());
/// # }
/// ```
pub struct CallKey {
    pub(crate) store: &'static MemoStore,
    pub(crate) key: Option<Key>,
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
            Some(k) => {
                #[cfg(feature = "redis")]
                crate::remote::invalidate(self.store, k);
                h.remove(&k.0)
            }
            None => Ok(false),
        }
    }

    /// The function's whole cache: clear, stats, path, uncached calls.
    pub fn store(&self) -> &'static MemoStore {
        self.store
    }
}
