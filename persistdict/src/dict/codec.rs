//! Codecs turn keys and values into bytes and back.
//!
//! A [`Codec`] is a serialization *format* over serde: the same codec encodes
//! any `T: Serialize` and decodes any `T: DeserializeOwned`, so one codec type
//! serves keys and values alike. [`Bincode`] (compact, fast, the default) and
//! [`Json`] (readable with other tools) ship with the crate; wrap one to
//! compress or encrypt (the example on [`Codec`] adds a tag;
//! [`examples/custom_codec.rs`](https://github.com/persistdict/persistdict/blob/main/examples/custom_codec.rs)
//! compresses).
//!
//! bincode 2.0.1 is pinned (`=2.0.1`): its `standard` format is what is on
//! disk, and the crate is declared unmaintained (RUSTSEC-2025-0141, no known
//! vulnerability). It stays pinned because a stable byte format matters
//! more here than updates: a new format version would make every stored
//! value unreadable. Decoding is bounded (see [`Bincode`]), so hostile bytes
//! cannot make it allocate without limit.
//!
//! Decoding is strict: bytes left over after the value are an error. That
//! alone cannot tell a `u32` from an `i32`, or two orders of one struct's
//! fields, in a format that is not self-describing: each record therefore
//! also carries a fingerprint of the serde shape of the types it was written
//! with, and a read through other types is
//! [`Error::TypeMismatch`](crate::Error::TypeMismatch). Together, a value
//! stored as one type is never silently read back as another.

use std::borrow::Cow;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// A serialization format for keys and values.
///
/// Implementations must be deterministic: equal values must encode to equal
/// bytes, because keys are looked up by their encoding.
///
/// # Example
///
/// A codec that stores bincode bytes behind a one-byte tag:
///
/// ```
/// use std::borrow::Cow;
/// use persistdict::codec::{Bincode, BoxError, Codec};
///
/// #[derive(Clone, Copy, Default)]
/// struct Tagged;
///
/// impl Codec for Tagged {
///     fn name(&self) -> &str { "tagged-bincode" }
///     fn encode<T: serde::Serialize + ?Sized>(&self, value: &T) -> Result<Cow<'static, [u8]>, BoxError> {
///         let mut out = vec![0xAB];
///         out.extend_from_slice(&Bincode.encode(value)?);
///         Ok(Cow::Owned(out))
///     }
///     fn decode<T: serde::de::DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, BoxError> {
///         match bytes.split_first() {
///             Some((0xAB, rest)) => Bincode.decode(rest),
///             _ => Err("missing tag".into()),
///         }
///     }
/// }
///
/// let bytes = Tagged.encode("hi").unwrap();
/// assert_eq!(Tagged.decode::<String>(&bytes).unwrap(), "hi");
/// ```
pub trait Codec: Send + Sync + 'static {
    /// A stable name recorded in the database, so that a database is not
    /// opened with another codec than the one that wrote it.
    fn name(&self) -> &str;

    /// Encodes a value.
    ///
    /// # Errors
    /// When the value cannot be represented in this format.
    fn encode<T: Serialize + ?Sized>(&self, value: &T) -> Result<Cow<'static, [u8]>, BoxError>;

    /// Decodes a value; must reject trailing bytes.
    ///
    /// # Errors
    /// When the bytes are not a valid encoding of a `T`.
    fn decode<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, BoxError>;

    /// Whether the format is self-describing (field names and types are in
    /// the bytes, as in JSON), so that decoding through another type either
    /// gives the right value or fails. For such a codec persistdict does not
    /// check the type fingerprint of what it decodes, and compatible type
    /// changes (an added optional field) keep working. Default `false`:
    /// the fingerprint is checked, as bincode needs.
    fn self_describing(&self) -> bool {
        false
    }
}

#[doc(no_inline)]
pub use crate::error::BoxError;

/// bincode claims, before allocating a string, a byte buffer or a
/// container, the memory it is about to fill, and fails once its claims pass
/// the configured limit. The limit is chosen per decode from the size of the
/// bytes: any valid encoding claims at most 16 bytes per encoded byte (a
/// `u128` can be encoded in one), so a hostile length prefix can never make a
/// decode allocate more than 16 times the bytes it was given (plus 64),
/// whatever it claims. The limit is a const generic in bincode, hence the
/// buckets.
fn bincode_decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<(T, usize), bincode::error::DecodeError> {
    use bincode::config::standard;
    use bincode::serde::decode_from_slice;
    let need = bytes.len().saturating_mul(16).saturating_add(64);
    if need <= 1 << 12 {
        decode_from_slice(bytes, standard().with_limit::<{ 1 << 12 }>())
    } else if need <= 1 << 16 {
        decode_from_slice(bytes, standard().with_limit::<{ 1 << 16 }>())
    } else if need <= 1 << 20 {
        decode_from_slice(bytes, standard().with_limit::<{ 1 << 20 }>())
    } else if need <= 1 << 24 {
        decode_from_slice(bytes, standard().with_limit::<{ 1 << 24 }>())
    } else if need <= 1 << 28 {
        decode_from_slice(bytes, standard().with_limit::<{ 1 << 28 }>())
    } else {
        decode_from_slice(bytes, standard().with_limit::<{ usize::MAX >> 1 }>())
    }
}

/// bincode 2 with its `standard` configuration (varint integers, little
/// endian). The default codec. Decoding never allocates more than 16 times
/// the size of the bytes it reads, whatever length prefix they claim.
///
/// `String`/`&str`, `Vec<T>`/`[T]` and `T`/`&T` encode to the same bytes, which
/// is what lets a `PersistDict<String, _>` be queried with a `&str`.
///
/// ```
/// use persistdict::codec::{Bincode, Codec};
/// assert_eq!(Bincode.encode("ab").unwrap(), Bincode.encode(&String::from("ab")).unwrap());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Bincode;

impl Codec for Bincode {
    fn name(&self) -> &str {
        "bincode2-standard"
    }

    fn encode<T: Serialize + ?Sized>(&self, value: &T) -> Result<Cow<'static, [u8]>, BoxError> {
        Ok(Cow::Owned(bincode::serde::encode_to_vec(value, bincode::config::standard())?))
    }

    fn decode<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, BoxError> {
        let (value, read) = bincode_decode(bytes)?;
        if read != bytes.len() {
            return Err(format!(
                "{} trailing bytes after the value: the bytes were written as another type",
                bytes.len() - read
            )
            .into());
        }
        Ok(value)
    }
}

/// JSON through `serde_json`: larger and slower than [`Bincode`], but readable
/// by other tools and tolerant of added optional fields. Behind the
/// default-on `json` feature.
///
/// ```
/// use persistdict::codec::{Codec, Json};
/// assert_eq!(&*Json.encode(&[1, 2]).unwrap(), b"[1,2]");
/// ```
#[cfg(feature = "json")]
#[cfg_attr(docsrs, doc(cfg(feature = "json")))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Json;

#[cfg(feature = "json")]
impl Codec for Json {
    fn name(&self) -> &str {
        "json"
    }

    fn encode<T: Serialize + ?Sized>(&self, value: &T) -> Result<Cow<'static, [u8]>, BoxError> {
        Ok(Cow::Owned(serde_json::to_vec(value)?))
    }

    fn decode<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, BoxError> {
        // serde_json::from_slice rejects trailing non-whitespace itself.
        Ok(serde_json::from_slice(bytes)?)
    }

    fn self_describing(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bincode_rejects_trailing_bytes() {
        let bytes = Bincode.encode("hello").unwrap();
        assert!(Bincode.decode::<u8>(&bytes).is_err());
        assert_eq!(Bincode.decode::<String>(&bytes).unwrap(), "hello");
    }

    #[test]
    #[cfg(feature = "json")]
    fn borrowed_and_owned_forms_encode_alike() {
        assert_eq!(Bincode.encode("x").unwrap(), Bincode.encode(&"x".to_string()).unwrap());
        assert_eq!(Bincode.encode(&[1u32, 2][..]).unwrap(), Bincode.encode(&vec![1u32, 2]).unwrap());
        assert_eq!(Json.encode("x").unwrap(), Json.encode(&"x".to_string()).unwrap());
    }

    #[test]
    fn hostile_length_fails_fast() {
        // varint marker 253 = u64 follows: claim a 2^40-byte string.
        let mut bytes = vec![253u8];
        bytes.extend_from_slice(&(1u64 << 40).to_le_bytes());
        bytes.extend_from_slice(b"abc");
        assert!(Bincode.decode::<String>(&bytes).is_err());
        assert!(Bincode.decode::<Vec<u64>>(&bytes).is_err());
    }

    #[test]
    fn a_claimed_length_beyond_the_bytes_fails_before_allocating() {
        // 2,000,000,000 as a u64, read back as a String: bincode would claim
        // (and allocate) 2 GB before noticing the bytes are missing.
        let bytes = Bincode.encode(&2_000_000_000u64).unwrap();
        assert!(Bincode.decode::<String>(&bytes).is_err());
        assert!(Bincode.decode::<Vec<u8>>(&bytes).is_err());
        assert!(Bincode.decode::<Vec<u64>>(&bytes).is_err());
        // Valid data at the widest claim per byte still decodes.
        let wide: Vec<u128> = (0..1000).map(|i| i % 7).collect();
        let bytes = Bincode.encode(&wide).unwrap();
        assert_eq!(Bincode.decode::<Vec<u128>>(&bytes).unwrap(), wide);
        let big = "x".repeat(100_000);
        assert_eq!(Bincode.decode::<String>(&Bincode.encode(&big).unwrap()).unwrap(), big);
    }

    #[test]
    #[cfg(feature = "json")]
    fn json_rejects_trailing_garbage() {
        assert!(Json.decode::<u32>(b"1 x").is_err());
    }
}
