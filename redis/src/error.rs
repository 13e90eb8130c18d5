//! What a fleet limiter call returns when it does not admit: a refusal, a key it cannot use, or
//! Redis failing to decide.

use core::fmt;

use redis::RedisError;
use stanchion::{Nanos, Rejected};

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
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.rejected, f)
    }
}

/// Why a [`FleetLimiter`](crate::FleetLimiter) call did not admit.
///
/// A refusal is the limiter working; the other variants are failures to decide, which a
/// caller handles by its own policy (fail open or closed) until the planned `on_unavailable`
/// policies do it for them.
///
/// ```
/// use stanchion::{Nanos, Reason, Rejected};
/// use stanchion_redis::{Error, Refused};
/// let error = Error::Refused(Refused {
///     rejected: Rejected::new(Reason::RateLimited, Some(Nanos::from_secs(1))),
///     remaining: 0,
///     reset_after: Nanos::from_secs(10),
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
    /// The key cannot name a limiter key: empty, longer than [`MAX_KEY_LEN`](crate::MAX_KEY_LEN)
    /// bytes, or holding a `{` or `}` (which would change the key's cluster hash tag).
    InvalidKey {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Redis did not decide: a connection or timeout error, a server error, or a reply the
    /// script never gives. The Redis error is the [`source`](std::error::Error::source).
    Redis(RedisError),
}

impl Error {
    /// The refusal, if the limiter refused.
    ///
    /// ```
    /// let error = stanchion_redis::Error::InvalidKey { reason: "empty" };
    /// assert!(error.rejected().is_none());
    /// ```
    pub fn rejected(&self) -> Option<Rejected> {
        self.refused().map(|refused| refused.rejected)
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
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Refused(refused) => fmt::Display::fmt(refused, f),
            Error::InvalidKey { reason } => write!(f, "invalid limiter key: {reason}"),
            Error::Redis(error) => write!(f, "Redis did not decide: {error}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Refused(refused) => Some(&refused.rejected),
            Error::InvalidKey { .. } => None,
            Error::Redis(error) => Some(error),
        }
    }
}

impl From<RedisError> for Error {
    fn from(error: RedisError) -> Error {
        Error::Redis(error)
    }
}
