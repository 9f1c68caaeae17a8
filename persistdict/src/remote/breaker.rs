//! The circuit breaker: after a remote failure the tier is skipped for a
//! pause that doubles with each failed probe (1 s, 2 s, … 30 s), so a
//! dead or frozen server costs at most one timeout per pause, not one per
//! call. When a pause ends, one call probes the server (the others still
//! skip it); a success closes the breaker.
//!
//! Warnings come once per burst of failures (and again every minute while
//! it lasts), not once per call.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The first pause.
pub(crate) const FIRST_PAUSE: Duration = Duration::from_secs(1);
/// The longest pause.
pub(crate) const MAX_PAUSE: Duration = Duration::from_secs(30);
/// While a burst lasts, a warning at most this often.
const WARN_EVERY: Duration = Duration::from_secs(60);

#[derive(Default)]
struct State {
    /// The current pause (zero: closed).
    pause: Duration,
    /// Until when calls skip the remote.
    open_until: Option<Instant>,
    /// A call is probing the server after a pause.
    probing: bool,
    /// When this burst last warned.
    warned_at: Option<Instant>,
}

/// See the module docs.
#[derive(Default)]
pub(crate) struct Breaker {
    state: Mutex<State>,
}

/// What [`Breaker::failure`] tells the caller to log.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Report {
    /// The first failure of a burst (or a minute passed): warn.
    Warn(Duration),
    /// Another failure of the same burst: debug.
    Quiet(Duration),
}

impl Breaker {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether a call may use the remote now.
    pub(crate) fn allow(&self, now: Instant) -> bool {
        let mut s = self.lock();
        match s.open_until {
            None => true,
            Some(t) if now >= t && !s.probing => {
                s.probing = true;
                true
            }
            Some(_) => false,
        }
    }

    /// A call succeeded: closes the breaker. True if it was open (the
    /// remote is back).
    pub(crate) fn success(&self) -> bool {
        let mut s = self.lock();
        if s.pause.is_zero() && s.open_until.is_none() {
            return false;
        }
        *s = State::default();
        true
    }

    /// A call failed: opens the breaker for the next pause.
    pub(crate) fn failure(&self, now: Instant) -> Report {
        let mut s = self.lock();
        if s.open_until.is_some_and(|t| now < t) {
            // A call that was in flight when another one opened the
            // breaker: the same failure, not a reason for a longer pause.
            return Report::Quiet(s.pause);
        }
        s.pause = if s.pause.is_zero() { FIRST_PAUSE } else { (s.pause * 2).min(MAX_PAUSE) };
        s.open_until = Some(now + s.pause);
        s.probing = false;
        match s.warned_at {
            Some(at) if now.saturating_duration_since(at) < WARN_EVERY => Report::Quiet(s.pause),
            _ => {
                s.warned_at = Some(now);
                Report::Warn(s.pause)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_grow_one_probe_at_a_time_and_a_success_closes() {
        let b = Breaker::default();
        let t0 = Instant::now();
        assert!(b.allow(t0));
        assert_eq!(b.failure(t0), Report::Warn(FIRST_PAUSE));
        assert!(!b.allow(t0 + Duration::from_millis(999)));
        for _ in 0..3 {
            assert_eq!(b.failure(t0), Report::Quiet(FIRST_PAUSE), "calls in flight do not grow the pause");
        }
        let t1 = t0 + FIRST_PAUSE;
        assert!(b.allow(t1), "one probe after the pause");
        assert!(!b.allow(t1), "only one");
        assert_eq!(b.failure(t1), Report::Quiet(FIRST_PAUSE * 2));
        let mut t = t1;
        for _ in 0..10 {
            t += MAX_PAUSE;
            assert!(b.allow(t));
            b.failure(t);
        }
        assert!(!b.allow(t + MAX_PAUSE - Duration::from_millis(1)), "the pause stops growing at 30 s");
        assert!(b.allow(t + MAX_PAUSE));
        assert!(b.success());
        assert!(b.allow(t + MAX_PAUSE) && b.allow(t + MAX_PAUSE), "closed: every call goes");
        assert!(!b.success());
        assert_eq!(b.failure(t + MAX_PAUSE), Report::Warn(FIRST_PAUSE), "a new burst warns again");
    }
}
