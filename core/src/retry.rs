//! `retry`: a runtime-agnostic async retry loop over a [`Backoff`], an optional
//! [`RetryBudget`] and an optional [`Deadline`].
//!
//! The core never sleeps and never reads a clock, so the caller supplies both: a [`Clock`]
//! (any `Fn() -> Nanos`) and a [`Sleep`] (any `Fn(Nanos) -> impl Future<Output = ()>`, such as
//! `tokio::time::sleep` or an embassy timer). The loop needs only `core::future`: no heap, no
//! executor of its own, no `std`.
//!
//! For each call [`retry`]:
//!
//! 1. refuses to start if the deadline has passed ([`RetryError::DeadlineExpired`]);
//! 2. deposits into the budget (a first attempt) and calls `op(1)`;
//! 3. on an error asks `classify` whether it is retryable (with an optional server hint);
//! 4. asks the backoff for the wait, which may stop the loop (`max_attempts`, `max_elapsed`);
//! 5. stops if the wait would end at or past the deadline (a retry then could not start);
//! 6. withdraws a retry from the budget, which may refuse;
//! 7. sleeps, checks the deadline again, and calls `op(n + 1)`.
//!
//! Checks that cost nothing come before the budget, so a retry that will not be made never
//! spends a token. Other primitives compose inside `op`: take a breaker permit or a bulkhead
//! slot there, and classify their refusal as [`Retryable::After`] its `retry_after` (or
//! [`Retryable::No`]).

use core::fmt;
use core::future::Future;

use crate::backoff::{Backoff, Exhausted};
use crate::deadline::Deadline;
use crate::retry_budget::RetryBudget;
use crate::{Nanos, Rejected};

mod step;
pub use step::{Failure, Next, RetryLoop};

/// A monotonic clock. Any `Fn() -> Nanos` is one.
///
/// ```
/// use stanchion::retry::Clock;
/// use stanchion::Nanos;
/// let clock = || Nanos::from_secs(3);
/// assert_eq!(clock.now(), Nanos::from_secs(3));
/// ```
pub trait Clock {
    /// The current time, from the same origin on every call.
    fn now(&self) -> Nanos;
}

impl<F: Fn() -> Nanos + ?Sized> Clock for F {
    fn now(&self) -> Nanos {
        self()
    }
}

/// A timer of the caller's runtime. Any `Fn(Nanos) -> impl Future<Output = ()>` is one.
///
/// ```
/// use stanchion::retry::Sleep;
/// use stanchion::Nanos;
/// let sleeper = |_: Nanos| core::future::ready(());
/// let _future = sleeper.sleep(Nanos::from_millis(5));
/// ```
pub trait Sleep {
    /// The future that completes after the wait.
    type Fut: Future<Output = ()>;
    /// A future that completes `duration` from now.
    fn sleep(&self, duration: Nanos) -> Self::Fut;
}

impl<F, Fut> Sleep for F
where
    F: Fn(Nanos) -> Fut + ?Sized,
    Fut: Future<Output = ()>,
{
    type Fut = Fut;
    fn sleep(&self, duration: Nanos) -> Fut {
        self(duration)
    }
}

/// Whether an error is worth another attempt: the answer of `classify`.
///
/// ```
/// use stanchion::{retry::Retryable, Nanos};
/// let classify = |status: &u16| match status {
///     503 => Retryable::Yes,
///     429 => Retryable::After(Nanos::from_secs(2)), // the server's Retry-After
///     _ => Retryable::No,
/// };
/// assert_eq!(classify(&404), Retryable::No);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Retryable {
    /// Final: do not retry.
    No,
    /// Retry after the backoff's wait.
    Yes,
    /// Retry, waiting at least this long (within `max_delay`): a server's Retry-After, or a
    /// breaker's `retry_after`.
    After(Nanos),
}

/// What one call of [`retry`] may use: the backoff, and optionally a shared budget and a
/// deadline for the whole call. Cheap to copy; build one per call.
///
/// ```
/// use stanchion::{Backoff, BackoffConfig, Deadline, Nanos, RetryBudget, RetryBudgetConfig};
/// use stanchion::retry::RetryPolicy;
/// let backoff = Backoff::new(BackoffConfig::constant(Nanos::from_millis(10))).unwrap();
/// let budget = RetryBudget::new(RetryBudgetConfig::new(0.1)).unwrap();
/// let policy = RetryPolicy::new(&backoff, 0x5eed)
///     .budget(&budget)
///     .deadline(Deadline::at(Nanos::from_secs(5)));
/// assert_eq!(policy.seed, 0x5eed);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy<'a> {
    /// The waits between attempts and the attempt and elapsed-time caps.
    pub backoff: &'a Backoff,
    /// Deposited into by the first attempt; each retry must be allowed by it.
    pub budget: Option<&'a RetryBudget>,
    /// No attempt starts at or after it, and no wait ends at or after it.
    pub deadline: Option<Deadline>,
    /// The jitter seed. Use a fresh one per call (any random source), or every caller
    /// sharing the backoff waits in lockstep.
    pub seed: u64,
    /// Whether a guard's refusal (breaker open, bulkhead full, rate limited) is retried, after
    /// at least its `retry_after`. Default `false`: a refusal ends the call, since retrying
    /// into an open breaker or a full bulkhead only spends the budget.
    pub retry_refusals: bool,
}

impl<'a> RetryPolicy<'a> {
    /// A policy with `backoff` and `seed`, no budget and no deadline.
    ///
    /// ```
    /// use stanchion::{retry::RetryPolicy, Backoff, BackoffConfig, Nanos};
    /// let backoff = Backoff::new(BackoffConfig::constant(Nanos::ZERO)).unwrap();
    /// assert!(RetryPolicy::new(&backoff, 1).budget.is_none());
    /// ```
    pub const fn new(backoff: &'a Backoff, seed: u64) -> RetryPolicy<'a> {
        RetryPolicy {
            backoff,
            budget: None,
            deadline: None,
            seed,
            retry_refusals: false,
        }
    }

    /// Retries a guard's refusals too (see [`retry_refusals`](Self::retry_refusals)).
    ///
    /// ```
    /// use stanchion::{retry::RetryPolicy, Backoff, BackoffConfig, Nanos};
    /// let backoff = Backoff::new(BackoffConfig::constant(Nanos::ZERO)).unwrap();
    /// assert!(RetryPolicy::new(&backoff, 1).retry_refusals(true).retry_refusals);
    /// ```
    pub const fn retry_refusals(mut self, retry: bool) -> RetryPolicy<'a> {
        self.retry_refusals = retry;
        self
    }

    /// Uses `budget` for this call.
    ///
    /// ```
    /// use stanchion::{retry::RetryPolicy, Backoff, BackoffConfig, Nanos, RetryBudget, RetryBudgetConfig};
    /// let backoff = Backoff::new(BackoffConfig::constant(Nanos::ZERO)).unwrap();
    /// let budget = RetryBudget::new(RetryBudgetConfig::new(0.1)).unwrap();
    /// assert!(RetryPolicy::new(&backoff, 1).budget(&budget).budget.is_some());
    /// ```
    pub const fn budget(mut self, budget: &'a RetryBudget) -> RetryPolicy<'a> {
        self.budget = Some(budget);
        self
    }

    /// Bounds this call, retries and waits included, by `deadline`.
    ///
    /// ```
    /// use stanchion::{retry::RetryPolicy, Backoff, BackoffConfig, Deadline, Nanos};
    /// let backoff = Backoff::new(BackoffConfig::constant(Nanos::ZERO)).unwrap();
    /// let policy = RetryPolicy::new(&backoff, 1).deadline(Deadline::at(Nanos::new(9)));
    /// assert_eq!(policy.deadline, Some(Deadline::at(Nanos::new(9))));
    /// ```
    pub const fn deadline(mut self, deadline: Deadline) -> RetryPolicy<'a> {
        self.deadline = Some(deadline);
        self
    }
}

/// Why [`retry`] gave up after an error.
///
/// ```
/// use stanchion::retry::StopReason;
/// assert_eq!(StopReason::MaxAttempts.to_string(), "max_attempts reached");
/// ```
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StopReason {
    /// `classify` said [`Retryable::No`].
    NotRetryable,
    /// `max_attempts` calls were made.
    MaxAttempts,
    /// The next wait would end past `max_elapsed`.
    MaxElapsed,
    /// The deadline would pass (or had passed) before the next attempt could start.
    Deadline,
    /// The retry budget refused the retry.
    BudgetExhausted(Rejected),
    /// A guard refused the attempt (breaker, bulkhead, limiter), and refusals are not retried.
    Refused(Rejected),
}

impl StopReason {
    /// A short, stable, lower-case name (`"max_attempts"`), as bindings and conformance vectors
    /// spell it.
    ///
    /// ```
    /// use stanchion::retry::StopReason;
    /// assert_eq!(StopReason::NotRetryable.as_str(), "not_retryable");
    /// ```
    pub const fn as_str(&self) -> &'static str {
        match self {
            StopReason::NotRetryable => "not_retryable",
            StopReason::MaxAttempts => "max_attempts",
            StopReason::MaxElapsed => "max_elapsed",
            StopReason::Deadline => "deadline",
            StopReason::BudgetExhausted(_) => "budget_exhausted",
            StopReason::Refused(_) => "refused",
        }
    }
}

impl From<Exhausted> for StopReason {
    fn from(stop: Exhausted) -> StopReason {
        match stop {
            Exhausted::MaxAttempts => StopReason::MaxAttempts,
            Exhausted::MaxElapsed => StopReason::MaxElapsed,
        }
    }
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StopReason::NotRetryable => f.write_str("not retryable"),
            StopReason::MaxAttempts => fmt::Display::fmt(&Exhausted::MaxAttempts, f),
            StopReason::MaxElapsed => fmt::Display::fmt(&Exhausted::MaxElapsed, f),
            StopReason::Deadline => f.write_str("deadline"),
            StopReason::BudgetExhausted(rejected) | StopReason::Refused(rejected) => {
                fmt::Display::fmt(rejected, f)
            }
        }
    }
}

/// How a call through [`retry`] failed.
///
/// ```
/// use stanchion::retry::{RetryError, StopReason};
/// let e: RetryError<&str> = RetryError::Failed { error: "timeout", attempts: 3, stop: StopReason::MaxAttempts };
/// assert_eq!(e.to_string(), "gave up after 3 attempts (max_attempts reached): timeout");
/// assert_eq!(e.into_error(), Some("timeout"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RetryError<E> {
    /// The deadline had passed before the first attempt: `op` was never called.
    DeadlineExpired,
    /// `op` failed and was not called again.
    Failed {
        /// The last error `op` returned.
        error: E,
        /// Calls made, the first included.
        attempts: u32,
        /// Why there was no further attempt.
        stop: StopReason,
    },
}

impl<E> RetryError<E> {
    /// The last error of `op`, if it was called.
    ///
    /// ```
    /// use stanchion::retry::RetryError;
    /// assert_eq!(RetryError::<()>::DeadlineExpired.into_error(), None);
    /// ```
    pub fn into_error(self) -> Option<E> {
        match self {
            RetryError::DeadlineExpired => None,
            RetryError::Failed { error, .. } => Some(error),
        }
    }
}

impl<E: fmt::Display> fmt::Display for RetryError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RetryError::DeadlineExpired => f.write_str("deadline expired before the first attempt"),
            RetryError::Failed {
                error,
                attempts,
                stop,
            } => write!(f, "gave up after {attempts} attempts ({stop}): {error}"),
        }
    }
}

impl<E: core::error::Error + 'static> core::error::Error for RetryError<E> {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            RetryError::DeadlineExpired => None,
            RetryError::Failed { error, .. } => Some(error),
        }
    }
}

/// Calls `op` until it succeeds or a rule of `policy` says stop. `op` gets the attempt number,
/// counting from 1.
///
/// `clock` gives `now` for the backoff, the budget and the deadline; `sleeper` waits between
/// attempts (a zero wait is passed to it too, so it may yield). `classify` decides which
/// errors are retried. The future holds no allocation; dropping it abandons the call.
///
/// ```
/// use core::cell::Cell;
/// use stanchion::retry::{retry, RetryPolicy, Retryable};
/// use stanchion::{Backoff, BackoffConfig, Nanos};
///
/// let backoff = Backoff::new(BackoffConfig::exponential(Nanos::from_millis(100), 2.0)
///     .max_attempts(5)).unwrap();
/// // A fake clock that the sleeper advances: no real waiting.
/// let time = Cell::new(Nanos::ZERO);
/// let clock = || time.get();
/// let sleeper = |wait: Nanos| {
///     time.set(time.get() + wait);
///     core::future::ready(())
/// };
///
/// let result = futures_executor::block_on(retry(
///     RetryPolicy::new(&backoff, 7),
///     &clock,
///     &sleeper,
///     |attempt| async move { if attempt < 3 { Err("busy") } else { Ok(attempt) } },
///     |_: &&str| Retryable::Yes,
/// ));
/// assert_eq!(result, Ok(3));
/// assert_eq!(time.get(), Nanos::from_millis(300)); // waited 100 ms, then 200 ms
/// ```
pub async fn retry<T, E, C, S, F, Fut, K>(
    policy: RetryPolicy<'_>,
    clock: &C,
    sleeper: &S,
    op: F,
    mut classify: K,
) -> Result<T, RetryError<E>>
where
    C: Clock + ?Sized,
    S: Sleep + ?Sized,
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, E>>,
    K: FnMut(&E) -> Retryable,
{
    run(policy, clock, sleeper, op, |error: &E| {
        Ok(Failure::Error(classify(error)))
    })
    .await
}

/// The loop of [`retry`], with errors judged as [`Failure`]s so a caller that composes guards
/// inside `op` can report their refusals as such, or as a stop that asks the loop nothing (an
/// attempt that ran past the deadline: `policy::Ending::decide`).
pub(crate) async fn run<T, E, C, S, F, Fut, K>(
    policy: RetryPolicy<'_>,
    clock: &C,
    sleeper: &S,
    mut op: F,
    mut judge: K,
) -> Result<T, RetryError<E>>
where
    C: Clock + ?Sized,
    S: Sleep + ?Sized,
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, E>>,
    K: FnMut(&E) -> Result<Failure, StopReason>,
{
    let mut call =
        RetryLoop::start(&policy, clock.now()).map_err(|_| RetryError::DeadlineExpired)?;
    let mut attempt = call.attempts();
    loop {
        let error = match op(attempt).await {
            Ok(value) => return Ok(value),
            Err(error) => error,
        };
        let next = match judge(&error) {
            Ok(failure) => call.after_failure(&policy, clock.now(), failure),
            Err(stop) => Next::Stop(stop),
        };
        let stop = match next {
            Next::Retry(wait) => {
                sleeper.sleep(wait).await;
                match call.resume(&policy, clock.now()) {
                    Ok(next) => {
                        attempt = next;
                        continue;
                    }
                    Err(stop) => stop,
                }
            }
            Next::Stop(stop) => stop,
        };
        return Err(RetryError::Failed {
            error,
            attempts: call.attempts(),
            stop,
        });
    }
}
