#![cfg_attr(not(shuttle), allow(missing_docs))]
#![cfg(shuttle)]
//! The bulkhead under shuttle's random schedules: four threads each run dozens of random
//! operations (`try_acquire` in every lane and one past them, the `acquire` future awaited,
//! or polled once and dropped, permits dropped or released raw), and the hard guarantees are
//! checked after every step and at the end: never more than `max_concurrent` permits out, no
//! lane past its ceiling, every permit released exactly once, every wake-up delivered (a lost
//! one leaves a waiting thread parked, which shuttle reports as a deadlock), and the counters
//! back to zero.
//!
//! Run with `RUSTFLAGS="--cfg shuttle" CARGO_TARGET_DIR=target/shuttle cargo test -p stanchion
//! --release --test shuttle_bulkhead`.

mod shuttle_support;

use core::task::Poll;
use std::sync::Arc;

use shuttle::sync::atomic::{AtomicU64, Ordering};
use shuttle_support::{explore, poll_once, rng, spawn_all, wait_for, Rng};
use stanchion::bulkhead::{Permit, RawPermit};
use stanchion::{Bulkhead, BulkheadConfig, Reason, Rejected};

const MAX_CONCURRENT: u32 = 3;
/// Lane 0 may fill the bulkhead, lane 1 use two permits, lane 2 one.
const CEILINGS: [u32; 3] = [3, 2, 1];
const WAITERS: usize = 4;
/// One less than the waiter table, so both ways of being refused a place in the queue occur.
const MAX_WAITING: u32 = 3;
const THREADS: usize = 4;
const OPS: usize = 30;

/// What the threads share besides the bulkhead: the permits they hold, counted per lane.
///
/// A thread counts a permit after it has it and uncounts it before it lets go, so no count
/// ever exceeds what is really out: a count past a ceiling is a real breach. The counts share
/// one word, 16 bits a lane, so each change sees all of them at one instant.
struct Shared {
    bulkhead: Bulkhead<WAITERS>,
    held: AtomicU64,
    /// Refusals seen, to match against the bulkhead's rejected total.
    refused: AtomicU64,
}

const LANE_BITS: u32 = 16;

fn one_in(lane: usize) -> u64 {
    1 << (LANE_BITS * lane as u32)
}

fn count_in(counts: u64, lane: usize) -> u32 {
    ((counts >> (LANE_BITS * lane as u32)) & 0xffff) as u32
}

impl Shared {
    fn new() -> Shared {
        let config = BulkheadConfig::new(MAX_CONCURRENT)
            .lanes(&CEILINGS)
            .max_waiting(MAX_WAITING);
        Shared {
            bulkhead: Bulkhead::new(config).unwrap(),
            held: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        }
    }

    /// Counts a permit just taken in `lane` and checks every ceiling: the permits of lane `k`
    /// and the lanes below it (in priority) never number more than lane `k`'s ceiling, since
    /// each was admitted while fewer than its own ceiling were out.
    fn took(&self, lane: usize) {
        let counts = self.held.fetch_add(one_in(lane), Ordering::SeqCst) + one_in(lane);
        let mut below = 0;
        for k in (0..CEILINGS.len()).rev() {
            below += count_in(counts, k);
            assert!(
                below <= CEILINGS[k],
                "{below} permits out in lanes {k} and below, ceiling {}",
                CEILINGS[k]
            );
        }
    }

    fn giving_back(&self, lane: usize) {
        let before = self.held.fetch_sub(one_in(lane), Ordering::SeqCst);
        assert!(
            count_in(before, lane) > 0,
            "a permit of lane {lane} given back twice"
        );
    }

    fn refused(&self, refused: Rejected, allowed: &[Reason]) {
        assert!(allowed.contains(&refused.reason), "{refused:?}");
        assert_eq!(refused.retry_after, None, "{refused:?}");
        self.refused.fetch_add(1, Ordering::SeqCst);
    }

    fn check_snapshot(&self) {
        let snapshot = self.bulkhead.snapshot();
        assert!(snapshot.in_flight <= MAX_CONCURRENT, "{snapshot:?}");
        assert!(snapshot.peak <= MAX_CONCURRENT, "{snapshot:?}");
        assert!(snapshot.waiting <= MAX_WAITING, "{snapshot:?}");
    }
}

/// A permit a thread holds: the guard, or the raw value a binding would keep.
enum Held<'a> {
    Guard(Permit<'a, WAITERS>),
    Raw(RawPermit),
}

impl Held<'_> {
    fn lane(&self) -> usize {
        match self {
            Held::Guard(permit) => permit.lane(),
            Held::Raw(raw) => raw.lane(),
        }
    }
}

/// Keeps a permit just taken, half the time as a raw value.
fn keep<'a>(shared: &Shared, permit: Permit<'a, WAITERS>, raw: bool, holding: &mut Vec<Held<'a>>) {
    shared.took(permit.lane());
    holding.push(if raw {
        Held::Raw(permit.into_raw())
    } else {
        Held::Guard(permit)
    });
}

/// Gives a permit back exactly once: a raw one is released twice, and only the first counts.
fn give_back(shared: &Shared, held: Held<'_>) {
    shared.giving_back(held.lane());
    match held {
        Held::Guard(permit) => drop(permit),
        Held::Raw(mut raw) => {
            assert!(
                shared.bulkhead.release(&mut raw),
                "a held permit was not released"
            );
            assert!(
                !shared.bulkhead.release(&mut raw),
                "a permit was released twice"
            );
        }
    }
}

/// One thread's history; returns how many permits it took.
fn run(shared: &Shared) -> u64 {
    let mut rng = rng();
    let mut holding: Vec<Held<'_>> = Vec::new();
    let mut taken = 0;
    for _ in 0..OPS {
        // Lane 3 is past the configured lanes and counts as the lowest.
        let lane = rng.gen_range(0..=3);
        let raw = rng.gen_bool(0.5);
        match rng.gen_range(0..6) {
            0 | 1 => match shared.bulkhead.try_acquire(lane) {
                Ok(permit) => {
                    keep(shared, permit, raw, &mut holding);
                    taken += 1;
                }
                Err(refused) => shared.refused(refused, &[Reason::BulkheadFull]),
            },
            // Wait in the queue, but only holding nothing: a waiter that held permits could
            // wait for itself.
            2 if holding.is_empty() => match wait_for(shared.bulkhead.acquire(lane)) {
                Ok(permit) => {
                    keep(shared, permit, raw, &mut holding);
                    taken += 1;
                }
                Err(refused) => shared.refused(refused, &[Reason::QueueFull]),
            },
            // Queue and give up after one poll: the queue must come out clean, and a permit
            // handed over meanwhile must go on to the next waiter.
            3 => {
                let mut waiting = shared.bulkhead.acquire(lane);
                match poll_once(&mut waiting) {
                    Poll::Ready(Ok(permit)) => {
                        keep(shared, permit, raw, &mut holding);
                        taken += 1;
                    }
                    Poll::Ready(Err(refused)) => shared.refused(refused, &[Reason::QueueFull]),
                    Poll::Pending => {}
                }
                if rng.gen_bool(0.5) {
                    // Let others run while queued, so a hand-off can reach the dropped future.
                    shuttle::thread::yield_now();
                }
                drop(waiting);
            }
            _ => {
                if !holding.is_empty() {
                    let which = rng.gen_range(0..holding.len());
                    give_back(shared, holding.swap_remove(which));
                }
            }
        }
        shared.check_snapshot();
    }
    for held in holding {
        give_back(shared, held);
    }
    taken
}

#[test]
fn random_histories_keep_the_cap_the_ceilings_and_the_counts() {
    explore(8000, || {
        let shared = Arc::new(Shared::new());
        let taken: u64 = {
            let shared = Arc::clone(&shared);
            spawn_all(THREADS, move |_| run(&shared)).into_iter().sum()
        };
        let snapshot = shared.bulkhead.snapshot();
        assert_eq!(
            (snapshot.in_flight, snapshot.waiting),
            (0, 0),
            "{snapshot:?}"
        );
        assert!(snapshot.peak <= MAX_CONCURRENT, "{snapshot:?}");
        assert!(taken == 0 || snapshot.peak >= 1, "{snapshot:?}");
        assert_eq!(snapshot.rejected, shared.refused.load(Ordering::SeqCst));
        assert_eq!(shared.held.load(Ordering::SeqCst), 0);
        // Everything given back: the whole bulkhead is free again.
        let all: Vec<_> = (0..MAX_CONCURRENT)
            .map(|_| shared.bulkhead.try_acquire(0).unwrap())
            .collect();
        assert!(shared.bulkhead.try_acquire(0).is_err());
        drop(all);
        assert_eq!(shared.bulkhead.snapshot().in_flight, 0);
    });
}
