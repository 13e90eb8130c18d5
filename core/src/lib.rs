//! # stanchion
//!
//! The resilience core: circuit breaker, token-bucket rate limiter, bulkhead, adaptive
//! concurrency limit, backoff and retry budget, in `#![no_std]` Rust with no heap and no locks.
//! Every primitive is a few atomic words (portable-atomic), so it can live in a `static`, be
//! shared between threads and be called from an interrupt handler. Python, Node and C reach
//! these same types through thin bindings.
//!
//! Time and randomness are parameters: every operation takes `now` as [`Nanos`] from a clock
//! the caller chooses, and jitter draws from a seed. Tests drive a fake clock; production code
//! passes a monotonic one.
//!
//! What every primitive promises (configs, operations, guarantees, sizes) is stated in
//! `docs/semantics.md` in the repository; the conformance scenarios cite its sections.
//!
//! ```
//! use stanchion::Nanos;
//! assert_eq!(Nanos::from_millis(1500), Nanos::from_secs(1) + Nanos::from_millis(500));
//! ```
//!
//! # Embedded targets
//!
//! Every operation is safe to call from an interrupt handler, provided the atomics underneath
//! are. The primitives keep their state in `AtomicU64` (and `AtomicU32`) from portable-atomic,
//! and what backs those depends on the target and on what the firmware enables:
//!
//! | target | examples | `AtomicU32` | `AtomicU64` | the firmware enables |
//! | --- | --- | --- | --- | --- |
//! | 64-bit atomics | x86_64, aarch64, riscv64gc | native | native | nothing |
//! | 32-bit CAS, no 64-bit atomics | thumbv7m, thumbv7em, thumbv8m, riscv32imac | native | interrupts masked around each operation | portable-atomic's `unsafe-assume-single-core` |
//! | no CAS | thumbv6m, riscv32i, riscv32imc | critical section | critical section | stanchion's `critical-section` feature and a critical-section implementation |
//!
//! - **No CAS.** stanchion's `critical-section` feature runs every atomic operation inside
//!   `critical_section::acquire`/`release`. The firmware links an implementation that masks
//!   interrupts, such as cortex-m's `critical-section-single-core` or riscv's
//!   `critical-section-single-hart` features (or one from its RTOS). Instead of the feature, a
//!   single-core firmware may enable portable-atomic's `unsafe-assume-single-core`, which masks
//!   interrupts itself; portable-atomic refuses to build with both.
//! - **32-bit CAS.** 32-bit atomics are native; `critical-section` changes nothing here. A
//!   64-bit operation needs portable-atomic's `unsafe-assume-single-core`, which masks
//!   interrupts around it (sound on a single core running in a privileged mode):
//!
//!   ```toml
//!   [dependencies]
//!   stanchion = { version = "0.1", default-features = false }
//!   portable-atomic = { version = "1", default-features = false, features = ["fallback", "unsafe-assume-single-core"] }
//!   ```
//!
//!   Without it, portable-atomic's `AtomicU64` is a table of global spinlocks, which is not
//!   lock-free and deadlocks when an interrupt handler touches a primitive whose lock the code
//!   it interrupted holds. stanchion refuses to compile against it. Where locks are acceptable
//!   (portable-atomic's `unsafe-assume-privileged` on a multi-core chip takes them with
//!   interrupts masked; or no interrupt handler uses stanchion), build with
//!   `RUSTFLAGS="--cfg stanchion_allow_lock_fallback"`. The same holds on hosted 32-bit targets
//!   without 64-bit atomics (32-bit MIPS and PowerPC, for example).
//!
//! `embedded/` in the repository runs the primitives' cases on thumbv6m, thumbv7m, thumbv7em
//! and riscv32imc under QEMU, with these settings, and checks which path each one takes.
//!
//! # How the concurrency guarantees are checked
//!
//! Every atomic comes from one shim, so a `--cfg` puts the whole crate under a checker, and
//! `core/tests/` holds three kinds of test that divide the work. The loom models
//! (`loom_*.rs`, `--cfg loom`) explore every interleaving of two or three threads making a
//! call or two each, weak memory orderings included, under a preemption bound: exhaustive, so
//! they are where a race is first pinned down, but only over small models. The shuttle tests
//! (`shuttle_*.rs`, `--cfg shuttle`) run three or four threads through dozens of random
//! operations each, over thousands of random and PCT schedules, checking the hard guarantees
//! after every step: histories far longer than loom can enumerate, at the price of sampling
//! schedules and treating every ordering as sequentially consistent. The proptest suites
//! (`*_props.rs`) drive one thread through long random sequences against a sequential model,
//! which pins the exact single-threaded answers the other two take for granted.
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

pub mod adaptive;
pub mod backoff;
pub mod breaker;
pub mod bulkhead;
pub mod deadline;
mod error;
mod fixed;
pub mod fleet;
pub mod keyed_limiter;
pub mod policy;
pub mod retry;
pub mod retry_budget;
pub mod rng;
pub mod stock;
mod time;
pub mod token_bucket;

pub use adaptive::{AdaptiveConfig, AdaptiveLimiter, AdaptiveSnapshot};
pub use backoff::{Backoff, BackoffConfig, Delays, Exhausted, Jitter, Retrying, Schedule};
pub use breaker::{BreakerConfig, CircuitBreaker, Outcome};
pub use bulkhead::{Bulkhead, BulkheadConfig, BulkheadSnapshot};
pub use deadline::Deadline;
pub use error::{ConfigError, Reason, Rejected};
pub use keyed_limiter::{key_of_bytes, KeyedLimiter, TableFullPolicy};
pub use retry_budget::{RetryBudget, RetryBudgetConfig, RetryBudgetSnapshot};
pub use stock::Stock;
#[cfg(feature = "std")]
pub use time::monotonic_now;
pub use time::Nanos;
pub use token_bucket::{TokenBucket, TokenBucketConfig, TokenBucketSnapshot};

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
mod readme {}
