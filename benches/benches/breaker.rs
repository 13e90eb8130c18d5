//! Circuit breaker hot paths against failsafe and the floor.
//!
//! - `breaker_closed`: one admitted call reported as a success (acquire + record), the path
//!   every call takes while the service is healthy. failsafe's equivalent is `call` with a
//!   closure that succeeds (`is_call_permitted` + `on_success`).
//! - `breaker_open`: one call refused by an open breaker.
//!
//! stanchion takes `now` from its caller; failsafe reads `Instant::now` itself. So stanchion
//! runs twice: `*_now_given` (the caller already has a time, which advances 1 ns per call) and
//! `*_instant` (a fresh `Instant` read for every `now` the call needs: two on the closed path,
//! at acquire and at record, as a caller that measures call durations would; one when open).
//! failsafe's default policy also reads `Instant::now` twice per successful call (its moving
//! average and its windowed counter) and once per refusal; its consecutive-failures policy
//! reads no clock on success.
//!
//! Default policies on both sides: stanchion's `BreakerConfig::new()` (5 failures in a 10 s
//! window of 10 buckets) and failsafe's `Config::new()` (success rate over 30 s, or 5
//! consecutive failures). `*_consecutive` runs a consecutive-failures policy (5 in a row) on
//! both sides.

use core::hint::black_box;
use core::time::Duration;

use criterion::Criterion;
use failsafe::{backoff, failure_policy, CircuitBreaker as _, Config};
use stanchion::breaker::{BreakerConfig, CircuitBreaker, Outcome};
use stanchion::Nanos;
use stanchion_benches::{bench_threads, Floor, InstantClock, FLOOR, THREADS};

/// The failsafe open period used by the consecutive policy: the same 10 s to 300 s equal
/// jittered backoff as its default.
fn failsafe_backoff() -> backoff::EqualJittered {
    backoff::equal_jittered(Duration::from_secs(10), Duration::from_secs(300))
}

fn ours(config: BreakerConfig) -> CircuitBreaker {
    CircuitBreaker::new(config).expect("valid breaker config")
}

fn closed(c: &mut Criterion) {
    let mut group = c.benchmark_group("breaker_closed");
    for threads in THREADS {
        let floor = Floor::default();
        bench_threads(&mut group, FLOOR, threads, |_, _| {
            black_box(floor.op());
        });

        let breaker = ours(BreakerConfig::new());
        bench_threads(&mut group, "stanchion_now_given", threads, |_, i| {
            let now = Nanos::new(i);
            let permit = breaker.try_acquire(now).unwrap();
            black_box(permit.record(Outcome::Success, now));
        });

        let breaker = ours(BreakerConfig::new());
        bench_threads(&mut group, "stanchion_raw_now_given", threads, |_, i| {
            let now = Nanos::new(i);
            let (permit, _) = breaker.try_acquire_raw(now);
            black_box(breaker.record_raw(permit.unwrap(), Outcome::Success, now));
        });

        let breaker = ours(BreakerConfig::new());
        let clock = InstantClock::new();
        bench_threads(&mut group, "stanchion_instant", threads, |_, _| {
            let permit = breaker.try_acquire(clock.now()).unwrap();
            black_box(permit.record(Outcome::Success, clock.now()));
        });

        let breaker = ours(
            BreakerConfig::new()
                .failure_count(None)
                .consecutive_failures(Some(5)),
        );
        bench_threads(
            &mut group,
            "stanchion_consecutive_now_given",
            threads,
            |_, i| {
                let now = Nanos::new(i);
                let permit = breaker.try_acquire(now).unwrap();
                black_box(permit.record(Outcome::Success, now));
            },
        );

        let failsafe = Config::new().build();
        bench_threads(&mut group, "failsafe_default", threads, |_, _| {
            black_box(failsafe.call(|| Ok::<(), ()>(())).is_ok());
        });

        let failsafe = Config::new()
            .failure_policy(failure_policy::consecutive_failures(5, failsafe_backoff()))
            .build();
        bench_threads(&mut group, "failsafe_consecutive", threads, |_, _| {
            black_box(failsafe.call(|| Ok::<(), ()>(())).is_ok());
        });
    }
    group.finish();
}

/// Far longer than any run, so the breakers stay open throughout.
const OPEN_FOR: Duration = Duration::from_secs(3600);

fn tripped(now: Nanos) -> CircuitBreaker {
    let breaker = ours(BreakerConfig::new().open_for(Nanos::from_duration(OPEN_FOR)));
    while breaker.try_acquire(now).is_ok_and(|permit| {
        permit.record(Outcome::Failure, now);
        true
    }) {}
    breaker
}

fn open(c: &mut Criterion) {
    let mut group = c.benchmark_group("breaker_open");
    for threads in THREADS {
        let floor = Floor::default();
        bench_threads(&mut group, FLOOR, threads, |_, _| {
            black_box(floor.op());
        });

        let breaker = tripped(Nanos::ZERO);
        bench_threads(&mut group, "stanchion_now_given", threads, |_, i| {
            black_box(breaker.try_acquire(Nanos::new(i)).is_err());
        });

        let clock = InstantClock::new();
        let breaker = tripped(clock.now());
        bench_threads(&mut group, "stanchion_instant", threads, |_, _| {
            black_box(breaker.try_acquire(clock.now()).is_err());
        });

        // One failure opens it for an hour: the refusal path is the same for every policy.
        let failsafe = Config::new()
            .failure_policy(failure_policy::consecutive_failures(
                1,
                backoff::constant(OPEN_FOR),
            ))
            .build();
        let _ = failsafe.call(|| Err::<(), ()>(()));
        assert!(
            !failsafe.is_call_permitted(),
            "failsafe breaker should be open"
        );
        bench_threads(&mut group, "failsafe", threads, |_, _| {
            black_box(failsafe.call(|| Ok::<(), ()>(())).is_err());
        });
    }
    group.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    closed(&mut c);
    open(&mut c);
    c.final_summary();
}
