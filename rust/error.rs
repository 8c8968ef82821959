//! The one error type of the kernels. The bindings map each kind to one Python exception type.

use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// An argument has a bad value or shape; becomes `ValueError`, the message names the argument.
    Value(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Value(msg) => f.write_str(msg),
        }
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

/// Shorthand for returning a `Error::Value` built with `format!`.
#[macro_export]
macro_rules! value_error {
    ($($arg:tt)*) => { $crate::error::Error::Value(format!($($arg)*)) };
}
