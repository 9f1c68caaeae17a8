//! Maintenance: expiry sweeps and stale reader slots, at open and then
//! periodically, in a background thread per environment.
//!
//! The thread holds only a weak reference to the store, so it never keeps a
//! directory open; the last handle's drop stops and joins it, and a sweep in
//! progress stops at its next batch once no handle is left. Expiry is per
//! entry: a run removes what is due under each entry's own window (the
//! window of whoever last wrote it), whatever the windows of the handles
//! open now.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::thread::{JoinHandle, ThreadId};
use std::time::{Duration, Instant};

use tracing::{debug, info, warn};

use crate::error::Result;
use crate::storage::clock;
use crate::storage::store::Durability;
use crate::storage::store::Store;

/// When expired entries are removed besides explicit [`PersistDict::expire`](crate::PersistDict::expire) calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Maintenance {
    /// `open` looks up the oldest atime (one B-tree lookup); if anything is
    /// due, a background thread sweeps it while `open` returns at once. The
    /// thread then runs every `maintenance_interval`. Where nothing is due at
    /// open, the thread starts at the first operation one interval later, so
    /// a short-lived process never starts one. The thread holds no reference
    /// to the database: dropping the last handle stops and joins it.
    #[default]
    Background,
    /// Maintenance runs inside `open`, which returns when it is done (or its
    /// timeout passed); nothing runs later on its own.
    Foreground,
    /// Never; call [`PersistDict::expire`](crate::PersistDict::expire) yourself.
    Disabled,
}

/// What one handle asks of maintenance.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HandlePlan {
    pub durability: Durability,
    pub timeout: Duration,
    pub interval: Duration,
    pub background: bool,
}

#[derive(Default)]
struct State {
    handles: HashMap<u64, HandlePlan>,
    thread: Option<JoinHandle<()>>,
    thread_id: Option<ThreadId>,
    stop: bool,
    requested: u64,
    completed: u64,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    cv: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The maintenance state of one environment.
pub(crate) struct EnvMaintenance {
    shared: Arc<Shared>,
    /// When an operation should start the periodic thread (ms since the
    /// epoch); `u64::MAX` once it runs or when nothing asked for it.
    next_check: AtomicU64,
}

impl Default for EnvMaintenance {
    fn default() -> Self {
        EnvMaintenance { shared: Arc::default(), next_check: AtomicU64::new(u64::MAX) }
    }
}

/// What a run did.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct RunReport {
    pub expired: usize,
    pub stale_readers: usize,
    pub interrupted: bool,
}

impl EnvMaintenance {
    /// Registers a handle and says what a `Background` open needs: a run
    /// now (something is due: the returned ticket is what `wait` waits for),
    /// or nothing yet (ticket 0; the thread starts when the first operation
    /// after one interval finds it missing, see [`tick`](Self::tick)).
    ///
    /// The thread is started lazily so that opening a database where nothing
    /// is due costs no thread (a short-lived process never starts one).
    pub fn register(&self, store: &Arc<Store>, id: u64, plan: HandlePlan, due_now: bool) -> u64 {
        self.shared.lock().handles.insert(id, plan);
        if !plan.background {
            return 0;
        }
        if due_now {
            return self.request_run(store);
        }
        let next = clock::now_ms().saturating_add(clock::duration_ms(plan.interval));
        self.next_check.fetch_min(next, Ordering::Relaxed);
        0
    }

    /// Starts the periodic thread when its time has come. One atomic load
    /// on the hot path.
    pub fn tick(&self, store: &Arc<Store>, now_ms: u64) {
        // In a fork child nothing starts: the operation itself reports
        // OpenedBeforeFork.
        if now_ms >= self.next_check.load(Ordering::Relaxed)
            && !store.forked()
            && self.next_check.swap(u64::MAX, Ordering::Relaxed) != u64::MAX
        {
            self.request_run(store);
        }
    }

    /// Asks the thread for a run, starting it if needed; returns the ticket.
    pub fn request_run(&self, store: &Arc<Store>) -> u64 {
        self.next_check.store(u64::MAX, Ordering::Relaxed);
        let mut s = self.shared.lock();
        s.requested += 1;
        let ticket = s.requested;
        if s.thread.is_none() && !s.stop {
            let weak = Arc::downgrade(store);
            let shared = self.shared.clone();
            let spawned = std::thread::Builder::new()
                .name("persistdict-maintenance".into())
                .stack_size(128 << 10)
                .spawn(move || thread_main(weak, shared));
            match spawned {
                Ok(handle) => {
                    s.thread_id = Some(handle.thread().id());
                    s.thread = Some(handle);
                }
                Err(e) => {
                    warn!(path = %store.path.display(), error = %e, "could not start the maintenance thread; expiry runs only through expire()");
                    s.completed = s.requested;
                }
            }
        }
        self.shared.cv.notify_all();
        ticket
    }

    pub fn unregister(&self, id: u64) {
        self.shared.lock().handles.remove(&id);
    }

    /// Waits until run `ticket` finished; true if it did within `timeout`.
    pub fn wait(&self, ticket: u64, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut s = self.shared.lock();
        while s.completed < ticket {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            s = self.shared.cv.wait_timeout(s, left).unwrap_or_else(|e| e.into_inner()).0;
        }
        true
    }

    /// Stops the thread and joins it (unless called from it). Runs when the
    /// store that holds this state drops (see `Extensions`).
    pub fn stop(&self) {
        let (thread, thread_id) = {
            let mut s = self.shared.lock();
            s.stop = true;
            (s.thread.take(), s.thread_id)
        };
        self.shared.cv.notify_all();
        if let Some(t) = thread
            && thread_id != Some(std::thread::current().id())
        {
            let _ = t.join();
        }
    }
}

impl Drop for EnvMaintenance {
    fn drop(&mut self) {
        self.stop();
    }
}

fn combined(s: &State) -> Option<HandlePlan> {
    let mut plans = s.handles.values();
    let first = *plans.next()?;
    Some(plans.fold(first, |acc, p| HandlePlan {
        durability: acc.durability,
        timeout: acc.timeout.max(p.timeout),
        interval: acc.interval.min(p.interval),
        background: acc.background || p.background,
    }))
}

fn thread_main(weak: Weak<Store>, shared: Arc<Shared>) {
    loop {
        let (target, plan) = {
            let s = shared.lock();
            if s.stop {
                break;
            }
            (s.requested, combined(&s))
        };
        let Some(store) = weak.upgrade() else { break };
        if let Some(plan) = plan {
            let _ = run(&store, plan.durability, plan.timeout);
        }
        drop(store);
        let mut s = shared.lock();
        s.completed = s.completed.max(target);
        shared.cv.notify_all();
        let interval = plan.map_or(Duration::from_secs(600), |p| p.interval);
        let deadline = Instant::now() + interval;
        while !s.stop && s.requested <= s.completed {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            s = shared.cv.wait_timeout(s, left).unwrap_or_else(|e| e.into_inner()).0;
        }
    }
    let mut s = shared.lock();
    s.completed = s.requested;
    shared.cv.notify_all();
}

/// One maintenance run: clear stale reader slots, then remove what expired
/// under each entry's own window, in batches, until nothing is due, `timeout`
/// passed or the last handle is gone. Where nothing is due it costs one
/// lookup per distinct window.
pub(crate) fn run(store: &Store, durability: Durability, timeout: Duration) -> Result<RunReport> {
    store.check_fork()?;
    let started = Instant::now();
    let mut report = RunReport { stale_readers: store.env.clear_stale_readers().unwrap_or(0), ..RunReport::default() };
    (report.expired, report.interrupted) =
        store.expire_due(durability, started.checked_add(timeout)).inspect_err(|e| {
            warn!(path = %store.path.display(), error = %e, "maintenance: expiry failed");
        })?;
    if report.expired > 0 || report.stale_readers > 0 || report.interrupted {
        info!(path = %store.path.display(), expired = report.expired, stale_readers = report.stale_readers,
            interrupted = report.interrupted, elapsed_ms = started.elapsed().as_millis() as u64, "maintenance run");
    } else {
        debug!(path = %store.path.display(), "maintenance run: nothing due");
    }
    Ok(report)
}
