//! Review 3: one type, no edit: `skip_serializing_if` (common in types
//! shared with JSON APIs) writes fewer bytes than bincode reads back.
use persistdict::PersistDict;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
pub struct Rec {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub a: Option<u8>,
    pub b: u8,
    pub c: Option<u8>,
}

#[test]
fn skip_serializing_if_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let d = PersistDict::<u8, Rec>::open(dir.path()).unwrap();
    let v = Rec { a: None, b: 0, c: Some(0) };
    let ins = d.insert(&1, &v);
    let got = d.get(&1);
    assert!(ins.is_err() || got.as_ref().map(|g| g.as_ref() == Some(&v)).unwrap_or(true), "wrote {v:?}, read {got:?}");
}

mod memo {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::Rec;

    static CALLS: AtomicUsize = AtomicUsize::new(0);

    #[persistdict::persist_cache(db = "skip_if_memo")]
    fn make(x: u8) -> Rec {
        CALLS.fetch_add(1, Ordering::SeqCst);
        Rec { a: None, b: x, c: Some(x) }
    }

    /// Under the macro such a result is not stored (a warning says why):
    /// the function runs again, and never returns another value.
    #[test]
    fn a_result_that_does_not_read_back_is_not_stored() {
        let dir = tempfile::tempdir().unwrap();
        std::env::set_current_dir(dir.path()).unwrap();
        assert_eq!(make(0), Rec { a: None, b: 0, c: Some(0) });
        assert_eq!(make(0), Rec { a: None, b: 0, c: Some(0) });
        assert_eq!(CALLS.load(Ordering::SeqCst), 2);
        assert!(!make_cache(0).is_cached());
    }
}
