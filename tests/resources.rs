//! Opening and dropping handles in a loop leaks no file descriptors, threads
//! or reader slots; a reopen right after the last drop always works.

use std::time::Duration;

use persistdict::{Maintenance, PersistDict};

fn count(dir: &str) -> usize {
    std::fs::read_dir(dir).unwrap().count()
}

#[test]
fn open_and_drop_in_a_loop_leaks_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    // Warm up: one-time allocations (thread-locals, the registry) happen once.
    PersistDict::<u32, u32>::builder(&path).maintenance(Maintenance::Disabled).open().unwrap().insert(&0, &0).unwrap();
    let (fds, threads) = (count("/proc/self/fd"), count("/proc/self/task"));
    for i in 0..300u32 {
        let mode = [Maintenance::Background, Maintenance::Foreground, Maintenance::Disabled][i as usize % 3];
        let d: PersistDict<u32, u32> = PersistDict::builder(&path).expire_days(30).maintenance(mode).open().unwrap();
        d.insert(&i, &i).unwrap();
        let it = d.iter().unwrap();
        assert_eq!(d.get(&i).unwrap(), Some(i));
        drop(it);
        if i % 7 == 0 {
            assert!(d.wait_for_maintenance(Duration::from_secs(10)));
        }
    }
    // A last handle dropped while the maintenance thread held the store a
    // moment closes the environment from that thread: let it finish.
    let settled = (0..200).any(|_| {
        std::thread::sleep(Duration::from_millis(10));
        count("/proc/self/fd") == fds && count("/proc/self/task") == threads
    });
    assert!(
        settled,
        "leaked: fds {} -> {}, threads {} -> {}",
        fds,
        count("/proc/self/fd"),
        threads,
        count("/proc/self/task")
    );
    let d: PersistDict<u32, u32> = PersistDict::open(&path).unwrap();
    assert_eq!(d.len().unwrap(), 300);
    drop(d);
    reopening_while_another_thread_drops_the_last_handle_works();
}

/// Run from the test above: both count this process's descriptors and
/// threads, so they must not run in parallel.
fn reopening_while_another_thread_drops_the_last_handle_works() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    std::thread::scope(|s| {
        for t in 0..2 {
            let path = &path;
            s.spawn(move || {
                for i in 0..150u32 {
                    let d: PersistDict<u32, u32> = PersistDict::builder(path).expire_days(1).open().unwrap();
                    d.insert(&(t * 1000 + i), &i).unwrap();
                }
            });
        }
    });
    assert_eq!(PersistDict::<u32, u32>::open(&path).unwrap().len().unwrap(), 300);
}
