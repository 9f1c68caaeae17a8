//! How an encoded key becomes an LMDB key.
//!
//! LMDB keys are 1..=511 bytes. The LMDB key of an entry (its *stored
//! key*) is the byte [`ENTRY_PREFIX`] followed by the encoded key when that
//! fits in the database's `key_size_limit` (and in LMDB's 511 bytes with
//! the prefix), else by the encoded key's SHA-256; the full encoded key is
//! then kept in the record, where every lookup compares it. A hash collision
//! is therefore a miss, never a wrong value.
//!
//! The prefix (format version 3) puts every entry after the three table
//! records of the main database (`persistdict.*`, see `store.rs`): entries
//! written in key order are then appended at the end of the B-tree, where
//! LMDB fills its pages, instead of being inserted before the table records,
//! where each page split leaves a page half empty (it doubled the entries'
//! bytes in v2). It also keeps an entry off a table record whatever its key.

use sha2::{Digest, Sha256};

/// LMDB's largest key, and the default `key_size_limit`.
pub const MAX_KEY_SIZE: usize = 511;

/// The first byte of every stored key: after `p`, the first byte of the
/// table records.
pub(crate) const ENTRY_PREFIX: u8 = 0xFF;

/// The function that turns a long key into its 32-byte LMDB key. Always
/// SHA-256 in production; tests swap in a weak one to force collisions.
pub(crate) type KeyHasher = fn(&[u8]) -> [u8; 32];

pub(crate) fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Stored keys up to this length live on the stack.
const INLINE: usize = 48;

/// A stored key: [`ENTRY_PREFIX`] then its *tail*, the encoded key or its
/// digest. The order index keeps only the tail (a byte less per row, two
/// with LMDB's alignment).
#[derive(Debug, Clone)]
pub(crate) enum StoredKey {
    Inline { buf: [u8; INLINE], len: u8 },
    Heap(Vec<u8>),
}

impl StoredKey {
    /// The stored key whose tail is `tail`.
    pub(crate) fn from_tail(tail: &[u8]) -> Self {
        if tail.len() < INLINE {
            let mut buf = [0u8; INLINE];
            buf[0] = ENTRY_PREFIX;
            buf[1..=tail.len()].copy_from_slice(tail);
            StoredKey::Inline { buf, len: tail.len() as u8 + 1 }
        } else {
            let mut v = Vec::with_capacity(tail.len() + 1);
            v.push(ENTRY_PREFIX);
            v.extend_from_slice(tail);
            StoredKey::Heap(v)
        }
    }

    fn as_slice(&self) -> &[u8] {
        match self {
            StoredKey::Inline { buf, len } => &buf[..usize::from(*len)],
            StoredKey::Heap(v) => v,
        }
    }
}

impl std::ops::Deref for StoredKey {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

/// The bytes after the prefix of a stored key (the encoded key, or the
/// digest of a hashed one); `None` for a main-database key that is not an
/// entry (a table record).
pub(crate) fn stored_tail(stored: &[u8]) -> Option<&[u8]> {
    stored.strip_prefix(&[ENTRY_PREFIX])
}

/// An encoded key together with the bytes LMDB indexes it by.
#[derive(Debug, Clone)]
pub(crate) struct Lookup<'a> {
    /// The full encoded key.
    pub encoded: &'a [u8],
    /// `Some(digest)` when the key is stored hashed.
    pub digest: Option<[u8; 32]>,
    stored: StoredKey,
}

impl<'a> Lookup<'a> {
    pub fn new(encoded: &'a [u8], limit: usize, hasher: KeyHasher) -> Self {
        // Keys longer than the limit, or than LMDB's limit with the prefix,
        // are stored hashed.
        let digest = (encoded.len() > limit.min(MAX_KEY_SIZE - 1)).then(|| hasher(encoded));
        let stored = StoredKey::from_tail(match &digest {
            Some(d) => d,
            None => encoded,
        });
        Lookup { encoded, digest, stored }
    }

    /// The LMDB key.
    pub fn stored(&self) -> &[u8] {
        self.stored.as_slice()
    }

    /// The stored key without its prefix, as the order index keeps it.
    pub fn tail(&self) -> &[u8] {
        &self.stored.as_slice()[1..]
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
        assert_eq!(short.stored(), b"\xFFabc");
        let long = vec![7u8; 600];
        let l = Lookup::new(&long, 511, sha256);
        assert_eq!(l.stored()[0], ENTRY_PREFIX);
        assert_eq!(&l.stored()[1..], &sha256(&long));
        assert!(l.matches(Some(&long)));
        assert!(!l.matches(Some(b"other")));
        assert!(!l.matches(None));
        // The empty key is an ordinary key; 511 bytes with the prefix would not fit LMDB.
        assert_eq!(Lookup::new(b"", 511, sha256).stored(), [ENTRY_PREFIX]);
        assert!(Lookup::new(&[1; 511], 511, sha256).digest.is_some());
        let k510 = [1u8; 510];
        let l = Lookup::new(&k510, 511, sha256);
        assert_eq!((l.digest, l.stored().len()), (None, 511));
        assert_eq!(stored_tail(l.stored()), Some(&k510[..]));
        assert_eq!(stored_tail(b"persistdict.meta"), None);
    }

    #[test]
    fn display_key_prints_text_or_hex() {
        assert_eq!(display_key(b"ab"), "\"ab\"");
        assert_eq!(display_key(&[0, 255]), "0x00ff");
    }
}
