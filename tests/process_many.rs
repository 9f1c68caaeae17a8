//! Four processes mixing inserts, removes, gets and expire(), a fifth calling
//! clear(), on one database for a few seconds; then a census.

use std::collections::HashMap;
use std::process::{Command, Stdio};

use persistdict::PersistDict;

const CHILD: &str = env!("CARGO_BIN_EXE_persistdict-child");
const MILLIS: &str = "3000";

#[test]
fn many_processes_leave_a_consistent_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let p = path.to_str().unwrap();
    drop(PersistDict::<u64, u64>::open(&path).unwrap());
    let spawn =
        |args: &[&str]| Command::new(CHILD).args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let workers: Vec<_> = (0..4).map(|id| spawn(&["mixed", p, &id.to_string(), MILLIS])).collect();
    let clearer = spawn(&["clearer", p, MILLIS]);
    let out = |c: std::process::Child| {
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "a child failed: {o:?}");
        String::from_utf8(o.stdout).unwrap()
    };
    let clears: Vec<u128> = out(clearer).lines().map(|l| l.strip_prefix("clear ").unwrap().parse().unwrap()).collect();
    assert!(!clears.is_empty());
    // key -> (value if present, when its last write started)
    let mut census: HashMap<u64, (Option<u64>, u128)> = HashMap::new();
    for w in workers {
        for line in out(w).lines() {
            let f: Vec<&str> = line.split(' ').collect();
            let key = f[0].parse().unwrap();
            match f[1] {
                "present" => census.insert(key, (Some(f[2].parse().unwrap()), f[3].parse().unwrap())),
                _ => census.insert(key, (None, f[2].parse().unwrap())),
            };
        }
    }
    let d: PersistDict<u64, u64> = PersistDict::open(&path).unwrap();
    let report = d.check_integrity().unwrap();
    assert!(report.is_clean(), "{report:?}");
    for item in d.iter().unwrap() {
        let (k, v) = item.unwrap();
        let (expected, _) = census.get(&k).unwrap_or_else(|| panic!("key {k} was never written"));
        assert_eq!(*expected, Some(v), "key {k} holds a value that is not its last write");
    }
    for (k, (expected, started)) in &census {
        let got = d.get(k).unwrap();
        match expected {
            None => assert_eq!(got, None, "removed key {k} is back"),
            Some(v) if got.is_none() => {
                assert!(clears.iter().any(|c| c >= started), "key {k} = {v} vanished without a clear after its write")
            }
            Some(v) => assert_eq!(got, Some(*v)),
        }
    }
    assert_eq!(d.len().unwrap(), d.iter().unwrap().count());
}
