//! `RetryLoop`: every decision of a retry loop, step by step on a fake clock.

use stanchion::retry::{Failure, Next, RetryLoop, RetryPolicy, Retryable, StopReason};
use stanchion::{
    Backoff, BackoffConfig, Deadline, Nanos, Reason, Rejected, RetryBudget, RetryBudgetConfig,
};

fn ms(n: u64) -> Nanos {
    Nanos::from_millis(n)
}

fn constant(wait: u64, attempts: u32) -> Backoff {
    Backoff::new(BackoffConfig::constant(ms(wait)).max_attempts(attempts)).unwrap()
}

const RETRYABLE: Failure = Failure::Error(Retryable::Yes);

fn refused(reason: Reason, retry_after: Option<Nanos>) -> Failure {
    Failure::Refused(Rejected::new(reason, retry_after))
}

#[test]
fn attempts_count_every_call_and_max_attempts_stops() {
    let backoff = constant(10, 3);
    let policy = RetryPolicy::new(&backoff, 1);
    let mut call = RetryLoop::start(&policy, ms(0)).unwrap();
    assert_eq!(
        call.after_failure(&policy, ms(1), RETRYABLE),
        Next::Retry(ms(10))
    );
    assert_eq!(call.resume(&policy, ms(11)), Ok(2));
    assert_eq!(
        call.after_failure(&policy, ms(12), RETRYABLE),
        Next::Retry(ms(10))
    );
    assert_eq!(call.resume(&policy, ms(22)), Ok(3));
    assert_eq!(
        call.after_failure(&policy, ms(23), RETRYABLE),
        Next::Stop(StopReason::MaxAttempts)
    );
    assert_eq!(call.attempts(), 3);
    // Stopped stays stopped.
    assert_eq!(
        call.after_failure(&policy, ms(24), RETRYABLE),
        Next::Stop(StopReason::MaxAttempts)
    );
}

#[test]
fn a_refusal_ends_the_call_unless_the_policy_retries_refusals() {
    let backoff = constant(10, 5);
    let open = refused(Reason::BreakerOpen, Some(ms(500)));
    let policy = RetryPolicy::new(&backoff, 1);
    let mut call = RetryLoop::start(&policy, ms(0)).unwrap();
    assert_eq!(
        call.after_failure(&policy, ms(1), open),
        Next::Stop(StopReason::Refused(Rejected::new(
            Reason::BreakerOpen,
            Some(ms(500))
        )))
    );

    let eager = policy.retry_refusals(true);
    let mut call = RetryLoop::start(&eager, ms(0)).unwrap();
    // Not before the refusal's retry_after.
    assert_eq!(
        call.after_failure(&eager, ms(1), open),
        Next::Retry(ms(500))
    );
    assert_eq!(call.resume(&eager, ms(501)), Ok(2));
    // Without a retry_after, the backoff's own wait.
    let full = refused(Reason::BulkheadFull, None);
    assert_eq!(
        call.after_failure(&eager, ms(502), full),
        Next::Retry(ms(10))
    );
    // A refusal no wait can help ends the call even then.
    let never = refused(Reason::InsufficientCapacity, None);
    assert!(matches!(
        call.after_failure(&eager, ms(503), never),
        Next::Stop(StopReason::Refused(_))
    ));
}

#[test]
fn a_final_error_stops_and_a_hint_raises_the_wait() {
    let backoff = constant(10, 5);
    let policy = RetryPolicy::new(&backoff, 1);
    let mut call = RetryLoop::start(&policy, ms(0)).unwrap();
    let after = Failure::Error(Retryable::After(ms(250)));
    assert_eq!(
        call.after_failure(&policy, ms(1), after),
        Next::Retry(ms(250))
    );
    assert_eq!(call.resume(&policy, ms(251)), Ok(2));
    assert_eq!(
        call.after_failure(&policy, ms(252), Failure::Error(Retryable::No)),
        Next::Stop(StopReason::NotRetryable)
    );
}

#[test]
fn a_wait_that_would_end_at_the_deadline_is_not_made() {
    let backoff = constant(100, 5);
    let policy = RetryPolicy::new(&backoff, 1).deadline(Deadline::at(ms(200)));
    let mut call = RetryLoop::start(&policy, ms(0)).unwrap();
    // Ends at 199: allowed.
    assert_eq!(
        call.after_failure(&policy, ms(99), RETRYABLE),
        Next::Retry(ms(100))
    );
    assert_eq!(call.resume(&policy, ms(199)), Ok(2));
    // Would end exactly at the deadline: stop, not a race with a timer.
    assert_eq!(
        call.after_failure(&policy, ms(100), RETRYABLE),
        Next::Stop(StopReason::Deadline)
    );
}

#[test]
fn a_late_timer_cannot_start_an_attempt_at_the_deadline() {
    let backoff = constant(100, 5);
    let policy = RetryPolicy::new(&backoff, 1).deadline(Deadline::at(ms(200)));
    let mut call = RetryLoop::start(&policy, ms(0)).unwrap();
    assert_eq!(
        call.after_failure(&policy, ms(50), RETRYABLE),
        Next::Retry(ms(100))
    );
    assert_eq!(call.resume(&policy, ms(200)), Err(StopReason::Deadline));
    assert_eq!(call.attempts(), 1);
    assert_eq!(
        RetryLoop::start(&policy, ms(200)).err(),
        Some(StopReason::Deadline)
    );
}

#[test]
fn max_elapsed_stops_before_the_budget_is_asked() {
    let backoff = Backoff::new(BackoffConfig::constant(ms(100)).max_elapsed(ms(150))).unwrap();
    let budget = RetryBudget::new(RetryBudgetConfig::new(0.0).min_retries_per_sec(1)).unwrap();
    let policy = RetryPolicy::new(&backoff, 1).budget(&budget);
    let mut call = RetryLoop::start(&policy, ms(0)).unwrap();
    assert_eq!(
        call.after_failure(&policy, ms(10), RETRYABLE),
        Next::Retry(ms(100))
    );
    assert_eq!(call.resume(&policy, ms(110)), Ok(2));
    // 110 + 100 > 150: stop, and the budget's one token is still there.
    assert_eq!(
        call.after_failure(&policy, ms(110), RETRYABLE),
        Next::Stop(StopReason::MaxElapsed)
    );
    assert!(
        budget.try_retry(ms(110)).is_err(),
        "the first retry spent it"
    );
    let mut other = RetryLoop::start(&policy, ms(2_000)).unwrap();
    assert_eq!(
        other.after_failure(&policy, ms(2_000), Failure::Error(Retryable::No)),
        Next::Stop(StopReason::NotRetryable)
    );
    assert!(
        budget.try_retry(ms(2_000)).is_ok(),
        "a stopped call spent a token"
    );
}

#[test]
fn an_exhausted_budget_stops_the_retry() {
    let backoff = constant(10, 5);
    let budget = RetryBudget::new(RetryBudgetConfig::new(0.0).min_retries_per_sec(1)).unwrap();
    let policy = RetryPolicy::new(&backoff, 1).budget(&budget);
    let mut call = RetryLoop::start(&policy, ms(0)).unwrap();
    assert_eq!(
        call.after_failure(&policy, ms(1), RETRYABLE),
        Next::Retry(ms(10))
    );
    assert_eq!(call.resume(&policy, ms(11)), Ok(2));
    assert!(matches!(
        call.after_failure(&policy, ms(12), RETRYABLE),
        Next::Stop(StopReason::BudgetExhausted(_))
    ));
}

#[test]
fn size_is_fixed_and_documented() {
    assert_eq!(core::mem::size_of::<RetryLoop>(), 48);
}
