//! Compaction (issue 12, part): a compacted copy holds every entry, is
//! smaller than a file full of free pages, verifies clean, and a
//! destination that already holds a database is refused.

use persistdict::{Error, PersistDict};

#[test]
fn a_compacted_copy_is_smaller_and_holds_everything() {
    let dir = tempfile::tempdir().unwrap();
    let d: PersistDict<u32, Vec<u8>> = PersistDict::open(dir.path().join("db")).unwrap();
    d.extend((0..5000u32).map(|i| (i, vec![i as u8; 2000]))).unwrap();
    for i in 0..4500u32 {
        d.remove(&i).unwrap();
    }
    let before = d.stats().unwrap();
    let size = d.compact_to(dir.path().join("copy")).unwrap();
    assert!(size < before.disk_bytes / 4, "copy {size} bytes, original {} bytes", before.disk_bytes);
    let copy: PersistDict<u32, Vec<u8>> = PersistDict::open(dir.path().join("copy")).unwrap();
    assert_eq!(copy.len().unwrap(), 500);
    assert_eq!(copy.get(&4999).unwrap(), Some(vec![4999u32 as u8; 2000]));
    assert!(copy.check_integrity().unwrap().is_clean());
    // Insertion order and metadata come along.
    let keys: Vec<u32> = copy.keys().unwrap().collect::<Result<_, _>>().unwrap();
    assert_eq!(keys, (4500..5000).collect::<Vec<_>>());
    assert_eq!(copy.metadata(&4600).unwrap(), d.metadata(&4600).unwrap());
}

#[test]
fn a_destination_holding_a_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d: PersistDict<u32, u32> = PersistDict::open(dir.path().join("db")).unwrap();
    d.insert(&1, &1).unwrap();
    let other: PersistDict<u32, u32> = PersistDict::open(dir.path().join("other")).unwrap();
    other.insert(&2, &2).unwrap();
    let err = d.compact_to(dir.path().join("other")).unwrap_err();
    assert!(matches!(err, Error::InvalidOption { .. }), "{err}");
    assert_eq!(other.get(&2).unwrap(), Some(2), "the destination's database is untouched");
    std::fs::write(dir.path().join("file"), b"x").unwrap();
    assert!(matches!(d.compact_to(dir.path().join("file")), Err(Error::NotADirectory { .. })));
}
