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
//! **One cheap crossing per operation.** Reading arguments and unwrapping `this` cost far more
//! than the core's decision, so the hot operations (a breaker's acquire and record, a
//! limiter's acquire, a bulkhead's acquire and release, an adaptive limiter's acquire, record
//! and release, a budget's deposit and retry) also come as argument-free functions that read a
//! small register file the JS half writes into, and can read the clock natively (`fast.rs`).
//!
//! The addon is tested from JavaScript (`test/` in the package): a napi-rs library links
//! against Node's symbols, so it has no Rust test binary.

#![warn(clippy::unwrap_used, clippy::expect_used)]

pub mod adaptive;
pub mod backoff;
pub mod breaker;
pub mod bulkhead;
mod code;
pub mod deadline;
pub mod defaults;
pub mod fast;
pub mod fleet;
pub mod keyed_limiter;
pub mod lease;
pub mod policy;
pub mod retry;
pub mod retry_budget;
pub mod stock;
mod time;
pub mod token_bucket;
