//! `persistdict._native`: the byte-level core of the Python package
//! `persistdict` (a drop-in for the PersistDict package). Python serializes
//! keys and values (pickle by default) and hashes keys as the original did;
//! this module stores the bytes in a [`persistdict::PersistDict`].
//!
//! Every call into the crate runs with the GIL released
//! (`Python::allow_threads`): other Python threads run while one waits on
//! the disk. A handle opened before `fork()` is never used in the child: it is
//! closed before the fork (the Python package registers an `os.register_at_fork`
//! hook calling [`Db::close`]) or dropped in the child, and the database is
//! reopened there at the next call.

use std::sync::Mutex;
use std::time::Duration;

use persistdict::{Maintenance, PersistDict};
use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};
use serde_bytes::{ByteBuf, Bytes};

/// Stored value: the original key (for `keys()`) and the serialized value.
type Record = (String, ByteBuf);
/// Keys are the serialized, hashed and cropped Python keys.
type Dict = PersistDict<ByteBuf, Record>;

create_exception!(_native, Error, PyException, "An error of the persistdict storage; the message names the path.");
create_exception!(
    _native,
    StillOpenError,
    Error,
    "The directory was deleted or replaced while this process still has the old database open."
);
create_exception!(_native, AlreadyInitializedError, Error, "The database was already initialized (called once).");
create_exception!(_native, OpenedBeforeForkError, Error, "A handle inherited through fork() was used.");

fn to_py(e: persistdict::Error) -> PyErr {
    let msg = e.to_string();
    match e {
        persistdict::Error::StillOpen { .. } => StillOpenError::new_err(msg),
        persistdict::Error::AlreadyInitialized { .. } => AlreadyInitializedError::new_err(msg),
        persistdict::Error::OpenedBeforeFork { .. } => OpenedBeforeForkError::new_err(msg),
        _ => Error::new_err(msg),
    }
}

/// How the database is opened (kept to reopen it after a fork or a close).
#[derive(Clone)]
struct Config {
    path: String,
    name: String,
    expire_after: Option<Duration>,
    maintenance: Maintenance,
    timeout: Duration,
    lru: usize,
}

impl Config {
    fn open(&self) -> persistdict::Result<Dict> {
        let mut b = PersistDict::builder(&self.path)
            .name(self.name.clone())
            .maintenance(self.maintenance)
            .maintenance_timeout(self.timeout)
            .lru_capacity(self.lru);
        if let Some(w) = self.expire_after {
            b = b.expire_after(w);
        }
        b.open()
    }
}

/// One opened database: the handle and the process that opened it.
#[pyclass(module = "persistdict._native", frozen)]
struct Db {
    cfg: Config,
    open: Mutex<Option<(Dict, u32)>>,
}

impl Db {
    /// The handle of this process, (re)opened when closed or inherited
    /// through `fork()`. Call without the GIL.
    fn handle(&self) -> persistdict::Result<Dict> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let pid = std::process::id();
        match open.take() {
            Some((d, p)) if p == pid => {
                *open = Some((d.clone(), p));
                return Ok(d);
            }
            // Inherited: dropped without touching the parent's environment.
            Some((d, _)) => drop(d.close()),
            None => {}
        }
        let d = self.cfg.open()?;
        *open = Some((d.clone(), pid));
        Ok(d)
    }

    /// Runs `f` on the handle without the GIL.
    fn with<T: Send>(&self, py: Python<'_>, f: impl FnOnce(&Dict) -> persistdict::Result<T> + Send) -> PyResult<T> {
        py.allow_threads(|| self.handle().and_then(|d| f(&d))).map_err(to_py)
    }
}

fn bytes<'py>(py: Python<'py>, b: &[u8]) -> Bound<'py, PyBytes> {
    PyBytes::new(py, b)
}

#[pymethods]
impl Db {
    /// Opens (or creates) the database in directory `path`.
    #[new]
    #[pyo3(signature = (path, name, expire_days, maintenance, timeout_s, lru))]
    fn new(
        py: Python<'_>,
        path: String,
        name: String,
        expire_days: Option<f64>,
        maintenance: &str,
        timeout_s: f64,
        lru: usize,
    ) -> PyResult<Db> {
        let expire_after = match expire_days {
            Some(d) if d.is_finite() && d > 0.0 && d < 1e9 => Some(Duration::from_secs_f64(d * 86_400.0)),
            Some(0.0) | None => None,
            Some(d) => return Err(PyValueError::new_err(format!("expiration_days must be >= 0, got {d}"))),
        };
        let maintenance = match maintenance {
            "background" => Maintenance::Background,
            "foreground" => Maintenance::Foreground,
            "disabled" => Maintenance::Disabled,
            other => return Err(PyValueError::new_err(format!("unknown maintenance mode {other:?}"))),
        };
        if !(timeout_s.is_finite() && timeout_s > 0.0 && timeout_s < 1e9) {
            return Err(PyValueError::new_err(format!("background_timeout must be positive, got {timeout_s}")));
        }
        let cfg = Config { path, name, expire_after, maintenance, timeout: Duration::from_secs_f64(timeout_s), lru };
        let d = py.allow_threads(|| cfg.open()).map_err(to_py)?;
        Ok(Db { cfg, open: Mutex::new(Some((d, std::process::id()))) })
    }

    /// The path the database was opened with.
    #[getter]
    fn path(&self) -> &str {
        &self.cfg.path
    }

    /// `(fullkey, value bytes)` under `key`, or `None`; refreshes atime.
    fn get<'py>(&self, py: Python<'py>, key: &[u8]) -> PyResult<Option<(String, Bound<'py, PyBytes>)>> {
        let found = self.with(py, |d| d.get(Bytes::new(key)))?;
        Ok(found.map(|(full, v)| (full, bytes(py, &v))))
    }

    /// Stores `value` under `key`, remembering the original key `fullkey`.
    fn set(&self, py: Python<'_>, key: &[u8], fullkey: String, value: Vec<u8>) -> PyResult<()> {
        let record = (fullkey, ByteBuf::from(value));
        self.with(py, |d| d.insert(Bytes::new(key), &record))
    }

    /// Removes `key`; whether it was there.
    fn delete(&self, py: Python<'_>, key: &[u8]) -> PyResult<bool> {
        self.with(py, |d| d.remove(Bytes::new(key)))
    }

    /// Whether `key` is there (atime untouched).
    fn contains(&self, py: Python<'_>, key: &[u8]) -> PyResult<bool> {
        self.with(py, |d| d.contains_key(Bytes::new(key)))
    }

    /// `(ctime, atime)` of `key` in seconds since the epoch, or `None`.
    fn times(&self, py: Python<'_>, key: &[u8]) -> PyResult<Option<(f64, f64)>> {
        let secs = |t: std::time::SystemTime| t.duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
        Ok(self.with(py, |d| d.metadata(Bytes::new(key)))?.map(|m| (secs(m.ctime), secs(m.atime))))
    }

    /// Entry count.
    fn len(&self, py: Python<'_>) -> PyResult<usize> {
        self.with(py, |d| d.len())
    }

    /// Removes everything and resets the initialize-once flag.
    fn clear(&self, py: Python<'_>) -> PyResult<()> {
        self.with(py, |d| d.clear())
    }

    /// Stores `(key, fullkey, value)` triples in one transaction and marks
    /// the database initialized; `AlreadyInitializedError` if it was.
    fn initialize(&self, py: Python<'_>, items: Vec<(Vec<u8>, String, Vec<u8>)>) -> PyResult<()> {
        let pairs: Vec<(ByteBuf, Record)> =
            items.into_iter().map(|(k, full, v)| (ByteBuf::from(k), (full, ByteBuf::from(v)))).collect();
        self.with(py, move |d| d.initialize(pairs))
    }

    /// Stores `(key, fullkey, value)` triples in one transaction.
    fn extend(&self, py: Python<'_>, items: Vec<(Vec<u8>, String, Vec<u8>)>) -> PyResult<()> {
        let pairs: Vec<(ByteBuf, Record)> =
            items.into_iter().map(|(k, full, v)| (ByteBuf::from(k), (full, ByteBuf::from(v)))).collect();
        self.with(py, move |d| d.extend(pairs))
    }

    /// Whether `initialize` ran since the database was created or cleared.
    fn is_initialized(&self, py: Python<'_>) -> PyResult<bool> {
        self.with(py, |d| d.is_initialized())
    }

    /// Removes the entries unused for longer than their expiry window; how many.
    fn expire(&self, py: Python<'_>) -> PyResult<usize> {
        self.with(py, |d| d.expire())
    }

    /// Waits for the maintenance run started at open; whether it finished.
    fn wait_for_maintenance(&self, py: Python<'_>, timeout_s: f64) -> PyResult<bool> {
        let timeout = Duration::try_from_secs_f64(timeout_s.max(0.0)).unwrap_or(Duration::MAX);
        self.with(py, |d| Ok(d.wait_for_maintenance(timeout)))
    }

    /// Checks (and repairs what it can of) every record and index:
    /// `(clean, report)`.
    fn check_integrity(&self, py: Python<'_>) -> PyResult<(bool, String)> {
        let report = self.with(py, |d| d.check_integrity())?;
        Ok((report.is_clean(), format!("{report:?}")))
    }

    /// The original keys, in insertion order.
    fn keys(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        self.with(py, |d| d.values()?.map(|r| r.map(|(full, _)| full)).collect())
    }

    /// A streaming iterator over `(key, fullkey, value)`.
    fn iter(&self, py: Python<'_>) -> PyResult<Iter> {
        let it = self.with(py, |d| d.iter())?;
        Ok(Iter { it: Mutex::new(Some(Box::new(it))) })
    }

    /// Closes the database now (see `PersistDict::close`); the next call reopens it.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        py.allow_threads(|| {
            let taken = self.open.lock().unwrap_or_else(|e| e.into_inner()).take();
            match taken {
                Some((d, _)) => d.close(),
                None => Ok(()),
            }
        })
        .map_err(to_py)
    }

    /// Whether a handle is open in this process.
    fn is_open(&self) -> bool {
        matches!(&*self.open.lock().unwrap_or_else(|e| e.into_inner()), Some((_, p)) if *p == std::process::id())
    }
}

type Items = Box<dyn Iterator<Item = persistdict::Result<(ByteBuf, Record)>> + Send>;

/// Entries of a [`Db`] in insertion order, fetched in batches from one snapshot.
#[pyclass(module = "persistdict._native", frozen)]
struct Iter {
    it: Mutex<Option<Items>>,
}

#[pymethods]
impl Iter {
    /// Up to `n` `(key, fullkey, value)` tuples; an empty list at the end.
    fn next_batch<'py>(&self, py: Python<'py>, n: usize) -> PyResult<Bound<'py, PyList>> {
        let batch = py
            .allow_threads(|| {
                let mut guard = self.it.lock().unwrap_or_else(|e| e.into_inner());
                let Some(it) = guard.as_mut() else { return Ok(Vec::new()) };
                let mut out = Vec::with_capacity(n.min(4096));
                for item in it.by_ref().take(n) {
                    out.push(item?);
                }
                if out.len() < n {
                    // Done: release the snapshot at once.
                    *guard = None;
                }
                Ok(out)
            })
            .map_err(to_py)?;
        let items: Vec<Bound<'py, PyTuple>> = batch
            .into_iter()
            .map(|(k, (full, v))| {
                PyTuple::new(
                    py,
                    [bytes(py, &k).into_any(), full.into_pyobject(py)?.into_any(), bytes(py, &v).into_any()],
                )
            })
            .collect::<PyResult<_>>()?;
        PyList::new(py, items)
    }

    /// Releases the snapshot.
    fn close(&self) {
        drop(self.it.lock().unwrap_or_else(|e| e.into_inner()).take());
    }
}

/// The extension module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Db>()?;
    m.add_class::<Iter>()?;
    let py = m.py();
    m.add("Error", py.get_type::<Error>())?;
    m.add("StillOpenError", py.get_type::<StillOpenError>())?;
    m.add("AlreadyInitializedError", py.get_type::<AlreadyInitializedError>())?;
    m.add("OpenedBeforeForkError", py.get_type::<OpenedBeforeForkError>())?;
    Ok(())
}
