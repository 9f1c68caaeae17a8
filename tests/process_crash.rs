//! SIGKILL at random moments: every acknowledged insert survives, and the
//! database verifies clean afterwards (`Durability::Sync`).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use persistdict::{Maintenance, PersistDict};

const CHILD: &str = env!("CARGO_BIN_EXE_persistdict-child");

struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Runs the child until it acknowledged `acks` inserts (plus a random few
/// milliseconds, to land inside a write), kills it, and returns the keys it
/// acknowledged.
fn run_and_kill(args: &[String], acks: u64, rng: &mut Rng) -> Vec<u64> {
    let mut child = Command::new(CHILD).args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut acked = Vec::new();
    while (acked.len() as u64) < acks {
        match lines.next() {
            Some(Ok(line)) => acked.push(line.strip_prefix("ack ").unwrap().parse().unwrap()),
            _ => {
                let out = child.wait_with_output().unwrap();
                panic!("child ended early: {}", String::from_utf8_lossy(&out.stderr));
            }
        }
    }
    std::thread::sleep(Duration::from_micros(rng.below(3000)));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    // Acks printed before the kill but not read yet also count.
    for line in lines.map_while(Result::ok) {
        if let Some(n) = line.strip_prefix("ack ") {
            acked.push(n.parse().unwrap());
        }
    }
    acked
}

fn verify(path: &std::path::Path, acked: &[u64], value_len: usize) {
    let d: PersistDict<u64, Vec<u8>> =
        PersistDict::builder(path).maintenance(Maintenance::Disabled).lru_capacity(0).open().unwrap();
    for &k in acked {
        assert_eq!(d.get(&k).unwrap(), Some(vec![k as u8; value_len]), "acknowledged key {k} lost");
    }
    let report = d.check_integrity().unwrap();
    assert!(report.is_clean(), "{report:?}");
}

#[test]
fn acknowledged_inserts_survive_sigkill() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ u64::from(std::process::id()));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let mut next = 0;
    let mut all_acked = Vec::new();
    for round in 0..24 {
        let (map_size, len) = if round % 2 == 0 { (1 << 20, 100) } else { (64 << 10, 8 << 10) };
        let args = vec![
            "ackloop".into(),
            path.to_str().unwrap().into(),
            next.to_string(),
            map_size.to_string(),
            len.to_string(),
        ];
        let acked = run_and_kill(&args, 1 + rng.below(40), &mut rng);
        verify(&path, &acked, len);
        next = acked.iter().max().unwrap() + 2; // +2: the killed in-flight insert may or may not be there
        all_acked.extend(acked.into_iter().map(|k| (k, len)));
    }
    // Rounds with map growth: the earlier keys are all still there too.
    let d: PersistDict<u64, Vec<u8>> = PersistDict::builder(&path).maintenance(Maintenance::Disabled).open().unwrap();
    for (k, len) in all_acked {
        assert_eq!(d.get(&k).unwrap().map(|v| v.len()), Some(len));
    }
}

#[test]
fn acknowledged_inserts_survive_sigkill_during_maintenance() {
    const WINDOW_MS: u64 = 1000;
    let mut rng = Rng(0xD1B5_4A32_D192_ED03 ^ u64::from(std::process::id()));
    for _ in 0..6 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        {
            // Old entries for the child's maintenance to sweep while it inserts.
            let d: PersistDict<u64, Vec<u8>> = PersistDict::builder(&path)
                .maintenance(Maintenance::Disabled)
                .durability(persistdict::Durability::NoSync)
                .open()
                .unwrap();
            d.extend((1_000_000..1_020_000u64).map(|k| (k, vec![k as u8; 100]))).unwrap();
        }
        std::thread::sleep(Duration::from_millis(WINDOW_MS + 50));
        let started = Instant::now();
        let args: Vec<String> = vec![
            "ackloop".into(),
            path.to_str().unwrap().into(),
            "0".into(),
            (1 << 20).to_string(),
            "100".into(),
            WINDOW_MS.to_string(),
        ];
        let acked = run_and_kill(&args, 1 + rng.below(30), &mut rng);
        if started.elapsed() < Duration::from_millis(WINDOW_MS) {
            verify(&path, &acked, 100);
        } else {
            // Too slow a machine: the acked keys may have expired legitimately;
            // the database must still verify.
            verify(&path, &[], 100);
        }
    }
}

#[test]
fn sigkill_during_eviction_leaves_a_database_that_verifies() {
    const MAX: u64 = 40;
    let mut rng = Rng(0xA076_1D64_78BD_642F ^ u64::from(std::process::id()));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let mut next = 0;
    for _ in 0..16 {
        // Every insert past the budget evicts the least recently used entry
        // in the same transaction: a kill lands inside eviction often.
        let args: Vec<String> = vec![
            "ackloop".into(),
            path.to_str().unwrap().into(),
            next.to_string(),
            (1 << 20).to_string(),
            "200".into(),
            "0".into(),
            MAX.to_string(),
        ];
        let mut acked = run_and_kill(&args, MAX + 1 + rng.below(60), &mut rng);
        acked.sort_unstable();
        // The newest MAX - 1 acknowledged inserts are all there (the killed
        // in-flight insert may have evicted one more).
        let newest = &acked[acked.len() - (MAX as usize - 1)..];
        verify(&path, newest, 200);
        let d: PersistDict<u64, Vec<u8>> =
            PersistDict::builder(&path).maintenance(Maintenance::Disabled).lru_capacity(0).open().unwrap();
        assert!(d.len().unwrap() as u64 <= MAX, "over budget after a kill");
        drop(d);
        next = acked.last().unwrap() + 2;
    }
}
