//! Every public operation of every primitive, called with extreme arguments: 0, 1, `u32::MAX`,
//! `u64::MAX` nanoseconds and one less, attempt numbers near `u32::MAX`, huge token counts,
//! time far in the future and then back at zero, and configs at the edges of their valid
//! ranges. Each call must return, without a panic, an answer within its documented range.
//!
//! This is the one test of the crate that measures time, and it asserts a bound on cost, not a
//! speed: every case runs on its own thread and fails, by name, if it has not returned after
//! [`LIMIT`]. An operation whose cost is bounded whatever its arguments answers each case here
//! in milliseconds even unoptimised; one that walks as far as its argument says (2^32 steps of
//! a backoff chain take minutes unoptimised) does not answer at all. The limit is seconds, far
//! above the first and far below the second, so that a slow or loaded machine never fails it.

use core::future::Future;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::Duration;

use stanchion::breaker::{
    BreakerConfig, CircuitBreaker, Outcome, RawPermit as BreakerPermit, State, Window,
};
use stanchion::bulkhead::{RawPermit, MAX_CONCURRENT, MAX_LANES};
use stanchion::keyed_limiter::{key_of_bytes, KeyedTable};
use stanchion::policy::{execute, Guards, Verdict};
use stanchion::retry::{retry, RetryPolicy, Retryable};
use stanchion::{
    Backoff, BackoffConfig, Bulkhead, BulkheadConfig, Deadline, Jitter, KeyedLimiter, Nanos,
    RetryBudget, RetryBudgetConfig, Schedule, TableFullPolicy, TokenBucket, TokenBucketConfig,
};

/// How long a case may take before it counts as not returning.
const LIMIT: Duration = Duration::from_secs(10);
/// A case's stack: the widest breaker window is half a megabyte of atomics, built on the stack.
const STACK: usize = 64 << 20;

type Case = (&'static str, fn());

/// Runs each case on its own thread, one after the other, and fails with the names of those
/// that panicked or did not return within [`LIMIT`]. A case that does not return is left
/// running: the test process ends it when it exits.
fn run(cases: &[Case]) {
    let mut failed = Vec::new();
    for &(name, case) in cases {
        let (done, finished) = mpsc::channel();
        let worker = thread::Builder::new()
            .name(name.to_owned())
            .stack_size(STACK)
            .spawn(move || {
                case();
                let _ = done.send(());
            })
            .expect("a thread for the case");
        match finished.recv_timeout(LIMIT) {
            Ok(()) => {
                let _ = worker.join();
            }
            Err(RecvTimeoutError::Disconnected) => {
                let _ = worker.join();
                failed.push(format!("{name}: panicked (message above)"));
            }
            Err(RecvTimeoutError::Timeout) => {
                failed.push(format!("{name}: did not return within {LIMIT:?}"));
            }
        }
    }
    assert!(failed.is_empty(), "\n{}\n", failed.join("\n"));
}

/// Time values at the edges, in the order a confused caller might pass them: far in the future,
/// then back at zero.
const TIMES: [u64; 7] = [0, 1, u64::MAX, u64::MAX - 1, 0, 1 << 63, 1];

fn times() -> impl Iterator<Item = Nanos> {
    TIMES.into_iter().map(Nanos::new)
}

// ---- backoff ----

const ATTEMPTS: [u32; 12] = [
    0,
    1,
    2,
    4095,
    4096,
    4097,
    8192,
    1 << 20,
    1 << 31,
    u32::MAX - 2,
    u32::MAX - 1,
    u32::MAX,
];
const SEEDS: [u64; 3] = [0, 1, u64::MAX];

fn backoff(config: BackoffConfig) -> Backoff {
    assert_eq!(config.validate(), Ok(()));
    assert_eq!(
        BackoffConfig::new(config.schedule).schedule,
        config.schedule
    );
    Backoff::new(config).expect("a valid backoff config")
}

/// Every operation of `b`: `delay` at every attempt of [`ATTEMPTS`], a `Retrying` fed extreme
/// times and hints, a long run of retries, and the iterator.
fn exercise(b: &Backoff) {
    let config = *b.config();
    let cap = config.max_delay.unwrap_or(Nanos::MAX);
    let retries = config.max_attempts.map_or(u32::MAX, |calls| calls - 1);
    for seed in SEEDS {
        let mut previous = Nanos::ZERO;
        for attempt in ATTEMPTS {
            let wait = b.delay(attempt, seed);
            assert_eq!(wait.is_some(), attempt < retries, "attempt {attempt}");
            let Some(wait) = wait else { continue };
            assert!(wait <= cap, "attempt {attempt}: {wait:?} above {cap:?}");
            match (config.schedule, config.jitter) {
                (Schedule::Exponential { initial, .. }, Jitter::None) => {
                    assert!(wait >= initial.min(cap), "attempt {attempt}");
                    assert!(wait >= previous, "attempt {attempt}: shrank");
                    previous = wait;
                }
                (Schedule::Decorrelated { base }, _) => {
                    assert!(wait >= base.min(cap), "attempt {attempt}");
                }
                _ => {}
            }
        }

        let mut retrying = b.start(seed, Nanos::MAX);
        for now in times() {
            for hint in [
                None,
                Some(Nanos::MAX),
                Some(Nanos::ZERO),
                Some(Nanos::new(1)),
            ] {
                if let Ok(wait) = retrying.next_delay(b, now, hint) {
                    assert!(wait <= cap);
                    if let Some(hint) = hint {
                        assert!(wait >= hint.min(cap));
                    }
                }
            }
        }
        assert_eq!(retrying.started(), Nanos::MAX);

        // Past the attempt where a replay of the chain would be bounded, and the same waits as
        // the pure form there.
        let mut retrying = b.start(seed, Nanos::ZERO);
        for attempt in 0..10_000u32 {
            match retrying.next_delay(b, Nanos::ZERO, None) {
                Ok(wait) => {
                    assert!(wait <= cap);
                    if attempt % 997 == 0 || (4094..4099).contains(&attempt) {
                        assert_eq!(Some(wait), b.delay(attempt, seed), "attempt {attempt}");
                    }
                }
                Err(_) => {
                    assert!(retrying.stopped().is_some());
                    break;
                }
            }
        }
        assert!(retrying.retries() <= retries);
        assert!(b.iter(seed).take(10_000).all(|wait| wait <= cap));
    }
}

fn exponential(initial: u64, factor: f64) -> BackoffConfig {
    BackoffConfig::exponential(Nanos::new(initial), factor).unlimited_attempts()
}

fn decorrelated(base: u64) -> BackoffConfig {
    BackoffConfig::decorrelated(Nanos::new(base)).unlimited_attempts()
}

/// The smallest factor above 1 that the Q32.32 form tells from 1.
const BARELY_ABOVE_ONE: f64 = 1.0 + 1.0 / 4_294_967_296.0;

const BACKOFF_CASES: [Case; 20] = [
    (
        "exponential, factor barely above 1, from 1 ns, no cap",
        || exercise(&backoff(exponential(1, BARELY_ABOVE_ONE))),
    ),
    (
        "exponential, factor barely above 1, from 1 ms, full jitter",
        || {
            exercise(&backoff(
                exponential(1_000_000, BARELY_ABOVE_ONE).jitter(Jitter::Full),
            ))
        },
    ),
    ("exponential, factor 1.0001, capped at an hour", || {
        exercise(&backoff(
            exponential(1_000_000, 1.0001).max_delay(Nanos::from_secs(3_600)),
        ))
    }),
    ("exponential, factor 1.001, equal jitter", || {
        exercise(&backoff(exponential(3, 1.001).jitter(Jitter::Equal)))
    }),
    ("exponential, factor 1024 from u64::MAX ns", || {
        exercise(&backoff(exponential(u64::MAX, 1024.0)))
    }),
    ("exponential, factor 1024 from 0 and from 1 ns", || {
        exercise(&backoff(exponential(0, 1024.0)));
        exercise(&backoff(exponential(1, 1024.0).max_delay(Nanos::new(1))));
    }),
    (
        "exponential, factor 1 exactly, proportional jitter 1",
        || {
            exercise(&backoff(
                exponential(u64::MAX - 1, 1.0).jitter(Jitter::Proportional(1.0)),
            ))
        },
    ),
    ("exponential, max_delay 0 and u64::MAX - 1", || {
        exercise(&backoff(exponential(1, 2.0).max_delay(Nanos::ZERO)));
        exercise(&backoff(
            exponential(1, 2.0).max_delay(Nanos::new(u64::MAX - 1)),
        ));
    }),
    ("decorrelated from 1 ns, no cap", || {
        exercise(&backoff(decorrelated(1)))
    }),
    ("decorrelated from 100 ms, capped at 10 s", || {
        exercise(&backoff(
            decorrelated(100_000_000).max_delay(Nanos::from_secs(10)),
        ))
    }),
    ("decorrelated from 0, from u64::MAX, cap below base", || {
        exercise(&backoff(decorrelated(0)));
        exercise(&backoff(decorrelated(u64::MAX)));
        exercise(&backoff(decorrelated(u64::MAX).max_delay(Nanos::new(1))));
    }),
    ("constant, 0 and u64::MAX, equal jitter", || {
        exercise(&backoff(
            BackoffConfig::constant(Nanos::ZERO).unlimited_attempts(),
        ));
        exercise(&backoff(
            BackoffConfig::constant(Nanos::MAX)
                .jitter(Jitter::Equal)
                .unlimited_attempts(),
        ));
    }),
    ("linear, u64::MAX steps, full jitter", || {
        exercise(&backoff(
            BackoffConfig::linear(Nanos::MAX, Nanos::MAX)
                .jitter(Jitter::Full)
                .unlimited_attempts(),
        ));
        exercise(&backoff(
            BackoffConfig::linear(Nanos::ZERO, Nanos::new(1)).unlimited_attempts(),
        ));
    }),
    ("max_attempts 1 and u32::MAX", || {
        exercise(&backoff(
            BackoffConfig::exponential(Nanos::new(1), BARELY_ABOVE_ONE).max_attempts(1),
        ));
        exercise(&backoff(
            BackoffConfig::decorrelated(Nanos::new(1)).max_attempts(u32::MAX),
        ));
    }),
    ("max_elapsed 0 and u64::MAX", || {
        exercise(&backoff(
            exponential(1, BARELY_ABOVE_ONE).max_elapsed(Nanos::ZERO),
        ));
        exercise(&backoff(decorrelated(1).max_elapsed(Nanos::MAX)));
    }),
    ("configs just outside their ranges are refused", || {
        for factor in [
            0.0,
            0.999_999_999,
            1_024.000_001,
            f64::NAN,
            f64::INFINITY,
            -1.0,
        ] {
            assert!(Backoff::new(exponential(1, factor)).is_err(), "{factor}");
        }
        for share in [-0.000_001, 1.000_001, f64::NAN] {
            let config = BackoffConfig::constant(Nanos::ZERO).jitter(Jitter::Proportional(share));
            assert!(Backoff::new(config).is_err(), "{share}");
        }
        assert!(Backoff::new(BackoffConfig::constant(Nanos::ZERO).max_attempts(0)).is_err());
        let jittered = BackoffConfig::decorrelated(Nanos::new(1)).jitter(Jitter::Full);
        assert!(Backoff::new(jittered).is_err());
    }),
    (
        "retry over an unlimited decorrelated backoff, deadline at u64::MAX",
        || {
            let b = backoff(decorrelated(1).max_delay(Nanos::from_secs(1)));
            let budget = RetryBudget::new(RetryBudgetConfig::new(1000.0)).unwrap();
            let policy = RetryPolicy::new(&b, u64::MAX)
                .budget(&budget)
                .deadline(Deadline::at(Nanos::MAX));
            let now = std::cell::Cell::new(Nanos::new(u64::MAX - 1));
            let clock = || now.get();
            let sleeper = |wait: Nanos| {
                now.set(now.get().saturating_add(wait));
                core::future::ready(())
            };
            let answer = block_on(retry(
                policy,
                &clock,
                &sleeper,
                |attempt| core::future::ready(if attempt < 3 { Err(()) } else { Ok(attempt) }),
                |_: &()| Retryable::After(Nanos::MAX),
            ));
            // The first wait (a second, the hint within max_delay) runs into the deadline.
            assert!(answer.is_err());
        },
    ),
    ("retry with a deadline already past, and at 0", || {
        let b = backoff(exponential(1, BARELY_ABOVE_ONE));
        for deadline in [
            Deadline::at(Nanos::ZERO),
            Deadline::after(Nanos::MAX, Nanos::MAX),
        ] {
            let policy = RetryPolicy::new(&b, 0).deadline(deadline);
            let clock = || Nanos::MAX;
            let sleeper = |_: Nanos| core::future::ready(());
            let answer = block_on(retry(
                policy,
                &clock,
                &sleeper,
                |_| core::future::ready(Err::<(), ()>(())),
                |_: &()| Retryable::Yes,
            ));
            assert!(answer.is_err());
        }
    }),
    ("retry of a call that fails 5000 times", || {
        let b = backoff(exponential(1, BARELY_ABOVE_ONE).max_delay(Nanos::new(10)));
        let clock = || Nanos::ZERO;
        let sleeper = |_: Nanos| core::future::ready(());
        let answer = block_on(retry(
            RetryPolicy::new(&b, 3),
            &clock,
            &sleeper,
            |attempt| {
                core::future::ready(if attempt <= 5000 {
                    Err(())
                } else {
                    Ok(attempt)
                })
            },
            |_: &()| Retryable::Yes,
        ));
        assert_eq!(answer, Ok(5001));
    }),
    ("policy with every guard at its edge", || {
        let b = backoff(decorrelated(1).max_attempts(u32::MAX));
        let breaker: CircuitBreaker = CircuitBreaker::new(
            BreakerConfig::new()
                .failure_count(Some(u32::MAX))
                .open_for(Nanos::MAX),
        )
        .unwrap();
        let bulkhead: Bulkhead = Bulkhead::new(BulkheadConfig::new(MAX_CONCURRENT)).unwrap();
        let limiter = TokenBucket::new(TokenBucketConfig::new(u32::MAX)).unwrap();
        let guards = Guards::<10, 0>::new()
            .breaker(&breaker)
            .bulkhead(&bulkhead, usize::MAX)
            .limiter(&limiter, Nanos::MAX)
            .attempt_timeout(Nanos::MAX);
        let clock = || Nanos::ZERO;
        let sleeper = |_: Nanos| core::future::ready(());
        let answer = block_on(execute(
            RetryPolicy::new(&b, 0).deadline(Deadline::at(Nanos::MAX)),
            &guards,
            &clock,
            &sleeper,
            |attempt| core::future::ready(if attempt < 100 { Err(()) } else { Ok(attempt) }),
            |_| Verdict::failure(),
        ));
        assert_eq!(answer, Ok(100));
    }),
];

#[test]
fn backoff_and_retry() {
    run(&BACKOFF_CASES);
}

/// Polls a future that never waits on anything but the caller's fake timers to completion.
fn block_on<F: core::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut context = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
    }
}

// ---- circuit breaker ----

/// Every operation of `breaker` at every time of [`TIMES`].
fn exercise_breaker<const W: usize>(breaker: &CircuitBreaker<W>) {
    for now in times() {
        for outcome in [Outcome::Failure, Outcome::Success, Outcome::Ignored] {
            match breaker.try_acquire(now) {
                Ok(permit) => {
                    assert_eq!(permit.issued_at(), now);
                    let _ = permit.transition();
                    let _ = breaker.record(permit, outcome, now);
                }
                Err(refused) => {
                    if let Some(after) = refused.retry_after {
                        assert!(now.as_nanos().checked_add(after.as_nanos()).is_some());
                    }
                }
            }
            let (raw, _) = breaker.try_acquire_raw(now);
            if let Ok(raw) = raw {
                assert_eq!(raw.issued_at(), now);
                let _ = raw.generation();
                let _ = breaker.release_raw(raw, now);
            }
            if let Ok(permit) = breaker.try_acquire(now) {
                let _ = permit.release(now);
            }
        }
        let stale = BreakerPermit::from_parts(u32::MAX, Nanos::MAX);
        let _ = breaker.record_raw(stale, Outcome::Failure, now);
        let _ = breaker.release_raw(stale, now);
        let snapshot = breaker.snapshot(now);
        assert!(snapshot.window_failures <= snapshot.window_calls);
        assert!((0.0..=1.0).contains(&snapshot.failure_rate()));
        assert!((0.0..=1.0).contains(&snapshot.slow_call_rate()));
        assert!(snapshot.rejected() >= snapshot.rejected_open);
        let _ = breaker.state();
    }
    let _ = breaker.force_open(Nanos::MAX);
    assert_eq!(breaker.state(), State::ForcedOpen);
    let _ = breaker.disable(Nanos::ZERO);
    let _ = breaker.reset(Nanos::MAX);
    assert_eq!(breaker.state(), State::Closed);
    let config = breaker.config();
    assert_eq!(config.validate(), Ok(()));
    assert!(config.effective_probe_timeout() > Nanos::ZERO);
    assert!(config.effective_half_open_successes() >= 1);
    breaker.reconfigure(config, Nanos::ZERO).unwrap();
}

/// Trips `breaker` again and again, each probe failing: the open period grows with each trip.
fn trip_repeatedly<const W: usize>(breaker: &CircuitBreaker<W>, trips: u32) {
    let mut now = Nanos::ZERO;
    for _ in 0..trips {
        match breaker.try_acquire(now) {
            Ok(permit) => {
                let _ = permit.record(Outcome::Failure, now);
            }
            Err(refused) => {
                now = now.saturating_add(refused.retry_after.unwrap_or(Nanos::new(1)));
            }
        }
    }
    let _ = breaker.snapshot(Nanos::MAX);
}

const BREAKER_CASES: [Case; 9] = [
    ("breaker, defaults", || {
        let breaker: CircuitBreaker = CircuitBreaker::new(BreakerConfig::new()).unwrap();
        exercise_breaker(&breaker);
    }),
    ("breaker, thresholds of 1 and u32::MAX", || {
        let one: CircuitBreaker = CircuitBreaker::new(
            BreakerConfig::new()
                .failure_count(Some(1))
                .consecutive_failures(Some(1))
                .minimum_calls(1)
                .failure_rate(Some(f32::MIN_POSITIVE)),
        )
        .unwrap();
        exercise_breaker(&one);
        let most: CircuitBreaker = CircuitBreaker::new(
            BreakerConfig::new()
                .failure_count(Some(u32::MAX))
                .consecutive_failures(Some(u32::MAX))
                .minimum_calls(u32::MAX)
                .failure_rate(Some(1.0)),
        )
        .unwrap();
        exercise_breaker(&most);
    }),
    ("breaker, slow calls of 1 ns and u64::MAX ns", || {
        for duration in [Nanos::new(1), Nanos::MAX] {
            let breaker: CircuitBreaker =
                CircuitBreaker::new(BreakerConfig::new().slow_call(duration, 1.0)).unwrap();
            exercise_breaker(&breaker);
        }
    }),
    ("breaker, open for 0 and for u64::MAX ns", || {
        for open_for in [Nanos::ZERO, Nanos::new(1), Nanos::MAX] {
            let breaker: CircuitBreaker = CircuitBreaker::new(
                BreakerConfig::new()
                    .failure_count(Some(1))
                    .open_for(open_for)
                    .probe_timeout(Some(Nanos::MAX)),
            )
            .unwrap();
            exercise_breaker(&breaker);
        }
    }),
    (
        "breaker, growth factor 65535 and barely above 1, full jitter",
        || {
            for factor in [65_535.0, 1.000_015_3] {
                let breaker: CircuitBreaker = CircuitBreaker::new(
                    BreakerConfig::new()
                        .failure_count(Some(1))
                        .open_for(Nanos::new(1))
                        .open_for_growth(Nanos::MAX, factor, 1.0)
                        .seed(u64::MAX),
                )
                .unwrap();
                trip_repeatedly(&breaker, 1_000);
                exercise_breaker(&breaker);
            }
        },
    ),
    ("breaker, 65535 probes and a 1 ns probe lease", || {
        let breaker: CircuitBreaker = CircuitBreaker::new(
            BreakerConfig::new()
                .failure_count(Some(1))
                .open_for(Nanos::new(1))
                .half_open(65_535, Some(65_535))
                .probe_timeout(Some(Nanos::new(1))),
        )
        .unwrap();
        trip_repeatedly(&breaker, 100);
        exercise_breaker(&breaker);
    }),
    ("breaker, count window of 65535 calls", || {
        let breaker: CircuitBreaker<2048> =
            CircuitBreaker::new(BreakerConfig::new().window(Window::Count(65_535))).unwrap();
        exercise_breaker(&breaker);
    }),
    (
        "breaker, time window of 65535 buckets of 1 ns, time jumping",
        || {
            let breaker: CircuitBreaker<65_535> =
                CircuitBreaker::new(BreakerConfig::new().window(Window::Time {
                    span: Nanos::new(65_535),
                    buckets: 65_535,
                }))
                .unwrap();
            exercise_breaker(&breaker);
        },
    ),
    ("breaker, time window spanning u64::MAX ns", || {
        let breaker: CircuitBreaker<1> =
            CircuitBreaker::new(BreakerConfig::new().window(Window::Time {
                span: Nanos::MAX,
                buckets: 1,
            }))
            .unwrap();
        exercise_breaker(&breaker);
    }),
];

#[test]
fn circuit_breaker() {
    run(&BREAKER_CASES);
}

// ---- token bucket and keyed limiter ----

const COUNTS: [u32; 5] = [0, 1, 2, u32::MAX - 1, u32::MAX];

/// Every operation of `bucket` with every count of [`COUNTS`] at every time of [`TIMES`].
fn exercise_bucket(bucket: &TokenBucket) {
    let capacity = u64::from(bucket.config().capacity);
    for now in times() {
        for n in COUNTS {
            let _ = bucket.try_acquire(n, now);
            for max_wait in [Nanos::ZERO, Nanos::new(1), Nanos::MAX] {
                if let Ok(ready_at) = bucket.reserve(n, now, max_wait) {
                    assert!(ready_at >= now);
                }
            }
            assert!(bucket.available(now) <= capacity);
        }
        let snapshot = bucket.snapshot(now);
        assert!(snapshot.available <= capacity);
    }
}

fn bucket(capacity: u32, amount: u32, every: Nanos) -> TokenBucket {
    TokenBucket::new(TokenBucketConfig::new(capacity).refill(amount, every)).unwrap()
}

fn exercise_keyed(table: &dyn KeyedTable, capacity: u32) {
    for now in times() {
        for key in [0, 1, u64::MAX, key_of_bytes(b"")] {
            for n in COUNTS {
                let _ = table.try_acquire(key, n, now);
                let _ = table.reserve(key, n, now, Nanos::MAX);
                assert!(table.available(key, now) <= u64::from(capacity));
            }
            assert!(table.snapshot(key, now).available <= u64::from(capacity));
        }
        let _ = table.active_keys(now);
    }
}

const LIMITER_CASES: [Case; 6] = [
    (
        "token bucket, capacity 1, one token per u64::MAX ns",
        || {
            exercise_bucket(&bucket(1, 1, Nanos::MAX));
        },
    ),
    (
        "token bucket, capacity u32::MAX, 10^9 tokens a second",
        || {
            exercise_bucket(&bucket(u32::MAX, u32::MAX, Nanos::new(u64::from(u32::MAX))));
            exercise_bucket(&bucket(u32::MAX, 1, Nanos::new(1)));
        },
    ),
    ("token bucket, awkward rates", || {
        exercise_bucket(&bucket(7, u32::MAX - 1, Nanos::new(u64::MAX - 1)));
        exercise_bucket(&bucket(3, 1, Nanos::new(u64::MAX / 3)));
    }),
    (
        "keyed limiter, one slot and many, both table policies",
        || {
            for policy in [TableFullPolicy::Reject, TableFullPolicy::Admit] {
                let config = TokenBucketConfig::new(u32::MAX).refill(1, Nanos::MAX);
                let small: KeyedLimiter<1> = KeyedLimiter::new(config, policy).unwrap();
                exercise_keyed(&small, u32::MAX);
                let large: KeyedLimiter<4096> = KeyedLimiter::new(config, policy).unwrap();
                assert_eq!((large.config(), large.policy()), (config, policy));
                exercise_keyed(&large, u32::MAX);
                // Every slot taken, then time far ahead frees them all.
                for key in 0..10_000u64 {
                    let _ = large.try_acquire(key, 1, Nanos::ZERO);
                }
                assert!(large.active_keys(Nanos::ZERO) <= 4096);
                let _ = large.try_acquire(u64::MAX, 1, Nanos::MAX);
            }
        },
    ),
    (
        "keyed limiter, capacity 1 refilled every nanosecond",
        || {
            let config = TokenBucketConfig::new(1).refill(1, Nanos::new(1));
            let limiter: KeyedLimiter<64> =
                KeyedLimiter::new(config, TableFullPolicy::Reject).unwrap();
            exercise_keyed(&limiter, 1);
        },
    ),
    ("key of a megabyte", || {
        let bytes = vec![0xa5u8; 1 << 20];
        assert_ne!(key_of_bytes(&bytes), key_of_bytes(&bytes[1..]));
    }),
];

#[test]
fn token_bucket_and_keyed_limiter() {
    run(&LIMITER_CASES);
}

// ---- bulkhead ----

fn exercise_bulkhead<const WAITERS: usize>(bulkhead: &Bulkhead<WAITERS>, permits: u32) {
    for lane in [0, 1, MAX_LANES - 1, MAX_LANES, usize::MAX] {
        let mut held = Vec::new();
        for _ in 0..permits {
            match bulkhead.try_acquire(lane) {
                Ok(permit) => {
                    assert!(permit.lane() < MAX_LANES);
                    let raw = permit.into_raw();
                    assert!(raw.is_held() && raw.lane() < MAX_LANES);
                    held.push(raw);
                }
                Err(refused) => {
                    assert_eq!(refused.retry_after, None);
                    break;
                }
            }
        }
        let waker = Waker::noop();
        let mut pending = Box::pin(bulkhead.acquire(lane));
        let _ = pending
            .as_mut()
            .poll(&mut Context::from_waker(waker))
            .map(|answer| answer.map(|permit| held.push(permit.into_raw())));
        for permit in &mut held {
            assert!(bulkhead.release(permit));
            assert!(!bulkhead.release(permit), "a second release is a no-op");
        }
        drop(pending);
        for lane in [0, MAX_LANES - 1, MAX_LANES, usize::MAX] {
            for held in [true, false] {
                if let Some(mut forged) = RawPermit::from_parts(lane, held) {
                    let _ = bulkhead.release(&mut forged);
                }
            }
        }
        let snapshot = bulkhead.snapshot();
        assert!(snapshot.in_flight <= snapshot.max_concurrent);
    }
}

const BULKHEAD_CASES: [Case; 3] = [
    ("bulkhead, one permit, no queue", || {
        let bulkhead: Bulkhead = Bulkhead::new(BulkheadConfig::new(1)).unwrap();
        exercise_bulkhead(&bulkhead, 3);
    }),
    (
        "bulkhead, MAX_CONCURRENT permits, eight lanes, a queue",
        || {
            let config = BulkheadConfig::new(MAX_CONCURRENT)
                .lanes(&[MAX_CONCURRENT, MAX_CONCURRENT, 8, 7, 6, 5, 4, 1])
                .max_waiting(u32::MAX);
            let bulkhead: Bulkhead<64> = Bulkhead::new(config).unwrap();
            exercise_bulkhead(&bulkhead, 20_000);
        },
    ),
    (
        "bulkhead, configs just outside their ranges are refused",
        || {
            assert!(BulkheadConfig::new(0).validate().is_err());
            assert!(BulkheadConfig::new(MAX_CONCURRENT + 1).validate().is_err());
            assert!(BulkheadConfig::new(u32::MAX).validate().is_err());
            assert!(BulkheadConfig::new(2).lanes(&[2; 9]).validate().is_err());
            assert!(BulkheadConfig::new(2).lanes(&[]).validate().is_err());
            assert!(BulkheadConfig::new(2).lanes(&[2; 300]).validate().is_err());
        },
    ),
];

#[test]
fn bulkhead() {
    run(&BULKHEAD_CASES);
}

// ---- retry budget and deadline ----

fn exercise_budget(budget: &RetryBudget) {
    let config = *budget.config();
    let most_balance = u64::from(config.max_balance).saturating_mul(1_000_000);
    let most_floor = u64::from(config.min_retries_per_sec);
    for now in times() {
        for _ in 0..1_000 {
            budget.deposit();
        }
        for _ in 0..1_000 {
            if let Err(refused) = budget.try_retry(now) {
                if let Some(after) = refused.retry_after {
                    assert!(after <= Nanos::from_secs(1), "{after:?}");
                }
            }
        }
        let snapshot = budget.snapshot(now);
        assert!(snapshot.balance <= most_balance);
        assert!(snapshot.floor_tokens <= most_floor);
        assert!(snapshot.retries_available() <= most_balance / 1_000_000 + most_floor);
    }
}

const BUDGET_CASES: [Case; 4] = [
    ("retry budget, ratio 0, no floor", || {
        let config = RetryBudgetConfig::new(0.0)
            .min_retries_per_sec(0)
            .max_balance(0);
        exercise_budget(&RetryBudget::new(config).unwrap());
    }),
    (
        "retry budget, ratio 1000, the fastest floor, the largest balance",
        || {
            let config = RetryBudgetConfig::new(1000.0)
                .min_retries_per_sec(1_000_000_000)
                .max_balance(u32::MAX);
            exercise_budget(&RetryBudget::new(config).unwrap());
        },
    ),
    (
        "retry budget, configs just outside their ranges are refused",
        || {
            for ratio in [-0.000_001, 1_000.000_001, f64::NAN, f64::INFINITY] {
                assert!(RetryBudgetConfig::new(ratio).validate().is_err(), "{ratio}");
            }
            let too_fast = RetryBudgetConfig::new(0.1).min_retries_per_sec(1_000_000_001);
            assert!(too_fast.validate().is_err());
            assert!(RetryBudgetConfig::new(0.1)
                .min_retries_per_sec(u32::MAX)
                .validate()
                .is_err());
        },
    ),
    ("deadline at the ends of time", || {
        for at in times() {
            for timeout in times() {
                let deadline = Deadline::after(at, timeout);
                assert!(deadline.expires_at() >= at);
                for now in times() {
                    assert!(deadline.remaining(now) <= deadline.expires_at());
                    assert_eq!(
                        deadline.is_expired(now),
                        deadline.remaining(now) == Nanos::ZERO
                    );
                }
                assert!(deadline.min(Deadline::at(Nanos::ZERO)) <= deadline);
            }
        }
        assert_eq!(Nanos::MAX.saturating_add(Nanos::new(1)), Nanos::MAX);
        assert_eq!(Nanos::ZERO.saturating_sub(Nanos::MAX), Nanos::ZERO);
        assert_eq!(Nanos::MAX.saturating_mul(u64::MAX), Nanos::MAX);
        assert_eq!(Nanos::from_secs(u64::MAX), Nanos::MAX);
        assert_eq!(Nanos::from_duration(Duration::MAX), Nanos::MAX);
    }),
];

#[test]
fn retry_budget_and_deadline() {
    run(&BUDGET_CASES);
}
