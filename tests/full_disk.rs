//! Issue 10, item 16: opening a new database on a full filesystem was a
//! SIGBUS (LMDB writes its sparse lock file through a memory map), also
//! under `#[persist_cache]`. Now it is `Error::DiskFull`, and the memoized
//! function still returns its result. Needs root to mount a small tmpfs;
//! without it the test says so and checks nothing else.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// An 8 MiB tmpfs, unmounted on drop (the temporary directory holding the
/// mount point goes after it).
struct Tmpfs(PathBuf, #[allow(dead_code)] tempfile::TempDir);

impl Tmpfs {
    fn mount() -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let mnt = dir.path().join("mnt");
        std::fs::create_dir(&mnt).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=8m", "tmpfs"])
            .arg(&mnt)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmpfs(mnt, dir))
    }

    /// Fills the filesystem to the last byte.
    fn fill(&self) {
        let mut f = std::fs::File::create(self.0.join("filler")).unwrap();
        let chunk = vec![7u8; 64 << 10];
        while f.write_all(&chunk).is_ok() {}
        let mut byte = [7u8];
        while f.write_all(&byte).is_ok() {
            byte[0] = 7;
        }
        let _ = f.sync_all();
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

fn child(args: &[&str], path: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_persistdict-child")).arg(args[0]).arg(path).args(&args[1..]).output().unwrap()
}

#[test]
fn item16_a_full_filesystem_is_an_error_at_open_never_a_signal() {
    let Some(fs) = Tmpfs::mount() else {
        eprintln!("skipped: cannot mount a tmpfs here (needs root)");
        return;
    };
    fs.fill();
    let out = child(&["insert", "1", "2"], &fs.0.join("db"));
    assert!(out.status.code().is_some(), "killed by a signal: {:?}", out.status);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("DiskFull"), "{err}");
    // Under the macro the function still runs and returns.
    let out = child(&["memo-once", "3"], &fs.0.join("memo"));
    assert!(out.status.success(), "{:?}: {}", out.status, String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), (256 << 10).to_string());
}

#[test]
fn item16_a_commit_on_a_full_filesystem_says_so() {
    let Some(fs) = Tmpfs::mount() else {
        eprintln!("skipped: cannot mount a tmpfs here (needs root)");
        return;
    };
    let path = fs.0.join("db");
    let out = child(&["insert", "1", "2"], &path);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    fs.fill();
    let out = child(&["fill-values", "0"], &path);
    assert!(out.status.code().is_some(), "killed by a signal: {:?}", out.status);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("DiskFull"), "{err}");
    let out = child(&["get", "1"], &path);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "2", "what was stored stays");
}
