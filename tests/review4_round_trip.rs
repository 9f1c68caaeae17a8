//! Review 4: values that pass the read-back check on insert and still read
//! back as another value.
use persistdict::PersistDict;
use serde::{Deserialize, Serialize};

/// The check is encode -> decode -> encode and compares bytes. When the
/// skipped field's absence makes the decoder shift every later field by one
/// slot AND the shifted parse consumes exactly all bytes, the re-encoding of
/// the wrong value is byte-identical: the check passes.
#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
pub struct Rec {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub a: Option<u8>,
    pub b: u8,
    pub c: u8,
    pub d: Vec<u8>,
}

#[test]
fn a_shifted_parse_that_reencodes_identically_passes_the_check() {
    let dir = tempfile::tempdir().unwrap();
    let d = PersistDict::<u8, Rec>::open(dir.path()).unwrap();
    let v = Rec { a: None, b: 1, c: 9, d: vec![7, 1, 8] };
    let ins = d.insert(&1, &v);
    let got = d.get(&1);
    assert!(ins.is_err() || matches!(&got, Ok(Some(g)) if *g == v), "insert {ins:?}; wrote {v:?}, read {got:?}");
}

/// A tuple struct holds no `Struct(` in its traced shape, so the check is
/// off for it; serde accepts skip_serializing_if on tuple-struct fields.
#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
pub struct Tup(#[serde(skip_serializing_if = "Option::is_none")] pub Option<u8>, pub u8, pub Option<u8>);

#[test]
fn a_tuple_struct_with_skip_serializing_if_is_not_checked() {
    let dir = tempfile::tempdir().unwrap();
    let d = PersistDict::<u8, Tup>::open(dir.path()).unwrap();
    let v = Tup(None, 0, Some(0));
    let ins = d.insert(&1, &v);
    let got = d.get(&1);
    assert!(ins.is_err() || matches!(&got, Ok(Some(g)) if *g == v), "insert {ins:?}; wrote {v:?}, read {got:?}");
}

/// Same through a tuple variant of an enum.
#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
pub enum En {
    V(#[serde(skip_serializing_if = "Option::is_none")] Option<u8>, u8, Option<u8>),
}

#[test]
fn a_tuple_variant_with_skip_serializing_if_is_not_checked() {
    let dir = tempfile::tempdir().unwrap();
    let d = PersistDict::<u8, En>::open(dir.path()).unwrap();
    let v = En::V(None, 0, Some(0));
    let ins = d.insert(&1, &v);
    let got = d.get(&1);
    assert!(ins.is_err() || matches!(&got, Ok(Some(g)) if *g == v), "insert {ins:?}; wrote {v:?}, read {got:?}");
}
