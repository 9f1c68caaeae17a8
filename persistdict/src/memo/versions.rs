//! Which memoized functions a database holds, and pruning the versions
//! nobody uses any more.
//!
//! Editing a function's body (or its signature, or its `version`) gives it
//! a new namespace: the old version's entries can never be read again, yet
//! stay until they expire, if ever. So each memo store records its namespace
//! in the meta table, under `fns/<the 8-byte key prefix, 16 hex digits>`:
//!
//! ```json
//! {"namespace": "app::embed#1f..#b:9c..", "function": "app::embed",
//!  "version": "1f..#b:9c..", "first_use_ms": 1764086400000, "last_use_ms": 1764090000000}
//! ```
//!
//! at its first call in each process, and again at most every
//! [`USE_REFRESH`] while the process keeps calling it, so `last_use_ms`
//! trails the truth by at most that much for any live caller.
//!
//! **Stale** means: another version of the same function was first used
//! later (this one is *superseded*), and this one has not been used for a
//! while ([`DEFAULT_MIN_IDLE`], one hour, six refresh periods). The idle
//! rule is what keeps a version "still in use by another binary" (an older
//! build still deployed, a long-running worker) safe: pruning never removes
//! a version used within `min_idle`, whoever asks. A version whose users
//! all stopped longer ago than that is removed when someone asks —
//! [`prune_stale_versions`], [`MemoStore::prune_stale_versions`] or the
//! CLI's `rm --stale-versions` — or, for functions with
//! `#[persist_cache(prune = "auto")]`, by the function's own store once its
//! current version has been in use for [`AUTO_PRUNE_AFTER`] and the old one
//! idle as long. If such an old binary runs again after all, it recomputes
//! (a miss), never reads a wrong value.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use tracing::{debug, warn};

use crate::dict::builder::Options;
use crate::dict::handle::Handle;
use crate::error::{Error, Result};
use crate::lifecycle::maintenance::Maintenance;
use crate::memo::key::{KEY_LEN, PREFIX_LEN};
use crate::memo::store::MemoStore;
use crate::storage::clock;

/// How often a process that keeps calling a function refreshes its
/// `last_use` record (one small write transaction).
pub const USE_REFRESH: Duration = Duration::from_secs(10 * 60);
/// How long a superseded version must have been idle before pruning
/// removes it, unless the caller gives another bound.
pub const DEFAULT_MIN_IDLE: Duration = Duration::from_secs(60 * 60);
/// With `prune = "auto"`: how long the current version must have been in
/// use, and an older one idle, before the store removes the older one.
pub const AUTO_PRUNE_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

const FNS_PREFIX: &[u8] = b"fns/";

/// A period from the environment variable `var` (milliseconds), else `default`.
/// `PERSISTDICT_USE_REFRESH_MS` and `PERSISTDICT_AUTO_PRUNE_AFTER_MS` exist
/// so that process-level tests can run the protocol in milliseconds.
fn period_ms(var: &str, default: Duration) -> u64 {
    std::env::var(var).ok().and_then(|v| v.trim().parse().ok()).unwrap_or_else(|| clock::duration_ms(default))
}

fn use_refresh_ms() -> u64 {
    static MS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *MS.get_or_init(|| period_ms("PERSISTDICT_USE_REFRESH_MS", USE_REFRESH))
}

fn auto_prune_after() -> Duration {
    static MS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    Duration::from_millis(*MS.get_or_init(|| period_ms("PERSISTDICT_AUTO_PRUNE_AFTER_MS", AUTO_PRUNE_AFTER)))
}

/// The recorded namespace of one function version, as stored in the meta table.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct Recorded {
    namespace: String,
    function: String,
    version: String,
    first_use_ms: u64,
    last_use_ms: u64,
}

/// One version of a memoized function recorded in a database (see the
/// module docs of [`functions`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionVersion {
    /// The full namespace: `<function>#<signature digest>#<version>`.
    pub namespace: String,
    /// The function's path (`module::fn`), or its `name = "..."`.
    pub function: String,
    /// The signature digest and the body digest (`b:…`) or the user's
    /// `version` (`v:…`).
    pub version: String,
    /// The 8-byte prefix every key of this version starts with.
    pub prefix: [u8; PREFIX_LEN],
    /// When a process first called this version.
    pub first_use: SystemTime,
    /// When a process last called it (refreshed every [`USE_REFRESH`] at most).
    pub last_use: SystemTime,
    /// Its stored results.
    pub entries: u64,
    /// Bytes of its keys and records (before LMDB's page overhead).
    pub bytes: u64,
    /// Whether a newer version of the same function was used since.
    pub superseded: bool,
}

/// What a prune removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneReport {
    /// The namespaces whose entries were removed.
    pub versions: Vec<String>,
    /// How many entries went.
    pub entries: usize,
}

fn meta_key(prefix: &[u8; PREFIX_LEN]) -> Vec<u8> {
    let mut k = FNS_PREFIX.to_vec();
    k.extend(prefix.iter().map(|b| format!("{b:02x}")).collect::<String>().bytes());
    k
}

fn parse_prefix(hex: &[u8]) -> Option<[u8; PREFIX_LEN]> {
    let s = std::str::from_utf8(hex).ok()?;
    if s.len() != 2 * PREFIX_LEN {
        return None;
    }
    let mut p = [0u8; PREFIX_LEN];
    for (i, b) in p.iter_mut().enumerate() {
        *b = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(p)
}

/// `(function, version)` of a namespace `<function>#<sig>#<version>`.
fn split_namespace(ns: &str) -> (String, String) {
    match ns.split_once('#') {
        Some((f, v)) => (f.to_string(), v.to_string()),
        None => (ns.to_string(), String::new()),
    }
}

/// Records a use of `namespace` at `now_ms`: creates its record or moves
/// its `last_use` forward (never back: clocks differ between processes).
/// `function` overrides the namespace's path part (see
/// [`MemoStore::function_name`]).
pub(crate) fn record_use(
    h: &Handle,
    namespace: &str,
    function: Option<String>,
    prefix: &[u8; PREFIX_LEN],
    now_ms: u64,
) -> Result<()> {
    let key = meta_key(prefix);
    let (path, version) = split_namespace(namespace);
    let function = function.unwrap_or(path);
    h.store.write(h.opts.durability, 256 + namespace.len() * 3, |txn, t| {
        let lm = h.store.lm("recording a function version");
        let old = t.meta.get(txn, &key).map_err(&lm)?.and_then(|b| serde_json::from_slice::<Recorded>(b).ok());
        let rec = match old {
            Some(mut r) if r.namespace == namespace => {
                if r.last_use_ms >= now_ms {
                    return Ok(());
                }
                r.last_use_ms = now_ms;
                r
            }
            // A record that does not parse, or (a 64-bit prefix collision)
            // names another namespace: ours replaces it.
            _ => Recorded {
                namespace: namespace.to_string(),
                function: function.clone(),
                version: version.clone(),
                first_use_ms: now_ms,
                last_use_ms: now_ms,
            },
        };
        let bytes = serde_json::to_vec(&rec).map_err(|e| Error::InvalidOption {
            path: h.store.path.clone(),
            message: format!("encoding a function record: {e}"),
        })?;
        t.meta.put(txn, &key, &bytes).map_err(&lm)
    })
}

/// The per-function state of use recording, kept by the memo store.
#[derive(Debug, Default)]
pub(crate) struct UseClock {
    /// When this process last recorded a use (0: never).
    recorded_ms: AtomicU64,
}

impl UseClock {
    /// Whether a use at `now_ms` should be recorded; claims the slot so one
    /// thread records it.
    pub(crate) fn due(&self, now_ms: u64) -> bool {
        let last = self.recorded_ms.load(Ordering::Relaxed);
        if last != 0 && now_ms.saturating_sub(last) < use_refresh_ms() && now_ms >= last {
            return false;
        }
        self.recorded_ms.compare_exchange(last, now_ms.max(1), Ordering::AcqRel, Ordering::Relaxed).is_ok()
    }
}

/// The call keys of the entries under a function prefix, with the bytes of
/// their stored key and record.
pub(crate) fn entries_of(h: &Handle, prefix: &[u8; PREFIX_LEN]) -> Result<Vec<(Vec<u8>, usize)>> {
    // Stored keys are the entry prefix byte, then the (32-byte) call key.
    let start = [&[crate::storage::key::ENTRY_PREFIX][..], &prefix[..]].concat();
    h.store.read(|txn, t| {
        let lm = h.store.lm("listing a function's entries");
        let mut out = Vec::new();
        for item in t.entries.prefix_iter(txn, &start).map_err(&lm)? {
            let (stored, record) = item.map_err(&lm)?;
            if let Some(key) = crate::storage::key::stored_tail(stored)
                && key.len() == KEY_LEN
            {
                out.push((key.to_vec(), stored.len() + record.len()));
            }
        }
        Ok(out)
    })
}

/// Every recorded function version with its entries and bytes.
fn list(h: &Handle) -> Result<Vec<FunctionVersion>> {
    let recorded: Vec<([u8; PREFIX_LEN], Recorded)> = h.store.read(|txn, t| {
        let lm = h.store.lm("listing function versions");
        let mut out = Vec::new();
        for item in t.meta.prefix_iter(txn, FNS_PREFIX).map_err(&lm)? {
            let (k, v) = item.map_err(&lm)?;
            let Some(prefix) = parse_prefix(&k[FNS_PREFIX.len()..]) else { continue };
            match serde_json::from_slice::<Recorded>(v) {
                Ok(r) => out.push((prefix, r)),
                Err(e) => warn!(path = %h.store.path.display(), error = %e, "skipping an unreadable function record"),
            }
        }
        Ok(out)
    })?;
    let mut out = Vec::with_capacity(recorded.len());
    for (prefix, r) in &recorded {
        let found = entries_of(h, prefix)?;
        let entries = found.len() as u64;
        let bytes = found.iter().map(|(_, b)| *b as u64).sum();
        let superseded =
            recorded.iter().any(|(p, o)| p != prefix && o.function == r.function && o.first_use_ms > r.first_use_ms);
        out.push(FunctionVersion {
            namespace: r.namespace.clone(),
            function: r.function.clone(),
            version: r.version.clone(),
            prefix: *prefix,
            first_use: clock::to_system_time(r.first_use_ms),
            last_use: clock::to_system_time(r.last_use_ms),
            entries,
            bytes,
            superseded,
        });
    }
    out.sort_by(|a, b| (&a.function, a.first_use).cmp(&(&b.function, b.first_use)));
    Ok(out)
}

/// Removes the entries of every version in `victims` (and their records).
fn remove_versions(h: &Handle, victims: &[FunctionVersion]) -> Result<PruneReport> {
    let mut report = PruneReport::default();
    for v in victims {
        let keys: Vec<Vec<u8>> = entries_of(h, &v.prefix)?.into_iter().map(|(k, _)| k).collect();
        report.entries += h.remove_many(&keys)?;
        let key = meta_key(&v.prefix);
        h.store.write(h.opts.durability, 64, |txn, t| {
            // Only if nobody recorded a use since we listed it.
            let lm = h.store.lm("removing a function record");
            let still_idle = t
                .meta
                .get(txn, &key)
                .map_err(&lm)?
                .and_then(|b| serde_json::from_slice::<Recorded>(b).ok())
                .is_some_and(|r| r.namespace == v.namespace && clock::to_system_time(r.last_use_ms) <= v.last_use);
            if still_idle {
                t.meta.delete(txn, &key).map_err(&lm)?;
            }
            Ok(())
        })?;
        debug!(path = %h.store.path.display(), namespace = %v.namespace, "pruned a stale function version");
        report.versions.push(v.namespace.clone());
    }
    Ok(report)
}

/// The stale versions among `all`: superseded, idle for `min_idle`, and,
/// with `function`, of that function only.
fn stale(all: Vec<FunctionVersion>, min_idle: Duration, function: Option<&str>) -> Vec<FunctionVersion> {
    let now = SystemTime::now();
    all.into_iter()
        .filter(|v| v.superseded && function.is_none_or(|f| v.function == f))
        .filter(|v| now.duration_since(v.last_use).is_ok_and(|idle| idle >= min_idle))
        .collect()
}

/// Opens an existing database for listing and pruning; refuses a path that
/// holds none (nothing is created).
fn open_existing(path: &Path) -> Result<Handle> {
    if !path.join("data.mdb").is_file() {
        return Err(Error::InvalidOption {
            path: path.to_path_buf(),
            message: "no persistdict database here (no data.mdb); give the directory of a cache".into(),
        });
    }
    let mut opts = Options::new(path);
    opts.maintenance = Maintenance::Disabled;
    opts.lru_capacity = 0;
    Handle::open(opts)
}

/// The memoized functions recorded in the database at `path`, every
/// version of each, with their entries and bytes; oldest version first
/// within a function.
///
/// ```
/// # #[cfg(feature = "macros")] {
/// # let dir = tempfile::tempdir().unwrap();
/// # std::env::set_current_dir(dir.path()).unwrap();
/// #[persistdict::persist_cache(db = "cache/fns")]
/// fn double(x: u32) -> u32 { 2 * x }
///
/// double(1);
/// double(2);
/// let fns = persistdict::functions(double_cache(1).store().path()).unwrap();
/// assert_eq!(fns.len(), 1);
/// assert!(fns[0].function.ends_with("::double"));
/// assert_eq!(fns[0].entries, 2);
/// assert!(!fns[0].superseded);
/// # }
/// ```
///
/// # Errors
/// When `path` holds no database or it cannot be read.
pub fn functions(path: impl AsRef<Path>) -> Result<Vec<FunctionVersion>> {
    list(&open_existing(path.as_ref())?)
}

/// Removes the entries of every stale function version in the database at
/// `path`: superseded by a newer version of the same function and not used
/// for `min_idle` ([`DEFAULT_MIN_IDLE`] is a safe choice; see the module
/// docs for why a version still in use is never removed). A `min_idle`
/// shorter than twice [`USE_REFRESH`] can remove a version that a process
/// still calls: its record is refreshed only that often.
///
/// # Errors
/// When `path` holds no database or the writes fail.
pub fn prune_stale_versions(path: impl AsRef<Path>, min_idle: Duration) -> Result<PruneReport> {
    let h = open_existing(path.as_ref())?;
    let victims = stale(list(&h)?, min_idle, None);
    remove_versions(&h, &victims)
}

impl MemoStore {
    /// Records this call's use of the function version when due (see
    /// [`USE_REFRESH`]); with `prune = "auto"`, prunes older versions then.
    pub(crate) fn note_use(&self, h: &Handle) {
        let now = clock::now_ms();
        if !self.use_clock().due(now) {
            return;
        }
        if let Err(e) = record_use(h, self.namespace(), self.function_name(), &self.prefix(), now) {
            debug!(function = self.namespace(), error = %e, "persist_cache: cannot record the function's use");
            return;
        }
        if self.auto_prune() {
            let after = auto_prune_after();
            match self.prune_older(h, after, Some(after)) {
                Ok(r) if r.entries > 0 || !r.versions.is_empty() => {
                    debug!(function = self.namespace(), versions = ?r.versions, entries = r.entries, "persist_cache: auto-pruned old versions")
                }
                Ok(_) => {}
                Err(e) => warn!(function = self.namespace(), error = %e, "persist_cache: auto-prune failed"),
            }
        }
    }

    /// Removes the entries of this function's older versions (other
    /// namespaces of the same function path, superseded) not used for
    /// `min_idle`; [`DEFAULT_MIN_IDLE`] unless you know better.
    ///
    /// ```
    /// # #[cfg(feature = "macros")] {
    /// # let dir = tempfile::tempdir().unwrap();
    /// # std::env::set_current_dir(dir.path()).unwrap();
    /// use std::time::Duration;
    /// #[persistdict::persist_cache(db = "cache/prune")]
    /// fn triple(x: u32) -> u32 { 3 * x }
    ///
    /// triple(1);
    /// let report = triple_cache(1).store().prune_stale_versions(Duration::from_secs(3600)).unwrap();
    /// assert!(report.versions.is_empty()); // the only version is the current one
    /// assert!(triple_cache(1).is_cached());
    /// # }
    /// ```
    ///
    /// # Errors
    /// When the cache is off or the writes fail.
    pub fn prune_stale_versions(&self, min_idle: Duration) -> Result<PruneReport> {
        let h = self.handle().ok_or_else(|| self.off())?;
        self.prune_older(h, min_idle, None)
    }

    /// The versions of this function older than the current one, idle for
    /// `min_idle`, removed; with `current_for`, only once the current
    /// version was first used at least that long ago.
    fn prune_older(&self, h: &Handle, min_idle: Duration, current_for: Option<Duration>) -> Result<PruneReport> {
        let all = list(h)?;
        let Some(me) = all.iter().find(|v| v.namespace == self.namespace()) else {
            return Ok(PruneReport::default());
        };
        if let Some(age) = current_for
            && SystemTime::now().duration_since(me.first_use).map_or(true, |d| d < age)
        {
            return Ok(PruneReport::default());
        }
        let function = me.function.clone();
        let victims: Vec<FunctionVersion> =
            stale(all, min_idle, Some(&function)).into_iter().filter(|v| v.namespace != self.namespace()).collect();
        remove_versions(h, &victims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_round_trip_through_their_meta_key() {
        let p = [0, 1, 0xab, 0xff, 7, 8, 9, 0x10];
        let k = meta_key(&p);
        assert_eq!(&k[..4], b"fns/");
        assert_eq!(parse_prefix(&k[4..]), Some(p));
        assert_eq!(parse_prefix(b"zz"), None);
        assert_eq!(parse_prefix(b"zz00000000000000"), None);
    }

    #[test]
    fn a_use_is_recorded_once_per_refresh_period() {
        let c = UseClock::default();
        assert!(c.due(1_000));
        assert!(!c.due(1_001));
        let later = 1_000 + use_refresh_ms();
        assert!(c.due(later));
        assert!(!c.due(later + 1));
        // A clock that went back records again rather than never.
        assert!(c.due(5));
    }

    #[test]
    fn namespaces_split_into_function_and_version() {
        assert_eq!(split_namespace("a::b#12#b:34"), ("a::b".into(), "12#b:34".into()));
        assert_eq!(split_namespace("plain"), ("plain".into(), String::new()));
    }
}
