//! A real `redis-server` killed, frozen (SIGSTOP) and restarted while a
//! process calls a memoized function from four threads: every call returns
//! the right value, the added latency stays bounded (the circuit breaker:
//! at most about one timeout per pause), and the remote tier comes back.

#[path = "support/redis_server.rs"]
mod support;

use std::time::Duration;

use support::{RedisServer, calls, child, run};

/// `remote-loop` figures: calls, wrong, max µs, p99 µs, calls over 100 ms, and the stats.
fn figures(out: &std::process::Output) -> ([u64; 5], [u64; 3]) {
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let nums: Vec<u64> =
        lines.next().unwrap().split_whitespace().skip(1).step_by(2).map(|n| n.parse().unwrap()).collect();
    let stats: Vec<u64> = lines.next().unwrap().split_whitespace().skip(1).map(|n| n.parse().unwrap()).collect();
    ([nums[0], nums[1], nums[2], nums[3], nums[4]], [stats[0], stats[1], stats[2]])
}

#[test]
fn redis_killed_frozen_and_restarted_mid_run() {
    let Some(mut server) = RedisServer::start() else { return };
    let runs_dir = tempfile::tempdir().unwrap();
    let dir = runs_dir.path().to_str().unwrap();

    // The baseline: a healthy server.
    let local = tempfile::tempdir().unwrap();
    let base = run(child(&server.url(), local.path(), &["remote-loop", dir, "4", "1500"], &[]));
    let (b, bstats) = figures(&base);
    assert_eq!(b[1], 0);
    assert_eq!(bstats[2], 0, "no errors on a healthy server");

    // The same load through an outage.
    let local = tempfile::tempdir().unwrap();
    let loop_proc = child(&server.url(), local.path(), &["remote-loop", dir, "4", "12000"], &[])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pause = |ms| std::thread::sleep(Duration::from_millis(ms));
    pause(1000);
    server.kill(); // dead: connections refused
    pause(1500);
    server.restart(); // back, empty; the breaker's next probe (within 2 s) finds it
    pause(4000);
    let before_freeze = server.value_keys().len();
    server.freeze(); // frozen: connects and reads hang until the timeout
    pause(1500);
    server.thaw();
    let out = loop_proc.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (o, ostats) = figures(&out);
    let warnings = String::from_utf8_lossy(&out.stderr).lines().filter(|l| l.contains("WARN")).count();
    println!(
        "healthy: {} calls, max {} us, p99 {} us, {} over 100 ms; remote hits/misses/errors {:?}",
        b[0], b[2], b[3], b[4], bstats
    );
    println!(
        "outage (kill 1.5 s, restart, 4 s, SIGSTOP 1.5 s): {} calls, max {} us, p99 {} us, {} over 100 ms; remote {:?}; {} warning lines",
        o[0], o[2], o[3], o[4], ostats, warnings
    );
    assert_eq!(o[1], 0, "every call returned the right value");
    assert!(ostats[2] >= 1, "the outage was seen");
    // The default timeout is 250 ms: a call pays at most a connect and a
    // read timeout, whatever the outage's length.
    assert!(o[2] < 1_500_000, "added latency is bounded: max {} us", o[2]);
    assert!(before_freeze > 0, "the remote tier was back before the freeze");
    assert!(o[4] >= 1, "the frozen server cost a timeout");
    assert!(o[4] <= 40, "only the calls in flight at a failure, or probing after a pause, are slow: {}", o[4]);
    assert!(warnings <= 10, "warnings once per burst, not per call: {warnings}");

    // The breaker closed again: the server receives results after the freeze.
    let after = tempfile::tempdir().unwrap();
    let (_, stats) =
        calls(&run(child(&server.url(), after.path(), &["remote-calls", dir, "fleet", "1", "0", "424242"], &[])));
    assert_eq!(stats, [0, 1, 0]);
    assert!(server.value_keys().len() > before_freeze + 1, "the loop published again after the freeze");
}
