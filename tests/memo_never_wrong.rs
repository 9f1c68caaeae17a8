//! Issue 10 ("never a wrong value"), the macro's side: a stored result is
//! only ever returned for the same computation. Each test is named after the
//! item it pins and failed before its fix.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use persistdict::persist_cache;
use serde::{Deserialize, Serialize};

static ROOT: LazyLock<tempfile::TempDir> = LazyLock::new(|| {
    let root = tempfile::tempdir().unwrap();
    // Relative `db` paths resolve against the current directory; every test
    // of this binary sets the same one.
    std::env::set_current_dir(root.path()).unwrap();
    root
});

fn setup() {
    LazyLock::force(&ROOT);
}

// --- item 2: a result type whose fields were swapped between builds ------

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone, Copy)]
struct Split {
    quotient: u32,
    remainder: u32,
}

/// The same fields in the other order: what an edit of `Split` between two
/// builds looks like on disk (bincode writes fields in order, no names).
#[derive(Serialize, Deserialize)]
struct SplitSwapped {
    remainder: u32,
    quotient: u32,
}

static SPLIT_CALLS: AtomicUsize = AtomicUsize::new(0);

#[persist_cache(db = "never_wrong_split")]
fn split(n: u32, d: u32) -> Split {
    SPLIT_CALLS.fetch_add(1, Ordering::SeqCst);
    Split { quotient: n / d, remainder: n % d }
}

#[test]
fn item02_a_result_stored_with_another_shape_is_a_miss_not_a_wrong_value() {
    setup();
    let key = split_cache(17, 5).key().unwrap();
    // What an older build stored: the bytes of Split { quotient: 2, remainder: 3 }
    // written in the other field order.
    let old = split_cache(17, 5).store().dict::<SplitSwapped>().unwrap();
    old.insert(&key, &SplitSwapped { remainder: 3, quotient: 2 }).unwrap();
    assert!(split_cache(17, 5).is_cached());
    assert_eq!(split(17, 5), Split { quotient: 3, remainder: 2 }, "recomputed, never decoded into the wrong fields");
    assert_eq!(split(17, 5), Split { quotient: 3, remainder: 2 });
    assert_eq!(SPLIT_CALLS.load(Ordering::SeqCst), 1, "recomputed once, then the new result is stored");
    let now = split_cache(17, 5).store().dict::<Split>().unwrap();
    assert_eq!(now.get(&key).unwrap(), Some(Split { quotient: 3, remainder: 2 }));
}

// --- item 3: const generics ----------------------------------------------

#[persist_cache(db = "never_wrong_generics")]
fn cmul<const N: usize>(x: u32) -> u64 {
    u64::from(x) * N as u64
}

#[test]
fn item03_const_generics_are_part_of_the_key() {
    setup();
    assert_eq!(cmul::<2>(3), 6);
    assert_eq!(cmul::<3>(3), 9);
    assert_eq!(cmul::<2>(3), 6);
    assert!(cmul_cache::<3>(3).is_cached());
    assert_ne!(cmul_cache::<2>(3).key(), cmul_cache::<3>(3).key());
}

// --- item 4: the impl block's generics, without `self` ----------------------

struct Foo<T>(std::marker::PhantomData<T>);

impl<T> Foo<T> {
    #[persist_cache(db = "never_wrong_generics")]
    fn size_times(x: u64) -> u64 {
        std::mem::size_of::<T>() as u64 * x
    }
}

struct W<T>(std::marker::PhantomData<T>);

impl<T> W<T> {
    #[persist_cache(db = "never_wrong_generics")]
    fn describe(x: u32) -> String {
        format!("{} {x}", std::any::type_name::<T>())
    }
}

#[test]
fn item04_the_impl_blocks_generics_are_part_of_the_key() {
    setup();
    assert_eq!(Foo::<u8>::size_times(1), 1);
    assert_eq!(Foo::<u64>::size_times(1), 8);
    assert_eq!(W::<u32>::describe(2), "u32 2");
    // 1i32 and 2u32 are different arguments, but equal bytes must not matter either.
    assert_eq!(W::<i32>::describe(2), "i32 2");
    assert_eq!(W::<u32>::describe(2), "u32 2");
}

// --- item 5: identical functions in different places --------------------

trait Konst {
    const K: u64;
}

struct One;
struct Two;

impl Konst for One {
    const K: u64 = 1;
}
impl Konst for Two {
    const K: u64 = 2;
}

impl One {
    #[persist_cache(db = "never_wrong_places")]
    fn times_k(x: u64) -> u64 {
        x * <Self as Konst>::K
    }
}

impl Two {
    #[persist_cache(db = "never_wrong_places")]
    fn times_k(x: u64) -> u64 {
        x * <Self as Konst>::K
    }
}

trait Named {
    fn name(x: u8) -> String;
}

impl Named for One {
    #[persist_cache(db = "never_wrong_places", companions = false)]
    fn name(x: u8) -> String {
        format!("{}:{x}", std::any::type_name::<Self>())
    }
}

impl Named for Two {
    #[persist_cache(db = "never_wrong_places", companions = false)]
    fn name(x: u8) -> String {
        format!("{}:{x}", std::any::type_name::<Self>())
    }
}

fn outer_one() -> u64 {
    const K: u64 = 10;
    #[persist_cache(db = "never_wrong_places")]
    fn inner(x: u64) -> u64 {
        x * K
    }
    inner(1)
}

fn outer_two() -> u64 {
    const K: u64 = 20;
    #[persist_cache(db = "never_wrong_places")]
    fn inner(x: u64) -> u64 {
        x * K
    }
    inner(1)
}

#[test]
fn item05_identical_functions_in_different_places_do_not_share_results() {
    setup();
    assert_eq!(One::times_k(5), 5);
    assert_eq!(Two::times_k(5), 10);
    assert!(One::name(1).ends_with("One:1"));
    assert!(Two::name(1).ends_with("Two:1"));
    assert_eq!(outer_one(), 10);
    assert_eq!(outer_two(), 20);
    // Twice, so that the second calls are hits.
    assert_eq!((One::times_k(5), Two::times_k(5), outer_one(), outer_two()), (5, 10, 10, 20));
}

// --- item 6: Result however spelled --------------------------------------

/// Not Serialize: it must not need to be.
#[derive(Debug, PartialEq)]
struct MyErr;

type R = Result<u32, MyErr>;

static ALIAS_CALLS: AtomicUsize = AtomicUsize::new(0);

#[persist_cache(db = "never_wrong_results")]
fn through_alias(x: u32) -> R {
    ALIAS_CALLS.fetch_add(1, Ordering::SeqCst);
    if x == 0 { Err(MyErr) } else { Ok(x) }
}

static FMT_CALLS: AtomicUsize = AtomicUsize::new(0);

#[persist_cache(db = "never_wrong_results")]
fn fmt_result(fail: bool) -> std::fmt::Result {
    FMT_CALLS.fetch_add(1, Ordering::SeqCst);
    if fail { Err(std::fmt::Error) } else { Ok(()) }
}

static IO_CALLS: AtomicUsize = AtomicUsize::new(0);

#[persist_cache(db = "never_wrong_results")]
fn io_result(fail: bool) -> std::io::Result<String> {
    IO_CALLS.fetch_add(1, Ordering::SeqCst);
    if fail { Err(std::io::Error::other("down")) } else { Ok("up".into()) }
}

#[test]
fn item06_any_spelling_of_result_stores_only_ok() {
    setup();
    for _ in 0..3 {
        assert_eq!(through_alias(0), Err(MyErr));
        assert_eq!(through_alias(7), Ok(7));
        assert!(fmt_result(true).is_err());
        assert!(fmt_result(false).is_ok());
        assert!(io_result(true).is_err());
        assert_eq!(io_result(false).unwrap(), "up");
    }
    // Each Err ran three times, each Ok once.
    assert_eq!(ALIAS_CALLS.load(Ordering::SeqCst), 4);
    assert_eq!(FMT_CALLS.load(Ordering::SeqCst), 4);
    assert_eq!(IO_CALLS.load(Ordering::SeqCst), 4);
    assert!(!through_alias_cache(0).is_cached());
    assert!(through_alias_cache(7).is_cached());
}

// --- item 18: uncached for async fns, and after a panic -----------------------

static FETCH_CALLS: AtomicUsize = AtomicUsize::new(0);

#[persist_cache(db = "never_wrong_uncached")]
async fn fetch(id: u32) -> String {
    FETCH_CALLS.fetch_add(1, Ordering::SeqCst);
    format!("item {id} #{}", FETCH_CALLS.load(Ordering::SeqCst))
}

#[tokio::test]
async fn item18_uncached_runs_an_async_body_past_the_cache() {
    setup();
    let first = fetch(1).await;
    assert_eq!(fetch(1).await, first, "cached");
    let fresh = fetch_cache(1).store().uncached_async(fetch(1)).await;
    assert_ne!(fresh, first, "uncached_async ran the body");
    assert_eq!(fetch(1).await, first, "and stored nothing");
    assert_eq!(FETCH_CALLS.load(Ordering::SeqCst), 2);
}

static PANICKY_CALLS: AtomicUsize = AtomicUsize::new(0);

#[persist_cache(db = "never_wrong_uncached")]
fn panicky(x: u32) -> u32 {
    PANICKY_CALLS.fetch_add(1, Ordering::SeqCst);
    x
}

#[test]
fn item18_a_panic_inside_uncached_leaves_no_bypass_behind() {
    setup();
    assert_eq!(panicky(1), 1);
    let store = panicky_cache(1).store();
    let caught = std::panic::catch_unwind(|| store.uncached(|| -> u32 { panic!("boom") }));
    assert!(caught.is_err());
    // The next call is a normal, cached one.
    assert_eq!(panicky(1), 1);
    assert_eq!(PANICKY_CALLS.load(Ordering::SeqCst), 1);
}

// --- item 19: canonical keys for maps and sets -------------------------------

static MAP_CALLS: AtomicUsize = AtomicUsize::new(0);

#[persist_cache(db = "never_wrong_maps")]
fn total(weights: HashMap<String, u32>, tags: HashSet<String>) -> u64 {
    MAP_CALLS.fetch_add(1, Ordering::SeqCst);
    weights.values().map(|v| u64::from(*v)).sum::<u64>() + tags.len() as u64
}

static VEC_CALLS: AtomicUsize = AtomicUsize::new(0);

#[persist_cache(db = "never_wrong_maps")]
fn first(items: Vec<u32>) -> Option<u32> {
    VEC_CALLS.fetch_add(1, Ordering::SeqCst);
    items.first().copied()
}

#[test]
fn item19_equal_maps_and_sets_give_one_key_whatever_their_order() {
    setup();
    for i in 0..5usize {
        // Built in different orders and capacities: their iteration orders differ.
        let mut weights = HashMap::with_capacity(i * 40);
        let mut tags = HashSet::with_capacity(i * 40);
        let mut names: Vec<String> = (0..30).map(|n| format!("k{n}")).collect();
        names.rotate_left(i * 7);
        for name in &names {
            weights.insert(name.clone(), name[1..].parse::<u32>().unwrap() * 2);
            tags.insert(name.clone());
        }
        assert_eq!(total(weights, tags), 870 + 30);
    }
    assert_eq!(MAP_CALLS.load(Ordering::SeqCst), 1);
    // Order still matters where it is part of the value.
    assert_eq!(first(vec![1, 2]), Some(1));
    assert_eq!(first(vec![2, 1]), Some(2));
    assert_eq!(VEC_CALLS.load(Ordering::SeqCst), 2);
}
