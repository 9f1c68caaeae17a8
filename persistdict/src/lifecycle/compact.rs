//! Compaction: LMDB never shrinks its data file (freed pages are reused,
//! not returned). `compact_to` writes a copy without free pages, through
//! LMDB's own compacting copy, from one consistent snapshot; writers are
//! not blocked meanwhile.
//!
//! Swapping the copy in is left to the user, because it is only safe when
//! no process has the directory open: stop every process using it, move the
//! old directory aside, move the copy into its place. (`compact_to` refuses
//! a destination that already holds a database.)

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
