//! The process-wide registry of LMDB environments, and opening one safely.
//!
//! LMDB forbids opening one environment twice in a process, so every handle
//! on a directory shares one [`Store`], found here by the directory's device
//! and inode (a symlink or another spelling of the path finds the same one).
//! The registry holds only weak references: when the last handle drops, the
//! environment closes, and a later open starts afresh from the files.

use std::collections::HashMap;
use std::fs;
use std::io::Read;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, LazyLock, Mutex, Weak};
use std::time::Duration;

use heed::{EnvOpenOptions, WithoutTls};
use tracing::debug;

use crate::error::{Error, Result};
use crate::storage::platform;
use crate::storage::store::Store;

/// Reader slots: every live read transaction and iterator takes one, and a
/// slot belongs to the transaction (no TLS), so this bounds concurrent reads,
/// not threads. 126 (LMDB's default) is too few for a busy thread pool.
pub(crate) const MAX_READERS: u32 = 4094;
/// Named tables: entries, order, atime, meta.
const MAX_DBS: u32 = 8;
/// How long `open` waits for this process's previous environment of the
/// same directory to finish closing.
const CLOSE_WAIT: Duration = Duration::from_secs(30);
/// The smallest initial map: creating the tables needs a few pages, and a
/// map smaller than that would be "map full" before the growth path runs.
pub(crate) const MIN_MAP_SIZE: usize = 256 << 10;

/// What the builder asks of the environment; used only when it is first
/// opened in this process.
#[derive(Debug, Clone)]
pub(crate) struct EnvOptions {
    pub map_size: usize,
    pub key_size_limit: Option<usize>,
    pub dir_mode: u32,
}

type FileId = (u64, u64);

static REGISTRY: LazyLock<Mutex<HashMap<FileId, Weak<Store>>>> = LazyLock::new(Default::default);

/// Returns the shared store of `path`, opening the environment if this
/// process has not got it open. The bool says whether it was opened now.
pub(crate) fn open_shared(path: &Path, opts: &EnvOptions) -> Result<(Arc<Store>, bool)> {
    prepare_dir(path, opts.dir_mode)?;
    let meta = fs::metadata(path).map_err(|e| Error::io(path, "reading the directory's metadata", e))?;
    let id = platform::dir_id(path, &meta)?;
    let canonical = fs::canonicalize(path).map_err(|e| Error::io(path, "resolving the path", e))?;
    // A store with no handle left is closing: its last maintenance batch
    // finishes (a sweep stops at its next batch once its users are gone),
    // then it drops. Wait for that, with a deadline.
    let deadline = std::time::Instant::now() + CLOSE_WAIT;
    while std::time::Instant::now() < deadline {
        let mut registry = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
        let existing = registry.get(&id).and_then(Weak::upgrade);
        let wait_for_close = match existing {
            Some(store) => {
                let forked = store.forked();
                // Counted under the registry lock, so a store with users is
                // never mistaken for one that is closing.
                if !forked && store.users.load(Ordering::Acquire) > 0 {
                    store.users.fetch_add(1, Ordering::AcqRel);
                    return Ok((store, false));
                }
                // Our reference may be the last one: its drop takes the
                // registry lock, so release the lock first.
                drop(registry);
                drop(store);
                if forked {
                    return Err(Error::OpenedBeforeFork { path: path.to_path_buf() });
                }
                // No handle left, only a maintenance batch finishing: the
                // environment is closing. Do not hand it out (its directory
                // may be gone by now); wait for it to close and open afresh.
                true
            }
            None => {
                prepare_files(&canonical, opts)?;
                check_data_file(&canonical)?;
                match open_env(&canonical, opts)? {
                    Some(env) => {
                        let store = Arc::new(Store::new(env, canonical, id, opts)?);
                        store.users.store(1, Ordering::Release);
                        registry.insert(id, Arc::downgrade(&store));
                        debug!(path = %store.path.display(), "opened LMDB environment");
                        return Ok((store, true));
                    }
                    // heed still has an environment at this path: the previous
                    // Store of this directory is being dropped in another thread
                    // (its drop needs this lock)... or this process still holds
                    // the database of a directory that was deleted or replaced
                    // since (another inode, same path), which will not close.
                    None => {
                        let others: Vec<Arc<Store>> =
                            registry.iter().filter(|(k, _)| **k != id).filter_map(|(_, w)| w.upgrade()).collect();
                        drop(registry);
                        let replaced =
                            others.iter().any(|s| s.path == canonical && s.users.load(Ordering::Acquire) > 0);
                        drop(others);
                        if replaced {
                            return Err(Error::StillOpen { path: path.to_path_buf() });
                        }
                        true
                    }
                }
            }
        };
        if wait_for_close {
            match heed::env_closing_event(&canonical) {
                Some(event) => {
                    event.wait_timeout(Duration::from_millis(100));
                }
                None => std::thread::sleep(Duration::from_millis(2)),
            }
        }
    }
    Err(Error::lmdb(
        path,
        "opening the environment: this process is still closing it (a maintenance batch or another thread's last handle did not finish within 30 s); try again",
        heed::Error::EnvAlreadyOpened,
    ))
}

/// Called by `Store::drop`: forget the entry unless a new store took its place.
pub(crate) fn unregister(id: FileId) {
    let mut registry = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
    if registry.get(&id).is_some_and(|w| w.strong_count() == 0) {
        registry.remove(&id);
    }
}

/// Size of LMDB's lock file for `MAX_READERS` reader slots: a 192-byte
/// header and one 64-byte slot per reader after the first (mdb.c,
/// `mdb_env_setup_locks`), rounded up to a page.
const LOCK_FILE_LEN: u64 = (MAX_READERS as u64 - 1) * 64 + 192 + 4096;

/// Gets the directory's files ready before LMDB maps them.
///
/// - `lock.mdb` gets its blocks allocated: LMDB creates it sparse and
///   writes it through a memory map, so on a full disk the first write would
///   be a SIGBUS; here it is [`Error::DiskFull`].
/// - A new database is created whole in a temporary directory beside it,
///   its first commit synced, then linked into place: a `data.mdb` in the
///   directory always holds a completed commit, so a power loss during the
///   first `open` cannot leave torn meta pages behind. A `data.mdb` in which
///   no commit ever completed (left by an earlier version that created it in
///   place) holds nothing: it is moved aside and the database created anew.
fn prepare_files(dir: &Path, opts: &EnvOptions) -> Result<()> {
    let data = dir.join("data.mdb");
    match fs::metadata(&data) {
        // Only a file of at most two pages can be one that never committed
        // (checked without reading a large file).
        Ok(m) if m.len() <= 2 * 65536 && never_committed(&data) => {
            let aside = dir.join(format!("data.mdb.torn-{}", crate::storage::clock::now_ms()));
            tracing::warn!(path = %data.display(), aside = %aside.display(),
                "data.mdb holds no completed commit (a crash during its creation); creating the database anew");
            fs::rename(&data, &aside).map_err(|e| Error::io(&data, "moving a torn data.mdb aside", e))?;
            create_fresh(dir, opts)?;
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => create_fresh(dir, opts)?,
        Err(e) => return Err(Error::io(&data, "reading data.mdb's metadata", e)),
    }
    preallocate_lock(dir)
}

/// Allocates `lock.mdb`'s blocks (see [`prepare_files`]).
fn preallocate_lock(dir: &Path) -> Result<()> {
    let lock = dir.join("lock.mdb");
    let file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock)
        .map_err(|e| Error::io_or_full(&lock, "creating lock.mdb", e))?;
    if file.metadata().map_err(|e| Error::io(&lock, "reading lock.mdb's size", e))?.len() < LOCK_FILE_LEN {
        crate::storage::platform::preallocate(&file, LOCK_FILE_LEN)
            .map_err(|e| Error::io_or_full(&lock, "allocating lock.mdb", e))?;
    }
    Ok(())
}

/// Creates the database in a temporary directory beside `dir`, with its
/// tables and one synced commit, and links its `data.mdb` into `dir`
/// (another process that got there first wins; its file is as good).
fn create_fresh(dir: &Path, opts: &EnvOptions) -> Result<()> {
    let tmp = dir.join(format!(".creating-{}-{}", std::process::id(), crate::storage::clock::now_ms()));
    let result = create_in(&tmp, opts).and_then(|()| {
        let data = dir.join("data.mdb");
        match fs::hard_link(tmp.join("data.mdb"), &data) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(Error::io_or_full(&data, "linking the new data.mdb into place", e)),
        }
    });
    let _ = fs::remove_dir_all(&tmp);
    result?;
    // The link is durable once the directory is synced.
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

fn create_in(tmp: &Path, opts: &EnvOptions) -> Result<()> {
    platform::create_dir(tmp, 0o700, false).map_err(|e| Error::io_or_full(tmp, "creating a temporary directory", e))?;
    preallocate_lock(tmp)?;
    let mut options = EnvOpenOptions::new().read_txn_without_tls();
    options.map_size(round_to_page(opts.map_size.max(MIN_MAP_SIZE))).max_readers(MAX_READERS).max_dbs(MAX_DBS);
    // SAFETY: a directory of our own, just created: nothing else maps it.
    let env = unsafe { options.open(tmp) }.map_err(|e| Error::lmdb(tmp, "creating the environment", e))?;
    type B = heed::types::Bytes;
    let result = env.write_txn().and_then(|wtxn| {
        env.create_databases_and_commit(wtxn, |opener, wtxn| -> heed::Result<_> {
            opener.database_options().types::<B, B>().create(wtxn)?;
            for name in crate::storage::store::TABLE_NAMES {
                opener.database_options().types::<B, B>().name(name).create(wtxn)?;
            }
            Ok(heed::CommitOrAbort::<(), ()>::Commit(()))
        })
    });
    env.prepare_for_closing().wait();
    result.map(drop).map_err(|e| Error::lmdb(tmp, "creating the tables", e))
}

/// Whether `data.mdb` is debris of a creation that never completed a
/// commit: at most a few pages long, and no meta page with the LMDB magic
/// and a transaction id past 0. A database that ever committed has grown
/// past its two meta pages or holds a meta page with txnid >= 1, and is
/// never touched here.
fn never_committed(data: &Path) -> bool {
    const MAGIC: u32 = 0xBEEF_C0DE;
    let mut bytes = Vec::new();
    let read = fs::File::open(data).and_then(|f| std::io::Read::read_to_end(&mut f.take(2 * 65536 + 1), &mut bytes));
    if read.is_err() {
        return false;
    }
    let psize = bytes.get(40..44).map_or(4096, |s| u32::from_le_bytes(s.try_into().expect("4"))) as usize;
    let psize = if (512..=65536).contains(&psize) && psize.is_power_of_two() { psize } else { 4096 };
    if bytes.len() > 2 * psize {
        return false;
    }
    let committed = |at: usize| {
        let m = bytes.get(at..at + 160);
        m.is_some_and(|m| {
            u32::from_le_bytes(m[16..20].try_into().expect("4")) == MAGIC
                && u64::from_le_bytes(m[144..152].try_into().expect("8")) >= 1
        })
    };
    !committed(0) && !committed(psize)
}

fn prepare_dir(path: &Path, mode: u32) -> Result<()> {
    match fs::metadata(path) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(Error::NotADirectory { path: path.to_path_buf() }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            platform::create_dir(path, mode, true).map_err(|e| Error::io(path, "creating the database directory", e))
        }
        Err(e) => Err(Error::io(path, "reading the directory's metadata", e)),
    }
}

/// Opens the environment; `None` when heed still has it open (closing).
fn open_env(path: &Path, opts: &EnvOptions) -> Result<Option<heed::Env<WithoutTls>>> {
    let mut options = EnvOpenOptions::new().read_txn_without_tls();
    options.map_size(round_to_page(opts.map_size.max(MIN_MAP_SIZE))).max_readers(MAX_READERS).max_dbs(MAX_DBS);
    // Commits start fully synced; each write transaction sets the flags of
    // the handle that runs it (see `Store::write`).
    // SAFETY: the registry guarantees one Env per directory in this process;
    // LMDB's lock file coordinates other processes. The files are checked by
    // `check_data_file` before they are mapped.
    match unsafe { options.open(path) } {
        Ok(env) => Ok(Some(env)),
        Err(heed::Error::EnvAlreadyOpened) => Ok(None),
        Err(heed::Error::Mdb(
            e @ (heed::MdbError::Invalid | heed::MdbError::VersionMismatch | heed::MdbError::Corrupted),
        )) => Err(Error::BadFile { path: path.to_path_buf(), reason: e.to_string() }),
        Err(e) => Err(Error::lmdb(path, "opening the environment", e)),
    }
}

pub(crate) fn round_to_page(n: usize) -> usize {
    let page = platform::page_size();
    n.max(page).div_ceil(page) * page
}

/// LMDB trusts its meta pages: a garbage header can make it misbehave and a
/// file shorter than its last page makes the first touch of that page a
/// SIGBUS. Check both before mapping the file.
///
/// Layout (lmdb `MDB_meta`, 64-bit): after a 16-byte page header, magic u32
/// at 16, version u32 at 20, the free-DB record at 40 whose first u32 is the
/// page size, `mm_last_pg` u64 at 136 and `mm_txnid` u64 at 144.
fn check_data_file(dir: &Path) -> Result<()> {
    // Another process may be committing while we read the header: a failed
    // check is only believed when it fails again.
    let mut result = check_data_file_once(dir);
    for _ in 0..3 {
        if result.is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
        result = check_data_file_once(dir);
    }
    result
}

fn check_data_file_once(dir: &Path) -> Result<()> {
    const MAGIC: u32 = 0xBEEF_C0DE;
    let file = dir.join("data.mdb");
    let bad = |reason: String| Error::BadFile { path: file.clone(), reason };
    let mut f = match fs::File::open(&file) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(&file, "opening data.mdb", e)),
    };
    let mut first = Vec::with_capacity(4096);
    (&mut f).take(4096).read_to_end(&mut first).map_err(|e| Error::io(&file, "reading data.mdb's header", e))?;
    if first.is_empty() {
        // A crash between file creation and the first write; LMDB initialises it.
        return Ok(());
    }
    let u32_at = |b: &[u8], at: usize| b.get(at..at + 4).map(|s| u32::from_le_bytes(s.try_into().expect("4")));
    let u64_at = |b: &[u8], at: usize| b.get(at..at + 8).map(|s| u64::from_le_bytes(s.try_into().expect("8")));
    if u32_at(&first, 16) != Some(MAGIC) {
        return Err(bad("no LMDB magic number in the header".into()));
    }
    let version = u32_at(&first, 20).unwrap_or(0);
    if version != 1 {
        return Err(bad(format!("LMDB data format {version}, expected 1")));
    }
    let psize = u32_at(&first, 40).unwrap_or(0) as u64;
    if !(512..=65536).contains(&psize) || !psize.is_power_of_two() {
        return Err(bad(format!("implausible page size {psize}")));
    }
    let mut second = vec![0u8; 160];
    std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(psize))
        .map_err(|e| Error::io(&file, "seeking data.mdb", e))?;
    if let Err(e) = f.read_exact(&mut second) {
        return Err(match e.kind() {
            std::io::ErrorKind::UnexpectedEof => bad("the file is shorter than its two meta pages".into()),
            _ => Error::io(&file, "reading data.mdb's header", e),
        });
    }
    let metas = [&first[..], &second[..]];
    let mut best: Option<(u64, u64)> = None;
    for m in metas {
        if u32_at(m, 16) != Some(MAGIC) {
            continue;
        }
        if let (Some(last_pg), Some(txnid)) = (u64_at(m, 136), u64_at(m, 144))
            && best.is_none_or(|(t, _)| txnid > t)
        {
            best = Some((txnid, last_pg));
        }
    }
    let (_, last_pg) = best.ok_or_else(|| bad("no valid meta page".into()))?;
    // The size is read after the meta pages: LMDB writes a commit's pages
    // before its meta page, so a concurrent commit can only make it larger.
    let len = f.metadata().map_err(|e| Error::io(&file, "reading data.mdb's size", e))?.len();
    let needed = last_pg.saturating_add(1).saturating_mul(psize);
    if len < needed {
        return Err(bad(format!("file is truncated: {len} bytes, its last page ends at {needed}")));
    }
    Ok(())
}
