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
//! The shape is traced with `serde-reflection`: it deserializes the type
//! from a tracing deserializer and records container names, field names and
//! their order, variant names and indexes, and every primitive type. The
//! fingerprint is the SHA-256 (first 8 bytes) of that description.
//!
//! Where tracing fails (a `Deserialize` impl that validates its input and
//! rejects the tracer's sample values, `deserialize_any`-based types such as
//! `serde_json::Value`, untagged enums), the fingerprint falls back to
//! [`std::any::type_name`]: a renamed or moved type then reads as a
//! mismatch (a recompute under the macro), and a change of such a type's
//! fields is not detected. Fingerprints are computed once per type per
//! process.
//!
//! A self-describing codec (JSON: field names are in the bytes) decodes a
//! value correctly or fails; for it the value's fingerprint is not checked
//! (see [`Codec::self_describing`](crate::codec::Codec::self_describing)),
//! so compatible changes such as an added optional field keep working.

use std::collections::{BTreeSet, HashMap};
use std::sync::{LazyLock, RwLock};

use serde::de::DeserializeOwned;
use serde_reflection::{Samples, Tracer, TracerConfig};
use sha2::{Digest, Sha256};

/// A type fingerprint.
pub(crate) type Fp = u64;

/// The fingerprint of a type that is not checked (self-describing codecs).
pub(crate) const UNCHECKED: Fp = 0;

/// Fingerprints computed so far, by type name (lifetimes aside, a type name
/// names one type; the name is only the cache key, not the fingerprint).
static CACHE: LazyLock<RwLock<HashMap<&'static str, Fp>>> = LazyLock::new(Default::default);

/// The fingerprint of `T`'s serde shape (see the module docs).
pub(crate) fn of<T: DeserializeOwned>() -> Fp {
    let name = std::any::type_name::<T>();
    if let Some(fp) = CACHE.read().unwrap_or_else(|e| e.into_inner()).get(name) {
        return *fp;
    }
    let fp = compute::<T>(name);
    CACHE.write().unwrap_or_else(|e| e.into_inner()).insert(name, fp);
    fp
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

fn compute<T: DeserializeOwned>(name: &str) -> Fp {
    let mut h = Sha256::new();
    match trace::<T>() {
        Some(shape) => {
            h.update(b"serde-shape-v1\0");
            h.update(shape.as_bytes());
        }
        None => {
            tracing::debug!(r#type = name, "serde shape not traceable; fingerprinting the type name");
            h.update(b"type-name-v1\0");
            h.update(name.as_bytes());
        }
    }
    first_u64(&h.finalize())
}

/// The traced shape of `T` as canonical JSON, or `None` when tracing fails.
///
/// One tracing pass visits one new variant of each enum it meets. The
/// tracer repeats passes only for the root type, so nested enums are
/// completed here: a round learns the container names, the next round
/// repeats passes until no known enum reports variants left, and rounds go
/// on until no new container appears (bounded; past the bound, `None`).
/// A nested enum's variants may keep the tracer's provisional indexes,
/// which follow declaration order (what bincode encodes) and the variant
/// count: deterministic, and any reorder, rename or retype changes them.
fn trace<T: DeserializeOwned>() -> Option<String> {
    let samples = Samples::new();
    let traced = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut names: BTreeSet<String> = BTreeSet::new();
        for _round in 0..16 {
            let mut tracer = Tracer::new(TracerConfig::default());
            let mut root = None;
            let mut complete = false;
            for _pass in 0..1024 {
                let (format, _value) = tracer.trace_type_once::<T>(&samples).ok()?;
                root = Some(format);
                let mut incomplete = false;
                for name in &names {
                    incomplete |= tracer.check_incomplete_enum(name).is_some();
                }
                if !incomplete {
                    complete = true;
                    break;
                }
            }
            let registry = tracer.registry_unchecked();
            let seen: BTreeSet<String> = registry.keys().cloned().collect();
            if complete && seen == names {
                return serde_json::to_string(&(root?, registry)).ok();
            }
            names = seen;
        }
        None
    }));
    traced.ok().flatten()
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
        assert!(shape.contains("\"B\"") && shape.contains("\"A\"") && shape.contains("\"Line\""), "{shape}");
        assert!(trace::<Option<Inner>>().is_some());
        assert_ne!(of::<Option<Inner>>(), of::<Option<Inner2>>());
    }

    #[test]
    fn untraceable_types_fall_back_to_the_type_name() {
        assert!(trace::<serde_json::Value>().is_none());
        assert_eq!(of::<serde_json::Value>(), of::<serde_json::Value>());
        assert_ne!(of::<serde_json::Value>(), of::<String>());
    }

    #[test]
    fn pair_depends_on_both_sides_and_their_order() {
        assert_ne!(pair(1, 2), pair(2, 1));
        assert_ne!(pair(1, 2), pair(1, 3));
    }
}
