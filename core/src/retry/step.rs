//! Every decision of a retry loop as one step, with no waiting and no clock of its own.
//!
//! A loop in any language or runtime makes an attempt, and when it fails asks
//! [`RetryLoop::after_failure`] what next: wait this long and try again, or stop for a stated
//! reason. After the wait it asks [`RetryLoop::resume`] whether the attempt may start. The
//! loop itself only sleeps and calls: the rules (which failures are retried, the backoff's
//! wait and caps, the deadline, the budget, refusals) live here, so every language decides
//! alike. [`retry`](super::retry) and [`policy::execute`](crate::policy::execute) are such
//! loops; so are the bindings' decorators and `execute` methods.

use super::{RetryPolicy, Retryable, StopReason};
use crate::backoff::Retrying;
use crate::{Nanos, Reason, Rejected};

/// How an attempt failed, as the retry loop weighs it.
///
/// ```
/// use stanchion::retry::{Failure, Retryable};
/// use stanchion::{Nanos, Reason, Rejected};
/// let busy = Failure::Error(Retryable::After(Nanos::from_secs(1)));
/// let open = Failure::Refused(Rejected::new(Reason::BreakerOpen, Some(Nanos::from_secs(5))));
/// assert_ne!(busy, open);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Failure {
    /// The call itself failed (or ran past its own timeout), judged retryable or not, with a
    /// server's hint if it gave one.
    Error(Retryable),
    /// One of the call's guards refused the attempt: a breaker, a bulkhead or its queue, a
    /// rate limiter. Retrying into a refusal only spends the budget, so it ends the call
    /// unless the policy allows it ([`RetryPolicy::retry_refusals`]); then the wait is at
    /// least the refusal's `retry_after`, and a refusal that no wait can help
    /// ([`Reason::InsufficientCapacity`]) still ends it.
    Refused(Rejected),
}

/// What a retry loop does after a failed attempt.
///
/// ```
/// use stanchion::retry::{Next, StopReason};
/// use stanchion::Nanos;
/// assert_ne!(Next::Retry(Nanos::from_millis(100)), Next::Stop(StopReason::MaxAttempts));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Next {
    /// Sleep this long, then ask [`RetryLoop::resume`] and make the next attempt. The budget
    /// has already paid for it.
    Retry(Nanos),
    /// Make no further attempt: the call fails with its last error, for this reason.
    Stop(StopReason),
}

/// One call's retry loop as plain data: the backoff's progress and the attempts made.
///
/// `Copy`, 48 bytes, no borrow: a binding keeps one per call and passes the policy each step.
///
/// ```
/// use stanchion::retry::{Failure, Next, RetryLoop, RetryPolicy, Retryable, StopReason};
/// use stanchion::{Backoff, BackoffConfig, Deadline, Nanos};
///
/// let backoff = Backoff::new(BackoffConfig::constant(Nanos::from_millis(100)).max_attempts(3))
///     .unwrap();
/// let policy = RetryPolicy::new(&backoff, 7).deadline(Deadline::at(Nanos::from_secs(1)));
/// let mut call = RetryLoop::start(&policy, Nanos::ZERO).unwrap();
/// assert_eq!(call.attempts(), 1);
/// // The first attempt failed at 50 ms: wait 100 ms.
/// let failed = Failure::Error(Retryable::Yes);
/// assert_eq!(call.after_failure(&policy, Nanos::from_millis(50), failed),
///     Next::Retry(Nanos::from_millis(100)));
/// assert_eq!(call.resume(&policy, Nanos::from_millis(150)), Ok(2));
/// // A breaker refused the second: the call ends, nothing is spent on a retry.
/// let open = Failure::Refused(stanchion::Rejected::new(stanchion::Reason::BreakerOpen, None));
/// assert!(matches!(call.after_failure(&policy, Nanos::from_millis(150), open),
///     Next::Stop(StopReason::Refused(_))));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryLoop {
    backoff: Retrying,
    attempts: u32,
}

impl RetryLoop {
    /// Starts a call at `now`: the first attempt may go ahead, unless the deadline has already
    /// passed ([`StopReason::Deadline`]: no attempt is made at all). Deposits the first
    /// attempt into the budget.
    ///
    /// ```
    /// use stanchion::retry::{RetryLoop, RetryPolicy, StopReason};
    /// use stanchion::{Backoff, BackoffConfig, Deadline, Nanos};
    /// let backoff = Backoff::new(BackoffConfig::constant(Nanos::ZERO)).unwrap();
    /// let late = RetryPolicy::new(&backoff, 1).deadline(Deadline::at(Nanos::new(5)));
    /// assert_eq!(RetryLoop::start(&late, Nanos::new(5)).err(), Some(StopReason::Deadline));
    /// ```
    pub fn start(policy: &RetryPolicy<'_>, now: Nanos) -> Result<RetryLoop, StopReason> {
        if let Some(deadline) = policy.deadline {
            if deadline.is_expired(now) {
                return Err(StopReason::Deadline);
            }
        }
        if let Some(budget) = policy.budget {
            budget.deposit();
        }
        Ok(RetryLoop {
            backoff: policy.backoff.start(policy.seed, now),
            attempts: 1,
        })
    }

    /// The attempt made last (or about to be made), counting from 1.
    ///
    /// ```
    /// use stanchion::retry::{RetryLoop, RetryPolicy};
    /// use stanchion::{Backoff, BackoffConfig, Nanos};
    /// let backoff = Backoff::new(BackoffConfig::constant(Nanos::ZERO)).unwrap();
    /// let call = RetryLoop::start(&RetryPolicy::new(&backoff, 1), Nanos::ZERO).unwrap();
    /// assert_eq!(call.attempts(), 1);
    /// ```
    pub const fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The attempt failed at `now`: retry after a wait, or stop.
    ///
    /// In order, each check only if the ones before passed, so a retry that will not be made
    /// never spends a token: the failure must be retryable (a refusal is not, unless the
    /// policy allows it); the backoff gives the wait (raised to a server's hint or a refusal's
    /// `retry_after`, within `max_delay`) unless `max_attempts` or `max_elapsed` stops it; the
    /// wait must end before the deadline; the budget must allow the retry. A stop is final for
    /// the call: make no further attempt.
    ///
    /// ```
    /// use stanchion::retry::{Failure, Next, RetryLoop, RetryPolicy, Retryable, StopReason};
    /// use stanchion::{Backoff, BackoffConfig, Nanos};
    /// let backoff = Backoff::new(BackoffConfig::constant(Nanos::from_secs(1))).unwrap();
    /// let policy = RetryPolicy::new(&backoff, 1);
    /// let mut call = RetryLoop::start(&policy, Nanos::ZERO).unwrap();
    /// let final_error = Failure::Error(Retryable::No);
    /// assert_eq!(call.after_failure(&policy, Nanos::ZERO, final_error),
    ///     Next::Stop(StopReason::NotRetryable));
    /// ```
    pub fn after_failure(
        &mut self,
        policy: &RetryPolicy<'_>,
        now: Nanos,
        failure: Failure,
    ) -> Next {
        let hint = match failure {
            Failure::Error(Retryable::No) => return Next::Stop(StopReason::NotRetryable),
            Failure::Error(Retryable::Yes) => None,
            Failure::Error(Retryable::After(hint)) => Some(hint),
            Failure::Refused(rejected)
                if !policy.retry_refusals || rejected.reason == Reason::InsufficientCapacity =>
            {
                return Next::Stop(StopReason::Refused(rejected));
            }
            Failure::Refused(rejected) => rejected.retry_after,
        };
        let wait = match self.backoff.next_delay(policy.backoff, now, hint) {
            Ok(wait) => wait,
            Err(stop) => return Next::Stop(stop.into()),
        };
        if let Some(deadline) = policy.deadline {
            if deadline.is_expired(now.saturating_add(wait)) {
                return Next::Stop(StopReason::Deadline);
            }
        }
        if let Some(budget) = policy.budget {
            if let Err(rejected) = budget.try_retry(now) {
                return Next::Stop(StopReason::BudgetExhausted(rejected));
            }
        }
        Next::Retry(wait)
    }

    /// The wait is over at `now`: the number of the attempt to make, or
    /// [`StopReason::Deadline`] if the deadline passed meanwhile (a timer may overshoot; no
    /// attempt starts at or past the deadline).
    ///
    /// ```
    /// use stanchion::retry::{Failure, Next, RetryLoop, RetryPolicy, Retryable, StopReason};
    /// use stanchion::{Backoff, BackoffConfig, Deadline, Nanos};
    /// let backoff = Backoff::new(BackoffConfig::constant(Nanos::from_secs(1))).unwrap();
    /// let policy = RetryPolicy::new(&backoff, 1).deadline(Deadline::at(Nanos::from_secs(2)));
    /// let mut call = RetryLoop::start(&policy, Nanos::ZERO).unwrap();
    /// assert_eq!(call.after_failure(&policy, Nanos::ZERO, Failure::Error(Retryable::Yes)),
    ///     Next::Retry(Nanos::from_secs(1)));
    /// // The timer fired late, at the deadline.
    /// assert_eq!(call.resume(&policy, Nanos::from_secs(2)), Err(StopReason::Deadline));
    /// ```
    pub fn resume(&mut self, policy: &RetryPolicy<'_>, now: Nanos) -> Result<u32, StopReason> {
        if let Some(deadline) = policy.deadline {
            if deadline.is_expired(now) {
                return Err(StopReason::Deadline);
            }
        }
        self.attempts = self.attempts.saturating_add(1);
        Ok(self.attempts)
    }
}
