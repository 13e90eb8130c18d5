//! # stanchion
//!
//! The resilience core: circuit breaker, token-bucket rate limiter, bulkhead, backoff and retry
//! budget, in `#![no_std]` Rust with no heap and no locks. Every primitive is a few atomic words
//! (portable-atomic), so it can live in a `static`, be shared between threads and be called from
//! an interrupt handler. Python, Node and C reach these same types through thin bindings.
//!
//! Time and randomness are parameters: every operation takes `now` as [`Nanos`] from a clock
//! the caller chooses, and jitter draws from a seed. Tests drive a fake clock; production code
//! passes a monotonic one.
//!
//! ```
//! use stanchion::Nanos;
//! assert_eq!(Nanos::from_millis(1500), Nanos::from_secs(1) + Nanos::from_millis(500));
//! ```
#![no_std]
#![warn(clippy::std_instead_of_core, clippy::alloc_instead_of_core)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]
#![cfg_attr(
    not(test),
    warn(
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::arithmetic_side_effects
    )
)]

#[cfg(feature = "std")]
extern crate std;

mod sync;

pub mod backoff;
pub mod breaker;
pub mod bulkhead;
pub mod deadline;
mod error;
pub mod keyed_limiter;
pub mod retry;
pub mod retry_budget;
pub mod rng;
mod time;
pub mod token_bucket;

pub use backoff::{Backoff, BackoffConfig, Delays, Exhausted, Jitter, Retrying, Schedule};
pub use breaker::{BreakerConfig, CircuitBreaker, Outcome};
pub use bulkhead::{Bulkhead, BulkheadConfig, BulkheadSnapshot};
pub use deadline::Deadline;
pub use error::{ConfigError, Reason, Rejected};
pub use keyed_limiter::{KeyedLimiter, TableFullPolicy};
pub use retry_budget::{RetryBudget, RetryBudgetConfig, RetryBudgetSnapshot};
#[cfg(feature = "std")]
pub use time::monotonic_now;
pub use time::Nanos;
pub use token_bucket::{TokenBucket, TokenBucketConfig, TokenBucketSnapshot};

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
mod readme {}
