//! The remote tier (feature `redis`): a fleet of machines shares
//! `#[persist_cache]` results through Redis (or Valkey), LMDB staying the
//! local tier.
//!
//! Turned on at run time by `PERSISTDICT_REMOTE` (see `config.rs` for every
//! variable); `#[persist_cache(remote = false)]` keeps a function local.
//! The memo call path calls in at three places, each one line:
//! - [`lead`] / [`lead_async`]: what the in-process leader of a local miss
//!   runs: the remote value if there is one (checked, then written locally
//!   through the path a computed result takes), else the fleet-wide single
//!   flight (`lease.rs`) around the computation, whose value is published
//!   with the function's expiry window as its TTL;
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
use crate::dict::handle::Handle;
use crate::dict::stats::Stats;
use crate::memo::key::{Key, PREFIX_LEN};
use crate::memo::store::{MemoConfig, MemoStore};
use client::{Client, Failure};
use lease::{Acquire, Backoff, Held};

/// One function's view of the remote tier.
pub(crate) struct FnRemote {
    client: Arc<Client>,
    /// `pd1:<namespace>:<function prefix hex>:`.
    prefix: String,
    /// The function's expiry window as a TTL, in ms (0: none).
    ttl_ms: u64,
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
    /// The remote view of the function `config` describes, whose call keys
    /// start with `prefix`; `None` when the tier is off for it.
    pub(crate) fn for_function(config: &MemoConfig, prefix: &[u8; PREFIX_LEN]) -> Option<FnRemote> {
        if !config.remote {
            return None;
        }
        let client = client::shared()?;
        let namespace = client.config.namespace.as_deref().unwrap_or(config.crate_name);
        if let Err(why) = config::check_namespace(namespace) {
            warn!(function = config.namespace, error = %why, "persist_cache: the remote tier is off for this function");
            return None;
        }
        let ttl_ms = config.expire_days.map_or(0, |d| u64::from(d) * 86_400_000);
        Some(FnRemote {
            client: client.clone(),
            prefix: format!("pd1:{namespace}:{}:", hex(prefix)),
            ttl_ms,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            namespace: config.namespace,
        })
    }

    fn keys(&self, key: &Key) -> Keys {
        let value = format!("{}{{{}}}", self.prefix, hex(&key.0));
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

    /// `GET` (`GETEX` with the TTL, which slides like the local window).
    fn look<T: DeserializeOwned>(&self, keys: &Keys, key: &Key, types: &Types) -> Look<T> {
        let got = self.count(self.client.run("read a value", |c| {
            let mut cmd = if self.ttl_ms == 0 { redis::cmd("GET") } else { redis::cmd("GETEX") };
            cmd.arg(&keys.value);
            if self.ttl_ms != 0 {
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
        match self.count(lease::acquire(&self.client, &keys.value, &keys.lease, token, self.ttl_ms)) {
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

/// The remote part of a local miss, run by the in-process leader (see the
/// module docs): returns the remote value, or runs `compute` (which stores
/// locally) once in the fleet and publishes what `stored` keeps of it.
pub(crate) fn lead<T: Serialize + DeserializeOwned, R>(
    store: &MemoStore,
    h: &Handle,
    key: &Key,
    types: &Types,
    stored: fn(&R) -> Option<&T>,
    found: fn(T) -> R,
    compute: impl FnOnce() -> R,
) -> R {
    let Some(remote) = store.remote() else { return compute() };
    let keys = remote.keys(key);
    match remote.look::<T>(&keys, key, types) {
        Look::Hit(v) => {
            store.store_value(h, key, &v, types);
            return found(v);
        }
        Look::Miss => {}
        Look::Unavailable => {
            let r = compute();
            remote.publish(&keys, key, stored(&r), types, None);
            return r;
        }
    }
    let token = lease::token();
    let mut backoff = Backoff::new();
    loop {
        match remote.acquire::<T>(&keys, key, types, &token) {
            Step::Found(v) => {
                store.store_value(h, key, &v, types);
                return found(v);
            }
            Step::Lead(held) => {
                let r = compute();
                remote.publish(&keys, key, stored(&r), types, Some(held));
                return r;
            }
            Step::Wait => std::thread::sleep(backoff.next()),
            Step::Alone => {
                let r = compute();
                remote.publish(&keys, key, stored(&r), types, None);
                return r;
            }
        }
    }
}

/// [`lead`] for `async fn`s: waiting does not block the executor (remote
/// round trips are short blocking socket calls, bounded by the timeout). No
/// `T` is held across an await: the future is `Send` whenever it was
/// without the remote tier.
pub(crate) async fn lead_async<T: Serialize + DeserializeOwned, R>(
    store: &MemoStore,
    h: &Handle,
    key: &Key,
    types: &Types,
    stored: fn(&R) -> Option<&T>,
    found: fn(T) -> R,
    compute: impl Future<Output = R>,
) -> R {
    let Some(remote) = store.remote() else { return compute.await };
    let keys = remote.keys(key);
    let missed = match remote.look::<T>(&keys, key, types) {
        Look::Hit(v) => {
            store.store_value(h, key, &v, types);
            return found(v);
        }
        Look::Miss => true,
        Look::Unavailable => false,
    };
    let mut held = None;
    if missed {
        let token = lease::token();
        let mut backoff = Backoff::new();
        loop {
            let wait = match remote.acquire::<T>(&keys, key, types, &token) {
                Step::Found(v) => {
                    store.store_value(h, key, &v, types);
                    return found(v);
                }
                Step::Lead(lease) => {
                    held = Some(lease);
                    break;
                }
                Step::Wait => backoff.next(),
                Step::Alone => break,
            };
            lease::Delay::new(wait).await;
        }
    }
    let r = compute.await;
    remote.publish(&keys, key, stored(&r), types, held);
    r
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
    let pattern = format!("{}*", glob_escape(&remote.prefix));
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
