//! Review: a result type whose nested enum changed between builds is decoded
//! from the old bytes (the shape fingerprint misses enums behind Option/Vec).
use std::sync::LazyLock;

use persistdict::persist_cache;
use serde::{Deserialize, Serialize};

static ROOT: LazyLock<tempfile::TempDir> = LazyLock::new(|| {
    let root = tempfile::tempdir().unwrap();
    std::env::set_current_dir(root.path()).unwrap();
    root
});

mod old {
    use serde::{Deserialize, Serialize};
    #[derive(Serialize, Deserialize)]
    pub enum Limit {
        None,
        Bytes(u64),
    }
    #[derive(Serialize, Deserialize)]
    pub struct Plan {
        pub limits: Vec<Limit>,
    }
}

/// This build: `Bytes` became a signed delta.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
enum Limit {
    None,
    Bytes(i64),
}
#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Plan {
    limits: Vec<Limit>,
}

#[persist_cache(db = "review_memo_shape")]
fn plan(n: u32) -> Plan {
    Plan { limits: vec![Limit::Bytes(i64::from(n))] }
}

#[test]
fn a_result_whose_nested_enum_changed_is_recomputed() {
    LazyLock::force(&ROOT);
    let key = plan_cache(7).key().unwrap();
    // What the previous build stored for plan(7).
    let old = plan_cache(7).store().dict::<old::Plan>().unwrap();
    old.insert(&key, &old::Plan { limits: vec![old::Limit::Bytes(u64::MAX)] }).unwrap();
    assert_eq!(plan(7), Plan { limits: vec![Limit::Bytes(7)] });
}
