#![cfg_attr(not(shuttle), allow(missing_docs))]
#![cfg(shuttle)]
//! The adaptive limiter under shuttle's random schedules: four threads each run dozens of
//! random operations on one limiter whose windows close every two samples (`try_acquire`, the
//! `acquire` future awaited, or polled once and dropped, permits recorded with every outcome,
//! dropped or released raw), on a shared fake clock that each operation moves on. Checked
//! after every step and at the end:
//!
//! - never more permits out than `max_limit`, and no admission saw more in flight than the
//!   highest limit the updates ever set;
//! - the limit changes the records report form one chain from the initial limit to the final
//!   one, each value left as often as it was reached: an update lost, applied twice or applied
//!   to a stale limit would break the chain; and no more changes than windows closed;
//! - every permit given back exactly once, every wake-up delivered (a lost one leaves a thread
//!   parked, which shuttle reports as a deadlock), and the counts back to zero.
//!
//! Run with `RUSTFLAGS="--cfg shuttle" CARGO_TARGET_DIR=target/shuttle cargo test -p stanchion
//! --release --test shuttle_adaptive`.

mod shuttle_support;

use core::task::Poll;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use shuttle::sync::atomic::{AtomicU64, Ordering};
use shuttle_support::{explore, poll_once, rng, spawn_all, wait_for, Rng};
use stanchion::adaptive::{
    AdaptiveConfig, AdaptiveLimiter, LimitChange, Outcome, Permit, RawPermit,
};
use stanchion::{Nanos, Reason, Rejected};

const MIN_LIMIT: u32 = 1;
const INITIAL_LIMIT: u32 = 2;
const MAX_LIMIT: u32 = 4;
const WAITERS: usize = 4;
const THREADS: usize = 4;
const OPS: usize = 24;
/// Limit changes seen over every schedule (outside shuttle's model): the histories must move
/// the limit, or the chain check would check nothing.
static CHANGES_SEEN: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

const OUTCOMES: [Outcome; 4] = [
    Outcome::Success,
    Outcome::Failure,
    Outcome::Ignored,
    Outcome::Dropped,
];

/// What the threads share besides the limiter.
struct Shared {
    limiter: AdaptiveLimiter<WAITERS>,
    /// The fake clock, in nanoseconds.
    now: AtomicU64,
    /// Permits the threads hold: counted after a permit is taken, uncounted before it goes back,
    /// so the count never exceeds what is really out.
    held: AtomicU64,
    refused: AtomicU64,
    /// The highest in-flight count an admission saw.
    admitted_in_flight: AtomicU64,
    /// Every limit change a record reported.
    changes: Mutex<Vec<LimitChange>>,
}

impl Shared {
    fn new() -> Shared {
        let config = AdaptiveConfig::new()
            .limits(MIN_LIMIT, INITIAL_LIMIT, MAX_LIMIT)
            .window(Nanos::ZERO, 2)
            .max_waiting(WAITERS as u32);
        Shared {
            limiter: AdaptiveLimiter::new(config).unwrap(),
            now: AtomicU64::new(1_000_000),
            held: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            admitted_in_flight: AtomicU64::new(0),
            changes: Mutex::new(Vec::new()),
        }
    }

    /// Moves the clock on by up to 3 ms and answers the new time.
    fn tick(&self, rng: &mut impl Rng) -> Nanos {
        let step = rng.gen_range(0..3_000_000);
        Nanos::new(self.now.fetch_add(step, Ordering::SeqCst) + step)
    }

    fn clock(&self) -> Nanos {
        Nanos::new(self.now.load(Ordering::SeqCst))
    }

    fn took(&self, permit: &Permit<'_, WAITERS>) {
        let held = self.held.fetch_add(1, Ordering::SeqCst) + 1;
        assert!(held <= u64::from(MAX_LIMIT), "{held} permits out");
        assert!(permit.in_flight() >= 1 && permit.in_flight() <= MAX_LIMIT);
        self.admitted_in_flight
            .fetch_max(u64::from(permit.in_flight()), Ordering::SeqCst);
    }

    fn giving_back(&self) {
        let before = self.held.fetch_sub(1, Ordering::SeqCst);
        assert!(before > 0, "a permit given back twice");
    }

    fn refused(&self, refused: Rejected, allowed: Reason) {
        assert_eq!(refused.reason, allowed, "{refused:?}");
        assert_eq!(refused.retry_after, None, "{refused:?}");
        self.refused.fetch_add(1, Ordering::SeqCst);
    }

    fn changed(&self, change: Option<LimitChange>) {
        if let Some(change) = change {
            assert_ne!(change.from, change.to, "{change:?}");
            for limit in [change.from, change.to] {
                assert!((MIN_LIMIT..=MAX_LIMIT).contains(&limit), "{change:?}");
            }
            self.changes.lock().unwrap().push(change);
        }
    }

    fn check_snapshot(&self) {
        let snapshot = self.limiter.snapshot();
        assert!(
            (MIN_LIMIT..=MAX_LIMIT).contains(&snapshot.limit),
            "{snapshot:?}"
        );
        assert!(snapshot.in_flight <= MAX_LIMIT, "{snapshot:?}");
        assert!(snapshot.waiting <= WAITERS as u32, "{snapshot:?}");
    }
}

/// A permit a thread holds: the guard, or the raw value a binding would keep.
enum Held<'a> {
    Guard(Permit<'a, WAITERS>),
    Raw(RawPermit),
}

fn keep<'a>(shared: &Shared, permit: Permit<'a, WAITERS>, raw: bool, holding: &mut Vec<Held<'a>>) {
    shared.took(&permit);
    holding.push(if raw {
        Held::Raw(permit.into_raw())
    } else {
        Held::Guard(permit)
    });
}

/// Gives a permit back exactly once, with an outcome or none (a drop, a raw release).
fn give_back(shared: &Shared, held: Held<'_>, rng: &mut impl Rng) {
    let outcome = match rng.gen_range(0..5) {
        4 => None,
        n => Some(OUTCOMES[n]),
    };
    let now = shared.tick(rng);
    shared.giving_back();
    match (held, outcome) {
        (Held::Guard(permit), Some(outcome)) => shared.changed(permit.record(outcome, now)),
        (Held::Guard(permit), None) => drop(permit),
        (Held::Raw(mut raw), Some(outcome)) => {
            shared.changed(shared.limiter.record_raw(&mut raw, outcome, now));
            assert_eq!(shared.limiter.record_raw(&mut raw, outcome, now), None);
            assert!(
                !shared.limiter.release(&mut raw),
                "released after its record"
            );
        }
        (Held::Raw(mut raw), None) => {
            assert!(
                shared.limiter.release(&mut raw),
                "a held permit was not released"
            );
            assert!(!shared.limiter.release(&mut raw), "released twice");
        }
    }
}

fn run(shared: &Shared) {
    let mut rng = rng();
    let mut holding: Vec<Held<'_>> = Vec::new();
    let clock = || shared.clock();
    for _ in 0..OPS {
        let raw = rng.gen_bool(0.5);
        match rng.gen_range(0..6) {
            0 | 1 => match shared.limiter.try_acquire(shared.tick(&mut rng)) {
                Ok(permit) => keep(shared, permit, raw, &mut holding),
                Err(refused) => shared.refused(refused, Reason::BulkheadFull),
            },
            // Wait in the queue only holding nothing: a waiter holding permits could wait for
            // itself.
            2 if holding.is_empty() => match wait_for(shared.limiter.acquire(&clock)) {
                Ok(permit) => keep(shared, permit, raw, &mut holding),
                Err(refused) => shared.refused(refused, Reason::QueueFull),
            },
            // Queue and give up after one poll: the queue must come out clean, and a permit
            // handed over meanwhile must go on to the next waiter.
            3 => {
                let mut waiting = shared.limiter.acquire(&clock);
                match poll_once(&mut waiting) {
                    Poll::Ready(Ok(permit)) => keep(shared, permit, raw, &mut holding),
                    Poll::Ready(Err(refused)) => shared.refused(refused, Reason::QueueFull),
                    Poll::Pending => {}
                }
                if rng.gen_bool(0.5) {
                    shuttle::thread::yield_now();
                }
                drop(waiting);
            }
            _ => {
                if !holding.is_empty() {
                    let which = rng.gen_range(0..holding.len());
                    give_back(shared, holding.swap_remove(which), &mut rng);
                }
            }
        }
        shared.check_snapshot();
    }
    for held in holding {
        give_back(shared, held, &mut rng);
    }
}

/// Checks that `changes` chain from `initial` to `last`: every limit is left as often as it
/// is reached, except that the chain leaves `initial` once more and reaches `last` once more.
fn assert_one_chain(changes: &[LimitChange], initial: u32, last: u32) {
    let mut balance: BTreeMap<u32, i64> = BTreeMap::new();
    for change in changes {
        *balance.entry(change.from).or_default() += 1;
        *balance.entry(change.to).or_default() -= 1;
    }
    if initial != last {
        *balance.entry(initial).or_default() -= 1;
        *balance.entry(last).or_default() += 1;
    }
    assert!(
        balance.values().all(|&b| b == 0),
        "the changes {changes:?} do not chain from {initial} to {last}: {balance:?}"
    );
}

#[test]
fn random_histories_keep_the_bound_and_chain_every_update() {
    explore(6000, || {
        let shared = Arc::new(Shared::new());
        {
            let shared = Arc::clone(&shared);
            spawn_all(THREADS, move |_| run(&shared));
        }
        let snapshot = shared.limiter.snapshot();
        assert_eq!(
            (snapshot.in_flight, snapshot.waiting),
            (0, 0),
            "{snapshot:?}"
        );
        assert_eq!(shared.held.load(Ordering::SeqCst), 0);
        assert_eq!(snapshot.rejected, shared.refused.load(Ordering::SeqCst));
        let changes = shared.changes.lock().unwrap().clone();
        CHANGES_SEEN.fetch_add(changes.len() as u64, std::sync::atomic::Ordering::Relaxed);
        assert!(changes.len() as u64 <= snapshot.windows, "{snapshot:?}");
        assert_one_chain(&changes, INITIAL_LIMIT, snapshot.limit);
        // No admission saw more in flight than the highest limit ever in force.
        let highest = changes
            .iter()
            .map(|c| c.to)
            .chain([INITIAL_LIMIT])
            .max()
            .unwrap_or(INITIAL_LIMIT);
        let admitted = shared.admitted_in_flight.load(Ordering::SeqCst);
        assert!(
            admitted <= u64::from(highest),
            "an admission saw {admitted} in flight; the limit never rose past {highest}"
        );
        // Everything given back: the whole limit is free again, and no more.
        let all: Vec<_> = (0..snapshot.limit)
            .map(|_| shared.limiter.try_acquire(shared.clock()).unwrap())
            .collect();
        assert!(shared.limiter.try_acquire(shared.clock()).is_err());
        drop(all);
        assert_eq!(shared.limiter.snapshot().in_flight, 0);
    });
    assert!(CHANGES_SEEN.load(std::sync::atomic::Ordering::Relaxed) > 1000);
}
