//! Review: after another handle's write returned, no handle reads an older value.
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use persistdict::PersistDict;

#[test]
fn no_stale_read_after_a_returned_write() {
    let dir = tempfile::tempdir().unwrap();
    let open = || -> Arc<PersistDict<u32, u64>> {
        Arc::new(PersistDict::builder(dir.path()).lru_capacity(64).open().unwrap())
    };
    let (a, b, c) = (open(), open(), open());
    const KEYS: u32 = 4;
    let published: Arc<Vec<AtomicU64>> = Arc::new((0..KEYS).map(|_| AtomicU64::new(0)).collect());
    let stop = Instant::now() + Duration::from_secs(4);
    let mut threads = Vec::new();
    // One writer per key (monotonic values), alternating handles b and c,
    // plus noise: removes/inserts of other keys through a.
    for k in 0..KEYS {
        let (b, c, p) = (b.clone(), c.clone(), published.clone());
        threads.push(std::thread::spawn(move || {
            let mut v = 0u64;
            while Instant::now() < stop {
                v += 1;
                let h = if v.is_multiple_of(2) { &b } else { &c };
                h.insert(&k, &v).unwrap();
                p[k as usize].store(v, Ordering::SeqCst);
            }
        }));
    }
    {
        let a2 = a.clone();
        threads.push(std::thread::spawn(move || {
            let mut i = 0u32;
            while Instant::now() < stop {
                i += 1;
                a2.insert(&(1000 + i % 7), &0).unwrap();
                a2.remove(&(1000 + (i * 3) % 7)).unwrap();
                let _ = a2.remove(&999_999).unwrap(); // an empty remove
            }
        }));
    }
    for _ in 0..2 {
        let (a, p) = (a.clone(), published.clone());
        threads.push(std::thread::spawn(move || {
            let mut checks = 0u64;
            while Instant::now() < stop {
                for k in 0..KEYS {
                    let before = p[k as usize].load(Ordering::SeqCst);
                    let got = a.get(&k).unwrap().unwrap_or(0);
                    assert!(got >= before, "key {k}: read {got} after write {before} returned");
                    checks += 1;
                }
            }
            let _ = checks;
        }));
    }
    for t in threads {
        t.join().unwrap();
    }
}
