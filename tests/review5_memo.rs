//! Fifth adversarial review (memo policies): two types with one type name
//! get one identity string (caught in the process: the second runs
//! uncached); an async fn awaiting itself with the same arguments computes
//! instead of waiting for its own flight; a sync one likewise; serve-stale
//! keeps the types of a generic function apart.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use persistdict::persist_cache;

fn enter() {
    static ROOT: std::sync::LazyLock<tempfile::TempDir> = std::sync::LazyLock::new(|| {
        let dir = tempfile::tempdir().unwrap();
        std::env::set_current_dir(dir.path()).unwrap();
        dir
    });
    std::sync::LazyLock::force(&ROOT);
}

pub trait Unit {
    const K: u32;
}

#[persist_cache(db = "rev13_units")]
fn scaled<U: Unit>(x: u32) -> u32 {
    x * U::K
}

/// Two distinct types with the same `type_name` (local items in two blocks
/// of one function): the key's identity is `type_name_of_val`, so they would
/// share a key; the second is caught by its closure's type id and runs
/// uncached rather than return the first type's result.
#[test]
fn generic_params_with_equal_type_names_do_not_share_a_value() {
    enter();
    {
        struct M;
        impl Unit for M {
            const K: u32 = 1;
        }
        assert_eq!(scaled::<M>(5), 5);
    }
    {
        struct M;
        impl Unit for M {
            const K: u32 = 2;
        }
        assert_eq!(scaled::<M>(5), 10, "wrong value: served the other M's result");
    }
}

static INNER: AtomicBool = AtomicBool::new(false);

#[persist_cache(db = "rev13_async_reentrant")]
async fn again(x: u32) -> u32 {
    if !INNER.swap(true, Ordering::SeqCst) {
        // Re-entrant: the same call from inside its own computation.
        return Box::pin(again(x)).await + 1;
    }
    x
}

#[test]
fn an_async_fn_calling_itself_with_the_same_args_does_not_hang() {
    enter();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let r = rt.block_on(async { tokio::time::timeout(Duration::from_secs(5), again(7)).await });
    assert!(r.is_ok(), "hang: the async re-entrant call waits for its own flight forever");
}

static SYNC_INNER: AtomicBool = AtomicBool::new(false);
static SYNC_RUNS: AtomicUsize = AtomicUsize::new(0);

#[persist_cache(db = "rev13_sync_reentrant")]
fn again_sync(x: u32) -> u32 {
    SYNC_RUNS.fetch_add(1, Ordering::SeqCst);
    if !SYNC_INNER.swap(true, Ordering::SeqCst) {
        return again_sync(x) + 1;
    }
    x
}

#[test]
fn a_sync_fn_calling_itself_is_fine() {
    enter();
    assert_eq!(again_sync(3), 4);
    assert_eq!(again_sync(3), 4);
    assert_eq!(SYNC_RUNS.load(Ordering::SeqCst), 2);
}

static G_FAIL: AtomicBool = AtomicBool::new(false);

#[persist_cache(db = "rev13_generic_stale", fresh_for = "50ms", on_error = "serve_stale")]
fn genr<T: Default + serde::Serialize + serde::de::DeserializeOwned + From<u8>>(x: u32) -> Result<T, String> {
    if G_FAIL.load(Ordering::SeqCst) {
        return Err("down".into());
    }
    Ok(T::from(x as u8))
}

#[test]
fn generic_serve_stale_keeps_types_apart() {
    enter();
    assert_eq!(genr::<u32>(1), Ok(1u32));
    assert_eq!(genr::<u64>(1), Ok(1u64));
    std::thread::sleep(Duration::from_millis(80));
    G_FAIL.store(true, Ordering::SeqCst);
    assert_eq!(genr::<u64>(1), Ok(1u64));
    assert_eq!(genr::<u32>(1), Ok(1u32));
    assert_eq!(genr::<u16>(1), Err("down".to_string()));
}
