//! Random corruptions of a real database, each examined in a child process:
//! how often does `check_integrity` crash (target: never), and how often do
//! `get` / iteration crash on the same files (LMDB has no page checksums)?
//!
//! `cargo run --release --example corruption_trials -- [TRIALS] [ENTRIES]`
//! (default 1000 trials of a 20,000-entry database). Prints one line per
//! outcome class.
#![allow(clippy::print_stdout)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use persistdict::{Maintenance, PersistDict};

fn open(dir: &Path) -> persistdict::Result<PersistDict<u64, String>> {
    PersistDict::builder(dir).maintenance(Maintenance::Disabled).lru_capacity(0).open()
}

/// Child modes: print "opened" once the open returned, then do the work.
fn child(mode: &str, dir: &Path) -> i32 {
    let d = match open(dir) {
        Ok(d) => d,
        Err(_) => return 3,
    };
    println!("opened");
    let _ = std::io::stdout().flush();
    match mode {
        "integrity" => match d.check_integrity() {
            Ok(r) if r.is_clean() => 0,
            Ok(_) => 1,
            Err(_) => 2,
        },
        _ => {
            let mut n = 0u64;
            if let Ok(it) = d.iter() {
                for item in it {
                    n += u64::from(item.is_ok());
                }
            }
            for k in 0..n.max(100) {
                let _ = d.get(&k);
            }
            0
        }
    }
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[derive(Default, Debug)]
struct Tally {
    open_failed: u32,
    open_crashed: u32,
    clean: u32,
    reported: u32,
    crashed_after_open: u32,
}

fn run(exe: &Path, mode: &str, dir: &Path, tally: &mut Tally) {
    let out = Command::new(exe).args(["--child", mode]).arg(dir).stderr(Stdio::null()).output().unwrap();
    let opened = String::from_utf8_lossy(&out.stdout).contains("opened");
    match (out.status.code(), opened) {
        (Some(3), _) => tally.open_failed += 1,
        (Some(0), true) => tally.clean += 1,
        (Some(_), true) => tally.reported += 1,
        (None, false) => tally.open_crashed += 1,
        (None, true) => tally.crashed_after_open += 1,
        (Some(_), false) => tally.open_failed += 1,
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--child") {
        std::process::exit(child(&args[2], Path::new(&args[3])));
    }
    let trials: u32 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(1000);
    let entries: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(20_000);
    let exe = std::env::current_exe().unwrap();
    let root = tempfile::tempdir().unwrap();
    let golden = root.path().join("golden");
    {
        let d = open(&golden).unwrap();
        d.extend((0..entries).map(|i| (i, format!("value {i} {}", "x".repeat((i % 300) as usize))))).unwrap();
        d.extend((0..entries / 100).map(|i| (entries + i, "y".repeat(6000)))).unwrap();
    }
    let data = std::fs::read(golden.join("data.mdb")).unwrap();
    let pages = data.len() / 4096;
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let (mut integrity, mut reads) = (Tally::default(), Tally::default());
    for _ in 0..trials {
        let mut bytes = data.clone();
        // Half the trials hit a page of the B-trees' range with garbage, half
        // overwrite a few random bytes anywhere past the meta pages.
        let page = 2 + (rng.next() as usize % (pages - 2));
        if rng.next().is_multiple_of(2) {
            for b in &mut bytes[page * 4096..(page + 1) * 4096] {
                *b = rng.next() as u8;
            }
        } else {
            for _ in 0..1 + rng.next() % 8 {
                let at = 8192 + rng.next() as usize % (bytes.len() - 8192);
                bytes[at] = rng.next() as u8;
            }
        }
        let dir: PathBuf = root.path().join("trial");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("data.mdb"), &bytes).unwrap();
        run(&exe, "integrity", &dir, &mut integrity);
        std::fs::write(dir.join("data.mdb"), &bytes).unwrap();
        run(&exe, "read", &dir, &mut reads);
    }
    println!("{trials} random corruptions of a {entries}-entry database ({pages} pages):");
    println!("open + check_integrity: {integrity:?}");
    println!("open + iter + get:      {reads:?}");
}
