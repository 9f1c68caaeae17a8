//! Review 3: two different computations that get one memo key.
use std::sync::LazyLock;

use persistdict::persist_cache;

static ROOT: LazyLock<tempfile::TempDir> = LazyLock::new(|| {
    let root = tempfile::tempdir().unwrap();
    std::env::set_current_dir(root.path()).unwrap();
    root
});

fn setup() {
    LazyLock::force(&ROOT);
}

// Two identical nested fns in two blocks of ONE trait-impl method: their
// identity is `<review3_memo::A as review3_memo::Tr>::go::inner`, which does
// not start with the module path, so `nested_in_a_function` says no and the
// file:line:col is left out of the key.
trait Tr {
    fn go() -> (u64, u64);
}
struct A;
impl Tr for A {
    fn go() -> (u64, u64) {
        let a = {
            const K: u64 = 10;
            #[persist_cache(db = "review3_trait_blocks")]
            fn inner(x: u64) -> u64 {
                x * K
            }
            inner(1)
        };
        let b = {
            const K: u64 = 20;
            #[persist_cache(db = "review3_trait_blocks")]
            fn inner(x: u64) -> u64 {
                x * K
            }
            inner(1)
        };
        (a, b)
    }
}

#[test]
fn identical_nested_fns_in_two_blocks_of_a_trait_method() {
    setup();
    assert_eq!(A::go(), (10, 20));
}

// Two `mod m` in two blocks of one function: `module_path!()` and the
// closure's type name disagree about the function segment (or not); either
// way check the two computations are told apart.
fn mods() -> (u64, u64) {
    let a = {
        mod m {
            const K: u64 = 3;
            #[persistdict::persist_cache(db = "review3_mods")]
            pub fn f(x: u64) -> u64 {
                x * K
            }
            pub fn path() -> &'static str {
                module_path!()
            }
        }
        eprintln!("module_path in block mod: {}", m::path());
        m::f(1)
    };
    let b = {
        mod m {
            const K: u64 = 7;
            #[persistdict::persist_cache(db = "review3_mods")]
            pub fn f(x: u64) -> u64 {
                x * K
            }
        }
        m::f(1)
    };
    (a, b)
}

#[test]
fn identical_fns_in_two_block_modules_of_one_fn() {
    setup();
    assert_eq!(mods(), (3, 7));
}
