//! Option names: one spelling, used by the parser and the error messages.

pub const DB: &str = "db";
pub const EXPIRE_DAYS: &str = "expire_days";
pub const VERSION: &str = "version";
pub const IGNORE: &str = "ignore";
pub const NAME: &str = "name";
pub const DURABILITY: &str = "durability";
pub const LRU_CAPACITY: &str = "lru_capacity";
pub const COMPANIONS: &str = "companions";
pub const CRATE: &str = "crate";
pub const MAX_ENTRIES: &str = "max_entries";
pub const MAX_SIZE: &str = "max_size";
pub const PRUNE: &str = "prune";
pub const EXPIRE: &str = "expire";
pub const FRESH_FOR: &str = "fresh_for";
pub const ON_ERROR: &str = "on_error";
pub const SINGLE_FLIGHT: &str = "single_flight";
pub const LEASE_TIMEOUT: &str = "lease_timeout";
pub const EXTRA_KEY: &str = "extra_key";
pub const CAPTURE_ARGS: &str = "capture_args";
pub const REFRESH: &str = "refresh";

pub const ALL: &[&str] = &[
    DB,
    EXPIRE_DAYS,
    VERSION,
    IGNORE,
    NAME,
    DURABILITY,
    LRU_CAPACITY,
    COMPANIONS,
    CRATE,
    MAX_ENTRIES,
    MAX_SIZE,
    PRUNE,
];
