//! The core's defaults and limits, as the core states them, for the JS half to take its own
//! defaults and ranges from (and for the tests to compare them with): nothing here is a
//! number of the binding's own.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use napi::bindgen_prelude::BigInt;
use napi_derive::napi;
use stanchion::adaptive::{AdaptiveConfig, MAX_LIMIT};
use stanchion::breaker::{BreakerConfig, Window, DEFAULT_PROBE_TIMEOUT, MAX_PROBES};
use stanchion::bulkhead::{MAX_CONCURRENT, MAX_LANES, MAX_WAITERS};
use stanchion::keyed_limiter::MAX_PROBE;
use stanchion::{
    Backoff, BackoffConfig, Bulkhead, BulkheadConfig, Nanos, RetryBudgetConfig, TokenBucketConfig,
};

use crate::time::bigint;

/// The core's defaults and limits (see each field).
#[napi(object)]
pub struct CoreDefaults {
    /// `BreakerConfig::new().failure_count`.
    pub breaker_failure_count: Option<u32>,
    /// `BreakerConfig::new().minimum_calls`.
    pub breaker_minimum_calls: u32,
    /// `BreakerConfig::new().open_for`, ns.
    pub breaker_open_for: BigInt,
    /// `BreakerConfig::new().open_for_factor`.
    pub breaker_open_for_factor: f64,
    /// `BreakerConfig::new().half_open_probes`.
    pub breaker_half_open_probes: u32,
    /// `breaker::MAX_PROBES`.
    pub breaker_max_probes: u32,
    /// `breaker::DEFAULT_PROBE_TIMEOUT`, ns.
    pub breaker_probe_timeout: BigInt,
    /// The span of `BreakerConfig::new().window` (a time window), ns.
    pub breaker_window_span: BigInt,
    /// The buckets of `BreakerConfig::new().window`.
    pub breaker_window_buckets: u32,
    /// `BackoffConfig`'s default `max_attempts` (null: no limit).
    pub backoff_max_attempts: Option<u32>,
    /// `RetryBudgetConfig::new(ratio).min_retries_per_sec`.
    pub budget_min_retries_per_sec: u32,
    /// `RetryBudgetConfig::new(ratio).max_balance`.
    pub budget_max_balance: u32,
    /// `TokenBucketConfig::new(capacity).refill_amount`.
    pub bucket_refill_amount: u32,
    /// `TokenBucketConfig::new(capacity).refill_every`, ns.
    pub bucket_refill_every: BigInt,
    /// `bulkhead::MAX_CONCURRENT`.
    pub bulkhead_max_concurrent: u32,
    /// `bulkhead::MAX_LANES`.
    pub bulkhead_max_lanes: u32,
    /// `bulkhead::MAX_WAITERS`: the largest waiter table.
    pub bulkhead_max_waiters: u32,
    /// `BulkheadConfig::new(n).max_waiting`: the config's own limit on waiters (`u32::MAX`, no
    /// limit but the table).
    pub bulkhead_max_waiting: u32,
    /// How many callers may wait in the core's default `Bulkhead` (the type's default waiter
    /// table with `BulkheadConfig::new`'s default), found by queueing until it refuses.
    pub bulkhead_default_waiting: u32,
    /// `keyed_limiter::MAX_PROBE`: the slots a key may live in.
    pub keyed_max_probe: u32,
    /// `AdaptiveConfig::new().initial_limit`.
    pub adaptive_initial_limit: u32,
    /// `AdaptiveConfig::new().min_limit`.
    pub adaptive_min_limit: u32,
    /// `AdaptiveConfig::new().max_limit`.
    pub adaptive_max_limit: u32,
    /// `AdaptiveConfig::new().min_samples`.
    pub adaptive_min_samples: u32,
    /// `AdaptiveConfig::new().window`, ns.
    pub adaptive_window: BigInt,
    /// `adaptive::MAX_LIMIT`: the highest `max_limit`.
    pub adaptive_limit_cap: u32,
}

/// How many `acquire` futures the core's default `Bulkhead` lets wait at once.
fn default_bulkhead_waiting() -> u32 {
    let Ok(bulkhead) = Bulkhead::new(BulkheadConfig::new(1)) else {
        return 0;
    };
    // The core's default type, whatever its default waiter table is.
    let bulkhead: Bulkhead = bulkhead;
    let Ok(_held) = bulkhead.try_acquire(0) else {
        return 0;
    };
    let mut cx = Context::from_waker(Waker::noop());
    let mut waiting = Vec::new();
    while waiting.len() <= MAX_WAITERS {
        let mut future = Box::pin(bulkhead.acquire(0));
        match Pin::new(&mut future).poll(&mut cx) {
            Poll::Pending => waiting.push(future),
            Poll::Ready(_) => break,
        }
    }
    waiting.len() as u32
}

/// The core's defaults and limits.
#[napi]
pub fn core_defaults() -> CoreDefaults {
    let breaker = BreakerConfig::new();
    let (span, buckets) = match breaker.window {
        Window::Time { span, buckets } => (span, buckets),
        Window::Count(_) => (Nanos::ZERO, 0),
    };
    let backoff = Backoff::new(BackoffConfig::constant(Nanos::ZERO))
        .map(|b| b.config().max_attempts)
        .unwrap_or(None);
    let budget = RetryBudgetConfig::new(0.0);
    let bucket = TokenBucketConfig::new(1);
    let adaptive = AdaptiveConfig::new();
    CoreDefaults {
        breaker_failure_count: breaker.failure_count,
        breaker_minimum_calls: breaker.minimum_calls,
        breaker_open_for: bigint(breaker.open_for),
        breaker_open_for_factor: f64::from(breaker.open_for_factor),
        breaker_half_open_probes: breaker.half_open_probes,
        breaker_max_probes: MAX_PROBES,
        breaker_probe_timeout: bigint(DEFAULT_PROBE_TIMEOUT),
        breaker_window_span: bigint(span),
        breaker_window_buckets: buckets,
        backoff_max_attempts: backoff,
        budget_min_retries_per_sec: budget.min_retries_per_sec,
        budget_max_balance: budget.max_balance,
        bucket_refill_amount: bucket.refill_amount,
        bucket_refill_every: bigint(bucket.refill_every),
        bulkhead_max_concurrent: MAX_CONCURRENT,
        bulkhead_max_lanes: MAX_LANES as u32,
        bulkhead_max_waiters: MAX_WAITERS as u32,
        bulkhead_max_waiting: BulkheadConfig::new(1).max_waiting,
        bulkhead_default_waiting: default_bulkhead_waiting(),
        keyed_max_probe: MAX_PROBE as u32,
        adaptive_initial_limit: adaptive.initial_limit,
        adaptive_min_limit: adaptive.min_limit,
        adaptive_max_limit: adaptive.max_limit,
        adaptive_min_samples: adaptive.min_samples,
        adaptive_window: bigint(adaptive.window),
        adaptive_limit_cap: MAX_LIMIT,
    }
}
