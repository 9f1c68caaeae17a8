//! The remote tier against a real `redis-server` (started by each test on a
//! unix socket; skipped with a printed reason when the binary is missing,
//! unless `PERSISTDICT_REQUIRE_REDIS=1`): results shared between processes
//! with separate local caches, bad values, namespaces, TTLs, invalidation,
//! the size limit, `remote = false`, and a password kept out of every log.

#[path = "support/redis_server.rs"]
mod support;

use support::{RedisServer, calls, child, run, runs};

/// `remote-calls` of `f` in a fresh process with its own local cache.
fn call(
    server: &RedisServer,
    runs_dir: &std::path::Path,
    f: &str,
    xs: &[u64],
    envs: &[(&str, &str)],
) -> (Vec<(u64, u64)>, [u64; 3]) {
    let local = tempfile::tempdir().unwrap();
    let mut args = vec!["remote-calls".to_string(), runs_dir.display().to_string(), f.into(), "1".into(), "0".into()];
    args.extend(xs.iter().map(|x| x.to_string()));
    let args: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    calls(&run(child(&server.url(), local.path(), &args, envs)))
}

#[test]
fn a_result_computed_by_one_process_is_a_remote_hit_in_another() {
    let Some(server) = RedisServer::start() else { return };
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (results, stats) = call(&server, a.path(), "fleet", &[5], &[]);
    assert_eq!(results, [(5, 36)]);
    assert_eq!(stats, [0, 1, 0], "process A: a remote miss, no error");
    assert_eq!(runs(a.path())[&5], 1);
    // The key layout: pd1:<namespace = crate name>:<function prefix>:{<call key>}.
    let keys = server.value_keys();
    assert_eq!(keys.len(), 1, "{keys:?}");
    let k = &keys[0];
    assert!(k.starts_with("pd1:persistdict-tests:") && k.ends_with('}'), "{k}");
    let (prefix, tag) = k.rsplit_once(":{").unwrap();
    assert_eq!(prefix.rsplit(':').next().unwrap().len(), 16, "8-byte function prefix in hex");
    assert_eq!(tag.len(), 65, "32-byte call key in hex, then the brace");
    assert!(tag.starts_with(prefix.rsplit(':').next().unwrap()), "the call key starts with the function prefix");
    assert!(server.keys().iter().all(|k| !k.ends_with(":lease")), "the lease went with the value");

    let (results, stats) = call(&server, b.path(), "fleet", &[5], &[]);
    assert_eq!(results, [(5, 36)]);
    assert_eq!(stats, [1, 0, 0], "process B: a remote hit");
    assert!(runs(b.path()).is_empty(), "B's body never ran");
}

#[test]
fn garbage_under_a_key_is_a_miss_and_is_overwritten() {
    let Some(server) = RedisServer::start() else { return };
    let a = tempfile::tempdir().unwrap();
    call(&server, a.path(), "fleet", &[5], &[]);
    let key = server.value_keys().pop().unwrap();
    let mut conn = server.conn();
    let good: Vec<u8> = redis::cmd("GET").arg(&key).query(&mut conn).unwrap();
    assert_eq!(&good[..4], b"PDRV");
    let mut flipped = good.clone();
    *flipped.last_mut().unwrap() ^= 1;
    let plant: [(&str, Vec<u8>); 3] = [
        ("garbage", b"garbage".to_vec()),
        ("a flipped bit", flipped),
        ("another version", [&b"PDRV\x09"[..], &good[5..]].concat()),
    ];
    for (i, (what, bytes)) in plant.into_iter().enumerate() {
        let _: () = redis::cmd("SET").arg(&key).arg(&bytes).query(&mut conn).unwrap();
        let runs_dir = tempfile::tempdir().unwrap();
        let (results, stats) = call(&server, runs_dir.path(), "fleet", &[5], &[]);
        assert_eq!(results, [(5, 36)], "{what}");
        assert_eq!(stats[0], 0, "{what}: not a hit");
        assert_eq!(runs(runs_dir.path())[&5], 1, "{what}: recomputed");
        let now: Vec<u8> = redis::cmd("GET").arg(&key).query(&mut conn).unwrap();
        assert_eq!(now, good, "{what} ({i}): overwritten with the right value");
    }
    // A value of another Redis type (WRONGTYPE on GET): a miss, overwritten.
    let _: () = redis::cmd("DEL").arg(&key).query(&mut conn).unwrap();
    let _: () = redis::cmd("HSET").arg(&key).arg("f").arg("v").query(&mut conn).unwrap();
    let runs_dir = tempfile::tempdir().unwrap();
    let (results, stats) = call(&server, runs_dir.path(), "fleet", &[5], &[]);
    assert_eq!(results, [(5, 36)]);
    assert!(stats[2] >= 1, "the refused GET counts as an error");
    let now: Vec<u8> = redis::cmd("GET").arg(&key).query(&mut conn).unwrap();
    assert_eq!(now, good, "the hash was overwritten");
}

#[test]
fn namespaces_keep_projects_apart() {
    let Some(server) = RedisServer::start() else { return };
    let ns = |n: &'static str| [("PERSISTDICT_REMOTE_NAMESPACE", n)];
    let a = tempfile::tempdir().unwrap();
    call(&server, a.path(), "fleet", &[1], &ns("project-a"));
    let b = tempfile::tempdir().unwrap();
    let (_, stats) = call(&server, b.path(), "fleet", &[1], &ns("project-b"));
    assert_eq!(stats[0], 0, "project B does not see project A's result");
    assert_eq!(runs(b.path())[&1], 1);
    let c = tempfile::tempdir().unwrap();
    let (_, stats) = call(&server, c.path(), "fleet", &[1], &ns("project-a"));
    assert_eq!(stats[0], 1, "project A does");
    assert!(runs(c.path()).is_empty());
    let keys = server.value_keys();
    assert_eq!(keys.len(), 2);
    assert!(keys[0].starts_with("pd1:project-a:") && keys[1].starts_with("pd1:project-b:"), "{keys:?}");
}

#[test]
fn expiry_maps_to_the_redis_ttl() {
    let Some(server) = RedisServer::start() else { return };
    let a = tempfile::tempdir().unwrap();
    call(&server, a.path(), "expiring", &[3], &[]);
    call(&server, a.path(), "fleet", &[3], &[]);
    let keys = server.value_keys();
    assert_eq!(keys.len(), 2);
    let mut conn = server.conn();
    let ttls: Vec<i64> = keys.iter().map(|k| redis::cmd("PTTL").arg(k).query(&mut conn).unwrap()).collect();
    let two_days = 2 * 86_400_000;
    let expiring = ttls.iter().filter(|&&t| t > two_days - 60_000 && t <= two_days).count();
    let forever = ttls.iter().filter(|&&t| t == -1).count();
    assert_eq!((expiring, forever), (1, 1), "expire_days = 2 is a 2-day PTTL, no window no TTL: {ttls:?}");
    // A remote hit slides the TTL back up, like the local window.
    let k = keys.iter().zip(&ttls).find(|(_, t)| **t > 0).unwrap().0;
    let _: () = redis::cmd("PEXPIRE").arg(k).arg(60_000).query(&mut conn).unwrap();
    let (_, stats) = call(&server, tempfile::tempdir().unwrap().path(), "expiring", &[3], &[]);
    assert_eq!(stats[0], 1);
    let t: i64 = redis::cmd("PTTL").arg(k).query(&mut conn).unwrap();
    assert!(t > two_days - 60_000, "the hit refreshed the TTL: {t}");

    // Under fresh_for = "1h" the TTL is the hour, counted from the write: a
    // remote value is never older than that, and a hit does not extend it.
    call(&server, a.path(), "fresh", &[3], &[]);
    let k = server.value_keys().into_iter().find(|k| !keys.contains(k)).unwrap();
    let t: i64 = redis::cmd("PTTL").arg(&k).query(&mut conn).unwrap();
    assert!(t > 3_600_000 - 60_000 && t <= 3_600_000, "{t}");
    let _: () = redis::cmd("PEXPIRE").arg(&k).arg(60_000).query(&mut conn).unwrap();
    let (_, stats) = call(&server, tempfile::tempdir().unwrap().path(), "fresh", &[3], &[]);
    assert_eq!(stats[0], 1);
    let t: i64 = redis::cmd("PTTL").arg(&k).query(&mut conn).unwrap();
    assert!(t <= 60_000, "the hit left the TTL alone: {t}");
}

#[test]
fn invalidate_and_clear_reach_redis() {
    let Some(server) = RedisServer::start() else { return };
    let a = tempfile::tempdir().unwrap();
    let local = tempfile::tempdir().unwrap();
    let url = server.url();
    let dir = a.path().to_str().unwrap();
    run(child(&url, local.path(), &["remote-calls", dir, "fleet", "1", "0", "1", "2", "3"], &[]));
    assert_eq!(server.value_keys().len(), 3);
    let out = run(child(&url, local.path(), &["remote-invalidate", dir, "2"], &[]));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "true");
    assert_eq!(server.value_keys().len(), 2, "invalidate removed the remote value");
    let b = tempfile::tempdir().unwrap();
    let (_, stats) = call(&server, b.path(), "fleet", &[2], &[]);
    assert_eq!((stats[0], runs(b.path())[&2]), (0, 1), "another process recomputes it");
    assert_eq!(server.value_keys().len(), 3);
    // Another function's value is not the function's to clear.
    call(&server, b.path(), "expiring", &[9], &[]);
    assert_eq!(server.value_keys().len(), 4);
    let out = run(child(&url, local.path(), &["remote-clear", dir], &[]));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "2", "clear counts the local entries");
    assert_eq!(server.value_keys().len(), 1, "clear removed the function's remote values: {:?}", server.value_keys());
}

#[test]
fn an_oversized_value_stays_local() {
    let Some(server) = RedisServer::start() else { return };
    let a = tempfile::tempdir().unwrap();
    let limit = [("PERSISTDICT_REMOTE_MAX_VALUE", "100000")];
    let local = tempfile::tempdir().unwrap();
    let dir = a.path().to_str().unwrap();
    let out = run(child(&server.url(), local.path(), &["remote-calls", dir, "big", "1", "0", "4", "4"], &limit));
    let (results, _) = calls(&out);
    assert_eq!(results, [(4, 200 << 10), (4, 200 << 10)]);
    assert_eq!(runs(a.path())[&4], 1, "the second call was a local hit");
    assert!(server.value_keys().is_empty(), "200 KiB is over the 100 000-byte limit: {:?}", server.value_keys());
    assert!(server.keys().is_empty(), "and the lease is gone");
    // Under the default limit (8 MiB) it is shared.
    call(&server, tempfile::tempdir().unwrap().path(), "big", &[4], &[]);
    assert_eq!(server.value_keys().len(), 1);
}

#[test]
fn remote_false_keeps_a_function_local() {
    let Some(server) = RedisServer::start() else { return };
    let a = tempfile::tempdir().unwrap();
    let (results, stats) = call(&server, a.path(), "local", &[1, 2], &[]);
    assert_eq!(results, [(1, 8), (2, 15)]);
    assert_eq!(stats, [0, 0, 0]);
    assert!(server.keys().is_empty());
}

#[test]
fn the_password_never_appears_in_a_log_line() {
    const PASSWORD: &str = "Sup3r-s3cret-pw";
    let Some(mut server) = RedisServer::start_with(&["--requirepass", PASSWORD]) else { return };
    let debug = [("PERSISTDICT_CHILD_LOG", "debug")];
    let mut logs = String::new();
    let mut calls_with = |url: String, xs: &[&str]| {
        let local = tempfile::tempdir().unwrap();
        let runs_dir = tempfile::tempdir().unwrap();
        let mut args = vec!["remote-calls", runs_dir.path().to_str().unwrap(), "fleet", "1", "0"];
        args.extend(xs);
        let out = run(child(&url, local.path(), &args, &debug));
        logs.push_str(&String::from_utf8_lossy(&out.stderr));
        calls(&out)
    };
    // The right password, in the user info and in the query.
    let in_userinfo = format!("redis+unix://:{PASSWORD}@{}", server.socket().display());
    let in_query = format!("{}?pass={PASSWORD}", server.url());
    let (r, stats) = calls_with(in_query.clone(), &["1"]);
    assert_eq!((r, stats), (vec![(1, 8)], [0, 1, 0]), "{logs}");
    let (_, stats) = calls_with(in_query.clone(), &["1"]);
    assert_eq!(stats[0], 1, "authenticated hit");
    // A wrong one: authentication fails, the call goes on locally.
    let wrong = format!("{}?pass={PASSWORD}-wrong", server.url());
    let (r, stats) = calls_with(wrong, &["1"]);
    assert_eq!(r, [(1, 8)]);
    assert!(stats[2] >= 1, "the refused authentication counts");
    // The server gone, frozen: connection errors.
    server.freeze();
    let (r, _) = calls_with(in_query.clone(), &["2"]);
    assert_eq!(r, [(2, 15)]);
    server.thaw();
    server.kill();
    let (r, stats) = calls_with(in_query, &["3"]);
    assert_eq!(r, [(3, 22)]);
    assert!(stats[2] >= 1);
    // A unix socket URL takes its password in the query: with it in the
    // user info, the URL does not parse, and the warning says so.
    let (r, stats) = calls_with(in_userinfo, &["4"]);
    assert_eq!((r, stats), (vec![(4, 29)], [0, 0, 0]));
    assert!(logs.contains("unusable"), "{logs}");
    assert!(logs.contains("WARN"), "warnings were logged:\n{logs}");
    assert!(logs.contains("pass=***"), "the URL is shown redacted:\n{logs}");
    assert!(!logs.contains("s3cret"), "the password leaked:\n{logs}");
    println!("{logs}");
}
