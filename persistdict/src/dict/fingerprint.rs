//! Type fingerprints: types are checked, never guessed.
//!
//! bincode is not self-describing: a `u32` stored and read back as an `i32`
//! decodes to a wrong number, and a struct whose fields were reordered
//! decodes into the wrong fields. So every record carries a 64-bit
//! fingerprint of the serde *shape* of the key and value types it was
//! written with, and a read through other types is
//! [`Error::TypeMismatch`](crate::Error::TypeMismatch) (a miss under
//! `#[persist_cache]`).
//!
//! The shape is traced by running the type's own `Deserialize` against a
//! tracing deserializer (`shape.rs`), as often as it takes to visit every
//! variant of every enum, however deep: it records each container (by its
//! serde name and its Rust type with generic arguments, so `Page<Item>` and
//! `Page<Page<Item>>` are two), field names and their order, the Rust type
//! name of every field (module paths left out, so a transparent newtype or a
//! `from`/`into` proxy is told from the type it converts to, while moving a
//! type to another module is harmless), variant names and indexes, and every
//! primitive. The fingerprint is the SHA-256 (first 8 bytes) of that
//! description and of the root type's short name. A `Deserialize` that
//! validates strings or bytes (an email, a URL, a UUID, a date) is offered a
//! few typical values in turn. `serde-reflection` was tried first: it stops
//! exploring inside an `Option`, a `Vec` or a map once their format is
//! known, so an enum nested there kept unseen variants (a retyped variant
//! went unnoticed), and a recursive enum overflowed the stack.
//!
//! Where tracing fails (a type that needs `deserialize_any`, such as
//! `serde_json::Value` or an untagged enum, or whose `Deserialize` rejects
//! every value offered), the fingerprint falls back to the full
//! [`std::any::type_name`]: a renamed or moved type then reads as a mismatch
//! (a recompute under the macro), and a change of such a type's fields is
//! not detected (the part that could be traced, and the full type name,
//! still are). Fingerprints are computed once per type per process.
//!
//! Not covered: a field typed with a transparent newtype over another
//! transparent newtype (`Timeout(Secs)` edited to `Timeout(Millis)`, both
//! over a `u64`): the inner name never reaches a deserializer and the bytes
//! are alike. A type whose `Serialize` and `Deserialize` disagree
//! (`#[serde(skip_serializing_if)]` under bincode) is caught at write time
//! instead: such a value is refused (a result is not stored).
//!
//! A self-describing codec (JSON: field names are in the bytes) decodes a
//! value correctly or fails; for it the value's fingerprint is not checked
//! (see [`Codec::self_describing`](crate::codec::Codec::self_describing)),
//! so compatible changes such as an added optional field keep working.

use std::any::TypeId;
use std::collections::HashMap;
use std::sync::{LazyLock, RwLock};

use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::dict::shape::{short_type_name, trace};

/// A type fingerprint.
pub(crate) type Fp = u64;

/// The fingerprint of a type that is not checked (self-describing codecs).
pub(crate) const UNCHECKED: Fp = 0;

/// Fingerprints computed so far, by type id (`typeid` gives one for types
/// that are not `'static` too; a type name would not do: two local types in
/// two blocks of one function share theirs).
static CACHE: LazyLock<RwLock<HashMap<TypeId, (Fp, bool)>>> = LazyLock::new(Default::default);

/// The fingerprint of `T`'s serde shape (see the module docs).
pub(crate) fn of<T: DeserializeOwned>() -> Fp {
    traced::<T>().0
}

/// Whether values of `T` may fail to read back as written under a format
/// that is not self-describing: its shape holds a container (where
/// `#[serde(skip_serializing_if)]` lives), or it could not be traced.
pub(crate) fn may_not_round_trip<T: DeserializeOwned>() -> bool {
    traced::<T>().1
}

fn traced<T: DeserializeOwned>() -> (Fp, bool) {
    let id = typeid::of::<T>();
    if let Some(found) = CACHE.read().unwrap_or_else(|e| e.into_inner()).get(&id) {
        return *found;
    }
    let found = compute::<T>(std::any::type_name::<T>());
    CACHE.write().unwrap_or_else(|e| e.into_inner()).insert(id, found);
    found
}

/// The key and value types an entry is written or read with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Types {
    /// [`pair`] of the key's and the value's fingerprints.
    pub fp: Fp,
    pub key: &'static str,
    pub value: &'static str,
}

impl Types {
    /// The fingerprints of `K` and `V`, each checked only when its codec
    /// is not self-describing.
    pub(crate) fn of<K: DeserializeOwned, V: DeserializeOwned>(check_key: bool, check_value: bool) -> Types {
        let k = if check_key { of::<K>() } else { UNCHECKED };
        let v = if check_value { of::<V>() } else { UNCHECKED };
        Types { fp: pair(k, v), key: std::any::type_name::<K>(), value: std::any::type_name::<V>() }
    }

    /// How error messages and the meta table name these types.
    pub(crate) fn describe(&self) -> String {
        format!("(key {}, value {})", self.key, self.value)
    }
}

/// The fingerprint of an entry written with key type fingerprint `key` and
/// value type fingerprint `value`.
pub(crate) fn pair(key: Fp, value: Fp) -> Fp {
    let mut h = Sha256::new();
    h.update(key.to_le_bytes());
    h.update(value.to_le_bytes());
    first_u64(&h.finalize())
}

fn first_u64(digest: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&digest[..8]);
    u64::from_le_bytes(b)
}

fn compute<T: DeserializeOwned>(name: &str) -> (Fp, bool) {
    let mut h = Sha256::new();
    let traced = trace::<T>();
    let may_not_round_trip = match &traced {
        // Any container (struct, tuple struct, newtype, enum) may carry a
        // skipped field; plain values (numbers, strings, byte and number
        // vectors, maps of them) cannot.
        Ok(shape) => shape.contains('@'),
        Err(_) => true,
    };
    match traced {
        Ok(shape) => {
            h.update(b"serde-shape-v1\0");
            h.update(short_type_name(name).as_bytes());
            h.update(b"\0");
            h.update(shape.as_bytes());
        }
        Err(partial) => {
            tracing::debug!(
                r#type = name,
                "serde shape not fully traceable; fingerprinting the type name and the part traced"
            );
            h.update(b"type-name-v2\0");
            h.update(name.as_bytes());
            h.update(b"\0");
            h.update(partial.as_bytes());
        }
    }
    (first_u64(&h.finalize()), may_not_round_trip)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    mod v1 {
        #[derive(serde::Deserialize)]
        #[allow(dead_code)]
        pub struct Point {
            pub x: u32,
            pub y: u32,
        }
    }
    mod v2 {
        #[derive(serde::Deserialize)]
        #[allow(dead_code)]
        pub struct Point {
            pub y: u32,
            pub x: u32,
        }
    }
    mod v3 {
        #[derive(serde::Deserialize)]
        #[allow(dead_code)]
        pub struct Point {
            pub x: i32,
            pub y: u32,
        }
    }

    #[derive(Deserialize)]
    #[allow(dead_code)]
    enum Shape {
        Dot,
        Line(Box<Inner>),
    }
    #[derive(Deserialize)]
    #[allow(dead_code)]
    enum Inner {
        A { n: u8 },
        B(String),
    }
    #[derive(Deserialize)]
    #[allow(dead_code)]
    enum Inner2 {
        A { n: u8 },
        C(String),
    }

    #[test]
    fn primitives_of_the_same_width_differ() {
        assert_ne!(of::<u32>(), of::<i32>());
        assert_ne!(of::<String>(), of::<Vec<u8>>());
        assert_eq!(of::<u32>(), of::<u32>());
    }

    #[test]
    fn reordered_or_retyped_fields_differ() {
        assert_ne!(of::<v1::Point>(), of::<v2::Point>());
        assert_ne!(of::<v1::Point>(), of::<v3::Point>());
    }

    #[test]
    fn nested_enum_variants_are_traced() {
        let shape = trace::<Shape>().unwrap();
        assert!(!shape.is_empty());
        assert!(shape.contains("\"B\"") && shape.contains("\"A\"") && shape.contains("\"Line\""), "{shape}");
        assert!(trace::<Option<Inner>>().is_ok());
        assert_ne!(of::<Option<Inner>>(), of::<Option<Inner2>>());
    }

    #[test]
    fn untraceable_types_fall_back_to_the_type_name() {
        assert!(trace::<serde_json::Value>().is_err());
        assert_eq!(of::<serde_json::Value>(), of::<serde_json::Value>());
        assert_ne!(of::<serde_json::Value>(), of::<String>());
    }

    #[test]
    fn pair_depends_on_both_sides_and_their_order() {
        assert_ne!(pair(1, 2), pair(2, 1));
        assert_ne!(pair(1, 2), pair(1, 3));
    }
}

#[cfg(test)]
mod adversarial {
    //! Cases an adversarial review found with the first tracer.
    use super::*;
    use serde::Deserialize;

    mod e1 {
        #[derive(serde::Deserialize)]
        #[allow(dead_code)]
        pub enum E {
            A,
            B(u8),
            C(u32),
        }
    }
    mod e2 {
        #[derive(serde::Deserialize)]
        #[allow(dead_code)]
        pub enum E {
            A,
            B(u8),
            C(i32),
        }
    }
    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct S1 {
        x: Option<e1::E>,
        v: Vec<e1::E>,
        m: std::collections::BTreeMap<u8, e1::E>,
    }
    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct S2 {
        x: Option<e2::E>,
        v: Vec<e2::E>,
        m: std::collections::BTreeMap<u8, e2::E>,
    }

    #[test]
    fn an_enums_last_variant_behind_option_vec_or_map_is_traced() {
        assert_ne!(of::<S1>(), of::<S2>());
        assert_ne!(of::<Option<e1::E>>(), of::<Option<e2::E>>());
        assert_ne!(of::<Vec<e1::E>>(), of::<Vec<e2::E>>());
    }

    #[derive(Deserialize)]
    #[allow(dead_code)]
    enum Expr {
        Add(Box<Expr>, Box<Expr>),
        Neg(Box<Expr>),
        Lit(i64),
    }

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Node {
        next: Option<Box<Node>>,
        children: Vec<Node>,
        value: u8,
    }

    #[test]
    fn recursive_types_are_traced_without_overflowing() {
        assert!(trace::<Expr>().is_ok_and(|s| s.contains("Lit") && s.contains("Neg")));
        assert!(trace::<Node>().is_ok());
    }

    #[test]
    fn two_local_types_with_one_name_are_told_apart() {
        let a = {
            #[derive(Deserialize)]
            #[allow(dead_code)]
            struct Reading {
                value: u32,
            }
            of::<Reading>()
        };
        let b = {
            #[derive(Deserialize)]
            #[allow(dead_code)]
            struct Reading {
                value: i32,
            }
            of::<Reading>()
        };
        assert_ne!(a, b);
    }

    #[derive(Deserialize)]
    #[serde(from = "std::time::Duration")]
    #[allow(dead_code)]
    struct Secs(std::time::Duration);
    impl From<std::time::Duration> for Secs {
        fn from(d: std::time::Duration) -> Self {
            Secs(d)
        }
    }
    #[derive(Deserialize)]
    #[serde(from = "std::time::Duration")]
    #[allow(dead_code)]
    struct Millis(std::time::Duration);
    impl From<std::time::Duration> for Millis {
        fn from(d: std::time::Duration) -> Self {
            Millis(d)
        }
    }

    #[test]
    fn proxies_with_one_shape_are_told_apart_by_name() {
        assert_ne!(of::<Secs>(), of::<Millis>());
        assert_eq!(short_type_name("alloc::vec::Vec<app::m::Secs>"), "Vec<Secs>");
        assert_eq!(short_type_name("(u8, core::option::Option<&str>)"), "(u8, Option<&str>)");
    }
}
