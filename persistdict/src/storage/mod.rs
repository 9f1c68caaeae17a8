//! The LMDB layer, bytes only: the environment registry, the tables and
//! their transactions, map growth, the record envelope, stored keys and the
//! meta table. It knows nothing of types, threads, expiry policy, single
//! flight or the macro; the layers above keep their per-environment state
//! in the store's [`Extensions`](store::Extensions), keyed by type.

#[cfg(unix)]
pub(crate) mod btree_check;
pub(crate) mod clock;
pub(crate) mod fork;
pub(crate) mod key;
pub(crate) mod meta;
pub(crate) mod platform;
pub(crate) mod record;
pub(crate) mod registry;
pub(crate) mod store;
