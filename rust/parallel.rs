//! Thread-pool selection and cancellation.
//!
//! Kernels use plain rayon parallel iterators; the caller decides which pool they run in: the
//! bindings run them in this module's pool (see [`Selected`]; its default size follows
//! `RAYON_NUM_THREADS`, like rayon's global pool, which it never uses). Results never
//! depend on the number of threads: every parallel split is over independent dates or assets, and
//! no floating-point reduction crosses a split.
//!
//! Cancellation (Ctrl-C): the bindings wrap each kernel call in a [`Call`]; when the user
//! interrupts, the bindings call [`Call::cancel`] and the kernels, which consult [`cancelled`]
//! between dates or blocks (one relaxed atomic load), skip their remaining work. A kernel stays
//! pure: it only returns early, with an incomplete result that the caller must discard, which
//! [`Call::interrupted`] tells it to do. Outside the bindings (Rust tests) nothing cancels, and
//! [`cancelled`] is always false.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use rayon::{ThreadPool, ThreadPoolBuilder};

/// The pool the kernels run in: built on first use (or by [`set_num_threads`]) with the
/// requested number of threads, and owned by the process that built it.
///
/// Never rayon's global pool: a process forked after using it (Python's `multiprocessing` with
/// the `"fork"` start method, the default on Linux before Python 3.14) inherits a pool whose
/// threads do not exist in the child, and every kernel call there would wait for them forever.
/// Our pool records the id of the process that built it; a child sees a different id and builds
/// a pool of its own with the same number of threads (the parent's, inherited by the copy, is
/// leaked: dropping it would signal threads that are not there).
struct Selected {
    /// The number of threads asked for (0 = rayon's default: `RAYON_NUM_THREADS` or the cores).
    requested: usize,
    /// The pool and the id of the process whose threads run it.
    pool: Option<(Arc<ThreadPool>, u32)>,
}

static POOL: RwLock<Selected> = RwLock::new(Selected { requested: 0, pool: None });

fn build(n: usize) -> Result<Arc<ThreadPool>, String> {
    ThreadPoolBuilder::new()
        .num_threads(n)
        .thread_name(|i| format!("ferrofactor-{i}"))
        .build()
        .map(Arc::new)
        .map_err(|e| e.to_string())
}

/// Use a pool of `n` threads from now on; `n == 0` returns to rayon's default number of threads
/// (`RAYON_NUM_THREADS`, else the number of cores).
pub fn set_num_threads(n: usize) -> Result<(), String> {
    let new = build(n)?;
    let mut sel = POOL.write().unwrap_or_else(|p| p.into_inner());
    let old = sel.pool.replace((new, std::process::id()));
    sel.requested = n;
    drop(sel);
    if let Some((old, pid)) = old {
        if pid != std::process::id() {
            std::mem::forget(old); // a forked parent's pool: its threads are not in this process
        }
    }
    Ok(())
}

/// The pool of this process, built now if there is none yet (or only a forked parent's).
fn pool() -> Arc<ThreadPool> {
    let pid = std::process::id();
    if let Some((pool, owner)) = POOL.read().unwrap_or_else(|p| p.into_inner()).pool.as_ref() {
        if *owner == pid {
            return pool.clone();
        }
    }
    let mut sel = POOL.write().unwrap_or_else(|p| p.into_inner());
    if let Some((pool, owner)) = sel.pool.as_ref() {
        if *owner == pid {
            return pool.clone(); // another thread built it meanwhile
        }
    }
    let new = build(sel.requested).unwrap_or_else(|e| {
        // The operating system refused the threads: fall back to a pool of one, built again
        // (a pool of one thread is always possible when the process can run at all).
        build(1).unwrap_or_else(|_| panic!("could not start ferrofactor's thread pool: {e}"))
    });
    if let Some((old, _)) = sel.pool.replace((new.clone(), pid)) {
        std::mem::forget(old); // a forked parent's pool: its threads are not in this process
    }
    new
}

/// The number of threads kernels run on now.
pub fn num_threads() -> usize {
    pool().current_num_threads()
}

/// Run `op` in a scope of the selected pool: `op` runs on the calling thread, and what it spawns
/// on the scope runs on the pool's threads (so the parallel iterators inside use that pool).
pub fn in_place_scope<'s, R>(op: impl FnOnce(&rayon::Scope<'s>) -> R) -> R {
    pool().in_place_scope(op)
}

// --- cancellation -----------------------------------------------------------------------------

/// Cancellation state: `stop` is set while a cancellation is pending and read by the kernels;
/// everything else happens under the `calls` lock, so a call can tell exactly whether a
/// cancellation may have cut its kernel short.
pub struct Cancellation {
    stop: AtomicBool,
    calls: Mutex<Calls>,
}

/// The calls in progress and the number of cancellations ever requested.
struct Calls {
    active: usize,
    requests: u64,
}

/// The state the kernels consult through [`cancelled`].
static CANCELLATION: Cancellation = Cancellation::new();

/// Whether the kernel running now should stop: kernels check it between dates or blocks and skip
/// their remaining work when it is true.
#[inline]
pub fn cancelled() -> bool {
    CANCELLATION.is_set()
}

impl Cancellation {
    const fn new() -> Self {
        Cancellation { stop: AtomicBool::new(false), calls: Mutex::new(Calls { active: 0, requests: 0 }) }
    }

    #[inline]
    fn is_set(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    fn calls(&self) -> std::sync::MutexGuard<'_, Calls> {
        self.calls.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Start a call. The flag is cleared when no call is in progress, so a new call starts
    /// uncancelled; while another call is being cancelled (two Python threads), a new call is
    /// cancelled too, and reports it.
    fn begin(&'static self) -> Call {
        let mut c = self.calls();
        if c.active == 0 {
            self.stop.store(false, Ordering::SeqCst);
        }
        c.active += 1;
        Call {
            state: self,
            requests_at_start: c.requests,
            stopped_at_start: self.stop.load(Ordering::SeqCst),
        }
    }
}

/// One kernel call that can be cancelled (a guard: dropping it ends the call).
pub struct Call {
    state: &'static Cancellation,
    requests_at_start: u64,
    stopped_at_start: bool,
}

impl Call {
    /// Start a call against the state the kernels consult.
    pub fn begin() -> Call {
        CANCELLATION.begin()
    }

    /// Ask every running kernel to stop.
    pub fn cancel(&self) {
        let mut c = self.state.calls();
        c.requests += 1;
        self.state.stop.store(true, Ordering::SeqCst);
    }

    /// Whether a cancellation was requested while this call ran (its kernel may have skipped
    /// work: the result must be discarded). Ask after the kernel has returned.
    pub fn interrupted(&self) -> bool {
        let c = self.state.calls();
        self.stopped_at_start || c.requests != self.requests_at_start
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        let mut c = self.state.calls();
        c.active -= 1;
        if c.active == 0 {
            self.state.stop.store(false, Ordering::SeqCst);
        }
    }
}

/// Run `f` in the selected pool.
pub fn install<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    pool().install(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    // A private state, so that the kernels tested in parallel never see this test's flag.
    static STATE: Cancellation = Cancellation::new();

    #[test]
    fn cancellation_is_scoped_to_the_calls_in_progress() {
        let a = STATE.begin();
        assert!(!STATE.is_set() && !a.interrupted());
        let b = STATE.begin();
        a.cancel();
        assert!(STATE.is_set());
        assert!(a.interrupted() && b.interrupted());
        // A call that starts while the cancellation is pending is stopped too, and knows it.
        let c = STATE.begin();
        assert!(STATE.is_set() && c.interrupted());
        drop((a, b));
        assert!(STATE.is_set(), "the flag stays set while a cancelled call is in progress");
        drop(c);
        // Nothing in progress: the next call starts clean.
        let d = STATE.begin();
        assert!(!STATE.is_set() && !d.interrupted());
        assert!(!cancelled(), "the kernels' state is untouched");
    }
}
