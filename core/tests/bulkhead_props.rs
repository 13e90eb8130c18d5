//! The bulkhead against a plain sequential model: random sequences of `try_acquire`, permit
//! drops, raw releases (some repeated), `acquire` polls and future drops across lanes.

use core::future::Future;
use core::pin::Pin;
use core::sync::atomic::{AtomicUsize, Ordering};
use core::task::{Context, Poll, Waker};
use std::sync::Arc;
use std::task::Wake;

use proptest::prelude::*;
use stanchion::bulkhead::{Acquire, Permit, RawPermit, MAX_LANES};
use stanchion::{Bulkhead, BulkheadConfig, Reason};

struct CountingWaker(AtomicUsize);

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[derive(Clone, Debug)]
enum Op {
    TryAcquire(usize),
    DropPermit(usize),
    IntoRaw(usize),
    ReleaseRaw(usize),
    Acquire(usize),
    Poll(usize),
    DropFuture(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..10usize).prop_map(Op::TryAcquire),
        3 => any::<usize>().prop_map(Op::DropPermit),
        1 => any::<usize>().prop_map(Op::IntoRaw),
        1 => any::<usize>().prop_map(Op::ReleaseRaw),
        3 => (0..10usize).prop_map(Op::Acquire),
        2 => any::<usize>().prop_map(Op::Poll),
        2 => any::<usize>().prop_map(Op::DropFuture),
    ]
}

/// A valid config: a cap, up to four lanes with non-increasing ceilings, a queue limit.
fn config() -> impl Strategy<Value = BulkheadConfig> {
    (1..=4u32, prop::collection::vec(0..=3u32, 0..4), 0..=5u32).prop_map(
        |(max, drops, max_waiting)| {
            let mut ceilings = vec![max];
            for drop in drops {
                let above = *ceilings.last().unwrap();
                ceilings.push(above.saturating_sub(drop).max(1));
            }
            let max_waiting = if max_waiting == 5 {
                u32::MAX
            } else {
                max_waiting
            };
            BulkheadConfig::new(max)
                .lanes(&ceilings)
                .max_waiting(max_waiting)
        },
    )
}

/// The obvious restatement: permits out, and the queued waiters with their lane and arrival.
struct Model {
    ceilings: Vec<u32>,
    max_waiting: usize,
    table: usize,
    in_flight: u32,
    peak: u32,
    rejected: u64,
    next_ticket: u64,
    /// Parallel to the real queued futures.
    waiters: Vec<ModelWaiter>,
}

#[derive(Clone, Copy, Debug)]
struct ModelWaiter {
    lane: usize,
    ticket: u64,
    granted: bool,
    wakes: usize,
}

impl Model {
    fn lane(&self, lane: usize) -> usize {
        lane.min(self.ceilings.len() - 1)
    }

    fn admits(&self, lane: usize) -> bool {
        self.in_flight < self.ceilings[lane]
    }

    fn admit(&mut self) {
        self.in_flight += 1;
        self.peak = self.peak.max(self.in_flight);
    }

    /// A permit comes back: to the best waiting waiter (top lane, then oldest) if its lane
    /// admits it without the returning permit, else to free room.
    fn release(&mut self) {
        let in_flight_without = self.in_flight - 1;
        let ceilings = &self.ceilings;
        let best = self
            .waiters
            .iter_mut()
            .filter(|waiter| !waiter.granted)
            .min_by_key(|waiter| (waiter.lane, waiter.ticket));
        match best {
            Some(waiter) if in_flight_without < ceilings[waiter.lane] => {
                waiter.granted = true;
                waiter.wakes += 1;
            }
            _ => self.in_flight -= 1,
        }
    }

    fn waiting(&self) -> usize {
        self.waiters.iter().filter(|waiter| !waiter.granted).count()
    }
}

type Queued<'a, const W: usize> = (Acquire<'a, W>, Arc<CountingWaker>, Waker);

fn poll_once<F: Future + Unpin>(future: &mut F, waker: &Waker) -> Poll<F::Output> {
    Pin::new(future).poll(&mut Context::from_waker(waker))
}

fn run<const W: usize>(config: BulkheadConfig, ops: &[Op]) -> Result<(), TestCaseError> {
    let bulkhead: Bulkhead<W> = Bulkhead::new(config).unwrap();
    let lanes = usize::from(config.lanes);
    let mut model = Model {
        ceilings: config.lane_ceilings[..lanes].to_vec(),
        max_waiting: (config.max_waiting as usize).min(W),
        table: W,
        in_flight: 0,
        peak: 0,
        rejected: 0,
        next_ticket: 0,
        waiters: Vec::new(),
    };
    let mut permits: Vec<Permit<'_, W>> = Vec::new();
    let mut raws: Vec<RawPermit> = Vec::new();
    let mut queued: Vec<Queued<'_, W>> = Vec::new();

    for op in ops {
        match *op {
            Op::TryAcquire(lane) => {
                let model_lane = model.lane(lane);
                match bulkhead.try_acquire(lane) {
                    Ok(permit) => {
                        prop_assert!(model.admits(model_lane));
                        prop_assert_eq!(permit.lane(), model_lane);
                        model.admit();
                        permits.push(permit);
                    }
                    Err(rejected) => {
                        prop_assert!(!model.admits(model_lane));
                        prop_assert_eq!(rejected.reason, Reason::BulkheadFull);
                        prop_assert_eq!(rejected.retry_after, None);
                        model.rejected += 1;
                    }
                }
            }
            Op::DropPermit(index) if !permits.is_empty() => {
                drop(permits.swap_remove(index % permits.len()));
                model.release();
            }
            Op::IntoRaw(index) if !permits.is_empty() => {
                raws.push(permits.swap_remove(index % permits.len()).into_raw());
            }
            Op::ReleaseRaw(index) if !raws.is_empty() => {
                let count = raws.len();
                let raw = &mut raws[index % count];
                let was_held = raw.is_held();
                prop_assert_eq!(bulkhead.release(raw), was_held);
                prop_assert!(!raw.is_held());
                if was_held {
                    model.release();
                }
            }
            Op::Acquire(lane) => {
                let model_lane = model.lane(lane);
                let counter = Arc::new(CountingWaker(AtomicUsize::new(0)));
                let waker = Waker::from(counter.clone());
                let mut future = bulkhead.acquire(lane);
                let occupied = model.waiters.len();
                match poll_once(&mut future, &waker) {
                    Poll::Ready(Ok(permit)) => {
                        prop_assert!(model.admits(model_lane));
                        model.admit();
                        permits.push(permit);
                    }
                    Poll::Ready(Err(rejected)) => {
                        prop_assert!(!model.admits(model_lane));
                        prop_assert!(
                            model.waiting() >= model.max_waiting || occupied >= model.table
                        );
                        prop_assert_eq!(rejected.reason, Reason::QueueFull);
                        model.rejected += 1;
                    }
                    Poll::Pending => {
                        prop_assert!(!model.admits(model_lane));
                        prop_assert!(model.waiting() < model.max_waiting && occupied < model.table);
                        model.waiters.push(ModelWaiter {
                            lane: model_lane,
                            ticket: model.next_ticket,
                            granted: false,
                            wakes: 0,
                        });
                        model.next_ticket += 1;
                        queued.push((future, counter, waker));
                    }
                }
            }
            Op::Poll(index) if !queued.is_empty() => {
                let index = index % queued.len();
                let (future, _, waker) = &mut queued[index];
                match poll_once(future, waker) {
                    Poll::Ready(Ok(permit)) => {
                        prop_assert!(model.waiters[index].granted);
                        prop_assert_eq!(permit.lane(), model.waiters[index].lane);
                        permits.push(permit);
                        drop(queued.swap_remove(index));
                        model.waiters.swap_remove(index);
                    }
                    Poll::Ready(Err(rejected)) => {
                        prop_assert!(false, "a queued future was refused: {:?}", rejected);
                    }
                    Poll::Pending => prop_assert!(!model.waiters[index].granted),
                }
            }
            Op::DropFuture(index) if !queued.is_empty() => {
                let index = index % queued.len();
                drop(queued.swap_remove(index));
                if model.waiters.swap_remove(index).granted {
                    model.release();
                }
            }
            _ => {}
        }

        let snapshot = bulkhead.snapshot();
        prop_assert!(snapshot.in_flight <= config.max_concurrent);
        prop_assert_eq!(snapshot.in_flight, model.in_flight);
        prop_assert_eq!(snapshot.peak, model.peak);
        prop_assert_eq!(snapshot.waiting as usize, model.waiting());
        prop_assert_eq!(snapshot.rejected, model.rejected);
        for ((_, counter, _), waiter) in queued.iter().zip(&model.waiters) {
            prop_assert_eq!(counter.0.load(Ordering::SeqCst), waiter.wakes);
        }
    }

    // Give everything back: nothing may be left held, queued or lost.
    drop(queued);
    drop(permits);
    for raw in &mut raws {
        bulkhead.release(raw);
    }
    let snapshot = bulkhead.snapshot();
    prop_assert_eq!((snapshot.in_flight, snapshot.waiting), (0, 0));
    let all: Vec<_> = (0..config.max_concurrent)
        .map(|_| bulkhead.try_acquire(0))
        .collect();
    prop_assert!(
        all.iter().all(Result::is_ok),
        "every permit is available again"
    );
    // And every slot of the table is free again.
    let waker = Waker::noop();
    let mut waiters: Vec<_> = (0..model.max_waiting)
        .map(|_| bulkhead.acquire(0))
        .collect();
    for waiter in &mut waiters {
        prop_assert!(poll_once(waiter, waker).is_pending());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn matches_the_model_with_a_three_slot_table(config in config(), ops in prop::collection::vec(op(), 0..60)) {
        run::<3>(config, &ops)?;
    }

    #[test]
    fn matches_the_model_with_a_one_slot_table(config in config(), ops in prop::collection::vec(op(), 0..40)) {
        run::<1>(config, &ops)?;
    }

    #[test]
    fn matches_the_model_without_a_table(config in config(), ops in prop::collection::vec(op(), 0..40)) {
        run::<0>(config, &ops)?;
    }

    #[test]
    fn arbitrary_configs_never_panic_and_validate_decides_construction(
        max_concurrent in any::<u32>(),
        max_waiting in any::<u32>(),
        lanes in any::<u8>(),
        lane_ceilings in any::<[u32; MAX_LANES]>(),
        lane in any::<usize>(),
    ) {
        let config = BulkheadConfig { max_concurrent, max_waiting, lanes, lane_ceilings };
        let valid = config.validate();
        match Bulkhead::<2>::new(config) {
            Ok(bulkhead) => {
                prop_assert_eq!(valid, Ok(()));
                let permit = bulkhead.try_acquire(lane);
                prop_assert!(permit.is_ok(), "every lane has a ceiling of at least 1");
                prop_assert_eq!(bulkhead.snapshot().in_flight, 1);
            }
            Err(error) => prop_assert_eq!(valid, Err(error)),
        }
    }

    #[test]
    fn lanes_builder_never_panics(ceilings in prop::collection::vec(any::<u32>(), 0..20), max in any::<u32>()) {
        let config = BulkheadConfig::new(max).lanes(&ceilings);
        prop_assert_eq!(usize::from(config.lanes), ceilings.len().min(255));
        let _ = config.validate();
    }
}
