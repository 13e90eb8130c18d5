#![cfg_attr(not(shuttle), allow(missing_docs))]
#![cfg(shuttle)]
//! The circuit breaker under shuttle's random schedules, over longer histories than the loom
//! models: threads on one shared clock acquire, record every outcome, release, and (in the
//! second test) force, disable, reset and reconfigure it, and the hard guarantees are checked
//! as they go and at the end:
//!
//! - half-open never holds more probes than `half_open_probes`;
//! - every transition is reported to exactly one caller;
//! - every probe slot comes back, and the breaker is never wedged: once the clock moves past
//!   every deadline, a call is admitted again.
//!
//! Run with `RUSTFLAGS="--cfg shuttle" CARGO_TARGET_DIR=target/shuttle cargo test -p stanchion
//! --release --test shuttle_breaker`.

mod shuttle_support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use shuttle::sync::Mutex;
use shuttle_support::{explore, rng, spawn_all, Rng};
use stanchion::breaker::{
    BreakerConfig, CircuitBreaker, Outcome, RawPermit, State, Transition, Window,
};
use stanchion::Nanos;

const THREADS: usize = 3;
const STEPS: usize = 30;
const PROBES: u32 = 2;
const OPEN_FOR: u64 = 20;
const PROBE_TIMEOUT: u64 = 15;

/// A clock all threads read and push forward a little: a thread that is descheduled between
/// reading it and using it acts with an older `now`, as real threads do.
struct Clock(AtomicU64);

impl Clock {
    fn tick(&self, rng: &mut impl Rng) -> Nanos {
        Nanos::new(self.0.fetch_add(rng.gen_range(0..4), Ordering::SeqCst))
    }
}

fn outcome(rng: &mut impl Rng) -> Outcome {
    match rng.gen_range(0..6) {
        0..=2 => Outcome::Failure,
        3 | 4 => Outcome::Success,
        _ => Outcome::Ignored,
    }
}

/// Probes held per generation, as the threads that hold them count them: a probe counts from
/// just after its admission to just before its report, inside the span the breaker holds it,
/// so a count above the bound is a real breach.
#[derive(Default)]
struct Held(Mutex<BTreeMap<u32, u32>>);

impl Held {
    fn take(&self, generation: u32) {
        let mut held = self.0.lock().unwrap();
        let count = held.entry(generation).or_default();
        *count += 1;
        assert!(
            *count <= PROBES,
            "{count} probes held at once in generation {generation}"
        );
    }

    fn give(&self, generation: u32) {
        let mut held = self.0.lock().unwrap();
        *held.get_mut(&generation).unwrap() -= 1;
    }
}

/// A breaker that never closes (its probes never reach the successes it needs), so every
/// admission is a half-open probe and the probe bound is checked on each one.
#[test]
fn half_open_never_holds_more_probes_than_allowed() {
    explore(200, || {
        let config = BreakerConfig::new()
            .failure_count(Some(1))
            .window(Window::Count(8))
            .open_for(Nanos::new(OPEN_FOR))
            .probe_timeout(Some(Nanos::new(PROBE_TIMEOUT)))
            .half_open(PROBES, Some(1_000));
        let b = Arc::new(CircuitBreaker::<1>::new(config).unwrap());
        b.try_acquire(Nanos::ZERO)
            .unwrap()
            .record(Outcome::Failure, Nanos::ZERO);
        let clock = Arc::new(Clock(AtomicU64::new(OPEN_FOR)));
        let held = Arc::new(Held::default());
        let (shared, clock2, held2) = (b.clone(), clock.clone(), held.clone());
        let reported = spawn_all(THREADS, move |_| {
            let mut rng = rng();
            let mut mine: Vec<RawPermit> = Vec::new();
            let mut transitions = 0u64;
            for _ in 0..STEPS {
                let now = clock2.tick(&mut rng);
                if mine.is_empty() || rng.gen_bool(0.5) {
                    let (admitted, t) = shared.try_acquire_raw(now);
                    transitions += u64::from(t.is_some());
                    if let Ok(permit) = admitted {
                        held2.take(permit.generation());
                        mine.push(permit);
                    }
                } else {
                    let permit = mine.swap_remove(rng.gen_range(0..mine.len()));
                    held2.give(permit.generation());
                    let t = if rng.gen_bool(0.2) {
                        shared.release_raw(permit, now)
                    } else {
                        shared.record_raw(permit, outcome(&mut rng), now)
                    };
                    transitions += u64::from(t.is_some());
                }
            }
            let now = clock2.tick(&mut rng);
            for permit in mine {
                held2.give(permit.generation());
                transitions += u64::from(shared.release_raw(permit, now).is_some());
            }
            transitions
        });
        let end = Nanos::new(clock.0.load(Ordering::SeqCst));
        let snap = b.snapshot(end);
        assert_eq!(snap.probes_in_flight, 0, "a probe slot was never freed");
        assert_eq!(
            1 + reported.iter().sum::<u64>(),
            snap.transitions,
            "a transition was reported twice or never"
        );
        assert_ne!(snap.state, State::Closed);
        // Past every deadline a probe goes through: nothing is wedged.
        let later = end + Nanos::new(OPEN_FOR + PROBE_TIMEOUT);
        assert!(b.try_acquire_raw(later).0.is_ok(), "wedged in {snap:?}");
    });
}

/// Everything at once: calls, overrides and reconfigures. Whatever the schedule, each
/// transition reaches one caller, no slot is lost, and after a reset the breaker admits.
#[test]
fn operators_racing_callers_lose_nothing() {
    explore(200, || {
        let config = BreakerConfig::new()
            .failure_count(Some(3))
            .consecutive_failures(Some(2))
            .window(Window::Count(8))
            .open_for(Nanos::new(OPEN_FOR))
            .probe_timeout(Some(Nanos::new(PROBE_TIMEOUT)))
            .half_open(PROBES, Some(PROBES));
        let b = Arc::new(CircuitBreaker::<1>::new(config).unwrap());
        let clock = Arc::new(Clock(AtomicU64::new(0)));
        let (shared, clock2) = (b.clone(), clock.clone());
        let reported = spawn_all(THREADS, move |index| {
            let mut rng = rng();
            let mut mine: Vec<RawPermit> = Vec::new();
            let mut transitions = 0u64;
            let mut count = |t: Option<Transition>| transitions += u64::from(t.is_some());
            for _ in 0..STEPS {
                let now = clock2.tick(&mut rng);
                match rng.gen_range(0..20) {
                    0 if index == 0 => count(shared.force_open(now)),
                    1 if index == 0 => count(shared.disable(now)),
                    2 if index == 0 => count(shared.reset(now)),
                    3 if index == 1 => {
                        let probes = rng.gen_range(1..=PROBES);
                        let c = shared.config().half_open(probes, Some(probes));
                        // Another reconfigure half done is the only refusal.
                        let _ = shared.reconfigure(c, now);
                    }
                    4..=11 => {
                        let (admitted, t) = shared.try_acquire_raw(now);
                        count(t);
                        mine.extend(admitted.ok());
                    }
                    _ if !mine.is_empty() => {
                        let permit = mine.swap_remove(rng.gen_range(0..mine.len()));
                        count(shared.record_raw(permit, outcome(&mut rng), now));
                    }
                    _ => {}
                }
            }
            let now = clock2.tick(&mut rng);
            for permit in mine {
                count(shared.release_raw(permit, now));
            }
            transitions
        });
        let end = Nanos::new(clock.0.load(Ordering::SeqCst));
        let snap = b.snapshot(end);
        assert_eq!(snap.probes_in_flight, 0, "a probe slot was never freed");
        assert_eq!(
            reported.iter().sum::<u64>(),
            snap.transitions,
            "a transition was reported twice or never"
        );
        b.reset(end);
        assert!(b.try_acquire_raw(end).0.is_ok());
        assert_eq!(b.snapshot(end).window_calls, 0);
    });
}
