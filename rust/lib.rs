//! ferrofactor's Rust core: pure numerical kernels over ndarray views, one module per concern.
//!
//! The kernels know nothing of Python; `bindings` (built only with the `python` feature, which
//! maturin switches on) holds all PyO3 glue. `cargo test` exercises the kernels without Python.

pub mod attribution;
pub mod backtest;
pub mod clean;
pub mod codes;
pub mod error;
pub mod evaluate;
pub mod exposures;
pub mod linalg;
pub mod panel;
pub mod parallel;
pub mod regress;
pub mod risk;
pub mod rolling;
pub mod timeseries;

#[cfg(feature = "python")]
mod bindings;

#[cfg(feature = "python")]
#[pyo3::pymodule]
fn _core(m: &pyo3::Bound<'_, pyo3::types::PyModule>) -> pyo3::PyResult<()> {
    bindings::register(m)
}
