//! Model-checked races of the circuit breaker: an admission against a report, a report against
//! a lease expiry, a trip against a close, an override against a record, and `reconfigure`
//! against all of them. Each model asserts a hard guarantee of the contract under every
//! interleaving loom explores (within its preemption bound):
//!
//! - the deadline in force belongs to the transition that set it: no other thread shortens it;
//! - a healthy probe is never declared lost;
//! - a breaker that closes starts from an empty window;
//! - a probe slot is freed exactly once, and half-open never holds more probes than allowed;
//! - a reader never acts on a config half old and half new.
//!
//! The first three models reproduce races found by pausing threads at chosen points; each
//! failed on the code before the fix.
//!
//! Run: `RUSTFLAGS="--cfg loom" cargo test -p stanchion --release --test loom_breaker_races`
#![cfg(loom)]

use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;
use stanchion::breaker::{BreakerConfig, CircuitBreaker, Outcome, State, Transition, Window};
use stanchion::Nanos;

/// Runs `f` under every interleaving loom explores, and fails unless it explored more than one:
/// loom finds an order only from a conflict it has seen, so a model that never races runs once.
fn model(f: impl Fn() + Sync + Send + 'static) {
    let runs = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(2);
    let counter = runs.clone();
    builder.check(move || {
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        f();
    });
    let runs = runs.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        runs > 1,
        "the model ran one interleaving only: nothing raced"
    );
}

fn ns(n: u64) -> Nanos {
    Nanos::new(n)
}

/// A breaker tripped at 0 by one failure, open until `open_for`.
fn tripped(config: BreakerConfig) -> CircuitBreaker<1> {
    let b =
        CircuitBreaker::<1>::new(config.failure_count(Some(1)).window(Window::Count(8))).unwrap();
    b.try_acquire(Nanos::ZERO)
        .unwrap()
        .record(Outcome::Failure, Nanos::ZERO);
    assert_eq!(b.state(), State::Open);
    b
}

/// Race 1: a thread that decided on an old state must not overwrite the deadline that the
/// winner of a later transition set. B decides to take the probe at 30 while A takes it and
/// fails it, opening the breaker until 60; whatever B does, the open period in force is A's.
#[test]
fn a_losing_thread_never_changes_the_deadline_in_force() {
    model(|| {
        let b = Arc::new(tripped(
            BreakerConfig::new()
                .open_for(ns(30))
                .probe_timeout(Some(ns(1))),
        ));
        let other = {
            let b = b.clone();
            thread::spawn(move || {
                if let Ok(p) = b.try_acquire(ns(30)) {
                    p.record(Outcome::Failure, ns(30));
                }
            })
        };
        if let Ok(p) = b.try_acquire(ns(30)) {
            p.record(Outcome::Failure, ns(30));
        }
        other.join().unwrap();
        let snap = b.snapshot(ns(30));
        assert_eq!(snap.state, State::Open);
        assert_eq!(
            snap.open_until,
            Some(ns(60)),
            "the open period was cut short"
        );
        // And it holds: nothing is admitted before 60.
        assert!(b.try_acquire(ns(59)).is_err());
    });
}

/// Race 2: a report that moves the lease to the newest probe must see every probe admitted
/// before it. P1 (admitted at 10, lease to 70) reports while P2 is admitted at 69; P2's lease
/// runs to 129, so its success at 70 counts and closes the breaker.
#[test]
fn a_healthy_probe_is_never_declared_lost() {
    model(|| {
        let b = Arc::new(tripped(
            BreakerConfig::new()
                .open_for(ns(10))
                .probe_timeout(Some(ns(60)))
                .half_open(2, Some(2)),
        ));
        let p1 = b.try_acquire_raw(ns(10)).0.unwrap();
        let second = {
            let b = b.clone();
            thread::spawn(move || b.try_acquire_raw(ns(69)).0.unwrap())
        };
        b.record_raw(p1, Outcome::Success, ns(69));
        let p2 = second.join().unwrap();
        let t = b.record_raw(p2, Outcome::Success, ns(70));
        assert_eq!(
            t,
            Some(Transition {
                from: State::HalfOpen,
                to: State::Closed
            }),
            "the second probe's success was taken as stale"
        );
    });
}

/// Race 3: counts from before a trip must not re-trip the breaker once it closes. The probe's
/// success closes the breaker while another thread's call fails right after: one failure is
/// far below the trigger of 3 in the window.
#[test]
fn a_closed_breaker_starts_from_an_empty_window() {
    model(|| {
        let config = BreakerConfig::new()
            .failure_count(Some(3))
            .window(Window::Count(8))
            .open_for(ns(10));
        let b = Arc::new(CircuitBreaker::<1>::new(config).unwrap());
        for _ in 0..3 {
            b.try_acquire(Nanos::ZERO)
                .unwrap()
                .record(Outcome::Failure, Nanos::ZERO);
        }
        let probe = b.try_acquire_raw(ns(10)).0.unwrap();
        let caller = {
            let b = b.clone();
            thread::spawn(move || {
                if let (Ok(p), _) = b.try_acquire_raw(ns(11)) {
                    b.record_raw(p, Outcome::Failure, ns(11));
                }
            })
        };
        b.record_raw(probe, Outcome::Success, ns(11));
        caller.join().unwrap();
        assert_eq!(
            b.state(),
            State::Closed,
            "old counts re-tripped the breaker"
        );
    });
}

/// The same for a streak of failures in a row.
#[test]
fn a_closed_breaker_starts_from_no_streak() {
    model(|| {
        let config = BreakerConfig::new()
            .failure_count(None)
            .consecutive_failures(Some(2))
            .window(Window::Count(8))
            .open_for(ns(10));
        let b = Arc::new(CircuitBreaker::<1>::new(config).unwrap());
        for _ in 0..2 {
            b.try_acquire(Nanos::ZERO)
                .unwrap()
                .record(Outcome::Failure, Nanos::ZERO);
        }
        assert_eq!(b.state(), State::Open);
        let probe = b.try_acquire_raw(ns(10)).0.unwrap();
        let caller = {
            let b = b.clone();
            thread::spawn(move || {
                if let (Ok(p), _) = b.try_acquire_raw(ns(11)) {
                    b.record_raw(p, Outcome::Failure, ns(11));
                }
            })
        };
        b.record_raw(probe, Outcome::Success, ns(11));
        caller.join().unwrap();
        assert_eq!(
            b.state(),
            State::Closed,
            "an old streak re-tripped the breaker"
        );
    });
}

/// A report racing the expiry of its own lease: the probe is either counted (it reported in
/// time) or stale (the lease expired first), never both; the breaker re-opens exactly once
/// and its slot is freed exactly once.
#[test]
fn a_report_and_a_lease_expiry_decide_once() {
    model(|| {
        let b = Arc::new(tripped(
            BreakerConfig::new()
                .open_for(ns(10))
                .probe_timeout(Some(ns(5))),
        ));
        let probe = b.try_acquire_raw(ns(10)).0.unwrap();
        let opened = Arc::new(AtomicUsize::new(0));
        let count = |t: Option<Transition>, opened: &AtomicUsize| {
            if matches!(
                t,
                Some(Transition {
                    to: State::Open,
                    ..
                })
            ) {
                opened.fetch_add(1, Ordering::SeqCst);
            }
        };
        let acquirer = {
            let (b, opened) = (b.clone(), opened.clone());
            thread::spawn(move || {
                let (admitted, t) = b.try_acquire_raw(ns(15));
                count(t, &opened);
                admitted.map(|p| b.release_raw(p, ns(15)))
            })
        };
        count(b.record_raw(probe, Outcome::Failure, ns(15)), &opened);
        if let Ok(t) = acquirer.join().unwrap() {
            count(t, &opened);
        }
        assert_eq!(opened.load(Ordering::SeqCst), 1, "re-opened twice or never");
        let snap = b.snapshot(ns(15));
        assert_eq!(snap.state, State::Open);
        assert_eq!(snap.probes_in_flight, 0);
        assert_eq!(snap.open_until, Some(ns(25)));
    });
}

/// Admissions racing a tripping record: the trip is reported once, a permit of the closed
/// generation is stale afterwards, and the open period is the trip's.
#[test]
fn admissions_racing_a_trip() {
    model(|| {
        let config = BreakerConfig::new()
            .failure_count(Some(1))
            .window(Window::Count(8))
            .open_for(ns(10));
        let b = Arc::new(CircuitBreaker::<1>::new(config).unwrap());
        let first = b.try_acquire_raw(ns(1)).0.unwrap();
        let acquirer = {
            let b = b.clone();
            thread::spawn(move || match b.try_acquire_raw(ns(2)).0 {
                Ok(p) => b.record_raw(p, Outcome::Failure, ns(2)),
                Err(_) => None,
            })
        };
        let mine = b.record_raw(first, Outcome::Failure, ns(1));
        let theirs = acquirer.join().unwrap();
        let trips = [mine, theirs]
            .iter()
            .filter(|t| {
                matches!(
                    t,
                    Some(Transition {
                        to: State::Open,
                        ..
                    })
                )
            })
            .count();
        assert_eq!(trips, 1);
        let snap = b.snapshot(ns(2));
        assert_eq!(snap.state, State::Open);
        let until = snap.open_until.unwrap();
        assert!(until == ns(11) || until == ns(12), "open until {until:?}");
    });
}

/// An operator's reset racing a probe's failure: whatever the order, the breaker ends fresh
/// and closed, with no probe held and an empty window.
#[test]
fn an_override_racing_a_report() {
    model(|| {
        let b = Arc::new(tripped(BreakerConfig::new().open_for(ns(10))));
        let probe = b.try_acquire_raw(ns(10)).0.unwrap();
        let operator = {
            let b = b.clone();
            thread::spawn(move || b.reset(ns(11)))
        };
        b.record_raw(probe, Outcome::Failure, ns(11));
        operator.join().unwrap();
        // Either order ends closed: a report before the reset is wiped by it, and a report
        // after it is stale.
        let snap = b.snapshot(ns(11));
        assert_eq!(snap.state, State::Closed);
        assert_eq!(snap.probes_in_flight, 0);
        assert_eq!(snap.window_calls, 0);
    });
}

/// `reconfigure` racing a record: the record judges by the old config or by the new one,
/// never by a mix. Both configs trip on one failure; a mix of them has no trigger.
#[test]
fn reconfigure_is_never_seen_half_done() {
    model(|| {
        let old = BreakerConfig::new()
            .failure_count(Some(1))
            .window(Window::Count(8));
        let new = old
            .failure_count(None)
            .failure_rate(Some(1.0))
            .minimum_calls(1);
        let b = Arc::new(CircuitBreaker::<1>::new(old).unwrap());
        let permit = b.try_acquire_raw(Nanos::ZERO).0.unwrap();
        let caller = {
            let b = b.clone();
            thread::spawn(move || b.record_raw(permit, Outcome::Failure, ns(1)))
        };
        b.reconfigure(new, Nanos::ZERO).unwrap();
        caller.join().unwrap();
        assert_eq!(
            b.state(),
            State::Open,
            "the failure was judged by a torn config"
        );
    });
}

/// `reconfigure` racing admissions and reports in half-open: the probe bound holds and every
/// slot is freed.
#[test]
fn reconfigure_racing_probes_keeps_the_bound() {
    model(|| {
        let b = Arc::new(tripped(
            BreakerConfig::new().open_for(ns(10)).half_open(1, Some(1)),
        ));
        let caller = {
            let b = b.clone();
            thread::spawn(move || {
                let in_flight = (0..2)
                    .filter_map(|_| b.try_acquire_raw(ns(10)).0.ok())
                    .collect::<Vec<_>>();
                // One probe under the old config; a second only once the new one is in force.
                assert!(!in_flight.is_empty() && in_flight.len() <= 2);
                for p in in_flight {
                    b.release_raw(p, ns(10));
                }
            })
        };
        let c = b.config().half_open(2, Some(1));
        b.reconfigure(c, ns(10)).unwrap();
        caller.join().unwrap();
        assert_eq!(b.snapshot(ns(10)).probes_in_flight, 0);
    });
}

/// A probe that fails while the thread that admitted the first probe is still storing its
/// lease: the breaker re-opens, and the open period in force is a whole one, counted from the
/// time of the race, however the two threads interleave.
#[test]
fn a_failure_while_a_lease_is_being_stored_opens_for_a_whole_period() {
    model(|| {
        let b = Arc::new(tripped(
            BreakerConfig::new()
                .open_for(ns(10))
                .probe_timeout(Some(ns(3)))
                .half_open(2, Some(2)),
        ));
        let first = {
            let b = b.clone();
            thread::spawn(move || b.try_acquire_raw(ns(10)).0.is_ok())
        };
        let second = b.try_acquire_raw(ns(10)).0.unwrap();
        b.record_raw(second, Outcome::Failure, ns(10));
        first.join().unwrap();
        let snap = b.snapshot(ns(10));
        assert_eq!(snap.state, State::Open);
        assert_eq!(snap.open_until, Some(ns(20)));
        assert!(b.try_acquire_raw(ns(19)).0.is_err());
        assert!(b.try_acquire_raw(ns(20)).0.is_ok());
    });
}
