//! The memoizing call paths: look (a fresh result is a hit, a stale one is
//! kept aside), else compute once — once per process through the
//! dictionary layer's single flight, once per machine through a lease (see
//! `lease.rs`) — store the result and release the lease in one transaction.
//!
//! Policies, from the attribute:
//! - `single_flight = "machine"` (default) or `"process"`;
//! - `fresh_for`: a result older than this since it was computed is
//!   recomputed at the next call (the old one stays until the new one is
//!   stored); a result computed "in the future" (a clock that jumped back)
//!   counts as fresh up to the window, then as stale — never as forever
//!   fresh or of negative age;
//! - `on_error = "serve_stale"`: a `Result` function whose recomputation
//!   fails returns the last stored `Ok` (with a warning) instead.
//!
//! `async fn`s never block their executor on the disk: writes (the lease,
//! the result) run on the writer thread and waits sleep on the timer
//! thread (`offload.rs`); only read transactions, which never sync, run
//! inline.

use std::cell::Cell;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tracing::{debug, warn};

use crate::dict::handle::Handle;
use crate::memo::call::memo_types;
use crate::memo::capture::Capture;
use crate::memo::key::{CacheValue, KEY_LEN, Key, KeyBuilder};
use crate::memo::lease::{self, Holder, Lease, Renewal, Renewer};
use crate::memo::offload;
use crate::memo::store::MemoStore;
use crate::storage::clock;

/// The first and the longest pause between two looks of a waiter.
const MIN_POLL: Duration = Duration::from_millis(1);
const MAX_POLL: Duration = Duration::from_millis(100);
/// How long a thread that is itself computing a memoized call under a lease
/// waits for another process: two processes computing calls that need each
/// other's results would otherwise wait for each other forever.
const NESTED_WAIT: Duration = Duration::from_secs(2);
/// The longest any caller waits for another process's computation whose
/// lease stays alive, as a multiple of the lease timeout; then it computes
/// (with a warning). Async callers cannot be told nested from not (tasks
/// share threads), so this bound is theirs against mutual recursion.
const MAX_WAIT_LEASES: u32 = 4;

thread_local! {
    /// Calls this thread is computing under a lease.
    static LEADING: Cell<u32> = const { Cell::new(0) };
}

struct Leading;

impl Leading {
    fn enter() -> Leading {
        LEADING.with(|c| c.set(c.get() + 1));
        Leading
    }
}

impl Drop for Leading {
    fn drop(&mut self) {
        LEADING.with(|c| c.set(c.get().saturating_sub(1)));
    }
}

/// Whether a result computed at `ctime_ms` is fresh at `now_ms` for
/// `fresh_for_ms` (see the module docs for a ctime in the future).
pub(crate) fn is_fresh(ctime_ms: u64, now_ms: u64, fresh_for_ms: u64) -> bool {
    if ctime_ms > now_ms {
        return ctime_ms - now_ms <= fresh_for_ms;
    }
    now_ms - ctime_ms < fresh_for_ms
}

/// Held by the caller that computes under a lease: renews it meanwhile and,
/// unless the result was stored with it, releases it on drop — marked
/// failed, so that the waiters of the moment compute at once.
struct LeaseGuard {
    h: &'static Handle,
    key: [u8; KEY_LEN],
    lease: Option<Lease>,
    _renewal: Option<Renewal>,
}

impl LeaseGuard {
    fn new(store: &'static MemoStore, h: &'static Handle, key: [u8; KEY_LEN], lease: Option<Lease>) -> LeaseGuard {
        let renewal = lease.map(|l| Renewer::hold(store, key, l, store.policy().lease_timeout_ms));
        LeaseGuard { h, key, lease, _renewal: renewal }
    }

    /// The result was stored and the lease released with it.
    fn released(mut self) {
        self.lease = None;
    }

    /// Disarms the guard and hands its lease over (to be released elsewhere).
    fn take(&mut self) -> Option<Lease> {
        self.lease.take()
    }
}

impl Drop for LeaseGuard {
    fn drop(&mut self) {
        if let Some(l) = self.lease.take() {
            lease::release(self.h, &self.key, &l, true);
        }
    }
}

/// What a caller waiting on other processes ends with.
enum Waited<T> {
    /// Another process stored the result.
    Found(T),
    /// Compute, under this lease (`None`: without one).
    Lead(Option<Lease>),
}

/// One look at the lease: lead, wait, or compute at once.
enum Step {
    Lead(Lease),
    Wait,
    ComputeNow,
}

fn step(acquired: Option<std::result::Result<Lease, Holder>>) -> Step {
    match acquired {
        Some(Ok(l)) => Step::Lead(l),
        Some(Err(Holder::Failed)) => Step::ComputeNow,
        Some(Err(_)) | None => Step::Wait,
    }
}

/// Reads the lease of `key` and says whether to try to take it: `Some(true)`
/// free, `Some(false)` live, `None` failed or unreadable (compute at once).
fn free_to_take(store: &MemoStore, h: &Handle, key: &[u8; KEY_LEN]) -> Option<bool> {
    match lease::read(h, key) {
        Ok(l) => match lease::classify(l.as_ref(), clock::now_ms(), store.policy().lease_timeout_ms) {
            Holder::Free => Some(true),
            Holder::Live => Some(false),
            Holder::Failed => None,
        },
        Err(e) => {
            warn!(function = store.namespace(), error = %e, "persist_cache: cannot read the lease; computing");
            None
        }
    }
}

fn acquire(store: &MemoStore, h: &Handle, key: &[u8; KEY_LEN]) -> Option<std::result::Result<Lease, Holder>> {
    match lease::acquire(h, key, store.policy().lease_timeout_ms) {
        Ok(a) => Some(a),
        Err(e) => {
            warn!(function = store.namespace(), error = %e, "persist_cache: cannot take the lease; computing");
            Some(Err(Holder::Failed))
        }
    }
}

/// Counts and logs a waiter's first wait; true once it has waited long
/// enough (see [`waited_enough`]).
fn give_up_waiting(store: &MemoStore, counted: &mut bool, started: Instant, nested: bool) -> bool {
    if !*counted {
        *counted = true;
        store.counters().waited();
        debug!(function = store.namespace(), "persist_cache: another process computes this call; waiting");
    }
    waited_enough(store, started, nested)
}

/// Whether a waiter has waited long enough (see [`NESTED_WAIT`], [`MAX_WAIT_LEASES`]).
fn waited_enough(store: &MemoStore, started: Instant, nested: bool) -> bool {
    let max = Duration::from_millis(store.policy().lease_timeout_ms).saturating_mul(MAX_WAIT_LEASES);
    let limit = if nested { NESTED_WAIT.min(max) } else { max };
    if started.elapsed() < limit {
        return false;
    }
    warn!(
        function = store.namespace(),
        waited_ms = started.elapsed().as_millis() as u64,
        nested,
        "persist_cache: waited this long for another process computing the same call; computing it here too"
    );
    true
}

/// Single flight across processes, for a caller that leads in its own
/// process: take the lease, or wait for its holder's result.
fn machine_wait<T>(
    store: &'static MemoStore,
    h: &Handle,
    key: &[u8; KEY_LEN],
    look: &dyn Fn() -> Option<T>,
) -> Waited<T> {
    let nested = LEADING.with(Cell::get) > 0;
    let started = Instant::now();
    let mut pause = MIN_POLL;
    let mut counted = false;
    loop {
        let attempt = match free_to_take(store, h, key) {
            Some(true) => acquire(store, h, key),
            Some(false) => None,
            None => return Waited::Lead(None),
        };
        match step(attempt) {
            Step::Lead(l) => {
                // Another process may have stored the result between our
                // look and the lease.
                if let Some(v) = look() {
                    lease::release(h, key, &l, false);
                    return Waited::Found(v);
                }
                return Waited::Lead(Some(l));
            }
            Step::ComputeNow => return Waited::Lead(None),
            Step::Wait => {}
        }
        if give_up_waiting(store, &mut counted, started, nested) {
            return Waited::Lead(None);
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(MAX_POLL);
        if let Some(v) = look() {
            return Waited::Found(v);
        }
    }
}

/// [`machine_wait`] for async callers: the lease is written on the writer
/// thread and the pauses sleep on the timer thread.
async fn machine_wait_async<T>(
    store: &'static MemoStore,
    h: &'static Handle,
    key: [u8; KEY_LEN],
    look: &(dyn Fn() -> Option<T> + Sync),
) -> Waited<T> {
    let started = Instant::now();
    let mut pause = MIN_POLL;
    let mut counted = false;
    loop {
        let attempt = match free_to_take(store, h, &key) {
            Some(true) => Some(offload::run(move || acquire(store, h, &key)).await.unwrap_or(Err(Holder::Failed))),
            Some(false) => None,
            None => return Waited::Lead(None),
        };
        match step(attempt) {
            Step::Lead(l) => {
                if let Some(v) = look() {
                    offload::run(move || lease::release(h, &key, &l, false)).await;
                    return Waited::Found(v);
                }
                return Waited::Lead(Some(l));
            }
            Step::ComputeNow => return Waited::Lead(None),
            Step::Wait => {}
        }
        if give_up_waiting(store, &mut counted, started, false) {
            return Waited::Lead(None);
        }
        offload::sleep(pause).await;
        pause = (pause * 2).min(MAX_POLL);
        if let Some(v) = look() {
            return Waited::Found(v);
        }
    }
}

/// What the fast path found: a fresh stored result, or what the call path
/// needs to compute one.
#[doc(hidden)]
pub enum Prefetch<R> {
    /// A fresh stored result.
    Hit(R),
    /// No fresh result: compute.
    Miss(Ready),
    /// A stale result, for `refresh = "background"`: return it now and
    /// recompute in the background.
    Stale(R, Ready),
}

/// A call that missed: its key (`None`: run uncached — the cache is off,
/// bypassed, or the arguments did not encode).
#[doc(hidden)]
pub struct Ready {
    key: Option<Key>,
    capture: bool,
}

impl Ready {
    /// A capture to fill with the arguments, if this call stores them.
    #[doc(hidden)]
    pub fn capture(&self) -> Option<Capture> {
        (self.capture && self.key.is_some()).then(Capture::default)
    }
}

/// The hit path, run before the arguments are handed to the body: looks up
/// the call, and on a miss hands its key to [`memoize`] (which looks again
/// inside the single flight).
pub(crate) fn prefetch<T: CacheValue, R>(store: &'static MemoStore, kb: KeyBuilder, found: fn(T) -> R) -> Prefetch<R> {
    let types = store.types_of::<T>(memo_types::<T>);
    let (Some(h), false) = (store.handle(), store.bypassed()) else {
        return Prefetch::Miss(Ready { key: None, capture: false });
    };
    store.note_use(h);
    let Some(key) = kb.finish() else { return Prefetch::Miss(Ready { key: None, capture: false }) };
    let stale = Mutex::new(None);
    match store.look(h, &key, &types, &stale) {
        Some(v) => {
            store.counters().hit();
            Prefetch::Hit(found(v))
        }
        None => {
            let old = stale.into_inner().unwrap_or_else(|e| e.into_inner());
            let ready = Ready { key: Some(key), capture: store.captures_args() };
            match old {
                Some(v) if store.policy().refresh_background => {
                    store.counters().hit();
                    Prefetch::Stale(found(v), ready)
                }
                _ => Prefetch::Miss(ready),
            }
        }
    }
}

/// `refresh = "background"`: recomputes a stale call on a thread of its
/// own, single-flighted (no thread when one is already computing it).
pub(crate) fn refresh<T: CacheValue + 'static, R: 'static>(
    store: &'static MemoStore,
    ready: Ready,
    capture: Option<Capture>,
    body: impl FnOnce() -> R + Send + 'static,
    stored: fn(&R) -> Option<&T>,
    found: fn(T) -> R,
) {
    let (Some(h), Some(key)) = (store.handle(), &ready.key) else { return };
    if h.flights.in_flight(&key.0) {
        return;
    }
    debug!(function = store.namespace(), "persist_cache: stale; refreshing in the background");
    let spawned = std::thread::Builder::new().name("persistdict-refresh".into()).spawn(move || {
        memoize(store, ready, capture, body, stored, found);
    });
    if let Err(e) = spawned {
        warn!(function = store.namespace(), error = %e, "persist_cache: cannot start a background refresh");
    }
}

/// The call path of sync functions after a [`prefetch`] miss: `stored`
/// picks what of a result is kept (`found` turns a stored value back into a
/// result).
pub(crate) fn memoize<T: CacheValue, R>(
    store: &'static MemoStore,
    ready: Ready,
    capture: Option<Capture>,
    body: impl FnOnce() -> R,
    stored: fn(&R) -> Option<&T>,
    found: fn(T) -> R,
) -> R {
    let types = store.types_of::<T>(memo_types::<T>);
    let (Some(h), Some(key)) = (store.handle(), ready.key) else { return body() };
    let stale: Mutex<Option<T>> = Mutex::new(None);
    let look = || store.look(h, &key, &types, &stale);
    let succeeded = Cell::new(true);
    let counters = store.counters();
    h.flights.run(
        &key.0,
        &look,
        |v| {
            counters.hit();
            found(v)
        },
        || {
            counters.miss();
            let lease = if store.policy().machine {
                match machine_wait(store, h, &key.0, &look) {
                    Waited::Found(v) => {
                        counters.hit();
                        return found(v);
                    }
                    Waited::Lead(l) => l,
                }
            } else {
                None
            };
            let guard = LeaseGuard::new(store, h, key.0, lease);
            let compute = || {
                let leading = Leading::enter();
                let t0 = Instant::now();
                let r = body();
                drop(leading);
                let took = t0.elapsed();
                counters.computed(store, took);
                (r, took)
            };
            // The remote tier: its value (stored below like a computed one),
            // else `compute` once in the fleet; `remote` publishes it.
            #[cfg(feature = "redis")]
            let ((r, took), remote) = crate::remote::lead(store, &key, &types, |v| (found(v), Duration::ZERO), compute);
            #[cfg(not(feature = "redis"))]
            let (r, took) = compute();
            match stored(&r) {
                Some(v) => {
                    let args = capture.map(|c| c.finish(took));
                    if let Some(bytes) = store.prepare_value(v)
                        && store.put_value(h, &key, &bytes, &types, lease.as_ref(), args.as_deref())
                    {
                        guard.released();
                    }
                    #[cfg(feature = "redis")]
                    remote.publish(&key, v, &types);
                    r
                }
                None => {
                    succeeded.set(false);
                    counters.failed();
                    drop(guard);
                    match stale.lock().unwrap_or_else(|e| e.into_inner()).take().filter(|_| store.policy().serve_stale)
                    {
                        Some(old) => {
                            counters.served_stale(store);
                            found(old)
                        }
                        None => r,
                    }
                }
            }
        },
        |_| succeeded.get(),
    )
}

/// [`memoize`] for `async fn`s.
pub(crate) async fn memoize_async<T: CacheValue + Send, R>(
    store: &'static MemoStore,
    ready: Ready,
    capture: Option<Capture>,
    body: impl Future<Output = R>,
    stored: fn(&R) -> Option<&T>,
    found: fn(T) -> R,
) -> R {
    let types = store.types_of::<T>(memo_types::<T>);
    let (Some(h), Some(key)) = (store.handle(), ready.key) else { return body.await };
    let stale: Mutex<Option<T>> = Mutex::new(None);
    let look = || store.look(h, &key, &types, &stale);
    let succeeded = std::sync::atomic::AtomicBool::new(true);
    let counters = store.counters();
    let lead = async {
        counters.miss();
        let lease = if store.policy().machine {
            match machine_wait_async(store, h, key.0, &look).await {
                Waited::Found(v) => {
                    counters.hit();
                    return found(v);
                }
                Waited::Lead(l) => l,
            }
        } else {
            None
        };
        let guard = LeaseGuard::new(store, h, key.0, lease);
        let compute = async {
            let t0 = Instant::now();
            let r = body.await;
            let took = t0.elapsed();
            counters.computed(store, took);
            (r, took)
        };
        // As in `memoize`: the remote tier's value, or `compute` once in the fleet.
        #[cfg(feature = "redis")]
        let ((r, took), remote) =
            crate::remote::lead_async(store, &key, &types, |v| (found(v), Duration::ZERO), compute).await;
        #[cfg(not(feature = "redis"))]
        let (r, took) = compute.await;
        match stored(&r) {
            Some(v) => {
                if let Some(bytes) = store.prepare_value(v) {
                    let k = key.clone();
                    let args = capture.map(|c| c.finish(took));
                    let put =
                        offload::run(move || store.put_value(h, &k, &bytes, &types, lease.as_ref(), args.as_deref()));
                    if put.await {
                        guard.released();
                    }
                }
                #[cfg(feature = "redis")]
                remote.publish(&key, v, &types);
                r
            }
            None => {
                succeeded.store(false, std::sync::atomic::Ordering::Relaxed);
                counters.failed();
                let mut guard = guard;
                if let Some(l) = guard.take() {
                    drop(guard);
                    let k = key.0;
                    offload::run(move || lease::release(h, &k, &l, true)).await;
                }
                match stale.lock().unwrap_or_else(|e| e.into_inner()).take().filter(|_| store.policy().serve_stale) {
                    Some(old) => {
                        counters.served_stale(store);
                        found(old)
                    }
                    None => r,
                }
            }
        }
    };
    h.flights
        .run_async(
            &key.0,
            &look,
            |v| {
                counters.hit();
                found(v)
            },
            lead,
            |_| succeeded.load(std::sync::atomic::Ordering::Relaxed),
        )
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freshness_counts_from_the_computation_and_distrusts_the_future() {
        assert!(is_fresh(1_000, 1_500, 1_000));
        assert!(!is_fresh(1_000, 2_000, 1_000));
        // Computed "in the future": fresh up to the window, then stale.
        assert!(is_fresh(2_500, 2_000, 1_000));
        assert!(!is_fresh(3_001, 2_000, 1_000));
    }
}
