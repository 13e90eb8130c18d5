//! The fleet quota's bounds and defaults, checked alike by every language before a round trip
//! (the Rust client, the Python and Node natives), and by the script itself.
//!
//! ```
//! use stanchion::fleet::quota;
//! assert_eq!(quota::check_units("n", 0).unwrap_err().field, "n");
//! assert_eq!(quota::check_buckets(quota::MAX_BUCKETS), Ok(quota::MAX_BUCKETS));
//! assert_eq!(quota::id_memory_millis(quota::DEFAULT_ID_MEMORY), Ok(600_000));
//! ```

use super::MAX_MILLIS;
use crate::{ConfigError, Nanos};

/// The largest count a quota holds and the largest `n` it takes or restocks: 2^53 - 1, the
/// largest integer that Lua's doubles, and every JSON reader, hold exactly.
///
/// ```
/// assert_eq!(stanchion::fleet::quota::MAX_UNITS, 9_007_199_254_740_991);
/// ```
pub const MAX_UNITS: u64 = (1 << 53) - 1;

/// The most buckets a quota's stock may be split over.
///
/// ```
/// assert_eq!(stanchion::fleet::quota::MAX_BUCKETS, 1024);
/// ```
pub const MAX_BUCKETS: u32 = 1024;

/// The longest request id a take accepts, in bytes.
///
/// ```
/// assert_eq!(stanchion::fleet::quota::MAX_REQUEST_ID_LEN, 256);
/// ```
pub const MAX_REQUEST_ID_LEN: usize = 256;

/// How long a bucket remembers a request id unless configured otherwise: 10 minutes, longer
/// than any client retries one request.
///
/// ```
/// use stanchion::Nanos;
/// assert_eq!(stanchion::fleet::quota::DEFAULT_ID_MEMORY, Nanos::from_secs(600));
/// ```
pub const DEFAULT_ID_MEMORY: Nanos = Nanos::from_secs(600);

/// How many units a local pool takes from Redis at once unless configured otherwise.
///
/// ```
/// assert_eq!(stanchion::fleet::quota::DEFAULT_BATCH, 100);
/// ```
pub const DEFAULT_BATCH: u64 = 100;

const NANOS_PER_MILLI: u64 = 1_000_000;

/// `n` if it is a count the quota takes: `1..=MAX_UNITS`; else the error for `field` (`n`,
/// `batch`).
///
/// ```
/// use stanchion::fleet::quota::{check_units, MAX_UNITS};
/// assert_eq!(check_units("batch", MAX_UNITS), Ok(MAX_UNITS));
/// assert_eq!(check_units("batch", MAX_UNITS + 1).unwrap_err().field, "batch");
/// ```
pub const fn check_units(field: &'static str, n: u64) -> Result<u64, ConfigError> {
    if n == 0 || n > MAX_UNITS {
        return Err(ConfigError::new(field, "1..=9007199254740991 (2^53 - 1)"));
    }
    Ok(n)
}

/// `buckets` if a quota may be split over that many: `1..=MAX_BUCKETS`.
///
/// ```
/// use stanchion::fleet::quota::check_buckets;
/// assert_eq!(check_buckets(0).unwrap_err().field, "buckets");
/// ```
pub const fn check_buckets(buckets: u32) -> Result<u32, ConfigError> {
    if buckets == 0 || buckets > MAX_BUCKETS {
        return Err(ConfigError::new("buckets", "1..=1024"));
    }
    Ok(buckets)
}

/// Checks a request id's length in bytes: `1..=MAX_REQUEST_ID_LEN`.
///
/// ```
/// use stanchion::fleet::quota::check_request_id_len;
/// assert!(check_request_id_len(256).is_ok());
/// assert_eq!(check_request_id_len(257).unwrap_err().field, "request_id");
/// ```
pub const fn check_request_id_len(len: usize) -> Result<(), ConfigError> {
    if len == 0 || len > MAX_REQUEST_ID_LEN {
        return Err(ConfigError::new("request_id", "1..=256 bytes"));
    }
    Ok(())
}

/// How long a bucket remembers a request id, in the whole milliseconds the script takes
/// (rounded down): `1 ms..=2^40 ms`.
///
/// ```
/// use stanchion::fleet::quota::id_memory_millis;
/// use stanchion::Nanos;
/// assert_eq!(id_memory_millis(Nanos::from_micros(1500)), Ok(1));
/// assert_eq!(id_memory_millis(Nanos::from_micros(999)).unwrap_err().field, "id_memory");
/// ```
pub const fn id_memory_millis(memory: Nanos) -> Result<u64, ConfigError> {
    let ms = memory.as_nanos() / NANOS_PER_MILLI;
    if ms == 0 || ms > MAX_MILLIS {
        return Err(ConfigError::new(
            "id_memory",
            "1 ms..=2^40 ms (1099511627776 ms)",
        ));
    }
    Ok(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bound_is_inclusive_and_nothing_past_it_passes() {
        assert_eq!(check_units("n", 1), Ok(1));
        assert!(check_units("n", 0).is_err());
        assert!(check_units("n", u64::MAX).is_err());
        assert_eq!(check_buckets(1), Ok(1));
        assert!(check_buckets(MAX_BUCKETS + 1).is_err());
        assert!(check_request_id_len(1).is_ok());
        assert!(check_request_id_len(0).is_err());
        assert_eq!(
            id_memory_millis(Nanos::from_millis(MAX_MILLIS)),
            Ok(MAX_MILLIS)
        );
        assert!(id_memory_millis(Nanos::from_millis(MAX_MILLIS + 1)).is_err());
        assert!(id_memory_millis(Nanos::MAX).is_err());
    }

    #[test]
    fn the_defaults_pass_their_own_checks() {
        assert_eq!(check_units("batch", DEFAULT_BATCH), Ok(DEFAULT_BATCH));
        assert_eq!(id_memory_millis(DEFAULT_ID_MEMORY), Ok(600_000));
    }
}
