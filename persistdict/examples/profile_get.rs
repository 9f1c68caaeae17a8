//! A get-hit loop for profilers (`perf record`): 100k entries, LRU off,
//! random keys, for PROFILE_SECS seconds (default 5).
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use persistdict::{Durability, Maintenance, PersistDict};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let lru: usize = std::env::var("PROFILE_LRU").ok().and_then(|v| v.parse().ok()).unwrap_or(0);
    let keys: u64 = if lru > 0 { 100 } else { 100_000 };
    let d: PersistDict<u64, Vec<u8>> = PersistDict::builder(dir.path())
        .lru_capacity(lru)
        .maintenance(Maintenance::Disabled)
        .durability(Durability::NoSync)
        .open()?;
    d.extend((0..100_000u64).map(|i| (i, (0..100).map(|j| (i + j) as u8).collect())))?;
    let secs: u64 = std::env::var("PROFILE_SECS").ok().and_then(|v| v.parse().ok()).unwrap_or(5);
    let until = Instant::now() + Duration::from_secs(secs);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut n = 0u64;
    let start = Instant::now();
    while Instant::now() < until {
        for _ in 0..1000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            black_box(d.get(&(x % keys))?);
        }
        n += 1000;
    }
    eprintln!("{:.0} ns per get", start.elapsed().as_nanos() as f64 / n as f64);
    Ok(())
}
