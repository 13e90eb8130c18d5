//! Where `now` comes from: the monotonic clock, or any callable returning nanoseconds.

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyFloat, PyInt};
use stanchion::Nanos;

use crate::args;
use crate::errors;

/// What a clock must return, in the words of every clock error.
const RETURNS: &str = "integer nanoseconds, e.g. time.monotonic_ns";

/// A primitive's clock.
pub enum Clock {
    /// `time.monotonic_ns`, read natively on Linux (the same clock, without a Python call).
    Monotonic,
    /// A user's callable returning integer nanoseconds (fake time in tests).
    Call(Py<PyAny>),
}

/// A clock's reading as nanoseconds, or the error that says what a clock must return: a
/// `TypeError` for anything but an int (a float of seconds gets a hint), a `ConfigError` for
/// an int out of `0..=u64::MAX`.
pub fn reading(value: &Bound<'_, PyAny>) -> PyResult<Nanos> {
    let py = value.py();
    if !value.is_instance_of::<PyInt>() || value.is_instance_of::<PyBool>() {
        let hint = if value.is_instance_of::<PyFloat>() {
            " (time.monotonic returns float seconds)"
        } else {
            ""
        };
        return Err(PyTypeError::new_err(format!(
            "clock must return {RETURNS}{hint}, got {}",
            args::described(value)
        )));
    }
    value.extract::<u64>().map(Nanos::new).map_err(|_| {
        errors::config(
            py,
            "clock",
            "a callable returning integer nanoseconds from 0 to 18446744073709551615, \
             e.g. time.monotonic_ns",
            Some(value),
        )
    })
}

/// Checks a `clock=` argument as the primitives take it: `None`, or a callable whose reading
/// (it is called once, now) is integer nanoseconds. Shared with the pure Python classes.
#[pyfunction]
pub fn check_clock(clock: &Bound<'_, PyAny>) -> PyResult<()> {
    if clock.is_none() {
        return Ok(());
    }
    if !clock.is_callable() {
        return Err(args::type_error(
            "clock",
            &format!("a callable returning {RETURNS}"),
            clock,
        ));
    }
    reading(&clock.call0()?).map(drop)
}

impl Clock {
    /// The clock of a `clock=` argument: `None` is the monotonic clock; a callable is read
    /// once, so that one returning the wrong thing is refused here rather than at first use.
    pub fn from_arg(clock: Option<Bound<'_, PyAny>>) -> PyResult<Clock> {
        match clock {
            None => Ok(Clock::Monotonic),
            Some(c) if c.is_none() => Ok(Clock::Monotonic),
            Some(c) => {
                check_clock(&c)?;
                Ok(Clock::Call(c.unbind()))
            }
        }
    }

    /// Reads the clock.
    #[inline]
    pub fn now(&self, py: Python<'_>) -> PyResult<Nanos> {
        match self {
            Clock::Monotonic => monotonic(py),
            Clock::Call(call) => reading(call.bind(py).call0()?.as_any()),
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
