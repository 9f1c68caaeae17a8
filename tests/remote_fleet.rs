//! Fleet-wide single flight against a real `redis-server`: processes with
//! separate local caches compute each distinct call once, and a lease
//! holder killed mid-computation is replaced by exactly one other process.

#[path = "support/redis_server.rs"]
mod support;

use std::time::{Duration, Instant};

use support::{RedisServer, calls, child, runs};

#[test]
fn two_processes_of_eight_threads_compute_each_call_once() {
    each_call_once("fleet");
}

#[test]
fn the_same_for_an_async_fn() {
    each_call_once("async");
}

fn each_call_once(f: &str) {
    let Some(server) = RedisServer::start() else { return };
    let shared_runs = tempfile::tempdir().unwrap();
    let xs: Vec<String> = (100..120).map(|x: u64| x.to_string()).collect();
    // A generous timeout: a loaded CI machine must not turn a slow reply
    // into a local fallback (which computes a second time, by design).
    let envs = [("PERSISTDICT_REMOTE_TIMEOUT_MS", "3000")];
    let procs: Vec<_> = (0..2)
        .map(|_| {
            let local = tempfile::tempdir().unwrap();
            let mut args = vec!["remote-calls", shared_runs.path().to_str().unwrap(), f, "8", "40"];
            args.extend(xs.iter().map(|s| s.as_str()));
            let c =
                child(&server.url(), local.path(), &args, &envs).stdout(std::process::Stdio::piped()).spawn().unwrap();
            (c, local)
        })
        .collect();
    let mut hits = 0;
    for (c, _local) in procs {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let (results, stats) = calls(&out);
        assert_eq!(results.len(), 8 * 20);
        assert!(results.iter().all(|&(x, r)| r == x * 7 + 1), "every call returns its right value");
        assert_eq!(stats[2], 0, "no remote error");
        hits += stats[0];
    }
    let runs = runs(shared_runs.path());
    assert_eq!(runs.len(), 20, "{runs:?}");
    assert!(runs.values().all(|&n| n == 1), "each distinct call ran once in the fleet: {runs:?}");
    assert!(hits >= 1, "the process that did not compute a call took it from the remote");
    println!("{f}: 20 calls x 8 threads x 2 processes: 20 body runs, {hits} remote hits");
}

#[test]
fn a_killed_lease_holder_is_replaced_by_exactly_one_process() {
    let Some(server) = RedisServer::start() else { return };
    let runs_dir = tempfile::tempdir().unwrap();
    let dir = runs_dir.path().to_str().unwrap().to_string();
    let envs = [("PERSISTDICT_REMOTE_LEASE_MS", "600"), ("PERSISTDICT_REMOTE_TIMEOUT_MS", "3000")];
    // The leader: a body that would take a minute.
    let leader_local = tempfile::tempdir().unwrap();
    let mut leader =
        child(&server.url(), leader_local.path(), &["remote-calls", &dir, "fleet", "1", "60000", "9"], &envs)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
    let t0 = Instant::now();
    while runs(runs_dir.path()).is_empty() {
        assert!(t0.elapsed() < Duration::from_secs(20), "the leader never started its body");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(server.keys().iter().any(|k| k.ends_with(":lease")), "the leader holds a lease");
    // Two more processes of four threads each wait on its lease...
    let waiters: Vec<_> = (0..2)
        .map(|_| {
            let local = tempfile::tempdir().unwrap();
            let c = child(&server.url(), local.path(), &["remote-calls", &dir, "fleet", "4", "300", "9"], &envs)
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            (c, local)
        })
        .collect();
    // ...well past the lease's duration: renewed, it holds.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(runs(runs_dir.path())[&9], 1, "nobody takes over a renewed lease");
    let killed_at = Instant::now();
    leader.kill().unwrap();
    leader.wait().unwrap();
    for (c, _local) in waiters {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let (results, _) = calls(&out);
        assert_eq!(results, vec![(9, 64); 4]);
    }
    let took = killed_at.elapsed();
    assert_eq!(runs(runs_dir.path())[&9], 2, "exactly one other process computed after the kill");
    println!("lease holder SIGKILLed: the waiters had the value {took:?} later (lease 600 ms, body 300 ms)");
}
