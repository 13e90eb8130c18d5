//! How time crosses the boundary: milliseconds as `number`, or exact nanoseconds as `bigint`.

use napi::bindgen_prelude::{BigInt, Either, Null};
use stanchion::Nanos;

/// An instant from JavaScript: milliseconds as a `number`, or nanoseconds as a `bigint`.
pub type Now = Either<f64, BigInt>;

/// The core's instant for a JavaScript one. Milliseconds are rounded to the nearest
/// nanosecond; a negative, NaN or too-large value saturates (the core treats an older `now` as
/// no time passed, so no value can corrupt state).
///
/// ```
/// use napi::bindgen_prelude::{BigInt, Either, Null};
/// use stanchion_node::time::instant;
/// assert_eq!(instant(&Either::A(0.000_001)).as_nanos(), 1);
/// assert_eq!(instant(&Either::A(-5.0)).as_nanos(), 0);
/// assert_eq!(instant(&Either::B(BigInt::from(u64::MAX))).as_nanos(), u64::MAX);
/// ```
pub fn instant(now: &Now) -> Nanos {
    match now {
        Either::A(ms) => of_millis(*ms),
        Either::B(ns) => Nanos::new(nanos_of_bigint(ns)),
    }
}

/// Milliseconds to nanoseconds, rounded and saturating (a float-to-int `as` saturates and maps
/// NaN to zero).
///
/// ```
/// assert_eq!(stanchion_node::time::of_millis(2.5).as_nanos(), 2_500_000);
/// ```
pub fn of_millis(ms: f64) -> Nanos {
    Nanos::new((ms * 1e6).round() as u64)
}

/// A `bigint` of nanoseconds, saturating at 0 and `u64::MAX`.
///
/// ```
/// use napi::bindgen_prelude::BigInt;
/// assert_eq!(stanchion_node::time::nanos_of_bigint(&BigInt::from(7u64)), 7);
/// ```
pub fn nanos_of_bigint(ns: &BigInt) -> u64 {
    let (negative, value, lossless) = ns.get_u64();
    match (negative, lossless) {
        (true, _) => 0,
        (false, false) => u64::MAX,
        (false, true) => value,
    }
}

/// A core duration or instant as JavaScript milliseconds.
///
/// ```
/// assert_eq!(stanchion_node::time::millis(stanchion::Nanos::from_micros(1500)), 1.5);
/// ```
pub fn millis(n: Nanos) -> f64 {
    n.as_nanos() as f64 / 1e6
}

/// An optional config duration (`bigint` nanoseconds) as the core's.
pub(crate) fn duration(ns: &Option<BigInt>) -> Option<Nanos> {
    ns.as_ref().map(|ns| Nanos::new(nanos_of_bigint(ns)))
}

/// An optional instant as milliseconds or `null`, so a snapshot keeps one shape.
pub(crate) fn nullable(n: Option<Nanos>) -> Either<f64, Null> {
    n.map_or(Either::B(Null), |n| Either::A(millis(n)))
}
