//! Helper process for the process-level tests: `persistdict-child CMD PATH ARGS...`.
//!
//! - `write PATH START COUNT`: inserts keys START..START+COUNT (value = key * 2)
//! - `get PATH KEY`: prints the value of KEY or `none`
//! - `insert PATH KEY VALUE`
//! - `ackloop PATH START MAP_SIZE VALUE_LEN [WINDOW_MS [MAX_ENTRIES]]`: inserts key i
//!   (value: VALUE_LEN bytes of `i as u8`) with `Durability::Sync`, then prints `ack i`,
//!   forever; with WINDOW_MS (0: none), background maintenance expires entries older than
//!   that meanwhile; with MAX_ENTRIES, every insert past the budget evicts
//! - `budget-writer PATH ID COUNT MAX_ENTRIES`: inserts keys ID*1e6.. COUNT times under the
//!   budget, checking after each insert that the database holds at most MAX_ENTRIES;
//!   prints `over N` on a violation, `done` at the end
//! - `mixed PATH ID MILLIS`: random inserts, removes, gets and expire() on keys
//!   ID*1000..ID*1000+100 for MILLIS; prints `key present VALUE START_MS` or
//!   `key absent START_MS` per key, START_MS being when its last write began
//! - `clearer PATH MILLIS`: clear() now and then for MILLIS; prints `clear END_MS` each
//! - `fsize PATH LIMIT`: with RLIMIT_FSIZE = LIMIT bytes, inserts 64 KiB values until
//!   an insert fails; prints `ack i` per insert and `err MESSAGE` at the end
//! - `memo DIR X REPEAT`: calls a `#[persist_cache]` function (store under DIR) REPEAT
//!   times with X; its body counts its runs in DIR/runs; prints the results
//! - `versions DIR V MILLIS`: calls version V (1 or 2) of the memoized function
//!   named `pv` (store under DIR) with 0..5, then again every 10 ms for MILLIS; prints `done`
//! - `hold PATH MILLIS`: opens PATH (`PersistDict<u64, u64>`), prints `opened`, sleeps MILLIS
//! - `flight DIR THREADS X...`: THREADS threads each call a memoized function
//!   (single_flight = "machine", store under DIR) with every X; its body appends
//!   `pid x` to DIR/runs and sleeps 30 ms (30 s for X = 999 with FLIGHT_SLOW set);
//!   prints `x result` lines
//! - `flight-process DIR X`: the same with single_flight = "process", 4 threads
//! - `stale DIR X`: calls a `Result` function with fresh_for = "300ms" and
//!   on_error = "serve_stale" (fails while DIR/fail exists); prints `ok VALUE` or `err E`
//! - `fsize-macro DIR LIMIT`: the same limit, then calls a `#[persist_cache]` function
//!   whose store is under DIR (`PERSISTDICT_DIR`) and prints its results
//! - `remote-calls DIR FN THREADS SLEEP_MS X...` (the remote tier, configured by the
//!   caller's PERSISTDICT_REMOTE* variables; the local store is PERSISTDICT_DIR): THREADS
//!   threads each call the function FN (`fleet`, `local` with `remote = false`, `expiring`
//!   with `expire_days = 2`, `fresh` with `fresh_for = "1h"` too, `big` returning 200 KiB, `async`, an `async fn`) with every X, in an order rotated per
//!   thread; each body run appends `X` to DIR/runs, then sleeps SLEEP_MS. Prints `X RESULT`
//!   per call, then `stats REMOTE_HITS REMOTE_MISSES REMOTE_ERRORS`
//! - `remote-invalidate DIR X`: `fleet_cache(X).invalidate()`, prints the outcome
//! - `remote-clear DIR`: `fleet`'s `store().clear()`, prints the count
//! - `remote-loop DIR THREADS MILLIS`: THREADS threads call `fleet` with fresh arguments
//!   for MILLIS; prints `calls N wrong W max_us M p99_us P slow S` (S: calls over 100 ms)
//!   and the remote stats line
//!
//! `PERSISTDICT_CHILD_LOG=debug` logs at debug level (default: warnings) to stderr.
#![allow(clippy::print_stdout)]

use std::collections::HashMap;
use std::io::Write;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use persistdict::{Durability, Maintenance, PersistDict};

fn now_ms() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0)
}

/// A small xorshift generator: the helper needs no dependency for randomness.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn seed() -> u64 {
    (now_ms() as u64) ^ (u64::from(std::process::id()) << 32) | 1
}

/// The file-size limit makes writes past it fail with EFBIG instead of
/// killing the process with SIGXFSZ: a full disk, as far as LMDB can tell.
fn limit_file_size(bytes: u64) {
    // SAFETY: plain libc calls with valid arguments.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
        let lim = libc::rlimit { rlim_cur: bytes, rlim_max: bytes };
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &lim), 0);
    }
}

#[persistdict::persist_cache]
fn big_result(i: u64) -> Vec<u8> {
    vec![i as u8; 256 << 10]
}

#[persistdict::persist_cache(ignore(dir))]
fn counted(dir: std::path::PathBuf, x: u64) -> u64 {
    let runs = dir.join("runs");
    let n: u64 = std::fs::read_to_string(&runs).ok().and_then(|s| s.parse().ok()).unwrap_or(0);
    std::fs::write(&runs, (n + 1).to_string()).expect("write the run counter");
    x * 3
}

#[persistdict::persist_cache(name = "pv", version = "1")]
fn pv_v1(x: u64) -> u64 {
    x + 1
}

#[persistdict::persist_cache(name = "pv", version = "2", prune = "auto")]
fn pv_v2(x: u64) -> u64 {
    x + 2
}

/// A body run of a remote-tier function: one line, appended atomically
/// (`O_APPEND`), so that processes and threads can share the file.
fn note_run(dir: &std::path::Path, x: u64) {
    let mut f =
        std::fs::OpenOptions::new().create(true).append(true).open(dir.join("runs")).expect("open the runs file");
    f.write_all(format!("{x}\n").as_bytes()).expect("note a run");
}

#[persistdict::persist_cache(ignore(dir, sleep_ms))]
fn fleet(dir: std::path::PathBuf, sleep_ms: u64, x: u64) -> u64 {
    note_run(&dir, x);
    std::thread::sleep(Duration::from_millis(sleep_ms));
    x * 7 + 1
}

#[persistdict::persist_cache(ignore(dir, sleep_ms), remote = false)]
fn fleet_local(dir: std::path::PathBuf, sleep_ms: u64, x: u64) -> u64 {
    note_run(&dir, x);
    std::thread::sleep(Duration::from_millis(sleep_ms));
    x * 7 + 1
}

#[persistdict::persist_cache(ignore(dir, sleep_ms), expire_days = 2)]
fn fleet_expiring(dir: std::path::PathBuf, sleep_ms: u64, x: u64) -> u64 {
    note_run(&dir, x);
    std::thread::sleep(Duration::from_millis(sleep_ms));
    x * 7 + 1
}

#[persistdict::persist_cache(ignore(dir, sleep_ms), fresh_for = "1h", expire_days = 2)]
fn fleet_fresh(dir: std::path::PathBuf, sleep_ms: u64, x: u64) -> u64 {
    note_run(&dir, x);
    std::thread::sleep(Duration::from_millis(sleep_ms));
    x * 7 + 1
}

#[persistdict::persist_cache(ignore(dir, sleep_ms))]
fn fleet_big(dir: std::path::PathBuf, sleep_ms: u64, x: u64) -> Vec<u8> {
    note_run(&dir, x);
    std::thread::sleep(Duration::from_millis(sleep_ms));
    vec![x as u8; 200 << 10]
}

#[persistdict::persist_cache(ignore(dir, sleep_ms))]
async fn fleet_async(dir: std::path::PathBuf, sleep_ms: u64, x: u64) -> u64 {
    note_run(&dir, x);
    std::thread::sleep(Duration::from_millis(sleep_ms));
    x * 7 + 1
}

/// Runs a future on this thread (the helper has no async runtime): parks
/// until woken.
fn block_on<F: Future>(f: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = std::task::Waker::from(std::sync::Arc::new(Unpark(std::thread::current())));
    let mut cx = std::task::Context::from_waker(&waker);
    let mut f = std::pin::pin!(f);
    loop {
        if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
}

/// One call of the remote-tier function `name`, as a number (`big`: its length).
fn remote_call(name: &str, dir: &std::path::Path, sleep_ms: u64, x: u64) -> u64 {
    let dir = dir.to_path_buf();
    match name {
        "fleet" => fleet(dir, sleep_ms, x),
        "local" => fleet_local(dir, sleep_ms, x),
        "expiring" => fleet_expiring(dir, sleep_ms, x),
        "fresh" => fleet_fresh(dir, sleep_ms, x),
        "big" => fleet_big(dir, sleep_ms, x).len() as u64,
        "async" => block_on(fleet_async(dir, sleep_ms, x)),
        other => panic!("no remote function {other}"),
    }
}

fn remote_stats(name: &str) -> String {
    let d = std::path::PathBuf::new();
    let store = match name {
        "local" => fleet_local_cache(d, 0, 0).store(),
        "expiring" => fleet_expiring_cache(d, 0, 0).store(),
        "fresh" => fleet_fresh_cache(d, 0, 0).store(),
        "big" => fleet_big_cache(d, 0, 0).store(),
        "async" => fleet_async_cache(d, 0, 0).store(),
        _ => fleet_cache(d, 0, 0).store(),
    };
    match store.stats() {
        Ok(s) => format!("stats {} {} {}", s.remote_hits, s.remote_misses, s.remote_errors),
        Err(e) => format!("stats error {e}"),
    }
}

/// Appends one line in one write (O_APPEND: lines of concurrent processes never interleave).
fn append_line(path: &std::path::Path, line: &str) {
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).expect("open the run log");
    f.write_all(format!("{line}\n").as_bytes()).expect("append to the run log");
}

#[persistdict::persist_cache(ignore(dir), lease_timeout = "5s")]
fn flight_body(dir: std::path::PathBuf, x: u64) -> u64 {
    append_line(&dir.join("runs"), &format!("{} {x}", std::process::id()));
    let slow = x == 999 && std::env::var_os("FLIGHT_SLOW").is_some();
    std::thread::sleep(Duration::from_millis(if slow { 30_000 } else { 30 }));
    x * 7
}

#[persistdict::persist_cache(ignore(dir), single_flight = "process")]
fn flight_process_body(dir: std::path::PathBuf, x: u64) -> u64 {
    append_line(&dir.join("runs"), &format!("{} {x}", std::process::id()));
    std::thread::sleep(Duration::from_millis(100));
    x * 7
}

#[persistdict::persist_cache(ignore(dir), fresh_for = "300ms", on_error = "serve_stale")]
fn stale_body(dir: std::path::PathBuf, x: u64) -> Result<String, String> {
    append_line(&dir.join("runs"), &format!("{} {x}", std::process::id()));
    if dir.join("fail").exists() {
        return Err("the API is down".into());
    }
    Ok(format!("value {x} at {}", now_ms()))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let level = match std::env::var("PERSISTDICT_CHILD_LOG").as_deref() {
        Ok("debug") => tracing::Level::DEBUG,
        _ => tracing::Level::WARN,
    };
    tracing_subscriber::fmt().with_writer(std::io::stderr).with_max_level(level).init();
    let path = &args[2];
    let mut out = std::io::stdout().lock();
    match args[1].as_str() {
        "write" => {
            let d: PersistDict<u64, u64> = PersistDict::open(path)?;
            let (start, count): (u64, u64) = (args[3].parse()?, args[4].parse()?);
            for k in start..start + count {
                d.insert(&k, &(k * 2))?;
            }
        }
        "get" => {
            let d: PersistDict<u64, u64> = PersistDict::open(path)?;
            match d.get(&args[3].parse::<u64>()?)? {
                Some(v) => writeln!(out, "{v}")?,
                None => writeln!(out, "none")?,
            }
        }
        "insert" => {
            let d: PersistDict<u64, u64> = PersistDict::open(path)?;
            d.insert(&args[3].parse::<u64>()?, &args[4].parse::<u64>()?)?;
        }
        "ackloop" => {
            let start: u64 = args[3].parse()?;
            let mut b = PersistDict::<u64, Vec<u8>>::builder(path)
                .durability(Durability::Sync)
                .map_size(args[4].parse()?)
                .maintenance(Maintenance::Disabled);
            if let Some(max) = args.get(7) {
                b = b.max_entries(max.parse()?);
            }
            if let Some(window) = args.get(6).filter(|w| *w != "0") {
                b = b
                    .expire_after(Duration::from_millis(window.parse()?))
                    .maintenance(Maintenance::Background)
                    .maintenance_interval(Duration::from_millis(5));
            }
            let d = b.open()?;
            let len: usize = args[5].parse()?;
            for i in start.. {
                d.insert(&i, &vec![i as u8; len])?;
                writeln!(out, "ack {i}")?;
                out.flush()?;
            }
        }
        "mixed" => {
            let d: PersistDict<u64, u64> = PersistDict::builder(path)
                .expire_after(Duration::from_secs(3600))
                .durability(Durability::NoSync)
                .open()?;
            let id: u64 = args[3].parse()?;
            let until = Instant::now() + Duration::from_millis(args[4].parse()?);
            let mut rng = Rng(seed());
            // key -> (present value, start of the last write)
            let mut model: HashMap<u64, (Option<u64>, u128)> = HashMap::new();
            let mut version = 0;
            while Instant::now() < until {
                let key = id * 1000 + rng.next() % 100;
                match rng.next() % 10 {
                    0..=4 => {
                        version += 1;
                        let started = now_ms();
                        d.insert(&key, &version)?;
                        model.insert(key, (Some(version), started));
                    }
                    5 | 6 => {
                        let started = now_ms();
                        d.remove(&key)?;
                        model.insert(key, (None, started));
                    }
                    7 | 8 => {
                        // A value read is one this process wrote (possibly since cleared).
                        if let Some(v) = d.get(&key)? {
                            assert!(v <= version, "read a value this process never wrote");
                        }
                    }
                    _ => {
                        d.expire()?;
                    }
                }
            }
            for (key, (value, started)) in model {
                match value {
                    Some(v) => writeln!(out, "{key} present {v} {started}")?,
                    None => writeln!(out, "{key} absent {started}")?,
                }
            }
        }
        "clearer" => {
            let d: PersistDict<u64, u64> = PersistDict::builder(path).durability(Durability::NoSync).open()?;
            let until = Instant::now() + Duration::from_millis(args[3].parse()?);
            let mut rng = Rng(seed());
            while Instant::now() < until {
                std::thread::sleep(Duration::from_millis(50 + rng.next() % 200));
                d.clear()?;
                writeln!(out, "clear {}", now_ms())?;
            }
        }
        "fsize" => {
            limit_file_size(args[3].parse()?);
            let d: PersistDict<u64, Vec<u8>> = PersistDict::builder(path).durability(Durability::Sync).open()?;
            for i in 0.. {
                match d.insert(&i, &vec![i as u8; 64 << 10]) {
                    Ok(()) => writeln!(out, "ack {i}")?,
                    Err(e) => {
                        writeln!(out, "err {e}")?;
                        break;
                    }
                }
            }
        }
        "memo" => {
            // SAFETY: single-threaded so far.
            unsafe { std::env::set_var("PERSISTDICT_DIR", path) };
            for _ in 0..args[4].parse::<u32>()? {
                writeln!(out, "{}", counted(path.into(), args[3].parse()?))?;
            }
        }
        "versions" => {
            // SAFETY: single-threaded so far.
            unsafe { std::env::set_var("PERSISTDICT_DIR", path) };
            let f = if args[3] == "1" { pv_v1 } else { pv_v2 };
            let until = Instant::now() + Duration::from_millis(args[4].parse()?);
            loop {
                for x in 0..5 {
                    f(x);
                }
                if Instant::now() >= until {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            writeln!(out, "done")?;
        }
        "budget-writer" => {
            let max: u64 = args[5].parse()?;
            let d: PersistDict<u64, Vec<u8>> = PersistDict::builder(path)
                .max_entries(max)
                .durability(Durability::NoSync)
                .maintenance(Maintenance::Disabled)
                .open()?;
            let id: u64 = args[3].parse()?;
            for i in 0..args[4].parse::<u64>()? {
                d.insert(&(id * 1_000_000 + i), &vec![id as u8; 32])?;
                let n = d.len()? as u64;
                if n > max {
                    writeln!(out, "over {n}")?;
                }
            }
            writeln!(out, "done")?;
        }
        "flight" => {
            // SAFETY: single-threaded so far.
            unsafe { std::env::set_var("PERSISTDICT_DIR", path) };
            let threads: u64 = args[3].parse()?;
            let xs: Vec<u64> = args[4..].iter().map(|a| a.parse()).collect::<Result<_, _>>()?;
            let lines: Vec<String> = std::thread::scope(|s| {
                let handles: Vec<_> = (0..threads)
                    .map(|t| {
                        let xs = &xs;
                        s.spawn(move || {
                            let mut out = Vec::new();
                            // Each thread in its own order.
                            let mut order: Vec<u64> = xs.clone();
                            order.rotate_left((t as usize) % xs.len().max(1));
                            for x in order {
                                out.push(format!("{x} {}", flight_body(path.into(), x)));
                            }
                            out
                        })
                    })
                    .collect();
                handles.into_iter().flat_map(|h| h.join().expect("thread")).collect()
            });
            for l in lines {
                writeln!(out, "{l}")?;
            }
        }
        "flight-process" => {
            // SAFETY: single-threaded so far.
            unsafe { std::env::set_var("PERSISTDICT_DIR", path) };
            let x: u64 = args[3].parse()?;
            std::thread::scope(|s| {
                for _ in 0..4 {
                    s.spawn(|| assert_eq!(flight_process_body(path.into(), x), x * 7));
                }
            });
            writeln!(out, "done")?;
        }
        "stale" => {
            // SAFETY: single-threaded so far.
            unsafe { std::env::set_var("PERSISTDICT_DIR", path) };
            match stale_body(path.into(), args[3].parse()?) {
                Ok(v) => writeln!(out, "ok {v}")?,
                Err(e) => writeln!(out, "err {e}")?,
            }
        }
        "hold" => {
            let d: PersistDict<u64, u64> = PersistDict::open(path)?;
            writeln!(out, "opened")?;
            out.flush()?;
            std::thread::sleep(Duration::from_millis(args[3].parse()?));
            drop(d);
        }
        "fsize-macro" => {
            // SAFETY: single-threaded so far.
            unsafe { std::env::set_var("PERSISTDICT_DIR", path) };
            limit_file_size(args[3].parse()?);
            for i in 0..40u64 {
                writeln!(out, "{}", big_result(i).len())?;
            }
        }
        "fill-values" => {
            // Inserts 64 KiB values until a write fails; the error goes to stderr.
            let d: PersistDict<u64, Vec<u8>> = PersistDict::open(path)?;
            for i in 0..10_000u64 {
                d.insert(&(i + 1_000), &vec![i as u8; 64 << 10])?;
            }
        }
        "integrity" => {
            // Exit 3: open failed; 0: clean; 1: problems reported; 2: an error.
            let d: PersistDict<u64, String> =
                match PersistDict::builder(path).maintenance(Maintenance::Disabled).lru_capacity(0).open() {
                    Ok(d) => d,
                    Err(_) => std::process::exit(3),
                };
            writeln!(out, "opened")?;
            out.flush()?;
            std::process::exit(match d.check_integrity() {
                Ok(r) if r.is_clean() => 0,
                Ok(_) => 1,
                Err(_) => 2,
            });
        }
        "memo-once" => {
            // SAFETY: single-threaded so far.
            unsafe { std::env::set_var("PERSISTDICT_DIR", path) };
            writeln!(out, "{}", big_result(args[3].parse()?).len())?;
        }
        "remote-calls" => {
            let dir = std::path::PathBuf::from(path);
            let (name, threads, sleep_ms) = (args[3].clone(), args[4].parse::<usize>()?, args[5].parse::<u64>()?);
            let xs: Vec<u64> = args[6..].iter().map(|a| a.parse()).collect::<Result<_, _>>()?;
            let lines: Vec<String> = std::thread::scope(|s| {
                let handles: Vec<_> = (0..threads)
                    .map(|t| {
                        let (dir, name, xs) = (&dir, &name, &xs);
                        s.spawn(move || {
                            (0..xs.len())
                                .map(|i| {
                                    let x = xs[(i + t) % xs.len()];
                                    format!("{x} {}", remote_call(name, dir, sleep_ms, x))
                                })
                                .collect::<Vec<_>>()
                        })
                    })
                    .collect();
                handles.into_iter().flat_map(|h| h.join().expect("a caller thread panicked")).collect()
            });
            for l in lines {
                writeln!(out, "{l}")?;
            }
            writeln!(out, "{}", remote_stats(&name))?;
        }
        "remote-invalidate" => {
            let x: u64 = args[3].parse()?;
            writeln!(out, "{}", fleet_cache(path.into(), 0, x).invalidate()?)?;
        }
        "remote-clear" => {
            writeln!(out, "{}", fleet_cache(path.into(), 0, 0).store().clear()?)?;
        }
        "remote-loop" => {
            let dir = std::path::PathBuf::from(path);
            let (threads, millis) = (args[3].parse::<u64>()?, args[4].parse::<u64>()?);
            let base = now_ms() as u64 * 1000;
            let end = Instant::now() + Duration::from_millis(millis);
            let mut lat: Vec<u64> = Vec::new();
            let mut wrong = 0u64;
            std::thread::scope(|s| {
                let handles: Vec<_> = (0..threads)
                    .map(|t| {
                        let dir = &dir;
                        s.spawn(move || {
                            let (mut lat, mut wrong) = (Vec::new(), 0u64);
                            let mut i = 0u64;
                            while Instant::now() < end {
                                // A fresh argument each time: every call goes to the remote.
                                let x = base + t * 10_000_000 + i;
                                i += 1;
                                let t0 = Instant::now();
                                let v = fleet(dir.clone(), 0, x);
                                lat.push(t0.elapsed().as_micros() as u64);
                                if v != x * 7 + 1 {
                                    wrong += 1;
                                }
                            }
                            (lat, wrong)
                        })
                    })
                    .collect();
                for h in handles {
                    let (l, w) = h.join().expect("a caller thread panicked");
                    lat.extend(l);
                    wrong += w;
                }
            });
            lat.sort_unstable();
            let p99 = lat.get(lat.len() * 99 / 100).copied().unwrap_or(0);
            let slow = lat.iter().filter(|&&l| l > 100_000).count();
            writeln!(
                out,
                "calls {} wrong {wrong} max_us {} p99_us {p99} slow {slow}",
                lat.len(),
                lat.last().copied().unwrap_or(0)
            )?;
            writeln!(out, "{}", remote_stats("fleet"))?;
        }
        other => return Err(format!("unknown command {other}").into()),
    }
    Ok(())
}
