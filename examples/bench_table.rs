//! Prints one table of the persistdict/heed ratios from the last
//! `cargo bench -p persistdict` run (criterion's `target/criterion/*/*/new/estimates.json`).
//!
//! ```sh
//! cargo bench -p persistdict && cargo run --release --example bench_table
//! ```
#![allow(clippy::print_stdout)]

use std::path::Path;

fn median_ns(dir: &Path) -> Option<f64> {
    let text = std::fs::read_to_string(dir.join("new/estimates.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["median"]["point_estimate"].as_f64()
}

fn human(ns: f64) -> String {
    match ns {
        n if n >= 1e9 => format!("{:.2} s", n / 1e9),
        n if n >= 1e6 => format!("{:.2} ms", n / 1e6),
        n if n >= 1e3 => format!("{:.2} µs", n / 1e3),
        n => format!("{n:.0} ns"),
    }
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/criterion");
    let mut groups: Vec<_> = match std::fs::read_dir(&root) {
        Ok(rd) => rd.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.join("heed").is_dir()).collect(),
        Err(_) => {
            println!("no criterion results in {}; run `cargo bench -p persistdict` first", root.display());
            return;
        }
    };
    groups.sort();
    println!("| workload | persistdict | heed | ratio |");
    println!("|---|---|---|---|");
    for g in groups {
        let Some(raw) = median_ns(&g.join("heed")) else { continue };
        let mut ours: Vec<_> = std::fs::read_dir(&g)
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("persistdict")))
            .collect();
        ours.sort();
        for o in ours {
            let Some(ns) = median_ns(&o) else { continue };
            let name = g.file_name().unwrap_or_default().to_string_lossy().into_owned();
            let variant = o.file_name().unwrap_or_default().to_string_lossy().replace("persistdict", "");
            println!("| {name}{variant} | {} | {} | {:.2} |", human(ns), human(raw), ns / raw);
        }
    }
}
