//! Function versions: every memo namespace is recorded in the meta table,
//! stale versions are pruned on demand or automatically, and never while a
//! process still calls them.
//!
//! The child processes run with the use-refresh period and the auto-prune
//! delay shortened to milliseconds (`PERSISTDICT_USE_REFRESH_MS`,
//! `PERSISTDICT_AUTO_PRUNE_AFTER_MS`); the protocol is the same.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use persistdict::FunctionVersion;

const CHILD: &str = env!("CARGO_BIN_EXE_persistdict-child");
const REFRESH_MS: &str = "50";

fn child(root: &Path, version: &str, millis: u64, auto_prune_ms: Option<u64>) -> Child {
    let mut c = Command::new(CHILD);
    c.args(["versions", root.to_str().unwrap(), version, &millis.to_string()])
        .env("PERSISTDICT_USE_REFRESH_MS", REFRESH_MS)
        .stdout(Stdio::piped());
    if let Some(ms) = auto_prune_ms {
        c.env("PERSISTDICT_AUTO_PRUNE_AFTER_MS", ms.to_string());
    }
    c.spawn().expect("spawn the child")
}

fn run(root: &Path, version: &str, auto_prune_ms: Option<u64>) {
    let out = child(root, version, 0, auto_prune_ms).wait_with_output().unwrap();
    assert!(out.status.success(), "child failed: {out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "done");
}

/// The database the child's functions use: `$PERSISTDICT_DIR/<crate name>`.
fn db(root: &Path) -> PathBuf {
    root.join("persistdict-tests")
}

fn versions(root: &Path) -> Vec<FunctionVersion> {
    persistdict::functions(db(root)).expect("list the functions")
}

fn entries_of(vs: &[FunctionVersion], version_suffix: &str) -> Option<u64> {
    vs.iter().find(|v| v.version.ends_with(version_suffix)).map(|v| v.entries)
}

#[test]
fn every_namespace_is_recorded_with_its_entries() {
    let root = tempfile::tempdir().unwrap();
    run(root.path(), "1", None);
    let vs = versions(root.path());
    assert_eq!(vs.len(), 1, "{vs:?}");
    assert_eq!(vs[0].function, "pv");
    assert!(vs[0].version.ends_with("#v:1"), "{vs:?}");
    assert!(vs[0].namespace.starts_with("pv#"));
    assert_eq!(vs[0].entries, 5);
    assert!(vs[0].bytes > 5 * 32);
    assert!(!vs[0].superseded);
    assert!(vs[0].first_use <= vs[0].last_use);

    run(root.path(), "2", None);
    let vs = versions(root.path());
    assert_eq!(vs.len(), 2, "{vs:?}");
    assert!(vs[0].version.ends_with("#v:1") && vs[0].superseded, "the older version is superseded: {vs:?}");
    assert!(vs[1].version.ends_with("#v:2") && !vs[1].superseded);
    assert_eq!(vs[1].entries, 5);
}

#[test]
fn stale_versions_are_pruned_on_demand_and_never_while_in_use() {
    let root = tempfile::tempdir().unwrap();
    run(root.path(), "1", None);
    // A process keeps calling version 1 (an older build still deployed)...
    let mut user = child(root.path(), "1", 2_500, None);
    std::thread::sleep(Duration::from_millis(200));
    // ...while a new build brings version 2.
    run(root.path(), "2", None);
    let min_idle = Duration::from_millis(1_000);
    let until = Instant::now() + Duration::from_millis(1_500);
    let mut rounds = 0;
    while Instant::now() < until {
        let report = persistdict::prune_stale_versions(db(root.path()), min_idle).unwrap();
        assert!(report.versions.is_empty() && report.entries == 0, "pruned a version in use: {report:?}");
        assert_eq!(entries_of(&versions(root.path()), "#v:1"), Some(5));
        rounds += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(rounds >= 5);
    assert!(user.wait().unwrap().success());

    // Its last user stopped: once idle for min_idle, it goes on demand.
    std::thread::sleep(min_idle + Duration::from_millis(300));
    let report = persistdict::prune_stale_versions(db(root.path()), min_idle).unwrap();
    assert_eq!(report.entries, 5, "{report:?}");
    assert_eq!(report.versions.len(), 1);
    assert!(report.versions[0].ends_with("#v:1"));
    let vs = versions(root.path());
    assert_eq!(vs.len(), 1, "the record of the pruned version goes too: {vs:?}");
    assert_eq!(entries_of(&vs, "#v:2"), Some(5), "the current version keeps its entries");
    // Nothing else is stale now.
    assert_eq!(persistdict::prune_stale_versions(db(root.path()), Duration::ZERO).unwrap().entries, 0);
}

#[test]
fn the_current_version_is_never_pruned_even_when_idle() {
    let root = tempfile::tempdir().unwrap();
    run(root.path(), "1", None);
    run(root.path(), "2", None);
    std::thread::sleep(Duration::from_millis(100));
    let report = persistdict::prune_stale_versions(db(root.path()), Duration::ZERO).unwrap();
    assert_eq!(report.entries, 5, "only version 1 goes");
    assert_eq!(entries_of(&versions(root.path()), "#v:2"), Some(5));
}

#[test]
fn auto_prune_waits_for_the_new_version_to_settle_then_removes_the_old() {
    let root = tempfile::tempdir().unwrap();
    run(root.path(), "1", None);
    // Version 2 (prune = "auto") starts: too soon to prune anything.
    run(root.path(), "2", Some(400));
    assert_eq!(entries_of(&versions(root.path()), "#v:1"), Some(5), "pruned before the new version settled");
    std::thread::sleep(Duration::from_millis(600));
    // Version 2 in use for 400 ms, version 1 idle as long: its next run prunes.
    run(root.path(), "2", Some(400));
    let vs = versions(root.path());
    assert_eq!(entries_of(&vs, "#v:1"), None, "{vs:?}");
    assert_eq!(entries_of(&vs, "#v:2"), Some(5));
}

#[test]
fn auto_prune_spares_an_old_version_still_in_use() {
    let root = tempfile::tempdir().unwrap();
    run(root.path(), "1", None);
    run(root.path(), "2", Some(300));
    std::thread::sleep(Duration::from_millis(400));
    // Version 1 comes back into use before version 2 runs again.
    let mut user = child(root.path(), "1", 1_200, None);
    std::thread::sleep(Duration::from_millis(300));
    run(root.path(), "2", Some(300));
    assert_eq!(entries_of(&versions(root.path()), "#v:1"), Some(5), "pruned a version in use");
    assert!(user.wait().unwrap().success());
}

#[test]
fn listing_a_path_without_a_database_is_an_error_that_creates_nothing() {
    let root = tempfile::tempdir().unwrap();
    let missing = root.path().join("nothing-here");
    let e = persistdict::functions(&missing).unwrap_err();
    assert!(e.to_string().contains("nothing-here"), "{e}");
    assert!(!missing.exists());
    let e = persistdict::prune_stale_versions(root.path(), Duration::ZERO).unwrap_err();
    assert!(e.to_string().contains("no persistdict database"), "{e}");
    assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 0);
}
