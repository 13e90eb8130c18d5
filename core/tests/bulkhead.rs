//! Behaviour of the bulkhead: caps, lanes, permits, the counters, config errors and the
//! `acquire` future driven by hand with a counting waker (no executor).

use core::future::Future;
use core::pin::Pin;
use core::sync::atomic::{AtomicUsize, Ordering};
use core::task::{Context, Poll, Waker};
use std::sync::Arc;
use std::task::Wake;

use stanchion::bulkhead::{Acquire, Permit, RawPermit, MAX_CONCURRENT, MAX_LANES};
use stanchion::{Bulkhead, BulkheadConfig, BulkheadSnapshot, ConfigError, Reason, Rejected};

struct CountingWaker {
    wakes: AtomicUsize,
}

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.wakes.fetch_add(1, Ordering::SeqCst);
    }
}

/// A waker and a handle on how often it was woken.
fn counting_waker() -> (Arc<CountingWaker>, Waker) {
    let counter = Arc::new(CountingWaker {
        wakes: AtomicUsize::new(0),
    });
    (counter.clone(), Waker::from(counter))
}

fn wakes(counter: &CountingWaker) -> usize {
    counter.wakes.load(Ordering::SeqCst)
}

fn poll<F: Future + Unpin>(future: &mut F, waker: &Waker) -> Poll<F::Output> {
    Pin::new(future).poll(&mut Context::from_waker(waker))
}

fn bulkhead<const W: usize>(config: BulkheadConfig) -> Bulkhead<W> {
    Bulkhead::new(config).unwrap()
}

/// Polls a future that must be waiting.
fn queue<'a, const W: usize>(future: &mut Acquire<'a, W>, waker: &Waker) {
    assert!(
        poll(future, waker).is_pending(),
        "expected the future to wait"
    );
}

/// Polls a future that must have its permit.
fn granted<'a, const W: usize>(future: &mut Acquire<'a, W>, waker: &Waker) -> Permit<'a, W> {
    match poll(future, waker) {
        Poll::Ready(Ok(permit)) => permit,
        other => panic!("expected a permit, got {other:?}"),
    }
}

const FULL: Rejected = Rejected::new(Reason::BulkheadFull, None);
const QUEUE_FULL: Rejected = Rejected::new(Reason::QueueFull, None);

// ---------------------------------------------------------------------------------------------
// Caps and counters

#[test]
fn admits_up_to_max_concurrent_then_refuses_bulkhead_full() {
    let b: Bulkhead = bulkhead(BulkheadConfig::new(3));
    let permits: Vec<_> = (0..3).map(|_| b.try_acquire(0).unwrap()).collect();
    assert_eq!(b.try_acquire(0).unwrap_err(), FULL);
    assert_eq!(b.snapshot().in_flight, 3);
    drop(permits);
    assert_eq!(b.snapshot().in_flight, 0);
}

#[test]
fn refusals_say_waiting_cannot_help() {
    // Neither refusal has a retry_after: only a release helps, and nobody knows when.
    let b: Bulkhead<1> = bulkhead(BulkheadConfig::new(1));
    let (_, waker) = counting_waker();
    let _held = b.try_acquire(0).unwrap();
    assert_eq!(b.try_acquire(0).unwrap_err().retry_after, None);
    let mut first = b.acquire(0);
    queue(&mut first, &waker);
    let mut second = b.acquire(0);
    let refused = poll(&mut second, &waker);
    assert!(matches!(refused, Poll::Ready(Err(r)) if r == QUEUE_FULL));
}

#[test]
fn dropping_a_permit_releases_it() {
    let b: Bulkhead = bulkhead(BulkheadConfig::new(1));
    let permit = b.try_acquire(0).unwrap();
    assert!(b.try_acquire(0).is_err());
    drop(permit);
    assert!(b.try_acquire(0).is_ok());
}

#[test]
fn a_fresh_bulkhead_has_zero_counters() {
    let b: Bulkhead<4> = bulkhead(BulkheadConfig::new(7));
    assert_eq!(
        b.snapshot(),
        BulkheadSnapshot {
            in_flight: 0,
            peak: 0,
            waiting: 0,
            rejected: 0,
            max_concurrent: 7,
        }
    );
}

#[test]
fn snapshot_counts_in_flight_peak_waiting_and_every_refusal() {
    let b: Bulkhead<1> = bulkhead(BulkheadConfig::new(2));
    let (_, waker) = counting_waker();
    let first = b.try_acquire(0).unwrap();
    let second = b.try_acquire(0).unwrap();
    assert!(b.try_acquire(0).is_err()); // BulkheadFull: 1
    let mut waiting = b.acquire(0);
    queue(&mut waiting, &waker);
    let mut overflow = b.acquire(0);
    assert!(poll(&mut overflow, &waker).is_ready()); // QueueFull: 2
    drop(first);
    let snapshot = b.snapshot();
    assert_eq!(
        snapshot.in_flight, 2,
        "the released permit went to the waiter"
    );
    assert_eq!(
        (snapshot.peak, snapshot.waiting, snapshot.rejected),
        (2, 0, 2)
    );
    drop((second, granted(&mut waiting, &waker)));
    let snapshot = b.snapshot();
    assert_eq!((snapshot.in_flight, snapshot.peak), (0, 2));
}

#[test]
fn peak_is_the_most_permits_ever_out_at_once() {
    let b: Bulkhead = bulkhead(BulkheadConfig::new(5));
    let three: Vec<_> = (0..3).map(|_| b.try_acquire(0).unwrap()).collect();
    drop(three);
    let _one = b.try_acquire(0).unwrap();
    assert_eq!((b.snapshot().in_flight, b.snapshot().peak), (1, 3));
}

#[test]
fn the_largest_cap_admits_and_counts_exactly() {
    let b: Bulkhead = bulkhead(BulkheadConfig::new(MAX_CONCURRENT));
    let permits: Vec<_> = (0..1000).map(|_| b.try_acquire(0).unwrap()).collect();
    assert_eq!(b.snapshot().in_flight, 1000);
    drop(permits);
    assert_eq!(b.snapshot().in_flight, 0);
}

#[test]
fn a_bulkhead_without_waiters_is_64_bytes_and_a_waiter_costs_a_word_and_a_waker() {
    assert!(size_of::<Bulkhead<0>>() <= 64);
    #[cfg(target_pointer_width = "64")]
    {
        assert_eq!(size_of::<Bulkhead<0>>(), 64);
        assert_eq!(size_of::<Bulkhead<1>>() - size_of::<Bulkhead<0>>(), 24);
        assert_eq!(size_of::<Bulkhead<10>>() - size_of::<Bulkhead<0>>(), 240);
    }
    assert_eq!(size_of::<RawPermit>(), 2);
}

#[test]
fn bulkheads_permits_and_futures_cross_threads() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<Bulkhead<4>>();
    send_sync::<Permit<'static, 4>>();
    send::<Acquire<'static, 4>>();
    send_sync::<RawPermit>();
}

#[test]
fn debug_shows_the_lanes_and_the_counters() {
    let b: Bulkhead<2> = bulkhead(BulkheadConfig::new(3).lanes(&[3, 1]));
    let _permit = b.try_acquire(1).unwrap();
    let shown = format!("{b:?}");
    assert!(shown.contains("lane_ceilings: [3, 1]"), "{shown}");
    assert!(shown.contains("in_flight: 1"), "{shown}");
}

#[test]
fn a_bulkhead_lives_in_a_static() {
    static SHARED: Bulkhead<8> = match Bulkhead::new(BulkheadConfig::new(2).lanes(&[2, 1])) {
        Ok(bulkhead) => bulkhead,
        Err(_) => panic!(),
    };
    let permit = SHARED.try_acquire(1).unwrap();
    assert_eq!(SHARED.try_acquire(1).unwrap_err(), FULL);
    drop(permit);
    assert_eq!(SHARED.snapshot().in_flight, 0);
}

// ---------------------------------------------------------------------------------------------
// Lanes

#[test]
fn a_lower_lane_stops_at_its_ceiling_leaving_room_for_the_top_lane() {
    let b: Bulkhead = bulkhead(BulkheadConfig::new(4).lanes(&[4, 3, 1]));
    let _batch = b.try_acquire(2).unwrap();
    assert_eq!(b.try_acquire(2).unwrap_err(), FULL);
    let _background = [b.try_acquire(1).unwrap(), b.try_acquire(1).unwrap()];
    assert_eq!(b.try_acquire(1).unwrap_err(), FULL);
    let _urgent = b.try_acquire(0).unwrap();
    assert_eq!(b.try_acquire(0).unwrap_err(), FULL);
    assert_eq!(b.snapshot().in_flight, 4);
}

#[test]
fn a_lane_ceiling_counts_every_permit_out_not_only_its_own() {
    let b: Bulkhead = bulkhead(BulkheadConfig::new(4).lanes(&[4, 2]));
    let _urgent = [b.try_acquire(0).unwrap(), b.try_acquire(0).unwrap()];
    assert_eq!(b.try_acquire(1).unwrap_err(), FULL);
    assert!(b.try_acquire(0).is_ok());
}

#[test]
fn equal_ceilings_make_lanes_that_share_the_room() {
    let b: Bulkhead = bulkhead(BulkheadConfig::new(2).lanes(&[2, 2]));
    let _a = b.try_acquire(1).unwrap();
    let _b = b.try_acquire(1).unwrap();
    assert_eq!(b.try_acquire(0).unwrap_err(), FULL);
}

#[test]
fn an_unknown_lane_is_treated_as_the_lowest() {
    let b: Bulkhead = bulkhead(BulkheadConfig::new(3).lanes(&[3, 2, 1]));
    let permit = b.try_acquire(7).unwrap();
    assert_eq!(permit.lane(), 2);
    assert_eq!(b.try_acquire(usize::MAX).unwrap_err(), FULL);
    let one_lane: Bulkhead = bulkhead(BulkheadConfig::new(1));
    assert_eq!(one_lane.try_acquire(3).unwrap().lane(), 0);
}

#[test]
fn a_permit_remembers_its_lane_through_into_raw() {
    let b: Bulkhead = bulkhead(BulkheadConfig::new(3).lanes(&[3, 2, 1]));
    assert_eq!(b.try_acquire(1).unwrap().lane(), 1);
    let mut raw = b.try_acquire(2).unwrap().into_raw();
    assert_eq!(raw.lane(), 2);
    assert!(b.release(&mut raw));
}

#[test]
fn all_eight_lanes_work() {
    let ceilings = [8, 7, 6, 5, 4, 3, 2, 1];
    let b: Bulkhead = bulkhead(BulkheadConfig::new(8).lanes(&ceilings));
    // Fill from the lowest lane up: each lane gets exactly one more than the one below.
    let mut held = Vec::new();
    for lane in (0..MAX_LANES).rev() {
        held.push(b.try_acquire(lane).unwrap());
        assert_eq!(b.try_acquire(lane).unwrap_err(), FULL, "lane {lane}");
    }
    assert_eq!(b.snapshot().in_flight, 8);
}

// ---------------------------------------------------------------------------------------------
// Raw permits

#[test]
fn a_raw_permit_holds_its_place_until_released() {
    let b: Bulkhead = bulkhead(BulkheadConfig::new(1));
    let mut raw = b.try_acquire(0).unwrap().into_raw();
    assert!(raw.is_held());
    assert_eq!(b.try_acquire(0).unwrap_err(), FULL);
    assert!(b.release(&mut raw));
    assert!(!raw.is_held());
    assert!(b.try_acquire(0).is_ok());
}

#[test]
fn releasing_a_raw_permit_twice_is_a_no_op() {
    let b: Bulkhead = bulkhead(BulkheadConfig::new(2));
    let mut first = b.try_acquire(0).unwrap().into_raw();
    let _second = b.try_acquire(0).unwrap();
    assert!(b.release(&mut first));
    assert!(!b.release(&mut first));
    assert!(!b.release(&mut first));
    assert_eq!(
        b.snapshot().in_flight,
        1,
        "the other permit is still counted"
    );
}

#[test]
fn a_release_with_no_permit_out_is_ignored() {
    let b: Bulkhead = bulkhead(BulkheadConfig::new(2));
    let mut raw = b.try_acquire(0).unwrap().into_raw();
    let mut copy = raw; // a copy is a separate value the bulkhead cannot tell apart
    assert!(b.release(&mut raw));
    assert!(
        !b.release(&mut copy),
        "nothing is out, so the stray release is ignored"
    );
    assert_eq!(b.snapshot().in_flight, 0);
    let _a = b.try_acquire(0).unwrap();
    let _b = b.try_acquire(0).unwrap();
    assert_eq!(
        b.try_acquire(0).unwrap_err(),
        FULL,
        "the count did not wrap"
    );
}

#[test]
fn a_raw_release_hands_the_permit_to_a_waiter() {
    let b: Bulkhead<2> = bulkhead(BulkheadConfig::new(1));
    let (counter, waker) = counting_waker();
    let mut raw = b.try_acquire(0).unwrap().into_raw();
    let mut waiter = b.acquire(0);
    queue(&mut waiter, &waker);
    assert!(b.release(&mut raw));
    assert_eq!(wakes(&counter), 1);
    let _permit = granted(&mut waiter, &waker);
    assert_eq!(b.snapshot().in_flight, 1);
}

// ---------------------------------------------------------------------------------------------
// Config

#[test]
fn defaults_are_one_lane_and_a_queue_as_long_as_the_table() {
    let config = BulkheadConfig::new(5);
    assert_eq!(config.max_concurrent, 5);
    assert_eq!(config.max_waiting, u32::MAX);
    assert_eq!(config.lanes, 1);
    assert_eq!(config.lane_ceilings, [5, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(config.validate(), Ok(()));
}

#[test]
fn max_concurrent_must_be_between_one_and_the_counting_limit() {
    let error = ConfigError::new("max_concurrent", "1..=16777215");
    assert_eq!(BulkheadConfig::new(0).validate(), Err(error));
    assert_eq!(
        BulkheadConfig::new(MAX_CONCURRENT + 1).validate(),
        Err(error)
    );
    assert_eq!(BulkheadConfig::new(u32::MAX).validate(), Err(error));
    assert_eq!(BulkheadConfig::new(MAX_CONCURRENT).validate(), Ok(()));
    assert_eq!(BulkheadConfig::new(1).validate(), Ok(()));
    assert_eq!(
        Bulkhead::<0>::new(BulkheadConfig::new(0)).err(),
        Some(error)
    );
}

#[test]
fn lanes_must_be_between_one_and_eight() {
    let error = ConfigError::new("lanes", "1..=8");
    assert_eq!(BulkheadConfig::new(4).lanes(&[]).validate(), Err(error));
    assert_eq!(
        BulkheadConfig::new(9)
            .lanes(&[9, 8, 7, 6, 5, 4, 3, 2, 1])
            .validate(),
        Err(error)
    );
    let huge = [1u32; 300];
    let config = BulkheadConfig::new(1).lanes(&huge);
    assert_eq!(config.lanes, u8::MAX);
    assert_eq!(config.validate(), Err(error));
    let mut direct = BulkheadConfig::new(4);
    direct.lanes = 0;
    assert_eq!(direct.validate(), Err(error));
    assert_eq!(Bulkhead::<0>::new(direct).err(), Some(error));
}

#[test]
fn lane_ceilings_must_start_at_max_concurrent_and_never_rise_or_reach_zero() {
    let error = ConfigError::new(
        "lane_ceilings",
        "lane 0 equal to max_concurrent, then non-increasing and at least 1",
    );
    let bad = [
        BulkheadConfig::new(4).lanes(&[3, 2]), // lane 0 below the cap
        BulkheadConfig::new(4).lanes(&[5, 2]), // lane 0 above the cap
        BulkheadConfig::new(4).lanes(&[4, 2, 3]), // rising
        BulkheadConfig::new(4).lanes(&[4, 5]), // above lane 0
        BulkheadConfig::new(4).lanes(&[4, 0]), // a lane that could never run
    ];
    for config in bad {
        assert_eq!(config.validate(), Err(error), "{config:?}");
        assert_eq!(Bulkhead::<0>::new(config).err(), Some(error));
    }
    // Setting the fields directly is checked the same way.
    let mut direct = BulkheadConfig::new(4);
    direct.lanes = 2; // lane 1 left at 0
    assert_eq!(direct.validate(), Err(error));
    let mut moved_cap = BulkheadConfig::new(4).lanes(&[4, 2]);
    moved_cap.max_concurrent = 8; // lane 0 still says 4
    assert_eq!(moved_cap.validate(), Err(error));
}

#[test]
fn ceilings_past_the_lanes_in_use_are_ignored() {
    let mut config = BulkheadConfig::new(4).lanes(&[4, 2]);
    config.lane_ceilings[5] = 99;
    assert_eq!(config.validate(), Ok(()));
    assert_eq!(
        BulkheadConfig::new(4).lanes(&[4, 4, 4, 1]).validate(),
        Ok(())
    );
}

#[test]
fn max_waiting_above_the_table_is_the_table() {
    let b: Bulkhead<2> = bulkhead(BulkheadConfig::new(1).max_waiting(100));
    let (_, waker) = counting_waker();
    let _held = b.try_acquire(0).unwrap();
    let mut waiters = [b.acquire(0), b.acquire(0), b.acquire(0)];
    queue(&mut waiters[0], &waker);
    queue(&mut waiters[1], &waker);
    assert!(matches!(poll(&mut waiters[2], &waker), Poll::Ready(Err(r)) if r == QUEUE_FULL));
}

// ---------------------------------------------------------------------------------------------
// acquire: immediate answers

#[test]
fn acquire_resolves_at_once_when_the_lane_has_room() {
    let b: Bulkhead<4> = bulkhead(BulkheadConfig::new(1));
    let (counter, waker) = counting_waker();
    let mut future = b.acquire(0);
    let permit = granted(&mut future, &waker);
    assert_eq!(b.snapshot().in_flight, 1);
    assert_eq!(wakes(&counter), 0);
    drop(permit);
    assert_eq!(b.snapshot().in_flight, 0);
}

#[test]
fn without_a_waiter_table_acquire_never_waits() {
    let b: Bulkhead = bulkhead(BulkheadConfig::new(1));
    let (_, waker) = counting_waker();
    let mut first = b.acquire(0);
    let _permit = granted(&mut first, &waker);
    let mut second = b.acquire(0);
    assert!(matches!(poll(&mut second, &waker), Poll::Ready(Err(r)) if r == QUEUE_FULL));
    assert_eq!(b.snapshot().rejected, 1);
}

#[test]
fn max_waiting_zero_refuses_to_queue() {
    let b: Bulkhead<4> = bulkhead(BulkheadConfig::new(1).max_waiting(0));
    let (_, waker) = counting_waker();
    let _held = b.try_acquire(0).unwrap();
    let mut future = b.acquire(0);
    assert!(matches!(poll(&mut future, &waker), Poll::Ready(Err(r)) if r == QUEUE_FULL));
    assert_eq!(b.snapshot().waiting, 0);
}

#[test]
fn a_full_queue_refuses_at_once_and_counts_the_refusal() {
    let b: Bulkhead<8> = bulkhead(BulkheadConfig::new(1).max_waiting(2));
    let (_, waker) = counting_waker();
    let _held = b.try_acquire(0).unwrap();
    let mut waiters = [b.acquire(0), b.acquire(0)];
    for waiter in &mut waiters {
        queue(waiter, &waker);
    }
    let mut third = b.acquire(0);
    assert!(matches!(poll(&mut third, &waker), Poll::Ready(Err(r)) if r == QUEUE_FULL));
    assert_eq!((b.snapshot().waiting, b.snapshot().rejected), (2, 1));
}

#[test]
fn a_resolved_future_polled_again_stays_pending() {
    let b: Bulkhead<1> = bulkhead(BulkheadConfig::new(1));
    let (_, waker) = counting_waker();
    let mut future = b.acquire(0);
    let _permit = granted(&mut future, &waker);
    assert!(poll(&mut future, &waker).is_pending());
    assert_eq!(b.snapshot().in_flight, 1);
}

#[test]
fn an_unpolled_future_takes_nothing() {
    let b: Bulkhead<1> = bulkhead(BulkheadConfig::new(1));
    let future = b.acquire(0);
    assert_eq!(b.snapshot().in_flight, 0);
    drop(future);
    assert_eq!(
        b.snapshot(),
        bulkhead::<1>(BulkheadConfig::new(1)).snapshot()
    );
}

// ---------------------------------------------------------------------------------------------
// acquire: the queue

#[test]
fn waiters_are_served_in_arrival_order() {
    let b: Bulkhead<4> = bulkhead(BulkheadConfig::new(1));
    let (_, waker) = counting_waker();
    let mut held = b.try_acquire(0).unwrap();
    let mut waiters = [b.acquire(0), b.acquire(0), b.acquire(0)];
    for waiter in &mut waiters {
        queue(waiter, &waker);
    }
    for index in 0..3 {
        drop(held);
        for later in waiters.iter_mut().skip(index + 1) {
            queue(later, &waker);
        }
        held = granted(&mut waiters[index], &waker);
    }
    drop(held);
    assert_eq!(b.snapshot().in_flight, 0);
}

#[test]
fn a_released_permit_goes_to_the_waiter_not_a_newcomer() {
    let b: Bulkhead<2> = bulkhead(BulkheadConfig::new(1));
    let (_, waker) = counting_waker();
    let held = b.try_acquire(0).unwrap();
    let mut waiter = b.acquire(0);
    queue(&mut waiter, &waker);
    drop(held);
    assert_eq!(b.snapshot().in_flight, 1, "handed over, never free");
    assert_eq!(b.try_acquire(0).unwrap_err(), FULL);
    let mut newcomer = b.acquire(0);
    queue(&mut newcomer, &waker);
    let permit = granted(&mut waiter, &waker);
    drop(permit);
    let _next = granted(&mut newcomer, &waker);
}

#[test]
fn a_waiter_is_woken_exactly_once_per_hand_off() {
    let b: Bulkhead<2> = bulkhead(BulkheadConfig::new(1));
    let (counter, waker) = counting_waker();
    let held = b.try_acquire(0).unwrap();
    let mut waiter = b.acquire(0);
    queue(&mut waiter, &waker);
    queue(&mut waiter, &waker); // polling again wakes nobody
    assert_eq!(wakes(&counter), 0);
    drop(held);
    assert_eq!(wakes(&counter), 1);
    let permit = granted(&mut waiter, &waker);
    drop(permit);
    assert_eq!(wakes(&counter), 1);
}

#[test]
fn the_latest_waker_is_the_one_woken() {
    let b: Bulkhead<1> = bulkhead(BulkheadConfig::new(1));
    let (old_counter, old_waker) = counting_waker();
    let (new_counter, new_waker) = counting_waker();
    let held = b.try_acquire(0).unwrap();
    let mut waiter = b.acquire(0);
    queue(&mut waiter, &old_waker);
    queue(&mut waiter, &new_waker);
    drop(held);
    assert_eq!((wakes(&old_counter), wakes(&new_counter)), (0, 1));
    assert_eq!(
        Arc::strong_count(&old_counter),
        2,
        "the replaced waker was dropped"
    );
    let _permit = granted(&mut waiter, &new_waker);
}

#[test]
fn dropping_a_queued_future_leaves_the_queue_clean() {
    let b: Bulkhead<1> = bulkhead(BulkheadConfig::new(1));
    let (counter, waker) = counting_waker();
    let held = b.try_acquire(0).unwrap();
    let mut waiter = b.acquire(0);
    queue(&mut waiter, &waker);
    assert_eq!(Arc::strong_count(&counter), 3, "the slot holds a clone");
    drop(waiter);
    assert_eq!(
        Arc::strong_count(&counter),
        2,
        "the slot's clone was dropped"
    );
    assert_eq!(b.snapshot().waiting, 0);
    drop(held);
    assert_eq!(
        b.snapshot().in_flight,
        0,
        "nobody waits, so the permit is freed"
    );
    assert_eq!(wakes(&counter), 0);
    // The one slot is free again.
    let _held = b.try_acquire(0).unwrap();
    let mut again = b.acquire(0);
    queue(&mut again, &waker);
    assert_eq!(b.snapshot().waiting, 1);
}

#[test]
fn dropping_a_queued_future_in_the_middle_keeps_the_order_of_the_rest() {
    let b: Bulkhead<4> = bulkhead(BulkheadConfig::new(1));
    let (_, waker) = counting_waker();
    let held = b.try_acquire(0).unwrap();
    let mut first = b.acquire(0);
    let mut middle = b.acquire(0);
    let mut last = b.acquire(0);
    for waiter in [&mut first, &mut middle, &mut last] {
        queue(waiter, &waker);
    }
    drop(middle);
    assert_eq!(b.snapshot().waiting, 2);
    drop(held);
    queue(&mut last, &waker);
    drop(granted(&mut first, &waker));
    let _permit = granted(&mut last, &waker);
    assert_eq!(b.snapshot().waiting, 0);
}

#[test]
fn dropping_a_future_already_handed_a_permit_passes_it_to_the_next_waiter() {
    let b: Bulkhead<2> = bulkhead(BulkheadConfig::new(1));
    let (first_counter, first_waker) = counting_waker();
    let (next_counter, next_waker) = counting_waker();
    let held = b.try_acquire(0).unwrap();
    let mut first = b.acquire(0);
    let mut next = b.acquire(0);
    queue(&mut first, &first_waker);
    queue(&mut next, &next_waker);
    drop(held);
    assert_eq!((wakes(&first_counter), wakes(&next_counter)), (1, 0));
    drop(first); // woken with a permit, but never polled again
    assert_eq!(wakes(&next_counter), 1);
    assert_eq!(b.snapshot().in_flight, 1);
    assert_eq!(b.try_acquire(0).unwrap_err(), FULL);
    drop(granted(&mut next, &next_waker));
    assert_eq!(b.snapshot().in_flight, 0);
}

#[test]
fn dropping_a_future_already_handed_a_permit_frees_it_when_nobody_else_waits() {
    let b: Bulkhead<1> = bulkhead(BulkheadConfig::new(1));
    let (_, waker) = counting_waker();
    let held = b.try_acquire(0).unwrap();
    let mut waiter = b.acquire(0);
    queue(&mut waiter, &waker);
    drop(held);
    drop(waiter);
    assert_eq!(b.snapshot().in_flight, 0);
    assert_eq!(b.snapshot().waiting, 0);
    assert!(b.try_acquire(0).is_ok());
}

#[test]
fn a_granted_future_keeps_its_slot_until_polled() {
    // With a one-slot table the granted but unpolled future still holds the slot.
    let b: Bulkhead<1> = bulkhead(BulkheadConfig::new(2));
    let (_, waker) = counting_waker();
    let held = [b.try_acquire(0).unwrap(), b.try_acquire(0).unwrap()];
    let mut waiter = b.acquire(0);
    queue(&mut waiter, &waker);
    let [first, second] = held;
    drop(first);
    assert_eq!(b.snapshot().waiting, 0);
    let mut newcomer = b.acquire(0);
    assert!(matches!(poll(&mut newcomer, &waker), Poll::Ready(Err(r)) if r == QUEUE_FULL));
    let _permit = granted(&mut waiter, &waker);
    drop(second);
    let mut later = b.acquire(0);
    let _ = granted(&mut later, &waker);
}

#[test]
fn a_future_moved_between_polls_still_gets_its_permit() {
    let b: Bulkhead<2> = bulkhead(BulkheadConfig::new(1));
    let (_, waker) = counting_waker();
    let held = b.try_acquire(0).unwrap();
    let mut waiter = b.acquire(0);
    queue(&mut waiter, &waker);
    let mut moved = Box::new(waiter);
    drop(held);
    let _permit = granted(&mut *moved, &waker);
}

// ---------------------------------------------------------------------------------------------
// acquire: lanes and the queue

#[test]
fn a_higher_lane_waiter_is_served_before_an_older_lower_lane_waiter() {
    let b: Bulkhead<4> = bulkhead(BulkheadConfig::new(2).lanes(&[2, 2]));
    let (_, waker) = counting_waker();
    let held = [b.try_acquire(0).unwrap(), b.try_acquire(0).unwrap()];
    let mut low = b.acquire(1);
    let mut high = b.acquire(0);
    queue(&mut low, &waker);
    queue(&mut high, &waker);
    let [first, second] = held;
    drop(first);
    queue(&mut low, &waker);
    let high_permit = granted(&mut high, &waker);
    drop(second);
    let _low_permit = granted(&mut low, &waker);
    drop(high_permit);
}

#[test]
fn a_waiter_is_not_handed_room_above_its_lane_ceiling() {
    // 3 permits, lane 1 capped at 1. A lane-1 waiter queued behind a full bulkhead is only
    // served once fewer than 1 permit is out.
    let b: Bulkhead<2> = bulkhead(BulkheadConfig::new(3).lanes(&[3, 1]));
    let (counter, waker) = counting_waker();
    let held: Vec<_> = (0..3).map(|_| b.try_acquire(0).unwrap()).collect();
    let mut low = b.acquire(1);
    queue(&mut low, &waker);
    let mut held = held.into_iter();
    drop(held.next());
    assert_eq!(wakes(&counter), 0);
    assert_eq!(
        b.snapshot().in_flight,
        2,
        "freed, not handed to the lane-1 waiter"
    );
    drop(held.next());
    assert_eq!(wakes(&counter), 0);
    queue(&mut low, &waker);
    drop(held.next());
    assert_eq!(wakes(&counter), 1);
    let _permit = granted(&mut low, &waker);
    assert_eq!(b.snapshot().in_flight, 1);
}

#[test]
fn the_top_lane_uses_its_reserved_room_while_a_lower_lane_waits() {
    let b: Bulkhead<2> = bulkhead(BulkheadConfig::new(2).lanes(&[2, 1]));
    let (_, waker) = counting_waker();
    let _background = b.try_acquire(1).unwrap();
    let mut queued_background = b.acquire(1);
    queue(&mut queued_background, &waker);
    // The reserved room is the top lane's, queue or no queue.
    let mut urgent = b.acquire(0);
    let _urgent = granted(&mut urgent, &waker);
    assert_eq!(b.snapshot().in_flight, 2);
}

#[test]
fn a_newcomer_never_passes_a_waiter_of_its_own_lane() {
    let b: Bulkhead<2> = bulkhead(BulkheadConfig::new(2).lanes(&[2, 1]));
    let (_, waker) = counting_waker();
    let background = b.try_acquire(1).unwrap();
    let urgent = b.try_acquire(0).unwrap();
    let mut queued = b.acquire(1);
    queue(&mut queued, &waker);
    drop(urgent); // one lane-1 permit is still out: the waiter cannot use this room
    assert_eq!(b.snapshot().in_flight, 1);
    assert_eq!(
        b.try_acquire(1).unwrap_err(),
        FULL,
        "no passing the lane-1 waiter"
    );
    drop(background);
    let _permit = granted(&mut queued, &waker);
}

#[test]
fn waiters_of_one_lane_keep_their_order_between_higher_lane_waiters() {
    let b: Bulkhead<6> = bulkhead(BulkheadConfig::new(1).lanes(&[1, 1]));
    let (_, waker) = counting_waker();
    let mut held = b.try_acquire(0).unwrap();
    let mut low_a = b.acquire(1);
    let mut high_a = b.acquire(0);
    let mut low_b = b.acquire(1);
    let mut high_b = b.acquire(0);
    for waiter in [&mut low_a, &mut high_a, &mut low_b, &mut high_b] {
        queue(waiter, &waker);
    }
    let mut futures = vec![
        ("low_a", low_a),
        ("high_a", high_a),
        ("low_b", low_b),
        ("high_b", high_b),
    ];
    let mut order = Vec::new();
    while !futures.is_empty() {
        drop(held);
        let mut served = None;
        for (index, (name, future)) in futures.iter_mut().enumerate() {
            if let Poll::Ready(result) = poll(future, &waker) {
                served = Some((index, *name, result.unwrap()));
                break;
            }
        }
        let (index, name, permit) = served.expect("a waiter was served");
        drop(futures.remove(index));
        order.push(name);
        held = permit;
        assert_eq!(b.snapshot().in_flight, 1);
    }
    assert_eq!(order, ["high_a", "high_b", "low_a", "low_b"]);
}
