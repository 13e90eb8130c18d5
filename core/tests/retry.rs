//! The async retry helper, driven by two unrelated executors: `futures-executor` with a fake
//! clock that the sleeper advances, and tokio with paused time.

use core::cell::{Cell, RefCell};
use core::future::{ready, Ready};

use futures_executor::block_on;
use stanchion::retry::{retry, Clock, RetryError, RetryPolicy, Retryable, Sleep, StopReason};
use stanchion::{
    Backoff, BackoffConfig, Deadline, Jitter, Nanos, Reason, Rejected, RetryBudget,
    RetryBudgetConfig,
};

fn ms(n: u64) -> Nanos {
    Nanos::from_millis(n)
}

/// A fake clock whose sleeper advances it and records every wait.
struct FakeTime {
    now: Cell<Nanos>,
    sleeps: RefCell<Vec<Nanos>>,
    /// Extra time each sleep takes beyond what was asked (a late timer).
    overshoot: Nanos,
}

impl FakeTime {
    fn new() -> FakeTime {
        FakeTime::starting_at(Nanos::ZERO)
    }

    fn starting_at(now: Nanos) -> FakeTime {
        FakeTime {
            now: Cell::new(now),
            sleeps: RefCell::new(Vec::new()),
            overshoot: Nanos::ZERO,
        }
    }

    fn advance(&self, by: Nanos) {
        self.now.set(self.now.get() + by);
    }

    fn sleeps(&self) -> Vec<Nanos> {
        self.sleeps.borrow().clone()
    }
}

impl Clock for FakeTime {
    fn now(&self) -> Nanos {
        self.now.get()
    }
}

impl Sleep for FakeTime {
    type Fut = Ready<()>;
    fn sleep(&self, duration: Nanos) -> Ready<()> {
        self.sleeps.borrow_mut().push(duration);
        self.advance(duration + self.overshoot);
        ready(())
    }
}

fn backoff(config: BackoffConfig) -> Backoff {
    Backoff::new(config).unwrap()
}

fn always(_: &&str) -> Retryable {
    Retryable::Yes
}

#[test]
fn a_first_success_returns_at_once_without_sleeping() {
    let t = FakeTime::new();
    let b = backoff(BackoffConfig::constant(ms(10)));
    let result: Result<u32, RetryError<&str>> = block_on(retry(
        RetryPolicy::new(&b, 0),
        &t,
        &t,
        |attempt| ready(Ok(attempt)),
        always,
    ));
    assert_eq!(result, Ok(1));
    assert!(t.sleeps().is_empty());
}

#[test]
fn retries_until_success_waiting_the_backoff_between_attempts() {
    let t = FakeTime::new();
    let b = backoff(BackoffConfig::exponential(ms(100), 2.0).max_attempts(5));
    let calls = Cell::new(Vec::new());
    let result = block_on(retry(
        RetryPolicy::new(&b, 0),
        &t,
        &t,
        |attempt| {
            let mut seen = calls.take();
            seen.push((attempt, t.now()));
            calls.set(seen);
            ready(if attempt < 4 { Err("busy") } else { Ok("done") })
        },
        always,
    ));
    assert_eq!(result, Ok("done"));
    assert_eq!(t.sleeps(), [ms(100), ms(200), ms(400)]);
    assert_eq!(
        calls.take(),
        [(1, ms(0)), (2, ms(100)), (3, ms(300)), (4, ms(700))]
    );
}

#[test]
fn an_error_that_is_not_retryable_stops_at_once() {
    let t = FakeTime::new();
    let b = backoff(BackoffConfig::constant(ms(10)));
    let result: Result<(), _> = block_on(retry(
        RetryPolicy::new(&b, 0),
        &t,
        &t,
        |_| ready(Err(404u16)),
        |status: &u16| {
            if *status >= 500 {
                Retryable::Yes
            } else {
                Retryable::No
            }
        },
    ));
    assert_eq!(
        result,
        Err(RetryError::Failed {
            error: 404,
            attempts: 1,
            stop: StopReason::NotRetryable
        })
    );
    assert!(t.sleeps().is_empty());
}

#[test]
fn gives_up_after_max_attempts_with_the_last_error() {
    let t = FakeTime::new();
    let b = backoff(BackoffConfig::constant(ms(10)).max_attempts(3));
    let result: Result<(), _> = block_on(retry(
        RetryPolicy::new(&b, 0),
        &t,
        &t,
        |attempt| ready(Err(attempt)),
        |_: &u32| Retryable::Yes,
    ));
    assert_eq!(
        result,
        Err(RetryError::Failed {
            error: 3,
            attempts: 3,
            stop: StopReason::MaxAttempts
        })
    );
    assert_eq!(t.sleeps(), [ms(10), ms(10)]);
}

#[test]
fn gives_up_when_the_next_wait_would_end_past_max_elapsed() {
    let t = FakeTime::new();
    let b = backoff(
        BackoffConfig::constant(ms(100))
            .max_elapsed(ms(250))
            .unlimited_attempts(),
    );
    let result: Result<(), _> = block_on(retry(
        RetryPolicy::new(&b, 0),
        &t,
        &t,
        |_| {
            t.advance(ms(10)); // each attempt takes 10 ms
            ready(Err("slow"))
        },
        always,
    ));
    // Attempts end at 10, 120, 230 ms; a 100 ms wait from 230 would end at 330 > 250.
    assert_eq!(
        result.unwrap_err(),
        RetryError::Failed {
            error: "slow",
            attempts: 3,
            stop: StopReason::MaxElapsed
        }
    );
    assert_eq!(t.sleeps(), [ms(100), ms(100)]);
}

#[test]
fn a_server_hint_raises_the_wait_within_max_delay() {
    let t = FakeTime::new();
    let b = backoff(
        BackoffConfig::constant(ms(10))
            .max_delay(ms(1_000))
            .max_attempts(4),
    );
    let hints = [ms(500), ms(5_000), ms(1)];
    let result: Result<(), _> = block_on(retry(
        RetryPolicy::new(&b, 0),
        &t,
        &t,
        |attempt| ready(Err(attempt)),
        |attempt: &u32| match hints.get(*attempt as usize - 1) {
            Some(&hint) => Retryable::After(hint),
            None => Retryable::Yes,
        },
    ));
    assert!(result.is_err());
    assert_eq!(t.sleeps(), [ms(500), ms(1_000), ms(10)]);
}

#[test]
fn a_deadline_already_past_never_calls_the_operation() {
    let t = FakeTime::starting_at(ms(100));
    let b = backoff(BackoffConfig::constant(ms(10)));
    for deadline in [Deadline::at(ms(50)), Deadline::at(ms(100))] {
        let called = Cell::new(false);
        let result: Result<(), RetryError<&str>> = block_on(retry(
            RetryPolicy::new(&b, 0).deadline(deadline),
            &t,
            &t,
            |_| {
                called.set(true);
                ready(Ok(()))
            },
            always,
        ));
        assert_eq!(result, Err(RetryError::DeadlineExpired));
        assert!(!called.get());
    }
}

#[test]
fn no_wait_ends_at_or_past_the_deadline() {
    let t = FakeTime::new();
    let b = backoff(BackoffConfig::constant(ms(100)).unlimited_attempts());
    let result: Result<(), _> = block_on(retry(
        RetryPolicy::new(&b, 0).deadline(Deadline::after(Nanos::ZERO, ms(300))),
        &t,
        &t,
        |_| ready(Err("down")),
        always,
    ));
    // Attempts at 0, 100, 200; a wait from 200 would end at the deadline, when no attempt
    // may start.
    assert_eq!(
        result.unwrap_err(),
        RetryError::Failed {
            error: "down",
            attempts: 3,
            stop: StopReason::Deadline
        }
    );
    assert_eq!(t.sleeps(), [ms(100), ms(100)]);
    assert_eq!(t.now(), ms(200));
}

#[test]
fn a_late_timer_does_not_start_an_attempt_past_the_deadline() {
    let mut t = FakeTime::new();
    t.overshoot = ms(60);
    let b = backoff(BackoffConfig::constant(ms(50)).unlimited_attempts());
    let calls = Cell::new(0);
    let result: Result<(), _> = block_on(retry(
        RetryPolicy::new(&b, 0).deadline(Deadline::at(ms(100))),
        &t,
        &t,
        |_| {
            calls.set(calls.get() + 1);
            ready(Err("down"))
        },
        always,
    ));
    // The 50 ms wait was allowed (ends at 50) but took 110 ms.
    assert_eq!(calls.get(), 1);
    assert_eq!(
        result.unwrap_err(),
        RetryError::Failed {
            error: "down",
            attempts: 1,
            stop: StopReason::Deadline
        }
    );
}

#[test]
fn the_first_attempt_deposits_and_each_retry_withdraws() {
    let t = FakeTime::new();
    let b = backoff(BackoffConfig::constant(ms(1)).max_attempts(10));
    let budget = RetryBudget::new(RetryBudgetConfig::new(0.5).min_retries_per_sec(0)).unwrap();
    for _ in 0..3 {
        budget.deposit(); // other callers' first attempts
    }
    let result: Result<(), _> = block_on(retry(
        RetryPolicy::new(&b, 0).budget(&budget),
        &t,
        &t,
        |_| ready(Err("down")),
        always,
    ));
    // 1.5 + 0.5 = 2 tokens: two retries, then the budget refuses the third.
    assert_eq!(
        result.unwrap_err(),
        RetryError::Failed {
            error: "down",
            attempts: 3,
            stop: StopReason::BudgetExhausted(Rejected::new(Reason::RetryBudgetExhausted, None))
        }
    );
    let s = budget.snapshot(t.now());
    assert_eq!((s.retries_allowed, s.retries_refused, s.balance), (2, 1, 0));
}

#[test]
fn a_retry_that_will_not_be_made_spends_no_token() {
    let t = FakeTime::new();
    let b = backoff(BackoffConfig::constant(ms(1)).max_attempts(2));
    let budget = RetryBudget::new(RetryBudgetConfig::new(0.0).min_retries_per_sec(5)).unwrap();
    let result: Result<(), _> = block_on(retry(
        RetryPolicy::new(&b, 0).budget(&budget),
        &t,
        &t,
        |_| ready(Err("down")),
        always,
    ));
    assert_eq!(
        result.unwrap_err(),
        RetryError::Failed {
            error: "down",
            attempts: 2,
            stop: StopReason::MaxAttempts
        }
    );
    let s = budget.snapshot(t.now());
    assert_eq!((s.retries_allowed, s.retries_refused), (1, 0));
}

#[test]
fn a_breaker_like_refusal_inside_the_operation_is_retried_after_its_retry_after() {
    // A stand-in for a breaker: refuses until 250 ms, saying when it will admit.
    #[derive(Debug, PartialEq)]
    enum CallError {
        Refused(Rejected),
    }
    let t = FakeTime::new();
    let b = backoff(BackoffConfig::constant(ms(10)).max_attempts(5));
    let open_until = ms(250);
    let result = block_on(retry(
        RetryPolicy::new(&b, 0),
        &t,
        &t,
        |attempt| {
            let now = t.now();
            ready(if now < open_until {
                Err(CallError::Refused(Rejected::new(
                    Reason::BreakerOpen,
                    Some(open_until - now),
                )))
            } else {
                Ok(attempt)
            })
        },
        |e: &CallError| match e {
            CallError::Refused(r) => r.retry_after.map_or(Retryable::No, Retryable::After),
        },
    ));
    assert_eq!(result, Ok(2));
    assert_eq!(t.sleeps(), [ms(250)]);
}

#[test]
fn jitter_follows_the_policy_seed() {
    let b = backoff(
        BackoffConfig::exponential(ms(100), 2.0)
            .jitter(Jitter::Full)
            .max_attempts(6),
    );
    let run = |seed| {
        let t = FakeTime::new();
        let _: Result<(), _> = block_on(retry(
            RetryPolicy::new(&b, seed),
            &t,
            &t,
            |_| ready(Err("x")),
            always,
        ));
        t.sleeps()
    };
    let waits = run(77);
    assert_eq!(waits, run(77));
    assert_ne!(waits, run(78));
    let pure: Vec<Nanos> = (0..5).map(|n| b.delay(n, 77).unwrap()).collect();
    assert_eq!(waits, pure);
}

#[test]
fn zero_waits_still_go_through_the_sleeper() {
    let t = FakeTime::new();
    let b = backoff(BackoffConfig::constant(Nanos::ZERO).max_attempts(3));
    let _: Result<(), _> = block_on(retry(
        RetryPolicy::new(&b, 0),
        &t,
        &t,
        |_| ready(Err("x")),
        always,
    ));
    assert_eq!(t.sleeps(), [Nanos::ZERO, Nanos::ZERO]);
}

#[test]
fn closures_serve_as_clock_and_sleeper() {
    let now = Cell::new(Nanos::ZERO);
    let clock = || now.get();
    let sleeper = |wait: Nanos| {
        now.set(now.get() + wait);
        ready(())
    };
    let b = backoff(BackoffConfig::constant(ms(5)));
    let result = block_on(retry(
        RetryPolicy::new(&b, 0),
        &clock,
        &sleeper,
        |attempt| ready(if attempt == 1 { Err("x") } else { Ok(()) }),
        always,
    ));
    assert_eq!(result, Ok(()));
    assert_eq!(now.get(), ms(5));
}

#[test]
fn the_retry_future_is_send_when_its_parts_are() {
    fn assert_send<T: Send>(_: &T) {}
    static BACKOFF: Backoff = match Backoff::new(BackoffConfig::constant(Nanos::ZERO)) {
        Ok(b) => b,
        Err(_) => panic!(),
    };
    let clock = || Nanos::ZERO;
    let sleeper = |_: Nanos| ready(());
    let future = retry(
        RetryPolicy::new(&BACKOFF, 0),
        &clock,
        &sleeper,
        |_| ready(Ok::<(), ()>(())),
        |_: &()| Retryable::No,
    );
    assert_send(&future);
}

#[test]
fn retry_errors_display_and_expose_the_source() {
    use core::error::Error as _;
    let e: RetryError<core::fmt::Error> = RetryError::Failed {
        error: core::fmt::Error,
        attempts: 2,
        stop: StopReason::BudgetExhausted(Rejected::new(Reason::RetryBudgetExhausted, None)),
    };
    assert_eq!(
        e.to_string(),
        "gave up after 2 attempts (retry_budget_exhausted): an error occurred when formatting an argument"
    );
    assert!(e.source().is_some());
    let e: RetryError<core::fmt::Error> = RetryError::DeadlineExpired;
    assert!(e.source().is_none());
    assert_eq!(e.to_string(), "deadline expired before the first attempt");
}

// ---- tokio, with paused time ----

#[tokio::test(start_paused = true)]
async fn tokio_sleeps_the_backoff_on_its_own_timer() {
    let origin = tokio::time::Instant::now();
    let clock = move || Nanos::from_duration(origin.elapsed());
    let sleeper = |wait: Nanos| tokio::time::sleep(wait.as_duration());
    let b = backoff(BackoffConfig::exponential(ms(100), 2.0).max_attempts(4));
    let result = retry(
        RetryPolicy::new(&b, 0),
        &clock,
        &sleeper,
        |attempt| async move {
            tokio::task::yield_now().await;
            if attempt < 4 {
                Err("busy")
            } else {
                Ok(attempt)
            }
        },
        always,
    )
    .await;
    assert_eq!(result, Ok(4));
    // 100 + 200 + 400 ms of virtual time; tokio's timer rounds up to whole milliseconds.
    let elapsed = clock();
    assert!(elapsed >= ms(700) && elapsed <= ms(703), "{elapsed:?}");
}

#[tokio::test(start_paused = true)]
async fn tokio_respects_the_deadline_and_the_budget() {
    let origin = tokio::time::Instant::now();
    let clock = move || Nanos::from_duration(origin.elapsed());
    let sleeper = |wait: Nanos| tokio::time::sleep(wait.as_duration());
    let b = backoff(BackoffConfig::constant(ms(100)).unlimited_attempts());
    let budget = RetryBudget::new(RetryBudgetConfig::new(0.1).min_retries_per_sec(100)).unwrap();
    let result: Result<(), _> = retry(
        RetryPolicy::new(&b, 0)
            .budget(&budget)
            .deadline(Deadline::after(clock(), Nanos::from_secs(1))),
        &clock,
        &sleeper,
        |_| async { Err("down") },
        always,
    )
    .await;
    let error = result.unwrap_err();
    assert!(
        matches!(
            error,
            RetryError::Failed {
                stop: StopReason::Deadline,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(clock() < Nanos::from_secs(1));
}
