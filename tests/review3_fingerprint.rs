//! Review 3: types whose fingerprint does not see an edit (a value decoded
//! through the wrong type). Two blocks of one function give two local types
//! with ONE `type_name`, which is what an edit between two builds looks like.
use std::time::Instant;

use persistdict::{Error, PersistDict};
use serde::{Deserialize, Serialize};

// ---------------------------------------------------------------------------
// 1. A tree held by a wrapper: `Doc.roots: Vec<Node>` and `Node.children:
//    Vec<Node>` have ONE visitor type (`VecVisitor<Node>`), so inside
//    `Doc.roots` the `children` Vec is never entered: `Node`'s container keeps
//    an Unknown forever, the trace never completes (MAX_RUNS runs), and the
//    fingerprint falls back to `type_name` -> a retyped field goes unseen.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
pub struct Node {
    pub children: Vec<Node>,
    pub v: u8,
}

#[test]
fn tree_behind_a_wrapper_sibling_retype_is_not_seen() {
    let dir = tempfile::tempdir().unwrap();
    {
        #[derive(Serialize, Deserialize, Debug, PartialEq)]
        struct Doc {
            roots: Vec<Node>,
            n: u32,
        }
        let t = Instant::now();
        PersistDict::<u8, Doc>::open(dir.path()).unwrap().insert(&1, &Doc { roots: vec![], n: u32::MAX }).unwrap();
        eprintln!("first insert (trace) took {:?}", t.elapsed());
    }
    {
        #[derive(Serialize, Deserialize, Debug, PartialEq)]
        struct Doc {
            roots: Vec<Node>,
            n: i32,
        }
        let got = PersistDict::<u8, Doc>::open(dir.path()).unwrap().get(&1);
        assert!(matches!(got, Err(Error::TypeMismatch { .. })), "u32::MAX read back as {got:?}");
    }
}

// Same, with the linked list spelled the usual way.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
pub struct Link {
    pub next: Option<Box<Link>>,
    pub v: u8,
}

#[test]
fn list_behind_a_wrapper_sibling_retype_is_not_seen() {
    let dir = tempfile::tempdir().unwrap();
    {
        #[derive(Serialize, Deserialize, Debug, PartialEq)]
        struct List {
            head: Option<Box<Link>>,
            len: u32,
        }
        let t = Instant::now();
        PersistDict::<u8, List>::open(dir.path()).unwrap().insert(&1, &List { head: None, len: u32::MAX }).unwrap();
        eprintln!("first insert (trace) took {:?}", t.elapsed());
    }
    {
        #[derive(Serialize, Deserialize, Debug, PartialEq)]
        struct List {
            head: Option<Box<Link>>,
            len: i32,
        }
        let got = PersistDict::<u8, List>::open(dir.path()).unwrap().get(&1);
        assert!(matches!(got, Err(Error::TypeMismatch { .. })), "u32::MAX read back as {got:?}");
    }
}

// ---------------------------------------------------------------------------
// 2. std's OsString: its Deserialize rejects the `Windows` variant on Unix,
//    the round robin over variants builds it, the run fails with no string
//    site to blame, and the whole root falls back to `type_name`.
#[test]
fn osstring_field_makes_sibling_retype_unseen() {
    let dir = tempfile::tempdir().unwrap();
    {
        #[derive(Serialize, Deserialize, Debug, PartialEq)]
        struct Rec {
            path: std::ffi::OsString,
            n: u32,
        }
        PersistDict::<u8, Rec>::open(dir.path()).unwrap().insert(&1, &Rec { path: "a".into(), n: u32::MAX }).unwrap();
    }
    {
        #[derive(Serialize, Deserialize, Debug, PartialEq)]
        struct Rec {
            path: std::ffi::OsString,
            n: i32,
        }
        let got = PersistDict::<u8, Rec>::open(dir.path()).unwrap().get(&1);
        assert!(matches!(got, Err(Error::TypeMismatch { .. })), "u32::MAX read back as {got:?}");
    }
}

// ---------------------------------------------------------------------------
// 3. Two types with one short name from two modules, different shapes:
//    their container keys collide (`Meta@Meta`), the merge conflicts, the
//    trace fails, the root falls back to `type_name`.
mod a {
    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    pub struct Meta {
        pub x: u8,
    }
}
mod b {
    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    pub struct Meta {
        pub s: String,
    }
}

#[test]
fn two_same_named_types_make_sibling_retype_unseen() {
    let dir = tempfile::tempdir().unwrap();
    {
        #[derive(Serialize, Deserialize, Debug, PartialEq)]
        struct Rec {
            a: a::Meta,
            b: b::Meta,
            n: u32,
        }
        PersistDict::<u8, Rec>::open(dir.path())
            .unwrap()
            .insert(&1, &Rec { a: a::Meta { x: 0 }, b: b::Meta { s: String::new() }, n: u32::MAX })
            .unwrap();
    }
    {
        #[derive(Serialize, Deserialize, Debug, PartialEq)]
        struct Rec {
            a: a::Meta,
            b: b::Meta,
            n: i32,
        }
        let got = PersistDict::<u8, Rec>::open(dir.path()).unwrap().get(&1);
        assert!(matches!(got, Err(Error::TypeMismatch { .. })), "u32::MAX read back as {got:?}");
    }
}

// ---------------------------------------------------------------------------
// 4. An integer-validating type (HTTP status, try_from u16): it rejects 1,
//    there is no candidate to try for integers, the root falls back.
#[derive(Serialize, Deserialize, Debug, PartialEq, Clone, Copy)]
#[serde(try_from = "u16", into = "u16")]
pub struct Status(u16);
impl TryFrom<u16> for Status {
    type Error = String;
    fn try_from(n: u16) -> Result<Self, String> {
        if (100..600).contains(&n) { Ok(Status(n)) } else { Err(format!("bad status {n}")) }
    }
}
impl From<Status> for u16 {
    fn from(s: Status) -> u16 {
        s.0
    }
}

#[test]
fn validated_integer_field_makes_sibling_retype_unseen() {
    let dir = tempfile::tempdir().unwrap();
    {
        #[derive(Serialize, Deserialize, Debug, PartialEq)]
        struct Resp {
            status: Status,
            len: u32,
        }
        PersistDict::<u8, Resp>::open(dir.path())
            .unwrap()
            .insert(&1, &Resp { status: Status(200), len: u32::MAX })
            .unwrap();
    }
    {
        #[derive(Serialize, Deserialize, Debug, PartialEq)]
        struct Resp {
            status: Status,
            len: i32,
        }
        let got = PersistDict::<u8, Resp>::open(dir.path()).unwrap().get(&1);
        assert!(matches!(got, Err(Error::TypeMismatch { .. })), "u32::MAX read back as {got:?}");
    }
}

// ---------------------------------------------------------------------------
// 5. The plainest form of 1: the VALUE type is `Vec<Node>` (a forest) or
//    `Vec<Expr>`. The root Vec's visitor is the one `Node.children` uses, so
//    the trace never completes and falls back to `type_name`: an edit of the
//    recursive type itself is not seen.
#[test]
fn forest_value_type_edit_is_not_seen() {
    let dir = tempfile::tempdir().unwrap();
    {
        #[derive(Serialize, Deserialize, Debug, PartialEq)]
        struct Node {
            children: Vec<Node>,
            v: u32,
        }
        PersistDict::<u8, Vec<Node>>::open(dir.path())
            .unwrap()
            .insert(&1, &vec![Node { children: vec![], v: u32::MAX }])
            .unwrap();
    }
    {
        #[derive(Serialize, Deserialize, Debug, PartialEq)]
        struct Node {
            children: Vec<Node>,
            v: i32,
        }
        let got = PersistDict::<u8, Vec<Node>>::open(dir.path()).unwrap().get(&1);
        assert!(matches!(got, Err(Error::TypeMismatch { .. })), "u32::MAX read back as {got:?}");
    }
}

#[test]
fn vec_of_recursive_enum_variant_edit_is_not_seen() {
    let dir = tempfile::tempdir().unwrap();
    {
        #[derive(Serialize, Deserialize, Debug, PartialEq)]
        enum Expr {
            List(Vec<Expr>),
            Lit(u32),
        }
        PersistDict::<u8, Vec<Expr>>::open(dir.path()).unwrap().insert(&1, &vec![Expr::Lit(u32::MAX)]).unwrap();
    }
    {
        #[derive(Serialize, Deserialize, Debug, PartialEq)]
        enum Expr {
            List(Vec<Expr>),
            Lit(i32),
        }
        let got = PersistDict::<u8, Vec<Expr>>::open(dir.path()).unwrap().get(&1);
        assert!(matches!(got, Err(Error::TypeMismatch { .. })), "u32::MAX read back as {got:?}");
    }
}

// ---------------------------------------------------------------------------
// 6. Timing: a DOM-like node (a few dozen fields) in a Vec: every trace
//    that never completes runs the type's Deserialize MAX_RUNS = 65536 times.
#[derive(Serialize, Deserialize, Debug, PartialEq, Default)]
pub struct Dom {
    pub tag: String,
    pub id: Option<String>,
    pub classes: Vec<String>,
    pub attrs: std::collections::BTreeMap<String, String>,
    pub children: Vec<Dom>,
    pub f0: u32,
    pub f1: u32,
    pub f2: u32,
    pub f3: u32,
    pub f4: u32,
    pub f5: u64,
    pub f6: u64,
    pub f7: u64,
    pub f8: u64,
    pub f9: u64,
    pub g0: Option<u8>,
    pub g1: Option<u8>,
    pub g2: Option<u8>,
    pub g3: Option<u8>,
    pub g4: Option<u8>,
    pub h0: String,
    pub h1: String,
    pub h2: String,
    pub h3: String,
    pub h4: String,
}

#[test]
fn dom_forest_first_insert_time() {
    let dir = tempfile::tempdir().unwrap();
    let t = Instant::now();
    PersistDict::<u8, Vec<Dom>>::open(dir.path()).unwrap().insert(&1, &vec![Dom::default()]).unwrap();
    let took = t.elapsed();
    assert!(took.as_secs_f64() < 1.0, "first insert of a Vec<Dom> took {took:?}");
}

// ---------------------------------------------------------------------------
// 7. A transparent newtype over a transparent newtype: the outer field is
//    tagged `Timeout`; `Timeout`'s own inner type (Secs -> Millis) leaves no
//    trace (transparent Deserialize calls the inner one without a seed).
#[derive(Serialize, Deserialize, Debug, PartialEq, Clone, Copy)]
#[serde(transparent)]
pub struct Secs(pub u64);
#[derive(Serialize, Deserialize, Debug, PartialEq, Clone, Copy)]
#[serde(transparent)]
pub struct Millis(pub u64);

// Not covered (a documented limit of fingerprints): a field whose type is a
// transparent newtype over another transparent newtype (`Timeout(Secs)` ->
// `Timeout(Millis)`, both over `u64`): the inner type's name never reaches
// the deserializer, and the bytes are the same.

// ---------------------------------------------------------------------------
// 8. Timing: three levels of 24-variant enums, 40 fields of the top one.
macro_rules! leaf_enum {
    ($name:ident, $inner:ty; $($v:ident)*) => {
        #[derive(Serialize, Deserialize, Debug, PartialEq)]
        pub enum $name { $($v($inner),)* }
    };
}
leaf_enum!(E3, u8; A B C D E F G H I J K L M N O P Q R S T U V W X);
leaf_enum!(E2, (E3, Option<E3>); A B C D E F G H I J K L M N O P Q R S T U V W X);
leaf_enum!(E1, Vec<E2>; A B C D E F G H I J K L M N O P Q R S T U V W X);
#[derive(Serialize, Deserialize, Debug, PartialEq)]
pub struct Wide {
    pub a0: E1,
    pub a1: E1,
    pub a2: E1,
    pub a3: E1,
    pub a4: E1,
    pub a5: E1,
    pub a6: E1,
    pub a7: E1,
    pub a8: E1,
    pub a9: E1,
    pub b0: Option<E1>,
    pub b1: Option<E1>,
    pub b2: Option<E1>,
    pub b3: Option<E1>,
    pub b4: Option<E1>,
    pub b5: Option<E1>,
    pub b6: Option<E1>,
    pub b7: Option<E1>,
    pub b8: Option<E1>,
    pub b9: Option<E1>,
    pub c0: Vec<E1>,
    pub c1: Vec<E2>,
    pub c2: Vec<E3>,
    pub c3: Option<E2>,
    pub c4: Option<E3>,
    pub c5: (E1, E2, E3),
    pub c6: std::collections::BTreeMap<u8, E1>,
    pub c7: E2,
    pub c8: E3,
    pub c9: E2,
}

#[test]
fn nested_enums_first_insert_time() {
    let dir = tempfile::tempdir().unwrap();
    let t = Instant::now();
    let d = PersistDict::<u8, Wide>::open(dir.path()).unwrap();
    let got = d.get(&1);
    let took = t.elapsed();
    assert!(took.as_secs_f64() < 1.0, "first get of Wide took {took:?} ({got:?})");
}

// ---------------------------------------------------------------------------
// 9. Timing: a node with k recursive links of k DISTINCT container types:
//    each may be entered once per path, so a run costs about k!.
use std::collections::{BTreeMap, HashMap, LinkedList, VecDeque};
#[derive(Serialize, Deserialize, Debug, PartialEq, Default)]
pub struct Ast {
    pub id: u32,
    pub parent: Option<Box<Ast>>,
    pub children: Vec<Ast>,
    pub by_name: BTreeMap<String, Ast>,
    pub by_id: HashMap<u32, Ast>,
    pub queue: VecDeque<Ast>,
    pub list: LinkedList<Ast>,
    pub opt_children: Option<Vec<Ast>>,
    pub maybe: Vec<Option<Ast>>,
}

#[test]
fn distinct_recursive_links_first_insert_time() {
    let dir = tempfile::tempdir().unwrap();
    let t = Instant::now();
    PersistDict::<u8, Ast>::open(dir.path()).unwrap().insert(&1, &Ast::default()).unwrap();
    let took = t.elapsed();
    assert!(took.as_secs_f64() < 1.0, "first insert of Ast took {took:?}");
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Default)]
pub struct Ast9 {
    pub id: u32,
    pub parent: Option<Box<Ast9>>,
    pub children: Vec<Ast9>,
    pub by_name: BTreeMap<String, Ast9>,
    pub by_id: HashMap<u32, Ast9>,
    pub queue: VecDeque<Ast9>,
    pub list: LinkedList<Ast9>,
    pub opt_children: Option<Vec<Ast9>>,
    pub maybe: Vec<Option<Ast9>>,
    pub by_u64: BTreeMap<u64, Ast9>,
}

#[test]
fn nine_distinct_recursive_links_first_insert_time() {
    let dir = tempfile::tempdir().unwrap();
    let t = Instant::now();
    PersistDict::<u8, Ast9>::open(dir.path()).unwrap().insert(&1, &Ast9::default()).unwrap();
    let took = t.elapsed();
    assert!(took.as_secs_f64() < 1.0, "first insert of Ast9 took {took:?}");
}
