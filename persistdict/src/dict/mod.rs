//! The typed facade: [`PersistDict`](persist_dict::PersistDict) and its
//! [`Builder`](builder::Builder), codecs and type fingerprints, the
//! per-handle view of a store with its LRU front cache, iteration, and the
//! single-flight primitive behind `get_or_insert_with` (which the macro's
//! memo layer uses too).

pub(crate) mod builder;
pub(crate) mod canonical;
pub(crate) mod fingerprint;
pub(crate) mod front_cache;
pub(crate) mod handle;
pub(crate) mod integrity;
pub(crate) mod iter;
pub(crate) mod memoize;
pub(crate) mod persist_dict;
pub(crate) mod shape;
pub(crate) mod stats;
