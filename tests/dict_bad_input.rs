//! Bad input gets a clear error, and nothing stored is lost.

use std::io::{Seek, SeekFrom, Write};

use persistdict::{Error, PersistDict};

#[test]
fn a_path_that_is_a_file_is_an_error_and_the_file_is_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("f");
    std::fs::write(&file, b"keep me").unwrap();
    let err = PersistDict::<u32, u32>::open(&file).unwrap_err();
    assert!(matches!(err, Error::NotADirectory { .. }), "{err}");
    assert!(err.to_string().contains(file.to_str().unwrap()));
    assert_eq!(std::fs::read(&file).unwrap(), b"keep me");
}

#[test]
fn a_directory_that_cannot_be_created_is_an_error() {
    let err = PersistDict::<u32, u32>::open("/proc/persistdict/nope").unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err}");
    assert!(err.to_string().contains("/proc/persistdict/nope"));
}

#[test]
fn new_directories_are_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("private");
    drop(PersistDict::<u32, u32>::open(&path).unwrap());
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o700);
}

#[test]
fn a_garbage_header_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("data.mdb"), vec![0x5Au8; 16384]).unwrap();
    let err = PersistDict::<u32, u32>::open(dir.path()).unwrap_err();
    assert!(matches!(err, Error::BadFile { .. }), "{err}");
}

#[test]
fn a_truncated_file_is_an_error_not_a_sigbus() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    {
        let d: PersistDict<u32, Vec<u8>> = PersistDict::open(&path).unwrap();
        d.extend((0..200).map(|i| (i, vec![1u8; 4000]))).unwrap();
    }
    let f = std::fs::OpenOptions::new().write(true).open(path.join("data.mdb")).unwrap();
    let len = f.metadata().unwrap().len();
    f.set_len(len / 2).unwrap();
    let err = PersistDict::<u32, Vec<u8>>::open(&path).unwrap_err();
    assert!(matches!(err, Error::BadFile { .. }), "{err}");
    assert!(err.to_string().contains("truncated"), "{err}");
}

#[test]
fn flipped_value_bytes_are_detected() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let marker = b"MARKER-VALUE-0123456789";
    {
        let d: PersistDict<String, Vec<u8>> = PersistDict::open(&path).unwrap();
        d.insert("k", &marker.to_vec()).unwrap();
        d.insert("other", &vec![1, 2, 3]).unwrap();
    }
    // LMDB copies pages on write, so the file may hold stale copies of the
    // record too: flip one bit in every copy.
    let bytes = std::fs::read(path.join("data.mdb")).unwrap();
    let copies: Vec<usize> =
        (0..bytes.len() - marker.len()).filter(|&i| &bytes[i..i + marker.len()] == marker).collect();
    assert!(!copies.is_empty(), "value bytes on disk");
    let mut f = std::fs::OpenOptions::new().write(true).open(path.join("data.mdb")).unwrap();
    for at in copies {
        f.seek(SeekFrom::Start(at as u64 + 3)).unwrap();
        f.write_all(&[bytes[at + 3] ^ 0x01]).unwrap();
    }
    drop(f);
    let d: PersistDict<String, Vec<u8>> = PersistDict::open(&path).unwrap();
    let err = d.get("k").unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "{err}");
    assert_eq!(d.get("other").unwrap(), Some(vec![1, 2, 3]));
    let report = d.check_integrity().unwrap();
    assert_eq!(report.corrupt_records, 1);
    // The damaged entry can be removed (or overwritten) like any other.
    assert!(d.remove("k").unwrap());
    assert!(d.check_integrity().unwrap().is_clean());
    assert_eq!(d.get("other").unwrap(), Some(vec![1, 2, 3]));
}

#[test]
fn another_format_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    drop(PersistDict::<u32, u32>::open(&path).unwrap());
    {
        // SAFETY: the directory is not open elsewhere in this process.
        let env = unsafe { heed::EnvOpenOptions::new().max_dbs(8).open(&path).unwrap() };
        let w = env.write_txn().unwrap();
        let meta = env
            .create_databases_and_commit(w, |o, w| -> heed::Result<_> {
                Ok(heed::CommitOrAbort::<_, ()>::Commit(
                    o.create_database::<heed::types::Bytes, heed::types::Bytes>(w, Some("persistdict.meta"))?,
                ))
            })
            .unwrap()
            .unwrap_commit();
        let mut w = env.write_txn().unwrap();
        meta.put(&mut w, b"format_version", &99u32.to_le_bytes()).unwrap();
        w.commit().unwrap();
        env.prepare_for_closing().wait();
    }
    let err = PersistDict::<u32, u32>::open(&path).unwrap_err();
    assert!(matches!(err, Error::FormatVersion { found: 99, .. }), "{err}");
}
