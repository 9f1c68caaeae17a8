//! Issue 10, item 9: a handle inherited through `fork()` returns
//! `Error::OpenedBeforeFork` on every operation, and dropping it in the
//! child (where the parent had started the maintenance thread) neither
//! panics nor touches the parent's environment. Alone in its test binary:
//! fork and threads do not mix.

use std::time::Duration;

use persistdict::{Error, Maintenance, PersistDict};

#[test]
fn item09_an_inherited_handle_errs_on_every_operation_and_drops_quietly() {
    let dir = tempfile::tempdir().unwrap();
    {
        let old: PersistDict<u32, u32> = PersistDict::builder(dir.path())
            .expire_after(Duration::from_millis(1))
            .maintenance(Maintenance::Disabled)
            .open()
            .unwrap();
        old.insert(&100, &100).unwrap();
    }
    std::thread::sleep(Duration::from_millis(5));
    // Something is due: this open starts the maintenance thread.
    let d: PersistDict<u32, u32> =
        PersistDict::builder(dir.path()).maintenance(Maintenance::Background).open().unwrap();
    assert!(d.wait_for_maintenance(Duration::from_secs(10)));
    d.insert(&1, &1).unwrap();
    // SAFETY: the child calls only persistdict (which must refuse to touch
    // LMDB) and leaves with _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        let forked = |r: Result<(), Error>| matches!(r, Err(Error::OpenedBeforeFork { .. }));
        let checks = [
            forked(d.get(&1).map(drop)),
            forked(d.insert(&2, &2)),
            forked(d.remove(&1).map(drop)),
            forked(d.len().map(drop)),
            forked(d.iter().map(drop)),
            forked(d.expire().map(drop)),
            forked(d.clear()),
            forked(PersistDict::<u32, u32>::open(dir.path()).map(drop)),
        ];
        let code = if checks.iter().all(|ok| *ok) { 0 } else { 1 };
        drop(d); // must not panic (no thread to join) nor close the parent's environment
        // SAFETY: leave without running the parent's destructors in the child.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: waiting for our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    assert!(libc::WIFEXITED(status), "the child died by a signal: status {status}");
    assert_eq!(libc::WEXITSTATUS(status), 0, "an inherited handle did not return OpenedBeforeFork");
    // The parent's handle and environment are untouched.
    assert_eq!(d.get(&1).unwrap(), Some(1));
    d.insert(&3, &3).unwrap();
    assert_eq!(d.len().unwrap(), 2);
    assert!(d.check_integrity().unwrap().is_clean());
}
