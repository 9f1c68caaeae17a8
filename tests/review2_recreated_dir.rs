//! Review 2: a directory deleted and recreated while a handle on the old one
//! is open. LMDB allows one environment per path in a process, so the new
//! directory cannot be opened until the old handle goes: that is an
//! immediate, clear `Error::StillOpen` (it used to wait 30 s, then fail with
//! "still closing"), and nothing written is lost.

use persistdict::{Error, PersistDict};

#[test]
fn a_recreated_directory_is_a_clear_error_while_the_old_handle_lives() {
    let root = tempfile::tempdir().unwrap();
    let path = root.path().join("db");
    let old = PersistDict::<u32, u32>::open(&path).unwrap();
    old.insert(&1, &1).unwrap();
    std::fs::remove_dir_all(&path).unwrap();
    std::fs::create_dir(&path).unwrap();
    match PersistDict::<u32, u32>::open(&path) {
        Err(Error::StillOpen { .. }) => {}
        // A filesystem that reuses the inode number hands back the old
        // environment: then the open succeeds on it.
        Ok(_) => {}
        Err(e) => panic!("unexpected error: {e}"),
    }
    drop(old);
    let new = PersistDict::<u32, u32>::open(&path).unwrap();
    new.insert(&2, &2).unwrap();
    drop(new);
    let again = PersistDict::<u32, u32>::open(&path).unwrap();
    assert_eq!(again.get(&2).unwrap(), Some(2), "an entry written after the directory was recreated is kept");
    assert_eq!(again.get(&1).unwrap(), None, "the deleted directory's entry is gone with it");
}
