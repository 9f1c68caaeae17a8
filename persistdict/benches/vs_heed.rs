//! persistdict side by side with raw heed, in the same run.
//!
//! Every group benches a `persistdict` and a `heed` function over the same
//! key and value bytes, the same durability and one database; the ratio is
//! persistdict/heed (`cargo run --release --example bench_table` prints all
//! ratios from criterion's results). Run with `cargo bench -p persistdict`;
//! `PERSISTDICT_BENCH_N` overrides the 1,000,000 entries of the open and
//! expire groups.
#![allow(missing_docs)]

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use heed::types::Bytes;
use heed::{Database, EnvFlags, EnvOpenOptions, FlagSetMode};
use persistdict::codec::{Bincode, Codec};
use persistdict::{Durability, Maintenance, PersistDict, persist_cache};
use rand::Rng;
use sha2::{Digest, Sha256};

const N: u64 = 100_000;

type Raw = (heed::Env<heed::WithoutTls>, Database<'static, Bytes, Bytes>);

fn raw_open(dir: &Path, durability: Durability) -> Raw {
    // SAFETY: each directory is opened once at a time in this process.
    let env = unsafe {
        EnvOpenOptions::new().read_txn_without_tls().map_size(1 << 33).max_dbs(2).max_readers(4094).open(dir)
    }
    .expect("open heed");
    let flags = match durability {
        Durability::Sync => EnvFlags::empty(),
        Durability::NoMetaSync => EnvFlags::NO_META_SYNC,
        Durability::NoSync => EnvFlags::NO_SYNC,
    };
    if !flags.is_empty() {
        // SAFETY: no other thread uses the environment yet.
        unsafe { env.set_flags(flags, FlagSetMode::Enable) }.expect("flags");
    }
    let wtxn = env.write_txn().expect("txn");
    let db = env
        .create_databases_and_commit(wtxn, |o, w| -> heed::Result<_> {
            Ok(heed::CommitOrAbort::<_, ()>::Commit(o.create_database::<Bytes, Bytes>(w, None)?))
        })
        .expect("create")
        .unwrap_commit();
    (env, db)
}

fn raw_get<T: serde::de::DeserializeOwned>(raw: &Raw, key: &[u8]) -> Option<T> {
    let t = raw.0.read_txn().expect("txn");
    raw.1.get(&t, key).expect("get").map(|b| Bincode.decode(b).expect("decode"))
}

fn raw_put(raw: &Raw, key: &[u8], value: &[u8]) {
    let mut w = raw.0.write_txn().expect("txn");
    raw.1.put(&mut w, key, value).expect("put");
    w.commit().expect("commit");
}

fn value(i: u64) -> Vec<u8> {
    (0..100).map(|j| (i + j) as u8).collect()
}

fn enc<T: serde::Serialize>(v: &T) -> Vec<u8> {
    Bincode.encode(v).expect("encode").into_owned()
}

fn dict(dir: &Path, lru: usize, durability: Durability) -> PersistDict<u64, Vec<u8>> {
    PersistDict::builder(dir)
        .lru_capacity(lru)
        .maintenance(Maintenance::Disabled)
        .durability(durability)
        .open()
        .expect("open")
}

fn reads(c: &mut Criterion) {
    let ours_dir = tempfile::tempdir().expect("tmp");
    let raw_dir = tempfile::tempdir().expect("tmp");
    let d = dict(ours_dir.path(), 0, Durability::NoSync);
    let hot = dict(ours_dir.path(), 128, Durability::NoSync);
    let hot_decoded: PersistDict<u64, Vec<u8>> = PersistDict::builder(ours_dir.path())
        .lru_capacity(128)
        .cache_decoded()
        .maintenance(Maintenance::Disabled)
        .durability(Durability::NoSync)
        .open()
        .expect("open");
    for chunk in (0..N).collect::<Vec<_>>().chunks(10_000) {
        d.extend(chunk.iter().map(|&i| (i, value(i)))).expect("fill");
    }
    let raw = raw_open(raw_dir.path(), Durability::NoSync);
    let mut w = raw.0.write_txn().expect("txn");
    for i in 0..N {
        raw.1.put(&mut w, &enc(&i), &enc(&value(i))).expect("put");
    }
    w.commit().expect("commit");
    let mut rng = rand::rng();

    let mut g = c.benchmark_group("1_get_hit_lru_off");
    g.bench_function("persistdict", |b| b.iter(|| black_box(d.get(&rng.random_range(0..N)).expect("get"))));
    g.bench_function("heed", |b| b.iter(|| black_box(raw_get::<Vec<u8>>(&raw, &enc(&rng.random_range(0..N))))));
    g.finish();

    let mut g = c.benchmark_group("2_get_hot_set_lru_on");
    g.bench_function("persistdict", |b| b.iter(|| black_box(hot.get(&rng.random_range(0..100u64)).expect("get"))));
    g.bench_function("persistdict_decoded", |b| {
        b.iter(|| black_box(hot_decoded.get(&rng.random_range(0..100u64)).expect("get")))
    });
    g.bench_function("heed", |b| b.iter(|| black_box(raw_get::<Vec<u8>>(&raw, &enc(&rng.random_range(0..100u64))))));
    g.finish();

    let mut g = c.benchmark_group("3_get_miss");
    g.bench_function("persistdict", |b| b.iter(|| black_box(d.get(&(N + rng.random_range(0..N))).expect("get"))));
    g.bench_function("heed", |b| b.iter(|| black_box(raw_get::<Vec<u8>>(&raw, &enc(&(N + rng.random_range(0..N)))))));
    g.finish();
}

fn inserts(c: &mut Criterion) {
    for (group, durability) in [("4_insert_sync", Durability::Sync), ("4_insert_nosync", Durability::NoSync)] {
        let ours_dir = tempfile::tempdir().expect("tmp");
        let raw_dir = tempfile::tempdir().expect("tmp");
        let d = dict(ours_dir.path(), 128, durability);
        let raw = raw_open(raw_dir.path(), durability);
        let mut g = c.benchmark_group(group);
        if durability == Durability::Sync {
            g.sample_size(20);
        }
        let mut i = 0u64;
        g.bench_function("persistdict", |b| {
            b.iter(|| {
                i += 1;
                d.insert(&(i % 10_000), &value(i)).expect("insert")
            })
        });
        let mut i = 0u64;
        g.bench_function("heed", |b| {
            b.iter(|| {
                i += 1;
                raw_put(&raw, &enc(&(i % 10_000)), &enc(&value(i)))
            })
        });
        g.finish();
    }

    let mut g = c.benchmark_group("5_extend_10k");
    g.sample_size(20);
    g.bench_function("persistdict", |b| {
        b.iter_batched(
            || tempfile::tempdir().expect("tmp"),
            |dir| {
                let d = dict(dir.path(), 128, Durability::NoSync);
                d.extend((0..10_000u64).map(|i| (i, value(i)))).expect("extend");
                dir
            },
            BatchSize::PerIteration,
        )
    });
    g.bench_function("heed", |b| {
        b.iter_batched(
            || tempfile::tempdir().expect("tmp"),
            |dir| {
                let raw = raw_open(dir.path(), Durability::NoSync);
                let mut w = raw.0.write_txn().expect("txn");
                for i in 0..10_000u64 {
                    raw.1.put(&mut w, &enc(&i), &enc(&value(i))).expect("put");
                }
                w.commit().expect("commit");
                drop(raw);
                dir
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

#[persist_cache]
fn memo_target(text: String, n: u64) -> Vec<u8> {
    vec![(n % 251) as u8 ^ text.len() as u8; 1024]
}

fn memo(c: &mut Criterion) {
    let root = tempfile::tempdir().expect("tmp");
    // SAFETY: set before any thread reads the environment.
    unsafe { std::env::set_var("PERSISTDICT_DIR", root.path()) };
    let keys: Vec<(String, u64)> = (0..1000).map(|i| (format!("prompt number {i}"), i)).collect();
    for (t, n) in &keys {
        memo_target(t.clone(), *n);
    }
    let raw_dir = tempfile::tempdir().expect("tmp");
    let raw = raw_open(raw_dir.path(), Durability::NoMetaSync);
    let raw_key = |t: &String, n: u64| -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(enc(&(t, n)));
        h.finalize().into()
    };
    for (t, n) in &keys {
        raw_put(&raw, &raw_key(t, *n), &enc(&memo_target(t.clone(), *n)));
    }
    let mut rng = rand::rng();
    let mut g = c.benchmark_group("6_memo_hit");
    g.bench_function("persistdict", |b| {
        b.iter(|| {
            let (t, n) = &keys[rng.random_range(0..keys.len())];
            black_box(memo_target(t.clone(), *n))
        })
    });
    g.bench_function("heed", |b| {
        b.iter(|| {
            let (t, n) = &keys[rng.random_range(0..keys.len())];
            let t = t.clone();
            black_box(raw_get::<Vec<u8>>(&raw, &raw_key(&t, *n)))
        })
    });
    g.finish();
}

fn big_n() -> u64 {
    std::env::var("PERSISTDICT_BENCH_N").ok().and_then(|n| n.parse().ok()).unwrap_or(1_000_000)
}

/// Fills a persistdict and a raw heed database with `n` entries; returns
/// the wall time between the first `old` entries and the rest.
/// Fills both databases with `n` entries; persistdict's first `old` are
/// written with a 1 ms expiry window (due at once: expiry is per entry), the
/// rest with 30 days (never due during a run).
fn fill(ours: &Path, raw_dir: &Path, n: u64, old: u64) -> SystemTime {
    let with_window = |window: Duration| -> PersistDict<u64, Vec<u8>> {
        PersistDict::builder(ours)
            .expire_after(window)
            .maintenance(Maintenance::Disabled)
            .durability(Durability::NoSync)
            .open()
            .expect("open")
    };
    let (short, long) = (with_window(Duration::from_millis(1)), with_window(Duration::from_secs(30 * 86_400)));
    let raw = raw_open(raw_dir, Durability::NoSync);
    let mut split = SystemTime::now();
    let mut start = 0;
    while start < n {
        let end = if start < old { old } else { (start + 100_000).min(n) };
        let d = if start < old { &short } else { &long };
        d.extend((start..end).map(|i| (i, value(i)))).expect("fill");
        let mut w = raw.0.write_txn().expect("txn");
        for i in start..end {
            raw.1.put(&mut w, &enc(&i), &enc(&value(i))).expect("put");
        }
        w.commit().expect("commit");
        if end == old {
            std::thread::sleep(Duration::from_millis(20));
            split = SystemTime::now();
            std::thread::sleep(Duration::from_millis(20));
        }
        start = end;
    }
    split
}

fn open(c: &mut Criterion) {
    for n in [10_000, big_n()] {
        let ours = tempfile::tempdir().expect("tmp");
        let raw_dir = tempfile::tempdir().expect("tmp");
        fill(ours.path(), raw_dir.path(), n, 0);
        let mut g = c.benchmark_group(format!("7_open_{n}"));
        g.sample_size(30);
        for (name, mode) in
            [("persistdict_background", Maintenance::Background), ("persistdict_foreground", Maintenance::Foreground)]
        {
            g.bench_function(name, |b| {
                b.iter(|| {
                    let d: PersistDict<u64, Vec<u8>> =
                        PersistDict::builder(ours.path()).expire_days(30).maintenance(mode).open().expect("open");
                    black_box(&d);
                })
            });
        }
        g.bench_function("heed", |b| b.iter(|| black_box(raw_open(raw_dir.path(), Durability::Sync))));
        g.finish();
    }
}

fn expire(c: &mut Criterion) {
    let n = big_n();
    let k = n / 100;
    let pristine = tempfile::tempdir().expect("tmp");
    let raw_pristine = tempfile::tempdir().expect("tmp");
    fill(pristine.path(), raw_pristine.path(), n, k);
    let copy = |from: &Path| {
        let to = tempfile::tempdir().expect("tmp");
        std::fs::copy(from.join("data.mdb"), to.path().join("data.mdb")).expect("copy");
        to
    };
    let mut g = c.benchmark_group(format!("8_expire_1pct_of_{n}"));
    g.sample_size(10);
    g.bench_function("persistdict", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let dir = copy(pristine.path());
                let d: PersistDict<u64, Vec<u8>> = PersistDict::builder(dir.path())
                    .maintenance(Maintenance::Disabled)
                    .durability(Durability::NoSync)
                    .open()
                    .expect("open");
                let t = Instant::now();
                assert_eq!(d.expire().expect("expire"), k as usize);
                total += t.elapsed();
            }
            total
        })
    });
    g.bench_function("heed", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let dir = copy(raw_pristine.path());
                let raw = raw_open(dir.path(), Durability::NoSync);
                let t = Instant::now();
                // Raw heed knows which keys are old; it deletes them in batches of 1,000 as we do.
                for chunk in (0..k).collect::<Vec<_>>().chunks(1000) {
                    let mut w = raw.0.write_txn().expect("txn");
                    for i in chunk {
                        raw.1.delete(&mut w, &enc(i)).expect("delete");
                    }
                    w.commit().expect("commit");
                }
                total += t.elapsed();
            }
            total
        })
    });
    g.finish();
}

fn mixed(c: &mut Criterion) {
    let ours_dir = tempfile::tempdir().expect("tmp");
    let raw_dir = tempfile::tempdir().expect("tmp");
    let d = dict(ours_dir.path(), 128, Durability::NoSync);
    d.extend((0..10_000u64).map(|i| (i, value(i)))).expect("fill");
    let raw = raw_open(raw_dir.path(), Durability::NoSync);
    let mut w = raw.0.write_txn().expect("txn");
    for i in 0..10_000u64 {
        raw.1.put(&mut w, &enc(&i), &enc(&value(i))).expect("put");
    }
    w.commit().expect("commit");
    let two_threads = |iters: u64, op: &(dyn Fn(u64, bool) + Sync)| {
        let start = Instant::now();
        std::thread::scope(|s| {
            for t in 0..2u64 {
                s.spawn(move || {
                    let mut rng = rand::rng();
                    for i in 0..iters / 2 {
                        op(rng.random_range(0..10_000), (i + t) % 10 == 0);
                    }
                });
            }
        });
        start.elapsed()
    };
    let mut g = c.benchmark_group("9_two_threads_90get_10insert");
    g.bench_function("persistdict", |b| {
        b.iter_custom(|iters| {
            two_threads(iters, &|k, write| {
                if write {
                    d.insert(&k, &value(k)).expect("insert");
                } else {
                    black_box(d.get(&k).expect("get"));
                }
            })
        })
    });
    g.bench_function("heed", |b| {
        b.iter_custom(|iters| {
            two_threads(iters, &|k, write| {
                if write {
                    raw_put(&raw, &enc(&k), &enc(&value(k)));
                } else {
                    black_box(raw_get::<Vec<u8>>(&raw, &enc(&k)));
                }
            })
        })
    });
    g.finish();
}

/// Inserts of new keys into a database at its `max_entries` budget: every
/// insert evicts the least recently used entry, in the same transaction.
/// Side by side with the same inserts without a budget and with raw heed.
fn budget(c: &mut Criterion) {
    let mut g = c.benchmark_group("10_insert_evicting");
    for (name, limit) in [("persistdict_budget", Some(10_000u64)), ("persistdict_no_budget", None)] {
        let dir = tempfile::tempdir().expect("tmp");
        let mut b = PersistDict::<u64, Vec<u8>>::builder(dir.path())
            .maintenance(Maintenance::Disabled)
            .durability(Durability::NoSync)
            .lru_capacity(0);
        if let Some(n) = limit {
            b = b.max_entries(n);
        }
        let d = b.open().expect("open");
        d.extend((0..10_000u64).map(|i| (i, value(i)))).expect("fill");
        let mut i = 10_000u64;
        g.bench_function(name, |bench| {
            bench.iter(|| {
                i += 1;
                d.insert(&i, &value(i)).expect("insert")
            })
        });
    }
    let raw_dir = tempfile::tempdir().expect("tmp");
    let raw = raw_open(raw_dir.path(), Durability::NoSync);
    let mut i = 10_000u64;
    g.bench_function("heed", |bench| {
        bench.iter(|| {
            i += 1;
            raw_put(&raw, &enc(&i), &enc(&value(i)))
        })
    });
    g.finish();
}

#[persist_cache(db = "bench_miss_machine", durability = "no_meta_sync")]
fn miss_machine(n: u64) -> Vec<u8> {
    value(n)
}

#[persist_cache(db = "bench_miss_process", durability = "no_meta_sync", single_flight = "process")]
fn miss_process(n: u64) -> Vec<u8> {
    value(n)
}

/// A memoized call that misses: single flight across processes (a lease
/// written before the body, removed with the result: two commits) against
/// per process (one commit), and raw heed's get + put + commit.
fn memo_miss(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tmp");
    std::env::set_current_dir(dir.path()).expect("cd");
    let next = std::sync::atomic::AtomicU64::new(0);
    let fresh = || next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let raw_dir = tempfile::tempdir().expect("tmp");
    let raw = raw_open(raw_dir.path(), Durability::NoMetaSync);
    let mut g = c.benchmark_group("11_memo_miss");
    g.bench_function("machine", |b| b.iter(|| black_box(miss_machine(fresh()))));
    g.bench_function("process", |b| b.iter(|| black_box(miss_process(fresh()))));
    g.bench_function("heed", |b| {
        b.iter(|| {
            let n = fresh();
            let mut h = Sha256::new();
            h.update(enc(&n));
            let key: [u8; 32] = h.finalize().into();
            if raw_get::<Vec<u8>>(&raw, &key).is_none() {
                raw_put(&raw, &key, &enc(&value(n)));
            }
        })
    });
    g.finish();
}

criterion_group!(benches, reads, inserts, memo, open, expire, mixed, budget, memo_miss);
criterion_main!(benches);
