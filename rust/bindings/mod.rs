//! All PyO3 glue, one file per concern: argument checks, GIL release, numpy in/out and errors.
//!
//! This file holds what every concern shares: [`run`] (the one place the GIL is released),
//! the error mapping, the output conversion ([`call`], [`IntoPyOutput`]) and small argument
//! helpers. Each sibling file wraps the kernels of one Rust module and registers its functions
//! with a `register` function called from [`register`].
//!
//! Every heavy call goes through [`run`], which releases the GIL for the whole kernel, runs it in
//! the selected rayon pool, stops it on Ctrl-C (`KeyboardInterrupt`), maps `Error::Value` to
//! `ValueError` and turns a panic (a bug, never expected) into a `RuntimeError` instead of letting
//! it cross into Python; a panic hook keeps the panic's message out of stderr.
//!
//! The Python wrappers in `python/ferrofactor` convert dtypes and layouts once and name the
//! user's arguments; the checks here are a second line that keeps bad shapes out of the kernels.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Mutex, Once};
use std::time::Duration;

use ndarray::{Array, Dimension};
use numpy::{Element, IntoPyArray, PyArray, PyArray1, PyArray2, PyReadonlyArray1, PyReadwriteArray2};
use pyo3::exceptions::{PyKeyboardInterrupt, PyRuntimeError, PyValueError};
use pyo3::prelude::*;

use crate::error::Error;
use crate::parallel;

mod attribution;
mod backtest;
mod clean;
mod codes;
mod evaluate;
mod exposures;
mod panel;
mod regress;
mod risk;
mod rolling;
mod timeseries;
mod validation;

/// Register every `_core` function.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    install_panic_hook();
    m.add_function(wrap_pyfunction!(set_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(get_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(_panic_for_test, m)?)?;
    rolling::register(m)?;
    regress::register(m)?;
    clean::register(m)?;
    codes::register(m)?;
    exposures::register(m)?;
    panel::register(m)?;
    risk::register(m)?;
    backtest::register(m)?;
    timeseries::register(m)?;
    attribution::register(m)?;
    evaluate::register(m)?;
    validation::register(m)?;
    Ok(())
}

// --- errors and the GIL-release helper --------------------------------------------------------

/// Each kernel error kind maps to one Python exception type.
pub(crate) fn to_py_err(e: Error) -> PyErr {
    match e {
        Error::Value(msg) => PyValueError::new_err(msg),
    }
}

/// A bug on our side (never bad input): `RuntimeError` asking for a report.
pub(crate) fn internal_error(msg: impl std::fmt::Display) -> PyErr {
    PyRuntimeError::new_err(format!("ferrofactor internal error (please report): {msg}"))
}

// --- panics ------------------------------------------------------------------------------------

/// The message and location of the latest panic, recorded by the hook for [`panic_error`].
static LAST_PANIC: Mutex<Option<(String, String)>> = Mutex::new(None);

/// The text of a panic payload (`panic!` with a literal gives `&str`, with arguments `String`).
fn payload_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_string())
}

/// Replace the default panic hook (which prints the message and, with `RUST_BACKTRACE`, a
/// backtrace to stderr) by one that only records the message and location: every panic of ours is
/// caught (in [`run`], or by PyO3 around a `#[pyfunction]`) and its message goes into the Python
/// exception. The hook belongs to this extension's copy of the Rust standard library, so other
/// extensions keep theirs. Set `FERROFACTOR_PANIC_VERBOSE=1` to also get the default output when
/// debugging.
fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let location = info
                .location()
                .map(|l| format!("{}:{}", l.file(), l.line()))
                .unwrap_or_default();
            *LAST_PANIC.lock().unwrap_or_else(|p| p.into_inner()) =
                Some((payload_text(info.payload()), location));
            if std::env::var_os("FERROFACTOR_PANIC_VERBOSE").is_some_and(|v| v != "0") {
                default(info);
            }
        }));
    });
}

/// The `RuntimeError` for a caught panic: its message, and where it happened when the hook
/// recorded this very message (another thread's panic in between leaves the location out).
fn panic_error(payload: Box<dyn std::any::Any + Send>) -> PyErr {
    let msg = payload_text(&*payload);
    let recorded = LAST_PANIC.lock().unwrap_or_else(|p| p.into_inner()).take();
    match recorded {
        Some((m, location)) if m == msg && !location.is_empty() => {
            internal_error(format!("{msg} (at {location})"))
        }
        _ => internal_error(msg),
    }
}

/// Test only (not part of the API): panic inside a parallel kernel run through [`run`], so the
/// tests can check that a panic becomes a quiet `RuntimeError` (nothing printed to stderr).
#[pyfunction]
fn _panic_for_test(py: Python<'_>) -> PyResult<()> {
    use rayon::prelude::*;
    run(py, || {
        (0..64usize).into_par_iter().for_each(|i| {
            if i == 37 {
                panic!("deliberate panic for the test suite (item {i})");
            }
        });
        Ok(())
    })
}

/// How often a waiting call looks for signals (Ctrl-C) while its kernel runs.
const SIGNAL_POLL: Duration = Duration::from_millis(50);

/// What a kernel task hands back: its result, or the payload of its panic.
type Caught<T> = std::thread::Result<crate::error::Result<T>>;

/// Release the GIL, run `f` in the selected pool, map errors and panics; stop on Ctrl-C.
///
/// The kernel runs as a task on the pool while the calling thread, without the GIL, waits for it;
/// every [`SIGNAL_POLL`] the caller takes the GIL back and runs Python's signal handlers
/// (`check_signals`). When one raises (`KeyboardInterrupt` for Ctrl-C), the caller asks the
/// kernels to stop ([`parallel::Call::cancel`]; they check [`parallel::cancelled`] between dates
/// or blocks), waits for the kernel to return, discards its result and raises that exception. So
/// a result is returned only when the kernel ran to completion. A kernel cut short by another
/// thread's cancellation raises `KeyboardInterrupt` too.
pub(crate) fn run<T, F>(py: Python<'_>, f: F) -> PyResult<T>
where
    T: Send,
    F: FnOnce() -> crate::error::Result<T> + Send,
{
    let call = parallel::Call::begin();
    let (out, signal) = py.detach(|| wait_for(f, &call));
    let interrupted = call.interrupted();
    drop(call);
    if let Some(e) = signal {
        return Err(e);
    }
    if interrupted {
        return Err(PyKeyboardInterrupt::new_err(
            "ferrofactor kernel interrupted (a cancellation was requested while it ran)",
        ));
    }
    match out {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(to_py_err(e)),
        Err(panic) => Err(panic_error(panic)),
    }
}

/// Run `f` as a task on the selected pool and wait for it (GIL released), looking for signals
/// while it runs. Returns the task's outcome and the exception a signal handler raised, if any.
fn wait_for<T, F>(f: F, call: &parallel::Call) -> (Caught<T>, Option<PyErr>)
where
    T: Send,
    F: FnOnce() -> crate::error::Result<T> + Send,
{
    let (tx, rx) = mpsc::channel::<Caught<T>>();
    let mut signal: Option<PyErr> = None;
    let out = parallel::in_place_scope(|scope| {
        scope.spawn(move |_| {
            // The receiver outlives the task (the scope waits for it), so send cannot fail.
            let _ = tx.send(catch_unwind(AssertUnwindSafe(f)));
        });
        loop {
            match rx.recv_timeout(SIGNAL_POLL) {
                Ok(out) => break out,
                Err(RecvTimeoutError::Timeout) => {
                    if signal.is_none() {
                        if let Err(e) = Python::attach(|py| py.check_signals()) {
                            call.cancel();
                            signal = Some(e);
                        }
                    }
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let lost: Box<dyn std::any::Any + Send> =
                        Box::new("the kernel task ended without a result");
                    break Err(lost);
                }
            }
        }
    });
    (out, signal)
}

/// A kernel result that becomes a Python value without a copy: arrays and `Vec`s become numpy
/// arrays (ownership moves to numpy), tuples convert element by element.
pub(crate) trait IntoPyOutput<'py> {
    type Out;
    fn into_py_output(self, py: Python<'py>) -> Self::Out;
}

impl<'py, A: Element, D: Dimension> IntoPyOutput<'py> for Array<A, D> {
    type Out = Bound<'py, PyArray<A, D>>;
    fn into_py_output(self, py: Python<'py>) -> Self::Out {
        self.into_pyarray(py)
    }
}

impl<'py, A: Element> IntoPyOutput<'py> for Vec<A> {
    type Out = Bound<'py, PyArray1<A>>;
    fn into_py_output(self, py: Python<'py>) -> Self::Out {
        self.into_pyarray(py)
    }
}

impl<'py> IntoPyOutput<'py> for () {
    type Out = ();
    fn into_py_output(self, _py: Python<'py>) -> Self::Out {}
}

macro_rules! tuple_output {
    ($($t:ident $v:ident),+) => {
        impl<'py, $($t: IntoPyOutput<'py>),+> IntoPyOutput<'py> for ($($t,)+) {
            type Out = ($($t::Out,)+);
            fn into_py_output(self, py: Python<'py>) -> Self::Out {
                let ($($v,)+) = self;
                ($($v.into_py_output(py),)+)
            }
        }
    };
}
tuple_output!(A a, B b);
tuple_output!(A a, B b, C c);
tuple_output!(A a, B b, C c, D d);
tuple_output!(A a, B b, C c, D d, E e);

/// [`run`] a kernel and hand its result to numpy: the body of most wrappers.
pub(crate) fn call<'py, T, F>(py: Python<'py>, f: F) -> PyResult<T::Out>
where
    T: IntoPyOutput<'py> + Send,
    F: FnOnce() -> crate::error::Result<T> + Send,
{
    Ok(run(py, f)?.into_py_output(py))
}

// --- shared argument helpers ------------------------------------------------------------------

/// Check that `shape` equals `want`, naming the argument.
pub(crate) fn check_shape(name: &str, shape: &[usize], want: &[usize]) -> PyResult<()> {
    if shape != want {
        return Err(PyValueError::new_err(format!(
            "{name} has shape {shape:?}, expected {want:?}"
        )));
    }
    Ok(())
}

/// A fresh (T, N) float64 output from numpy's allocator (calloc, with numpy's huge-page advice
/// for large arrays, so the page faults are few and happen inside the parallel kernel).
pub(crate) fn zeros_2d<'py>(py: Python<'py>, shape: &[usize]) -> Bound<'py, PyArray2<f64>> {
    PyArray2::<f64>::zeros(py, [shape[0], shape[1]], false)
}

pub(crate) fn borrow_err(e: numpy::BorrowError) -> PyErr {
    internal_error(e)
}

/// The flat buffers of C-contiguous float64 output arrays (an F-ordered array is refused: its
/// memory order is not the row-major order the kernels write).
pub(crate) fn out_slices<'a>(outs: &'a mut [PyReadwriteArray2<'_, f64>]) -> PyResult<Vec<&'a mut [f64]>> {
    let bad = || PyValueError::new_err("outs must be C-contiguous float64 arrays");
    let mut slices = Vec::with_capacity(outs.len());
    for o in outs.iter_mut() {
        if !o.as_array().is_standard_layout() {
            return Err(bad());
        }
        slices.push(o.as_slice_mut().map_err(|_| bad())?);
    }
    Ok(slices)
}

/// The contiguous buffer of a 1-d array, naming the argument when it is strided.
pub(crate) fn contiguous<'a, T: Element>(name: &str, a: &'a PyReadonlyArray1<'_, T>) -> PyResult<&'a [T]> {
    a.as_slice()
        .map_err(|_| PyValueError::new_err(format!("{name} must be contiguous 1-d arrays")))
}

// --- threads ----------------------------------------------------------------------------------

/// Use `n` threads for ferrofactor's kernels (0 = rayon's default, which follows RAYON_NUM_THREADS).
#[pyfunction]
fn set_num_threads(n: usize) -> PyResult<()> {
    parallel::set_num_threads(n).map_err(PyRuntimeError::new_err)
}

/// The number of threads ferrofactor's kernels run on.
#[pyfunction]
fn get_num_threads() -> usize {
    parallel::num_threads()
}
