//! Size budgets (issue 12, first part): `max_entries` and `max_bytes` hold
//! after every write, least recently used entries go first, eviction costs
//! what it evicts, the smallest budget of two handles wins, and bad budgets
//! are clear errors.

use std::time::Duration;

use persistdict::{Error, Maintenance, PersistDict};

fn budgeted(dir: &std::path::Path) -> persistdict::Builder<u32, Vec<u8>> {
    PersistDict::builder(dir)
        .maintenance(Maintenance::Disabled)
        .durability(persistdict::Durability::NoSync)
        .atime_granularity(Duration::from_millis(1))
}

#[test]
fn max_entries_holds_after_every_write_and_keeps_the_newest() {
    let dir = tempfile::tempdir().unwrap();
    let d = budgeted(dir.path()).max_entries(100).open().unwrap();
    for i in 0..1000u32 {
        d.insert(&i, &vec![1; 10]).unwrap();
        assert!(d.len().unwrap() <= 100, "over budget after insert {i}");
    }
    let keys: Vec<u32> = d.keys().unwrap().collect::<Result<_, _>>().unwrap();
    assert_eq!(keys, (900..1000).collect::<Vec<_>>());
    let s = d.stats().unwrap();
    assert_eq!(s.evictions, 900);
    // extend: within budget once it returns, whatever its size.
    d.extend((2000..2500u32).map(|i| (i, vec![2; 10]))).unwrap();
    assert_eq!(d.len().unwrap(), 100);
    assert!(d.check_integrity().unwrap().is_clean());
}

#[test]
fn a_read_keeps_an_entry_the_least_recently_used_goes() {
    let dir = tempfile::tempdir().unwrap();
    let d = budgeted(dir.path()).max_entries(10).open().unwrap();
    for i in 0..10u32 {
        d.insert(&i, &vec![0; 4]).unwrap();
    }
    std::thread::sleep(Duration::from_millis(5));
    assert!(d.get(&0).unwrap().is_some()); // 0 is now the most recently used
    std::thread::sleep(Duration::from_millis(5));
    d.insert(&10, &vec![0; 4]).unwrap();
    assert!(d.contains_key(&0).unwrap(), "a read kept entry 0");
    assert!(!d.contains_key(&1).unwrap(), "entry 1 was the least recently used");
    assert_eq!(d.len().unwrap(), 10);
}

#[test]
fn max_bytes_holds_and_counts_the_tables_pages() {
    let dir = tempfile::tempdir().unwrap();
    let budget = 512 << 10;
    let d = budgeted(dir.path()).max_bytes(budget).open().unwrap();
    for i in 0..2000u32 {
        d.insert(&i, &vec![7; 1000]).unwrap();
        let used = d.stats().unwrap().used_bytes;
        assert!(used <= budget, "{used} bytes used after insert {i}, budget {budget}");
    }
    assert!(d.len().unwrap() > 100, "the budget still holds a few hundred entries");
    assert!(d.contains_key(&1999).unwrap());
    assert!(!d.contains_key(&0).unwrap());
}

#[test]
fn the_smallest_budget_of_two_handles_wins() {
    let dir = tempfile::tempdir().unwrap();
    let a = budgeted(dir.path()).max_entries(50).open().unwrap();
    let b = budgeted(dir.path()).max_entries(20).open().unwrap();
    for i in 0..100u32 {
        a.insert(&i, &vec![0; 4]).unwrap();
    }
    assert_eq!(b.len().unwrap(), 20);
    drop(b);
    for i in 100..200u32 {
        a.insert(&i, &vec![0; 4]).unwrap();
    }
    assert_eq!(a.len().unwrap(), 50, "with the smaller handle gone, the larger budget is in force");
}

#[test]
fn one_write_over_budget_evicts_one_entry_of_fifty_thousand() {
    let dir = tempfile::tempdir().unwrap();
    let plain: PersistDict<u32, Vec<u8>> = PersistDict::open(dir.path()).unwrap();
    plain.extend((0..50_000u32).map(|i| (i, vec![0; 4]))).unwrap();
    drop(plain);
    let d = budgeted(dir.path()).max_entries(50_000).open().unwrap();
    d.insert(&50_000, &vec![0; 4]).unwrap();
    assert_eq!(d.len().unwrap(), 50_000);
    assert_eq!(d.stats().unwrap().evictions, 1);
    assert!(!d.contains_key(&0).unwrap());
}

#[test]
fn bad_budgets_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let err = budgeted(dir.path()).max_entries(0).open().unwrap_err();
    assert!(matches!(err, Error::InvalidOption { .. }), "{err}");
    let err = budgeted(dir.path()).max_bytes(1000).open().unwrap_err();
    assert!(matches!(err, Error::InvalidOption { .. }), "{err}");
    let d = budgeted(dir.path()).max_bytes(64 << 10).open().unwrap();
    d.insert(&1, &vec![1; 10]).unwrap();
    let err = d.insert(&2, &vec![1; 40_000]).unwrap_err();
    assert!(matches!(err, Error::OverBudget { .. }), "{err}");
    assert_eq!(d.get(&1).unwrap(), Some(vec![1; 10]), "what was stored stays");
    assert!(!d.contains_key(&2).unwrap());
}

#[test]
fn the_budget_holds_under_four_writer_threads() {
    let dir = tempfile::tempdir().unwrap();
    let d = budgeted(dir.path()).max_entries(200).open().unwrap();
    std::thread::scope(|s| {
        for t in 0..4u32 {
            let d = d.clone();
            s.spawn(move || {
                for i in 0..500u32 {
                    d.insert(&(t * 10_000 + i), &vec![t as u8; 16]).unwrap();
                    assert!(d.len().unwrap() <= 200);
                }
            });
        }
    });
    assert_eq!(d.len().unwrap(), 200);
    assert!(d.check_integrity().unwrap().is_clean());
}

mod memo {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use persistdict::persist_cache;

    static CALLS: AtomicUsize = AtomicUsize::new(0);

    #[persist_cache(db = "budget_memo", max_entries = 10, max_size = "1 MiB")]
    fn square(x: u64) -> u64 {
        CALLS.fetch_add(1, Ordering::SeqCst);
        x * x
    }

    #[test]
    fn a_memoized_function_keeps_its_budget() {
        let dir = tempfile::tempdir().unwrap();
        std::env::set_current_dir(dir.path()).unwrap();
        for x in 0..100 {
            assert_eq!(square(x), x * x);
        }
        let stats = square_cache(0).store().stats().unwrap();
        assert_eq!(stats.entries, 10);
        assert_eq!(stats.evictions, 90);
        assert!(square_cache(99).is_cached());
        assert!(!square_cache(0).is_cached());
        assert_eq!(square(99), 99 * 99);
        assert_eq!(CALLS.load(Ordering::SeqCst), 100);
    }
}

const CHILD: &str = env!("CARGO_BIN_EXE_persistdict-child");

#[test]
fn the_budget_holds_under_two_writer_processes_and_four_threads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let children: Vec<_> = (1..=2u64)
        .map(|id| {
            std::process::Command::new(CHILD)
                .args(["budget-writer", path.to_str().unwrap(), &id.to_string(), "600", "150"])
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    // Meanwhile, four threads of this process write under the same budget.
    // The child writes `u64` keys: so does this process (one key type per database).
    let d: PersistDict<u64, Vec<u8>> = PersistDict::builder(&path)
        .maintenance(Maintenance::Disabled)
        .durability(persistdict::Durability::NoSync)
        .max_entries(150)
        .open()
        .unwrap();
    std::thread::scope(|s| {
        for t in 0..4u32 {
            let d = d.clone();
            s.spawn(move || {
                for i in 0..300u64 {
                    d.insert(&(u64::from(t) * 10_000 + i), &vec![t as u8; 16]).unwrap();
                    assert!(d.len().unwrap() <= 150);
                }
            });
        }
    });
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "{out:?}");
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "done", "a process saw the budget exceeded");
    }
    assert_eq!(d.len().unwrap(), 150);
    let report = d.check_integrity().unwrap();
    assert!(report.is_clean(), "{report:?}");
}
