//! Sixth adversarial review: two functions of one name (identical nested
//! `fn inner()` in two functions, one method in two impls) had one 8-byte
//! key prefix, so `clear()` of one removed the other's entries, and two
//! nested functions of one name with different bodies were taken for two
//! versions of one function, so pruning removed a live function's entries.
//! The prefix and the version records now name the function by its path.
//! The tests change the current directory: each uses a directory of its own
//! under one process-wide root, set once.
use persistdict::persist_cache;
use std::time::Duration;

fn enter() {
    static ROOT: std::sync::LazyLock<tempfile::TempDir> = std::sync::LazyLock::new(|| {
        let dir = tempfile::tempdir().unwrap();
        std::env::set_current_dir(dir.path()).unwrap();
        dir
    });
    std::sync::LazyLock::force(&ROOT);
}

fn outer1(x: u32, op: u8) -> bool {
    #[persist_cache(db = "review6_prefix")]
    fn inner(x: u32) -> u32 {
        x + 1
    }
    match op {
        0 => {
            inner(x);
        }
        1 => {
            inner_cache(x).store().clear().unwrap();
        }
        _ => {}
    }
    inner_cache(x).is_cached()
}

fn outer2(x: u32, op: u8) -> bool {
    #[persist_cache(db = "review6_prefix")]
    fn inner(x: u32) -> u32 {
        x + 1
    }
    match op {
        0 => {
            inner(x);
        }
        1 => {
            inner_cache(x).store().clear().unwrap();
        }
        _ => {}
    }
    inner_cache(x).is_cached()
}

// Two distinct nested functions, same name, different bodies (not versions of each other).
fn outer3(x: u32, op: u8) -> bool {
    #[persist_cache(db = "review6_prefix")]
    fn helper(x: u32) -> u32 {
        x + 3
    }
    match op {
        0 => {
            helper(x);
        }
        2 => {
            helper_cache(x).store().prune_stale_versions(Duration::from_millis(1)).unwrap();
        }
        _ => {}
    }
    helper_cache(x).is_cached()
}
fn outer4(x: u32, op: u8) -> bool {
    #[persist_cache(db = "review6_prefix")]
    fn helper(x: u32) -> u32 {
        x * 4
    }
    match op {
        0 => {
            helper(x);
        }
        2 => {
            helper_cache(x).store().prune_stale_versions(Duration::from_millis(1)).unwrap();
        }
        _ => {}
    }
    helper_cache(x).is_cached()
}

#[test]
fn clear_of_one_nested_fn_spares_the_other() {
    enter();
    assert!(outer1(7, 0));
    assert!(outer2(7, 0));
    assert!(!outer1(7, 1), "outer1's inner cleared");
    assert!(outer2(7, 9), "clear() of outer1::inner removed outer2::inner's entry (a different function)");
}

#[test]
fn prune_of_one_nested_fn_spares_the_other() {
    enter();
    assert!(outer3(5, 0));
    std::thread::sleep(Duration::from_millis(50));
    assert!(outer4(5, 0));
    std::thread::sleep(Duration::from_millis(50));
    assert!(outer4(5, 2));
    assert!(
        outer3(5, 9),
        "pruning outer4::helper's old versions removed outer3::helper's results, a different live function"
    );
}

#[derive(serde::Serialize)]
struct A;
#[derive(serde::Serialize)]
struct B;
impl A {
    #[persist_cache(db = "review6_prefix")]
    fn get(&self, x: u32) -> u32 {
        x + 1
    }
}
impl B {
    #[persist_cache(db = "review6_prefix")]
    fn get(&self, x: u32) -> u32 {
        x + 1
    }
}

#[test]
fn clear_of_one_impl_method_spares_the_other() {
    enter();
    A.get(1);
    B.get(1);
    assert!(B.get_cache(1).is_cached());
    A.get_cache(1).store().clear().unwrap();
    assert!(B.get_cache(1).is_cached(), "A::get's clear() removed B::get's entry");
}
