//! Bulkhead: the cap, priority lanes, permits released on drop, and the `acquire` future polled
//! by hand with a counting waker made from a `RawWaker` (no executor, no heap).

use core::future::Future;
use core::hint::black_box;
use core::pin::Pin;
use core::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

use portable_atomic::{AtomicUsize, Ordering};
use stanchion::bulkhead::{Acquire, Permit};
use stanchion::{Bulkhead, BulkheadConfig, BulkheadSnapshot, Reason, Rejected};

/// 4 permits; lane 1 (background work) may hold at most 2 of them.
static DB: Bulkhead = match Bulkhead::new(BulkheadConfig::new(4).lanes(&[4, 2])) {
    Ok(bulkhead) => bulkhead,
    Err(_) => panic!("invalid bulkhead config"),
};

/// A static bulkhead with a waiter table, for the `acquire` future.
static QUEUED: Bulkhead<4> = match Bulkhead::new(BulkheadConfig::new(1)) {
    Ok(bulkhead) => bulkhead,
    Err(_) => panic!("invalid bulkhead config"),
};

/// A waker whose data pointer is a `'static` counter, and which adds one to it on every wake.
static COUNTING: RawWakerVTable =
    RawWakerVTable::new(clone_waker, count_wake, count_wake, drop_waker);

fn clone_waker(data: *const ()) -> RawWaker {
    RawWaker::new(data, &COUNTING)
}

fn count_wake(data: *const ()) {
    // SAFETY: every `RawWaker` with this vtable is made by `counting_waker` (or cloned from
    // one) with a pointer to a `'static AtomicUsize`.
    let wakes = unsafe { &*data.cast::<AtomicUsize>() };
    wakes.fetch_add(1, Ordering::Relaxed);
}

fn drop_waker(_: *const ()) {}

/// A waker that counts its wakes in `wakes`. Each case has counters of its own, since the
/// host runs cases on parallel threads.
fn counting_waker(wakes: &'static AtomicUsize) -> Waker {
    let raw = RawWaker::new((wakes as *const AtomicUsize).cast(), &COUNTING);
    // SAFETY: the vtable's functions only touch the counter, an atomic that lives forever, so
    // the waker and its clones may be woken and dropped from any thread, any number of times.
    unsafe { Waker::from_raw(raw) }
}

fn wakes(counter: &AtomicUsize) -> usize {
    counter.load(Ordering::Relaxed)
}

fn poll<'a, const W: usize>(
    future: &mut Acquire<'a, W>,
    waker: &Waker,
) -> Poll<Result<Permit<'a, W>, Rejected>> {
    // `Acquire` pins nothing: it is `Unpin`.
    Pin::new(future).poll(&mut Context::from_waker(waker))
}

/// Polls a future that must resolve now, to its permit.
fn granted<'a, const W: usize>(future: &mut Acquire<'a, W>, waker: &Waker) -> Permit<'a, W> {
    match poll(future, waker) {
        Poll::Ready(Ok(permit)) => permit,
        Poll::Ready(Err(refused)) => panic!("refused: {refused}"),
        Poll::Pending => panic!("still pending"),
    }
}

fn bulkhead<const W: usize>(config: BulkheadConfig) -> Bulkhead<W> {
    match Bulkhead::new(black_box(config)) {
        Ok(bulkhead) => bulkhead,
        Err(error) => panic!("invalid config: {error}"),
    }
}

fn in_flight_and_waiting<const W: usize>(bulkhead: &Bulkhead<W>) -> (u32, u32) {
    let snapshot = bulkhead.snapshot();
    (snapshot.in_flight, snapshot.waiting)
}

tests! {
    fn a_static_bulkhead_caps_each_lane_and_releases_on_drop() {
        let background = [
            DB.try_acquire(1).unwrap(),
            DB.try_acquire(black_box(1)).unwrap(),
        ];
        let refused = DB.try_acquire(1).unwrap_err();
        assert_eq!(
            (refused.reason, refused.retry_after),
            (Reason::BulkheadFull, None)
        );
        // An unknown lane counts as the lowest: refused too.
        assert_eq!(DB.try_acquire(9).unwrap_err().reason, Reason::BulkheadFull);
        let urgent = [DB.try_acquire(0).unwrap(), DB.try_acquire(0).unwrap()];
        assert_eq!(DB.try_acquire(0).unwrap_err().reason, Reason::BulkheadFull);
        assert_eq!(
            DB.snapshot(),
            BulkheadSnapshot {
                in_flight: 4,
                peak: 4,
                waiting: 0,
                rejected: 3,
                max_concurrent: 4
            }
        );
        drop(background);
        assert_eq!(DB.snapshot().in_flight, 2);
        // Lane 1 counts every permit out, not only its own: 2 are out, so it is still full.
        assert_eq!(DB.try_acquire(1).unwrap_err().reason, Reason::BulkheadFull);
        drop(urgent);
        let permit = DB.try_acquire(7).unwrap();
        assert_eq!(permit.lane(), 1);
        drop(permit);
        assert_eq!(DB.snapshot().in_flight, 0);
    }

    fn raw_permits_are_released_once() {
        let b: Bulkhead = bulkhead(BulkheadConfig::new(1));
        let mut raw = b.try_acquire(0).unwrap().into_raw();
        assert!(raw.is_held());
        assert_eq!(b.snapshot().in_flight, 1, "a raw permit holds its place");
        assert!(b.release(&mut raw));
        assert!(!b.release(&mut raw), "a second release is a no-op");
        assert!(!raw.is_held());
        assert_eq!(b.snapshot().in_flight, 0);
        let mut again = b.try_acquire(0).unwrap().into_raw();
        assert_eq!(b.try_acquire(0).unwrap_err().reason, Reason::BulkheadFull);
        assert!(b.release(&mut again));
        assert_eq!(b.snapshot().rejected, 1);
    }

    fn acquire_resolves_at_once_when_the_lane_has_room() {
        static WAKES: AtomicUsize = AtomicUsize::new(0);
        let waker = counting_waker(&WAKES);
        let b: Bulkhead<2> = bulkhead(BulkheadConfig::new(2));
        let mut first = b.acquire(0);
        let permit = granted(&mut first, &waker);
        // Polled again after it resolved, it stays pending and takes nothing.
        assert!(poll(&mut first, &waker).is_pending());
        assert_eq!(in_flight_and_waiting(&b), (1, 0));
        drop(permit);
        assert_eq!(wakes(&WAKES), 0);
        // Without a waiter table acquire never waits: QueueFull at once when full.
        let none: Bulkhead = bulkhead(BulkheadConfig::new(1));
        let _held = none.try_acquire(0).unwrap();
        let mut refused = none.acquire(0);
        let Poll::Ready(Err(refusal)) = poll(&mut refused, &waker) else {
            panic!("a bulkhead without waiters queued a future");
        };
        assert_eq!(refusal, Rejected::new(Reason::QueueFull, None));
        assert_eq!(none.snapshot().rejected, 1);
    }

    fn a_released_permit_is_handed_to_the_waiter_not_a_newcomer() {
        static WAKES: AtomicUsize = AtomicUsize::new(0);
        let waker = counting_waker(&WAKES);
        let held = QUEUED.try_acquire(0).unwrap();
        let mut waiting = QUEUED.acquire(0);
        assert!(poll(&mut waiting, &waker).is_pending());
        assert_eq!(in_flight_and_waiting(&QUEUED), (1, 1));
        drop(held);
        assert_eq!(wakes(&WAKES), 1, "woken exactly once");
        // The unit is held for the waiter: a newcomer cannot take it.
        assert_eq!(
            QUEUED.try_acquire(0).unwrap_err().reason,
            Reason::BulkheadFull
        );
        assert_eq!(in_flight_and_waiting(&QUEUED), (1, 0));
        let permit = granted(&mut waiting, &waker);
        assert_eq!(QUEUED.snapshot().in_flight, 1);
        drop(permit);
        assert_eq!(in_flight_and_waiting(&QUEUED), (0, 0));
        assert_eq!(wakes(&WAKES), 1);
    }

    fn waiters_are_served_by_lane_then_in_arrival_order() {
        static LOW_FIRST: AtomicUsize = AtomicUsize::new(0);
        static LOW_SECOND: AtomicUsize = AtomicUsize::new(0);
        static HIGH: AtomicUsize = AtomicUsize::new(0);
        let b: Bulkhead<4> = bulkhead(BulkheadConfig::new(1).lanes(&[1, 1]));
        let held = b.try_acquire(0).unwrap();
        let (mut low_first, mut low_second, mut high) = (b.acquire(1), b.acquire(1), b.acquire(0));
        let low_first_waker = counting_waker(&LOW_FIRST);
        let low_second_waker = counting_waker(&LOW_SECOND);
        let high_waker = counting_waker(&HIGH);
        assert!(poll(&mut low_first, &low_first_waker).is_pending());
        assert!(poll(&mut low_second, &low_second_waker).is_pending());
        assert!(poll(&mut high, &high_waker).is_pending());
        assert_eq!(b.snapshot().waiting, 3);
        drop(held);
        assert_eq!(
            (wakes(&HIGH), wakes(&LOW_FIRST), wakes(&LOW_SECOND)),
            (1, 0, 0)
        );
        let permit = granted(&mut high, &high_waker);
        assert_eq!(permit.lane(), 0);
        drop(permit);
        assert_eq!((wakes(&LOW_FIRST), wakes(&LOW_SECOND)), (1, 0));
        assert!(
            poll(&mut low_second, &low_second_waker).is_pending(),
            "not its turn"
        );
        drop(granted(&mut low_first, &low_first_waker));
        assert_eq!(wakes(&LOW_SECOND), 1);
        drop(granted(&mut low_second, &low_second_waker));
        assert_eq!(in_flight_and_waiting(&b), (0, 0));
    }

    fn a_full_queue_refuses_at_once_with_queue_full() {
        static WAKES: AtomicUsize = AtomicUsize::new(0);
        let waker = counting_waker(&WAKES);
        let b: Bulkhead<2> = bulkhead(BulkheadConfig::new(1));
        let _held = b.try_acquire(0).unwrap();
        let (mut first, mut second, mut third) = (b.acquire(0), b.acquire(0), b.acquire(0));
        assert!(poll(&mut first, &waker).is_pending());
        assert!(poll(&mut second, &waker).is_pending());
        assert!(matches!(
            poll(&mut third, &waker),
            Poll::Ready(Err(Rejected {
                reason: Reason::QueueFull,
                retry_after: None
            }))
        ));
        // max_waiting bounds the queue below the table's size.
        let short: Bulkhead<4> = bulkhead(BulkheadConfig::new(1).max_waiting(1));
        let _busy = short.try_acquire(0).unwrap();
        let (mut queued, mut turned_away) = (short.acquire(0), short.acquire(0));
        assert!(poll(&mut queued, &waker).is_pending());
        assert!(matches!(
            poll(&mut turned_away, &waker),
            Poll::Ready(Err(Rejected {
                reason: Reason::QueueFull,
                ..
            }))
        ));
        assert_eq!((b.snapshot().rejected, short.snapshot().rejected), (1, 1));
    }

    fn dropped_futures_leave_the_queue_clean_and_pass_a_grant_on() {
        static FIRST: AtomicUsize = AtomicUsize::new(0);
        static SECOND: AtomicUsize = AtomicUsize::new(0);
        let (first_waker, second_waker) = (counting_waker(&FIRST), counting_waker(&SECOND));
        let b: Bulkhead<4> = bulkhead(BulkheadConfig::new(1));
        let held = b.try_acquire(0).unwrap();
        let mut cancelled = b.acquire(0);
        assert!(poll(&mut cancelled, &first_waker).is_pending());
        drop(cancelled);
        assert_eq!(in_flight_and_waiting(&b), (1, 0));
        // Granted but dropped before it was polled: the permit goes on to the next waiter.
        let (mut granted_then_dropped, mut next) = (b.acquire(0), b.acquire(0));
        assert!(poll(&mut granted_then_dropped, &first_waker).is_pending());
        assert!(poll(&mut next, &second_waker).is_pending());
        drop(held);
        assert_eq!((wakes(&FIRST), wakes(&SECOND)), (1, 0));
        drop(granted_then_dropped);
        assert_eq!(wakes(&SECOND), 1);
        let permit = granted(&mut next, &second_waker);
        assert_eq!(in_flight_and_waiting(&b), (1, 0));
        drop(permit);
        assert_eq!(in_flight_and_waiting(&b), (0, 0));
    }

    fn the_latest_waker_is_the_one_woken() {
        static OLD: AtomicUsize = AtomicUsize::new(0);
        static NEW: AtomicUsize = AtomicUsize::new(0);
        let b: Bulkhead<1> = bulkhead(BulkheadConfig::new(1));
        let held = b.try_acquire(0).unwrap();
        let mut waiting = b.acquire(0);
        assert!(poll(&mut waiting, &counting_waker(&OLD)).is_pending());
        // Moved, then polled from another task: the future may move freely.
        let mut moved = waiting;
        assert!(poll(&mut moved, &counting_waker(&NEW)).is_pending());
        drop(held);
        assert_eq!((wakes(&OLD), wakes(&NEW)), (0, 1));
        drop(granted(&mut moved, &counting_waker(&NEW)));
        assert_eq!(core::mem::size_of::<Bulkhead>(), 64);
    }
}
