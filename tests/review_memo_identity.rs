//! Review: two different computations that get one memo key.
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

// Two identical nested fns in two blocks of ONE function: same module path,
// same name, same tokens, and the same closure type name
// (`review_memo_identity::blocks::inner::{{closure}}`), but different `K`.
fn blocks() -> (u64, u64) {
    let a = {
        const K: u64 = 10;
        #[persist_cache(db = "review_blocks")]
        fn inner(x: u64) -> u64 {
            x * K
        }
        inner(1)
    };
    let b = {
        const K: u64 = 20;
        #[persist_cache(db = "review_blocks")]
        fn inner(x: u64) -> u64 {
            x * K
        }
        inner(1)
    };
    (a, b)
}

#[test]
fn identical_nested_fns_in_two_blocks_of_one_fn() {
    setup();
    assert_eq!(blocks(), (10, 20));
}

// The same inside two closures of one function.
fn closures() -> (u64, u64) {
    let a = || {
        const K: u64 = 1;
        #[persist_cache(db = "review_closures")]
        fn inner(x: u64) -> u64 {
            x * K
        }
        inner(3)
    };
    let b = || {
        const K: u64 = 2;
        #[persist_cache(db = "review_closures")]
        fn inner(x: u64) -> u64 {
            x * K
        }
        inner(3)
    };
    (a(), b())
}

#[test]
fn identical_nested_fns_in_two_closures_of_one_fn() {
    setup();
    assert_eq!(closures(), (3, 6));
}

// A trait default method: Self is a generic parameter of the method, but is
// it in the closure's type name?
trait Greeter {
    const PREFIX: &'static str;
    #[persist_cache(db = "review_trait_default")]
    fn greet(x: u32) -> String {
        format!("{}{x}", Self::PREFIX)
    }
}
struct Hello;
struct Bye;
impl Greeter for Hello {
    const PREFIX: &'static str = "hello ";
}
impl Greeter for Bye {
    const PREFIX: &'static str = "bye ";
}

#[test]
fn trait_default_method_distinguishes_self() {
    setup();
    assert_eq!(Hello::greet(1), "hello 1");
    assert_eq!(Bye::greet(1), "bye 1");
}

// Identical nested fns inside methods of two inherent impls of one generic
// type with different concrete parameters.
struct Foo<T>(std::marker::PhantomData<T>);
impl Foo<u8> {
    fn run() -> u64 {
        const K: u64 = 8;
        #[persist_cache(db = "review_impls")]
        fn inner(x: u64) -> u64 {
            x * K
        }
        inner(1)
    }
}
impl Foo<u16> {
    fn run() -> u64 {
        const K: u64 = 16;
        #[persist_cache(db = "review_impls")]
        fn inner(x: u64) -> u64 {
            x * K
        }
        inner(1)
    }
}

trait Tr<T> {
    fn go() -> u64;
}
struct A;
impl Tr<u8> for A {
    fn go() -> u64 {
        const K: u64 = 3;
        #[persist_cache(db = "review_impls")]
        fn inner(x: u64) -> u64 {
            x * K
        }
        inner(1)
    }
}
impl Tr<u16> for A {
    fn go() -> u64 {
        const K: u64 = 5;
        #[persist_cache(db = "review_impls")]
        fn inner(x: u64) -> u64 {
            x * K
        }
        inner(1)
    }
}

#[test]
fn nested_fns_in_impls_of_one_generic_type() {
    setup();
    assert_eq!((Foo::<u8>::run(), Foo::<u16>::run()), (8, 16));
}

#[test]
fn nested_fns_in_two_instantiations_of_one_generic_trait() {
    setup();
    assert_eq!((<A as Tr<u8>>::go(), <A as Tr<u16>>::go()), (3, 5));
}
