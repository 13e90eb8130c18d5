//! The checks every name and argument of the quota and the semaphore goes through before a
//! round trip, and the bounds they share.

use stanchion::fleet::quota;
use stanchion::{ConfigError, Nanos};

use crate::{Error, MAX_KEY_LEN, MAX_PREFIX_LEN};

/// The largest count a quota holds and the largest `n` it takes or restocks: 2^53 - 1, the
/// largest integer that Lua's doubles, and every JSON reader, hold exactly (the core's bound).
///
/// ```
/// use stanchion_redis::MAX_UNITS;
/// assert_eq!(MAX_UNITS, 9_007_199_254_740_991);
/// ```
pub const MAX_UNITS: u64 = quota::MAX_UNITS;

/// The longest request id a quota take accepts, in bytes (the core's bound).
///
/// ```
/// use stanchion_redis::MAX_REQUEST_ID_LEN;
/// assert_eq!(MAX_REQUEST_ID_LEN, 256);
/// ```
pub const MAX_REQUEST_ID_LEN: usize = quota::MAX_REQUEST_ID_LEN;

pub(crate) use stanchion::fleet::MAX_MILLIS;

const NANOS_PER_MILLI: u64 = 1_000_000;

/// Refuses a name that cannot be the hash tag of a Redis key, as `FleetLimiter::redis_key`
/// refuses a limiter key.
pub(crate) fn check_name(name: &str) -> Result<(), Error> {
    if name.is_empty() {
        return Err(Error::InvalidKey { reason: "empty" });
    }
    if name.len() > MAX_KEY_LEN {
        return Err(Error::InvalidKey {
            reason: "longer than 1024 bytes",
        });
    }
    if name.contains(['{', '}']) {
        return Err(Error::InvalidKey {
            reason: "contains `{` or `}`",
        });
    }
    Ok(())
}

pub(crate) fn check_prefix(prefix: &str) -> Result<(), ConfigError> {
    if prefix.len() > MAX_PREFIX_LEN || prefix.contains(['{', '}']) {
        return Err(ConfigError::new(
            "prefix",
            "at most 256 bytes, without `{` or `}`",
        ));
    }
    Ok(())
}

/// Refuses `n = 0` and counts Lua cannot hold exactly.
pub(crate) fn check_units(n: u64) -> Result<(), Error> {
    quota::check_units("n", n)
        .map(drop)
        .map_err(Error::InvalidArgument)
}

pub(crate) fn check_request_id(id: &str) -> Result<(), Error> {
    quota::check_request_id_len(id.len()).map_err(Error::InvalidArgument)
}

/// A duration in whole milliseconds (rounded down), or `None` outside `1 ms..=2^40 ms`.
pub(crate) const fn millis(duration: Nanos) -> Option<u64> {
    let ms = duration.as_nanos() / NANOS_PER_MILLI;
    if ms == 0 || ms > MAX_MILLIS {
        None
    } else {
        Some(ms)
    }
}

/// Milliseconds from a script's reply as a duration.
pub(crate) const fn from_millis(ms: u64) -> Nanos {
    Nanos::new(ms.saturating_mul(NANOS_PER_MILLI))
}

/// The test-only `now` argument of every script.
pub(crate) fn now_arg(now: Nanos) -> String {
    now.as_nanos().to_string()
}
