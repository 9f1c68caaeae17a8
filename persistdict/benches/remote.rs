//! The remote tier (feature `redis`): a memoized call answered by Redis
//! (a local miss, one `GET`, the checks, the local insert) against a local
//! hit of the same call, a local miss of a `remote = false` twin (its
//! compute and local insert: the local part of a remote hit), and a raw
//! `redis` GET of the same bytes, in the same run, on a `redis-server` this
//! bench starts on a unix socket.
//!
//! `cargo bench -p persistdict --features redis --bench remote` (needs
//! `redis-server` on the PATH).
#![allow(missing_docs, clippy::print_stdout)]

use std::hint::black_box;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use persistdict::persist_cache;

/// 1 KiB results, as in `vs_heed`'s memo group; `no_sync` and no LRU, so
/// that the local side is LMDB itself and no disk flush is timed.
#[persist_cache(durability = "no_sync", lru_capacity = 0)]
fn blob(id: u64) -> Vec<u8> {
    vec![id as u8; 1024]
}

/// The same without the remote tier: its miss is the local part of a remote hit.
#[persist_cache(durability = "no_sync", lru_capacity = 0, remote = false)]
fn blob_local(id: u64) -> Vec<u8> {
    vec![id as u8; 1024]
}

/// The server and its directory (removed after it).
struct Server {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start() -> (Server, String) {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("redis.sock");
    let server = Server { child: spawn_server(&sock, dir.path()), _dir: dir };
    let url = format!("redis+unix://{}", sock.display());
    for _ in 0..2000 {
        if let Ok(mut c) = redis::Client::open(url.as_str()).and_then(|c| c.get_connection())
            && redis::cmd("PING").query::<String>(&mut c).is_ok()
        {
            return (server, url);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("redis-server did not start"); // `server` is killed as it drops
}

fn spawn_server(sock: &std::path::Path, dir: &std::path::Path) -> Child {
    Command::new("redis-server")
        .args(["--port", "0", "--unixsocket"])
        .arg(sock)
        .args(["--save", "", "--appendonly", "no", "--dir"])
        .arg(dir)
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server on the PATH")
}

fn remote(c: &mut Criterion) {
    let (_server, url) = start();
    let local = tempfile::tempdir().unwrap();
    // SAFETY: set before any other thread of this process reads the environment.
    unsafe {
        std::env::set_var("PERSISTDICT_REMOTE", &url);
        std::env::set_var("PERSISTDICT_DIR", local.path());
    }
    assert_eq!(blob(7).len(), 1024); // computed, stored locally and remotely
    let call = blob_cache(7);
    let key = call.key().unwrap();
    let dict = call.store().dict::<Vec<u8>>().unwrap();
    let mut raw = redis::Client::open(url.as_str()).unwrap().get_connection().unwrap();
    let value_key: String = redis::cmd("KEYS").arg("pd1:*").query::<Vec<String>>(&mut raw).unwrap().remove(0);

    let mut g = c.benchmark_group("remote");
    g.bench_function("local hit", |b| b.iter(|| black_box(blob(black_box(7)))));
    g.bench_function("remote hit (local miss, GET, local insert)", |b| {
        b.iter_batched(
            || assert!(dict.remove(&key).unwrap()), // the local copy only, untimed
            |()| black_box(blob(black_box(7))),
            BatchSize::PerIteration,
        )
    });
    assert_eq!(blob_local(7).len(), 1024);
    let local_call = blob_local_cache(7);
    let local_key = local_call.key().unwrap();
    let local_dict = local_call.store().dict::<Vec<u8>>().unwrap();
    g.bench_function("local miss (compute, local insert), no remote", |b| {
        b.iter_batched(
            || assert!(local_dict.remove(&local_key).unwrap()),
            |()| black_box(blob_local(black_box(7))),
            BatchSize::PerIteration,
        )
    });
    g.bench_function("raw redis GET of the same bytes", |b| {
        b.iter(|| black_box(redis::cmd("GET").arg(&value_key).query::<Vec<u8>>(&mut raw).unwrap()))
    });
    g.finish();
    let s = call.store().stats().unwrap();
    println!("remote hits {}, misses {}, errors {}", s.remote_hits, s.remote_misses, s.remote_errors);
    assert_eq!(s.remote_errors, 0);
}

criterion_group!(benches, remote);
criterion_main!(benches);
