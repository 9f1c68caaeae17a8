//! Review: nested shapes whose difference lies deep; each pair must read as
//! a TypeMismatch, never decode.
use std::collections::BTreeMap;

use persistdict::{Error, PersistDict};
use serde::{Deserialize, Serialize};

macro_rules! pair {
    ($m:ident, $($body:tt)*) => {
        mod $m {
            pub mod v1 { use serde::{Deserialize, Serialize}; #[allow(dead_code)] type N = u32; $($body)* }
            pub mod v2 { use serde::{Deserialize, Serialize}; #[allow(dead_code)] type N = i32; $($body)* }
        }
    };
}

// The last variant of an enum nested in an Option in a struct field.
pair! {opt_enum,
    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    pub enum E { A, B(u8), C(N) }
    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    pub struct S { pub x: Option<E>, pub y: Option<E> }
}
// An enum nested in an enum nested in a Vec in a map value.
pair! {deep,
    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    pub enum In { P, Q { n: N } }
    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    pub enum Out { X, Y(Vec<In>), Z(In) }
    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    pub struct S { pub m: std::collections::BTreeMap<String, Vec<Out>> }
}
// A generic struct.
pair! {generic,
    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    pub struct G<T> { pub t: T, pub n: N }
    pub type S = G<Option<Box<G<u8>>>>;
}

fn check<A: Serialize + for<'de> Deserialize<'de> + std::fmt::Debug, B: for<'de> Deserialize<'de> + std::fmt::Debug>(
    a: A,
) {
    let dir = tempfile::tempdir().unwrap();
    PersistDict::<u8, A>::open(dir.path()).unwrap().insert(&1, &a).unwrap();
    let got = PersistDict::<u8, B>::open(dir.path()).unwrap().get(&1);
    assert!(matches!(got, Err(Error::TypeMismatch { .. })), "{a:?} read as {}: {got:?}", std::any::type_name::<B>());
}

#[test]
fn opt_enum_last_variant() {
    use opt_enum::*;
    check::<v1::S, v2::S>(v1::S { x: Some(v1::E::C(u32::MAX)), y: None });
}

#[test]
fn deep_nested_enum() {
    use deep::*;
    let mut m = BTreeMap::new();
    m.insert("k".to_string(), vec![v1::Out::Z(v1::In::Q { n: u32::MAX })]);
    check::<v1::S, v2::S>(v1::S { m });
}

#[test]
fn generic_struct_inner_field() {
    use generic::*;
    check::<v1::S, v2::S>(v1::G { t: Some(Box::new(v1::G { t: 1, n: 7 })), n: u32::MAX });
}
