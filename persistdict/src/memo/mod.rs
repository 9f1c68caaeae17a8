//! What `#[persist_cache]` runs: the per-function store shared by a function
//! and its companion, call keys (function identity and canonical argument
//! encoding), the `Result` probe, and the call paths over the dictionary
//! layer's single flight.

pub(crate) mod call;
pub(crate) mod capture;

pub(crate) mod key;
pub(crate) mod lease;
pub(crate) mod offload;
pub(crate) mod run;
pub(crate) mod store;
pub(crate) mod versions;
