//! Refusals and config errors: small `Copy` values that say what went wrong and what to do.

use core::fmt;

use crate::Nanos;

/// Why a call was refused. The numeric values are stable: bindings and the C ABI expose them.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Reason {
    /// The circuit breaker is open.
    BreakerOpen = 1,
    /// The circuit breaker is half-open and every probe slot is taken.
    HalfOpenFull = 2,
    /// The circuit breaker was forced open by an operator.
    ForcedOpen = 3,
    /// The rate limiter has no tokens for this call now.
    RateLimited = 4,
    /// The request asks for more than the limiter could ever grant at once.
    InsufficientCapacity = 5,
    /// The bulkhead is at its concurrency cap (for this priority lane).
    BulkheadFull = 6,
    /// The bulkhead's wait queue is full.
    QueueFull = 7,
    /// The retry budget has no token for another retry.
    RetryBudgetExhausted = 8,
    /// Every slot of a keyed limiter's table holds an active key.
    TableFull = 9,
}

impl Reason {
    /// Every reason, in the order of their stable numbers, so a binding can map a number or a
    /// name back without keeping a list of its own.
    ///
    /// ```
    /// use stanchion::Reason;
    /// let by_number = |n: u8| Reason::ALL.into_iter().find(|r| *r as u8 == n);
    /// assert_eq!(by_number(6), Some(Reason::BulkheadFull));
    /// ```
    pub const ALL: [Reason; 9] = [
        Reason::BreakerOpen,
        Reason::HalfOpenFull,
        Reason::ForcedOpen,
        Reason::RateLimited,
        Reason::InsufficientCapacity,
        Reason::BulkheadFull,
        Reason::QueueFull,
        Reason::RetryBudgetExhausted,
        Reason::TableFull,
    ];

    /// A short, stable, lower-case name (`"breaker_open"`), as used in conformance vectors.
    ///
    /// ```
    /// assert_eq!(stanchion::Reason::HalfOpenFull.as_str(), "half_open_full");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            Reason::BreakerOpen => "breaker_open",
            Reason::HalfOpenFull => "half_open_full",
            Reason::ForcedOpen => "forced_open",
            Reason::RateLimited => "rate_limited",
            Reason::InsufficientCapacity => "insufficient_capacity",
            Reason::BulkheadFull => "bulkhead_full",
            Reason::QueueFull => "queue_full",
            Reason::RetryBudgetExhausted => "retry_budget_exhausted",
            Reason::TableFull => "table_full",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refusal: the reason, and how long to wait before the same call would pass.
///
/// `retry_after` is `None` when waiting cannot help (a request larger than a bucket, a full
/// bulkhead whose release time nobody knows). Otherwise advancing the clock by `retry_after`
/// makes the same call pass, all else equal.
///
/// ```
/// use stanchion::{Nanos, Reason, Rejected};
/// let r = Rejected::new(Reason::RateLimited, Some(Nanos::from_millis(20)));
/// assert_eq!(r.retry_after, Some(Nanos::from_millis(20)));
/// assert_eq!(r.to_string(), "rate_limited (retry after 20ms)");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rejected {
    /// What refused the call.
    pub reason: Reason,
    /// How long until the same call would pass; `None` when waiting cannot help.
    pub retry_after: Option<Nanos>,
}

impl Rejected {
    /// A refusal for `reason`, retryable after `retry_after`.
    ///
    /// ```
    /// use stanchion::{Reason, Rejected};
    /// assert_eq!(Rejected::new(Reason::QueueFull, None).retry_after, None);
    /// ```
    pub const fn new(reason: Reason, retry_after: Option<Nanos>) -> Rejected {
        Rejected {
            reason,
            retry_after,
        }
    }
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.retry_after {
            Some(after) => write!(f, "{} (retry after {})", self.reason, after),
            None => write!(f, "{}", self.reason),
        }
    }
}

impl core::error::Error for Rejected {}

/// A config field out of its allowed range, found by `validate()` before anything runs.
///
/// ```
/// use stanchion::ConfigError;
/// let e = ConfigError::new("capacity", "1..=4294967295");
/// assert_eq!(e.to_string(), "invalid `capacity`: must be in 1..=4294967295");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConfigError {
    /// The field's name, as in the Rust config (`failure_rate`, `window.buckets`).
    pub field: &'static str,
    /// The allowed range or values, human-readable (`"(0, 1]"`, `"1..=65535"`).
    pub allowed: &'static str,
}

impl ConfigError {
    /// An error for `field`, which must lie in `allowed`.
    ///
    /// ```
    /// let e = stanchion::ConfigError::new("ratio", "[0, 1000]");
    /// assert_eq!(e.field, "ratio");
    /// ```
    pub const fn new(field: &'static str, allowed: &'static str) -> ConfigError {
        ConfigError { field, allowed }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid `{}`: must be in {}", self.field, self.allowed)
    }
}

impl core::error::Error for ConfigError {}
