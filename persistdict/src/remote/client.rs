//! The connection to the server: a small pool of sync connections, every
//! one with its connect, read and write timeouts set, behind the circuit
//! breaker. One client per process (one `PERSISTDICT_REMOTE`).

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use tracing::{debug, info, warn};

use crate::remote::breaker::{Breaker, Report};
use crate::remote::config::{self, Config};

/// Idle connections kept for reuse.
const POOL: usize = 16;

/// Why a remote operation gave no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The breaker is open: the remote was not tried (not an error).
    Skipped,
    /// The operation failed or timed out (warned, counts as an error).
    Failed,
}

/// See the module docs.
pub(crate) struct Client {
    inner: redis::Client,
    pub config: Config,
    pool: Mutex<Vec<redis::Connection>>,
    breaker: Breaker,
}

/// The process's client: `None` when the remote tier is not configured or
/// its settings are unusable (warned once).
pub(crate) fn shared() -> Option<&'static Arc<Client>> {
    static CLIENT: OnceLock<Option<Arc<Client>>> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            let config = match config::from_env()? {
                Ok(c) => c,
                Err(why) => {
                    warn!(error = %why, "persist_cache: PERSISTDICT_REMOTE is unusable; the remote tier is off");
                    return None;
                }
            };
            match redis::Client::open(config.url.as_str()) {
                Ok(inner) => {
                    debug!(url = %config.shown, timeout_ms = config.timeout.as_millis() as u64, "persist_cache: remote tier on");
                    Some(Arc::new(Client { inner, config, pool: Mutex::default(), breaker: Breaker::default() }))
                }
                Err(e) => {
                    let error = config::scrub(e.to_string(), &config.secrets);
                    warn!(url = %config.shown, %error, "persist_cache: PERSISTDICT_REMOTE is unusable; the remote tier is off");
                    None
                }
            }
        })
        .as_ref()
}

/// Whether an error says the server or the link is unwell (the breaker
/// opens), rather than the server answering a command with an error.
fn is_transport(e: &redis::RedisError) -> bool {
    e.is_io_error()
        || e.is_timeout()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_unrecoverable_error()
        || matches!(e.kind(), redis::ErrorKind::AuthenticationFailed)
}

impl Client {
    /// Runs `op` on a pooled connection; `what` names it in warnings. A
    /// pooled connection that turns out to be closed (the server
    /// restarted) is replaced once; `op` must be safe to run twice.
    pub(crate) fn run<T>(
        &self,
        what: &str,
        mut op: impl FnMut(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Result<T, Failure> {
        if !self.breaker.allow(Instant::now()) {
            return Err(Failure::Skipped);
        }
        let pooled = self.pool.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let (mut conn, mut fresh) = match pooled {
            Some(c) => (c, false),
            None => (self.connect(what)?, true),
        };
        loop {
            match op(&mut conn) {
                Ok(v) => {
                    self.give_back(conn);
                    if self.breaker.success() {
                        info!(url = %self.config.shown, "persist_cache: the remote tier is back");
                    }
                    return Ok(v);
                }
                Err(e) if !fresh && (e.is_connection_dropped() || e.is_io_error()) && !e.is_timeout() => {
                    debug!(error = %self.scrub(&e), "persist_cache: a pooled remote connection was closed; reconnecting");
                    conn = self.connect(what)?;
                    fresh = true;
                }
                Err(e) if is_transport(&e) => {
                    self.failed(what, &e);
                    return Err(Failure::Failed);
                }
                Err(e) => {
                    // The server answered with an error: the link is fine.
                    self.give_back(conn);
                    warn!(url = %self.config.shown, operation = what, error = %self.scrub(&e),
                        "persist_cache: the remote refused an operation; continuing locally");
                    return Err(Failure::Failed);
                }
            }
        }
    }

    fn connect(&self, what: &str) -> Result<redis::Connection, Failure> {
        let timeout = self.config.timeout;
        let conn = self.inner.get_connection_with_timeout(timeout).and_then(|c| {
            c.set_read_timeout(Some(timeout))?;
            c.set_write_timeout(Some(timeout))?;
            Ok(c)
        });
        conn.map_err(|e| {
            self.failed(what, &e);
            Failure::Failed
        })
    }

    fn give_back(&self, conn: redis::Connection) {
        let mut pool = self.pool.lock().unwrap_or_else(|e| e.into_inner());
        if pool.len() < POOL {
            pool.push(conn);
        }
    }

    fn failed(&self, what: &str, e: &redis::RedisError) {
        // Connections opened before the failure may be as dead as this one.
        self.pool.lock().unwrap_or_else(|e| e.into_inner()).clear();
        let error = self.scrub(e);
        match self.breaker.failure(Instant::now()) {
            Report::Warn(pause) => warn!(url = %self.config.shown, operation = what, %error,
                pause_ms = pause.as_millis() as u64,
                "persist_cache: the remote tier failed; continuing locally, remote skipped for a growing pause"),
            Report::Quiet(pause) => debug!(url = %self.config.shown, operation = what, %error,
                pause_ms = pause.as_millis() as u64, "persist_cache: the remote tier failed again"),
        }
    }

    /// An error's message without the URL's secrets.
    pub(crate) fn scrub(&self, e: &dyn std::fmt::Display) -> String {
        config::scrub(e.to_string(), &self.config.secrets)
    }
}
