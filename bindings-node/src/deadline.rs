//! `NativeDeadline`: the core's `Deadline`, one instant for a whole call.

use napi::bindgen_prelude::{BigInt, Either};
use napi_derive::napi;
use stanchion::{Deadline, Nanos};

use crate::time::{bigint, instant, millis, nanos_of_bigint};

/// The core's `Deadline`: instants in, milliseconds out.
#[napi]
pub struct NativeDeadline {
    core: Deadline,
}

#[napi]
impl NativeDeadline {
    /// The deadline `timeout` nanoseconds after `now` (saturating at the end of time).
    #[napi(factory)]
    pub fn after(now: Either<f64, BigInt>, timeout: BigInt) -> NativeDeadline {
        NativeDeadline {
            core: Deadline::after(instant(&now), Nanos::new(nanos_of_bigint(&timeout))),
        }
    }

    /// The deadline at the instant `at`.
    #[napi(factory)]
    pub fn at(at: Either<f64, BigInt>) -> NativeDeadline {
        NativeDeadline {
            core: Deadline::at(instant(&at)),
        }
    }

    /// When it expires, in milliseconds on the clock's scale.
    #[napi(getter)]
    pub fn expires_at(&self) -> f64 {
        millis(self.core.expires_at())
    }

    /// When it expires, in exact nanoseconds.
    #[napi(getter)]
    pub fn expires_at_ns(&self) -> BigInt {
        bigint(self.core.expires_at())
    }

    /// Exact nanoseconds left at `now` (0 once expired).
    #[napi]
    pub fn remaining_ns(&self, now: Either<f64, BigInt>) -> BigInt {
        bigint(self.core.remaining(instant(&now)))
    }

    /// Milliseconds left at `now` (0 once expired).
    #[napi]
    pub fn remaining(&self, now: Either<f64, BigInt>) -> f64 {
        millis(self.core.remaining(instant(&now)))
    }

    /// Whether it has expired at `now` (no time remains).
    #[napi]
    pub fn is_expired(&self, now: Either<f64, BigInt>) -> bool {
        self.core.is_expired(instant(&now))
    }

    /// The earlier of this deadline and `other`.
    #[napi]
    pub fn min(&self, other: &NativeDeadline) -> NativeDeadline {
        NativeDeadline {
            core: self.core.min(other.core),
        }
    }
}
