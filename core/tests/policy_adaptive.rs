//! The adaptive limiter as a policy's concurrency guard: each attempt holds a permit, and how it
//! ended (`Ending::decide().adaptive`) is its sample. Fake time throughout.

mod policy_support;

use core::future::{pending, ready, Future};
use core::pin::pin;
use core::task::{Context, Waker};

use policy_support::{backoff, FakeTime};
use stanchion::adaptive::{AdaptiveConfig, AdaptiveLimiter};
use stanchion::policy::{execute, AttemptError, Guards, Verdict};
use stanchion::retry::{RetryError, RetryPolicy, StopReason};
use stanchion::{Deadline, Nanos, Reason, TokenBucket, TokenBucketConfig};

/// Every sample closes a window, so each attempt's ending moves the limit at once.
fn limiter<const WAITERS: usize>(initial: u32) -> AdaptiveLimiter<WAITERS> {
    AdaptiveLimiter::new(
        AdaptiveConfig::new()
            .limits(1, initial, 100)
            .window(Nanos::ZERO, 1),
    )
    .unwrap()
}

#[test]
fn an_attempt_cut_off_by_its_timeout_is_a_drop_that_lowers_the_limit() {
    let time = FakeTime::new();
    let adaptive: AdaptiveLimiter = limiter(10);
    let guards = Guards::<10, 0>::new()
        .adaptive(&adaptive)
        .attempt_timeout(Nanos::from_millis(250));
    let retry_backoff = backoff(2);
    let answer: Result<(), _> = futures_executor::block_on(execute(
        RetryPolicy::new(&retry_backoff, 1),
        &guards,
        &time.clock(),
        &time.sleeper(),
        |_| pending::<Result<(), ()>>(),
        |_| Verdict::failure(),
    ));
    assert!(matches!(
        answer,
        Err(RetryError::Failed {
            error: AttemptError::TimedOut,
            attempts: 2,
            ..
        })
    ));
    // Two dropped windows: ⌊10 × 0.9⌋ = 9, then ⌊9 × 0.9⌋ = 8.
    let snap = adaptive.snapshot();
    assert_eq!((snap.limit, snap.windows, snap.in_flight), (8, 2, 0));
}

#[test]
fn an_answer_is_a_latency_sample_measured_from_the_permit() {
    let time = FakeTime::new();
    // A limit of 2 with one attempt in flight is not application-limited: AIMD adds one.
    let adaptive: AdaptiveLimiter = limiter(2);
    let guards = Guards::<10, 0>::new().adaptive(&adaptive);
    let retry_backoff = backoff(1);
    let sleeper = time.sleeper();
    let answer = futures_executor::block_on(execute(
        RetryPolicy::new(&retry_backoff, 1),
        &guards,
        &time.clock(),
        &sleeper,
        |_| async {
            sleeper(Nanos::from_millis(40)).await;
            Err::<(), _>("500")
        },
        |_| Verdict::failure(),
    ));
    assert!(answer.is_err());
    let snap = adaptive.snapshot();
    assert_eq!((snap.limit, snap.windows), (3, 1));
    assert_eq!(
        snap.last_update,
        Some(Nanos::from_secs(100) + Nanos::from_millis(40))
    );
}

#[test]
fn a_refusal_for_overload_from_further_down_is_a_drop() {
    let time = FakeTime::new();
    let adaptive: AdaptiveLimiter = limiter(10);
    let guards = Guards::<10, 0>::new().adaptive(&adaptive);
    let retry_backoff = backoff(1);
    let judge = |status: &u16| match status {
        503 => Verdict::overload(),
        _ => Verdict::failure(),
    };
    let run = |status: u16| {
        futures_executor::block_on(execute(
            RetryPolicy::new(&retry_backoff, 1),
            &guards,
            &time.clock(),
            &time.sleeper(),
            |_| ready(Err::<(), _>(status)),
            judge,
        ))
    };
    assert!(run(503).is_err());
    assert_eq!(adaptive.limit(), 9, "a 503 is a drop: ⌊10 × 0.9⌋");
    assert!(run(500).is_err());
    let snap = adaptive.snapshot();
    assert_eq!(
        (snap.limit, snap.windows),
        (9, 2),
        "a 500 is a latency sample"
    );
}

#[test]
fn a_limiter_refusal_inside_gives_the_permit_back_with_no_sample() {
    let time = FakeTime::new();
    let adaptive: AdaptiveLimiter = limiter(4);
    let bucket = TokenBucket::new(TokenBucketConfig::new(1)).unwrap();
    bucket.try_acquire(1, time.now.get()).unwrap();
    let guards = Guards::<10, 0>::new()
        .adaptive(&adaptive)
        .limiter(&bucket, Nanos::ZERO);
    let retry_backoff = backoff(1);
    let answer: Result<(), _> = futures_executor::block_on(execute(
        RetryPolicy::new(&retry_backoff, 1),
        &guards,
        &time.clock(),
        &time.sleeper(),
        |_| -> core::future::Ready<Result<(), ()>> { panic!("called without a token") },
        |_| Verdict::failure(),
    ));
    assert!(matches!(
        answer,
        Err(RetryError::Failed {
            error: AttemptError::Rejected(r),
            ..
        }) if r.reason == Reason::RateLimited
    ));
    let snap = adaptive.snapshot();
    assert_eq!((snap.limit, snap.windows, snap.in_flight), (4, 0, 0));
}

#[test]
fn a_full_limiter_with_no_queue_refuses_the_attempt_without_calling() {
    let time = FakeTime::new();
    let adaptive: AdaptiveLimiter = limiter(1);
    let held = adaptive.try_acquire(time.now.get()).unwrap();
    let guards = Guards::<10, 0>::new().adaptive(&adaptive);
    let retry_backoff = backoff(1);
    let answer: Result<(), _> = futures_executor::block_on(execute(
        RetryPolicy::new(&retry_backoff, 1),
        &guards,
        &time.clock(),
        &time.sleeper(),
        |_| -> core::future::Ready<Result<(), ()>> { panic!("called past the limit") },
        |_| Verdict::failure(),
    ));
    assert!(matches!(
        answer,
        Err(RetryError::Failed {
            error: AttemptError::Rejected(r),
            ..
        }) if r.reason == Reason::QueueFull
    ));
    drop(held);
    assert_eq!(adaptive.snapshot().in_flight, 0);
}

#[test]
fn a_queued_attempt_gives_up_at_the_deadline_and_leaves_the_queue_clean() {
    let time = FakeTime::new();
    let adaptive: AdaptiveLimiter<2> = limiter(1);
    let held = adaptive.try_acquire(time.now.get()).unwrap();
    let guards = Guards::<10, 2>::new().adaptive(&adaptive);
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
            stop: StopReason::Deadline,
            ..
        })
    ));
    let snap = adaptive.snapshot();
    assert_eq!((snap.in_flight, snap.waiting, snap.windows), (1, 0, 0));
    drop(held);
    assert_eq!(adaptive.snapshot().in_flight, 0);
}

#[test]
fn a_call_dropped_in_flight_gives_the_permit_back_with_no_sample() {
    let time = FakeTime::new();
    let adaptive: AdaptiveLimiter = limiter(3);
    let guards = Guards::<10, 0>::new().adaptive(&adaptive);
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
        assert_eq!(adaptive.snapshot().in_flight, 1);
    }
    let snap = adaptive.snapshot();
    assert_eq!((snap.in_flight, snap.windows, snap.limit), (0, 0, 3));
}
