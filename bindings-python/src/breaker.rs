//! `CircuitBreaker`: the core's default breaker (W = 10: a count window of up to 320 calls, a
//! time window of up to 10 buckets), its permits, snapshots and transition reports.

use std::sync::atomic::{AtomicBool, Ordering};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use stanchion::breaker::{
    BreakerConfig, CircuitBreaker as Core, Outcome, RawPermit, Transition, Window,
};
use stanchion::{ConfigError, Nanos};

use crate::args::{core_config_error, Config};
use crate::clock::Clock;
use crate::errors;

/// A circuit breaker over the core's; the Python class `stanchion.CircuitBreaker` wraps it.
#[pyclass(frozen, module = "stanchion._stanchion")]
pub struct CircuitBreaker {
    core: Core,
    clock: Clock,
    on_transition: Option<Py<PyAny>>,
}

/// Admission to one call through a breaker: report it once with `success`, `failure`,
/// `ignored` or `release` (later reports do nothing).
///
/// The reports take no arguments, so each is one cheap call on the hot path. A permit dropped
/// unreported (garbage-collected, or abandoned without a report) is released, as the core's
/// `Permit` is when dropped: its probe slot is freed and nothing is recorded, since nobody
/// knows how the call ended. The decorators report every ending, success included.
#[pyclass(frozen, freelist = 64, module = "stanchion._stanchion")]
pub struct BreakerPermit {
    breaker: Py<CircuitBreaker>,
    raw: RawPermit,
    used: AtomicBool,
}

impl Drop for BreakerPermit {
    fn drop(&mut self) {
        if *self.used.get_mut() {
            return;
        }
        // During interpreter shutdown there is no one left to report to.
        let _ = Python::try_attach(|py| {
            if let Err(err) = self.report(py, None) {
                err.write_unraisable(py, None);
            }
        });
    }
}

impl BreakerPermit {
    #[inline]
    fn report(&self, py: Python<'_>, outcome: Option<Outcome>) -> PyResult<()> {
        if self.used.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let breaker = self.breaker.get();
        let now = breaker.clock.now(py)?;
        let transition = match outcome {
            Some(outcome) => breaker.core.record_raw(self.raw, outcome, now),
            None => breaker.core.release_raw(self.raw, now),
        };
        breaker.emit(py, transition)
    }
}

#[pymethods]
impl BreakerPermit {
    /// The call worked.
    fn success(&self, py: Python<'_>) -> PyResult<()> {
        self.report(py, Some(Outcome::Success))
    }

    /// The call failed in a way that counts against the dependency.
    fn failure(&self, py: Python<'_>) -> PyResult<()> {
        self.report(py, Some(Outcome::Failure))
    }

    /// Neither: not counted; frees a probe slot.
    fn ignored(&self, py: Python<'_>) -> PyResult<()> {
        self.report(py, Some(Outcome::Ignored))
    }

    /// Abandons the call (cancelled): frees its probe slot, records nothing.
    fn release(&self, py: Python<'_>) -> PyResult<()> {
        self.report(py, None)
    }

    /// Whether the permit has been reported.
    #[getter]
    fn reported(&self) -> bool {
        self.used.load(Ordering::Acquire)
    }

    /// When the permit was issued, in clock nanoseconds.
    #[getter]
    fn issued_at_ns(&self) -> u64 {
        self.raw.issued_at().as_nanos()
    }

    /// The breaker generation the permit belongs to.
    #[getter]
    fn generation(&self) -> u32 {
        self.raw.generation()
    }
}

const COUNT: &str = "an int from 1 to 4294967295";
const COUNT_OR_NONE: &str = "an int from 1 to 4294967295, or None";
const PROBES: &str = "an int from 1 to 65535";
const PROBES_OR_NONE: &str = "an int from 1 to 65535, or None";
const RATE: &str = "a number in (0, 1]";
const WINDOW_CALLS: &str = "an int from 1 to 320, or None for a time window";
const WINDOW_BUCKETS: &str = "an int from 1 to 10";

/// The core's breaker fields as Python parameters, with their allowed values. The window
/// limits are the default breaker's (`W = 10`), tighter than the config's own.
fn describe(field: &str) -> Option<(&'static str, &'static str)> {
    Some(match field {
        "failure_count" => ("failure_count", COUNT_OR_NONE),
        "consecutive_failures" => ("consecutive_failures", COUNT_OR_NONE),
        "failure_rate" => ("failure_rate", "a number in (0, 1], or None"),
        "minimum_calls" => ("minimum_calls", COUNT),
        "slow_call.duration" => ("slow_call_duration", "a number of seconds > 0"),
        "slow_call.rate" => ("slow_call_rate", RATE),
        "window.count" => ("window_calls", WINDOW_CALLS),
        "window.buckets" => ("window_buckets", WINDOW_BUCKETS),
        "window.span" => (
            "window_seconds",
            "a number of seconds of at least 1 ns per bucket (window_buckets nanoseconds)",
        ),
        "open_for_max" => ("open_for_max", "a number of seconds ≥ open_for, or None"),
        "open_for_factor" => ("open_for_factor", "a number in [1, 65535]"),
        "open_for_jitter" => ("open_for_jitter", "a number in [0, 1]"),
        "half_open_probes" => ("half_open_probes", PROBES),
        "half_open_successes" => ("half_open_successes", PROBES_OR_NONE),
        "probe_timeout" => ("probe_timeout", "a number of seconds > 0, or None"),
        "config" => (
            "reconfigure",
            "called once at a time (another reconfigure is half done: try again)",
        ),
        _ => return None,
    })
}

/// A `BreakerConfig` from the Python parameters (missing keys take the defaults).
fn config_of(py: Python<'_>, obj: &Bound<'_, PyAny>) -> PyResult<BreakerConfig> {
    let c = Config::new(obj)?;
    let open_for = c.seconds("open_for", Nanos::from_secs(30))?;
    let mut config = BreakerConfig::new()
        .failure_count(c.core_opt_count("failure_count", COUNT_OR_NONE, Some(5))?)
        .consecutive_failures(c.core_opt_count("consecutive_failures", COUNT_OR_NONE, None)?)
        .failure_rate(c.opt_real("failure_rate")?.map(|r| r as f32))
        .minimum_calls(c.core_count("minimum_calls", COUNT, 10)?)
        .open_for(open_for)
        .open_for_growth(
            c.opt_seconds("open_for_max")?.unwrap_or(open_for),
            c.real("open_for_factor", 2.0)? as f32,
            c.real("open_for_jitter", 0.0)? as f32,
        )
        .half_open(
            c.core_count("half_open_probes", PROBES, 1)?,
            c.core_opt_count("half_open_successes", PROBES_OR_NONE, None)?,
        )
        .probe_timeout(c.opt_seconds("probe_timeout")?)
        .seed(
            c.get("seed")?
                .map_or(Ok(0), |s| crate::args::integer(&s, "seed", 0, u64::MAX))?,
        );
    match (
        c.opt_seconds("slow_call_duration")?,
        c.opt_real("slow_call_rate")?,
    ) {
        (Some(duration), Some(rate)) => config = config.slow_call(duration, rate as f32),
        (None, None) => {}
        (Some(_), None) => {
            return Err(errors::config(
                py,
                "slow_call_rate",
                "a number in (0, 1] when slow_call_duration is given",
                obj.get_item("slow_call_rate").ok().as_ref(),
            ))
        }
        (None, Some(_)) => {
            return Err(errors::config(
                py,
                "slow_call_duration",
                "a number of seconds > 0 when slow_call_rate is given",
                obj.get_item("slow_call_duration").ok().as_ref(),
            ))
        }
    }
    config = match c.core_opt_count("window_calls", WINDOW_CALLS, None)? {
        Some(n) => config.window(Window::Count(n)),
        None => config.window(Window::Time {
            span: c.seconds("window_seconds", Nanos::from_secs(10))?,
            buckets: c.core_count("window_buckets", WINDOW_BUCKETS, 10)?,
        }),
    };
    Ok(config)
}

/// A core config error in Python's words; `obj` is the dict of Python parameters.
fn core_error(obj: &Bound<'_, PyAny>, config: &BreakerConfig, err: ConfigError) -> PyErr {
    if err.field == "window" {
        // The window does not fit the default breaker's `W = 10` words.
        let (name, allowed) = match config.window {
            Window::Count(_) => ("window_calls", WINDOW_CALLS),
            Window::Time { .. } => ("window_buckets", WINDOW_BUCKETS),
        };
        let got = obj.get_item(name).ok();
        return errors::config_of_field(obj.py(), name, allowed, "window", got.as_ref());
    }
    core_config_error(obj, err, describe)
}

impl CircuitBreaker {
    /// A breaker over a core config built in Rust (the fleet tier's connection breaker), with
    /// the same clock and transition callback as one made from Python.
    pub(crate) fn from_core(
        config: BreakerConfig,
        clock: Option<Bound<'_, PyAny>>,
        on_transition: Option<Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let core = Core::new(config).map_err(|e| {
            PyValueError::new_err(format!("the core refused its own breaker config: {e}"))
        })?;
        Ok(CircuitBreaker {
            core,
            clock: Clock::from_arg(clock)?,
            on_transition: on_transition.filter(|c| !c.is_none()).map(Bound::unbind),
        })
    }

    #[inline]
    fn admit(slf: &Bound<'_, Self>) -> PyResult<BreakerPermit> {
        let py = slf.py();
        let this = slf.get();
        let now = this.clock.now(py)?;
        let (admitted, transition) = this.core.try_acquire_raw(now);
        this.emit(py, transition)?;
        match admitted {
            Ok(raw) => Ok(BreakerPermit {
                breaker: slf.clone().unbind(),
                raw,
                used: AtomicBool::new(false),
            }),
            Err(rejected) => Err(errors::refused(py, rejected)),
        }
    }

    fn check_owner(&self, permit: &BreakerPermit) -> PyResult<()> {
        if std::ptr::eq(permit.breaker.get(), self) {
            Ok(())
        } else {
            Err(PyValueError::new_err(
                "the permit belongs to another breaker",
            ))
        }
    }

    #[inline]
    fn emit(&self, py: Python<'_>, transition: Option<Transition>) -> PyResult<()> {
        if let (Some(t), Some(callback)) = (transition, &self.on_transition) {
            callback.call1(py, (t.from.as_str(), t.to.as_str()))?;
        }
        Ok(())
    }
}

#[pymethods]
impl CircuitBreaker {
    #[new]
    #[pyo3(signature = (config, clock = None, on_transition = None))]
    fn new(
        py: Python<'_>,
        config: &Bound<'_, PyAny>,
        clock: Option<Bound<'_, PyAny>>,
        on_transition: Option<Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let parsed = config_of(py, config)?;
        let core = Core::new(parsed).map_err(|e| core_error(config, &parsed, e))?;
        Ok(CircuitBreaker {
            core,
            clock: Clock::from_arg(clock)?,
            on_transition: on_transition.filter(|c| !c.is_none()).map(Bound::unbind),
        })
    }

    /// A permit for one call, or `CircuitOpenError`. Dropped without a report, it is
    /// released (the call counts as abandoned).
    fn acquire(slf: &Bound<'_, Self>) -> PyResult<BreakerPermit> {
        Self::admit(slf)
    }

    /// Reports how the call of `permit` ended: 0 success, 1 failure, 2 ignored. A permit
    /// reports once; later reports do nothing.
    fn record(&self, py: Python<'_>, permit: &BreakerPermit, outcome: u8) -> PyResult<()> {
        let outcome = match outcome {
            0 => Outcome::Success,
            1 => Outcome::Failure,
            2 => Outcome::Ignored,
            _ => {
                return Err(PyValueError::new_err(format!(
                    "outcome must be 0 (SUCCESS), 1 (FAILURE) or 2 (IGNORED), got {outcome}"
                )))
            }
        };
        self.check_owner(permit)?;
        permit.report(py, Some(outcome))
    }

    /// Abandons the call of `permit` (cancelled): frees its probe slot, records nothing.
    fn release(&self, py: Python<'_>, permit: &BreakerPermit) -> PyResult<()> {
        self.check_owner(permit)?;
        permit.report(py, None)
    }

    /// Forces the breaker open until `reset`.
    fn force_open(&self, py: Python<'_>) -> PyResult<()> {
        let now = self.clock.now(py)?;
        self.emit(py, self.core.force_open(now))
    }

    /// Admits everything and never trips until `reset`.
    fn disable(&self, py: Python<'_>) -> PyResult<()> {
        let now = self.clock.now(py)?;
        self.emit(py, self.core.disable(now))
    }

    /// Back to a fresh closed state.
    fn reset(&self, py: Python<'_>) -> PyResult<()> {
        let now = self.clock.now(py)?;
        self.emit(py, self.core.reset(now))
    }

    /// Changes the config in place (a whole config: missing keys take the defaults).
    fn reconfigure(&self, py: Python<'_>, config: &Bound<'_, PyAny>) -> PyResult<()> {
        let parsed = config_of(py, config)?;
        let now = self.clock.now(py)?;
        self.core
            .reconfigure(parsed, now)
            .map_err(|e| core_error(config, &parsed, e))
    }

    /// Checks a config without building a breaker.
    #[staticmethod]
    fn validate(py: Python<'_>, config: &Bound<'_, PyAny>) -> PyResult<()> {
        let parsed = config_of(py, config)?;
        <Core>::new(parsed)
            .map(drop)
            .map_err(|e| core_error(config, &parsed, e))
    }

    /// The state as stored: `closed`, `open`, `half_open`, `forced_open` or `disabled`.
    #[getter]
    fn state(&self) -> &'static str {
        self.core.state().as_str()
    }

    /// The counters and window now.
    fn snapshot(&self, py: Python<'_>) -> PyResult<BreakerSnapshot> {
        let now = self.clock.now(py)?;
        let s = self.core.snapshot(now);
        Ok(BreakerSnapshot {
            state: s.state.as_str(),
            generation: s.generation,
            open_until_ns: s.open_until.map(Nanos::as_nanos),
            probes_in_flight: s.probes_in_flight,
            half_open_successes: s.half_open_successes,
            window_calls: s.window_calls,
            window_failures: s.window_failures,
            window_slow_calls: s.window_slow_calls,
            consecutive_failures: s.consecutive_failures,
            consecutive_trips: s.consecutive_trips,
            calls: s.calls,
            successes: s.successes,
            failures: s.failures,
            slow_calls: s.slow_calls,
            rejected_open: s.rejected_open,
            rejected_half_open_full: s.rejected_half_open_full,
            rejected_forced_open: s.rejected_forced_open,
            rejected: s.rejected(),
            transitions: s.transitions,
            failure_rate: s.failure_rate(),
            slow_call_rate: s.slow_call_rate(),
        })
    }
}

/// A breaker's state, window and counters at one moment (read-only).
#[pyclass(frozen, get_all, module = "stanchion._stanchion")]
pub struct BreakerSnapshot {
    state: &'static str,
    generation: u32,
    open_until_ns: Option<u64>,
    probes_in_flight: u32,
    half_open_successes: u32,
    window_calls: u64,
    window_failures: u64,
    window_slow_calls: u64,
    consecutive_failures: u32,
    consecutive_trips: u32,
    calls: u64,
    successes: u64,
    failures: u64,
    slow_calls: u64,
    rejected_open: u64,
    rejected_half_open_full: u64,
    rejected_forced_open: u64,
    rejected: u64,
    transitions: u64,
    failure_rate: f32,
    slow_call_rate: f32,
}

#[pymethods]
impl BreakerSnapshot {
    fn __repr__(&self) -> String {
        format!(
            "BreakerSnapshot(state={:?}, calls={}, failures={}, rejected={})",
            self.state, self.calls, self.failures, self.rejected
        )
    }
}
