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

const CHILD: &str = env!("CARGO_BIN_EXE_persistdict-child");

fn fill_and_thin(path: &std::path::Path) {
    let d: PersistDict<u64, u64> =
        PersistDict::builder(path).durability(persistdict::Durability::NoSync).open().unwrap();
    d.extend((0..20_000u64).map(|i| (i, i * 2))).unwrap();
    for i in 0..19_000u64 {
        d.remove(&i).unwrap();
    }
}

#[test]
fn compacting_in_place_shrinks_the_file_and_keeps_every_entry() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    fill_and_thin(&path);
    let before = std::fs::metadata(path.join("data.mdb")).unwrap().len();
    let sizes = persistdict::compact_in_place(&path).unwrap();
    assert_eq!(sizes.before, before);
    assert!(sizes.after < before / 4, "{sizes:?}");
    assert_eq!(std::fs::metadata(path.join("data.mdb")).unwrap().len(), sizes.after);
    assert!(
        std::fs::read_dir(&path).unwrap().all(|e| !e.unwrap().file_name().to_string_lossy().starts_with('.')),
        "the temporary copy is gone"
    );

    // Another process reads and writes the swapped-in file (LMDB's lock file
    // is set up afresh for it).
    let out = std::process::Command::new(CHILD).args(["get", path.to_str().unwrap(), "19500"]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "39000", "{out:?}");
    let out = std::process::Command::new(CHILD).args(["insert", path.to_str().unwrap(), "7", "70"]).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    // And this process, opening afresh.
    let d: PersistDict<u64, u64> = PersistDict::open(&path).unwrap();
    assert_eq!(d.len().unwrap(), 1001);
    assert_eq!(d.get(&7).unwrap(), Some(70));
    let keys: Vec<u64> = d.keys().unwrap().collect::<Result<_, _>>().unwrap();
    assert_eq!(&keys[..3], &[19_000, 19_001, 19_002], "insertion order survives");
    assert!(d.check_integrity().unwrap().is_clean());
    d.insert(&8, &80).unwrap();
    assert_eq!(d.get(&8).unwrap(), Some(80));
}

#[test]
fn compacting_in_place_refuses_while_another_process_has_it_open() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    fill_and_thin(&path);
    let bytes_before = std::fs::read(path.join("data.mdb")).unwrap();
    let mut holder = std::process::Command::new(CHILD)
        .args(["hold", path.to_str().unwrap(), "1500"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(holder.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "opened");
    let err = persistdict::compact_in_place(&path).unwrap_err();
    assert!(matches!(err, Error::InUse { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains(&format!("process {}", holder.id())) && msg.contains("db"), "{msg}");
    assert_eq!(std::fs::read(path.join("data.mdb")).unwrap(), bytes_before, "nothing changed");
    assert!(holder.wait().unwrap().success());
    // Once it is gone, compaction goes through.
    assert!(persistdict::compact_in_place(&path).unwrap().after < bytes_before.len() as u64);
}

#[test]
fn compacting_in_place_refuses_while_this_process_has_it_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    fill_and_thin(&path);
    let d: PersistDict<u64, u64> = PersistDict::open(&path).unwrap();
    let err = persistdict::compact_in_place(&path).unwrap_err();
    assert!(err.to_string().contains("this process has it open"), "{err}");
    assert_eq!(d.get(&19_999).unwrap(), Some(39_998), "the open handle still works");
    drop(d);
    persistdict::compact_in_place(&path).unwrap();
}

#[test]
fn compacting_in_place_a_path_without_a_database_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let err = persistdict::compact_in_place(dir.path().join("none")).unwrap_err();
    assert!(err.to_string().contains("no persistdict database"), "{err}");
    assert!(!dir.path().join("none").exists());
}
