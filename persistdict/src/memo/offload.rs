//! Keeping `async fn`s off the disk: their writes (a lease, a result) run
//! on a writer thread while the task awaits them, and their waits for
//! another process sleep on a timer thread, so an executor thread never
//! blocks on a commit's sync or a poll interval. Runtime-neutral: plain
//! threads and wakers, no executor dependency.
//!
//! One writer thread per process: LMDB admits one write transaction at a
//! time per environment anyway, and commits of one environment queue behind
//! each other whoever issues them. Both threads start at first use and
//! again in a fork child (threads do not survive `fork`).

use std::collections::BinaryHeap;
use std::future::Future;
use std::pin::Pin;
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use tracing::warn;

type Job = Box<dyn FnOnce() + Send>;

struct Slot<R> {
    value: Option<R>,
    waker: Option<Waker>,
}

/// The future of [`run`].
pub(crate) struct Offloaded<R>(Arc<Mutex<Slot<R>>>);

impl<R> Future for Offloaded<R> {
    type Output = R;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<R> {
        let mut s = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match s.value.take() {
            Some(v) => Poll::Ready(v),
            None => {
                s.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

fn writer() -> Option<Sender<Job>> {
    static WRITER: Mutex<Option<(u32, Sender<Job>)>> = Mutex::new(None);
    let pid = std::process::id();
    let mut w = WRITER.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((p, tx)) = w.as_ref()
        && *p == pid
    {
        return Some(tx.clone());
    }
    let (tx, rx) = channel::<Job>();
    let spawned = std::thread::Builder::new().name("persistdict-writer".into()).spawn(move || {
        for job in rx {
            job();
        }
    });
    match spawned {
        Ok(_) => {
            *w = Some((pid, tx.clone()));
            Some(tx)
        }
        Err(e) => {
            warn!(error = %e, "persist_cache: cannot start the writer thread; async writes run on the caller's thread");
            None
        }
    }
}

/// Runs `f` on the writer thread; the future resolves with its result. If
/// the thread cannot run, `f` runs now, on the caller's thread.
pub(crate) fn run<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> Offloaded<R> {
    let slot = Arc::new(Mutex::new(Slot { value: None, waker: None }));
    let filled = slot.clone();
    let job: Job = Box::new(move || {
        let v = f();
        let waker = {
            let mut s = filled.lock().unwrap_or_else(|e| e.into_inner());
            s.value = Some(v);
            s.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    });
    match writer() {
        Some(tx) => {
            if let Err(returned) = tx.send(job) {
                (returned.0)();
            }
        }
        None => job(),
    }
    Offloaded(slot)
}

struct Timer {
    at: Instant,
    slot: Arc<Mutex<(bool, Option<Waker>)>>,
}

impl PartialEq for Timer {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at
    }
}
impl Eq for Timer {}
impl PartialOrd for Timer {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Timer {
    // Earliest first in a max-heap.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        other.at.cmp(&self.at)
    }
}

#[derive(Default)]
struct Timers {
    heap: Mutex<(Option<u32>, BinaryHeap<Timer>)>,
    cv: Condvar,
}

static TIMERS: std::sync::LazyLock<Timers> = std::sync::LazyLock::new(Timers::default);

fn timer_thread() {
    let mut g = TIMERS.heap.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let now = Instant::now();
        while g.1.peek().is_some_and(|t| t.at <= now) {
            if let Some(t) = g.1.pop() {
                let waker = {
                    let mut s = t.slot.lock().unwrap_or_else(|e| e.into_inner());
                    s.0 = true;
                    s.1.take()
                };
                if let Some(w) = waker {
                    w.wake();
                }
            }
        }
        g = match g.1.peek().map(|t| t.at) {
            Some(at) => {
                TIMERS.cv.wait_timeout(g, at.saturating_duration_since(now)).unwrap_or_else(|e| e.into_inner()).0
            }
            None => TIMERS.cv.wait(g).unwrap_or_else(|e| e.into_inner()),
        };
    }
}

/// A future that resolves after `d`, without blocking the executor.
pub(crate) struct Sleep(Arc<Mutex<(bool, Option<Waker>)>>);

impl Future for Sleep {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut s = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if s.0 {
            return Poll::Ready(());
        }
        s.1 = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// Sleeps `d` on the timer thread (or, if it cannot start, resolves at
/// once: the caller polls again sooner, never hangs).
pub(crate) fn sleep(d: Duration) -> Sleep {
    let slot = Arc::new(Mutex::new((false, None)));
    let mut g = TIMERS.heap.lock().unwrap_or_else(|e| e.into_inner());
    let pid = std::process::id();
    if g.0 != Some(pid) {
        match std::thread::Builder::new().name("persistdict-timer".into()).spawn(timer_thread) {
            Ok(_) => g.0 = Some(pid),
            Err(e) => {
                warn!(error = %e, "persist_cache: cannot start the timer thread");
                slot.lock().unwrap_or_else(|e| e.into_inner()).0 = true;
                return Sleep(slot);
            }
        }
    }
    g.1.push(Timer { at: Instant::now() + d, slot: slot.clone() });
    drop(g);
    TIMERS.cv.notify_one();
    Sleep(slot)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<F: Future>(f: F) -> F::Output {
        struct Unpark(std::thread::Thread);
        impl std::task::Wake for Unpark {
            fn wake(self: Arc<Self>) {
                self.0.unpark();
            }
        }
        let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
        let mut cx = Context::from_waker(&waker);
        let mut f = std::pin::pin!(f);
        loop {
            if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                return v;
            }
            std::thread::park();
        }
    }

    #[test]
    fn offloaded_work_runs_on_another_thread_and_wakes_the_task() {
        let caller = std::thread::current().id();
        let ran_on = block_on(run(|| std::thread::current().id()));
        assert_ne!(ran_on, caller);
    }

    #[test]
    fn sleeps_end_in_order_and_not_early() {
        let t = Instant::now();
        block_on(sleep(Duration::from_millis(30)));
        assert!(t.elapsed() >= Duration::from_millis(30));
        block_on(async {
            let a = sleep(Duration::from_millis(20));
            let b = sleep(Duration::from_millis(5));
            b.await;
            a.await;
        });
        assert!(t.elapsed() >= Duration::from_millis(50));
    }
}
