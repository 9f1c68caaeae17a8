//! Dropping the last handle joins the directory's maintenance thread. Alone
//! in its test binary: it counts this process's threads.

use std::time::Duration;

use persistdict::PersistDict;

#[test]
fn dropping_the_last_handle_stops_the_maintenance_thread() {
    fn maintenance_threads() -> usize {
        std::fs::read_dir("/proc/self/task")
            .unwrap()
            .filter(|t| {
                let comm = t.as_ref().unwrap().path().join("comm");
                std::fs::read_to_string(comm).is_ok_and(|c| c.starts_with("persistdict-mai"))
            })
            .count()
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bg");
    let before = maintenance_threads();
    // Nothing due at open: no thread at all.
    let quiet: PersistDict<u32, u32> =
        PersistDict::builder(&path).expire_after(Duration::from_millis(100)).open().unwrap();
    quiet.insert(&1, &1).unwrap();
    assert_eq!(maintenance_threads(), before, "a thread was started though nothing was due");
    drop(quiet);
    std::thread::sleep(Duration::from_millis(150));
    // Something due at open: a thread sweeps it.
    let d: PersistDict<u32, u32> = PersistDict::builder(&path).expire_after(Duration::from_millis(100)).open().unwrap();
    let d2 = d.clone();
    assert!(d.wait_for_maintenance(Duration::from_secs(10)));
    // The thread names itself when it starts: it has by the end of its first run.
    assert!(maintenance_threads() > before);
    assert_eq!(d.len().unwrap(), 0);
    drop(d);
    drop(d2);
    // The drop joined the thread: it is gone now, not eventually.
    assert!(maintenance_threads() <= before, "the maintenance thread outlived its last handle");
}
