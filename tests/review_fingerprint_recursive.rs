//! Review: fingerprinting a recursive enum whose first variant recurses
//! overflows the stack: the process aborts (catch_unwind cannot catch it).
use persistdict::PersistDict;
use serde::{Deserialize, Serialize};

/// A recursive enum whose first variant recurses (the usual `Expr` shape).
#[derive(Serialize, Deserialize, Debug, PartialEq)]
enum Expr {
    Add(Box<Expr>, Box<Expr>),
    Lit(i64),
}

#[test]
fn recursive_enum_with_recursive_first_variant() {
    let dir = tempfile::tempdir().unwrap();
    let d: PersistDict<u8, Expr> = PersistDict::open(dir.path()).unwrap();
    let e = Expr::Add(Box::new(Expr::Lit(1)), Box::new(Expr::Lit(2)));
    d.insert(&1, &e).unwrap();
    assert_eq!(d.get(&1).unwrap(), Some(e));
}
