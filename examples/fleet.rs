//! Two "machines" sharing results through Redis: the remote tier.
//!
//! Start a throwaway server (Debian/Ubuntu: `apt-get install redis-server`):
//!
//! ```sh
//! redis-server --port 6379 --save '' --appendonly no
//! ```
//!
//! then, in another terminal:
//!
//! ```sh
//! PERSISTDICT_REMOTE=redis://127.0.0.1:6379 cargo run --example fleet
//! ```
//!
//! The example runs two worker processes one after the other, each with its
//! own local cache (`PERSISTDICT_DIR`), as two machines would have: worker A
//! computes every call (about 200 ms each) and publishes the results; worker
//! B finds its local cache empty and takes every result from Redis, without
//! running the body. Without `PERSISTDICT_REMOTE` both workers compute: the
//! cache is then local only, and nothing else changes.
#![allow(clippy::print_stdout)]

use std::time::{Duration, Instant};

use persistdict::persist_cache;

/// Stands for an expensive computation every machine of the fleet needs.
#[persist_cache(expire_days = 7)]
fn analyse(document: String) -> (usize, u64) {
    println!("    computing analyse({document:?}) ...");
    std::thread::sleep(Duration::from_millis(200));
    (document.len(), document.bytes().map(u64::from).sum())
}

fn worker(name: &str) {
    let start = Instant::now();
    for doc in ["alpha", "beta", "gamma", "delta"] {
        let r = analyse(doc.to_string());
        println!("  worker {name}: analyse({doc:?}) = {r:?}");
    }
    let s = analyse_cache(String::new()).store().stats().expect("the cache is on");
    println!(
        "  worker {name}: {:?} in all; remote hits {}, misses {}, errors {}",
        start.elapsed(),
        s.remote_hits,
        s.remote_misses,
        s.remote_errors
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let [_, mode, name] = &args[..]
        && mode == "worker"
    {
        return worker(name);
    }
    match std::env::var("PERSISTDICT_REMOTE") {
        Ok(url) if !url.is_empty() => println!("PERSISTDICT_REMOTE is set: the workers share results through it"),
        _ => println!("PERSISTDICT_REMOTE is not set: local caches only (see this example's docs to start Redis)"),
    }
    let exe = std::env::current_exe().expect("own path");
    // A fresh namespace per run, so that a second run starts cold too.
    let namespace = format!("fleet-example-{}", std::process::id());
    for name in ["A", "B"] {
        let local = tempfile::tempdir().expect("a temporary directory");
        println!("worker {name} (local cache {}):", local.path().display());
        let status = std::process::Command::new(&exe)
            .args(["worker", name])
            .env("PERSISTDICT_DIR", local.path())
            .env("PERSISTDICT_REMOTE_NAMESPACE", &namespace)
            .status()
            .expect("start a worker");
        assert!(status.success());
    }
}
