//! Issue 10, item 15: `check_integrity`, the tool a user runs on suspicion
//! of corruption, must not be what kills them. Random corruptions of a real
//! database (garbage pages, stray bytes), each checked in a child process:
//! no child may die by a signal once its `open` returned. (The full
//! 1000-trial measurement, with get/iter rates: `cargo run --release
//! --example corruption_trials`.)

use std::process::{Command, Stdio};

use persistdict::{Maintenance, PersistDict};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn item15_check_integrity_never_crashes_on_a_corrupted_file() {
    let root = tempfile::tempdir().unwrap();
    let golden = root.path().join("golden");
    {
        let d: PersistDict<u64, String> =
            PersistDict::builder(&golden).maintenance(Maintenance::Disabled).open().unwrap();
        d.extend((0..5000u64).map(|i| (i, format!("value {i} {}", "x".repeat((i % 300) as usize))))).unwrap();
        d.extend((0..50u64).map(|i| (10_000 + i, "y".repeat(6000)))).unwrap();
    }
    let data = std::fs::read(golden.join("data.mdb")).unwrap();
    let pages = data.len() / 4096;
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let (mut reported, mut crashed) = (0, Vec::new());
    for trial in 0..120 {
        let mut bytes = data.clone();
        let page = 2 + (rng.next() as usize % (pages - 2));
        if trial % 2 == 0 {
            bytes[page * 4096..(page + 1) * 4096].iter_mut().for_each(|b| *b = rng.next() as u8);
        } else {
            for _ in 0..1 + rng.next() % 8 {
                let at = 8192 + rng.next() as usize % (bytes.len() - 8192);
                bytes[at] = rng.next() as u8;
            }
        }
        let dir = root.path().join(format!("t{trial}"));
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("data.mdb"), &bytes).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_persistdict-child"))
            .arg("integrity")
            .arg(&dir)
            .stderr(Stdio::null())
            .output()
            .unwrap();
        let opened = String::from_utf8_lossy(&out.stdout).contains("opened");
        match out.status.code() {
            None if opened => crashed.push((trial, out.status)),
            Some(1 | 2) => reported += 1,
            _ => {}
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
    assert!(crashed.is_empty(), "check_integrity crashed: {crashed:?}");
    assert!(reported > 60, "most corruptions must be reported, got {reported} of 120");
}
