//! Review 4: the macro's read-back check (memo/store.rs store_value) has the
//! same blind spot: encode -> decode -> encode is byte-identical for a value
//! that decodes as another value.
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
pub struct Rec {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub a: Option<u8>,
    pub b: u8,
    pub c: u8,
    pub d: Vec<u8>,
}

static CALLS: AtomicUsize = AtomicUsize::new(0);

#[persistdict::persist_cache(db = "review4_round_trip_memo")]
fn make(x: u8) -> Rec {
    CALLS.fetch_add(1, Ordering::SeqCst);
    Rec { a: None, b: x, c: 9, d: vec![7, 1, 8] }
}

#[test]
fn a_memoized_result_comes_back_as_another_value() {
    let dir = tempfile::tempdir().unwrap();
    std::env::set_current_dir(dir.path()).unwrap();
    let want = Rec { a: None, b: 1, c: 9, d: vec![7, 1, 8] };
    assert_eq!(make(1), want);
    assert_eq!(make(1), want, "second call (served from the cache: {} calls)", CALLS.load(Ordering::SeqCst));
}
