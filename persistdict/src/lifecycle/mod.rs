//! What happens to entries over time, on the byte-level store: expiry
//! sweeps over the (window, atime) index, the maintenance thread, and the
//! integrity check of records and indexes.

pub(crate) mod atime_index;
pub(crate) mod budget;
pub(crate) mod compact;
pub(crate) mod expiry;
pub(crate) mod integrity;
pub(crate) mod maintenance;
