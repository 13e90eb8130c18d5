//! The native half of the npm package `stanchion`: thin napi-rs classes over the core.
//!
//! Every decision lives in the core; these classes only carry numbers across the boundary.
//! The JavaScript half (`lib/`) adds Promises, AbortSignal, events and error classes.
//!
//! **Time at the boundary.** An instant (`now`) is a JavaScript `number` of milliseconds from
//! any monotonic origin (what `performance.now()` returns; fractions are kept to the
//! nanosecond) or a `bigint` of nanoseconds, which is exact over the core's whole `u64` range.
//! Durations in configs arrive as `bigint` nanoseconds. Durations and instants going out are
//! milliseconds as `number`.
//!
//! **Answers as numbers.** The hot operations return one `number` that packs the answer, so
//! that an admission or a refusal allocates nothing (`code.rs` says how it is packed).
//!
//! ```
//! // What `performance.now()` returns, in the core's nanoseconds:
//! use napi::bindgen_prelude::Either;
//! assert_eq!(stanchion_node::time::instant(&Either::A(1.5)).as_nanos(), 1_500_000);
//! ```

#![warn(clippy::unwrap_used, clippy::expect_used)]

mod backoff;
mod breaker;
mod bulkhead;
pub mod code;
mod keyed_limiter;
mod retry_budget;
pub mod time;
mod token_bucket;
