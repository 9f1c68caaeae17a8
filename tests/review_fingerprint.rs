//! Review: type fingerprints that collide or crash.
use std::time::Duration;

use persistdict::PersistDict;
use serde::{Deserialize, Serialize};

// Two newtypes over the same data with different meaning: `from`/`into`
// conversions make their serde shape that of a plain u64, with no container name.
#[derive(Serialize, Deserialize, Debug, PartialEq, Clone, Copy)]
#[serde(from = "u64", into = "u64")]
struct Secs(Duration);
impl From<u64> for Secs {
    fn from(n: u64) -> Self {
        Secs(Duration::from_secs(n))
    }
}
impl From<Secs> for u64 {
    fn from(s: Secs) -> u64 {
        s.0.as_secs()
    }
}
#[derive(Serialize, Deserialize, Debug, PartialEq, Clone, Copy)]
#[serde(from = "u64", into = "u64")]
struct Millis(Duration);
impl From<u64> for Millis {
    fn from(n: u64) -> Self {
        Millis(Duration::from_millis(n))
    }
}
impl From<Millis> for u64 {
    fn from(s: Millis) -> u64 {
        s.0.as_millis() as u64
    }
}

/// A timeout stored as `Secs` (5 s) is read back through `Millis` as 5 ms:
/// a wrong value, not a TypeMismatch.
#[test]
fn from_into_types_share_the_fingerprint_of_their_proxy() {
    let dir = tempfile::tempdir().unwrap();
    PersistDict::<String, Secs>::open(dir.path()).unwrap().insert("timeout", &Secs(Duration::from_secs(5))).unwrap();
    let d: PersistDict<String, Millis> = PersistDict::open(dir.path()).unwrap();
    let got = d.get("timeout");
    assert!(
        matches!(got, Err(persistdict::Error::TypeMismatch { .. })),
        "expected TypeMismatch, got {got:?} (5 s read back as 5 ms)"
    );
}

/// Two types with the same Rust path (fn-local items in two blocks of one
/// function) share `type_name`, which keys the per-process fingerprint
/// cache: the second type gets the first one's fingerprint.
#[test]
fn same_type_name_different_types_share_a_cached_fingerprint() {
    let dir = tempfile::tempdir().unwrap();
    {
        #[derive(Serialize, Deserialize, Debug, PartialEq)]
        struct Reading {
            value: u32,
        }
        PersistDict::<u8, Reading>::open(dir.path()).unwrap().insert(&1, &Reading { value: u32::MAX - 2 }).unwrap();
    }
    {
        #[derive(Serialize, Deserialize, Debug, PartialEq)]
        struct Reading {
            value: i32,
        }
        let d: PersistDict<u8, Reading> = PersistDict::open(dir.path()).unwrap();
        let got = d.get(&1);
        assert!(matches!(got, Err(persistdict::Error::TypeMismatch { .. })), "expected TypeMismatch, got {got:?}");
    }
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Tree {
    v: u32,
    children: Vec<Tree>,
}

#[test]
fn recursive_struct_through_vec() {
    let dir = tempfile::tempdir().unwrap();
    let d: PersistDict<u8, Tree> = PersistDict::open(dir.path()).unwrap();
    let t = Tree { v: 1, children: vec![Tree { v: 2, children: vec![] }] };
    d.insert(&1, &t).unwrap();
    assert_eq!(d.get(&1).unwrap(), Some(t));
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Node {
    v: u32,
    next: Option<Box<Node>>,
}

#[test]
fn recursive_struct_through_option_box() {
    let dir = tempfile::tempdir().unwrap();
    let d: PersistDict<u8, Node> = PersistDict::open(dir.path()).unwrap();
    let n = Node { v: 1, next: Some(Box::new(Node { v: 2, next: None })) };
    d.insert(&1, &n).unwrap();
    assert_eq!(d.get(&1).unwrap(), Some(n));
}
