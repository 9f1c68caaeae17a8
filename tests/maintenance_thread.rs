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
    let before = maintenance_threads();
    let d: PersistDict<u32, u32> = PersistDict::builder(dir.path().join("bg")).expire_days(1).open().unwrap();
    let d2 = d.clone();
    assert!(d.wait_for_maintenance(Duration::from_secs(10)));
    assert!(maintenance_threads() > before);
    drop(d);
    drop(d2);
    // The drop joined the thread: it is gone now, not eventually.
    assert!(maintenance_threads() <= before, "the maintenance thread outlived its last handle");
}
