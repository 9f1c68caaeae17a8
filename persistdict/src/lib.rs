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
pub use lifecycle::integrity::IntegrityReport;
pub use lifecycle::maintenance::Maintenance;
pub use memo::store::{CallKey, MemoStore};
pub use storage::meta::FORMAT_VERSION;
pub use storage::store::Durability;

#[doc(hidden)]
pub mod __private;

#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

/// Memoizes a function on disk; see the [crate docs](crate) and `README.md`.
#[cfg(feature = "macros")]
#[cfg_attr(docsrs, doc(cfg(feature = "macros")))]
pub use persistdict_macros::persist_cache;
