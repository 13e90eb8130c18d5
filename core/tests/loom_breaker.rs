//! Model-checked invariants of the circuit breaker under every interleaving loom explores.
//!
//! Run: `RUSTFLAGS="--cfg loom" cargo test -p stanchion --release --test loom_breaker`
#![cfg(loom)]

use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;
use stanchion::breaker::{BreakerConfig, CircuitBreaker, Outcome, State};
use stanchion::Nanos;

/// Bounded preemptions keep the search to seconds; bugs in CAS protocols show up within two
/// (the loom docs' advice), and every operation here is short.
fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(2);
    builder.check(f);
}

fn tripped(probes: u32) -> Arc<CircuitBreaker<1>> {
    let config = BreakerConfig::new()
        .failure_count(Some(1))
        .window(stanchion::breaker::Window::Count(4))
        .open_for(Nanos::new(10))
        .half_open(probes, Some(probes));
    let b = CircuitBreaker::<1>::new(config).unwrap();
    b.try_acquire(Nanos::ZERO)
        .unwrap()
        .record(Outcome::Failure, Nanos::ZERO);
    assert_eq!(b.state(), State::Open);
    Arc::new(b)
}

/// Half-open never has more probes in flight than `half_open_probes`.
#[test]
fn half_open_admits_at_most_the_configured_probes() {
    model(|| {
        let b = tripped(1);
        let in_flight = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let b = b.clone();
                let in_flight = in_flight.clone();
                thread::spawn(move || {
                    if let Ok(permit) = b.try_acquire(Nanos::new(10)) {
                        let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                        assert!(now <= 1, "two probes in flight");
                        in_flight.fetch_sub(1, Ordering::SeqCst);
                        permit.release(Nanos::new(10));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(b.snapshot(Nanos::new(10)).probes_in_flight, 0);
    });
}

/// Two racing failures trip the breaker once: exactly one caller is told of the transition.
#[test]
fn a_trip_is_reported_exactly_once() {
    model(|| {
        let config = BreakerConfig::new()
            .failure_count(Some(1))
            .window(stanchion::breaker::Window::Count(4));
        let b = Arc::new(CircuitBreaker::<1>::new(config).unwrap());
        let reported = Arc::new(AtomicUsize::new(0));
        let permits: Vec<_> = (0..2)
            .map(|_| b.try_acquire_raw(Nanos::ZERO).0.unwrap())
            .collect();
        let threads: Vec<_> = permits
            .into_iter()
            .map(|permit| {
                let b = b.clone();
                let reported = reported.clone();
                thread::spawn(move || {
                    if b.record_raw(permit, Outcome::Failure, Nanos::new(1))
                        .is_some()
                    {
                        reported.fetch_add(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(reported.load(Ordering::SeqCst), 1);
        assert_eq!(b.state(), State::Open);
    });
}
