//! The value envelope: what the remote tier stores under a call's key.
//!
//! ```text
//! 0..4    magic  b"PDRV"
//! 4       format version (1)
//! 5       flags (0)
//! 6..14   type fingerprint of the stored result (u64 LE), as in a local record
//! 14..18  payload length (u32 LE)
//! 18..22  CRC-32C of the call key, bytes 0..18 and the payload (u32 LE)
//! 22..    payload: the result's bincode bytes, the bytes LMDB stores
//! ```
//!
//! The checksum covers the call key, which is not stored: a value copied or
//! renamed under another key fails it. Whatever fails a check is a miss
//! (recomputed, then overwritten), never a wrong value.

use crate::dict::fingerprint::Fp;

const MAGIC: &[u8; 4] = b"PDRV";
/// The envelope's format version.
pub(crate) const VERSION: u8 = 1;
const HEADER: usize = 22;

/// Why stored bytes were refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bad {
    /// Shorter than a header, or not starting with the magic.
    NotOurs,
    /// Another format version.
    Version(u8),
    /// The length field disagrees with the size.
    Length,
    /// The checksum disagrees: corrupt, or stored under another key.
    Checksum,
    /// Written for another result type (another build of the function).
    OtherType,
}

impl std::fmt::Display for Bad {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Bad::NotOurs => f.write_str("not a persistdict value (no magic)"),
            Bad::Version(v) => write!(f, "envelope format version {v}, this build reads {VERSION}"),
            Bad::Length => f.write_str("truncated or overlong value"),
            Bad::Checksum => f.write_str("checksum mismatch"),
            Bad::OtherType => f.write_str("stored by a build with another result type"),
        }
    }
}

/// The envelope of `payload` stored under `key` with type fingerprint `fp`.
pub(crate) fn seal(key: &[u8], fp: Fp, payload: &[u8]) -> Option<Vec<u8>> {
    let len = u32::try_from(payload.len()).ok()?;
    let mut out = Vec::with_capacity(HEADER + payload.len());
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.push(0);
    out.extend_from_slice(&fp.to_le_bytes());
    out.extend_from_slice(&len.to_le_bytes());
    let crc = checksum(key, &out, payload);
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(payload);
    Some(out)
}

/// The payload of `bytes` if they are a sound envelope for `key` and `fp`.
pub(crate) fn open<'a>(key: &[u8], fp: Fp, bytes: &'a [u8]) -> Result<&'a [u8], Bad> {
    if bytes.len() < HEADER || &bytes[..4] != MAGIC {
        return Err(Bad::NotOurs);
    }
    if bytes[4] != VERSION {
        return Err(Bad::Version(bytes[4]));
    }
    let word = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    let payload = &bytes[HEADER..];
    if word(14) as usize != payload.len() {
        return Err(Bad::Length);
    }
    if word(18) != checksum(key, &bytes[..18], payload) {
        return Err(Bad::Checksum);
    }
    let stored = u64::from_le_bytes(bytes[6..14].try_into().expect("8 bytes"));
    if stored != fp {
        return Err(Bad::OtherType);
    }
    Ok(payload)
}

fn checksum(key: &[u8], header: &[u8], payload: &[u8]) -> u32 {
    let c = crc32c::crc32c(key);
    let c = crc32c::crc32c_append(c, header);
    crc32c::crc32c_append(c, payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_bytes() {
        let sealed = seal(&[7; 32], 0x0102_0304_0506_0708, b"hi").unwrap();
        assert_eq!(
            sealed,
            [
                b'P', b'D', b'R', b'V', 1, 0, 8, 7, 6, 5, 4, 3, 2, 1, 2, 0, 0, 0, //
                0x48, 0xfe, 0x3d, 0xae, b'h', b'i'
            ]
        );
    }

    #[test]
    fn every_defect_is_refused() {
        let key = [1u8; 32];
        let sealed = seal(&key, 42, b"payload").unwrap();
        assert_eq!(open(&key, 42, &sealed), Ok(&b"payload"[..]));
        assert_eq!(open(&[2; 32], 42, &sealed), Err(Bad::Checksum), "another key");
        assert_eq!(open(&key, 43, &sealed), Err(Bad::OtherType));
        assert_eq!(open(&key, 42, b"garbage"), Err(Bad::NotOurs));
        assert_eq!(open(&key, 42, &sealed[..sealed.len() - 1]), Err(Bad::Length));
        for i in 0..sealed.len() {
            let mut b = sealed.clone();
            b[i] ^= 0x10;
            assert!(open(&key, 42, &b).is_err(), "a flipped bit at {i} must be caught");
        }
        let mut v2 = sealed.clone();
        v2[4] = 2;
        assert_eq!(open(&key, 42, &v2), Err(Bad::Version(2)));
    }
}
