//! Fork detection. LMDB environments cannot be used across `fork()`: a
//! child that inherited one must not read, write or close it. A
//! `pthread_atfork` child handler bumps a process-wide generation counter;
//! each store remembers the generation it was opened in, so the check on
//! every operation is one atomic load (no `getpid` system call).

use std::sync::atomic::{AtomicU64, Ordering};

static GENERATION: AtomicU64 = AtomicU64::new(0);

#[cfg(unix)]
extern "C" fn in_child() {
    // Async-signal-safe: one atomic add.
    GENERATION.fetch_add(1, Ordering::Relaxed);
}

/// The current fork generation: it changes in a child after each `fork()`.
/// The first call installs the handler.
pub(crate) fn generation() -> u64 {
    #[cfg(unix)]
    {
        static INSTALL: std::sync::Once = std::sync::Once::new();
        INSTALL.call_once(|| {
            // SAFETY: registers a handler that only does an atomic add, which
            // is safe to run in a freshly forked child.
            let rc = unsafe { libc::pthread_atfork(None, None, Some(in_child)) };
            if rc != 0 {
                tracing::warn!(rc, "pthread_atfork failed: a fork() child cannot be told from its parent");
            }
        });
    }
    GENERATION.load(Ordering::Relaxed)
}
