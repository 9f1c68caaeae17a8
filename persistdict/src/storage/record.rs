//! The on-disk value record: an envelope around the value bytes that carries
//! the entry's metadata and checksums.
//!
//! ```text
//! offset size field
//!      0    1 FORMAT_TAG (2)
//!      1    1 flags: bit 0 = the key is stored hashed, the full key follows
//!      2    8 seq        u64 LE  insertion sequence number (order index key)
//!     10    8 ctime_ms   u64 LE  milliseconds since the Unix epoch
//!     18    8 atime_ms   u64 LE
//!     26    8 indexed_ms u64 LE  the atime under which the atime index lists the entry
//!     34    8 window_ms  u64 LE  the expiry window of the entry's last writer; u64::MAX = never
//!     42    8 type_fp    u64 LE  fingerprint of the key and value types' serde shape
//!     50    4 body_crc   u32 LE  CRC-32C of the body
//!     54    4 header_crc u32 LE  CRC-32C of bytes 0..54
//!     58      body: [u32 LE full-key length, full key] if hashed, then the value bytes
//! ```
//!
//! `window_ms` makes expiry per entry: an entry expires by the window of
//! whoever last wrote it, whoever else opens the directory. `type_fp` makes
//! types checked, never guessed: a value is only decoded through the types
//! it was written with (see `fingerprint.rs`).
//!
//! `indexed_ms` trails `atime_ms` by less than the atime granularity: a
//! write within the granularity of the last indexing leaves the atime index
//! alone (one B-tree fewer to rewrite per commit), and expiry checks the
//! record's exact atime, moving the index row forward when it is still fresh.
//!
//! Two checksums, so that an atime refresh rewrites 42 bytes of header and
//! recomputes only the header checksum, whatever the value's size.
//! `tests/format_golden.rs` pins these bytes: change them only together with
//! [`FORMAT_VERSION`](crate::storage::meta::FORMAT_VERSION).

pub(crate) const FORMAT_TAG: u8 = 2;
pub(crate) const HEADER_LEN: usize = 58;
/// `window_ms` of an entry that never expires.
pub(crate) const NEVER: u64 = u64::MAX;
const CRC_AT: usize = 50;
const FLAG_HASHED: u8 = 1;

/// The metadata fields of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub hashed: bool,
    pub seq: u64,
    pub ctime_ms: u64,
    pub atime_ms: u64,
    pub indexed_ms: u64,
    /// The expiry window of the last writer, in ms; [`NEVER`] for none.
    pub window_ms: u64,
    /// The type fingerprint the value was written with.
    pub type_fp: u64,
}

/// A record that passed its checks; borrows the stored bytes.
#[derive(Debug)]
pub(crate) struct Record<'a> {
    pub header: Header,
    /// The full encoded key when the key is stored hashed.
    pub full_key: Option<&'a [u8]>,
    pub value: &'a [u8],
}

/// Why a record failed to parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RecordError {
    TooShort(usize),
    UnknownTag(u8),
    HeaderChecksum,
    BodyChecksum,
    BadKeyLength,
}

impl std::fmt::Display for RecordError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RecordError::TooShort(n) => write!(f, "record of {n} bytes is shorter than its header"),
            RecordError::UnknownTag(t) => write!(f, "unknown record tag {t}"),
            RecordError::HeaderChecksum => f.write_str("header checksum mismatch"),
            RecordError::BodyChecksum => f.write_str("value checksum mismatch"),
            RecordError::BadKeyLength => f.write_str("full-key length runs past the record"),
        }
    }
}

fn header_bytes(h: &Header, body_crc: u32) -> [u8; HEADER_LEN] {
    let mut out = [0u8; HEADER_LEN];
    out[0] = FORMAT_TAG;
    out[1] = if h.hashed { FLAG_HASHED } else { 0 };
    out[2..10].copy_from_slice(&h.seq.to_le_bytes());
    out[10..18].copy_from_slice(&h.ctime_ms.to_le_bytes());
    out[18..26].copy_from_slice(&h.atime_ms.to_le_bytes());
    out[26..34].copy_from_slice(&h.indexed_ms.to_le_bytes());
    out[34..42].copy_from_slice(&h.window_ms.to_le_bytes());
    out[42..50].copy_from_slice(&h.type_fp.to_le_bytes());
    out[CRC_AT..CRC_AT + 4].copy_from_slice(&body_crc.to_le_bytes());
    let header_crc = crc32c::crc32c(&out[..CRC_AT + 4]);
    out[CRC_AT + 4..HEADER_LEN].copy_from_slice(&header_crc.to_le_bytes());
    out
}

/// Builds a record; `full_key` is `Some` exactly when `header.hashed`.
pub(crate) fn encode(header: &Header, full_key: Option<&[u8]>, value: &[u8]) -> Vec<u8> {
    debug_assert_eq!(header.hashed, full_key.is_some());
    let key_part = full_key.map_or(0, |k| 4 + k.len());
    let mut out = Vec::with_capacity(HEADER_LEN + key_part + value.len());
    out.resize(HEADER_LEN, 0);
    if let Some(k) = full_key {
        out.extend_from_slice(&(k.len() as u32).to_le_bytes());
        out.extend_from_slice(k);
    }
    out.extend_from_slice(value);
    let body_crc = crc32c::crc32c(&out[HEADER_LEN..]);
    out[..HEADER_LEN].copy_from_slice(&header_bytes(header, body_crc));
    out
}

/// Rewrites the header of an existing record in place (atime refresh),
/// keeping its body and body checksum.
pub(crate) fn rewrite_header(bytes: &mut [u8], header: &Header) {
    if bytes.len() < HEADER_LEN {
        return;
    }
    let body_crc = u32::from_le_bytes(bytes[CRC_AT..CRC_AT + 4].try_into().expect("4 bytes"));
    bytes[..HEADER_LEN].copy_from_slice(&header_bytes(header, body_crc));
}

/// Parses and checks only the header (cheap; used by index maintenance).
pub(crate) fn decode_header(bytes: &[u8]) -> Result<Header, RecordError> {
    if bytes.len() < HEADER_LEN {
        return Err(RecordError::TooShort(bytes.len()));
    }
    if bytes[0] != FORMAT_TAG {
        return Err(RecordError::UnknownTag(bytes[0]));
    }
    let stored = u32::from_le_bytes(bytes[CRC_AT + 4..HEADER_LEN].try_into().expect("4 bytes"));
    if crc32c::crc32c(&bytes[..CRC_AT + 4]) != stored {
        return Err(RecordError::HeaderChecksum);
    }
    let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
    Ok(Header {
        hashed: bytes[1] & FLAG_HASHED != 0,
        seq: u64_at(2),
        ctime_ms: u64_at(10),
        atime_ms: u64_at(18),
        indexed_ms: u64_at(26),
        window_ms: u64_at(34),
        type_fp: u64_at(42),
    })
}

/// Splits a record body into the full key (for a hashed key) and the value.
fn split_body(body: &[u8], hashed: bool) -> Result<(Option<&[u8]>, &[u8]), RecordError> {
    if !hashed {
        return Ok((None, body));
    }
    let len = body.get(..4).ok_or(RecordError::BadKeyLength)?;
    let len = u32::from_le_bytes(len.try_into().expect("4 bytes")) as usize;
    let rest = &body[4..];
    if len > rest.len() {
        return Err(RecordError::BadKeyLength);
    }
    let (key, value) = rest.split_at(len);
    Ok((Some(key), value))
}

/// The full key of a record whose header passed, without checking the body.
pub(crate) fn full_key_unchecked<'a>(bytes: &'a [u8], h: &Header) -> Option<&'a [u8]> {
    split_body(&bytes[HEADER_LEN..], h.hashed).ok().and_then(|(key, _)| key)
}

/// Parses and checks a whole record.
pub(crate) fn decode(bytes: &[u8]) -> Result<Record<'_>, RecordError> {
    let header = decode_header(bytes)?;
    let body = &bytes[HEADER_LEN..];
    let body_crc = u32::from_le_bytes(bytes[CRC_AT..CRC_AT + 4].try_into().expect("4 bytes"));
    if crc32c::crc32c(body) != body_crc {
        return Err(RecordError::BodyChecksum);
    }
    let (full_key, value) = split_body(body, header.hashed)?;
    Ok(Record { header, full_key, value })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(hashed: bool) -> Header {
        Header {
            hashed,
            seq: 7,
            ctime_ms: 1000,
            atime_ms: 2000,
            indexed_ms: 1500,
            window_ms: 86_400_000,
            type_fp: 0x0123_4567_89ab_cdef,
        }
    }

    /// The exact bytes of a record: computed independently (a bitwise CRC-32C in Python)
    /// when format version 2 was fixed. A change here needs a FORMAT_VERSION bump.
    #[test]
    fn golden_bytes_of_format_version_2() {
        let golden: [u8; 63] = [
            2, 0, 7, 0, 0, 0, 0, 0, 0, 0, 232, 3, 0, 0, 0, 0, 0, 0, 208, 7, 0, 0, 0, 0, 0, 0, 220, 5, 0, 0, 0, 0, 0, 0,
            0, 92, 38, 5, 0, 0, 0, 0, 239, 205, 171, 137, 103, 69, 35, 1, 99, 3, 224, 225, 72, 79, 175, 249, 118, 97,
            108, 117, 101,
        ];
        assert_eq!(encode(&header(false), None, b"value"), golden);
        assert_eq!(crate::storage::meta::FORMAT_VERSION, 2, "bump the golden bytes together with the version");
    }

    #[test]
    fn roundtrip_plain_and_hashed() {
        let plain = encode(&header(false), None, b"value");
        let r = decode(&plain).unwrap();
        assert_eq!((r.header, r.full_key, r.value), (header(false), None, &b"value"[..]));
        let hashed = encode(&header(true), Some(b"long key"), b"v");
        let r = decode(&hashed).unwrap();
        assert_eq!((r.full_key, r.value), (Some(&b"long key"[..]), &b"v"[..]));
    }

    #[test]
    fn any_flipped_bit_is_detected() {
        let good = encode(&header(true), Some(b"k"), b"some value bytes");
        for i in 0..good.len() {
            for bit in 0..8 {
                let mut bad = good.clone();
                bad[i] ^= 1 << bit;
                assert!(decode(&bad).is_err(), "flip at byte {i} bit {bit} went unnoticed");
            }
        }
    }

    #[test]
    fn header_rewrite_keeps_body() {
        let mut rec = encode(&header(false), None, b"abc");
        let newer = Header { atime_ms: 5000, ..header(false) };
        rewrite_header(&mut rec, &newer);
        let r = decode(&rec).unwrap();
        assert_eq!((r.header, r.value), (newer, &b"abc"[..]));
    }

    #[test]
    fn truncated_records_are_errors() {
        let rec = encode(&header(true), Some(b"key"), b"");
        for n in 0..rec.len() {
            assert!(decode(&rec[..n]).is_err());
        }
    }
}
