//! `#[persist_cache]` across processes: results persist from one run of a
//! program to the next, and `PERSISTDICT_DISABLE=1` turns caching off.

use std::process::Command;

const CHILD: &str = env!("CARGO_BIN_EXE_persistdict-child");

fn memo(dir: &std::path::Path, x: u64, repeat: u32, disable: bool) -> Vec<u64> {
    let mut cmd = Command::new(CHILD);
    cmd.args(["memo", dir.to_str().unwrap(), &x.to_string(), &repeat.to_string()]);
    if disable {
        cmd.env("PERSISTDICT_DISABLE", "1");
    } else {
        cmd.env_remove("PERSISTDICT_DISABLE");
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap().lines().map(|l| l.parse().unwrap()).collect()
}

fn runs(dir: &std::path::Path) -> u64 {
    std::fs::read_to_string(dir.join("runs")).map_or(0, |s| s.parse().unwrap())
}

#[test]
fn results_persist_across_processes() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(memo(dir.path(), 7, 3, false), [21, 21, 21]);
    assert_eq!(runs(dir.path()), 1);
    assert_eq!(memo(dir.path(), 7, 2, false), [21, 21]);
    assert_eq!(runs(dir.path()), 1, "the second process must answer from disk");
    assert_eq!(memo(dir.path(), 8, 1, false), [24]);
    assert_eq!(runs(dir.path()), 2);
    // The default store is <PERSISTDICT_DIR>/<crate name>/.
    assert!(dir.path().join("persistdict-tests").join("data.mdb").exists());
}

#[test]
fn persistdict_disable_turns_caching_off() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(memo(dir.path(), 5, 3, true), [15, 15, 15]);
    assert_eq!(runs(dir.path()), 3);
    assert!(!dir.path().join("persistdict-tests").exists());
}
