//! What a fleet call returns when it does not admit: a refusal (a limiter's, a sold-out
//! quota's, a full fleet bulkhead's), an argument it cannot use, or Redis failing to decide.

use core::fmt;

use redis::RedisError;
use stanchion::{ConfigError, Nanos, Reason, Rejected};

/// A refusal from the fleet limiter: the core's [`Rejected`] (reason and `retry_after`), and
/// the state of the bucket it was decided on.
///
/// ```
/// use stanchion::{Nanos, Reason, Rejected};
/// use stanchion_redis::Refused;
/// let refused = Refused {
///     rejected: Rejected::new(Reason::RateLimited, Some(Nanos::from_millis(250))),
///     remaining: 0,
///     reset_after: Nanos::from_secs(3),
///     fallback: false,
/// };
/// assert_eq!(refused.to_string(), "rate_limited (retry after 250ms)");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refused {
    /// Why, and after how long the same request passes: [`Reason::RateLimited`] with the exact
    /// wait, or [`Reason::InsufficientCapacity`] with `None` when `n` exceeds the capacity.
    ///
    /// [`Reason::RateLimited`]: stanchion::Reason::RateLimited
    /// [`Reason::InsufficientCapacity`]: stanchion::Reason::InsufficientCapacity
    pub rejected: Rejected,
    /// Whole tokens in the bucket now (nothing was taken).
    pub remaining: u64,
    /// How long until the bucket is full again; zero when it is full.
    pub reset_after: Nanos,
    /// Whether the `on_unavailable` policy refused while Redis could not decide (`deny`, or
    /// the local stand-in of `local`); `remaining` and `reset_after` are then zero.
    pub fallback: bool,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.rejected, f)
    }
}

/// A [`FleetQuota`](crate::FleetQuota) take that no bucket could serve: every bucket held
/// fewer than the units asked for when the take visited it. Nothing was taken.
///
/// ```
/// use stanchion_redis::SoldOut;
/// let sold_out = SoldOut { requested: 2, remaining: 1 };
/// assert_eq!(sold_out.to_string(), "sold out (2 asked, 1 left)");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SoldOut {
    /// The units asked for.
    pub requested: u64,
    /// The units the buckets held when the take visited them, summed. Below `requested` in
    /// a quota of one bucket; in a bucketed quota it may be more, spread over buckets that
    /// each hold fewer (a take is served by one bucket, never split).
    pub remaining: u64,
}

impl fmt::Display for SoldOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "sold out ({} asked, {} left)",
            self.requested, self.remaining
        )
    }
}

impl std::error::Error for SoldOut {}

/// A [`FleetSemaphore`](crate::FleetSemaphore) acquire that found every lease taken: the
/// core's [`Reason::BulkheadFull`], as a full [`Bulkhead`](stanchion::Bulkhead) answers.
///
/// ```
/// use stanchion::Nanos;
/// use stanchion_redis::Full;
/// let full = Full { holders: 3, next_expiry_in: Nanos::from_millis(1200) };
/// assert_eq!(full.to_string(), "bulkhead_full (3 leases held)");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Full {
    /// The leases held, at least the limit (more only after the limit was lowered).
    pub holders: u32,
    /// How long until the earliest lease expires, unless its holder renews or releases it
    /// first. Not a `retry_after`: a lease that is renewed does not free its slot then.
    pub next_expiry_in: Nanos,
}

impl fmt::Display for Full {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({} leases held)", Reason::BulkheadFull, self.holders)
    }
}

impl std::error::Error for Full {}

/// Why a fleet call ([`FleetLimiter`](crate::FleetLimiter), [`FleetQuota`](crate::FleetQuota),
/// [`FleetSemaphore`](crate::FleetSemaphore)) did not admit.
///
/// A refusal ([`Refused`](Error::Refused), [`SoldOut`](Error::SoldOut),
/// [`Full`](Error::Full)) is the primitive working; the other variants are bad arguments or
/// failures to decide. A limiter answers a failure by its `on_unavailable` policy (the failure
/// reaches the caller under `raise`); a quota and a semaphore always return the failure (§9:
/// they never guess).
///
/// ```
/// use stanchion::{Nanos, Reason, Rejected};
/// use stanchion_redis::{Error, Refused};
/// let error = Error::Refused(Refused {
///     rejected: Rejected::new(Reason::RateLimited, Some(Nanos::from_secs(1))),
///     remaining: 0,
///     reset_after: Nanos::from_secs(10),
///     fallback: false,
/// });
/// assert_eq!(error.rejected().map(|r| r.reason), Some(Reason::RateLimited));
/// assert_eq!(error.retry_after(), Some(Nanos::from_secs(1)));
///
/// let redis = redis::RedisError::from((redis::ErrorKind::Io, "connection refused"));
/// let error = Error::from(redis);
/// assert!(error.rejected().is_none());
/// assert!(std::error::Error::source(&error).is_some());
/// ```
#[non_exhaustive]
#[derive(Debug)]
pub enum Error {
    /// The limiter refused the request.
    Refused(Refused),
    /// The limiter key, or the quota's or semaphore's name, cannot name a Redis key: empty,
    /// longer than [`MAX_KEY_LEN`](crate::MAX_KEY_LEN) bytes, or holding a `{` or `}` (which
    /// would change the key's cluster hash tag).
    InvalidKey {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Redis could not decide: a connection error, an error reply that means the server cannot
    /// decide now ([`stanchion::fleet::UNAVAILABLE_REPLIES`]: loading, a read-only replica, a
    /// cluster down, …), or a reply the script never gives. The Redis error is the
    /// [`source`](std::error::Error::source).
    Redis(RedisError),
    /// Redis answered with an error that waiting will not change: a key holding another type
    /// (`WRONGTYPE`), a script's own error. No `on_unavailable` policy applies.
    Reply(RedisError),
    /// Redis did not answer within the call timeout.
    TimedOut {
        /// The timeout that ran out.
        after: Nanos,
    },
    /// The breaker guarding the connection is open after recent failures, so no call was made;
    /// its refusal says when it lets a probe through.
    BreakerOpen(Rejected),
    /// No bucket of the quota holds the units asked for.
    SoldOut(SoldOut),
    /// Every lease of the fleet bulkhead is held.
    Full(Full),
    /// An argument out of its range, named with the range it must lie in, as a config
    /// error names a field: `n` of a take (`1..=2^53 - 1`), a `request_id` (1 to 256 bytes,
    /// and used for one `n` only), a `bucket` index.
    InvalidArgument(ConfigError),
    /// The operating system gave no random bytes for a lease token (the
    /// [`source`](std::error::Error::source)). Nothing was sent to Redis.
    Entropy(std::io::Error),
}

impl Error {
    /// The core's refusal, if a limiter refused ([`RateLimited`](Reason::RateLimited) or
    /// [`InsufficientCapacity`](Reason::InsufficientCapacity)) or a fleet bulkhead was full
    /// ([`BulkheadFull`](Reason::BulkheadFull), `retry_after: None` as in the core). A sold-out
    /// quota has no core reason: see [`is_refusal`](Error::is_refusal).
    ///
    /// ```
    /// use stanchion::{Nanos, Reason};
    /// use stanchion_redis::{Error, Full};
    /// let error = stanchion_redis::Error::InvalidKey { reason: "empty" };
    /// assert!(error.rejected().is_none());
    /// let full = Error::Full(Full { holders: 2, next_expiry_in: Nanos::from_secs(1) });
    /// assert_eq!(full.rejected().map(|r| r.reason), Some(Reason::BulkheadFull));
    /// ```
    pub fn rejected(&self) -> Option<Rejected> {
        match self {
            Error::Full(_) => Some(Rejected::new(Reason::BulkheadFull, None)),
            _ => self.refused().map(|refused| refused.rejected),
        }
    }

    /// Whether the primitive decided and refused (a limiter's refusal, a sold-out quota, a
    /// full fleet bulkhead), as opposed to a bad argument or Redis failing to decide.
    ///
    /// ```
    /// use stanchion_redis::{Error, SoldOut};
    /// assert!(Error::SoldOut(SoldOut { requested: 1, remaining: 0 }).is_refusal());
    /// assert!(!Error::InvalidKey { reason: "empty" }.is_refusal());
    /// ```
    pub fn is_refusal(&self) -> bool {
        matches!(self, Error::Refused(_) | Error::SoldOut(_) | Error::Full(_))
    }

    /// The refusal with the bucket's state, if the limiter refused.
    ///
    /// ```
    /// let error = stanchion_redis::Error::InvalidKey { reason: "empty" };
    /// assert!(error.refused().is_none());
    /// ```
    pub fn refused(&self) -> Option<Refused> {
        match self {
            Error::Refused(refused) => Some(*refused),
            _ => None,
        }
    }

    /// How long until the same request passes, if the limiter refused and waiting helps.
    ///
    /// ```
    /// let error = stanchion_redis::Error::InvalidKey { reason: "empty" };
    /// assert_eq!(error.retry_after(), None);
    /// ```
    pub fn retry_after(&self) -> Option<Nanos> {
        self.rejected().and_then(|rejected| rejected.retry_after)
    }

    /// Whether Redis could not decide (an error, a timeout, or the breaker open), the cases
    /// the `on_unavailable` policy answers, as opposed to a refusal or a bad argument.
    ///
    /// ```
    /// use stanchion::Nanos;
    /// use stanchion_redis::Error;
    /// assert!(Error::TimedOut { after: Nanos::from_millis(250) }.is_unavailable());
    /// assert!(!Error::InvalidKey { reason: "empty" }.is_unavailable());
    /// ```
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            Error::Redis(_) | Error::TimedOut { .. } | Error::BreakerOpen(_)
        )
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Refused(refused) => fmt::Display::fmt(refused, f),
            Error::InvalidKey { reason } => write!(f, "invalid key: {reason}"),
            Error::Redis(error) => write!(f, "Redis did not decide: {error}"),
            Error::Reply(error) => write!(f, "Redis answered with an error: {error}"),
            Error::TimedOut { after } => write!(f, "Redis did not answer within {after:?}"),
            Error::BreakerOpen(rejected) => {
                write!(
                    f,
                    "Redis is failing, the breaker guarding it is open: {rejected}"
                )
            }
            Error::SoldOut(sold_out) => fmt::Display::fmt(sold_out, f),
            Error::Full(full) => fmt::Display::fmt(full, f),
            Error::InvalidArgument(error) => write!(
                f,
                "invalid argument `{}`: must be {}",
                error.field, error.allowed
            ),
            Error::Entropy(error) => write!(f, "no random bytes for a lease token: {error}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Refused(refused) => Some(&refused.rejected),
            Error::InvalidKey { .. } | Error::InvalidArgument(_) => None,
            Error::Redis(error) | Error::Reply(error) => Some(error),
            Error::TimedOut { .. } => None,
            Error::BreakerOpen(rejected) => Some(rejected),
            Error::SoldOut(sold_out) => Some(sold_out),
            Error::Full(full) => Some(full),
            Error::Entropy(error) => Some(error),
        }
    }
}

impl From<RedisError> for Error {
    fn from(error: RedisError) -> Error {
        Error::Redis(error)
    }
}
