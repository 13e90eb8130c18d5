//! `Deadline`: one instant for a whole call, retries included.

use pyo3::prelude::*;
use stanchion::Nanos;

use crate::args;

/// A deadline at an instant of the clock, in nanoseconds.
#[pyclass(frozen, module = "stanchion._stanchion")]
pub struct Deadline {
    pub(crate) core: stanchion::Deadline,
}

#[pymethods]
impl Deadline {
    /// The deadline `timeout` seconds after `now_ns` (saturating).
    #[staticmethod]
    fn after(now_ns: u64, timeout: &Bound<'_, PyAny>) -> PyResult<Deadline> {
        let timeout = args::seconds(timeout, "timeout")?;
        Ok(Deadline {
            core: stanchion::Deadline::after(Nanos::new(now_ns), timeout),
        })
    }

    /// The deadline at `at_ns`.
    #[staticmethod]
    fn at(at_ns: u64) -> Deadline {
        Deadline {
            core: stanchion::Deadline::at(Nanos::new(at_ns)),
        }
    }

    /// When it expires.
    #[getter]
    fn expires_at_ns(&self) -> u64 {
        self.core.expires_at().as_nanos()
    }

    /// Nanoseconds left at `now_ns` (0 once expired).
    fn remaining_ns(&self, now_ns: u64) -> u64 {
        self.core.remaining(Nanos::new(now_ns)).as_nanos()
    }

    /// Whether it has expired at `now_ns`.
    fn is_expired(&self, now_ns: u64) -> bool {
        self.core.is_expired(Nanos::new(now_ns))
    }

    /// The earlier of two deadlines.
    fn min(&self, other: &Deadline) -> Deadline {
        Deadline {
            core: self.core.min(other.core),
        }
    }
}
