//! How an encoded key becomes an LMDB key.
//!
//! LMDB keys are 1..=511 bytes. An encoded key that fits in the database's
//! `key_size_limit` is stored as it is; a longer (or empty) one, or one equal
//! to a table name (see `store.rs`), is stored under its SHA-256 and the full
//! encoded key is kept in the record, where every lookup compares it. A hash
//! collision is therefore a miss, never a wrong value.

use sha2::{Digest, Sha256};

/// LMDB's largest key, and the default `key_size_limit`.
pub const MAX_KEY_SIZE: usize = 511;

/// The function that turns a long key into its 32-byte LMDB key. Always
/// SHA-256 in production; tests swap in a weak one to force collisions.
pub(crate) type KeyHasher = fn(&[u8]) -> [u8; 32];

pub(crate) fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// An encoded key together with the bytes LMDB indexes it by.
#[derive(Debug, Clone)]
pub(crate) struct Lookup<'a> {
    /// The full encoded key.
    pub encoded: &'a [u8],
    /// `Some(digest)` when the key is stored hashed.
    pub digest: Option<[u8; 32]>,
}

impl<'a> Lookup<'a> {
    pub fn new(encoded: &'a [u8], limit: usize, hasher: KeyHasher) -> Self {
        // Empty keys (LMDB refuses them), long keys, and keys equal to a
        // table record of the main database are stored hashed.
        let digest = (encoded.is_empty() || encoded.len() > limit || crate::storage::store::is_table_name(encoded))
            .then(|| hasher(encoded));
        Lookup { encoded, digest }
    }

    /// The LMDB key.
    pub fn stored(&self) -> &[u8] {
        match &self.digest {
            Some(d) => d,
            None => self.encoded,
        }
    }

    /// Whether a stored record belongs to this key (and not to another key
    /// that shares its LMDB key).
    pub fn matches(&self, record_full_key: Option<&[u8]>) -> bool {
        match (self.digest.is_some(), record_full_key) {
            (false, None) => true,
            (true, Some(full)) => full == self.encoded,
            _ => false,
        }
    }

    /// The full encoded key to store in the record, if hashed.
    pub fn full_key(&self) -> Option<&'a [u8]> {
        self.digest.map(|_| self.encoded)
    }
}

/// Renders a key for error messages: UTF-8 text when printable, else hex,
/// shortened past 64 bytes.
pub(crate) fn display_key(encoded: &[u8]) -> String {
    let shown = &encoded[..encoded.len().min(64)];
    let ellipsis = if encoded.len() > 64 { "…" } else { "" };
    match std::str::from_utf8(shown) {
        Ok(s) if s.chars().all(|c| !c.is_control()) => format!("{s:?}{ellipsis}"),
        _ => {
            let hex: String = shown.iter().map(|b| format!("{b:02x}")).collect();
            format!("0x{hex}{ellipsis}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_keys_are_stored_plain_and_long_ones_hashed() {
        let short = Lookup::new(b"abc", 511, sha256);
        assert_eq!(short.stored(), b"abc");
        let long = vec![7u8; 600];
        let l = Lookup::new(&long, 511, sha256);
        assert_eq!(l.stored(), &sha256(&long));
        assert!(l.matches(Some(&long)));
        assert!(!l.matches(Some(b"other")));
        assert!(!l.matches(None));
        assert!(Lookup::new(b"", 511, sha256).digest.is_some());
    }

    #[test]
    fn display_key_prints_text_or_hex() {
        assert_eq!(display_key(b"ab"), "\"ab\"");
        assert_eq!(display_key(&[0, 255]), "0x00ff");
    }
}
