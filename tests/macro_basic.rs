//! `#[persist_cache]` behaviour, counting body executions.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{LazyLock, Mutex};

use persistdict::persist_cache;
use serde::{Deserialize, Serialize};

/// Every test here uses its own db under one temp root; tests that read env
/// vars serialize on this lock.
static ROOT: LazyLock<tempfile::TempDir> = LazyLock::new(|| tempfile::tempdir().unwrap());
static ENV_LOCK: Mutex<()> = Mutex::new(());

fn setup() {
    // Relative `db` paths resolve against the current directory.
    let _g = ENV_LOCK.lock().unwrap();
    std::env::set_current_dir(ROOT.path()).unwrap();
}

static SQUARE_CALLS: AtomicUsize = AtomicUsize::new(0);

#[persist_cache(db = "macro_square")]
fn square(x: u64) -> u64 {
    SQUARE_CALLS.fetch_add(1, Ordering::SeqCst);
    x * x
}

#[test]
fn computes_once_per_distinct_arguments() {
    setup();
    for _ in 0..3 {
        assert_eq!(square(3), 9);
        assert_eq!(square(4), 16);
    }
    assert_eq!(SQUARE_CALLS.load(Ordering::SeqCst), 2);
    assert!(square_cache(3).is_cached());
    assert!(square_cache(3).invalidate().unwrap());
    assert!(!square_cache(3).is_cached());
    assert_eq!(square(3), 9);
    assert_eq!(SQUARE_CALLS.load(Ordering::SeqCst), 3);
    assert_eq!(square_cache(0).store().uncached(|| square(4)), 16);
    assert_eq!(SQUARE_CALLS.load(Ordering::SeqCst), 4);
    assert!(square_cache(0).store().clear().unwrap() >= 2);
    assert!(!square_cache(4).is_cached());
}

static PARSE_CALLS: AtomicUsize = AtomicUsize::new(0);

#[persist_cache(db = "macro_result")]
fn parse(text: &str) -> Result<u32, std::num::ParseIntError> {
    PARSE_CALLS.fetch_add(1, Ordering::SeqCst);
    let n: u32 = text.trim().parse()?;
    if n == 0 {
        return Ok(1000);
    }
    Ok(n)
}

#[test]
fn result_caches_only_ok_and_question_mark_and_return_work() {
    setup();
    assert_eq!(parse("12").unwrap(), 12);
    assert_eq!(parse("12").unwrap(), 12);
    assert_eq!(PARSE_CALLS.load(Ordering::SeqCst), 1);
    assert!(parse("x").is_err());
    assert!(parse("x").is_err());
    assert_eq!(PARSE_CALLS.load(Ordering::SeqCst), 3);
    assert_eq!(parse("0").unwrap(), 1000);
}

static SHARED_A: AtomicUsize = AtomicUsize::new(0);
static SHARED_B: AtomicUsize = AtomicUsize::new(0);

#[persist_cache(db = "macro_shared")]
fn shared_a(x: u32) -> u32 {
    SHARED_A.fetch_add(1, Ordering::SeqCst);
    x + 1
}

#[persist_cache(db = "macro_shared")]
fn shared_b(x: u32) -> u32 {
    SHARED_B.fetch_add(1, Ordering::SeqCst);
    x + 2
}

#[test]
fn two_functions_sharing_a_db_do_not_collide() {
    setup();
    assert_eq!((shared_a(1), shared_b(1)), (2, 3));
    assert_eq!((shared_a(1), shared_b(1)), (2, 3));
    assert_eq!(SHARED_A.load(Ordering::SeqCst), 1);
    assert_eq!(SHARED_B.load(Ordering::SeqCst), 1);
    shared_a_cache(0).store().clear().unwrap();
    assert!(shared_b_cache(1).is_cached());
}

#[derive(Serialize, Deserialize, Clone)]
struct Model {
    scale: u32,
}

struct Client;

static METHOD_CALLS: AtomicUsize = AtomicUsize::new(0);

impl Model {
    #[persist_cache(db = "macro_methods")]
    fn apply(&self, x: u32) -> u32 {
        METHOD_CALLS.fetch_add(1, Ordering::SeqCst);
        x * self.scale
    }

    #[persist_cache(db = "macro_methods", ignore(self))]
    fn ignores_self(&self, x: u32) -> u32 {
        METHOD_CALLS.fetch_add(1, Ordering::SeqCst);
        x + self.scale
    }
}

#[persist_cache(db = "macro_methods", ignore(client))]
fn with_client(client: &Client, (a, b): (u32, u32)) -> u32 {
    let _ = client;
    METHOD_CALLS.fetch_add(1, Ordering::SeqCst);
    a + b
}

#[test]
fn methods_self_in_key_ignore_and_patterns() {
    setup();
    let m2 = Model { scale: 2 };
    let m3 = Model { scale: 3 };
    assert_eq!(m2.apply(5), 10);
    assert_eq!(m3.apply(5), 15);
    assert_eq!(m2.apply(5), 10);
    assert_eq!(METHOD_CALLS.load(Ordering::SeqCst), 2);
    assert_eq!(m2.ignores_self(1), 3);
    // self is ignored: the cached value for x = 1 is returned for m3 too.
    assert_eq!(m3.ignores_self(1), 3);
    assert_eq!(METHOD_CALLS.load(Ordering::SeqCst), 3);
    assert_eq!(with_client(&Client, (1, 2)), 3);
    assert_eq!(with_client(&Client, (1, 2)), 3);
    assert_eq!(METHOD_CALLS.load(Ordering::SeqCst), 4);
}

static GENERIC_CALLS: AtomicUsize = AtomicUsize::new(0);

#[persist_cache(db = "macro_generic")]
fn describe<T: Serialize + std::fmt::Debug>(value: T) -> String {
    GENERIC_CALLS.fetch_add(1, Ordering::SeqCst);
    format!("{value:?}")
}

#[test]
fn generic_instantiations_are_separate() {
    setup();
    // 1u8 and 1u64 encode to the same bincode bytes; the type name keeps them apart.
    assert_eq!(describe(1u8), "1");
    assert_eq!(describe(1u64), "1");
    assert_eq!(describe(1u64), "1");
    assert_eq!(GENERIC_CALLS.load(Ordering::SeqCst), 2);
}

#[persist_cache(db = "macro_fib")]
fn fib(n: u32) -> u128 {
    if n < 2 { n as u128 } else { fib(n - 1) + fib(n - 2) }
}

#[persist_cache(db = "macro_fib")]
fn fib_sum(n: u32) -> u128 {
    (0..=n).map(fib).sum()
}

#[test]
fn recursion_and_nested_memoized_calls_on_one_db() {
    setup();
    assert_eq!(fib(90), 2_880_067_194_370_816_120);
    assert_eq!(fib_sum(10), 143);
}

static SLOW_CALLS: AtomicUsize = AtomicUsize::new(0);

#[persist_cache(db = "macro_flight")]
fn slow(x: u32) -> u32 {
    SLOW_CALLS.fetch_add(1, Ordering::SeqCst);
    std::thread::sleep(std::time::Duration::from_millis(200));
    x
}

#[test]
fn single_flight_under_eight_threads() {
    setup();
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| assert_eq!(slow(7), 7));
        }
    });
    assert_eq!(SLOW_CALLS.load(Ordering::SeqCst), 1);
}

static ASYNC_CALLS: AtomicUsize = AtomicUsize::new(0);

#[persist_cache(db = "macro_async", expire_days = 30)]
async fn fetch(url: String) -> Result<String, String> {
    ASYNC_CALLS.fetch_add(1, Ordering::SeqCst);
    tokio::task::yield_now().await;
    if url.is_empty() {
        return Err("empty url".into());
    }
    Ok(format!("body of {url}"))
}

#[test]
fn async_functions_cache_ok_results() {
    setup();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        assert_eq!(fetch("a".into()).await.unwrap(), "body of a");
        assert_eq!(fetch("a".into()).await.unwrap(), "body of a");
        assert!(fetch(String::new()).await.is_err());
        assert!(fetch(String::new()).await.is_err());
        let joins: Vec<_> = (0..8).map(|_| tokio::spawn(fetch("b".into()))).collect();
        for j in joins {
            assert_eq!(j.await.unwrap().unwrap(), "body of b");
        }
    });
    assert_eq!(ASYNC_CALLS.load(Ordering::SeqCst), 4);
}

static BAD_DB_CALLS: AtomicUsize = AtomicUsize::new(0);

#[persist_cache(db = "/proc/definitely/not/writable")]
fn unopenable(x: u32) -> u32 {
    BAD_DB_CALLS.fetch_add(1, Ordering::SeqCst);
    x + 1
}

#[test]
fn an_unopenable_db_still_returns_correct_results() {
    assert_eq!(unopenable(1), 2);
    assert_eq!(unopenable(1), 2);
    assert_eq!(BAD_DB_CALLS.load(Ordering::SeqCst), 2);
    assert!(!unopenable_cache(1).store().is_enabled());
}

#[persist_cache(db = "macro_hygiene")]
fn hygiene(key: u32, cache: u32, result: u32, db: u32) -> u32 {
    key + cache + result + db
}

#[test]
fn argument_names_do_not_collide_with_generated_locals() {
    setup();
    assert_eq!(hygiene(1, 2, 3, 4), 10);
    assert_eq!(hygiene(1, 2, 3, 4), 10);
}

/// Two functions that share a namespace (same `name`, `version` and
/// signature tokens) but not a return type: the second finds bytes it cannot
/// decode, recomputes, and overwrites them.
mod type_change {
    use super::*;

    pub static NEW_CALLS: AtomicUsize = AtomicUsize::new(0);

    pub mod old {
        use super::*;
        #[derive(Serialize, Deserialize)]
        pub struct Out {
            pub text: String,
        }
        #[persist_cache(db = "macro_type_change", name = "shape", version = "1", companions = false)]
        pub fn shape(x: u32) -> Out {
            Out { text: format!("{x}") }
        }
    }

    pub mod new {
        use super::*;
        #[derive(Serialize, Deserialize, Debug, PartialEq)]
        pub struct Out {
            pub a: u64,
            pub b: u64,
            pub c: u64,
        }
        #[persist_cache(db = "macro_type_change", name = "shape", version = "1", companions = false)]
        pub fn shape(x: u32) -> Out {
            NEW_CALLS.fetch_add(1, Ordering::SeqCst);
            Out { a: u64::from(x), b: 1, c: 2 }
        }
    }
}

#[test]
fn a_stored_value_whose_type_changed_is_recomputed() {
    setup();
    assert_eq!(type_change::old::shape(1).text, "1");
    let expected = type_change::new::Out { a: 1, b: 1, c: 2 };
    assert_eq!(type_change::new::shape(1), expected);
    assert_eq!(type_change::new::shape(1), expected);
    assert_eq!(type_change::NEW_CALLS.load(Ordering::SeqCst), 1, "recomputed once, then stored");
}

#[persist_cache(db = "macro_dict_view")]
fn dict_view(x: u32) -> String {
    format!("result {x}")
}

#[test]
fn the_companion_reaches_the_underlying_dict_and_its_stats() {
    setup();
    assert_eq!(dict_view(1), "result 1");
    assert_eq!(dict_view(2), "result 2");
    let call = dict_view_cache(1);
    let d = call.store().dict::<String>().unwrap();
    assert_eq!(d.len().unwrap(), 2);
    let key = call.key().unwrap();
    assert_eq!(d.get(&key).unwrap().as_deref(), Some("result 1"));
    let meta = d.metadata(&key).unwrap().unwrap();
    assert!(meta.ctime <= meta.atime);
    let values: Vec<String> = d.values().unwrap().collect::<Result<_, _>>().unwrap();
    assert_eq!(values, ["result 1", "result 2"]);
    assert_eq!(call.store().stats().unwrap().entries, 2);
}
