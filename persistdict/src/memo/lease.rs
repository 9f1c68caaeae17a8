//! Single flight across processes: the lease a leader writes before it
//! computes a call, and what a waiter in another process concludes from it.
//!
//! A lease is a row of the meta table, `lease/<32-byte call key>`:
//!
//! ```text
//! offset size field
//!      0    4 magic "PDLS"
//!      4    1 layout version (1)
//!      5    1 state: 0 = computing, 1 = the computation failed
//!      6    2 zero
//!      8    4 pid         u32 LE
//!     12    4 zero
//!     16    8 start       u64 LE  the process's start time (ticks since boot, /proc/<pid>/stat)
//!     24    8 boot        u64 LE  a digest of the kernel's boot id
//!     32    8 started_ms  u64 LE
//!     40    8 renewed_ms  u64 LE
//!     48    8 token       u64 LE  random per lease
//! ```
//!
//! The leader writes it in one write transaction (`NoSync`: a lease lost in
//! an OS crash only costs a second computation) and removes it in the
//! transaction that stores the result, so a miss costs two write
//! transactions. Its process renews it every third of the lease timeout
//! while the computation runs ([`Renewer`]).
//!
//! A waiter takes the lease over — in a write transaction that re-reads it,
//! so exactly one waiter does — when the holder is gone: another boot, no
//! process with that pid, or a process with that pid but another start time
//! (a reused pid is not mistaken for the leader), or a lease not renewed
//! within the timeout (a frozen process), or one renewed "in the future"
//! beyond the timeout (a clock that jumped is not trusted forever).
//!
//! A leader whose computation fails (an `Err`, a panic) marks its lease
//! failed instead of removing it: the waiters of that moment then compute
//! at once, each on its own, rather than one after another (see
//! [`Holder::Failed`]). A failed mark older than [`FAILED_FOR`] is ignored.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex, OnceLock};
use std::time::Duration;

use heed::RwTxn;
use tracing::{debug, warn};

use crate::dict::handle::Handle;
use crate::error::Result;
use crate::memo::key::KEY_LEN;
use crate::memo::store::MemoStore;
use crate::storage::clock;
use crate::storage::store::Durability;

const MAGIC: &[u8; 4] = b"PDLS";
const LAYOUT: u8 = 1;
const ROW_LEN: usize = 56;
const COMPUTING: u8 = 0;
const FAILED: u8 = 1;
const LEASE_PREFIX: &[u8] = b"lease/";

/// How long a failed mark makes the waiters of that moment compute at once.
pub(crate) const FAILED_FOR: Duration = Duration::from_secs(5);

/// Who a process is, as far as leases tell: pid, start time, boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProcessId {
    pub pid: u32,
    pub start: u64,
    pub boot: u64,
}

impl ProcessId {
    /// This process (computed once per process; a fork child gets its own
    /// pid, hence the check).
    pub(crate) fn current() -> ProcessId {
        static CACHED: Mutex<Option<ProcessId>> = Mutex::new(None);
        let pid = std::process::id();
        let mut c = CACHED.lock().unwrap_or_else(|e| e.into_inner());
        match *c {
            Some(p) if p.pid == pid => p,
            _ => {
                let p = ProcessId { pid, start: start_time(pid).unwrap_or(0), boot: boot_id() };
                *c = Some(p);
                p
            }
        }
    }
}

/// The start time of process `pid` (field 22 of `/proc/<pid>/stat`), if it exists.
#[cfg(target_os = "linux")]
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold anything.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

#[cfg(not(target_os = "linux"))]
fn start_time(_pid: u32) -> Option<u64> {
    None
}

fn boot_id() -> u64 {
    static BOOT: OnceLock<u64> = OnceLock::new();
    *BOOT.get_or_init(|| {
        let id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default();
        use sha2::Digest;
        let d = sha2::Sha256::digest(id.trim().as_bytes());
        u64::from_le_bytes(d[..8].try_into().unwrap_or_default())
    })
}

/// Whether the process that wrote a lease still runs.
fn alive(p: &ProcessId) -> bool {
    if p.boot != boot_id() {
        return false;
    }
    #[cfg(unix)]
    {
        let Ok(pid) = libc::pid_t::try_from(p.pid) else { return false };
        // SAFETY: signal 0 only checks that the process exists.
        let exists =
            unsafe { libc::kill(pid, 0) } == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
        if !exists {
            return false;
        }
    }
    match start_time(p.pid) {
        Some(start) => start == p.start,
        // Not Linux, or the process ended meanwhile.
        None => cfg!(not(target_os = "linux")),
    }
}

/// A lease row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Lease {
    pub holder: ProcessId,
    pub failed: bool,
    pub started_ms: u64,
    pub renewed_ms: u64,
    pub token: u64,
}

impl Lease {
    fn encode(&self) -> [u8; ROW_LEN] {
        let mut b = [0u8; ROW_LEN];
        b[..4].copy_from_slice(MAGIC);
        b[4] = LAYOUT;
        b[5] = if self.failed { FAILED } else { COMPUTING };
        b[8..12].copy_from_slice(&self.holder.pid.to_le_bytes());
        b[16..24].copy_from_slice(&self.holder.start.to_le_bytes());
        b[24..32].copy_from_slice(&self.holder.boot.to_le_bytes());
        b[32..40].copy_from_slice(&self.started_ms.to_le_bytes());
        b[40..48].copy_from_slice(&self.renewed_ms.to_le_bytes());
        b[48..56].copy_from_slice(&self.token.to_le_bytes());
        b
    }

    /// `None` for a row that is not a lease of this layout (treated as no lease).
    fn decode(b: &[u8]) -> Option<Lease> {
        if b.len() != ROW_LEN || &b[..4] != MAGIC || b[4] != LAYOUT || b[5] > FAILED {
            return None;
        }
        let u64_at = |i: usize| b[i..i + 8].try_into().ok().map(u64::from_le_bytes);
        Some(Lease {
            holder: ProcessId {
                pid: u32::from_le_bytes(b[8..12].try_into().ok()?),
                start: u64_at(16)?,
                boot: u64_at(24)?,
            },
            failed: b[5] == FAILED,
            started_ms: u64_at(32)?,
            renewed_ms: u64_at(40)?,
            token: u64_at(48)?,
        })
    }
}

/// What a waiter makes of the lease of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Holder {
    /// No lease, or its holder is gone: the call is free to lead.
    Free,
    /// A live process computes it: wait.
    Live,
    /// Its computation just failed: compute at once, without a lease.
    Failed,
}

/// Classifies `lease` at `now_ms` for a lease timeout of `timeout_ms`.
pub(crate) fn classify(lease: Option<&Lease>, now_ms: u64, timeout_ms: u64) -> Holder {
    let Some(l) = lease else { return Holder::Free };
    if l.failed {
        let recent = now_ms.abs_diff(l.renewed_ms) < clock::duration_ms(FAILED_FOR);
        return if recent { Holder::Failed } else { Holder::Free };
    }
    let me = ProcessId::current();
    // A lease of this process that this process is not computing (its
    // leader would hold the in-process flight): left by a leader that could
    // not release it.
    if l.holder == me {
        return Holder::Free;
    }
    let expired = now_ms > l.renewed_ms.saturating_add(timeout_ms);
    let from_the_future = l.renewed_ms > now_ms.saturating_add(timeout_ms);
    if expired || from_the_future || !alive(&l.holder) {
        return Holder::Free;
    }
    Holder::Live
}

pub(crate) fn lease_key(key: &[u8; KEY_LEN]) -> Vec<u8> {
    let mut k = Vec::with_capacity(LEASE_PREFIX.len() + KEY_LEN);
    k.extend_from_slice(LEASE_PREFIX);
    k.extend_from_slice(key);
    k
}

/// The lease of `key`, read in a read transaction.
pub(crate) fn read(h: &Handle, key: &[u8; KEY_LEN]) -> Result<Option<Lease>> {
    let k = lease_key(key);
    h.store.read(|txn, t| Ok(t.meta.get(txn, &k).map_err(h.store.lm("reading a lease"))?.and_then(Lease::decode)))
}

fn random_token() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    use sha2::Digest;
    let d =
        sha2::Sha256::digest([t.to_le_bytes(), n.to_le_bytes(), u64::from(std::process::id()).to_le_bytes()].concat());
    u64::from_le_bytes(d[..8].try_into().unwrap_or_default())
}

/// Tries to take the lease of `key`: in one write transaction, reads it
/// and, if it is free, writes ours. `Ok(Ok(lease))`: ours; `Ok(Err(h))`:
/// not free (`h` says why).
pub(crate) fn acquire(h: &Handle, key: &[u8; KEY_LEN], timeout_ms: u64) -> Result<std::result::Result<Lease, Holder>> {
    let k = lease_key(key);
    h.store.write(Durability::NoSync, 128, |txn, t| {
        let lm = h.store.lm("taking a lease");
        let now = clock::now_ms();
        let current = t.meta.get(txn, &k).map_err(&lm)?.and_then(Lease::decode);
        match classify(current.as_ref(), now, timeout_ms) {
            Holder::Free => {
                let lease = Lease {
                    holder: ProcessId::current(),
                    failed: false,
                    started_ms: now,
                    renewed_ms: now,
                    token: random_token(),
                };
                t.meta.put(txn, &k, &lease.encode()).map_err(&lm)?;
                Ok(Ok(lease))
            }
            other => Ok(Err(other)),
        }
    })
}

/// Inside the transaction that stores the result: removes `lease` if it is
/// still ours (a waiter may have taken it over meanwhile).
pub(crate) fn release_in(h: &Handle, txn: &mut RwTxn<'_>, key: &[u8; KEY_LEN], lease: &Lease) -> Result<()> {
    let k = lease_key(key);
    let lm = h.store.lm("releasing a lease");
    let ours =
        h.store.t.meta.get(txn, &k).map_err(&lm)?.and_then(Lease::decode).is_some_and(|l| l.token == lease.token);
    if ours {
        h.store.t.meta.delete(txn, &k).map_err(&lm)?;
    }
    Ok(())
}

/// Releases `lease` without a result: marks it failed (the computation
/// failed) or removes it (nothing to share).
pub(crate) fn release(h: &Handle, key: &[u8; KEY_LEN], lease: &Lease, failed: bool) {
    let k = lease_key(key);
    let r = h.store.write(Durability::NoSync, 128, |txn, t| {
        let lm = h.store.lm("releasing a lease");
        let ours = t.meta.get(txn, &k).map_err(&lm)?.and_then(Lease::decode).is_some_and(|l| l.token == lease.token);
        if !ours {
            return Ok(());
        }
        if failed {
            let marked = Lease { failed: true, renewed_ms: clock::now_ms(), ..*lease };
            t.meta.put(txn, &k, &marked.encode()).map_err(&lm)
        } else {
            t.meta.delete(txn, &k).map_err(&lm).map(|_| ())
        }
    });
    if let Err(e) = r {
        warn!(error = %e, "persist_cache: cannot release a lease; other processes take it over when it times out");
    }
}

/// Renews `lease` if it is still ours; false when it is not.
fn renew(h: &Handle, key: &[u8; KEY_LEN], lease: &Lease) -> Result<bool> {
    let k = lease_key(key);
    h.store.write(Durability::NoSync, 128, |txn, t| {
        let lm = h.store.lm("renewing a lease");
        let Some(cur) = t.meta.get(txn, &k).map_err(&lm)?.and_then(Lease::decode) else { return Ok(false) };
        if cur.token != lease.token || cur.failed {
            return Ok(false);
        }
        let renewed = Lease { renewed_ms: clock::now_ms(), ..cur };
        t.meta.put(txn, &k, &renewed.encode()).map_err(&lm)?;
        Ok(true)
    })
}

/// The leases this process holds, renewed by one background thread.
pub(crate) struct Renewer {
    active: Mutex<HashMap<u64, Active>>,
    started: Mutex<Option<u32>>,
}

struct Active {
    store: &'static MemoStore,
    key: [u8; KEY_LEN],
    lease: Lease,
    every_ms: u64,
    last_ms: u64,
}

static RENEWER: LazyLock<Renewer> = LazyLock::new(|| Renewer { active: Mutex::default(), started: Mutex::new(None) });

/// Held while a lease is being computed under: registered with the
/// renewer, unregistered on drop.
pub(crate) struct Renewal {
    token: u64,
}

impl Drop for Renewal {
    fn drop(&mut self) {
        RENEWER.active.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.token);
    }
}

impl Renewer {
    /// Renews `lease` every third of `timeout_ms` until the returned guard drops.
    pub(crate) fn hold(store: &'static MemoStore, key: [u8; KEY_LEN], lease: Lease, timeout_ms: u64) -> Renewal {
        let every_ms = (timeout_ms / 3).max(1);
        RENEWER
            .active
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(lease.token, Active { store, key, lease, every_ms, last_ms: lease.renewed_ms });
        RENEWER.ensure_thread();
        Renewal { token: lease.token }
    }

    /// One thread per process (a fork child starts its own).
    fn ensure_thread(&self) {
        let pid = std::process::id();
        let mut started = self.started.lock().unwrap_or_else(|e| e.into_inner());
        if *started == Some(pid) {
            return;
        }
        let spawned = std::thread::Builder::new().name("persistdict-lease".into()).spawn(|| RENEWER.run());
        match spawned {
            Ok(_) => *started = Some(pid),
            Err(e) => {
                warn!(error = %e, "persist_cache: cannot start the lease renewer; long computations may be taken over")
            }
        }
    }

    fn run(&self) {
        loop {
            let now = clock::now_ms();
            let due: Vec<(u64, &'static MemoStore, [u8; KEY_LEN], Lease)> = {
                let active = self.active.lock().unwrap_or_else(|e| e.into_inner());
                active
                    .iter()
                    .filter(|(_, a)| now.saturating_sub(a.last_ms) >= a.every_ms)
                    .map(|(t, a)| (*t, a.store, a.key, a.lease))
                    .collect()
            };
            for (token, store, key, lease) in due {
                let Some(h) = store.handle() else { continue };
                match renew(h, &key, &lease) {
                    Ok(true) => {
                        if let Some(a) = self.active.lock().unwrap_or_else(|e| e.into_inner()).get_mut(&token) {
                            a.last_ms = now;
                        }
                    }
                    Ok(false) => {
                        debug!(function = store.namespace(), "persist_cache: a lease was taken over; not renewing it");
                        self.active.lock().unwrap_or_else(|e| e.into_inner()).remove(&token);
                    }
                    Err(e) => warn!(function = store.namespace(), error = %e, "persist_cache: cannot renew a lease"),
                }
            }
            let sleep_ms = {
                let active = self.active.lock().unwrap_or_else(|e| e.into_inner());
                active.values().map(|a| a.every_ms).min().unwrap_or(1_000).clamp(5, 1_000)
            };
            std::thread::sleep(Duration::from_millis(sleep_ms));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(holder: ProcessId, renewed_ms: u64) -> Lease {
        Lease { holder, failed: false, started_ms: renewed_ms, renewed_ms, token: 7 }
    }

    #[test]
    fn rows_round_trip_and_garbage_is_no_lease() {
        let l = Lease { failed: true, ..lease(ProcessId { pid: 42, start: 9, boot: 3 }, 1234) };
        assert_eq!(Lease::decode(&l.encode()), Some(l));
        assert_eq!(Lease::decode(b"garbage"), None);
        let mut b = l.encode();
        b[5] = 9;
        assert_eq!(Lease::decode(&b), None);
    }

    #[test]
    fn the_holder_is_judged_by_pid_start_time_boot_and_clock() {
        let now = 1_000_000;
        let me = ProcessId::current();
        // This process's own lease, outside its flight: left behind.
        assert_eq!(classify(Some(&lease(me, now)), now, 10_000), Holder::Free);
        // Our parent is alive (the test harness): live.
        let parent = std::os::unix::process::parent_id();
        let p = ProcessId { pid: parent, start: start_time(parent).unwrap_or(0), boot: boot_id() };
        assert_eq!(classify(Some(&lease(p, now)), now, 10_000), Holder::Live);
        // Same pid, another start time: a reused pid.
        let reused = ProcessId { start: p.start + 1, ..p };
        assert_eq!(classify(Some(&lease(reused, now)), now, 10_000), Holder::Free);
        // Another boot.
        assert_eq!(classify(Some(&lease(ProcessId { boot: p.boot ^ 1, ..p }, now)), now, 10_000), Holder::Free);
        // Not renewed within the timeout: a frozen leader.
        assert_eq!(classify(Some(&lease(p, now - 10_001)), now, 10_000), Holder::Free);
        // Renewed in the future beyond the timeout: not trusted.
        assert_eq!(classify(Some(&lease(p, now + 10_001)), now, 10_000), Holder::Free);
        assert_eq!(classify(Some(&lease(p, now + 5_000)), now, 10_000), Holder::Live);
        // A failed mark: compute at once while recent, else free.
        let failed = Lease { failed: true, ..lease(p, now) };
        assert_eq!(classify(Some(&failed), now + 10, 10_000), Holder::Failed);
        assert_eq!(classify(Some(&failed), now + 60_000, 10_000), Holder::Free);
        assert_eq!(classify(None, now, 10_000), Holder::Free);
    }
}
