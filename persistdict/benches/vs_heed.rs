//! persistdict side by side with raw heed, in the same run.
//!
//! Each group has a `persistdict` and a `heed` function over the same key and
//! value bytes and the same durability; criterion prints both, and the ratio
//! is persistdict/heed. Run with `cargo bench -p persistdict`.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use heed::types::Bytes;
use heed::{Database, EnvOpenOptions};
use persistdict::codec::{Bincode, Codec};
use persistdict::{Durability, Maintenance, PersistDict};
use rand::Rng;

const N: u64 = 100_000;

fn raw_env(dir: &std::path::Path) -> (heed::Env<heed::WithoutTls>, Database<'static, Bytes, Bytes>) {
    // SAFETY: a fresh directory opened once.
    let env = unsafe {
        EnvOpenOptions::new().read_txn_without_tls().map_size(1 << 30).max_dbs(2).open(dir).expect("open heed")
    };
    let wtxn = env.write_txn().expect("txn");
    let db = env
        .create_databases_and_commit(wtxn, |o, w| -> heed::Result<_> {
            Ok(heed::CommitOrAbort::<_, ()>::Commit(o.create_database::<Bytes, Bytes>(w, None)?))
        })
        .expect("create")
        .unwrap_commit();
    (env, db)
}

fn value(i: u64) -> Vec<u8> {
    (0..100).map(|j| (i + j) as u8).collect()
}

fn gets(c: &mut Criterion) {
    let ours_dir = tempfile::tempdir().expect("tmp");
    let raw_dir = tempfile::tempdir().expect("tmp");
    let d: PersistDict<u64, Vec<u8>> = PersistDict::builder(ours_dir.path())
        .lru_capacity(0)
        .maintenance(Maintenance::Disabled)
        .durability(Durability::NoSync)
        .open()
        .expect("open");
    d.extend((0..N).map(|i| (i, value(i)))).expect("fill");
    let hot: PersistDict<u64, Vec<u8>> = PersistDict::builder(ours_dir.path()).lru_capacity(128).open().expect("open");
    let (env, db) = raw_env(raw_dir.path());
    let mut w = env.write_txn().expect("txn");
    for i in 0..N {
        db.put(&mut w, &Bincode.encode(&i).expect("k"), &Bincode.encode(&value(i)).expect("v")).expect("put");
    }
    w.commit().expect("commit");
    let mut rng = rand::rng();

    let mut g = c.benchmark_group("get_hit_lru_off");
    g.bench_function("persistdict", |b| b.iter(|| black_box(d.get(&rng.random_range(0..N)).expect("get"))));
    g.bench_function("heed", |b| {
        b.iter(|| {
            let k = Bincode.encode(&rng.random_range(0..N)).expect("k");
            let t = env.read_txn().expect("txn");
            let v: Option<Vec<u8>> = db.get(&t, &k).expect("get").map(|b| Bincode.decode(b).expect("decode"));
            black_box(v)
        })
    });
    g.finish();

    let mut g = c.benchmark_group("get_hot_set_lru_on");
    g.bench_function("persistdict", |b| b.iter(|| black_box(hot.get(&rng.random_range(0..100u64)).expect("get"))));
    g.bench_function("heed", |b| {
        b.iter(|| {
            let k = Bincode.encode(&rng.random_range(0..100u64)).expect("k");
            let t = env.read_txn().expect("txn");
            let v: Option<Vec<u8>> = db.get(&t, &k).expect("get").map(|b| Bincode.decode(b).expect("decode"));
            black_box(v)
        })
    });
    g.finish();

    let mut g = c.benchmark_group("get_miss");
    g.bench_function("persistdict", |b| b.iter(|| black_box(d.get(&(N + rng.random_range(0..N))).expect("get"))));
    g.bench_function("heed", |b| {
        b.iter(|| {
            let k = Bincode.encode(&(N + rng.random_range(0..N))).expect("k");
            let t = env.read_txn().expect("txn");
            black_box(db.get(&t, &k).expect("get").is_some())
        })
    });
    g.finish();

    let mut g = c.benchmark_group("insert_nosync");
    let mut i = 0u64;
    g.bench_function("persistdict", |b| {
        b.iter(|| {
            i += 1;
            d.insert(&(i % N), &value(i)).expect("insert")
        })
    });
    // SAFETY: no other thread uses the environment now.
    unsafe { env.set_flags(heed::EnvFlags::NO_SYNC, heed::FlagSetMode::Enable).expect("flags") };
    g.bench_function("heed", |b| {
        b.iter(|| {
            i += 1;
            let mut w = env.write_txn().expect("txn");
            db.put(&mut w, &Bincode.encode(&(i % N)).expect("k"), &Bincode.encode(&value(i)).expect("v")).expect("put");
            w.commit().expect("commit")
        })
    });
    g.finish();
}

criterion_group!(benches, gets);
criterion_main!(benches);
