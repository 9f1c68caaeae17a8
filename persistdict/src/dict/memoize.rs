//! Memoization: `get_or_insert_with`, `try_get_or_insert_with`, and the
//! per-key single-flight registry they (and `#[persist_cache]`) use.
//!
//! Single flight is per key: concurrent callers with the same key in one
//! process wait for one computation; callers with different keys never wait
//! on each other (there is no global lock). No transaction is held while the
//! computation runs.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll, Waker};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::codec::Codec;
use crate::dict::persist_dict::PersistDict;
use crate::error::Result;

#[derive(Default)]
struct FlightState {
    done: bool,
    /// The leader's computation failed (an `Err`, a panic): its followers
    /// compute at once, each on its own, instead of leading one after
    /// another (see `Flights::run`).
    failed: bool,
    wakers: Vec<Waker>,
}

/// One computation in progress.
pub(crate) struct Flight {
    state: Mutex<FlightState>,
    cv: Condvar,
    /// The thread that leads it: a call for the same key from that thread
    /// is a re-entrant call from inside the computation, which must not
    /// wait for itself.
    leader: std::thread::ThreadId,
}

impl Flight {
    fn lock(&self) -> std::sync::MutexGuard<'_, FlightState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Blocks until the leader finished; true if it failed.
    pub(crate) fn wait(&self) -> bool {
        let mut s = self.lock();
        while !s.done {
            s = self.cv.wait(s).unwrap_or_else(|e| e.into_inner());
        }
        s.failed
    }

    /// Waits without blocking the executor thread.
    pub(crate) fn wait_async(self: &Arc<Self>) -> FlightWait {
        FlightWait(self.clone())
    }
}

/// The future of [`Flight::wait_async`].
pub(crate) struct FlightWait(Arc<Flight>);

impl Future for FlightWait {
    /// Whether the leader failed.
    type Output = bool;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<bool> {
        let mut s = self.0.lock();
        if s.done {
            return Poll::Ready(s.failed);
        }
        if !s.wakers.iter().any(|w| w.will_wake(cx.waker())) {
            s.wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

/// The registry of computations in progress, per environment.
#[derive(Default)]
pub(crate) struct Flights {
    map: Mutex<HashMap<Vec<u8>, Arc<Flight>>>,
}

/// What a caller is in a flight.
enum Role<'a> {
    /// Compute and store; dropping the guard (even by a panic) releases the
    /// followers, who then look again.
    Leader(LeaderGuard<'a>),
    /// Wait for the leader, then look again.
    Follower(Arc<Flight>),
    /// Called again for the same key from inside the leader's computation
    /// (on its thread): compute without single flight rather than wait for
    /// ourselves forever.
    Reentrant,
}

/// Held by the one caller that computes.
struct LeaderGuard<'a> {
    flights: &'a Flights,
    key: Vec<u8>,
    flight: Arc<Flight>,
    succeeded: bool,
}

impl Drop for LeaderGuard<'_> {
    fn drop(&mut self) {
        self.flights.map.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.key);
        let wakers = {
            let mut s = self.flight.lock();
            s.done = true;
            // Also when the computation panicked or its future was dropped.
            s.failed = !self.succeeded;
            std::mem::take(&mut s.wakers)
        };
        self.flight.cv.notify_all();
        wakers.into_iter().for_each(Waker::wake);
    }
}

impl Flights {
    /// The single-flight protocol every memoizing path runs: `look`; on a
    /// miss, either wait for the caller already computing `key` and look
    /// again, or become that caller, look once more (a leader may have
    /// finished in between) and run `lead` while holding the flight.
    ///
    /// `ok` says whether a result was a success. When the leader's was not
    /// (or it panicked), the followers that waited for it run `lead` at
    /// once, concurrently, rather than take the flight one after another:
    /// N callers of a failing call finish in about two calls' time, not N.
    /// (Sharing the leader's error instead would need `E: Clone`, which
    /// most error types are not, and would deny each caller its own try.)
    pub(crate) fn run<T, R>(
        &self,
        key: &[u8],
        mut look: impl FnMut() -> Option<T>,
        found: impl Fn(T) -> R,
        lead: impl FnOnce() -> R,
        ok: impl Fn(&R) -> bool,
    ) -> R {
        loop {
            if let Some(v) = look() {
                return found(v);
            }
            match self.join(key, true) {
                Role::Follower(flight) => {
                    if flight.wait() {
                        return lead();
                    }
                }
                Role::Reentrant => return lead(),
                Role::Leader(mut guard) => {
                    if let Some(v) = look() {
                        guard.succeeded = true;
                        return found(v);
                    }
                    let r = lead();
                    guard.succeeded = ok(&r);
                    return r;
                }
            }
        }
    }

    /// [`run`](Self::run) for async callers: waiting does not block the
    /// executor, and dropping the future releases the flight.
    pub(crate) async fn run_async<T, R>(
        &self,
        key: &[u8],
        mut look: impl FnMut() -> Option<T>,
        found: impl Fn(T) -> R,
        lead: impl Future<Output = R>,
        ok: impl Fn(&R) -> bool,
    ) -> R {
        loop {
            if let Some(v) = look() {
                return found(v);
            }
            // An async caller is re-entrant when it is polled from inside
            // the poll of the computation it would wait for (`Leading`):
            // tasks share threads, so the leader's thread says nothing.
            let flight = match self.join(key, false) {
                Role::Follower(flight) => flight,
                Role::Reentrant => return lead.await,
                Role::Leader(mut guard) => {
                    if let Some(v) = look() {
                        guard.succeeded = true;
                        return found(v);
                    }
                    let r = Leading { key, inner: std::pin::pin!(lead) }.await;
                    guard.succeeded = ok(&r);
                    return r;
                }
            };
            if flight.wait_async().await {
                return lead.await;
            }
        }
    }

    /// Whether a caller is computing `key` now.
    pub(crate) fn in_flight(&self, key: &[u8]) -> bool {
        self.map.lock().unwrap_or_else(|e| e.into_inner()).contains_key(key)
    }

    /// Joins the flight of `key`: leads it, or follows its leader. With
    /// `sync`, a call from the leader's own thread is re-entrant (a blocking
    /// call on that thread can only come from inside the computation).
    fn join(&self, key: &[u8], sync: bool) -> Role<'_> {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let me = std::thread::current().id();
        if let Some(f) = map.get(key) {
            if sync && f.leader == me {
                return Role::Reentrant;
            }
            if !sync && ASYNC_LEADING.with(|l| l.borrow().iter().any(|k| k == key)) {
                return Role::Reentrant;
            }
            return Role::Follower(f.clone());
        }
        let flight = Arc::new(Flight { state: Mutex::default(), cv: Condvar::new(), leader: me });
        map.insert(key.to_vec(), flight.clone());
        Role::Leader(LeaderGuard { flights: self, key: key.to_vec(), flight, succeeded: false })
    }
}

thread_local! {
    /// The keys whose async computations are being polled on this thread,
    /// innermost last.
    static ASYNC_LEADING: std::cell::RefCell<Vec<Vec<u8>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// An async leader's computation: while it is polled, its key is in
/// [`ASYNC_LEADING`], so a call for the same key made from inside it (an
/// async fn awaiting itself with the same arguments) computes on its own
/// instead of waiting for itself forever.
struct Leading<'a, F> {
    key: &'a [u8],
    inner: Pin<&'a mut F>,
}

impl<F: Future> Future for Leading<'_, F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        struct Pop;
        impl Drop for Pop {
            fn drop(&mut self) {
                ASYNC_LEADING.with(|l| l.borrow_mut().pop());
            }
        }
        ASYNC_LEADING.with(|l| l.borrow_mut().push(self.key.to_vec()));
        let _pop = Pop;
        self.inner.as_mut().poll(cx)
    }
}

impl<K, V, KC: Codec, VC: Codec> PersistDict<K, V, KC, VC>
where
    V: Serialize + DeserializeOwned,
{
    /// Returns the value of `key`, computing and storing it with `f` first if
    /// it is missing: the memoization primitive.
    ///
    /// Concurrent callers with the same key in this process run `f` once;
    /// the others wait and read its result. `f` runs with no transaction
    /// open, so it may use this dictionary itself, this key included (a
    /// call for the same key from inside `f` computes on its own instead of
    /// waiting for itself). If another process stored
    /// the key while `f` ran, its value wins and is returned.
    ///
    /// # Errors
    /// As [`get`](Self::get) and [`insert`](Self::insert).
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// let d: persistdict::PersistDict<u64, u64> = persistdict::PersistDict::open(dir.path())?;
    /// assert_eq!(d.get_or_insert_with(&3, || 3 * 3)?, 9);
    /// assert_eq!(d.get_or_insert_with(&3, || unreachable!())?, 9);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get_or_insert_with<Q>(&self, key: &Q, f: impl FnOnce() -> V) -> Result<V>
    where
        K: Borrow<Q>,
        Q: Serialize + ?Sized,
    {
        match self.try_get_or_insert_with(key, || Ok::<V, std::convert::Infallible>(f()))? {
            Ok(v) => Ok(v),
            Err(never) => match never {},
        }
    }

    /// Like [`get_or_insert_with`](Self::get_or_insert_with) for a fallible
    /// computation: an `Err` from `f` is returned in the inner `Result` and
    /// nothing is stored, so the next call computes again.
    ///
    /// # Errors
    /// The outer `Result` carries storage errors.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// let d: persistdict::PersistDict<String, u32> = persistdict::PersistDict::open(dir.path())?;
    /// let r = d.try_get_or_insert_with("x", || "x".parse::<u32>())?;
    /// assert!(r.is_err());
    /// assert!(!d.contains_key("x")?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_get_or_insert_with<Q, E>(
        &self,
        key: &Q,
        f: impl FnOnce() -> std::result::Result<V, E>,
    ) -> Result<std::result::Result<V, E>>
    where
        K: Borrow<Q>,
        Q: Serialize + ?Sized,
    {
        let encoded = self.encode_key(key)?;
        self.handle().flights.run(
            &encoded,
            || self.get_encoded(&encoded).transpose(),
            |stored| stored.map(Ok),
            || match f() {
                Ok(v) => self.insert_encoded_if_absent(&encoded, v).map(Ok),
                Err(e) => Ok(Err(e)),
            },
            |r| matches!(r, Ok(Ok(_))),
        )
    }
}
