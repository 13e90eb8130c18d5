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

/// Why a [`FleetLimiter`](crate::FleetLimiter) call did not admit.
///
/// A refusal is the limiter working; the other variants are bad input or failures to decide
/// that the limiter's `on_unavailable` policy handed to the caller (`raise`).
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
    /// The key cannot name a limiter key: empty, longer than [`MAX_KEY_LEN`](crate::MAX_KEY_LEN)
    /// bytes, or holding a `{` or `}` (which would change the key's cluster hash tag).
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
            Error::InvalidKey { reason } => write!(f, "invalid limiter key: {reason}"),
            Error::Redis(error) => write!(f, "Redis did not decide: {error}"),
            Error::Reply(error) => write!(f, "Redis answered with an error: {error}"),
            Error::TimedOut { after } => write!(f, "Redis did not answer within {after:?}"),
            Error::BreakerOpen(rejected) => {
                write!(
                    f,
                    "Redis is failing, the breaker guarding it is open: {rejected}"
                )
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Refused(refused) => Some(&refused.rejected),
            Error::InvalidKey { .. } => None,
            Error::Redis(error) | Error::Reply(error) => Some(error),
            Error::TimedOut { .. } => None,
            Error::BreakerOpen(rejected) => Some(rejected),
        }
    }
}

impl From<RedisError> for Error {
    fn from(error: RedisError) -> Error {
        Error::Redis(error)
    }
}
