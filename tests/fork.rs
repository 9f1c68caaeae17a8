//! A process that forks after opening: the child cannot reuse the parent's
//! environment (LMDB forbids it) and gets a clear error instead of undefined
//! behaviour. Alone in its test binary: fork and threads do not mix.

use persistdict::{Error, PersistDict};

#[test]
fn a_forked_child_gets_an_error_for_inherited_databases() {
    let dir = tempfile::tempdir().unwrap();
    let d: PersistDict<u32, u32> = PersistDict::open(dir.path()).unwrap();
    d.insert(&1, &1).unwrap();
    // SAFETY: the child only opens (registry lookup, no LMDB call) and exits.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        let code = match PersistDict::<u32, u32>::open(dir.path()) {
            Err(Error::OpenedBeforeFork { .. }) => 0,
            _ => 1,
        };
        // SAFETY: leave without running the parent's destructors in the child.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: waiting for our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "child status {status}");
    assert_eq!(d.get(&1).unwrap(), Some(1));
}
