//! How answers are packed into one `number`, and how config errors reach JavaScript.
//!
//! - A transition is `1 + 5·from + to` (states by their stable numbers), `0` for none.
//! - An admission is `≥ 0`: `64·value + transition`, where `value` is what the caller needs to
//!   report later (a breaker's generation, a bulkhead's permit id).
//! - A refusal is `< 0`: `-(64·reason + transition)`, reasons by their stable numbers
//!   (`Reason as u8`, never 0). Its `retry_after` is read afterwards from the object's
//!   `retryAfter` (milliseconds, NaN when waiting cannot help) or `retryAfterNs` (exact
//!   nanoseconds, null when waiting cannot help), so a refusal allocates nothing.

use std::cell::Cell;

use napi::bindgen_prelude::BigInt;
use stanchion::breaker::Transition;
use stanchion::{ConfigError, Nanos, Rejected};

/// The `retry_after` of an object's last refusal, kept exact: read as milliseconds (NaN for
/// none) by the hot path, or as nanoseconds by the `unit: 'ns'` API.
pub(crate) struct LastRetryAfter(Cell<Option<Nanos>>);

impl LastRetryAfter {
    pub(crate) const fn new() -> Self {
        LastRetryAfter(Cell::new(None))
    }

    pub(crate) fn set(&self, retry_after: Option<Nanos>) {
        self.0.set(retry_after);
    }

    /// Milliseconds; NaN when waiting cannot help.
    pub(crate) fn ms(&self) -> f64 {
        self.0.get().map_or(f64::NAN, crate::time::millis)
    }

    /// Exact nanoseconds; `None` when waiting cannot help.
    pub(crate) fn ns(&self) -> Option<BigInt> {
        self.0.get().map(crate::time::bigint)
    }
}

/// The code of a transition; 0 for none.
pub(crate) fn transition(t: Option<Transition>) -> f64 {
    t.map_or(0.0, |t| f64::from(1 + 5 * t.from as u8 + t.to as u8))
}

/// The code of an admission carrying `value`.
pub(crate) fn admitted(value: f64, t: Option<Transition>) -> f64 {
    value * 64.0 + transition(t)
}

/// The code of a refusal; keeps its `retry_after` in `last`.
pub(crate) fn refused(r: &Rejected, t: Option<Transition>, last: &LastRetryAfter) -> f64 {
    last.set(r.retry_after);
    -(f64::from(r.reason as u8) * 64.0 + transition(t))
}

/// A config error as a JavaScript error the JS half turns into a `RangeError` naming the
/// option: the message is `stanchion-config`, the core's field and its allowed range,
/// separated by U+001F.
pub(crate) fn config_error(e: ConfigError) -> napi::Error {
    napi::Error::new(
        napi::Status::InvalidArg,
        format!("stanchion-config\u{1f}{}\u{1f}{}", e.field, e.allowed),
    )
}
