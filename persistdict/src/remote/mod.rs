//! The remote tier (feature `redis`): a fleet of machines shares
//! `#[persist_cache]` results through Redis (or Valkey), LMDB staying the
//! local tier.
//!
//! Turned on at run time by `PERSISTDICT_REMOTE` (see `config.rs` for every
//! variable); `#[persist_cache(remote = false)]` keeps a function local.
//! The memo call path (`memo/run.rs`) calls in at a few marked lines:
//! - [`lead`] / [`lead_async`]: what the caller that computes a local miss
//!   in its process (and, under `single_flight = "machine"`, its machine)
//!   runs: the remote value if there is one (checked, then written locally
//!   through the path a computed result takes), else the fleet-wide single
//!   flight (`lease.rs`) around the computation; [`Publish`] then sends the
//!   stored result, with the function's expiry window as its TTL;
//! - [`invalidate`] and [`clear`]: the companion's removals reach the
//!   remote too;
//! - [`fill_stats`]: the remote figures in `Stats`.
//!
//! Keys: `pd1:<namespace>:<function prefix hex>:{<call key hex>}`, the lease
//! the same with `:lease` after the braces, so that a value and its lease
//! hash to one Redis Cluster slot. Values: `envelope.rs`.
//!
//! Failure policy: the remote never fails a call. An error or timeout warns
//! (once per burst), counts in `remote_errors`, and the call goes on
//! locally; the circuit breaker (`breaker.rs`) then skips the remote for a
//! growing pause. A bad remote value is a miss, overwritten by the result.

mod breaker;
mod client;
mod config;
mod envelope;
mod lease;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::{debug, warn};

use crate::codec::{Bincode, Codec};
use crate::dict::fingerprint::Types;
use crate::dict::stats::Stats;
use crate::memo::key::{Key, PREFIX_LEN};
use crate::memo::store::{MemoConfig, MemoStore};
use client::{Client, Failure};
use lease::{Acquire, Backoff, Held};

/// One function's view of the remote tier.
pub(crate) struct FnRemote {
    client: Arc<Client>,
    /// `pd1:<namespace>:`; the function prefix (the call key's first 8
    /// bytes) follows in each key.
    prefix: String,
    /// The function's expiry window as a TTL, in ms (0: none).
    ttl_ms: u64,
    /// Whether a hit restarts the TTL (`expire` counts from the last use;
    /// not under `fresh_for`, which counts from the computation).
    slide: bool,
    hits: AtomicU64,
    misses: AtomicU64,
    errors: AtomicU64,
    namespace: &'static str,
}

/// A call's two keys.
struct Keys {
    value: String,
    lease: String,
}

/// What the first remote look found.
enum Look<T> {
    Hit(T),
    Miss,
    Unavailable,
}

impl FnRemote {
    /// The remote view of the function `config` describes; `None` when the
    /// tier is off for it.
    pub(crate) fn for_function(config: &MemoConfig) -> Option<FnRemote> {
        if !config.remote {
            return None;
        }
        let client = client::shared()?;
        let namespace = client.config.namespace.as_deref().unwrap_or(config.crate_name);
        if let Err(why) = config::check_namespace(namespace) {
            warn!(function = config.namespace, error = %why, "persist_cache: the remote tier is off for this function");
            return None;
        }
        // The window as the TTL; with `fresh_for`, at most that, counted
        // from the write (a remote value is never older than `fresh_for`).
        let ttl_ms = match (config.expire_ms, config.fresh_for_ms) {
            (Some(e), Some(f)) => e.min(f),
            (e, f) => e.or(f).unwrap_or(0),
        };
        let slide = config.fresh_for_ms.is_none();
        Some(FnRemote {
            client: client.clone(),
            prefix: format!("pd1:{namespace}:"),
            ttl_ms,
            slide,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            namespace: config.namespace,
        })
    }

    fn keys(&self, key: &Key) -> Keys {
        let value = format!("{}{}:{{{}}}", self.prefix, hex(&key.0[..PREFIX_LEN]), hex(&key.0));
        let lease = format!("{value}:lease");
        Keys { value, lease }
    }

    fn count<T>(&self, r: Result<T, Failure>) -> Result<T, Failure> {
        if matches!(r, Err(Failure::Failed)) {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        r
    }

    /// The value of `bytes` if they are a sound envelope of a `T` for `key`
    /// (a warning otherwise).
    fn decode<T: DeserializeOwned>(&self, key: &Key, types: &Types, bytes: &[u8]) -> Option<T> {
        let payload = match envelope::open(&key.0, types.fp, bytes) {
            Ok(p) => p,
            Err(envelope::Bad::OtherType) => {
                debug!(function = self.namespace, "persist_cache: remote value of another result type; recomputing");
                return None;
            }
            Err(bad) => {
                warn!(function = self.namespace, error = %bad, "persist_cache: a bad remote value; recomputing and overwriting it");
                return None;
            }
        };
        match Bincode.decode::<T>(payload) {
            Ok(v) => Some(v),
            Err(e) => {
                warn!(function = self.namespace, error = %e, "persist_cache: a remote value does not decode; recomputing");
                None
            }
        }
    }

    /// `GET` (`GETEX` with the TTL, which then slides like the local window).
    fn look<T: DeserializeOwned>(&self, keys: &Keys, key: &Key, types: &Types) -> Look<T> {
        let got = self.count(self.client.run("read a value", |c| {
            let slide = self.slide && self.ttl_ms != 0;
            let mut cmd = if slide { redis::cmd("GETEX") } else { redis::cmd("GET") };
            cmd.arg(&keys.value);
            if slide {
                cmd.arg("PX").arg(self.ttl_ms);
            }
            cmd.query::<Option<Vec<u8>>>(c)
        }));
        match got {
            Ok(Some(bytes)) => match self.decode(key, types, &bytes) {
                Some(v) => {
                    self.hits.fetch_add(1, Ordering::Relaxed);
                    debug!(function = self.namespace, "persist_cache: remote hit");
                    Look::Hit(v)
                }
                None => {
                    self.misses.fetch_add(1, Ordering::Relaxed);
                    Look::Unavailable
                }
            },
            Ok(None) => {
                self.misses.fetch_add(1, Ordering::Relaxed);
                Look::Miss
            }
            Err(_) => Look::Unavailable,
        }
    }

    /// One step of the fleet single flight.
    fn acquire<T: DeserializeOwned>(&self, keys: &Keys, key: &Key, types: &Types, token: &str) -> Step<T> {
        let slide_ms = if self.slide { self.ttl_ms } else { 0 };
        match self.count(lease::acquire(&self.client, &keys.value, &keys.lease, token, slide_ms)) {
            Ok(Acquire::Value(bytes)) => match self.decode(key, types, &bytes) {
                Some(v) => {
                    self.hits.fetch_add(1, Ordering::Relaxed);
                    Step::Found(v)
                }
                None => Step::Alone,
            },
            Ok(Acquire::Leased) => Step::Lead(Held::start(&self.client, keys.lease.clone(), token.to_string())),
            Ok(Acquire::Held) => Step::Wait,
            Err(_) => Step::Alone,
        }
    }

    /// Stores `value` remotely (releasing `held`'s lease with it), unless it
    /// is too large, does not read back, or the remote is unavailable.
    fn publish<T: Serialize + DeserializeOwned>(
        &self,
        keys: &Keys,
        key: &Key,
        value: Option<&T>,
        types: &Types,
        held: Option<Held>,
    ) {
        let Some(envelope) = value.and_then(|v| self.seal(key, v, types)) else { return };
        let r = match held {
            Some(mut held) => {
                let r = lease::publish(&self.client, &keys.value, &keys.lease, &envelope, self.ttl_ms, held.token());
                held.done = r.is_ok();
                r
            }
            None => self.client.run("store a value", |c| {
                let mut cmd = redis::cmd("SET");
                cmd.arg(&keys.value).arg(&envelope);
                if self.ttl_ms != 0 {
                    cmd.arg("PX").arg(self.ttl_ms);
                }
                cmd.query::<()>(c)
            }),
        };
        if self.count(r).is_ok() {
            debug!(function = self.namespace, "persist_cache: stored remotely");
        }
    }

    fn seal<T: Serialize + DeserializeOwned>(&self, key: &Key, value: &T, types: &Types) -> Option<Vec<u8>> {
        let bytes = Bincode.encode(value).ok()?;
        // As locally: a value that would not read back as written is not stored.
        let reads_back = Bincode.decode::<T>(&bytes).is_ok_and(|v| crate::dict::canonical::same_value(value, &v));
        if !reads_back {
            return None;
        }
        let sealed = envelope::seal(&key.0, types.fp, &bytes)?;
        if sealed.len() > self.client.config.max_value {
            debug!(
                function = self.namespace,
                bytes = sealed.len(),
                limit = self.client.config.max_value,
                "persist_cache: the result is above PERSISTDICT_REMOTE_MAX_VALUE; it stays local"
            );
            return None;
        }
        Some(sealed)
    }
}

/// What a waiter does next.
enum Step<T> {
    Found(T),
    Lead(Held),
    Wait,
    /// The remote is unavailable, or holds a bad value: compute without a
    /// lease (and overwrite it).
    Alone,
}

/// How long a process waits for another one's lease before it computes
/// too (with a warning), in leases: calls that need each other's results
/// on two machines would otherwise wait for each other forever.
const MAX_WAIT_LEASES: u32 = 4;

/// What to do with the call's result after it was stored locally: publish
/// it (releasing the fleet lease with it), or nothing (the remote tier is
/// off, or the value came from it). Dropped unpublished (an `Err`, a
/// panic), it releases the lease so that another process computes at once.
#[must_use]
pub(crate) struct Publish<'a> {
    to: Option<(&'a FnRemote, Keys, Option<Held>)>,
}

impl Publish<'_> {
    const NOTHING: Publish<'static> = Publish { to: None };

    /// Stores `value` remotely, unless it is too large or does not read back.
    pub(crate) fn publish<T: Serialize + DeserializeOwned>(self, key: &Key, value: &T, types: &Types) {
        if let Some((remote, keys, held)) = self.to {
            remote.publish(&keys, key, Some(value), types, held);
        }
    }
}

/// Where a waiting process stands.
enum Wait<T> {
    Found(T),
    Compute(Option<Held>),
}

impl FnRemote {
    /// The first look: the value, a miss (`Ok(None)`), or `Err` when the
    /// remote is unavailable or holds a bad value (compute without a lease).
    fn start<T: DeserializeOwned>(&self, keys: &Keys, key: &Key, types: &Types) -> Result<Option<T>, ()> {
        match self.look::<T>(keys, key, types) {
            Look::Hit(v) => Ok(Some(v)),
            Look::Miss => Ok(None),
            Look::Unavailable => Err(()),
        }
    }

    fn waited_enough(&self, started: std::time::Instant) -> bool {
        let limit = self.client.config.lease.saturating_mul(MAX_WAIT_LEASES);
        if started.elapsed() < limit {
            return false;
        }
        warn!(
            function = self.namespace,
            waited_ms = started.elapsed().as_millis() as u64,
            "persist_cache: waited this long for another machine computing the same call; computing it here too"
        );
        true
    }
}

/// The remote part of a local miss, run by the caller that computes in its
/// process (and machine): the remote value if there is one (the caller
/// stores it locally as it would a computed one), else `compute`, run once
/// in the fleet; the caller hands the result to the returned [`Publish`]
/// once stored locally.
pub(crate) fn lead<'a, T: Serialize + DeserializeOwned, R>(
    store: &'a MemoStore,
    key: &Key,
    types: &Types,
    found: impl FnOnce(T) -> R,
    compute: impl FnOnce() -> R,
) -> (R, Publish<'a>) {
    let Some(remote) = store.remote() else { return (compute(), Publish::NOTHING) };
    let keys = remote.keys(key);
    let wait = match remote.start::<T>(&keys, key, types) {
        Ok(Some(v)) => Wait::Found(v),
        Ok(None) => {
            let token = lease::token();
            let (mut backoff, started) = (Backoff::new(), std::time::Instant::now());
            loop {
                match remote.acquire::<T>(&keys, key, types, &token) {
                    Step::Found(v) => break Wait::Found(v),
                    Step::Lead(held) => break Wait::Compute(Some(held)),
                    Step::Alone => break Wait::Compute(None),
                    Step::Wait if remote.waited_enough(started) => break Wait::Compute(None),
                    Step::Wait => std::thread::sleep(backoff.next()),
                }
            }
        }
        Err(()) => Wait::Compute(None),
    };
    match wait {
        Wait::Found(v) => (found(v), Publish::NOTHING),
        Wait::Compute(held) => (compute(), Publish { to: Some((remote, keys, held)) }),
    }
}

/// [`lead`] for `async fn`s: the waits sleep on the timer thread, so the
/// executor never blocks on them (the round trips to the server are short
/// blocking socket calls, bounded by the timeout). No `T` is held across an
/// await.
pub(crate) async fn lead_async<'a, T: Serialize + DeserializeOwned, R>(
    store: &'a MemoStore,
    key: &Key,
    types: &Types,
    found: impl FnOnce(T) -> R,
    compute: impl Future<Output = R>,
) -> (R, Publish<'a>) {
    let Some(remote) = store.remote() else { return (compute.await, Publish::NOTHING) };
    let keys = remote.keys(key);
    let mut held = None;
    match remote.start::<T>(&keys, key, types) {
        Ok(Some(v)) => return (found(v), Publish::NOTHING),
        Ok(None) => {
            let token = lease::token();
            let (mut backoff, started) = (Backoff::new(), std::time::Instant::now());
            loop {
                let pause = match remote.acquire::<T>(&keys, key, types, &token) {
                    Step::Found(v) => return (found(v), Publish::NOTHING),
                    Step::Lead(lease) => {
                        held = Some(lease);
                        break;
                    }
                    Step::Alone => break,
                    Step::Wait if remote.waited_enough(started) => break,
                    Step::Wait => backoff.next(),
                };
                crate::memo::offload::sleep(pause).await;
            }
        }
        Err(()) => {}
    }
    (compute.await, Publish { to: Some((remote, keys, held)) })
}

/// `CallKey::invalidate` on the remote: deletes the call's value.
pub(crate) fn invalidate(store: &MemoStore, key: &Key) {
    let Some(remote) = store.remote() else { return };
    let keys = remote.keys(key);
    let _ =
        remote.count(remote.client.run("delete a value", |c| redis::cmd("UNLINK").arg(&keys.value).query::<i64>(c)));
}

/// `MemoStore::clear` on the remote: `SCAN` and `UNLINK` of the function's
/// keys (values and leases); returns how many values went.
pub(crate) fn clear(store: &MemoStore) -> usize {
    let Some(remote) = store.remote() else { return 0 };
    let pattern = format!("{}{}:*", glob_escape(&remote.prefix), hex(&store.prefix()));
    let (mut cursor, mut removed) = (0u64, 0usize);
    loop {
        let step = remote.count(remote.client.run("clear a function", |c| {
            let (next, keys): (u64, Vec<String>) =
                redis::cmd("SCAN").arg(cursor).arg("MATCH").arg(&pattern).arg("COUNT").arg(1000).query(c)?;
            if !keys.is_empty() {
                redis::cmd("UNLINK").arg(&keys).query::<i64>(c)?;
            }
            Ok((next, keys.iter().filter(|k| !k.ends_with(":lease")).count()))
        }));
        match step {
            Ok((next, n)) => {
                removed += n;
                cursor = next;
                if cursor == 0 {
                    return removed;
                }
            }
            Err(_) => return removed,
        }
    }
}

/// The remote figures of a function's `Stats`.
pub(crate) fn fill_stats(store: &MemoStore, stats: &mut Stats) {
    if let Some(r) = store.remote() {
        stats.remote_hits = r.hits.load(Ordering::Relaxed);
        stats.remote_misses = r.misses.load(Ordering::Relaxed);
        stats.remote_errors = r.errors.load(Ordering::Relaxed);
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// `s` with the glob characters of `SCAN MATCH` escaped.
fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn glob_characters_are_escaped() {
        assert_eq!(super::glob_escape("pd1:a*b?[c]\\:"), "pd1:a\\*b\\?\\[c\\]\\\\:");
        assert_eq!(super::hex(&[0, 0xab, 0x10]), "00ab10");
    }
}
