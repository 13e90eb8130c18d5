//! `policy`: one async call through every primitive, in the order docs/semantics.md fixes:
//! deadline → retry (with budget) → circuit breaker → bulkhead → rate limiter → the call, each
//! attempt bounded by an optional timeout.
//!
//! Like [`retry`](crate::retry), it runs on any executor: the caller supplies the clock and the
//! timer ([`Clock`], [`Sleep`]). Timeouts race the call against the timer by polling both, with
//! no allocation. Every permit is an RAII guard held across the attempt, so an attempt that
//! times out, or a whole call whose future is dropped (cancelled), frees its breaker probe
//! slot, bulkhead permit and queue place.
//!
//! Refusals end the call at once ([`AttemptError::Rejected`], [`StopReason::Refused`]): retrying
//! into an open breaker or a full bulkhead only spends the budget, unless the policy asks for it
//! ([`RetryPolicy::retry_refusals`]). Every decision is [`RetryLoop`](crate::retry::RetryLoop)'s,
//! as in every binding. A fallback is the caller's `match` on the error.

use core::future::{poll_fn, Future};
use core::pin::pin;
use core::task::Poll;

use crate::breaker::{CircuitBreaker, Outcome};
use crate::retry::{run, Clock, Failure, RetryError, RetryPolicy, Retryable, Sleep, StopReason};
use crate::{Bulkhead, Deadline, Nanos, Rejected, TokenBucket};

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
///     .timeout(Nanos::from_millis(250));
/// assert_eq!(guards.timeout, Some(Nanos::from_millis(250)));
/// ```
#[derive(Debug)]
pub struct Guards<'a, const W: usize = 10, const WAITERS: usize = 0> {
    /// Judges each attempt; refuses while open.
    pub breaker: Option<&'a CircuitBreaker<W>>,
    /// Caps attempts in flight; an attempt waits in its queue (within the deadline).
    pub bulkhead: Option<(&'a Bulkhead<WAITERS>, usize)>,
    /// Paces attempts; an attempt may wait up to `limiter_max_wait` for its token.
    pub limiter: Option<&'a TokenBucket>,
    /// The longest an attempt may wait for a token (zero: refuse instead of waiting).
    pub limiter_max_wait: Nanos,
    /// The longest one attempt may run; a timed-out attempt counts as a breaker failure.
    pub timeout: Option<Nanos>,
}

impl<const W: usize, const WAITERS: usize> Default for Guards<'_, W, WAITERS> {
    fn default() -> Self {
        Guards {
            breaker: None,
            bulkhead: None,
            limiter: None,
            limiter_max_wait: Nanos::ZERO,
            timeout: None,
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

    /// Bound each attempt to `timeout`.
    ///
    /// ```
    /// # use stanchion::{policy::Guards, Nanos};
    /// let g: Guards = Guards::new().timeout(Nanos::from_secs(1));
    /// assert_eq!(g.timeout, Some(Nanos::from_secs(1)));
    /// ```
    pub fn timeout(mut self, timeout: Nanos) -> Self {
        self.timeout = Some(timeout);
        self
    }
}

/// How the caller judges an error: what the breaker records, and whether to retry.
///
/// ```
/// use stanchion::breaker::Outcome;
/// use stanchion::policy::Verdict;
/// use stanchion::retry::Retryable;
/// // A 404 is the caller's mistake: not the dependency's failure, not worth a retry.
/// let not_found = Verdict { outcome: Outcome::Ignored, retry: Retryable::No };
/// assert_eq!(Verdict::failure(), Verdict { outcome: Outcome::Failure, retry: Retryable::Yes });
/// # let _ = not_found;
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Verdict {
    /// What the breaker records for the attempt.
    pub outcome: Outcome,
    /// Whether the retry loop tries again.
    pub retry: Retryable,
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
        }
    }
}

/// Why one attempt did not produce a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AttemptError<E> {
    /// A guard refused the attempt before the call (breaker open, bulkhead or queue full,
    /// limiter).
    Rejected(Rejected),
    /// The attempt ran past its timeout or the deadline and was dropped.
    TimedOut,
    /// The call returned an error.
    Failed(E),
}

/// Why a policy call gave up.
pub type PolicyError<E> = RetryError<AttemptError<E>>;

/// Runs `op` under `guards`, retried per `policy`, with `classify` judging the call's errors.
///
/// `op(n)` makes attempt `n` (from 1), called only once every guard has admitted it. Timeouts are retried and count as breaker failures;
/// refusals end the call.
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
    // The breaker needs each error's outcome before the retry loop sees the error, so the
    // attempt judges it and the loop reads the verdict back from a shared cell.
    let last_retry = core::cell::Cell::new(Retryable::No);
    let deadline = policy.deadline;
    run(
        policy,
        clock,
        sleeper,
        |attempt| {
            let op = &op;
            let classify = &classify;
            let last_retry = &last_retry;
            let judge = move |error: &E| {
                let verdict = classify(error);
                last_retry.set(verdict.retry);
                verdict.outcome
            };
            guarded(guards, deadline, clock, sleeper, move || op(attempt), judge)
        },
        |error| match error {
            AttemptError::Rejected(rejected) => Failure::Refused(*rejected),
            AttemptError::TimedOut => Failure::Error(Retryable::Yes),
            AttemptError::Failed(_) => Failure::Error(last_retry.get()),
        },
    )
    .await
}

/// One attempt through the guards, inner first: breaker, bulkhead, limiter, then the call
/// (made only once every guard admitted it) raced against its timeout.
async fn guarded<T, E, C, S, M, Fut, J, const W: usize, const WAITERS: usize>(
    guards: &Guards<'_, W, WAITERS>,
    deadline: Option<Deadline>,
    clock: &C,
    sleeper: &S,
    make_call: M,
    mut judge: J,
) -> Result<T, AttemptError<E>>
where
    C: Clock + ?Sized,
    S: Sleep + ?Sized,
    M: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    J: FnMut(&E) -> Outcome,
{
    let permit = match guards.breaker {
        Some(breaker) => Some(
            breaker
                .try_acquire(clock.now())
                .map_err(AttemptError::Rejected)?,
        ),
        None => None,
    };
    let remaining = |now: Nanos| deadline.map(|d| d.remaining(now));
    let _slot = match guards.bulkhead {
        Some((bulkhead, lane)) => {
            let waited = race(
                bulkhead.acquire(lane),
                remaining(clock.now()).map(|r| sleeper.sleep(r)),
            )
            .await;
            match waited {
                Some(admitted) => Some(admitted.map_err(AttemptError::Rejected)?),
                None => return Err(AttemptError::TimedOut),
            }
        }
        None => None,
    };
    if let Some(limiter) = guards.limiter {
        let now = clock.now();
        let max_wait = match remaining(now) {
            Some(left) => guards.limiter_max_wait.min(left),
            None => guards.limiter_max_wait,
        };
        let ready_at = limiter
            .reserve(1, now, max_wait)
            .map_err(AttemptError::Rejected)?;
        if ready_at > now {
            sleeper.sleep(ready_at.saturating_sub(now)).await;
        }
    }
    let now = clock.now();
    let limit = match (guards.timeout, remaining(now)) {
        (Some(t), Some(r)) => Some(t.min(r)),
        (t, r) => t.or(r),
    };
    let result = race(make_call(), limit.map(|l| sleeper.sleep(l))).await;
    let end = clock.now();
    let (outcome, answer) = match result {
        Some(Ok(value)) => (Outcome::Success, Ok(value)),
        Some(Err(error)) => (judge(&error), Err(AttemptError::Failed(error))),
        None => (Outcome::Failure, Err(AttemptError::TimedOut)),
    };
    if let Some(permit) = permit {
        permit.record(outcome, end);
    }
    answer
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
