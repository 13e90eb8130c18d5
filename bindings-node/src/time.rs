//! How time crosses the boundary: milliseconds as `number`, or exact nanoseconds as `bigint`.

use napi::bindgen_prelude::{BigInt, Either, Null};
use stanchion::Nanos;

/// An instant from JavaScript: milliseconds as a `number`, or nanoseconds as a `bigint`.
pub(crate) type Now = Either<f64, BigInt>;

/// The core's instant for a JavaScript one. Milliseconds are rounded to the nearest
/// nanosecond; a negative, NaN or too-large value saturates (the core treats an older `now` as
/// no time passed, so no value can corrupt state).
pub(crate) fn instant(now: &Now) -> Nanos {
    match now {
        Either::A(ms) => of_millis(*ms),
        Either::B(ns) => Nanos::new(nanos_of_bigint(ns)),
    }
}

/// Milliseconds to nanoseconds, rounded and saturating (a float-to-int `as` saturates and maps
/// NaN to zero).
pub(crate) fn of_millis(ms: f64) -> Nanos {
    Nanos::new((ms * 1e6).round() as u64)
}

/// A `bigint` of nanoseconds, saturating at 0 and `u64::MAX`.
pub(crate) fn nanos_of_bigint(ns: &BigInt) -> u64 {
    let (negative, value, lossless) = ns.get_u64();
    match (negative, lossless) {
        (true, _) => 0,
        (false, false) => u64::MAX,
        (false, true) => value,
    }
}

/// A core duration or instant as JavaScript milliseconds.
pub(crate) fn millis(n: Nanos) -> f64 {
    n.as_nanos() as f64 / 1e6
}

/// A core duration or instant as an exact JavaScript `bigint` of nanoseconds.
pub(crate) fn bigint(n: Nanos) -> BigInt {
    BigInt::from(n.as_nanos())
}

/// An optional config duration (`bigint` nanoseconds) as the core's.
pub(crate) fn duration(ns: &Option<BigInt>) -> Option<Nanos> {
    ns.as_ref().map(|ns| Nanos::new(nanos_of_bigint(ns)))
}

/// An optional instant as milliseconds or `null`, so a snapshot keeps one shape.
pub(crate) fn nullable(n: Option<Nanos>) -> Either<f64, Null> {
    n.map_or(Either::B(Null), |n| Either::A(millis(n)))
}
