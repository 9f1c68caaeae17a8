//! # persistdict
//!
//! Remember expensive results across runs: a typed dictionary that lives on
//! disk ([`PersistDict`]), and an attribute that memoizes a function in one
//! (`#[persist_cache]`). Storage is LMDB (through `heed`): reads are
//! memory-mapped and fast, writes are transactional, and any number of
//! threads and processes may share one database directory.
//!
//! ```
//! use persistdict::PersistDict;
//! # let dir = tempfile::tempdir()?;
//! # let path = dir.path().join("embeddings");
//! let d: PersistDict<String, Vec<f32>> = PersistDict::builder(&path).expire_days(30).open()?;
//! d.insert("hello", &vec![0.25, 0.5])?;
//! drop(d);
//!
//! // Later, in this or another process:
//! let d: PersistDict<String, Vec<f32>> = PersistDict::open(&path)?;
//! assert_eq!(d.get("hello")?, Some(vec![0.25, 0.5]));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Memoizing a function
//!
//! ```
//! # #[cfg(feature = "macros")] {
//! # let dir = tempfile::tempdir().unwrap();
//! # std::env::set_current_dir(dir.path()).unwrap();
//! use persistdict::persist_cache;
//!
//! #[persist_cache(db = "cache/lengths", expire_days = 30)]
//! fn slow_len(text: &str) -> usize {
//!     text.chars().count() // stands for an expensive call
//! }
//!
//! assert_eq!(slow_len("héllo"), 5); // computed and stored
//! assert_eq!(slow_len("héllo"), 5); // read back, in this run or the next
//! assert!(slow_len_cache("héllo").is_cached());
//! # }
//! ```
//!
//! The key is the SHA-256 of the arguments (in a canonical encoding: equal
//! maps and sets give equal keys) in a namespace per function: its path,
//! signature and body, its enclosing items and the concrete values of all
//! its generic parameters and its `impl` block's. `Result` caches only `Ok`,
//! however it is spelled; a stored result whose type changed shape is
//! recomputed, never decoded into the new type; any cache failure means
//! "compute and warn". See the README for every option and the companion
//! item `<fn>_cache(args)`.
//!
//! ## Lifecycle of an entry
//!
//! Each entry records its ctime (first insert, kept on overwrite) and atime
//! (last read or write, refreshed at a bounded granularity so reads stay
//! read-only transactions), see [`PersistDict::metadata`]. Expiry is per
//! entry: an entry written by a handle with an expiry window expires when it
//! has not been used for that long, whoever else opens the directory; one
//! written without a window never expires. Maintenance (see [`Maintenance`])
//! and [`PersistDict::expire`] remove what is due, at a cost proportional to
//! what expires. [`PersistDict::check_integrity`] verifies and repairs.
//!
//! ```
//! use std::time::Duration;
//! use persistdict::{Maintenance, PersistDict};
//! # let dir = tempfile::tempdir()?;
//! let d: PersistDict<u32, String> = PersistDict::builder(dir.path())
//!     .expire_after(Duration::from_millis(50))
//!     .maintenance(Maintenance::Disabled) // expire() by hand here
//!     .open()?;
//! d.insert(&1, &"old".to_string())?;
//! let meta = d.metadata(&1)?.expect("present");
//! assert_eq!(meta.ctime, meta.atime);
//! std::thread::sleep(Duration::from_millis(80));
//! d.insert(&2, &"new".to_string())?;
//! assert_eq!(d.expire()?, 1); // entry 1 was not used for 50 ms
//! assert_eq!(d.get(&1)?, None);
//! assert!(d.check_integrity()?.is_clean());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Safety of the files
//!
//! Every record carries checksums: a value whose bytes changed on disk is an
//! [`Error::Corrupt`], never a wrong value. Every record also carries a
//! fingerprint of the serde shape of the key and value types it was written
//! with: bincode is not self-describing, so reading it through other types
//! is [`Error::TypeMismatch`] rather than a wrong value. The LMDB header and
//! file length are checked before the file is mapped. LMDB itself has no
//! page checksums, though: a file corrupted deep inside its B-tree can still
//! crash the process that reads it ([`PersistDict::check_integrity`] walks
//! the file itself first and reports the damaged page instead). New
//! directories are therefore created owner-only (0700); do not point
//! persistdict at files others can write. A handle inherited through
//! `fork()` answers [`Error::OpenedBeforeFork`]: open databases after forking.
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod dict;
mod error;
mod lifecycle;
mod memo;
pub mod raw;
#[cfg(feature = "redis")]
mod remote;
mod storage;

#[path = "dict/codec.rs"]
pub mod codec;

#[cfg(feature = "json")]
pub use codec::Json;
pub use codec::{Bincode, Codec};
pub use dict::builder::{Builder, MAX_KEY_SIZE};
pub use dict::persist_dict::{EntryMeta, PersistDict};
pub use dict::stats::Stats;
pub use error::{Error, Result};
pub use lifecycle::compact::{Compacted, compact_in_place};
pub use lifecycle::integrity::IntegrityReport;
pub use lifecycle::maintenance::Maintenance;
pub use memo::store::{CallKey, MemoStore};
pub use memo::versions::{
    AUTO_PRUNE_AFTER, DEFAULT_MIN_IDLE, FunctionVersion, PruneReport, USE_REFRESH, functions, prune_stale_versions,
};
pub use storage::meta::FORMAT_VERSION;
pub use storage::store::Durability;

#[doc(hidden)]
pub mod __private;

#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

/// Memoizes a function persistently: every distinct call is computed once,
/// stored in an LMDB database on disk, and answered from there afterwards,
/// in this run and the next, by every thread and process on the machine.
///
/// ```
/// # #[cfg(feature = "macros")] {
/// # let dir = tempfile::tempdir().unwrap();
/// # std::env::set_current_dir(dir.path()).unwrap();
/// use persistdict::persist_cache;
///
/// #[persist_cache(db = "cache/embeddings", expire_days = 30)]
/// fn embed(text: &str, model: &str) -> Vec<f32> {
///     // stands for an expensive API call
///     text.bytes().chain(model.bytes()).map(f32::from).collect()
/// }
///
/// let first = embed("hello", "ada");          // computed and stored
/// assert_eq!(embed("hello", "ada"), first);   // read back, now or in a later run
/// assert!(embed_cache("hello", "ada").is_cached());
/// # }
/// ```
///
/// # Options
///
/// All optional, written `#[persist_cache(option = value, ...)]`:
///
/// | option | meaning | default |
/// |---|---|---|
/// | `db = "path"` | the database directory; a relative path resolves against the current directory at the first call of the function or its companion (once, for both) | `<root>/<crate name>/`, where `<root>` is `$PERSISTDICT_DIR`, else `persistdict/` in the platform's user cache folder (`~/.cache` on Linux) |
/// | `expire = "12h"` (or `expire_days = N`) | results unused for that long expire (per entry: other functions sharing the `db` keep their own windows); a duration: `ms`, `s`, `m`, `h`, `d`/`days`, `w` | never |
/// | `fresh_for = "1h"` | a result older than this *since it was computed* is recomputed at the next call (the old one stays until the new one is stored); survives restarts (the time is in the database) | always fresh |
/// | `on_error = "serve_stale"` | for a `Result` function (a compile error otherwise): when recomputing a stale result fails, return the last stored `Ok` instead, with a warning | the `Err` |
/// | `refresh = "background"` | with `fresh_for`, for a sync function with owned arguments (compile errors say which otherwise): past `fresh_for`, return the stored result at once and recompute it on a thread of its own, single-flighted | recompute before returning |
/// | `capture_args = false` | do not store a JSON rendering of each call's arguments beside its result (stored on a miss only, at most 4 KiB, for `persistdict ls`/`rm --where`; ignored arguments are never captured) | `true` |
/// | `single_flight = "machine" \| "process"` | who computes a call once when many ask at the same time: every process on the machine (a lease in the database; waiters take over from a leader that died or froze) or each process alone | `"machine"` |
/// | `lease_timeout = "30s"` | with `"machine"`: a leader's lease not renewed for this long is taken over (a live leader renews it every third of it) | `"30s"` |
/// | `extra_key = <expr>` | any `Serialize` expression, evaluated at each call with the arguments in scope, folded into the key: a model version, a file's mtime or hash, a helper's version constant — what the namespace cannot see | none |
/// | `version = "..."` | pins the namespace: results survive edits of the body (bump it when the meaning changes) | a digest of the body's tokens: editing the body invalidates old results; comments and whitespace do not |
/// | `name = "..."` | the namespace's name, instead of the module path and function name (stable across moves and renames) | `module_path!()::fn_name` |
/// | `ignore(arg, ...)` | arguments left out of the key (a client, a logger, `self`); required for `&mut` arguments and `&mut self` | none |
/// | `durability = "sync" \| "no_meta_sync" \| "no_sync"` | what a commit waits for, see [`Durability`] | `"no_meta_sync"` (a lost result after an OS crash is recomputed) |
/// | `lru_capacity = N` | results kept in memory in front of LMDB (their bytes; 0 turns it off) | 128 |
/// | `max_entries = N` | a budget of the function's `db`: at most `N` results, least recently used evicted first (see [`Builder::max_entries`]) | none |
/// | `max_size = "2 GiB"` | a budget of the `db`'s bytes (B, KB, MB, GB, KiB, MiB, GiB; at least 64 KiB), see [`Builder::max_bytes`] | none |
/// | `prune = "auto" \| "manual"` | `"auto"`: once this version of the function has been in use for a day, remove the entries of its older versions (an edited body or signature) unused for a day, see [`functions`] and [`MemoStore::prune_stale_versions`] | `"manual"` |
/// | `remote = false` | keeps the function off the remote tier (feature `redis`, turned on by `PERSISTDICT_REMOTE`; see the README, "Sharing across machines") | on when `PERSISTDICT_REMOTE` is set |
/// | `companions = false` | leaves out the companion item (needed in trait impls, which cannot hold extra methods) | `true` |
/// | `crate = "path"` | where `persistdict` is, for renamed dependencies | `::persistdict` |
///
/// # The key
///
/// A result is only ever returned for the same computation. The key is the
/// SHA-256 of:
/// - the namespace: module path, function name, a digest of the signature
///   and of the body's tokens (or `version`);
/// - the function's exact identity: its enclosing items (two identical
///   nested functions in two functions, or one method in two `impl` blocks
///   or trait impls, are apart) and the concrete value of every generic
///   parameter of the function and of its `impl` block, type and const
///   generics alike;
/// - the arguments (all but the ignored ones), in a canonical encoding:
///   equal `HashMap`s and `HashSet`s give the same key whatever their
///   iteration order; a `Vec`'s order counts.
///
/// Generic parameters are told apart by their type names, and Rust's type
/// names are not unique: two closures defined in one function have one,
/// and so do two local items of one name in two blocks of one function.
/// Within a process the second such type is caught (its closure's type id
/// differs) and its calls run uncached, with a warning; across processes
/// or runs it cannot be told apart, so give such types distinct names, or
/// such calls an argument that tells them apart.
///
/// Every stored result carries the fingerprint of its type's serde shape: a
/// result type changed between builds (a field reordered, retyped, a
/// variant added) is recomputed and replaced, never decoded into the new
/// type. Arguments must implement `Serialize`, the result `Serialize` and
/// `Deserialize` (`Arc<T>` and `Rc<T>` need serde's `rc` feature).
///
/// # Results and failures
///
/// - A `Result<T, E>`, however spelled (`io::Result<T>`, `fmt::Result`, an
///   alias, a generic or associated type that is a `Result`), stores only
///   `Ok`; `E` need not be serializable.
/// - The cache never breaks the function: if the database cannot be opened,
///   read or written, or a stored result no longer decodes, the function
///   runs and returns normally and a `tracing` warning says why (install a
///   `tracing` subscriber to see it).
/// - Single flight: concurrent callers with the same arguments compute once
///   — across every process of the machine by default (`single_flight`),
///   else within the process; different arguments never wait on each other.
///   The leader writes a lease (its pid and process start time) before it
///   computes and removes it with the result, in the transaction that
///   stores it: a miss costs two write transactions. Waiters poll with
///   backoff (1 ms to 100 ms) and take over when the leader's process is
///   gone (a reused pid is not mistaken for it) or its lease was not renewed
///   within `lease_timeout`. Two processes computing calls that need each
///   other's results do not wait forever: a caller that is itself computing
///   under a lease waits 2 s at most, any caller 4 lease timeouts, then
///   computes too, with a warning.
/// - Failing calls: when the leader fails (an `Err`, a panic), the callers
///   that waited for it each try at once, concurrently, rather than one
///   after another.
/// - `async fn`s never block their executor on the disk: their writes run on
///   a writer thread and their waits on a timer thread (no runtime
///   dependency).
/// - What the namespace cannot see: helpers the body calls, files behind a
///   path argument, a remote model's version. Pin them with `version`, or
///   fold them into the key with `extra_key`.
/// - `store().stats()` counts this process's hits, misses, computations
///   (and their time), waits for other processes, stale serves and errors;
///   `tracing` debug events say the same per call, with the function's name.
/// - `&mut` arguments and `&mut self` are a compile error unless ignored:
///   on a hit the body does not run, so its changes would silently vanish.
///
/// # The companion
///
/// `<fn>_cache(args)` (same arguments, same generics; a method for methods)
/// returns the [`CallKey`] of that call: `.is_cached()`, `.invalidate()`,
/// `.key()`, and `.store()`, the function's [`MemoStore`]: `clear()`,
/// `stats()`, `path()`, `uncached(|| f(args))` and
/// `uncached_async(f(args))` to run the body past the cache, and `dict::<T>()`.
/// It shares the function's one store.
///
/// ```
/// # #[cfg(feature = "macros")] {
/// # let dir = tempfile::tempdir().unwrap();
/// # std::env::set_current_dir(dir.path()).unwrap();
/// #[persistdict::persist_cache(db = "cache/parse")]
/// fn parse(text: &str) -> Result<u32, std::num::ParseIntError> {
///     text.trim().parse()
/// }
///
/// assert!(parse("x").is_err());
/// assert!(!parse_cache("x").is_cached()); // an Err is not stored
/// assert_eq!(parse(" 7"), Ok(7));
/// assert!(parse_cache(" 7").is_cached());
/// assert!(parse_cache(" 7").invalidate().unwrap());
/// # }
/// ```
///
/// # Environment variables
///
/// Read at a function's first call:
/// - `PERSISTDICT_DISABLE=1` (or `true`, `yes`): every cache off, every call computes.
/// - `PERSISTDICT_DIR=path`: the root of the default databases (functions without `db`).
///
/// Clearing a cache: `<fn>_cache(..).store().clear()` removes one
/// function's results; deleting the directory removes everything.
///
/// # Forms
///
/// `fn` and `async fn` (the key is built before the first `.await`; no lock
/// is held across one), free functions, methods (`self` is part of the key
/// unless ignored), associated functions, trait impls (`companions = false`),
/// generic functions, `impl Trait` arguments and destructuring patterns.
///
/// # Compile errors
///
/// Misuse is an error pointing at the offending token, tested with trybuild
/// (`tests/ui/fail`): an unknown or duplicate option (the message lists the
/// valid ones), a non-serializable argument or result, a borrowed or `impl
/// Trait` result, `&mut` arguments, `const`/`extern`/variadic functions,
/// `ignore` naming no argument, an empty `db`, an unknown durability.
#[cfg(feature = "macros")]
#[cfg_attr(docsrs, doc(cfg(feature = "macros")))]
#[doc(inline)]
pub use persistdict_macros::persist_cache;
