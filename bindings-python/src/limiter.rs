//! `RateLimiter`: the core's token bucket (GCRA), its reservations and snapshots.

use pyo3::prelude::*;
use stanchion::{Nanos, Rejected, TokenBucket, TokenBucketConfig, TokenBucketSnapshot};

use crate::args::{self, core_config_error, Config};
use crate::clock::Clock;
use crate::errors;

/// The allowed values of an int in `1..=u32::MAX`, in Python's words.
pub const COUNT: &str = "an int from 1 to 4294967295";

/// The core's token bucket fields as Python parameters, with their allowed values.
pub fn describe(field: &str) -> Option<(&'static str, &'static str)> {
    Some(match field {
        "capacity" => ("capacity", COUNT),
        "refill_every" => ("refill_every", "a number of seconds > 0"),
        "refill_amount" => (
            "refill_amount",
            "an int from 1 to 4294967295, and at most one token per nanosecond of refill_every \
             (10^9 tokens per second)",
        ),
        _ => return None,
    })
}

/// A `TokenBucketConfig` from `capacity`, `refill_amount` and `refill_every` (seconds).
pub fn config_of(obj: &Bound<'_, PyAny>) -> PyResult<TokenBucketConfig> {
    let c = Config::new(obj)?;
    let capacity = c.required("capacity", COUNT)?;
    let config = TokenBucketConfig::new(args::core_count(&capacity, "capacity", COUNT)?).refill(
        c.core_count("refill_amount", COUNT, 1)?,
        c.seconds("refill_every", Nanos::from_secs(1))?,
    );
    config
        .validate()
        .map_err(|e| core_config_error(obj, e, describe))?;
    Ok(config)
}

/// Tokens requested: `0..=4294967295` (0 always passes and takes nothing).
pub fn tokens(n: &Bound<'_, PyAny>) -> PyResult<u32> {
    args::count(n, "n", 0, u32::MAX)
}

/// A snapshot of one bucket (read-only).
#[pyclass(frozen, get_all, module = "stanchion._stanchion")]
pub struct LimiterSnapshot {
    available: u64,
    capacity: u32,
    next_token_at_ns: Option<u64>,
    full_at_ns: u64,
}

impl From<TokenBucketSnapshot> for LimiterSnapshot {
    fn from(s: TokenBucketSnapshot) -> Self {
        LimiterSnapshot {
            available: s.available,
            capacity: s.capacity,
            next_token_at_ns: s.next_token_at.map(Nanos::as_nanos),
            full_at_ns: s.full_at.as_nanos(),
        }
    }
}

#[pymethods]
impl LimiterSnapshot {
    fn __repr__(&self) -> String {
        format!(
            "LimiterSnapshot(available={}, capacity={})",
            self.available, self.capacity
        )
    }
}

/// The wait a granted reservation needs, or its refusal as an exception.
pub fn waited(py: Python<'_>, now: Nanos, answer: Result<Nanos, Rejected>) -> PyResult<u64> {
    answer
        .map(|ready_at| ready_at.saturating_sub(now).as_nanos())
        .map_err(|r| errors::refused(py, r))
}

/// A token-bucket rate limiter over the core's.
#[pyclass(frozen, module = "stanchion._stanchion")]
pub struct RateLimiter {
    core: TokenBucket,
    clock: Clock,
}

#[pymethods]
impl RateLimiter {
    #[new]
    #[pyo3(signature = (config, clock = None))]
    fn new(config: &Bound<'_, PyAny>, clock: Option<Bound<'_, PyAny>>) -> PyResult<Self> {
        let parsed = config_of(config)?;
        let core = TokenBucket::new(parsed).map_err(|e| core_config_error(config, e, describe))?;
        Ok(RateLimiter {
            core,
            clock: Clock::from_arg(clock)?,
        })
    }

    /// Takes one token if there is one now: `True`, else `False`.
    #[inline]
    fn try_acquire(&self, py: Python<'_>) -> PyResult<bool> {
        let now = self.clock.now(py)?;
        Ok(self.core.try_acquire(1, now).is_ok())
    }

    /// Takes `n` tokens now, or raises `RateLimitedError` with `retry_after`.
    fn acquire_nowait(&self, py: Python<'_>, n: &Bound<'_, PyAny>) -> PyResult<()> {
        let n = tokens(n)?;
        let now = self.clock.now(py)?;
        self.core
            .try_acquire(n, now)
            .map_err(|r| errors::refused(py, r))
    }

    /// Reserves `n` tokens if they come within `max_wait` seconds: the nanoseconds to wait
    /// before proceeding, or `RateLimitedError`. A refused reservation takes nothing.
    fn reserve(
        &self,
        py: Python<'_>,
        n: &Bound<'_, PyAny>,
        max_wait: &Bound<'_, PyAny>,
    ) -> PyResult<u64> {
        let n = tokens(n)?;
        let max_wait = args::seconds(max_wait, "timeout")?;
        let now = self.clock.now(py)?;
        waited(py, now, self.core.reserve(n, now, max_wait))
    }

    /// Whole tokens available now.
    fn available(&self, py: Python<'_>) -> PyResult<u64> {
        Ok(self.core.available(self.clock.now(py)?))
    }

    /// The bucket now.
    fn snapshot(&self, py: Python<'_>) -> PyResult<LimiterSnapshot> {
        Ok(self.core.snapshot(self.clock.now(py)?).into())
    }

    /// Checks a config without building a limiter.
    #[staticmethod]
    fn validate(config: &Bound<'_, PyAny>) -> PyResult<()> {
        config_of(config).map(drop)
    }
}
