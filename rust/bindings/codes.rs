//! Glue for `rust/codes.rs`: dense industry codes from arbitrary integer labels.

use ndarray::IxDyn;
use numpy::{IntoPyArray, PyArray1, PyArrayDyn, PyArrayMethods, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use super::{borrow_err, internal_error, run};
use crate::codes;

pub(super) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(dense_codes, m)?)?;
    Ok(())
}

/// `(dense codes shaped like the input, sorted distinct values)`.
type DenseOut<'py> = (Bound<'py, PyArrayDyn<i32>>, Bound<'py, PyArray1<i64>>);

/// Dense codes of integer labels: returns `(dense, values)`, `dense` int32 shaped like `codes`
/// (−1 stays −1, any other value its position in `values`), `values` the sorted distinct int64
/// values other than −1.
#[pyfunction]
fn dense_codes<'py>(
    py: Python<'py>,
    codes: PyReadonlyArrayDyn<'py, i64>,
) -> PyResult<DenseOut<'py>> {
    let c = codes
        .as_slice()
        .map_err(|_| PyValueError::new_err("codes must be a C-contiguous int64 array"))?;
    let out = PyArrayDyn::<i32>::zeros(py, IxDyn(codes.shape()), false);
    let values = {
        let mut guard = out.try_readwrite().map_err(borrow_err)?;
        let o = guard.as_slice_mut().map_err(internal_error)?;
        run(py, || codes::dense_codes_into(c, o))?
    };
    Ok((out, values.into_pyarray(py)))
}
