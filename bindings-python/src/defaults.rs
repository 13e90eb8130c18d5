//! The core's defaults and limits as the core states them, and the few sizes this binding
//! chooses where the core has none, for the Python layer to take its defaults and ranges from
//! and for `tests/test_defaults.py` to compare them with.

use pyo3::prelude::*;
use pyo3::types::PyDict;
use stanchion::adaptive::{AdaptiveConfig, Aimd, Algorithm, Gradient2, Vegas, MAX_LIMIT};
use stanchion::breaker::{BreakerConfig, Window, DEFAULT_PROBE_TIMEOUT, MAX_PROBES};
use stanchion::bulkhead::{MAX_CONCURRENT, MAX_LANES, MAX_WAITERS};
use stanchion::keyed_limiter::MAX_PROBE;
use stanchion::retry::RetryPolicy;
use stanchion::{
    Backoff, BackoffConfig, BulkheadConfig, Nanos, RetryBudgetConfig, Schedule, TableFullPolicy,
    TokenBucketConfig,
};

use crate::{adaptive, bulkhead, keyed};

/// The defaults and limits, by name. Durations are nanoseconds. Each value is read from the
/// core (its config constructors' defaults and its exported constants), except the ones marked
/// *binding* below, which the core leaves to the caller:
///
/// - `breaker_*`: `BreakerConfig::new()`'s fields (`window_span_ns`, `window_buckets` from its
///   time window), `breaker::MAX_PROBES`, `breaker::DEFAULT_PROBE_TIMEOUT`;
/// - `backoff_max_attempts`: `BackoffConfig::new(..).max_attempts`;
/// - `budget_*`: `RetryBudgetConfig::new(ratio)`'s fields;
/// - `bucket_*`: `TokenBucketConfig::new(capacity)`'s fields;
/// - `bulkhead_max_concurrent`, `bulkhead_max_lanes`, `bulkhead_max_waiters`: the core's
///   `bulkhead::MAX_CONCURRENT`, `MAX_LANES`, `MAX_WAITERS`; `bulkhead_max_waiting`:
///   `BulkheadConfig::new(n).max_waiting` (`u32::MAX`: no limit but the waiter table);
///   `bulkhead_waiters` (*binding*): this binding's waiter table, which bounds the queue;
/// - `keyed_max_probe`: `keyed_limiter::MAX_PROBE`; `keyed_on_full`: `TableFullPolicy`'s
///   default; `keyed_sizes` and `keyed_max_keys` (*binding*): the table sizes offered and the
///   default one;
/// - `retry_refusals`: `RetryPolicy::new`'s;
/// - `adaptive_*`: `AdaptiveConfig::new()`'s fields (`adaptive_algorithm` its algorithm's
///   name), `adaptive::MAX_LIMIT`; `adaptive_waiters` (*binding*): this binding's waiter
///   table; `aimd_*`, `vegas_*`, `gradient2_*`: `Aimd::new()`'s, `Vegas::new()`'s and
///   `Gradient2::new()`'s parameters.
#[pyfunction]
pub fn defaults(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let d = PyDict::new(py);
    let breaker = BreakerConfig::new();
    let (span, buckets) = match breaker.window {
        Window::Time { span, buckets } => (Some(span.as_nanos()), Some(buckets)),
        Window::Count(_) => (None, None),
    };
    d.set_item("breaker_failure_count", breaker.failure_count)?;
    d.set_item("breaker_consecutive_failures", breaker.consecutive_failures)?;
    d.set_item("breaker_failure_rate", breaker.failure_rate)?;
    d.set_item("breaker_minimum_calls", breaker.minimum_calls)?;
    d.set_item("breaker_slow_call", breaker.slow_call.is_some())?;
    d.set_item("breaker_window_span_ns", span)?;
    d.set_item("breaker_window_buckets", buckets)?;
    d.set_item("breaker_open_for_ns", breaker.open_for.as_nanos())?;
    d.set_item("breaker_open_for_max_ns", breaker.open_for_max.as_nanos())?;
    d.set_item("breaker_open_for_factor", breaker.open_for_factor)?;
    d.set_item("breaker_open_for_jitter", breaker.open_for_jitter)?;
    d.set_item("breaker_half_open_probes", breaker.half_open_probes)?;
    d.set_item("breaker_half_open_successes", breaker.half_open_successes)?;
    d.set_item(
        "breaker_probe_timeout_ns",
        breaker.probe_timeout.map(Nanos::as_nanos),
    )?;
    d.set_item("breaker_seed", breaker.seed)?;
    d.set_item("breaker_max_probes", MAX_PROBES)?;
    d.set_item(
        "breaker_default_probe_timeout_ns",
        DEFAULT_PROBE_TIMEOUT.as_nanos(),
    )?;

    let backoff = BackoffConfig::new(Schedule::Constant { delay: Nanos::ZERO });
    d.set_item("backoff_max_attempts", backoff.max_attempts)?;
    d.set_item(
        "backoff_max_delay_ns",
        backoff.max_delay.map(Nanos::as_nanos),
    )?;
    d.set_item(
        "backoff_max_elapsed_ns",
        backoff.max_elapsed.map(Nanos::as_nanos),
    )?;

    let budget = RetryBudgetConfig::new(0.0);
    d.set_item("budget_min_retries_per_sec", budget.min_retries_per_sec)?;
    d.set_item("budget_max_balance", budget.max_balance)?;

    let bucket = TokenBucketConfig::new(1);
    d.set_item("bucket_refill_amount", bucket.refill_amount)?;
    d.set_item("bucket_refill_every_ns", bucket.refill_every.as_nanos())?;

    d.set_item("bulkhead_max_concurrent", MAX_CONCURRENT)?;
    d.set_item("bulkhead_max_lanes", MAX_LANES)?;
    d.set_item("bulkhead_max_waiters", MAX_WAITERS)?;
    d.set_item("bulkhead_max_waiting", BulkheadConfig::new(1).max_waiting)?;
    d.set_item("bulkhead_waiters", bulkhead::WAITERS)?;

    d.set_item("keyed_max_probe", MAX_PROBE)?;
    d.set_item(
        "keyed_on_full",
        match TableFullPolicy::default() {
            TableFullPolicy::Reject => "reject",
            TableFullPolicy::Admit => "admit",
        },
    )?;
    d.set_item("keyed_sizes", keyed::SIZES.to_vec())?;
    d.set_item("keyed_max_keys", keyed::DEFAULT_MAX_KEYS)?;

    let retry_refusals = Backoff::new(backoff)
        .map(|backoff| RetryPolicy::new(&backoff, 0).retry_refusals)
        .unwrap_or(false);
    d.set_item("retry_refusals", retry_refusals)?;

    let adaptive = AdaptiveConfig::new();
    d.set_item(
        "adaptive_algorithm",
        match adaptive.algorithm {
            Algorithm::Aimd(_) => "aimd",
            Algorithm::Vegas(_) => "vegas",
            Algorithm::Gradient2(_) => "gradient2",
        },
    )?;
    d.set_item("adaptive_initial_limit", adaptive.initial_limit)?;
    d.set_item("adaptive_min_limit", adaptive.min_limit)?;
    d.set_item("adaptive_max_limit", adaptive.max_limit)?;
    d.set_item("adaptive_min_samples", adaptive.min_samples)?;
    d.set_item("adaptive_window_ns", adaptive.window.as_nanos())?;
    d.set_item("adaptive_max_waiting", adaptive.max_waiting)?;
    d.set_item("adaptive_seed", adaptive.seed)?;
    d.set_item("adaptive_limit_max", MAX_LIMIT)?;
    d.set_item("adaptive_waiters", adaptive::WAITERS)?;
    let aimd = Aimd::new();
    d.set_item("aimd_backoff_ratio", aimd.backoff_ratio)?;
    d.set_item("aimd_timeout_ns", aimd.timeout.as_nanos())?;
    let vegas = Vegas::new();
    d.set_item("vegas_alpha", vegas.alpha)?;
    d.set_item("vegas_beta", vegas.beta)?;
    d.set_item("vegas_probe_multiplier", vegas.probe_multiplier)?;
    d.set_item("vegas_smoothing", vegas.smoothing)?;
    let gradient = Gradient2::new();
    d.set_item("gradient2_smoothing", gradient.smoothing)?;
    d.set_item("gradient2_queue_size", gradient.queue_size)?;
    d.set_item("gradient2_long_window", gradient.long_window)?;
    d.set_item("gradient2_rtt_tolerance", gradient.rtt_tolerance)?;
    d.set_item("gradient2_creep_guard", gradient.creep_guard)?;
    Ok(d)
}
