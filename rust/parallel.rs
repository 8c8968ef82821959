//! Thread-pool selection. Kernels use plain rayon parallel iterators; the caller decides which
//! pool they run in. With no explicit pool they run in rayon's global pool, which follows
//! `RAYON_NUM_THREADS`. Results never depend on the number of threads: every parallel split is
//! over independent dates or assets, and no floating-point reduction crosses a split.

use std::sync::{Arc, RwLock};

use rayon::{ThreadPool, ThreadPoolBuilder};

static POOL: RwLock<Option<Arc<ThreadPool>>> = RwLock::new(None);

/// Use a dedicated pool of `n` threads from now on; `n == 0` returns to rayon's global pool.
pub fn set_num_threads(n: usize) -> Result<(), String> {
    let new = if n == 0 {
        None
    } else {
        Some(Arc::new(
            ThreadPoolBuilder::new()
                .num_threads(n)
                .thread_name(|i| format!("ferrofactor-{i}"))
                .build()
                .map_err(|e| e.to_string())?,
        ))
    };
    *POOL.write().unwrap_or_else(|p| p.into_inner()) = new;
    Ok(())
}

/// The number of threads kernels run on now.
pub fn num_threads() -> usize {
    match POOL.read().unwrap_or_else(|p| p.into_inner()).as_ref() {
        Some(pool) => pool.current_num_threads(),
        None => rayon::current_num_threads(),
    }
}

/// Run `f` in the selected pool.
pub fn install<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    let pool = POOL.read().unwrap_or_else(|p| p.into_inner()).clone();
    match pool {
        Some(pool) => pool.install(f),
        None => f(),
    }
}
