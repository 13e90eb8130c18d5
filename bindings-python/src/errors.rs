//! Refusals and config errors as the Python exceptions of `stanchion._errors`.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyModule;
use stanchion::{Reason, Rejected};

static ERRORS: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

fn class<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
    let module =
        ERRORS.get_or_try_init(py, || py.import("stanchion._errors").map(Bound::unbind))?;
    module.bind(py).getattr(name)
}

/// The exception for a core refusal: the class by reason, with the reason's stable name and
/// `retry_after` in nanoseconds.
pub fn refused(py: Python<'_>, rejected: Rejected) -> PyErr {
    let name = match rejected.reason {
        Reason::BreakerOpen | Reason::HalfOpenFull | Reason::ForcedOpen => "CircuitOpenError",
        Reason::BulkheadFull | Reason::QueueFull => "BulkheadFullError",
        Reason::RetryBudgetExhausted => "RetryBudgetExhaustedError",
        _ => "RateLimitedError",
    };
    let reason = rejected.reason.as_str();
    let after = rejected.retry_after.map(|n| n.as_nanos());
    let message = match rejected.retry_after {
        Some(n) => format!("{reason}: retry after {:.9} s", n.as_nanos() as f64 / 1e9),
        None => reason.to_owned(),
    };
    match class(py, name).and_then(|cls| cls.call1((message, reason, after))) {
        Ok(err) => PyErr::from_value(err),
        Err(err) => err,
    }
}

/// A `ConfigError` (also a `ValueError`) naming the Python parameter, its allowed values in
/// Python's words and the value received (`None` when there was none).
pub fn config(
    py: Python<'_>,
    parameter: &str,
    allowed: &str,
    got: Option<&Bound<'_, PyAny>>,
) -> PyErr {
    config_of_field(py, parameter, allowed, parameter, got)
}

/// A `ConfigError` that also carries the core's name of the field (`window.count`), the name
/// conformance files use.
pub fn config_of_field(
    py: Python<'_>,
    parameter: &str,
    allowed: &str,
    field: &str,
    got: Option<&Bound<'_, PyAny>>,
) -> PyErr {
    let made = class(py, "ConfigError").and_then(|cls| match got {
        Some(got) => cls.call1((parameter, allowed, field, got)),
        None => cls.call1((parameter, allowed, field)),
    });
    match made {
        Ok(err) => PyErr::from_value(err),
        Err(err) => err,
    }
}
