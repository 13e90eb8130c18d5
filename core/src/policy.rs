//! `policy`: one async call through every primitive, in the order docs/semantics.md fixes:
//! deadline → retry (with budget) → circuit breaker → bulkhead → rate limiter → the call, each
//! attempt's call bounded by an optional attempt timeout and by the deadline.
//!
//! Like [`retry`](crate::retry), it runs on any executor: the caller supplies the clock and the
//! timer ([`Clock`], [`Sleep`]). Timeouts race the call against the timer by polling both, with
//! no allocation. Every permit is an RAII guard held across the attempt, so an attempt that
//! times out, or a whole call whose future is dropped (cancelled), frees its breaker probe
//! slot, bulkhead permit and queue place.
//!
//! Two limits bound a call. The deadline ([`RetryPolicy::deadline`]) is one instant for the
//! whole call, retries and waits included; the attempt timeout ([`Guards::attempt_timeout`])
//! bounds each attempt's call on its own. An attempt's call may run for the shorter of the two
//! ([`attempt_limit`]).
//!
//! How an attempt ended ([`Ending`]) decides, in one place, what the breaker is told and what
//! the retry loop is told ([`Ending::decide`]): an attempt that ran past its attempt timeout is
//! a breaker failure and a retryable one; one that ran past the deadline is a breaker failure
//! and ends the call; a call the caller cancelled, or one a guard never let through, is
//! released from the breaker unrecorded. Every binding's policy asks this same function, so a
//! timeout counts against the breaker in every language.
//!
//! Refusals end the call at once ([`AttemptError::Rejected`], [`StopReason::Refused`]): retrying
//! into an open breaker or a full bulkhead only spends the budget, unless the policy asks for it
//! ([`RetryPolicy::retry_refusals`]). Every decision is [`RetryLoop`](crate::retry::RetryLoop)'s,
//! as in every binding. A fallback is the caller's `match` on the error.

use core::future::{poll_fn, Future};
use core::pin::pin;
use core::task::Poll;

use crate::adaptive::{self, AdaptiveLimiter};
use crate::breaker::{CircuitBreaker, Outcome};
use crate::retry::{run, Clock, Failure, RetryError, RetryPolicy, Retryable, Sleep, StopReason};
use crate::{Bulkhead, ConfigError, Deadline, Nanos, Rejected, TokenBucket};

/// The primitives each attempt passes through. All optional; share them between calls.
///
/// ```
/// use stanchion::policy::Guards;
/// use stanchion::{Bulkhead, BulkheadConfig, CircuitBreaker, Nanos};
/// let breaker: CircuitBreaker = CircuitBreaker::new(Default::default()).unwrap();
/// let bulkhead: Bulkhead = Bulkhead::new(BulkheadConfig::new(8)).unwrap();
/// let guards = Guards::new()
///     .breaker(&breaker)
///     .bulkhead(&bulkhead, 0)
///     .attempt_timeout(Nanos::from_millis(250));
/// assert_eq!(guards.attempt_timeout, Some(Nanos::from_millis(250)));
/// ```
#[derive(Debug)]
pub struct Guards<'a, const W: usize = 10, const WAITERS: usize = 0> {
    /// Judges each attempt; refuses while open.
    pub breaker: Option<&'a CircuitBreaker<W>>,
    /// Caps attempts in flight; an attempt waits in its queue (within the deadline).
    pub bulkhead: Option<(&'a Bulkhead<WAITERS>, usize)>,
    /// Caps attempts in flight at a limit learned from their latency, the alternative to a
    /// fixed bulkhead; an attempt waits in its queue (within the deadline), and how it ended is
    /// its sample ([`Decision::adaptive`]).
    pub adaptive: Option<&'a AdaptiveLimiter<WAITERS>>,
    /// Paces attempts; an attempt may wait up to `limiter_max_wait` for its token.
    pub limiter: Option<&'a TokenBucket>,
    /// The longest an attempt may wait for a token (zero: refuse instead of waiting).
    pub limiter_max_wait: Nanos,
    /// The longest one attempt's call may run, from the moment every guard admitted it (the
    /// whole call's bound is [`RetryPolicy::deadline`]). An attempt that runs past it counts as
    /// a breaker failure and may be retried ([`Ending::TimedOut`]).
    pub attempt_timeout: Option<Nanos>,
}

impl<const W: usize, const WAITERS: usize> Default for Guards<'_, W, WAITERS> {
    fn default() -> Self {
        Guards {
            breaker: None,
            bulkhead: None,
            adaptive: None,
            limiter: None,
            limiter_max_wait: Nanos::ZERO,
            attempt_timeout: None,
        }
    }
}

impl<'a, const W: usize, const WAITERS: usize> Guards<'a, W, WAITERS> {
    /// No guards: attempts go straight to the call.
    ///
    /// ```
    /// let guards: stanchion::policy::Guards = stanchion::policy::Guards::new();
    /// assert!(guards.breaker.is_none());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Judge attempts with `breaker`.
    ///
    /// ```
    /// # use stanchion::{policy::Guards, CircuitBreaker};
    /// let b: CircuitBreaker = CircuitBreaker::new(Default::default()).unwrap();
    /// assert!(Guards::<10, 0>::new().breaker(&b).breaker.is_some());
    /// ```
    pub fn breaker(mut self, breaker: &'a CircuitBreaker<W>) -> Self {
        self.breaker = Some(breaker);
        self
    }

    /// Hold a permit of `bulkhead`'s priority `lane` for each attempt.
    ///
    /// ```
    /// # use stanchion::{policy::Guards, Bulkhead, BulkheadConfig};
    /// let b: Bulkhead = Bulkhead::new(BulkheadConfig::new(2)).unwrap();
    /// assert!(Guards::<10, 0>::new().bulkhead(&b, 0).bulkhead.is_some());
    /// ```
    pub fn bulkhead(mut self, bulkhead: &'a Bulkhead<WAITERS>, lane: usize) -> Self {
        self.bulkhead = Some((bulkhead, lane));
        self
    }

    /// Hold a permit of `limiter` for each attempt: a concurrency cap learned from the attempts'
    /// latency, usually instead of a fixed [`bulkhead`](Guards::bulkhead) (with both, an attempt
    /// holds a permit of each, the bulkhead's first).
    ///
    /// ```
    /// # use stanchion::{policy::Guards, AdaptiveConfig, AdaptiveLimiter};
    /// let l: AdaptiveLimiter = AdaptiveLimiter::new(AdaptiveConfig::new()).unwrap();
    /// assert!(Guards::<10, 0>::new().adaptive(&l).adaptive.is_some());
    /// ```
    pub fn adaptive(mut self, limiter: &'a AdaptiveLimiter<WAITERS>) -> Self {
        self.adaptive = Some(limiter);
        self
    }

    /// Take a token of `limiter` per attempt, waiting up to `max_wait` for it.
    ///
    /// ```
    /// # use stanchion::{policy::Guards, Nanos, TokenBucket, TokenBucketConfig};
    /// let l = TokenBucket::new(TokenBucketConfig::new(10)).unwrap();
    /// let g: Guards = Guards::new().limiter(&l, Nanos::from_millis(50));
    /// assert_eq!(g.limiter_max_wait, Nanos::from_millis(50));
    /// ```
    pub fn limiter(mut self, limiter: &'a TokenBucket, max_wait: Nanos) -> Self {
        self.limiter = Some(limiter);
        self.limiter_max_wait = max_wait;
        self
    }

    /// Bound each attempt's call to `timeout`, within what remains of the deadline
    /// ([`attempt_limit`]). The bindings refuse a zero timeout
    /// ([`check_attempt_timeout`]); here a zero one cuts off every call that does not answer at
    /// its first poll.
    ///
    /// ```
    /// # use stanchion::{policy::Guards, Nanos};
    /// let g: Guards = Guards::new().attempt_timeout(Nanos::from_secs(1));
    /// assert_eq!(g.attempt_timeout, Some(Nanos::from_secs(1)));
    /// ```
    pub fn attempt_timeout(mut self, timeout: Nanos) -> Self {
        self.attempt_timeout = Some(timeout);
        self
    }
}

/// Checks an attempt timeout as the bindings take one: at least 1 ns. A zero timeout would cut
/// off every call before it could answer, which is never what a caller means.
///
/// ```
/// use stanchion::policy::check_attempt_timeout;
/// use stanchion::Nanos;
/// assert_eq!(check_attempt_timeout(Nanos::new(1)), Ok(Nanos::new(1)));
/// assert_eq!(check_attempt_timeout(Nanos::ZERO).unwrap_err().field, "attempt_timeout");
/// ```
pub const fn check_attempt_timeout(timeout: Nanos) -> Result<Nanos, ConfigError> {
    if timeout.as_nanos() == 0 {
        return Err(ConfigError::new("attempt_timeout", "at least 1 ns"));
    }
    Ok(timeout)
}

/// Which limit an attempt's call runs up against: see [`attempt_limit`].
///
/// ```
/// use stanchion::policy::Bound;
/// assert_eq!(Bound::AttemptTimeout.as_str(), "attempt_timeout");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Bound {
    /// The attempt's own timeout ([`Guards::attempt_timeout`]), shorter than what remained of
    /// the deadline: running past it ends the attempt, not the call.
    AttemptTimeout,
    /// The whole call's deadline ([`RetryPolicy::deadline`]): running past it ends the call.
    Deadline,
}

impl Bound {
    /// A short, stable, lower-case name, as bindings spell it: `"attempt_timeout"` or
    /// `"deadline"` (the names of the [`Ending::TimedOut`] endings).
    ///
    /// ```
    /// assert_eq!(stanchion::policy::Bound::Deadline.as_str(), "deadline");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            Bound::AttemptTimeout => "attempt_timeout",
            Bound::Deadline => "deadline",
        }
    }
}

/// How long an attempt's call may run, and which limit that is.
///
/// ```
/// use stanchion::policy::{attempt_limit, AttemptLimit, Bound};
/// use stanchion::Nanos;
/// let limit = attempt_limit(Some(Nanos::from_millis(50)), None, Nanos::ZERO);
/// assert_eq!(limit, Some(AttemptLimit { within: Nanos::from_millis(50), bound: Bound::AttemptTimeout }));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AttemptLimit {
    /// The time the call may run, from `now`.
    pub within: Nanos,
    /// The limit it runs up against.
    pub bound: Bound,
}

/// The limit of an attempt's call starting at `now`: the shorter of `attempt_timeout` and what
/// remains of `deadline`, or `None` when neither is set.
///
/// When both end at the same instant the deadline is the bound: the whole call is over then,
/// so the attempt is not retried. An expired deadline leaves no time at all (`within` zero).
///
/// ```
/// use stanchion::policy::{attempt_limit, Bound};
/// use stanchion::{Deadline, Nanos};
/// let deadline = Some(Deadline::at(Nanos::from_millis(120)));
/// let timeout = Some(Nanos::from_millis(50));
/// // Early in the call the attempt timeout is the shorter...
/// let first = attempt_limit(timeout, deadline, Nanos::ZERO).unwrap();
/// assert_eq!((first.within, first.bound), (Nanos::from_millis(50), Bound::AttemptTimeout));
/// // ...late in it, what remains of the deadline caps the attempt.
/// let last = attempt_limit(timeout, deadline, Nanos::from_millis(100)).unwrap();
/// assert_eq!((last.within, last.bound), (Nanos::from_millis(20), Bound::Deadline));
/// assert_eq!(attempt_limit(None, None, Nanos::ZERO), None);
/// ```
pub const fn attempt_limit(
    attempt_timeout: Option<Nanos>,
    deadline: Option<Deadline>,
    now: Nanos,
) -> Option<AttemptLimit> {
    let left = match deadline {
        Some(deadline) => deadline.remaining(now),
        None => {
            return match attempt_timeout {
                Some(within) => Some(AttemptLimit {
                    within,
                    bound: Bound::AttemptTimeout,
                }),
                None => None,
            }
        }
    };
    match attempt_timeout {
        Some(within) if within.as_nanos() < left.as_nanos() => Some(AttemptLimit {
            within,
            bound: Bound::AttemptTimeout,
        }),
        _ => Some(AttemptLimit {
            within: left,
            bound: Bound::Deadline,
        }),
    }
}

/// How the caller judges an error: what the breaker records, whether to retry, and whether
/// the dependency refused the call for overload.
///
/// ```
/// use stanchion::breaker::Outcome;
/// use stanchion::policy::Verdict;
/// use stanchion::retry::Retryable;
/// // A 404 is the caller's mistake: not the dependency's failure, not worth a retry.
/// let not_found = Verdict { outcome: Outcome::Ignored, retry: Retryable::No, overload: false };
/// assert_eq!(
///     Verdict::failure(),
///     Verdict { outcome: Outcome::Failure, retry: Retryable::Yes, overload: false }
/// );
/// # let _ = not_found;
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Verdict {
    /// What the breaker records for the attempt.
    pub outcome: Outcome,
    /// Whether the retry loop tries again.
    pub retry: Retryable,
    /// The dependency refused the call for overload (a 503 or 429, its own queue full): to
    /// an adaptive limiter a drop, whatever the breaker records.
    pub overload: bool,
}

impl Verdict {
    /// The usual judgement of an error: a failure of the dependency, worth a retry.
    ///
    /// ```
    /// assert_eq!(stanchion::policy::Verdict::failure().outcome, stanchion::Outcome::Failure);
    /// ```
    pub const fn failure() -> Verdict {
        Verdict {
            outcome: Outcome::Failure,
            retry: Retryable::Yes,
            overload: false,
        }
    }

    /// A refusal for overload from further down: a failure of the dependency, worth a retry,
    /// and a drop to an adaptive limiter.
    ///
    /// ```
    /// use stanchion::adaptive;
    /// use stanchion::policy::{Ending, Verdict};
    /// assert_eq!(Ending::Failed(Verdict::overload()).decide().adaptive, adaptive::Outcome::Dropped);
    /// ```
    pub const fn overload() -> Verdict {
        Verdict {
            overload: true,
            ..Verdict::failure()
        }
    }
}

/// How one attempt of a policy call ended: what [`Ending::decide`] judges.
///
/// The policy (or a binding's) observes the ending; the caller judges only its own call's
/// errors ([`Verdict`]). Every other ending is judged here, the same in every language.
///
/// ```
/// use stanchion::policy::{Bound, Ending};
/// assert_eq!(Ending::TimedOut(Bound::AttemptTimeout).as_str(), "attempt_timeout");
/// assert_eq!(Ending::Cancelled.as_str(), "cancelled");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Ending {
    /// The call returned a value the caller counts as a success.
    Succeeded,
    /// The call failed (an error, or a value the caller counts as a failure), judged by the
    /// caller.
    Failed(Verdict),
    /// A guard inside the breaker (the bulkhead or its queue, the limiter) refused: the call
    /// was not made.
    Refused(Rejected),
    /// The deadline passed while the attempt waited for a guard (a place in the bulkhead's
    /// queue, a limiter's token): the call was not made.
    DeadlineBeforeCall,
    /// The call ran up against its limit ([`attempt_limit`]) and was cut off: dropped,
    /// cancelled or aborted by the policy.
    TimedOut(Bound),
    /// The caller cancelled the call: dropped its future, aborted its signal, cancelled its
    /// task. That is the caller's choice, not the dependency's fault.
    Cancelled,
}

/// What the breaker is told about an attempt: see [`Ending::decide`].
///
/// ```
/// use stanchion::policy::BreakerReport;
/// use stanchion::Outcome;
/// assert_eq!(BreakerReport::Record(Outcome::Failure).as_str(), "failure");
/// assert_eq!(BreakerReport::Release.as_str(), "release");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BreakerReport {
    /// Record this outcome for the attempt's permit, measured to the instant the attempt ended
    /// (so a timed-out call counts as slow when its limit reaches the slow-call duration).
    Record(Outcome),
    /// Release the permit: free its probe slot, record nothing.
    Release,
}

impl BreakerReport {
    /// A short, stable name, as bindings spell it: the outcome's (`"success"`, `"failure"`,
    /// `"ignored"`) or `"release"`.
    ///
    /// ```
    /// use stanchion::policy::BreakerReport;
    /// assert_eq!(BreakerReport::Record(stanchion::Outcome::Ignored).as_str(), "ignored");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            BreakerReport::Record(Outcome::Success) => "success",
            BreakerReport::Record(Outcome::Failure) => "failure",
            BreakerReport::Record(Outcome::Ignored) => "ignored",
            BreakerReport::Release => "release",
        }
    }
}

/// What the retry loop is told about an attempt: see [`Ending::decide`].
///
/// ```
/// use stanchion::policy::LoopStep;
/// use stanchion::retry::{Failure, Retryable, StopReason};
/// assert_eq!(LoopStep::Ask(Failure::Error(Retryable::Yes)).as_str(), "ask");
/// assert_eq!(LoopStep::Stop(StopReason::Deadline).as_str(), "stop");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LoopStep {
    /// The attempt succeeded: the call returns its value.
    Return,
    /// The attempt failed: ask [`RetryLoop::after_failure`](crate::retry::RetryLoop::after_failure)
    /// with this failure whether to retry.
    Ask(Failure),
    /// The call ends now with the attempt's error, for this reason; no retry is asked for.
    Stop(StopReason),
    /// The caller cancelled the call: it ends with the caller's cancellation, and nothing is
    /// asked.
    Abandon,
}

impl LoopStep {
    /// A short, stable name, as bindings spell it: `"return"`, `"ask"`, `"stop"` or
    /// `"abandon"`.
    ///
    /// ```
    /// assert_eq!(stanchion::policy::LoopStep::Abandon.as_str(), "abandon");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            LoopStep::Return => "return",
            LoopStep::Ask(_) => "ask",
            LoopStep::Stop(_) => "stop",
            LoopStep::Abandon => "abandon",
        }
    }
}

/// What an attempt's ending tells the breaker, the adaptive limiter and the retry loop.
///
/// ```
/// use stanchion::adaptive;
/// use stanchion::policy::{Bound, BreakerReport, Decision, Ending, LoopStep};
/// use stanchion::retry::{Failure, Retryable};
/// use stanchion::Outcome;
/// assert_eq!(Ending::TimedOut(Bound::AttemptTimeout).decide(), Decision {
///     breaker: BreakerReport::Record(Outcome::Failure),
///     adaptive: adaptive::Outcome::Dropped,
///     retry: LoopStep::Ask(Failure::Error(Retryable::Yes)),
/// });
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Decision {
    /// What the breaker is told (if the policy has one).
    pub breaker: BreakerReport,
    /// What the adaptive limiter's permit records (if the policy has one): the call's latency
    /// as a sample, a drop, or nothing (`Ignored`: the permit is given back).
    pub adaptive: adaptive::Outcome,
    /// What the retry loop is told (if the policy has one; without, any failure ends the
    /// call).
    pub retry: LoopStep,
}

impl Ending {
    /// The endings a policy observes by itself, with no judgement of the caller's and no
    /// refusal to carry: what bindings look up by name ([`Ending::as_str`]).
    ///
    /// ```
    /// use stanchion::policy::Ending;
    /// let by_name = |name: &str| Ending::OBSERVED.into_iter().find(|e| e.as_str() == name);
    /// assert_eq!(by_name("cancelled"), Some(Ending::Cancelled));
    /// ```
    pub const OBSERVED: [Ending; 4] = [
        Ending::TimedOut(Bound::AttemptTimeout),
        Ending::TimedOut(Bound::Deadline),
        Ending::DeadlineBeforeCall,
        Ending::Cancelled,
    ];

    /// A short, stable, lower-case name, as bindings spell it: `"succeeded"`, `"failed"`,
    /// `"refused"`, `"deadline_before_call"`, `"attempt_timeout"`, `"deadline"` (the two
    /// [`Ending::TimedOut`]s, by their [`Bound`]) or `"cancelled"`.
    ///
    /// ```
    /// use stanchion::policy::{Bound, Ending};
    /// assert_eq!(Ending::TimedOut(Bound::Deadline).as_str(), "deadline");
    /// ```
    pub const fn as_str(&self) -> &'static str {
        match self {
            Ending::Succeeded => "succeeded",
            Ending::Failed(_) => "failed",
            Ending::Refused(_) => "refused",
            Ending::DeadlineBeforeCall => "deadline_before_call",
            Ending::TimedOut(bound) => bound.as_str(),
            Ending::Cancelled => "cancelled",
        }
    }

    /// What this ending tells the breaker, the adaptive limiter and the retry loop: the one rule
    /// every policy follows, in every language.
    ///
    /// | ending | breaker | adaptive limiter | retry loop |
    /// | --- | --- | --- | --- |
    /// | `Succeeded` | record `Success` | `Success` (a latency sample) | return the value |
    /// | `Failed(verdict)` | record `verdict.outcome` | `Dropped` if `verdict.overload`, else the same outcome | ask, with `verdict.retry` |
    /// | `Refused(rejected)` | release | `Ignored` | ask, with the refusal |
    /// | `DeadlineBeforeCall` | release | `Ignored` | stop: `Deadline` |
    /// | `TimedOut(AttemptTimeout)` | record `Failure` | `Dropped` | ask: retryable |
    /// | `TimedOut(Deadline)` | record `Failure` | `Dropped` | stop: `Deadline` |
    /// | `Cancelled` | release | `Ignored` | abandon |
    ///
    /// A call that never ran tells the breaker nothing about the dependency, and neither does
    /// one the caller cancelled. A call that ran past its limit is the dependency's failure,
    /// whatever the caller's classifier would say of an error: it is recorded as a `Failure`
    /// at the instant it was cut off, so it also counts as slow once its limit reaches the
    /// slow-call duration. Past the attempt timeout another attempt may fit before the
    /// deadline, so the retry loop decides; past the deadline the call is over. For the adaptive
    /// limiter a call cut off is a drop (its latency is only the limit's), a call that answered
    /// is a latency sample, and one that never ran or was cancelled samples nothing.
    ///
    /// ```
    /// use stanchion::policy::{Bound, BreakerReport, Ending, LoopStep};
    /// use stanchion::retry::StopReason;
    /// let past_deadline = Ending::TimedOut(Bound::Deadline).decide();
    /// assert_eq!(past_deadline.breaker, BreakerReport::Record(stanchion::Outcome::Failure));
    /// assert_eq!(past_deadline.retry, LoopStep::Stop(StopReason::Deadline));
    /// let cancelled = Ending::Cancelled.decide();
    /// assert_eq!((cancelled.breaker, cancelled.retry), (BreakerReport::Release, LoopStep::Abandon));
    /// ```
    pub const fn decide(self) -> Decision {
        use adaptive::Outcome as Sample;
        let (breaker, adaptive, retry) = match self {
            Ending::Succeeded => (
                BreakerReport::Record(Outcome::Success),
                Sample::Success,
                LoopStep::Return,
            ),
            Ending::Failed(verdict) => (
                BreakerReport::Record(verdict.outcome),
                match (verdict.overload, verdict.outcome) {
                    (true, _) => Sample::Dropped,
                    (false, Outcome::Success) => Sample::Success,
                    (false, Outcome::Failure) => Sample::Failure,
                    (false, Outcome::Ignored) => Sample::Ignored,
                },
                LoopStep::Ask(Failure::Error(verdict.retry)),
            ),
            Ending::Refused(rejected) => (
                BreakerReport::Release,
                Sample::Ignored,
                LoopStep::Ask(Failure::Refused(rejected)),
            ),
            Ending::DeadlineBeforeCall => (
                BreakerReport::Release,
                Sample::Ignored,
                LoopStep::Stop(StopReason::Deadline),
            ),
            Ending::TimedOut(Bound::AttemptTimeout) => (
                BreakerReport::Record(Outcome::Failure),
                Sample::Dropped,
                LoopStep::Ask(Failure::Error(Retryable::Yes)),
            ),
            Ending::TimedOut(Bound::Deadline) => (
                BreakerReport::Record(Outcome::Failure),
                Sample::Dropped,
                LoopStep::Stop(StopReason::Deadline),
            ),
            Ending::Cancelled => (BreakerReport::Release, Sample::Ignored, LoopStep::Abandon),
        };
        Decision {
            breaker,
            adaptive,
            retry,
        }
    }
}

/// Why one attempt did not produce a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AttemptError<E> {
    /// A guard refused the attempt before the call (breaker open, bulkhead or queue full,
    /// limiter).
    Rejected(Rejected),
    /// The attempt ran out of time: its call ran past its attempt timeout or the deadline and
    /// was dropped, or the deadline passed while it waited for a guard.
    TimedOut,
    /// The call returned an error.
    Failed(E),
}

/// Why a policy call gave up.
pub type PolicyError<E> = RetryError<AttemptError<E>>;

/// Runs `op` under `guards`, retried per `policy`, with `classify` judging the call's errors.
///
/// `op(n)` makes attempt `n` (from 1), called only once every guard has admitted it. Each
/// attempt's ending is judged by [`Ending::decide`]: a call past its attempt timeout is a
/// breaker failure and is retried if the retry loop allows; a call past the deadline is a
/// breaker failure and ends the call ([`StopReason::Deadline`]); refusals end the call.
///
/// ```
/// use core::cell::Cell;
/// use stanchion::policy::{execute, AttemptError, Guards, Verdict};
/// use stanchion::retry::{RetryError, RetryPolicy};
/// use stanchion::{Backoff, BackoffConfig, CircuitBreaker, Nanos};
///
/// let breaker: CircuitBreaker = CircuitBreaker::new(Default::default()).unwrap();
/// let backoff = Backoff::new(BackoffConfig::constant(Nanos::from_millis(10))).unwrap();
/// let clock = Cell::new(Nanos::ZERO);
/// let now = || clock.get();
/// // A fake timer: sleeping advances the clock and completes at once.
/// let sleep = |d: Nanos| {
///     clock.set(clock.get() + d);
///     core::future::ready(())
/// };
/// let calls = Cell::new(0);
/// let answer = futures_executor::block_on(execute(
///     RetryPolicy::new(&backoff, 1),
///     &Guards::<10, 0>::new().breaker(&breaker),
///     &now,
///     &sleep,
///     |attempt| {
///         calls.set(attempt);
///         core::future::ready(if attempt < 2 { Err("flaky") } else { Ok(42) })
///     },
///     |_| Verdict::failure(),
/// ));
/// assert_eq!(answer, Ok(42));
/// assert_eq!(calls.get(), 2);
/// assert_eq!(breaker.snapshot(now()).failures, 1);
/// ```
pub async fn execute<T, E, C, S, F, Fut, K, const W: usize, const WAITERS: usize>(
    policy: RetryPolicy<'_>,
    guards: &Guards<'_, W, WAITERS>,
    clock: &C,
    sleeper: &S,
    op: F,
    classify: K,
) -> Result<T, PolicyError<E>>
where
    C: Clock + ?Sized,
    S: Sleep + ?Sized,
    F: Fn(u32) -> Fut,
    Fut: Future<Output = Result<T, E>>,
    K: Fn(&E) -> Verdict,
{
    // The breaker hears of each attempt inside it, the retry loop only of its error: the
    // attempt leaves the decision's step for the loop in a shared cell.
    let last_step = core::cell::Cell::new(LoopStep::Return);
    let deadline = policy.deadline;
    run(
        policy,
        clock,
        sleeper,
        |attempt| {
            let op = &op;
            let classify = &classify;
            let last_step = &last_step;
            async move {
                let (answer, step) = guarded(
                    guards,
                    deadline,
                    clock,
                    sleeper,
                    move || op(attempt),
                    classify,
                )
                .await;
                last_step.set(step);
                answer
            }
        },
        |_| match last_step.get() {
            LoopStep::Ask(failure) => Ok(failure),
            LoopStep::Stop(stop) => Err(stop),
            // An attempt that failed always leaves `Ask` or `Stop`; nothing else is retried.
            LoopStep::Return | LoopStep::Abandon => Ok(Failure::Error(Retryable::No)),
        },
    )
    .await
}

/// One attempt through the guards, inner first: breaker, bulkhead, limiter, then the call
/// (made only once every guard admitted it) raced against its limit. Returns the attempt's
/// answer and what its ending tells the retry loop; the breaker has been told already.
async fn guarded<T, E, C, S, M, Fut, K, const W: usize, const WAITERS: usize>(
    guards: &Guards<'_, W, WAITERS>,
    deadline: Option<Deadline>,
    clock: &C,
    sleeper: &S,
    make_call: M,
    classify: &K,
) -> (Result<T, AttemptError<E>>, LoopStep)
where
    C: Clock + ?Sized,
    S: Sleep + ?Sized,
    M: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    K: Fn(&E) -> Verdict,
{
    let permit = match guards.breaker {
        Some(breaker) => match breaker.try_acquire(clock.now()) {
            Ok(permit) => Some(permit),
            Err(rejected) => {
                // The breaker's own refusal: there is no permit to report.
                return (
                    Err(AttemptError::Rejected(rejected)),
                    LoopStep::Ask(Failure::Refused(rejected)),
                );
            }
        },
        None => None,
    };
    let (ending, answer) = admitted(guards, deadline, clock, sleeper, make_call, classify).await;
    let decision = ending.decide();
    if let Some(permit) = permit {
        let now = clock.now();
        match decision.breaker {
            BreakerReport::Record(outcome) => permit.record(outcome, now),
            BreakerReport::Release => permit.release(now),
        };
    }
    (answer, decision.retry)
}

/// The part of an attempt inside the breaker: bulkhead, adaptive limiter, limiter, then the
/// call under its limit. The bulkhead slot is held until this returns; the adaptive permit
/// records the attempt's ending as its sample (a cancelled attempt drops it: given back, no
/// sample).
async fn admitted<T, E, C, S, M, Fut, K, const W: usize, const WAITERS: usize>(
    guards: &Guards<'_, W, WAITERS>,
    deadline: Option<Deadline>,
    clock: &C,
    sleeper: &S,
    make_call: M,
    classify: &K,
) -> (Ending, Result<T, AttemptError<E>>)
where
    C: Clock + ?Sized,
    S: Sleep + ?Sized,
    M: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    K: Fn(&E) -> Verdict,
{
    let refused = |rejected| {
        (
            Ending::Refused(rejected),
            Err(AttemptError::Rejected(rejected)),
        )
    };
    let remaining = |now: Nanos| deadline.map(|d| d.remaining(now));
    let _slot = match guards.bulkhead {
        Some((bulkhead, lane)) => {
            match queued(bulkhead.acquire(lane), deadline, clock, sleeper).await {
                Some(Ok(slot)) => Some(slot),
                Some(Err(rejected)) => return refused(rejected),
                None => return (Ending::DeadlineBeforeCall, Err(AttemptError::TimedOut)),
            }
        }
        None => None,
    };
    let sample = match guards.adaptive {
        Some(adaptive) => match queued(adaptive.acquire(clock), deadline, clock, sleeper).await {
            Some(Ok(permit)) => Some(permit),
            Some(Err(rejected)) => return refused(rejected),
            None => return (Ending::DeadlineBeforeCall, Err(AttemptError::TimedOut)),
        },
        None => None,
    };
    if let Some(limiter) = guards.limiter {
        let now = clock.now();
        let max_wait = match remaining(now) {
            Some(left) => guards.limiter_max_wait.min(left),
            None => guards.limiter_max_wait,
        };
        let ready_at = match limiter.reserve(1, now, max_wait) {
            Ok(ready_at) => ready_at,
            Err(rejected) => return refused(rejected),
        };
        if ready_at > now {
            sleeper.sleep(ready_at.saturating_sub(now)).await;
        }
    }
    let limit = attempt_limit(guards.attempt_timeout, deadline, clock.now());
    let ended = match race(make_call(), limit.map(|l| sleeper.sleep(l.within))).await {
        Some(Ok(value)) => (Ending::Succeeded, Ok(value)),
        Some(Err(error)) => (
            Ending::Failed(classify(&error)),
            Err(AttemptError::Failed(error)),
        ),
        // Only a timer ends the race without an answer, and there is one only with a limit.
        None => (
            Ending::TimedOut(limit.map_or(Bound::Deadline, |l| l.bound)),
            Err(AttemptError::TimedOut),
        ),
    };
    // A permit dropped on the way here (a limiter's refusal, the caller's cancellation) is
    // given back with no sample, as `decide` says of those endings.
    if let Some(permit) = sample {
        permit.record(ended.0.decide().adaptive, clock.now());
    }
    ended
}

/// Waits for a place in a queue within what is left of the deadline: `None` if it passed first.
async fn queued<W: Future, C: Clock + ?Sized, S: Sleep + ?Sized>(
    wait: W,
    deadline: Option<Deadline>,
    clock: &C,
    sleeper: &S,
) -> Option<W::Output> {
    let timer = deadline.map(|d| sleeper.sleep(d.remaining(clock.now())));
    race(wait, timer).await
}

/// Polls `work` and, if given, `timer`: `Some(output)` if the work finishes first, `None` if
/// the timer does. Both are pinned on this future's own stack: no allocation.
async fn race<W: Future, T: Future<Output = ()>>(work: W, timer: Option<T>) -> Option<W::Output> {
    let mut work = pin!(work);
    let mut timer = pin!(timer);
    poll_fn(|cx| {
        if let Poll::Ready(output) = work.as_mut().poll(cx) {
            return Poll::Ready(Some(output));
        }
        match timer.as_mut().as_pin_mut().map(|timer| timer.poll(cx)) {
            Some(Poll::Ready(())) => Poll::Ready(None),
            _ => Poll::Pending,
        }
    })
    .await
}

/// The error a refusal ended the call with, if that is why it ended.
///
/// ```
/// use stanchion::policy::{rejection, AttemptError, PolicyError};
/// use stanchion::retry::{RetryError, StopReason};
/// use stanchion::{Reason, Rejected};
/// let refused = Rejected::new(Reason::BreakerOpen, None);
/// let e: PolicyError<()> = RetryError::Failed {
///     error: AttemptError::Rejected(refused),
///     attempts: 1,
///     stop: StopReason::NotRetryable,
/// };
/// assert_eq!(rejection(&e), Some(refused));
/// ```
pub fn rejection<E>(error: &PolicyError<E>) -> Option<Rejected> {
    match error {
        RetryError::Failed {
            error: AttemptError::Rejected(rejected),
            ..
        } => Some(*rejected),
        RetryError::Failed {
            stop: StopReason::BudgetExhausted(rejected) | StopReason::Refused(rejected),
            ..
        } => Some(*rejected),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Reason;

    const FAILURE: BreakerReport = BreakerReport::Record(Outcome::Failure);

    #[test]
    fn a_timed_out_call_is_a_breaker_failure_and_a_drop_whichever_limit_cut_it() {
        for bound in [Bound::AttemptTimeout, Bound::Deadline] {
            assert_eq!(Ending::TimedOut(bound).decide().breaker, FAILURE);
            assert_eq!(
                Ending::TimedOut(bound).decide().adaptive,
                adaptive::Outcome::Dropped
            );
        }
    }

    #[test]
    fn past_its_attempt_timeout_an_attempt_is_retryable_past_the_deadline_the_call_stops() {
        assert_eq!(
            Ending::TimedOut(Bound::AttemptTimeout).decide().retry,
            LoopStep::Ask(Failure::Error(Retryable::Yes))
        );
        assert_eq!(
            Ending::TimedOut(Bound::Deadline).decide().retry,
            LoopStep::Stop(StopReason::Deadline)
        );
    }

    #[test]
    fn a_cancelled_call_is_released_and_abandoned() {
        let decision = Ending::Cancelled.decide();
        assert_eq!(decision.breaker, BreakerReport::Release);
        assert_eq!(decision.adaptive, adaptive::Outcome::Ignored);
        assert_eq!(decision.retry, LoopStep::Abandon);
    }

    #[test]
    fn a_call_never_made_tells_the_breaker_nothing() {
        let refused = Rejected::new(Reason::QueueFull, None);
        assert_eq!(
            Ending::Refused(refused).decide(),
            Decision {
                breaker: BreakerReport::Release,
                adaptive: adaptive::Outcome::Ignored,
                retry: LoopStep::Ask(Failure::Refused(refused)),
            }
        );
        assert_eq!(
            Ending::DeadlineBeforeCall.decide(),
            Decision {
                breaker: BreakerReport::Release,
                adaptive: adaptive::Outcome::Ignored,
                retry: LoopStep::Stop(StopReason::Deadline),
            }
        );
    }

    #[test]
    fn a_call_that_answered_is_judged_by_the_caller() {
        assert_eq!(
            Ending::Succeeded.decide(),
            Decision {
                breaker: BreakerReport::Record(Outcome::Success),
                adaptive: adaptive::Outcome::Success,
                retry: LoopStep::Return,
            }
        );
        let not_found = Verdict {
            outcome: Outcome::Ignored,
            retry: Retryable::No,
            overload: false,
        };
        assert_eq!(
            Ending::Failed(not_found).decide(),
            Decision {
                breaker: BreakerReport::Record(Outcome::Ignored),
                adaptive: adaptive::Outcome::Ignored,
                retry: LoopStep::Ask(Failure::Error(Retryable::No)),
            }
        );
        let busy = Verdict {
            outcome: Outcome::Failure,
            retry: Retryable::After(Nanos::from_secs(2)),
            overload: true,
        };
        let decision = Ending::Failed(busy).decide();
        assert_eq!(
            decision.retry,
            LoopStep::Ask(Failure::Error(Retryable::After(Nanos::from_secs(2))))
        );
        // A refusal for overload is the breaker's failure and the adaptive limiter's drop.
        assert_eq!(decision.breaker, FAILURE);
        assert_eq!(decision.adaptive, adaptive::Outcome::Dropped);
        // Overload wins over an outcome the breaker ignores.
        let shed = Verdict {
            outcome: Outcome::Ignored,
            overload: true,
            ..busy
        };
        assert_eq!(
            Ending::Failed(shed).decide().adaptive,
            adaptive::Outcome::Dropped
        );
    }

    #[test]
    fn every_observed_ending_has_its_own_name() {
        let names = Ending::OBSERVED.map(|e| e.as_str());
        assert_eq!(
            names,
            [
                "attempt_timeout",
                "deadline",
                "deadline_before_call",
                "cancelled"
            ]
        );
        for ending in Ending::OBSERVED {
            let found = Ending::OBSERVED
                .into_iter()
                .filter(|e| e.as_str() == ending.as_str());
            assert_eq!(found.count(), 1);
        }
    }

    #[test]
    fn the_limit_is_the_shorter_of_the_attempt_timeout_and_the_time_left() {
        let ms = Nanos::from_millis;
        let deadline = Some(Deadline::at(ms(100)));
        let limit = |timeout, now| attempt_limit(timeout, deadline, now);
        assert_eq!(
            limit(Some(ms(30)), ms(0)),
            Some(AttemptLimit {
                within: ms(30),
                bound: Bound::AttemptTimeout
            })
        );
        assert_eq!(
            limit(Some(ms(30)), ms(80)),
            Some(AttemptLimit {
                within: ms(20),
                bound: Bound::Deadline
            })
        );
        // A tie is the deadline's: the whole call is over when it fires.
        assert_eq!(
            limit(Some(ms(20)), ms(80)).map(|l| l.bound),
            Some(Bound::Deadline)
        );
        assert_eq!(
            limit(None, ms(40)),
            Some(AttemptLimit {
                within: ms(60),
                bound: Bound::Deadline
            })
        );
        // Past the deadline no time is left.
        assert_eq!(
            limit(Some(ms(30)), ms(150)).map(|l| l.within),
            Some(Nanos::ZERO)
        );
        assert_eq!(
            attempt_limit(Some(Nanos::MAX), None, Nanos::MAX),
            Some(AttemptLimit {
                within: Nanos::MAX,
                bound: Bound::AttemptTimeout
            })
        );
        assert_eq!(attempt_limit(None, None, ms(5)), None);
    }

    #[test]
    fn a_zero_attempt_timeout_is_refused() {
        assert_eq!(
            check_attempt_timeout(Nanos::ZERO),
            Err(ConfigError::new("attempt_timeout", "at least 1 ns"))
        );
        assert_eq!(check_attempt_timeout(Nanos::MAX), Ok(Nanos::MAX));
    }
}
