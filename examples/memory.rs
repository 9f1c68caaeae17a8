//! Measures resident memory growth while opening and iterating a database of
//! 1,000,000 entries (`PERSISTDICT_MEM_N` overrides), from `/proc/self/status`.
//!
//! LMDB maps the file: pages read are counted as *file-backed* resident
//! memory, which the kernel can drop at any time. What the process owns is
//! the *anonymous* part (`RssAnon`), the figure to hold under 64 MiB.
//!
//! ```sh
//! cargo run --release --example memory
//! ```
#![allow(clippy::print_stdout)]

use persistdict::{Durability, Maintenance, PersistDict};

fn rss_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn fill(path: &std::path::Path, n: u64) -> Result<(), Box<dyn std::error::Error>> {
    let d: PersistDict<u64, Vec<u8>> =
        PersistDict::builder(path).durability(Durability::NoSync).maintenance(Maintenance::Disabled).open()?;
    let mut start = 0;
    while start < n {
        let end = (start + 50_000).min(n);
        d.extend((start..end).map(|i| (i, vec![i as u8; 100])))?;
        start = end;
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: u64 = std::env::var("PERSISTDICT_MEM_N").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let args: Vec<String> = std::env::args().collect();
    if args.len() == 3 && args[1] == "fill" {
        return fill(std::path::Path::new(&args[2]), n);
    }
    // Fill in a child process, so that this one measures from a clean heap.
    let dir = tempfile::tempdir()?;
    let status = std::process::Command::new(std::env::current_exe()?).arg("fill").arg(dir.path()).status()?;
    assert!(status.success(), "the filling process failed");
    let anon0 = rss_kib("RssAnon:");
    let d: PersistDict<u64, Vec<u8>> = PersistDict::builder(dir.path()).expire_days(30).open()?;
    d.wait_for_maintenance(std::time::Duration::from_secs(60));
    let anon_open = rss_kib("RssAnon:");
    let mut count = 0u64;
    let mut sum = 0u64;
    for item in d.iter()? {
        let (k, v) = item?;
        count += 1;
        sum = sum.wrapping_add(k).wrapping_add(v.len() as u64);
    }
    let anon_iter = rss_kib("RssAnon:");
    println!("entries: {count} (checksum {sum})");
    println!(
        "RssAnon growth: open {} KiB, open + iterate {} KiB",
        anon_open.saturating_sub(anon0),
        anon_iter.saturating_sub(anon0)
    );
    println!("RssFile now: {} KiB (the mapped file, reclaimable)", rss_kib("RssFile:"));
    Ok(())
}
