//! Bulkhead: a cap on concurrent calls, with priority lanes and a bounded async wait queue.
//!
//! # Algorithm
//!
//! A counting semaphore with direct hand-off, as in tokio's `batch_semaphore`: a permit
//! released while `acquire` futures are queued is held for them, never put back where a
//! newcomer could take it. The queue is a fixed table of `WAITERS` slots (a
//! const generic; no heap), each a state word and a waker cell guarded in the manner of
//! futures-util's `AtomicWaker` (see `waiters.rs`). There is no lock anywhere: every operation
//! is a few compare-and-swap loops that retry only when another thread changed the word
//! between the read and the swap, and none waits for another thread to finish a step.
//!
//! # Lanes and the queue
//!
//! Lane 0 is the highest priority and may fill the bulkhead (`max_concurrent`); lane `k` is
//! admitted only while fewer than `lane_ceilings[k]` permits are out, so the room above a
//! lane's ceiling stays free for the lanes above it. Ceilings never rise with `k`. A lane
//! index past the configured lanes is treated as the lowest lane: it gets the least room, and
//! never more than a configured lane.
//!
//! A released permit goes to the queued waiter of the highest-priority lane, oldest first
//! within a lane, if that lane's ceiling admits it; if not, no lower lane's does either, and
//! the permit becomes free room that only lanes with a higher ceiling can use. So within a
//! lane the queue is FIFO; across lanes, priority comes first (a low lane can starve under
//! sustained high-priority load, which is what priority means). A newcomer is admitted only
//! when its own lane's ceiling allows; since every queued waiter is held back by its own
//! ceiling, a newcomer never passes a waiter of its own or a higher-priority lane.
//!
//! Driven from one thread all of this is exact. Under concurrency the cap is *hard* (never more
//! than `max_concurrent` permits out, and never a lane past its ceiling); the order in which
//! racing waiters are served may differ from their arrival by the threads racing.
//!
//! # State
//!
//! One `AtomicU64` holds the counts every decision needs, changed only by compare-and-swap
//! around the pure functions of `state.rs`:
//!
//! ```text
//! bits  0..24  taken     permits out, plus room held for hand-off   (max_concurrent <= 2^24 - 1)
//! bits 24..48  handoff   room released while waiters were queued, held for them
//! bits 48..64  waiting   futures queued and not yet granted         (WAITERS <= 2^16 - 1)
//! ```
//!
//! A release with waiters queued moves its unit from "held by a permit" to `handoff` without
//! freeing it; then a promotion loop reserves a unit for the best waiter (taking `handoff`
//! first), marks its slot GRANTED and wakes it, or gives room that no waiter can use back.
//! Newcomers count `handoff` as taken, which is what stops them barging. The peak, the rejected
//! total and the ticket counter are separate relaxed counters; the peak is read first and
//! written only when it grows, so the usual acquire and release are one swap each.
//!
//! # Memory ordering
//!
//! Successful swaps of the state word are `AcqRel`: a new holder's permit happens after the
//! release that freed it, as with any semaphore. A waiter's slot and the state word are two
//! locations, so a waiter that publishes its slot and then checks the counts, racing a release
//! that changes the counts and then scans the slots, must not both miss each other (a lost
//! wake-up). The promotion loop therefore reads the word with a read-modify-write
//! (`fetch_add(0, AcqRel)`), and every write to the word is a read-modify-write: of any two such
//! operations one reads the other's result, so either the waiter sees the freed room or the
//! releaser's scan sees the published slot. Slot words follow `waiters.rs`: taking ownership of
//! a waker cell is an acquire, giving it up a release. Counters are `Relaxed`.
//!
//! # Size
//!
//! `Bulkhead<0>` is 64 bytes (asserted by a test): the state word, the rejected total, the peak,
//! the ticket counter, eight lane ceilings and the queue limits. Each waiter slot adds 24 bytes
//! on 64-bit targets (an 8-byte state word and a 16-byte `Option<Waker>`), 16 on 32-bit ones.
//! On targets without 64-bit atomics the words go through portable-atomic's interrupt-safe
//! paths; the crate docs' "Embedded targets" say what the firmware enables on each.
//!
//! ```
//! use stanchion::{Bulkhead, BulkheadConfig, Reason};
//!
//! // 4 permits; lane 1 (background work) may hold at most 2 of them.
//! static DB: Bulkhead = match Bulkhead::new(BulkheadConfig::new(4).lanes(&[4, 2])) {
//!     Ok(bulkhead) => bulkhead,
//!     Err(_) => panic!("invalid bulkhead config"),
//! };
//!
//! let background = [DB.try_acquire(1).unwrap(), DB.try_acquire(1).unwrap()];
//! assert_eq!(DB.try_acquire(1).unwrap_err().reason, Reason::BulkheadFull);
//! let urgent = DB.try_acquire(0).unwrap(); // lane 0 still has room
//! assert_eq!(DB.snapshot().in_flight, 3);
//! drop((background, urgent));
//! assert_eq!(DB.snapshot().in_flight, 0);
//! ```

mod acquire;
mod config;
pub(crate) mod gate;
mod permit;
mod state;
mod waiters;

use core::fmt;

pub use acquire::Acquire;
pub use config::{BulkheadConfig, MAX_CONCURRENT, MAX_LANES, MAX_WAITERS};
pub use permit::{Permit, RawPermit};

use crate::sync::const_fn;
use crate::{ConfigError, Rejected};
use gate::{Ceilings, Gate};
use state::Layout;

/// A cap on concurrent calls, with priority lanes and room for `WAITERS` queued `acquire`
/// futures (0 by default: no queue).
///
/// See the [module documentation](self) for the algorithm, how lanes and the queue interact,
/// the memory ordering and the size.
pub struct Bulkhead<const WAITERS: usize = 0> {
    gate: Gate<WAITERS>,
    lane_ceilings: [u32; MAX_LANES],
}

/// The counters of a [`Bulkhead`] at one moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BulkheadSnapshot {
    /// Permits out now, including ones handed to a waiter that has not been polled yet.
    pub in_flight: u32,
    /// The most permits ever out at once.
    pub peak: u32,
    /// `acquire` futures queued and not yet granted.
    pub waiting: u32,
    /// Calls refused so far, `BulkheadFull` and `QueueFull` alike.
    pub rejected: u64,
    /// The configured cap.
    pub max_concurrent: u32,
}

impl<const WAITERS: usize> Ceilings for Bulkhead<WAITERS> {
    const LAYOUT: Layout = Layout::BULKHEAD;

    #[inline]
    fn ceiling(&self, lane: usize, _word: u64) -> u32 {
        self.ceiling(lane)
    }
}

impl<const WAITERS: usize> Bulkhead<WAITERS> {
    const_fn! {
        /// A bulkhead for `config`, or the config's first invalid field.
        ///
        /// `WAITERS` above [`MAX_WAITERS`] fails to compile.
        ///
        /// ```
        /// use stanchion::{Bulkhead, BulkheadConfig};
        /// static POOL: Bulkhead<16> = match Bulkhead::new(BulkheadConfig::new(4)) {
        ///     Ok(bulkhead) => bulkhead,
        ///     Err(_) => panic!(),
        /// };
        /// assert_eq!(POOL.snapshot().max_concurrent, 4);
        /// assert!(Bulkhead::<0>::new(BulkheadConfig::new(0)).is_err());
        /// ```
        // `?` is not allowed in a const fn; under the checkers this one is not const.
        #[cfg_attr(any(loom, shuttle), allow(clippy::question_mark))]
        pub fn new(config: BulkheadConfig) -> Result<Self, ConfigError> {
            const { assert!(WAITERS <= MAX_WAITERS, "WAITERS is above MAX_WAITERS") };
            if let Err(error) = config.validate() {
                return Err(error);
            }
            Ok(Bulkhead {
                gate: Gate::new(0, config.max_waiting, config.lanes),
                lane_ceilings: config.lane_ceilings,
            })
        }
    }

    /// A permit now if `lane` is admitted, else `BulkheadFull` with `retry_after: None` (only a
    /// release can help, and when one comes is not known).
    ///
    /// Lane 0 is the highest priority; an unknown lane counts as the lowest. A newcomer never
    /// takes a permit being handed to a queued waiter.
    ///
    /// ```
    /// use stanchion::{Bulkhead, BulkheadConfig, Reason};
    /// let bulkhead: Bulkhead = Bulkhead::new(BulkheadConfig::new(1)).unwrap();
    /// let permit = bulkhead.try_acquire(0).unwrap();
    /// let refused = bulkhead.try_acquire(0).unwrap_err();
    /// assert_eq!((refused.reason, refused.retry_after), (Reason::BulkheadFull, None));
    /// drop(permit);
    /// assert!(bulkhead.try_acquire(0).is_ok());
    /// ```
    #[inline]
    pub fn try_acquire(&self, lane: usize) -> Result<Permit<'_, WAITERS>, Rejected> {
        let lane = self.gate.lane(lane);
        self.gate
            .try_admit(self, lane)
            .map(|_| Permit::new(self, lane))
    }

    /// A future that resolves to a permit: at once if `lane` is admitted, otherwise after
    /// waiting in the queue (FIFO within a lane, higher-priority lanes first). When every one of
    /// the `WAITERS` slots is in use, or `max_waiting` futures already wait, it resolves at once
    /// to `QueueFull` (counted in the rejected total); with `WAITERS = 0` it never waits. A
    /// granted future keeps its slot until it is polled.
    ///
    /// Uses only `core::task`: any executor can drive it. Dropping it leaves the queue clean.
    ///
    /// ```
    /// use core::future::Future;
    /// use core::pin::pin;
    /// use core::task::{Context, Poll, Waker};
    /// use stanchion::{Bulkhead, BulkheadConfig};
    ///
    /// let bulkhead: Bulkhead<4> = Bulkhead::new(BulkheadConfig::new(1)).unwrap();
    /// let mut cx = Context::from_waker(Waker::noop());
    /// let held = bulkhead.try_acquire(0).unwrap();
    /// let mut waiting = pin!(bulkhead.acquire(0));
    /// assert!(waiting.as_mut().poll(&mut cx).is_pending());
    /// assert_eq!(bulkhead.snapshot().waiting, 1);
    /// drop(held); // handed straight to the waiter
    /// assert!(matches!(waiting.as_mut().poll(&mut cx), Poll::Ready(Ok(_))));
    /// ```
    pub fn acquire(&self, lane: usize) -> Acquire<'_, WAITERS> {
        Acquire::new(self, self.gate.lane(lane))
    }

    /// Gives back a permit made with [`Permit::into_raw`]; `true` if one was given back.
    ///
    /// The value is marked released, so releasing it again is a no-op that returns `false`. A
    /// release while no permit is out at all is ignored too. Release a value only to the
    /// bulkhead it came from.
    ///
    /// ```
    /// use stanchion::{Bulkhead, BulkheadConfig};
    /// let bulkhead: Bulkhead = Bulkhead::new(BulkheadConfig::new(1)).unwrap();
    /// let mut raw = bulkhead.try_acquire(0).unwrap().into_raw();
    /// assert!(bulkhead.release(&mut raw));
    /// assert!(!bulkhead.release(&mut raw));
    /// assert_eq!(bulkhead.snapshot().in_flight, 0);
    /// ```
    #[inline]
    pub fn release(&self, permit: &mut RawPermit) -> bool {
        permit.disarm() && self.release_unit()
    }

    /// The counters now.
    ///
    /// ```
    /// use stanchion::{Bulkhead, BulkheadConfig};
    /// let bulkhead: Bulkhead = Bulkhead::new(BulkheadConfig::new(1)).unwrap();
    /// let permit = bulkhead.try_acquire(0).unwrap();
    /// assert!(bulkhead.try_acquire(0).is_err());
    /// let snapshot = bulkhead.snapshot();
    /// assert_eq!((snapshot.in_flight, snapshot.peak, snapshot.rejected), (1, 1, 1));
    /// ```
    pub fn snapshot(&self) -> BulkheadSnapshot {
        let counts = Self::LAYOUT.unpack(self.gate.word());
        BulkheadSnapshot {
            in_flight: counts.in_flight(),
            peak: self.gate.peak(),
            waiting: counts.waiting,
            rejected: self.gate.rejected(),
            max_concurrent: self.ceiling(0),
        }
    }

    #[inline]
    fn ceiling(&self, lane: usize) -> u32 {
        self.lane_ceilings.get(lane).copied().unwrap_or(0)
    }

    /// Gives back one permit: hands it to the queue if anyone waits, else frees it. `false` when
    /// no permit was out.
    #[inline]
    pub(crate) fn release_unit(&self) -> bool {
        self.gate.release_unit(self)
    }
}

impl<const WAITERS: usize> fmt::Debug for Bulkhead<WAITERS> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bulkhead")
            .field(
                "lane_ceilings",
                &self
                    .lane_ceilings
                    .get(..usize::from(self.gate.lanes()))
                    .unwrap_or(&[]),
            )
            .field("waiters", &WAITERS)
            .field("snapshot", &self.snapshot())
            .finish()
    }
}
