//! The README's main example: a slow function memoized on disk.
//!
//! Run it twice: the first run computes (about a second), the second answers
//! every call from the database in microseconds.
//!
//! ```sh
//! cargo run --release --example quickstart
//! cargo run --release --example quickstart
//! ```
#![allow(clippy::print_stdout)]

use std::time::{Duration, Instant};

use persistdict::persist_cache;

/// Stands for an expensive API call: sleeps, then answers.
#[persist_cache(db = "target/persistdict-quickstart", expire_days = 30)]
fn embed(text: &str, model: &str) -> Vec<f32> {
    println!("  computing embed({text:?}, {model:?}) ...");
    std::thread::sleep(Duration::from_millis(250));
    text.bytes().map(|b| f32::from(b) / 255.0).collect()
}

fn main() {
    let inputs = ["hello", "persistent", "world", "hello"];
    let start = Instant::now();
    for text in inputs {
        let v = embed(text, "tiny-model");
        println!("embed({text:?}) = {:?}", &v[..3.min(v.len())]);
    }
    let first = start.elapsed();
    let start = Instant::now();
    for text in inputs {
        embed(text, "tiny-model");
    }
    let second = start.elapsed();
    let store = embed_cache("", "").store();
    println!();
    println!("4 calls: {first:?}; the same 4 calls again: {second:?}");
    println!("results are stored in {}", store.path().display());
    println!("run me again: every call is answered from disk, nothing is computed");
}
