//! Fleet-wide single flight: after a local and a remote miss, the process
//! that takes a call's lease (`SET lease token NX PX`, a random token)
//! computes it, renews the lease while it runs, and publishes the value and
//! releases the lease in one script, which deletes the lease only if it
//! still holds its token. The others poll with a bounded backoff (1 ms,
//! doubling, at most 100 ms) until the value appears, or take the lease
//! over when it lapsed without one (its holder died).

use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use crate::remote::client::{Client, Failure};

/// KEYS: value, lease; ARGV: token, lease ms, the TTL a hit restarts (0: none).
/// Returns `{1, value}` when the value is there (its ttl refreshed),
/// `{2, ''}` when the lease is (now) ours, `{3, ''}` when another holds it.
const ACQUIRE: &str = r"
local v
if ARGV[3] == '0' then v = redis.call('GET', KEYS[1]) else v = redis.call('GETEX', KEYS[1], 'PX', ARGV[3]) end
if v then return {1, v} end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return {2, ''} end
if redis.call('GET', KEYS[2]) == ARGV[1] then return {2, ''} end
return {3, ''}
";

/// KEYS: value, lease; ARGV: value, ttl ms (0: none), token. Stores the
/// value and deletes the lease if it holds the token.
const PUBLISH: &str = r"
if ARGV[2] == '0' then redis.call('SET', KEYS[1], ARGV[1]) else redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) end
if redis.call('GET', KEYS[2]) == ARGV[3] then redis.call('DEL', KEYS[2]) end
return 1
";

/// KEYS: lease; ARGV: token. Compare and delete.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
";

/// KEYS: lease; ARGV: token, lease ms. Compare and extend.
const RENEW: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
";

/// The scripts, loaded once (`EVALSHA`, falling back to `EVAL` on a server
/// that has not seen them).
pub(crate) struct Scripts {
    acquire: redis::Script,
    publish: redis::Script,
    release: redis::Script,
    renew: redis::Script,
}

pub(crate) fn scripts() -> &'static Scripts {
    static S: std::sync::LazyLock<Scripts> = std::sync::LazyLock::new(|| Scripts {
        acquire: redis::Script::new(ACQUIRE),
        publish: redis::Script::new(PUBLISH),
        release: redis::Script::new(RELEASE),
        renew: redis::Script::new(RENEW),
    });
    &S
}

/// A lease token: 128 random bits (the OS-seeded `RandomState`) and the pid.
pub(crate) fn token() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let mut parts = [0u64; 2];
    for p in &mut parts {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(n);
        h.write_u32(std::process::id());
        *p = h.finish();
    }
    format!("{:016x}{:016x}.{}", parts[0], parts[1], std::process::id())
}

/// What [`acquire`] found.
pub(crate) enum Acquire {
    /// The value (unchecked bytes).
    Value(Vec<u8>),
    /// The lease is ours.
    Leased,
    /// Another process holds the lease.
    Held,
}

/// Looks for the value, else takes the lease if it is free (one round trip).
pub(crate) fn acquire(
    client: &Client,
    value_key: &str,
    lease_key: &str,
    token: &str,
    ttl_ms: u64,
) -> Result<Acquire, Failure> {
    let lease_ms = client.config.lease.as_millis() as u64;
    let (tag, value): (i64, Vec<u8>) = client.run("take a lease", |c| {
        scripts().acquire.key(value_key).key(lease_key).arg(token).arg(lease_ms).arg(ttl_ms).invoke(c)
    })?;
    Ok(match tag {
        1 => Acquire::Value(value),
        2 => Acquire::Leased,
        _ => Acquire::Held,
    })
}

/// Stores `envelope` and releases the lease held with `token`.
pub(crate) fn publish(
    client: &Client,
    value_key: &str,
    lease_key: &str,
    envelope: &[u8],
    ttl_ms: u64,
    token: &str,
) -> Result<(), Failure> {
    client.run("store a value", |c| {
        scripts().publish.key(value_key).key(lease_key).arg(envelope).arg(ttl_ms).arg(token).invoke::<i64>(c)
    })?;
    Ok(())
}

/// Releases the lease held with `token` (no value: the computation failed,
/// panicked, or its value stays local).
pub(crate) fn release(client: &Client, lease_key: &str, token: &str) {
    let _ = client.run("release a lease", |c| scripts().release.key(lease_key).arg(token).invoke::<i64>(c));
}

/// A held lease: renewed by a thread every third of its duration while the
/// computation runs; released on drop unless published.
pub(crate) struct Held {
    client: Arc<Client>,
    lease_key: String,
    token: String,
    stop: Option<mpsc::Sender<()>>,
    pub(crate) done: bool,
}

impl Held {
    pub(crate) fn start(client: &Arc<Client>, lease_key: String, token: String) -> Held {
        let (stop, stopped) = mpsc::channel::<()>();
        let every = client.config.lease / 3;
        let lease_ms = client.config.lease.as_millis() as u64;
        let (c, k, t) = (client.clone(), lease_key.clone(), token.clone());
        let spawned = std::thread::Builder::new().name("persistdict-lease".into()).spawn(move || {
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
                let renewed =
                    c.run("renew a lease", |conn| scripts().renew.key(&k).arg(&t).arg(lease_ms).invoke::<i64>(conn));
                if !matches!(renewed, Ok(1)) {
                    // Lost (lapsed during an outage, taken over) or the
                    // remote is down: stop; the value is still published.
                    break;
                }
            }
        });
        Held { client: client.clone(), lease_key, token, stop: spawned.ok().map(|_| stop), done: false }
    }

    pub(crate) fn token(&self) -> &str {
        &self.token
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.stop.take();
        if !self.done {
            release(&self.client, &self.lease_key, &self.token);
        }
    }
}

/// The waiters' bounded backoff: 1 ms, doubling, at most 100 ms.
pub(crate) struct Backoff(Duration);

impl Backoff {
    pub(crate) fn new() -> Self {
        Backoff(Duration::from_millis(1))
    }

    /// The next wait.
    pub(crate) fn next(&mut self) -> Duration {
        let d = self.0;
        self.0 = (self.0 * 2).min(Duration::from_millis(100));
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_differ_and_backoff_is_bounded() {
        assert_ne!(token(), token());
        let mut b = Backoff::new();
        let waits: Vec<u64> = (0..10).map(|_| b.next().as_millis() as u64).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 64, 100, 100, 100]);
    }
}
