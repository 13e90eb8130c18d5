//! The composed policy (retry → breaker → bulkhead → limiter → call, with timeouts) under two
//! executors: `futures-executor` with a fake clock, and tokio with paused time.

mod policy_support;

use core::cell::Cell;
use core::future::{pending, ready, Future};
use core::pin::pin;
use core::task::{Context, Waker};

use policy_support::{backoff, FakeTime};
use stanchion::breaker::{BreakerConfig, CircuitBreaker, Outcome, State};
use stanchion::policy::{execute, rejection, AttemptError, Guards, Verdict};
use stanchion::retry::{RetryError, RetryPolicy, Retryable, StopReason};
use stanchion::{
    Bulkhead, BulkheadConfig, Deadline, Nanos, Reason, TokenBucket, TokenBucketConfig,
};

fn breaker(failures: u32) -> CircuitBreaker {
    CircuitBreaker::new(BreakerConfig::new().failure_count(Some(failures))).unwrap()
}

#[test]
fn a_flaky_call_succeeds_on_retry_through_every_guard() {
    let time = FakeTime::new();
    let b = breaker(5);
    let bulkhead: Bulkhead = Bulkhead::new(BulkheadConfig::new(1)).unwrap();
    let limiter = TokenBucket::new(TokenBucketConfig::new(5)).unwrap();
    let guards = Guards::new()
        .breaker(&b)
        .bulkhead(&bulkhead, 0)
        .limiter(&limiter, Nanos::ZERO)
        .attempt_timeout(Nanos::from_secs(1));
    let retry_backoff = backoff(3);
    let answer = futures_executor::block_on(execute(
        RetryPolicy::new(&retry_backoff, 1),
        &guards,
        &time.clock(),
        &time.sleeper(),
        |attempt| {
            ready(if attempt == 1 {
                Err("flaky")
            } else {
                Ok(attempt)
            })
        },
        |_| Verdict::failure(),
    ));
    assert_eq!(answer, Ok(2));
    let snap = b.snapshot(time.now.get());
    assert_eq!((snap.successes, snap.failures), (1, 1));
    assert_eq!(bulkhead.snapshot().in_flight, 0);
    assert_eq!(limiter.available(time.now.get()), 3);
}

#[test]
fn an_attempt_that_hangs_times_out_counts_as_a_failure_and_is_retried() {
    let time = FakeTime::new();
    let b = breaker(10);
    let guards: Guards = Guards::new()
        .breaker(&b)
        .attempt_timeout(Nanos::from_millis(250));
    let retry_backoff = backoff(3);
    let calls = Cell::new(0);
    let answer: Result<(), _> = futures_executor::block_on(execute(
        RetryPolicy::new(&retry_backoff, 1),
        &guards,
        &time.clock(),
        &time.sleeper(),
        |_| {
            calls.set(calls.get() + 1);
            pending::<Result<(), ()>>()
        },
        |_| Verdict::failure(),
    ));
    assert_eq!(
        answer,
        Err(RetryError::Failed {
            error: AttemptError::TimedOut,
            attempts: 3,
            stop: StopReason::MaxAttempts,
        })
    );
    assert_eq!(calls.get(), 3);
    assert_eq!(b.snapshot(time.now.get()).failures, 3);
    // Three timeouts of 250 ms and two waits of 10 ms.
    assert_eq!(
        time.now.get(),
        Nanos::from_secs(100) + Nanos::from_millis(770)
    );
}

#[test]
fn calls_that_hang_past_the_deadline_trip_the_breaker() {
    let time = FakeTime::new();
    let b = CircuitBreaker::<10>::new(
        BreakerConfig::new()
            .failure_count(None)
            .consecutive_failures(Some(3)),
    )
    .unwrap();
    let guards: Guards = Guards::new().breaker(&b);
    let retry_backoff = backoff(1);
    let calls = Cell::new(0);
    let mut refused = 0;
    for _ in 0..10 {
        let deadline = Deadline::after(time.now.get(), Nanos::from_millis(50));
        let answer: Result<(), _> = futures_executor::block_on(execute(
            RetryPolicy::new(&retry_backoff, 1).deadline(deadline),
            &guards,
            &time.clock(),
            &time.sleeper(),
            |_| {
                calls.set(calls.get() + 1);
                pending::<Result<(), ()>>()
            },
            |_| Verdict::failure(),
        ));
        match answer {
            Err(RetryError::Failed {
                error: AttemptError::TimedOut,
                stop,
                ..
            }) => assert_eq!(stop, StopReason::Deadline),
            Err(error) if rejection(&error).map(|r| r.reason) == Some(Reason::BreakerOpen) => {
                refused += 1;
            }
            other => panic!("unexpected answer {other:?}"),
        }
    }
    assert_eq!((calls.get(), refused), (3, 7));
    let snap = b.snapshot(time.now.get());
    assert_eq!(snap.state, State::Open);
    assert_eq!((snap.calls, snap.failures, snap.rejected_open), (3, 3, 7));
}

#[test]
fn a_timed_out_call_counts_as_slow() {
    let time = FakeTime::new();
    let b = CircuitBreaker::<10>::new(
        BreakerConfig::new()
            .failure_count(None)
            .slow_call(Nanos::from_millis(100), 1.0)
            .minimum_calls(2),
    )
    .unwrap();
    let guards: Guards = Guards::new()
        .breaker(&b)
        .attempt_timeout(Nanos::from_millis(100));
    let retry_backoff = backoff(2);
    let answer: Result<(), _> = futures_executor::block_on(execute(
        RetryPolicy::new(&retry_backoff, 1),
        &guards,
        &time.clock(),
        &time.sleeper(),
        |_| pending::<Result<(), ()>>(),
        |_| Verdict::failure(),
    ));
    assert!(answer.is_err());
    let snap = b.snapshot(time.now.get());
    assert_eq!((snap.failures, snap.slow_calls), (2, 2));
    assert_eq!(snap.state, State::Open, "the slow-call rate tripped it");
}

#[test]
fn the_deadline_caps_the_last_attempt_and_ends_the_call() {
    let time = FakeTime::new();
    let start = time.now.get();
    let b = breaker(10);
    let guards: Guards = Guards::new()
        .breaker(&b)
        .attempt_timeout(Nanos::from_millis(250));
    let retry_backoff = backoff(5);
    let calls = Cell::new(0);
    let answer: Result<(), _> = futures_executor::block_on(execute(
        RetryPolicy::new(&retry_backoff, 1)
            .deadline(Deadline::after(start, Nanos::from_millis(300))),
        &guards,
        &time.clock(),
        &time.sleeper(),
        |_| {
            calls.set(calls.get() + 1);
            pending::<Result<(), ()>>()
        },
        |_| Verdict::failure(),
    ));
    // 250 ms (the attempt timeout), a 10 ms wait, then the 40 ms left to the deadline.
    assert_eq!(
        answer,
        Err(RetryError::Failed {
            error: AttemptError::TimedOut,
            attempts: 2,
            stop: StopReason::Deadline,
        })
    );
    assert_eq!(calls.get(), 2);
    assert_eq!(time.now.get(), start + Nanos::from_millis(300));
    assert_eq!(b.snapshot(time.now.get()).failures, 2);
}

#[test]
fn an_open_breaker_refuses_without_calling_or_retrying() {
    let time = FakeTime::new();
    let b = breaker(1);
    b.force_open(Nanos::ZERO);
    let guards: Guards = Guards::new().breaker(&b);
    let retry_backoff = backoff(5);
    let called = Cell::new(false);
    let answer: Result<(), _> = futures_executor::block_on(execute(
        RetryPolicy::new(&retry_backoff, 1),
        &guards,
        &time.clock(),
        &time.sleeper(),
        |_| {
            called.set(true);
            ready(Ok::<(), ()>(()))
        },
        |_| Verdict::failure(),
    ));
    let error = answer.unwrap_err();
    assert_eq!(
        rejection(&error).map(|r| r.reason),
        Some(Reason::ForcedOpen)
    );
    assert!(!called.get());
}

#[test]
fn a_caller_error_can_be_ignored_by_the_breaker_and_not_retried() {
    let time = FakeTime::new();
    let b = breaker(1);
    let guards: Guards = Guards::new().breaker(&b);
    let retry_backoff = backoff(5);
    let answer: Result<(), _> = futures_executor::block_on(execute(
        RetryPolicy::new(&retry_backoff, 1),
        &guards,
        &time.clock(),
        &time.sleeper(),
        |_| ready(Err(404)),
        |status| match status {
            404 => Verdict {
                outcome: Outcome::Ignored,
                retry: Retryable::No,
                overload: false,
            },
            _ => Verdict::failure(),
        },
    ));
    assert!(matches!(
        answer,
        Err(RetryError::Failed {
            error: AttemptError::Failed(404),
            attempts: 1,
            ..
        })
    ));
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.snapshot(time.now.get()).calls, 0);
}

#[test]
fn an_attempt_waits_for_a_token_within_its_allowance() {
    let time = FakeTime::new();
    let limiter =
        TokenBucket::new(TokenBucketConfig::new(1).refill(1, Nanos::from_millis(100))).unwrap();
    let retry_backoff = backoff(1);
    let run = |max_wait| {
        let guards: Guards = Guards::new().limiter(&limiter, max_wait);
        futures_executor::block_on(execute(
            RetryPolicy::new(&retry_backoff, 1),
            &guards,
            &time.clock(),
            &time.sleeper(),
            |_| ready(Ok::<u8, ()>(1)),
            |_| Verdict::failure(),
        ))
    };
    assert_eq!(run(Nanos::ZERO), Ok(1));
    let refused = run(Nanos::from_millis(50)).unwrap_err();
    assert_eq!(
        rejection(&refused).map(|r| r.reason),
        Some(Reason::RateLimited)
    );
    let before = time.now.get();
    assert_eq!(run(Nanos::from_millis(100)), Ok(1));
    assert_eq!(time.now.get(), before + Nanos::from_millis(100));
}

#[test]
fn a_queued_attempt_gives_up_at_the_deadline_and_leaves_the_queue_clean() {
    let time = FakeTime::new();
    let bulkhead = Bulkhead::<2>::new(BulkheadConfig::new(1)).unwrap();
    let held = bulkhead.try_acquire(0).unwrap();
    let guards = Guards::<10, 2>::new().bulkhead(&bulkhead, 0);
    let retry_backoff = backoff(1);
    let deadline = Deadline::after(time.now.get(), Nanos::from_millis(30));
    let answer: Result<(), _> = futures_executor::block_on(execute(
        RetryPolicy::new(&retry_backoff, 1).deadline(deadline),
        &guards,
        &time.clock(),
        &time.sleeper(),
        |_| ready(Ok::<(), ()>(())),
        |_| Verdict::failure(),
    ));
    assert!(matches!(
        answer,
        Err(RetryError::Failed {
            error: AttemptError::TimedOut,
            ..
        })
    ));
    let snap = bulkhead.snapshot();
    assert_eq!((snap.in_flight, snap.waiting), (1, 0));
    drop(held);
    assert_eq!(bulkhead.snapshot().in_flight, 0);
}

#[test]
fn a_deadline_already_past_calls_nothing() {
    let time = FakeTime::new();
    let retry_backoff = backoff(3);
    let guards: Guards = Guards::new();
    let answer: Result<(), _> = futures_executor::block_on(execute(
        RetryPolicy::new(&retry_backoff, 1).deadline(Deadline::at(Nanos::from_secs(1))),
        &guards,
        &time.clock(),
        &time.sleeper(),
        |_| -> core::future::Ready<Result<(), ()>> { panic!("called past the deadline") },
        |_| Verdict::failure(),
    ));
    assert_eq!(answer, Err(RetryError::DeadlineExpired));
}

#[test]
fn dropping_a_call_in_flight_frees_the_probe_slot_and_the_permit() {
    let time = FakeTime::new();
    let b = CircuitBreaker::<10>::new(
        BreakerConfig::new()
            .failure_count(Some(1))
            .open_for(Nanos::from_secs(1)),
    )
    .unwrap();
    b.try_acquire(Nanos::ZERO)
        .unwrap()
        .record(Outcome::Failure, Nanos::ZERO);
    let bulkhead: Bulkhead = Bulkhead::new(BulkheadConfig::new(1)).unwrap();
    let guards = Guards::new().breaker(&b).bulkhead(&bulkhead, 0);
    let retry_backoff = backoff(1);
    let clock = time.clock();
    let sleeper = time.sleeper();
    {
        let mut call = pin!(execute(
            RetryPolicy::new(&retry_backoff, 1),
            &guards,
            &clock,
            &sleeper,
            |_| pending::<Result<(), ()>>(),
            |_| Verdict::failure(),
        ));
        let mut cx = Context::from_waker(Waker::noop());
        assert!(call.as_mut().poll(&mut cx).is_pending());
        let snap = b.snapshot(time.now.get());
        assert_eq!((snap.state, snap.probes_in_flight), (State::HalfOpen, 1));
        assert_eq!(bulkhead.snapshot().in_flight, 1);
    }
    assert_eq!(b.snapshot(time.now.get()).probes_in_flight, 0);
    assert_eq!(bulkhead.snapshot().in_flight, 0);
}

#[tokio::test(start_paused = true)]
async fn under_tokio_a_slow_call_times_out_on_the_real_timer() {
    let origin = tokio::time::Instant::now();
    let clock = move || Nanos::from_duration(origin.elapsed());
    let sleeper = |d: Nanos| tokio::time::sleep(d.as_duration());
    let b = breaker(5);
    let guards: Guards = Guards::new()
        .breaker(&b)
        .attempt_timeout(Nanos::from_millis(100));
    let retry_backoff = backoff(2);
    let answer = execute(
        RetryPolicy::new(&retry_backoff, 1),
        &guards,
        &clock,
        &sleeper,
        |attempt| async move {
            let took = if attempt == 1 { 500 } else { 10 };
            tokio::time::sleep(core::time::Duration::from_millis(took)).await;
            Ok::<u32, ()>(attempt)
        },
        |_| Verdict::failure(),
    )
    .await;
    assert_eq!(answer, Ok(2));
    let snap = b.snapshot(clock());
    assert_eq!((snap.failures, snap.successes), (1, 1));
    // 100 ms timeout, 10 ms backoff, 10 ms call.
    assert_eq!(origin.elapsed(), core::time::Duration::from_millis(120));
}
