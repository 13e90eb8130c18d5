//! Where `now` comes from: the monotonic clock, or any callable returning nanoseconds.

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use stanchion::Nanos;

/// A primitive's clock.
pub enum Clock {
    /// `time.monotonic_ns`, read natively on Linux (the same clock, without a Python call).
    Monotonic,
    /// A user's callable returning integer nanoseconds (fake time in tests).
    Call(Py<PyAny>),
}

impl Clock {
    /// The clock of a `clock=` argument: `None` is the monotonic clock.
    pub fn from_arg(clock: Option<Bound<'_, PyAny>>) -> PyResult<Clock> {
        match clock {
            None => Ok(Clock::Monotonic),
            Some(c) if c.is_none() => Ok(Clock::Monotonic),
            Some(c) if c.is_callable() => Ok(Clock::Call(c.unbind())),
            Some(c) => Err(PyTypeError::new_err(format!(
                "`clock` must be a callable returning nanoseconds, not {}",
                c.get_type().name()?
            ))),
        }
    }

    /// Reads the clock.
    #[inline]
    pub fn now(&self, py: Python<'_>) -> PyResult<Nanos> {
        match self {
            Clock::Monotonic => monotonic(py),
            Clock::Call(call) => {
                let value = call.call0(py)?;
                value.extract::<u64>(py).map(Nanos::new).map_err(|_| {
                    PyTypeError::new_err(
                        "`clock` must return an int of nanoseconds in 0..=18446744073709551615",
                    )
                })
            }
        }
    }
}

#[cfg(target_os = "linux")]
#[inline]
fn monotonic(_py: Python<'_>) -> PyResult<Nanos> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC always exists on Linux.
    let status = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    if status != 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    let secs = u64::try_from(ts.tv_sec).unwrap_or(0);
    let nanos = u64::try_from(ts.tv_nsec).unwrap_or(0);
    Ok(Nanos::new(
        secs.saturating_mul(1_000_000_000).saturating_add(nanos),
    ))
}

#[cfg(not(target_os = "linux"))]
fn monotonic(py: Python<'_>) -> PyResult<Nanos> {
    let time = py.import("time")?;
    Ok(Nanos::new(time.call_method0("monotonic_ns")?.extract()?))
}

/// `time.monotonic_ns()`, as the primitives read it by default.
#[pyfunction]
pub fn monotonic_ns(py: Python<'_>) -> PyResult<u64> {
    monotonic(py).map(Nanos::as_nanos)
}
