//! The on-disk value record: an envelope around the value bytes that carries
//! the entry's metadata and one checksum.
//!
//! Format version 3 (v2 had a fixed 58-byte header; see the history of this
//! file). Integers marked *varint* are LEB128: 7 bits a byte, low bits first,
//! at most 10 bytes, a 10th byte above 1 is an overflow (an error).
//!
//! ```text
//! size   field
//!    1   tag | flags: high nibble FORMAT_TAG (0x30), low nibble flags:
//!          bit 0 HASHED   the key is stored hashed; the full key is in the body
//!          bit 1 ATIME    atime_ms differs from ctime_ms (its delta follows)
//!          bit 2 INDEXED  indexed_ms differs from atime_ms (its delta follows)
//!          bit 3 WINDOW   the entry has an expiry window (it follows)
//! 1..10  seq        varint  insertion sequence number (order index key)
//! 1..10  ctime_ms   varint  milliseconds since the Unix epoch
//! 1..10  atime_ms − ctime_ms    varint, wrapping; only with ATIME
//! 1..10  atime_ms − indexed_ms  varint, wrapping; only with INDEXED
//! 1..10  window_ms  varint  only with WINDOW; without it the window is NEVER
//!    8   type_fp    u64 LE  fingerprint of the key and value types' serde shape
//!        body: [varint full-key length, full key] with HASHED, then the value bytes
//!    4   crc        u32 LE  CRC-32C of every byte before it
//! ```
//!
//! A fresh entry without a window (atime = indexed = ctime) has a 22-byte
//! envelope today (1 + 3-byte seq up to 2 097 151 + 6-byte ctime + 8 + 4)
//! where v2 had 58. Why this layout (issue 12, "footprint": 1M entries of
//! ~10-byte keys and small values must take at most 4× raw heed's bytes):
//!
//! - Fields that are almost always equal to another one (atime, indexed) or
//!   absent (window) cost a flag bit, not a byte: LMDB rounds a node to an
//!   even size, so one byte saved in the record is often two on the page.
//! - `type_fp` stays a full 64-bit fingerprint: it is what keeps a value
//!   from being decoded through the wrong types.
//! - One CRC-32C over the whole record instead of a header and a body
//!   checksum (8 bytes in v2): an atime refresh now re-encodes the record
//!   and checksums its value again, which costs what writing the value costs
//!   anyway. Every single-bit flip anywhere is still detected (the
//!   `any_flipped_bit_is_detected` test flips each one), and the checksum is
//!   checked before any field is parsed, so a damaged record is never read
//!   as another valid one. Reading only the header therefore checks the whole
//!   record too.
//! - The first byte (0x30..=0x3F) can never be v2's tag (2): a v2 record is
//!   an unknown tag, never a misread, although a v2 database is refused at
//!   open already (`meta.rs`, FORMAT_VERSION).
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
//! `tests/format_golden.rs` pins these bytes: change them only together with
//! [`FORMAT_VERSION`](crate::storage::meta::FORMAT_VERSION).

/// The high nibble of a record's first byte.
pub(crate) const FORMAT_TAG: u8 = 0x30;
const TAG_MASK: u8 = 0xF0;
const FLAG_HASHED: u8 = 1;
const FLAG_ATIME: u8 = 2;
const FLAG_INDEXED: u8 = 4;
const FLAG_WINDOW: u8 = 8;
const FP_LEN: usize = 8;
const CRC_LEN: usize = 4;
/// The longest varint: 10 bytes carry 64 bits.
const VARINT_MAX: usize = 10;
/// The longest envelope (header and checksum, without the body).
pub(crate) const MAX_ENVELOPE_LEN: usize = 1 + 5 * VARINT_MAX + FP_LEN + CRC_LEN;
/// `window_ms` of an entry that never expires.
pub(crate) const NEVER: u64 = u64::MAX;

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
    /// Shorter than the smallest record.
    TooShort(usize),
    /// The first byte is not a format-3 tag (a v2 record starts with 2).
    UnknownTag(u8),
    /// The CRC-32C of the record does not match.
    Checksum,
    /// A field runs past the end of the record.
    Truncated,
    /// A varint longer than 10 bytes or above `u64::MAX`.
    VarintOverflow,
    /// The full-key length runs past the record.
    BadKeyLength,
}

impl std::fmt::Display for RecordError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RecordError::TooShort(n) => write!(f, "record of {n} bytes is shorter than its header"),
            RecordError::UnknownTag(t) => write!(f, "unknown record tag {t}"),
            RecordError::Checksum => f.write_str("record checksum mismatch"),
            RecordError::Truncated => f.write_str("a header field runs past the record"),
            RecordError::VarintOverflow => f.write_str("a header integer overflows 64 bits"),
            RecordError::BadKeyLength => f.write_str("full-key length runs past the record"),
        }
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads a varint at `*at`, advancing it: at most [`VARINT_MAX`] bytes, and
/// the 10th may only carry the 64th bit.
fn get_varint(bytes: &[u8], at: &mut usize) -> Result<u64, RecordError> {
    let mut v = 0u64;
    for i in 0..VARINT_MAX {
        let b = *bytes.get(*at).ok_or(RecordError::Truncated)?;
        *at += 1;
        if i == VARINT_MAX - 1 && b > 1 {
            return Err(RecordError::VarintOverflow);
        }
        v |= u64::from(b & 0x7F) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(RecordError::VarintOverflow)
}

/// Builds a record; `full_key` is `Some` exactly when `header.hashed`.
pub(crate) fn encode(header: &Header, full_key: Option<&[u8]>, value: &[u8]) -> Vec<u8> {
    debug_assert_eq!(header.hashed, full_key.is_some());
    let h = header;
    let key_part = full_key.map_or(0, |k| VARINT_MAX + k.len());
    let mut out = Vec::with_capacity(MAX_ENVELOPE_LEN + key_part + value.len());
    let mut flags = 0;
    if full_key.is_some() {
        flags |= FLAG_HASHED;
    }
    if h.atime_ms != h.ctime_ms {
        flags |= FLAG_ATIME;
    }
    if h.indexed_ms != h.atime_ms {
        flags |= FLAG_INDEXED;
    }
    if h.window_ms != NEVER {
        flags |= FLAG_WINDOW;
    }
    out.push(FORMAT_TAG | flags);
    put_varint(&mut out, h.seq);
    put_varint(&mut out, h.ctime_ms);
    if flags & FLAG_ATIME != 0 {
        put_varint(&mut out, h.atime_ms.wrapping_sub(h.ctime_ms));
    }
    if flags & FLAG_INDEXED != 0 {
        put_varint(&mut out, h.atime_ms.wrapping_sub(h.indexed_ms));
    }
    if flags & FLAG_WINDOW != 0 {
        put_varint(&mut out, h.window_ms);
    }
    out.extend_from_slice(&h.type_fp.to_le_bytes());
    if let Some(k) = full_key {
        put_varint(&mut out, k.len() as u64);
        out.extend_from_slice(k);
    }
    out.extend_from_slice(value);
    let crc = crc32c::crc32c(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// The checked part of a record (everything before the checksum), once the
/// checksum matched.
fn checked(bytes: &[u8]) -> Result<&[u8], RecordError> {
    // The smallest record: tag, two 1-byte varints, type_fp, checksum.
    if bytes.len() < 3 + FP_LEN + CRC_LEN {
        return Err(RecordError::TooShort(bytes.len()));
    }
    if bytes[0] & TAG_MASK != FORMAT_TAG {
        return Err(RecordError::UnknownTag(bytes[0]));
    }
    let (data, crc) = bytes.split_at(bytes.len() - CRC_LEN);
    if crc32c::crc32c(data) != u32::from_le_bytes(crc.try_into().expect("4 bytes")) {
        return Err(RecordError::Checksum);
    }
    Ok(data)
}

/// Parses the header fields of `data` (a record without its checksum);
/// returns the header and where the body starts. Checks bounds, not the
/// checksum.
fn parse(data: &[u8]) -> Result<(Header, usize), RecordError> {
    let first = *data.first().ok_or(RecordError::TooShort(0))?;
    if first & TAG_MASK != FORMAT_TAG {
        return Err(RecordError::UnknownTag(first));
    }
    let flags = first & !TAG_MASK;
    let mut at = 1;
    let seq = get_varint(data, &mut at)?;
    let ctime_ms = get_varint(data, &mut at)?;
    let mut optional = |flag: u8| -> Result<Option<u64>, RecordError> {
        if flags & flag == 0 { Ok(None) } else { get_varint(data, &mut at).map(Some) }
    };
    let atime_ms = optional(FLAG_ATIME)?.map_or(ctime_ms, |d| ctime_ms.wrapping_add(d));
    let indexed_ms = optional(FLAG_INDEXED)?.map_or(atime_ms, |d| atime_ms.wrapping_sub(d));
    let window_ms = optional(FLAG_WINDOW)?.unwrap_or(NEVER);
    let fp = data.get(at..at + FP_LEN).ok_or(RecordError::Truncated)?;
    let type_fp = u64::from_le_bytes(fp.try_into().expect("8 bytes"));
    at += FP_LEN;
    let header = Header { hashed: flags & FLAG_HASHED != 0, seq, ctime_ms, atime_ms, indexed_ms, window_ms, type_fp };
    Ok((header, at))
}

/// Re-encodes a record with a new header (atime refresh, index move,
/// repairs), keeping its key and value. The record is checked first: a
/// damaged one is left as it is (`Err`), never given a fresh checksum.
pub(crate) fn rewrite_header(bytes: &mut Vec<u8>, header: &Header) -> Result<(), RecordError> {
    let rec = decode(bytes)?;
    // The key part follows the record's body, whatever `header` says.
    let new = encode(&Header { hashed: rec.full_key.is_some(), ..*header }, rec.full_key, rec.value);
    *bytes = new;
    Ok(())
}

/// Parses and checks the header. The checksum covers the whole record, so
/// this reads the value's bytes too (one CRC-32C pass).
pub(crate) fn decode_header(bytes: &[u8]) -> Result<Header, RecordError> {
    parse(checked(bytes)?).map(|(h, _)| h)
}

/// Parses the header without checking the checksum, for a record that
/// failed its checks: only to find index rows that lead back to the record
/// itself (see `Store::unindex_damaged`), never to read the entry.
pub(crate) fn decode_header_unchecked(bytes: &[u8]) -> Result<Header, RecordError> {
    let data = bytes.get(..bytes.len().saturating_sub(CRC_LEN)).unwrap_or_default();
    parse(data).map(|(h, _)| h)
}

/// Splits a record body into the full key (for a hashed key) and the value.
fn split_body(body: &[u8], hashed: bool) -> Result<(Option<&[u8]>, &[u8]), RecordError> {
    if !hashed {
        return Ok((None, body));
    }
    let mut at = 0;
    let len = get_varint(body, &mut at).map_err(|_| RecordError::BadKeyLength)?;
    let rest = &body[at..];
    let len = usize::try_from(len).ok().filter(|&n| n <= rest.len()).ok_or(RecordError::BadKeyLength)?;
    let (key, value) = rest.split_at(len);
    Ok((Some(key), value))
}

/// The full key of a record whose header passed, without checking again.
pub(crate) fn full_key_unchecked<'a>(bytes: &'a [u8], h: &Header) -> Option<&'a [u8]> {
    let data = bytes.get(..bytes.len().checked_sub(CRC_LEN)?)?;
    let (_, at) = parse(data).ok()?;
    split_body(&data[at..], h.hashed).ok().and_then(|(key, _)| key)
}

/// Parses and checks a whole record.
pub(crate) fn decode(bytes: &[u8]) -> Result<Record<'_>, RecordError> {
    let data = checked(bytes)?;
    let (header, at) = parse(data)?;
    let (full_key, value) = split_body(&data[at..], header.hashed)?;
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

    /// The exact bytes of records: computed independently (LEB128 and a
    /// bitwise CRC-32C in a few lines of Python, checked against CRC-32C's
    /// test vector) when format version 3 was fixed. A change here needs a
    /// FORMAT_VERSION bump.
    #[test]
    fn golden_bytes_of_format_version_3() {
        // Every optional field present: flags ATIME | INDEXED | WINDOW.
        let golden: [u8; 29] = [
            62, 7, 232, 7, 232, 7, 244, 3, 128, 184, 153, 41, 239, 205, 171, 137, 103, 69, 35, 1, 118, 97, 108, 117,
            101, 170, 245, 60, 249,
        ];
        assert_eq!(encode(&header(false), None, b"value"), golden);
        // A fresh entry without a window, key stored hashed: only seq and ctime.
        let fresh = Header {
            hashed: true,
            seq: 300,
            ctime_ms: 1_700_000_000_000,
            atime_ms: 1_700_000_000_000,
            indexed_ms: 1_700_000_000_000,
            window_ms: NEVER,
            type_fp: 0xfedc_ba98_7654_3210,
        };
        let golden: [u8; 31] = [
            49, 172, 2, 128, 208, 149, 255, 188, 49, 16, 50, 84, 118, 152, 186, 220, 254, 8, 108, 111, 110, 103, 32,
            107, 101, 121, 118, 182, 47, 0, 134,
        ];
        assert_eq!(encode(&fresh, Some(b"long key"), b"v"), golden);
        let r = decode(&golden).unwrap();
        assert_eq!((r.header, r.full_key, r.value), (fresh, Some(&b"long key"[..]), &b"v"[..]));
        assert_eq!(crate::storage::meta::FORMAT_VERSION, 3, "bump the golden bytes together with the version");
    }

    #[test]
    fn roundtrip_plain_and_hashed() {
        let plain = encode(&header(false), None, b"value");
        let r = decode(&plain).unwrap();
        assert_eq!((r.header, r.full_key, r.value), (header(false), None, &b"value"[..]));
        let hashed = encode(&header(true), Some(b"long key"), b"v");
        let r = decode(&hashed).unwrap();
        assert_eq!((r.full_key, r.value), (Some(&b"long key"[..]), &b"v"[..]));
        assert_eq!(full_key_unchecked(&hashed, &r.header), Some(&b"long key"[..]));
    }

    #[test]
    fn extreme_headers_round_trip() {
        // atime before ctime and indexed after atime (states check_integrity
        // repairs) and the largest values: the deltas wrap, nothing is lost.
        let cases = [
            Header { ctime_ms: 5000, atime_ms: 10, indexed_ms: 20, ..header(false) },
            Header { seq: u64::MAX, ctime_ms: u64::MAX, atime_ms: 0, indexed_ms: u64::MAX, ..header(false) },
            Header { seq: 0, ctime_ms: 0, atime_ms: 0, indexed_ms: 0, window_ms: 0, type_fp: 0, hashed: false },
            Header { window_ms: NEVER - 1, type_fp: u64::MAX, ..header(false) },
        ];
        for h in cases {
            let rec = encode(&h, None, b"x");
            assert_eq!(decode(&rec).unwrap().header, h);
            assert_eq!(decode_header(&rec).unwrap(), h);
        }
    }

    #[test]
    fn any_flipped_bit_is_detected() {
        for (h, key) in [
            (header(true), Some(&b"k"[..])),
            (header(false), None),
            (Header { window_ms: NEVER, ..header(false) }, None),
        ] {
            let good = encode(&h, key, b"some value bytes");
            for i in 0..good.len() {
                for bit in 0..8 {
                    let mut bad = good.clone();
                    bad[i] ^= 1 << bit;
                    assert!(decode(&bad).is_err(), "flip at byte {i} bit {bit} went unnoticed");
                    assert!(decode_header(&bad).is_err(), "flip at byte {i} bit {bit} went unnoticed");
                }
            }
        }
    }

    #[test]
    fn a_version_2_record_is_an_unknown_tag() {
        let mut v2 = vec![2u8, 0];
        v2.extend_from_slice(&[0; 61]);
        assert_eq!(decode(&v2).unwrap_err(), RecordError::UnknownTag(2));
    }

    #[test]
    fn varints_are_bounded() {
        // 10 bytes carrying exactly 64 bits decode; one bit more, or an 11th byte, is an overflow.
        let mut max = vec![0xFF; 9];
        max.push(0x01);
        assert_eq!(get_varint(&max, &mut 0), Ok(u64::MAX));
        let mut over = vec![0xFF; 9];
        over.push(0x02);
        assert_eq!(get_varint(&over, &mut 0), Err(RecordError::VarintOverflow));
        assert_eq!(get_varint(&[0x80; 11], &mut 0), Err(RecordError::VarintOverflow));
        assert_eq!(get_varint(&[0x80, 0x80], &mut 0), Err(RecordError::Truncated));
        // A record whose seq never ends, with a valid checksum: an error, not a panic.
        let mut rec = vec![FORMAT_TAG];
        rec.extend_from_slice(&[0xFF; 20]);
        let crc = crc32c::crc32c(&rec);
        rec.extend_from_slice(&crc.to_le_bytes());
        assert_eq!(decode(&rec).unwrap_err(), RecordError::VarintOverflow);
        // A full-key length past the record, with a valid checksum.
        let mut rec = vec![FORMAT_TAG | FLAG_HASHED, 0, 0];
        rec.extend_from_slice(&[0; 8]);
        rec.push(50);
        rec.extend_from_slice(b"short");
        let crc = crc32c::crc32c(&rec);
        rec.extend_from_slice(&crc.to_le_bytes());
        assert_eq!(decode(&rec).unwrap_err(), RecordError::BadKeyLength);
    }

    #[test]
    fn header_rewrite_keeps_body() {
        for (hashed, key) in [(false, None), (true, Some(&b"full key"[..]))] {
            let mut rec = encode(&header(hashed), key, b"abc");
            let newer = Header { atime_ms: 5000, ..header(hashed) };
            rewrite_header(&mut rec, &newer).unwrap();
            let r = decode(&rec).unwrap();
            assert_eq!((r.header, r.full_key, r.value), (newer, key, &b"abc"[..]));
        }
    }

    #[test]
    fn a_damaged_record_is_not_rewritten_with_a_fresh_checksum() {
        let mut rec = encode(&header(false), None, b"abc");
        let last = rec.len() - 5;
        rec[last] ^= 1; // inside the value
        let damaged = rec.clone();
        assert_eq!(rewrite_header(&mut rec, &header(false)), Err(RecordError::Checksum));
        assert_eq!(rec, damaged);
    }

    #[test]
    fn truncated_records_are_errors() {
        for (h, key) in [(header(true), Some(&b"key"[..])), (header(false), None)] {
            let rec = encode(&h, key, b"");
            for n in 0..rec.len() {
                assert!(decode(&rec[..n]).is_err());
                assert!(decode_header(&rec[..n]).is_err());
            }
        }
    }
}
