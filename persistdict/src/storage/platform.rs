//! What differs between operating systems, in one place, one `cfg` per
//! platform: directory identity, directory permissions, the page size,
//! preallocating a file and asking how much space is free. (Fork detection
//! is Unix-only, in `fork.rs`; the B-tree walk reads with `pread`, Unix-only
//! too, and is skipped elsewhere.) Only Linux is built and tested here; the
//! other branches are kept small enough to check by reading.

use std::fs::File;
use std::io;
use std::path::Path;

/// The identity of a directory, the same for every spelling of its path
/// (symlinks, `..`): device and inode on Unix, elsewhere a digest of the
/// canonical path.
#[cfg(unix)]
pub(crate) fn dir_id(_path: &Path, meta: &std::fs::Metadata) -> crate::error::Result<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    Ok((meta.dev(), meta.ino()))
}

/// See the Unix version.
#[cfg(not(unix))]
pub(crate) fn dir_id(path: &Path, _meta: &std::fs::Metadata) -> crate::error::Result<(u64, u64)> {
    use sha2::{Digest, Sha256};
    let canonical = std::fs::canonicalize(path).map_err(|e| crate::error::Error::io(path, "resolving the path", e))?;
    let d = Sha256::digest(canonical.to_string_lossy().as_bytes());
    let half = |at: usize| u64::from_le_bytes(d[at..at + 8].try_into().unwrap_or([0; 8]));
    Ok((half(0), half(8)))
}

/// Creates a directory (and its parents when `recursive`) with permission
/// bits `mode` on Unix; elsewhere the mode is ignored.
pub(crate) fn create_dir(path: &Path, mode: u32, recursive: bool) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(recursive);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    builder.create(path)
}

/// The operating system's page size (LMDB's map size is a multiple of it).
pub(crate) fn page_size() -> usize {
    page_size::get()
}

/// Allocates the blocks of `file` up to `len` bytes, so that writing them
/// later (LMDB writes its lock file through a memory map) cannot fail for
/// lack of space: with a sparse file, a full disk is a SIGBUS at the first
/// write through the map instead of an error here.
#[cfg(target_os = "linux")]
pub(crate) fn preallocate(file: &File, len: u64) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let len = libc::off_t::try_from(len).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: a valid open descriptor; posix_fallocate returns the error
    // number instead of setting errno.
    match unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, len) } {
        0 => Ok(()),
        // Filesystems without fallocate support (EOPNOTSUPP) fall back to
        // writing zeros.
        libc::EOPNOTSUPP | libc::EINVAL => write_zeros(file, len as u64),
        e => Err(io::Error::from_raw_os_error(e)),
    }
}

/// See the Linux version; elsewhere the blocks are written with zeros.
#[cfg(not(target_os = "linux"))]
pub(crate) fn preallocate(file: &File, len: u64) -> io::Result<()> {
    write_zeros(file, len)
}

/// Writes zeros over `[current length, len)` and syncs.
fn write_zeros(file: &File, len: u64) -> io::Result<()> {
    use std::io::{Seek, SeekFrom, Write};
    let have = file.metadata()?.len();
    if have >= len {
        return Ok(());
    }
    let mut f = file;
    f.seek(SeekFrom::Start(have))?;
    let zeros = vec![0u8; 64 << 10];
    let mut left = len - have;
    while left > 0 {
        let n = left.min(zeros.len() as u64) as usize;
        f.write_all(&zeros[..n])?;
        left -= n as u64;
    }
    f.sync_all()
}

/// Bytes available to this user on the filesystem holding `path`, if known.
#[cfg(unix)]
pub(crate) fn available_bytes(path: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs fills the struct we own; the path is a valid C string.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return None;
    }
    Some((st.f_bavail as u64).saturating_mul(st.f_frsize as u64))
}

/// See the Unix version: unknown elsewhere.
#[cfg(not(unix))]
pub(crate) fn available_bytes(_path: &Path) -> Option<u64> {
    None
}

/// Whether an I/O error means "no space left" (LMDB turns a short write
/// into EIO, so EIO counts when the filesystem is in fact nearly full).
pub(crate) fn is_no_space(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::StorageFull || e.raw_os_error() == Some(libc_eio())
}

#[cfg(unix)]
fn libc_eio() -> i32 {
    libc::EIO
}

#[cfg(not(unix))]
fn libc_eio() -> i32 {
    5
}

/// Who holds LMDB's lock on the database whose lock file is `lock`: every
/// process with the environment open (persistdict or any other LMDB program)
/// holds a read lock on its first byte. `Ok(None)`: nobody; `Ok(Some(pid))`:
/// that process (`-1` when the kernel does not say).
///
/// An open-file-description lock probe, so that it also sees this process's
/// own LMDB locks and never releases them (closing a descriptor drops every
/// classic `fcntl` lock the process holds on the file; OFD locks do not).
#[cfg(target_os = "linux")]
pub(crate) fn lmdb_lock_holder(lock: &Path) -> io::Result<Option<i32>> {
    use std::os::fd::AsRawFd;
    let f = std::fs::OpenOptions::new().read(true).write(true).open(lock)?;
    let mut fl = first_byte(libc::F_WRLCK);
    // SAFETY: a valid descriptor and a valid flock struct.
    if unsafe { libc::fcntl(f.as_raw_fd(), libc::F_OFD_GETLK, &mut fl) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((i32::from(fl.l_type) != libc::F_UNLCK).then_some(fl.l_pid))
}

/// LMDB's lock taken for writing, so that no process can open the
/// environment while it is held (LMDB's open waits for it); `None` when a
/// process has it open. Released when dropped.
#[cfg(target_os = "linux")]
pub(crate) fn lmdb_lock_exclusive(lock: &Path) -> io::Result<Option<File>> {
    use std::os::fd::AsRawFd;
    let f = std::fs::OpenOptions::new().read(true).write(true).open(lock)?;
    let fl = first_byte(libc::F_WRLCK);
    // SAFETY: a valid descriptor and a valid flock struct.
    if unsafe { libc::fcntl(f.as_raw_fd(), libc::F_OFD_SETLK, &fl) } == 0 {
        return Ok(Some(f));
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EAGAIN | libc::EACCES) => Ok(None),
        _ => Err(e),
    }
}

#[cfg(target_os = "linux")]
fn first_byte(kind: i32) -> libc::flock {
    // SAFETY: flock is plain data; all-zero is a valid value.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = kind as libc::c_short;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    fl.l_start = 0;
    fl.l_len = 1;
    fl
}
