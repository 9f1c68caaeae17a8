//! Entry lifecycle: atime, expiry, maintenance modes, integrity, initialize-once.

use std::time::Duration;

use persistdict::{Error, Maintenance, PersistDict};

const WINDOW: Duration = Duration::from_millis(200);

/// A dictionary with expiry `window` and no automatic maintenance: the
/// tests call `expire()` themselves.
fn manual(dir: &std::path::Path, window: Duration) -> persistdict::Builder<u32, u32> {
    PersistDict::builder(dir).expire_after(window).maintenance(Maintenance::Disabled)
}

/// A dictionary holding `keys` (each its own value), written fast, with
/// expiry `WINDOW` stamped on each entry and no maintenance of its own.
fn filled(dir: &std::path::Path, keys: std::ops::Range<u32>) -> PersistDict<u32, u32> {
    let d: PersistDict<u32, u32> = PersistDict::builder(dir)
        .expire_after(WINDOW)
        .maintenance(Maintenance::Disabled)
        .durability(persistdict::Durability::NoSync)
        .open()
        .unwrap();
    d.extend(keys.map(|i| (i, i))).unwrap();
    d
}

fn sleep(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

#[test]
fn entries_expire_after_the_window_and_not_before() {
    let dir = tempfile::tempdir().unwrap();
    let d: PersistDict<u32, u32> = manual(dir.path(), WINDOW).open().unwrap();
    d.insert(&1, &1).unwrap();
    assert_eq!(d.expire().unwrap(), 0);
    assert!(d.contains_key(&1).unwrap());
    sleep(250);
    d.insert(&2, &2).unwrap();
    assert_eq!(d.expire().unwrap(), 1);
    assert!(!d.contains_key(&1).unwrap());
    assert!(d.contains_key(&2).unwrap());
}

#[test]
fn get_refreshes_atime_beyond_the_granularity_and_contains_key_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let d: PersistDict<u32, u32> =
        manual(dir.path(), Duration::from_secs(3600)).atime_granularity(Duration::from_millis(50)).open().unwrap();
    d.insert(&1, &1).unwrap();
    let first = d.metadata(&1).unwrap().unwrap();
    sleep(80);
    d.contains_key(&1).unwrap();
    assert_eq!(d.metadata(&1).unwrap().unwrap().atime, first.atime);
    d.get(&1).unwrap();
    let refreshed = d.metadata(&1).unwrap().unwrap();
    assert!(refreshed.atime > first.atime);
    assert_eq!(refreshed.ctime, first.ctime);
    // Within the granularity a read does not write.
    d.get(&1).unwrap();
    assert_eq!(d.metadata(&1).unwrap().unwrap().atime, refreshed.atime);
}

#[test]
fn a_read_keeps_an_entry_alive() {
    let dir = tempfile::tempdir().unwrap();
    let d: PersistDict<u32, u32> = manual(dir.path(), WINDOW).lru_capacity(0).open().unwrap();
    d.insert(&1, &1).unwrap();
    d.insert(&2, &2).unwrap();
    for _ in 0..5 {
        sleep(60);
        d.get(&1).unwrap();
    }
    assert_eq!(d.expire().unwrap(), 1);
    assert!(d.contains_key(&1).unwrap());
}

#[test]
fn a_sweep_touches_only_what_is_due() {
    let dir = tempfile::tempdir().unwrap();
    let d = filled(dir.path(), 0..100);
    sleep(300);
    // 99,900 fresh entries with a one-hour window of their own.
    let fresh: PersistDict<u32, u32> =
        manual(dir.path(), Duration::from_secs(3600)).durability(persistdict::Durability::NoSync).open().unwrap();
    fresh.extend((100..100_000).map(|i| (i, i))).unwrap();
    let before = d.stats().unwrap().expire_examined;
    assert_eq!(fresh.expire().unwrap(), 100);
    let examined = d.stats().unwrap().expire_examined - before;
    assert_eq!(examined, 100, "a sweep must examine only the due entries");
    assert_eq!(d.len().unwrap(), 99_900);
}

/// A directory holding 10 entries older than their `WINDOW`, reopened with
/// `mode` (and no window of its own: entries expire by their writer's
/// window): what its maintenance does with them is the test.
fn reopen_with_old_entries(dir: &std::path::Path, mode: Maintenance) -> PersistDict<u32, u32> {
    drop(filled(dir, 0..10));
    sleep(250);
    PersistDict::builder(dir).maintenance(mode).open().unwrap()
}

#[test]
fn foreground_maintenance_expires_inside_open() {
    let dir = tempfile::tempdir().unwrap();
    let d = reopen_with_old_entries(dir.path(), Maintenance::Foreground);
    assert_eq!(d.len().unwrap(), 0);
    assert!(d.wait_for_maintenance(Duration::ZERO));
}

#[test]
fn background_maintenance_expires_off_the_callers_thread() {
    let dir = tempfile::tempdir().unwrap();
    let d = reopen_with_old_entries(dir.path(), Maintenance::Background);
    assert!(d.wait_for_maintenance(Duration::from_secs(10)));
    assert_eq!(d.len().unwrap(), 0);
}

#[test]
fn disabled_maintenance_never_expires_on_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let d = reopen_with_old_entries(dir.path(), Maintenance::Disabled);
    assert!(d.wait_for_maintenance(Duration::ZERO));
    assert_eq!(d.len().unwrap(), 10);
}

#[test]
fn background_maintenance_runs_periodically() {
    let dir = tempfile::tempdir().unwrap();
    let d: PersistDict<u32, u32> = PersistDict::builder(dir.path())
        .expire_after(Duration::from_millis(100))
        .maintenance_interval(Duration::from_millis(50))
        .open()
        .unwrap();
    d.insert(&1, &1).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while d.len().unwrap() > 0 {
        assert!(std::time::Instant::now() < deadline, "periodic maintenance never expired the entry");
        sleep(20);
    }
}

#[test]
fn an_interrupted_run_leaves_a_consistent_db_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    drop(filled(dir.path(), 0..5000));
    sleep(250);
    let d: PersistDict<u32, u32> = PersistDict::builder(dir.path())
        .expire_after(WINDOW)
        .maintenance(Maintenance::Foreground)
        .maintenance_timeout(Duration::ZERO)
        .open()
        .unwrap();
    // One batch of 1,000 ran, then the timeout stopped the run.
    assert_eq!(d.len().unwrap(), 4000);
    assert!(d.check_integrity().unwrap().is_clean());
    assert_eq!(d.expire().unwrap(), 4000);
}

#[test]
fn initialize_once_across_handles_until_clear() {
    let dir = tempfile::tempdir().unwrap();
    let a: PersistDict<String, u32> = PersistDict::open(dir.path()).unwrap();
    let b: PersistDict<String, u32> = PersistDict::open(dir.path()).unwrap();
    a.initialize([("x".to_string(), 1)]).unwrap();
    let err = b.initialize([("y".to_string(), 2)]).unwrap_err();
    assert!(matches!(err, Error::AlreadyInitialized { .. }), "{err}");
    assert!(!b.contains_key("y").unwrap());
    b.clear().unwrap();
    a.initialize([("z".to_string(), 3)]).unwrap();
    assert_eq!(b.get("z").unwrap(), Some(3));
}

#[test]
fn initialize_holds_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    drop(PersistDict::<u32, u32>::open(dir.path()).unwrap().initialize([(1, 1)]));
    let d: PersistDict<u32, u32> = PersistDict::open(dir.path()).unwrap();
    assert!(matches!(d.initialize([]), Err(Error::AlreadyInitialized { .. })));
}

#[test]
fn integrity_repairs_broken_indexes_and_reports_bad_records() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    {
        let d: PersistDict<u32, String> = PersistDict::open(&path).unwrap();
        d.extend((0..10).map(|i| (i, format!("v{i}")))).unwrap();
        assert!(d.check_integrity().unwrap().is_clean());
    }
    {
        // Break the database behind persistdict's back.
        // SAFETY: not open elsewhere in this process.
        let env = unsafe { heed::EnvOpenOptions::new().max_dbs(8).open(&path).unwrap() };
        let w = env.write_txn().unwrap();
        let (order, atime, entries) = env
            .create_databases_and_commit(w, |o, w| -> heed::Result<_> {
                type B = heed::types::Bytes;
                Ok(heed::CommitOrAbort::<_, ()>::Commit((
                    o.create_database::<B, B>(w, Some("persistdict.order"))?,
                    o.create_database::<B, B>(w, Some("persistdict.atime"))?,
                    o.create_database::<B, B>(w, None)?,
                )))
            })
            .unwrap()
            .unwrap_commit();
        let mut w = env.write_txn().unwrap();
        // Order keys are ordered integers (format 3): seq 3 is [3], seq 999 is [0x23, 0xE7].
        order.delete(&mut w, &[3]).unwrap(); // entry without order row
        order.put(&mut w, &[0x23, 0xE7], b"nowhere").unwrap(); // order row (seq 999) pointing nowhere
        let first_atime: Vec<u8> = atime.first(&w).unwrap().unwrap().0.to_vec();
        atime.delete(&mut w, &first_atime).unwrap(); // entry without atime row
        // An atime row (window 1 ms, atime 0, seq 7) that is not entry 7's.
        atime.put(&mut w, &[1, 0, 7], b"").unwrap();
        // A value of another type under key 5 (bincode of 5u32 is [5]).
        // Stored keys are 0xFF then the encoded key.
        let rec = entries.get(&w, &[0xFF, 5]).unwrap().unwrap().to_vec();
        let mut bad = rec.clone();
        let last = bad.len() - 5;
        bad[last] ^= 0xFF; // flip the last byte of the value (before the 4-byte checksum): the checksum fails
        entries.put(&mut w, &[0xFF, 5], &bad).unwrap();
        w.commit().unwrap();
        env.prepare_for_closing().wait();
    }
    let d: PersistDict<u32, String> = PersistDict::open(&path).unwrap();
    let r = d.check_integrity().unwrap();
    assert_eq!(r.missing_order_rows, 1, "{r:?}");
    assert_eq!(r.orphan_order_rows, 1, "{r:?}");
    assert_eq!(r.missing_atime_rows, 1, "{r:?}");
    assert_eq!(r.orphan_atime_rows, 1, "{r:?}");
    assert_eq!(r.corrupt_records, 1, "{r:?}");
    assert_eq!(r.entries_checked, 10);
    let again = d.check_integrity().unwrap();
    assert_eq!(again.repaired(), 0, "{again:?}");
    assert_eq!(again.corrupt_records, 1, "corrupt records are kept for the user to look at");
    let keys: Vec<u32> = d.keys().unwrap().filter_map(Result::ok).collect();
    // The repaired order row puts key 3 back in its place; key 5 is unreadable.
    assert_eq!(keys, [0, 1, 2, 3, 4, 6, 7, 8, 9]);
}

#[test]
fn entries_of_other_types_are_reported_not_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    PersistDict::<u32, String>::open(&path).unwrap().insert(&1, &"text".to_string()).unwrap();
    let as_u8: PersistDict<u32, u8> = PersistDict::open(&path).unwrap();
    let r = as_u8.check_integrity().unwrap();
    assert_eq!((r.type_mismatches, r.undecodable_values), (1, 0), "{r:?}");
    assert!(!r.is_clean());
    assert_eq!(as_u8.len().unwrap(), 1);
}

#[test]
fn expiry_follows_the_exact_atime_even_when_the_index_lags() {
    let dir = tempfile::tempdir().unwrap();
    // A granularity longer than the window: overwrites never move the index row.
    let d: PersistDict<u32, u32> =
        manual(dir.path(), Duration::from_millis(300)).atime_granularity(Duration::from_secs(60)).open().unwrap();
    d.insert(&1, &1).unwrap();
    sleep(200);
    d.insert(&1, &2).unwrap(); // atime moves, the index row stays at the first insert
    sleep(150);
    // The row is past the window, the entry is not: it stays, its row moves.
    assert_eq!(d.expire().unwrap(), 0);
    assert_eq!(d.get(&1).unwrap(), Some(2));
    assert!(d.check_integrity().unwrap().is_clean());
    sleep(350);
    assert_eq!(d.expire().unwrap(), 1);
    assert!(d.is_empty().unwrap());
}

/// Issue 10, item 8: expiry is per entry. An entry expires by the window of
/// whoever last wrote it; one written without a window never expires, even
/// when a handle with a tiny window opens the directory and sweeps.
#[test]
fn item08_another_handles_expiry_never_deletes_entries() {
    let dir = tempfile::tempdir().unwrap();
    let never: PersistDict<u32, u32> =
        PersistDict::builder(dir.path()).maintenance(Maintenance::Disabled).open().unwrap();
    never.extend((0..10).map(|i| (i, i))).unwrap();
    let long: PersistDict<u32, u32> = manual(dir.path(), Duration::from_secs(3600)).open().unwrap();
    long.extend((10..20).map(|i| (i, i))).unwrap();
    let short: PersistDict<u32, u32> = manual(dir.path(), WINDOW).open().unwrap();
    short.extend((20..30).map(|i| (i, i))).unwrap();
    sleep(250);
    // A background open with a tiny window sweeps what is due: only the
    // entries the short handle wrote.
    let sweeper: PersistDict<u32, u32> = PersistDict::builder(dir.path())
        .expire_after(Duration::from_millis(1))
        .maintenance(Maintenance::Background)
        .open()
        .unwrap();
    assert!(sweeper.wait_for_maintenance(Duration::from_secs(10)));
    assert_eq!(sweeper.len().unwrap(), 20);
    assert_eq!(never.expire().unwrap(), 0);
    let keys: Vec<u32> = never.keys().unwrap().collect::<Result<_, _>>().unwrap();
    assert_eq!(keys, (0..20).collect::<Vec<_>>());
    // Reading through the short handle does not give an entry its window.
    sleep(50);
    assert_eq!(short.get(&3).unwrap(), Some(3));
    sleep(250);
    assert_eq!(short.expire().unwrap(), 0);
    // Overwriting does: the last writer's window wins.
    short.insert(&4, &40).unwrap();
    sleep(250);
    assert_eq!(never.expire().unwrap(), 1);
    assert!(!never.contains_key(&4).unwrap());
    assert!(sweeper.check_integrity().unwrap().is_clean());
}
