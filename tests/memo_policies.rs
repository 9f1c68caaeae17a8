//! Memoization in production (issue 13): single flight across processes,
//! a killed leader taken over, `"process"` mode, failing calls, freshness
//! and stale serving across restarts, `expire`, `extra_key`, the counters,
//! and `async fn`s that keep their executor free.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use persistdict::persist_cache;

const CHILD: &str = env!("CARGO_BIN_EXE_persistdict-child");

/// One working directory for the in-process tests of this binary (they run
/// in parallel threads and the current directory is per process; every
/// function has its own `db` under it).
fn enter() {
    static ROOT: std::sync::LazyLock<tempfile::TempDir> = std::sync::LazyLock::new(|| {
        let dir = tempfile::tempdir().unwrap();
        std::env::set_current_dir(dir.path()).unwrap();
        dir
    });
    std::sync::LazyLock::force(&ROOT);
}

fn spawn(args: &[&str], slow: bool) -> Child {
    let mut c = Command::new(CHILD);
    c.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    if slow {
        c.env("FLIGHT_SLOW", "1");
    }
    c.spawn().expect("spawn the child")
}

fn finish(c: Child) -> Vec<String> {
    let out = c.wait_with_output().unwrap();
    assert!(out.status.success(), "child failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect()
}

/// The `pid x` lines the children's bodies appended.
fn runs(root: &Path) -> Vec<(u32, u64)> {
    let text = std::fs::read_to_string(root.join("runs")).unwrap_or_default();
    text.lines()
        .map(|l| {
            let (p, x) = l.split_once(' ').unwrap();
            (p.parse().unwrap(), x.parse().unwrap())
        })
        .collect()
}

#[test]
fn four_processes_of_eight_threads_compute_each_call_once() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path().to_str().unwrap();
    let xs: Vec<String> = (0..20).map(|x| x.to_string()).collect();
    let children: Vec<Child> = (0..4)
        .map(|_| {
            let mut args = vec!["flight", r, "8"];
            args.extend(xs.iter().map(String::as_str));
            spawn(&args, false)
        })
        .collect();
    for c in children {
        let lines = finish(c);
        assert_eq!(lines.len(), 8 * 20);
        for l in lines {
            let (x, v) = l.split_once(' ').unwrap();
            assert_eq!(v.parse::<u64>().unwrap(), x.parse::<u64>().unwrap() * 7);
        }
    }
    let runs = runs(root.path());
    let distinct: HashSet<u64> = runs.iter().map(|r| r.1).collect();
    assert_eq!(distinct.len(), 20);
    assert_eq!(runs.len(), 20, "some call was computed twice across processes: {runs:?}");
}

#[test]
fn a_killed_leader_is_taken_over_by_exactly_one_waiter() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path().to_str().unwrap();
    // A leads x = 999 and would compute for 30 s.
    let mut leader = spawn(&["flight", r, "1", "999"], true);
    let deadline = Instant::now() + Duration::from_secs(20);
    while runs(root.path()).is_empty() {
        assert!(Instant::now() < deadline, "the leader never started");
        std::thread::sleep(Duration::from_millis(10));
    }
    // Two more processes wait on its lease...
    let waiters = [spawn(&["flight", r, "2", "999"], false), spawn(&["flight", r, "2", "999"], false)];
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(runs(root.path()).len(), 1, "a waiter computed while the leader was alive");
    // ...until it is killed: one of them takes over (its pid is checked at
    // every poll), the other reads that result.
    leader.kill().unwrap();
    leader.wait().unwrap();
    let taken_over = Instant::now();
    for w in waiters {
        for l in finish(w) {
            assert_eq!(l, "999 6993");
        }
    }
    eprintln!("waiters finished {:?} after the kill", taken_over.elapsed());
    let runs = runs(root.path());
    assert_eq!(runs.len(), 2, "exactly one waiter computes after the kill: {runs:?}");
    assert_ne!(runs[0].0, runs[1].0);
}

#[test]
fn process_mode_computes_once_per_process() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path().to_str().unwrap();
    let children: Vec<Child> = (0..3).map(|_| spawn(&["flight-process", r, "5"], false)).collect();
    for c in children {
        assert_eq!(finish(c), ["done"]);
    }
    let mut per_process: HashMap<u32, usize> = HashMap::new();
    for (pid, _) in runs(root.path()) {
        *per_process.entry(pid).or_default() += 1;
    }
    assert!(!per_process.is_empty());
    assert!(
        per_process.values().all(|&n| n == 1),
        "four threads of one process computed more than once: {per_process:?}"
    );
}

#[test]
fn a_stale_result_is_served_when_the_recomputation_fails_across_restarts() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path().to_str().unwrap();
    let first = finish(spawn(&["stale", r, "1"], false));
    assert!(first[0].starts_with("ok value 1 at "), "{first:?}");
    // Within fresh_for: a hit, no computation.
    assert_eq!(finish(spawn(&["stale", r, "1"], false)), first);
    assert_eq!(runs(root.path()).len(), 1);
    // Past fresh_for, with the API down: the old value, after one try.
    std::thread::sleep(Duration::from_millis(400));
    std::fs::write(root.path().join("fail"), b"").unwrap();
    assert_eq!(finish(spawn(&["stale", r, "1"], false)), first, "the last Ok is served");
    assert_eq!(runs(root.path()).len(), 2, "the recomputation was tried");
    // A call never computed has nothing to serve: the error comes through.
    assert_eq!(finish(spawn(&["stale", r, "2"], false)), ["err the API is down"]);
    // The API is back: a new value replaces the stale one.
    std::fs::remove_file(root.path().join("fail")).unwrap();
    let fresh = finish(spawn(&["stale", r, "1"], false));
    assert!(fresh[0].starts_with("ok value 1 at ") && fresh != first, "{fresh:?} vs {first:?}");
}

static FAILING_RUNS: AtomicUsize = AtomicUsize::new(0);
static FAILING_NOW: AtomicUsize = AtomicUsize::new(0);
static FAILING_MAX: AtomicUsize = AtomicUsize::new(0);

#[persist_cache(db = "policies_failing")]
fn failing(x: u32) -> Result<u32, String> {
    FAILING_RUNS.fetch_add(1, Ordering::SeqCst);
    let now = FAILING_NOW.fetch_add(1, Ordering::SeqCst) + 1;
    FAILING_MAX.fetch_max(now, Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(400));
    FAILING_NOW.fetch_sub(1, Ordering::SeqCst);
    Err(format!("{x} failed"))
}

#[test]
fn callers_waiting_on_a_failed_call_retry_at_once_not_in_turn() {
    enter();
    let barrier = Arc::new(Barrier::new(8));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let b = barrier.clone();
            std::thread::spawn(move || {
                b.wait();
                failing(1)
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), Err("1 failed".to_string()));
    }
    assert_eq!(FAILING_RUNS.load(Ordering::SeqCst), 8, "every caller gets its own try");
    // One leader, then its seven followers together: had they retried in
    // turn, no two bodies would ever have overlapped.
    assert!(FAILING_MAX.load(Ordering::SeqCst) >= 4, "followers retried one after another");
    let s = failing_cache(1).store().stats().unwrap();
    assert_eq!(s.memo_errors, 8);
    assert_eq!(s.memo_computes, 8);
    assert!(!failing_cache(1).is_cached());
}

static FRESH_RUNS: AtomicUsize = AtomicUsize::new(0);

#[persist_cache(db = "policies_fresh", fresh_for = "150ms")]
fn fresh(x: u32) -> u64 {
    FRESH_RUNS.fetch_add(1, Ordering::SeqCst) as u64 * 1000 + u64::from(x)
}

#[test]
fn a_result_past_fresh_for_is_recomputed_and_replaced() {
    enter();
    let a = fresh(1);
    assert_eq!(fresh(1), a, "fresh: a hit");
    assert_eq!(FRESH_RUNS.load(Ordering::SeqCst), 1);
    std::thread::sleep(Duration::from_millis(200));
    let b = fresh(1);
    assert_ne!(a, b, "stale: recomputed");
    assert_eq!(fresh(1), b, "the new result is stored");
    let s = fresh_cache(1).store().stats().unwrap();
    assert_eq!((s.memo_hits, s.memo_misses, s.memo_computes), (2, 2, 2));
    assert!(s.memo_compute_time > Duration::ZERO);
}

static EXPIRING_RUNS: AtomicUsize = AtomicUsize::new(0);

#[persist_cache(db = "policies_expire", expire = "100ms")]
fn expiring(x: u32) -> u32 {
    EXPIRING_RUNS.fetch_add(1, Ordering::SeqCst);
    x
}

#[test]
fn expire_takes_a_duration() {
    enter();
    expiring(1);
    assert!(expiring_cache(1).is_cached());
    std::thread::sleep(Duration::from_millis(250));
    let removed = expiring_cache(1).store().dict::<u32>().unwrap().expire().unwrap();
    assert_eq!(removed, 1);
    assert!(!expiring_cache(1).is_cached());
}

static MODEL: AtomicU64 = AtomicU64::new(1);
static EXTRA_RUNS: AtomicUsize = AtomicUsize::new(0);

#[persist_cache(db = "policies_extra", extra_key = MODEL.load(Ordering::SeqCst))]
fn embed(text: &str) -> String {
    EXTRA_RUNS.fetch_add(1, Ordering::SeqCst);
    format!("{text} by model {}", MODEL.load(Ordering::SeqCst))
}

#[test]
fn extra_key_is_part_of_the_key() {
    enter();
    assert_eq!(embed("hi"), "hi by model 1");
    assert_eq!(embed("hi"), "hi by model 1");
    assert_eq!(EXTRA_RUNS.load(Ordering::SeqCst), 1);
    MODEL.store(2, Ordering::SeqCst);
    assert!(!embed_cache("hi").is_cached(), "the companion sees the extra key too");
    assert_eq!(embed("hi"), "hi by model 2");
    assert_eq!(EXTRA_RUNS.load(Ordering::SeqCst), 2);
    MODEL.store(1, Ordering::SeqCst);
    assert_eq!(embed("hi"), "hi by model 1", "the first model's result is still there");
    assert_eq!(EXTRA_RUNS.load(Ordering::SeqCst), 2);
}

static ASYNC_RUNS: AtomicUsize = AtomicUsize::new(0);

#[persist_cache(db = "policies_async", durability = "sync")]
async fn fetch(id: u32) -> String {
    ASYNC_RUNS.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(20)).await;
    format!("item {id}")
}

#[test]
fn an_async_fn_keeps_a_current_thread_executor_ticking() {
    enter();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (longest_stall, ticks) = rt.block_on(async {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let ticker = {
            let stop = stop.clone();
            tokio::spawn(async move {
                let (mut last, mut longest, mut ticks) = (Instant::now(), Duration::ZERO, 0u32);
                while !stop.load(Ordering::SeqCst) {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    longest = longest.max(last.elapsed());
                    last = Instant::now();
                    ticks += 1;
                }
                (longest, ticks)
            })
        };
        // 8 concurrent callers of 10 ids: 10 computations, 10 synced commits.
        let calls: Vec<_> = (0..80).map(|i| tokio::spawn(fetch(i % 10))).collect();
        for (i, c) in calls.into_iter().enumerate() {
            assert_eq!(c.await.unwrap(), format!("item {}", i % 10));
        }
        stop.store(true, Ordering::SeqCst);
        ticker.await.unwrap()
    });
    eprintln!("longest stall of the ticking task: {longest_stall:?} over {ticks} ticks");
    assert_eq!(ASYNC_RUNS.load(Ordering::SeqCst), 10, "each id computed once");
    assert!(ticks > 5, "the ticking task kept running while the calls were in flight");
}

#[persist_cache(db = "policies_txns")]
fn counted_machine(x: u64) -> u64 {
    x + 1
}

#[persist_cache(db = "policies_txns", single_flight = "process")]
fn counted_process(x: u64) -> u64 {
    x + 2
}

#[test]
fn a_miss_costs_two_write_transactions_in_machine_mode_and_one_in_process_mode() {
    enter();
    // First calls record the functions' use (one transaction each).
    counted_machine(0);
    counted_process(0);
    let db = persistdict::raw::RawDb::open(counted_machine_cache(0).store().path()).unwrap();
    let txn = || db.stats().unwrap().last_txn_id;
    let before = txn();
    for x in 1..=20 {
        counted_machine(x);
    }
    let machine = txn() - before;
    let before = txn();
    for x in 1..=20 {
        counted_process(x);
    }
    let process = txn() - before;
    assert_eq!(machine, 40, "lease + result per miss");
    assert_eq!(process, 20, "result per miss");
    // Hits write nothing.
    let before = txn();
    for x in 1..=20 {
        counted_machine(x);
    }
    assert_eq!(txn(), before);
}

static REFRESH_RUNS: AtomicUsize = AtomicUsize::new(0);
static REFRESH_RUNNING: AtomicUsize = AtomicUsize::new(0);

#[persist_cache(db = "policies_refresh", fresh_for = "100ms", refresh = "background")]
fn slow_quote(symbol: String) -> String {
    REFRESH_RUNNING.fetch_add(1, Ordering::SeqCst);
    let n = REFRESH_RUNS.fetch_add(1, Ordering::SeqCst) + 1;
    std::thread::sleep(Duration::from_millis(300));
    REFRESH_RUNNING.fetch_sub(1, Ordering::SeqCst);
    format!("{symbol} v{n}")
}

#[test]
fn a_stale_result_returns_at_once_and_refreshes_in_the_background() {
    enter();
    assert_eq!(slow_quote("ACME".into()), "ACME v1");
    std::thread::sleep(Duration::from_millis(150));
    // Stale: the old value at once; the refresh starts on its own thread.
    assert_eq!(slow_quote("ACME".into()), "ACME v1");
    let deadline = Instant::now() + Duration::from_secs(10);
    while REFRESH_RUNNING.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "the refresh never started");
        std::thread::sleep(Duration::from_millis(1));
    }
    // While it computes (300 ms), calls still get the old value at once
    // and start no second refresh.
    assert_eq!(slow_quote("ACME".into()), "ACME v1");
    assert_eq!(slow_quote("ACME".into()), "ACME v1");
    assert_eq!(REFRESH_RUNNING.load(Ordering::SeqCst), 1, "the calls returned while the refresh computed");
    let deadline = Instant::now() + Duration::from_secs(10);
    while REFRESH_RUNS.load(Ordering::SeqCst) < 2 || REFRESH_RUNNING.load(Ordering::SeqCst) > 0 {
        assert!(Instant::now() < deadline, "the refresh never ran");
        std::thread::sleep(Duration::from_millis(10));
    }
    // The next call sees the refreshed value (stored before the body's thread ended).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let v = slow_quote("ACME".into());
        if v == "ACME v2" {
            break;
        }
        assert_eq!(v, "ACME v1");
        assert!(Instant::now() < deadline, "the refreshed value was never stored");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(REFRESH_RUNS.load(Ordering::SeqCst), 2, "one refresh for three stale calls");
}
