//! Compaction: LMDB never shrinks its data file (freed pages are reused,
//! not returned). `compact_to` writes a copy without free pages, through
//! LMDB's own compacting copy, from one consistent snapshot; writers are
//! not blocked meanwhile.
//!
//! Swapping a copy in is only safe when no process has the directory open
//! (they map the old file): [`compact_in_place`] checks that through LMDB's
//! own lock and holds it for writing during the swap, and refuses with
//! [`Error::InUse`] otherwise. (`compact_to` refuses a destination that
//! already holds a database.)

use std::path::Path;

use crate::error::{Error, Result};
use crate::storage::platform;
use crate::storage::store::Store;

/// Writes a compacted copy of `store` into directory `dest` (created,
/// owner-only, if missing; it must hold no `data.mdb`) and returns its size.
pub(crate) fn compact_to(store: &Store, dest: &Path) -> Result<u64> {
    store.check_fork()?;
    match std::fs::metadata(dest) {
        Ok(m) if !m.is_dir() => return Err(Error::NotADirectory { path: dest.to_path_buf() }),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            platform::create_dir(dest, 0o700, true).map_err(|e| Error::io(dest, "creating the destination", e))?
        }
        Err(e) => return Err(Error::io(dest, "reading the destination's metadata", e)),
    }
    let data = dest.join("data.mdb");
    if data.exists() {
        return Err(Error::InvalidOption {
            path: dest.to_path_buf(),
            message: "the destination already holds a database (data.mdb); give an empty or new directory".into(),
        });
    }
    // A name of this call's own, and a link that never replaces: two calls
    // with one destination cannot write into each other's file, and only
    // one of them puts its copy in place.
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dest.join(format!("data.mdb.compacting-{}-{n}", std::process::id()));
    let copied = store
        .with_gate(|| store.env.copy_to_path(&tmp, heed::CompactionOption::Enabled).map_err(store.lm("compacting")))
        .and_then(|file| {
            file.sync_all().map_err(|e| Error::io_or_full(&tmp, "syncing the compacted copy", e))?;
            file.metadata().map(|m| m.len()).map_err(|e| Error::io(&tmp, "reading the compacted copy's size", e))
        });
    let placed = copied.and_then(|size| match std::fs::hard_link(&tmp, &data) {
        Ok(()) => Ok(size),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(Error::InvalidOption {
            path: dest.to_path_buf(),
            message: "another database was put in the destination meanwhile; give an empty or new directory".into(),
        }),
        Err(e) => Err(Error::io(&data, "moving the compacted copy into place", e)),
    });
    let _ = std::fs::remove_file(&tmp);
    let size = placed?;
    if let Ok(d) = std::fs::File::open(dest) {
        let _ = d.sync_all();
    }
    Ok(size)
}

/// Sizes of the data file before and after [`compact_in_place`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compacted {
    /// Bytes of `data.mdb` before.
    pub before: u64,
    /// Bytes of `data.mdb` after.
    pub after: u64,
}

/// Why the directory cannot be compacted in place now, if another process
/// (or this one) has it open.
#[cfg(target_os = "linux")]
fn in_use(path: &Path, holder: i32) -> Error {
    let who = if holder == std::process::id() as i32 {
        "this process has it open: drop every handle of it first (memoized functions keep theirs until the process exits)".to_string()
    } else if holder > 0 {
        format!("process {holder} has it open: stop it (and every other process using it) first, or use compact_to")
    } else {
        "another process has it open: stop every process using it first, or use compact_to".to_string()
    };
    Error::InUse { path: path.to_path_buf(), who }
}

/// Compacts the database at `path` in place: writes a compacted copy beside
/// it and swaps it in, so the data file shrinks to what the entries use.
///
/// Only when no process has the directory open — this one included — since
/// a process with the environment open maps the old file. That is checked
/// through LMDB's own lock, which every LMDB program holds while it has the
/// environment open (persistdict or not); the swap itself happens with that
/// lock held for writing, so a process that opens the directory meanwhile
/// waits until the new file is in place. If another process opened the
/// directory while the copy was written, nothing is swapped and the copy is
/// removed: [`Error::InUse`].
///
/// Linux only (it needs open-file-description locks); elsewhere, stop every
/// process, [`PersistDict::compact_to`](crate::PersistDict::compact_to) a
/// new directory and move it into place.
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// use persistdict::PersistDict;
/// let d: PersistDict<u32, Vec<u8>> = PersistDict::open(dir.path())?;
/// for i in 0..200 { d.insert(&i, &vec![0; 4096])?; }
/// d.clear()?;
/// drop(d); // no handle may be open
/// # #[cfg(target_os = "linux")] {
/// let sizes = persistdict::compact_in_place(dir.path())?;
/// assert!(sizes.after < sizes.before);
/// # }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`Error::InUse`] when a process has it open; when `path` holds no
/// database, or the copy or the swap fails (the database is then unchanged).
pub fn compact_in_place(path: impl AsRef<Path>) -> Result<Compacted> {
    compact_in_place_at(path.as_ref())
}

#[cfg(not(target_os = "linux"))]
fn compact_in_place_at(path: &Path) -> Result<Compacted> {
    Err(Error::InvalidOption {
        path: path.to_path_buf(),
        message: "compacting in place needs Linux; stop every process using the database, compact_to a new directory and move it into place".into(),
    })
}

#[cfg(target_os = "linux")]
fn compact_in_place_at(path: &Path) -> Result<Compacted> {
    use crate::dict::builder::Options;
    use crate::dict::handle::Handle;
    use crate::lifecycle::maintenance::Maintenance;

    let data = path.join("data.mdb");
    let lock = path.join("lock.mdb");
    let before = match std::fs::metadata(&data) {
        Ok(m) if m.is_file() => m.len(),
        _ => {
            return Err(Error::InvalidOption {
                path: path.to_path_buf(),
                message: "no persistdict database here (no data.mdb); give the directory of a cache".into(),
            });
        }
    };
    let probe = |when: &'static str| -> Result<()> {
        match platform::lmdb_lock_holder(&lock) {
            Ok(None) => Ok(()),
            Ok(Some(pid)) => Err(in_use(path, pid)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(&lock, when, e)),
        }
    };
    probe("checking who has the database open")?;
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = path.join(format!(".compacting-{}-{n}", std::process::id()));
    let result = (|| {
        let mut opts = Options::new(path);
        opts.maintenance = Maintenance::Disabled;
        opts.lru_capacity = 0;
        let h = Handle::open(opts)?;
        let canonical = h.store.path.clone();
        compact_to(&h.store, &tmp)?;
        drop(h);
        // The environment closes when its last reference goes; wait for
        // that (a thread of this process may hold it a moment longer).
        if let Some(event) = heed::env_closing_event(&canonical) {
            event.wait_timeout(std::time::Duration::from_secs(10));
        }
        let Some(held) =
            platform::lmdb_lock_exclusive(&lock).map_err(|e| Error::io(&lock, "locking the database", e))?
        else {
            probe("checking who opened the database meanwhile")?;
            return Err(Error::InUse {
                path: path.to_path_buf(),
                who: "a process opened it while it was being compacted; try again when none has it open".into(),
            });
        };
        // Nobody has it open and nobody can open it until `held` drops.
        std::fs::rename(tmp.join("data.mdb"), &data)
            .map_err(|e| Error::io(&data, "swapping in the compacted copy", e))?;
        if let Ok(d) = std::fs::File::open(path) {
            let _ = d.sync_all();
        }
        drop(held);
        let after =
            std::fs::metadata(&data).map(|m| m.len()).map_err(|e| Error::io(&data, "reading the new size", e))?;
        Ok(Compacted { before, after })
    })();
    let _ = std::fs::remove_dir_all(&tmp);
    if let Ok(c) = &result {
        tracing::debug!(path = %path.display(), before = c.before, after = c.after, "compacted in place");
    }
    result
}
