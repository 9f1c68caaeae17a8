//! The metadata table: what a database records about itself.
//!
//! | key | value |
//! |---|---|
//! | `format_version` | u32 LE, [`FORMAT_VERSION`] |
//! | `key_size_limit` | u32 LE, fixed when the database is created |
//! | `codecs` | `"<key codec>/<value codec>"`, recorded by the first typed open |
//! | `initialized` | present once `initialize()` ran, removed by `clear()` |
//! | `types/<fingerprint, 16 hex digits>` | the key and value type names written with that fingerprint, for error messages |

/// The on-disk layout version; bump it with any change to the record or the
/// tables, and `tests/format_golden.rs` will say where.
pub const FORMAT_VERSION: u32 = 3;

pub(crate) const FORMAT_VERSION_KEY: &[u8] = b"format_version";
pub(crate) const KEY_SIZE_LIMIT_KEY: &[u8] = b"key_size_limit";
pub(crate) const CODECS_KEY: &[u8] = b"codecs";
pub(crate) const INITIALIZED_KEY: &[u8] = b"initialized";

pub(crate) fn read_u32(bytes: &[u8]) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.try_into().ok()?))
}

/// The meta key naming the types of fingerprint `fp`.
pub(crate) fn types_key(fp: u64) -> Vec<u8> {
    format!("types/{fp:016x}").into_bytes()
}
