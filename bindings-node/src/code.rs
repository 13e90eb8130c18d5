//! How answers are packed into one `number`, and how config errors reach JavaScript.
//!
//! - A transition is `1 + 5·from + to` (states by their stable numbers), `0` for none.
//! - An admission is `≥ 0`: `64·value + transition`, where `value` is what the caller needs to
//!   report later (a breaker's generation, a bulkhead's permit id).
//! - A refusal is `< 0`: `-(64·reason + transition)`, reasons by their stable numbers
//!   (`Reason as u8`, never 0). Its `retry_after` is read afterwards from the object's
//!   `retryAfter` (milliseconds, NaN when waiting cannot help), so a refusal allocates nothing.

use std::cell::Cell;

use stanchion::breaker::Transition;
use stanchion::{ConfigError, Rejected};

/// The code of a transition; 0 for none.
pub(crate) fn transition(t: Option<Transition>) -> f64 {
    t.map_or(0.0, |t| f64::from(1 + 5 * t.from as u8 + t.to as u8))
}

/// The code of an admission carrying `value`.
pub(crate) fn admitted(value: f64, t: Option<Transition>) -> f64 {
    value * 64.0 + transition(t)
}

/// The code of a refusal; keeps its `retry_after` in `last` (ms, NaN for none).
pub(crate) fn refused(r: &Rejected, t: Option<Transition>, last: &Cell<f64>) -> f64 {
    last.set(r.retry_after.map_or(f64::NAN, crate::time::millis));
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
