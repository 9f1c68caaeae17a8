//! Hostile environments: a full disk, a read-only directory, hostile value
//! bytes, a stale lock file.

use std::process::Command;

use persistdict::{Error, PersistDict};

const CHILD: &str = env!("CARGO_BIN_EXE_persistdict-child");

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

#[test]
fn a_full_disk_is_an_error_and_what_was_stored_stays() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let out = Command::new(CHILD).args(["fsize", path.to_str().unwrap(), &(4 << 20).to_string()]).output().unwrap();
    assert!(out.status.success(), "the child crashed: {out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let acked: Vec<u64> = stdout.lines().filter_map(|l| l.strip_prefix("ack ")).map(|n| n.parse().unwrap()).collect();
    let err = stdout.lines().find_map(|l| l.strip_prefix("err ")).expect("an insert failed");
    assert!(err.contains(path.to_str().unwrap()), "{err}");
    assert!(!acked.is_empty());
    let d: PersistDict<u64, Vec<u8>> = PersistDict::open(&path).unwrap();
    for k in &acked {
        assert_eq!(d.get(k).unwrap().map(|v| v.len()), Some(64 << 10));
    }
    assert!(d.check_integrity().unwrap().is_clean());
}

#[test]
fn a_full_disk_under_the_macro_still_returns_results() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(CHILD)
        .args(["fsize-macro", dir.path().to_str().unwrap(), &(2 << 20).to_string()])
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(out.status.success(), "the child crashed: {out:?}");
    let lens: Vec<usize> = String::from_utf8(out.stdout).unwrap().lines().map(|l| l.parse().unwrap()).collect();
    assert_eq!(lens, vec![256 << 10; 40]);
    let warnings = String::from_utf8(out.stderr).unwrap();
    assert!(warnings.contains("persist_cache: cannot store the result"), "no warning: {warnings}");
}

#[test]
fn a_read_only_directory_is_an_error() {
    if is_root() {
        eprintln!("skipped: root ignores directory permissions");
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let ro = dir.path().join("ro");
    std::fs::create_dir(&ro).unwrap();
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o500)).unwrap();
    let err = PersistDict::<u32, u32>::open(&ro).unwrap_err();
    assert!(err.to_string().contains(ro.to_str().unwrap()), "{err}");
}

#[test]
fn a_hostile_length_prefix_fails_fast_without_allocating() {
    use persistdict::codec::{Bincode, Codec};
    // bincode of 2^40 as a u64 is also a Vec length prefix claiming 2^40 items.
    let bytes = Bincode.encode(&(1u64 << 40)).unwrap();
    assert!(Bincode.decode::<Vec<u64>>(&bytes).is_err());
    assert!(Bincode.decode::<String>(&bytes).is_err());
    // Through a dictionary, the type fingerprint stops the read before any decode.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    PersistDict::<String, u64>::open(&path).unwrap().insert("k", &(1u64 << 40)).unwrap();
    let as_string: PersistDict<String, String> = PersistDict::open(&path).unwrap();
    assert!(matches!(as_string.get("k"), Err(Error::TypeMismatch { .. })));
}

#[test]
fn a_lock_file_left_by_a_killed_process_is_harmless() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let p = path.to_str().unwrap();
    // The child is killed in the middle of its write loop.
    let mut child = Command::new(CHILD)
        .args(["ackloop", p, "0", "1048576", "10"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(path.join("lock.mdb").exists());
    let d: PersistDict<u64, Vec<u8>> = PersistDict::open(&path).unwrap();
    d.insert(&u64::MAX, &vec![1]).unwrap();
    assert!(d.check_integrity().unwrap().is_clean());
}

/// Issue 10, item 10: bincode allocates the length a string claims before
/// it reads the bytes, so 2,000,000,000 stored as a `u64` and read back as a
/// `String` allocated 2 GB; under `ulimit -v` that aborts the process. The
/// claim is now bounded by the bytes given. Runs in a child process under a
/// 1 GiB address-space limit.
#[test]
fn item10_a_claimed_length_cannot_make_decoding_abort_the_process() {
    use persistdict::codec::{Bincode, Codec};
    const CHILD: &str = "PERSISTDICT_ITEM10_CHILD";
    if std::env::var_os(CHILD).is_some() {
        let limit = libc::rlimit { rlim_cur: 1 << 30, rlim_max: 1 << 30 };
        // SAFETY: setrlimit with a valid struct.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_AS, &limit) }, 0);
        let bytes = Bincode.encode(&2_000_000_000u64).unwrap();
        assert!(Bincode.decode::<String>(&bytes).is_err());
        assert!(Bincode.decode::<Vec<u8>>(&bytes).is_err());
        let bytes = Bincode.encode(&(u64::MAX / 2)).unwrap();
        assert!(Bincode.decode::<String>(&bytes).is_err());
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "item10_a_claimed_length_cannot_make_decoding_abort_the_process", "--test-threads=1"])
        .env(CHILD, "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "child: {:?}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
