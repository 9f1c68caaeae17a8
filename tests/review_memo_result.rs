//! Review: a `Result` return type reached through a generic parameter or an
//! associated type is stored whole, so an `Err` is cached and replayed.
use std::sync::LazyLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use persistdict::persist_cache;
use serde::Serialize;
use serde::de::DeserializeOwned;

static ROOT: LazyLock<tempfile::TempDir> = LazyLock::new(|| {
    let root = tempfile::tempdir().unwrap();
    std::env::set_current_dir(root.path()).unwrap();
    root
});

trait Job {
    type Out: Serialize + DeserializeOwned;
    fn run(x: u32) -> Self::Out;
}

static CALLS: AtomicUsize = AtomicUsize::new(0);

/// Fails on its first call (a transient error), succeeds afterwards.
struct Flaky;
impl Job for Flaky {
    type Out = Result<u32, String>;
    fn run(x: u32) -> Result<u32, String> {
        if CALLS.fetch_add(1, Ordering::SeqCst) == 0 { Err("transient".into()) } else { Ok(x * 2) }
    }
}

#[persist_cache(db = "review_generic_result")]
fn exec<J: Job>(x: u32) -> J::Out {
    J::run(x)
}

#[test]
fn an_err_through_an_associated_type_is_not_cached() {
    LazyLock::force(&ROOT);
    assert_eq!(exec::<Flaky>(21), Err("transient".to_string()));
    // The docs: Result<T, E>, however spelled, stores only Ok.
    assert_eq!(exec::<Flaky>(21), Ok(42), "the Err of the first call was cached and replayed");
}
