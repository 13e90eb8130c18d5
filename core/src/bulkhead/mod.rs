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
mod permit;
mod state;
mod waiters;

use core::fmt;
use core::task::Waker;

pub use acquire::Acquire;
pub use config::{BulkheadConfig, MAX_CONCURRENT, MAX_LANES, MAX_WAITERS};
pub use permit::{Permit, RawPermit};

use crate::sync::{const_fn, AtomicU32, AtomicU64, Ordering};
use crate::{ConfigError, Reason, Rejected};
use acquire::Entered;
use state::{Counts, Entry, Promote, Release};
use waiters::{Cancelled, Slot};

/// A cap on concurrent calls, with priority lanes and room for `WAITERS` queued `acquire`
/// futures (0 by default: no queue).
///
/// See the [module documentation](self) for the algorithm, how lanes and the queue interact,
/// the memory ordering and the size.
pub struct Bulkhead<const WAITERS: usize = 0> {
    state: AtomicU64,
    rejected: AtomicU64,
    lane_ceilings: [u32; MAX_LANES],
    peak: AtomicU32,
    next_ticket: AtomicU32,
    /// `min(config.max_waiting, WAITERS)`, which fits: `WAITERS <= MAX_WAITERS`.
    max_waiting: u16,
    lanes: u8,
    waiters: [Slot; WAITERS],
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
            let max_waiting = if (config.max_waiting as usize) < WAITERS {
                config.max_waiting as u16
            } else {
                WAITERS as u16
            };
            Ok(Bulkhead {
                state: AtomicU64::new(0),
                rejected: AtomicU64::new(0),
                lane_ceilings: config.lane_ceilings,
                peak: AtomicU32::new(0),
                next_ticket: AtomicU32::new(0),
                max_waiting,
                lanes: config.lanes,
                waiters: empty_slots(),
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
        let lane = self.lane(lane);
        let ceiling = self.ceiling(usize::from(lane));
        match self.update(|prev| state::decide_admit(prev, ceiling).map(|next| ((), next))) {
            Ok(((), next)) => {
                self.note_peak(next);
                Ok(Permit::new(self, lane))
            }
            Err(rejected) => {
                self.count_rejection();
                Err(rejected)
            }
        }
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
        Acquire::new(self, self.lane(lane))
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
        let counts = Counts::unpack(self.state.load(Ordering::Acquire));
        BulkheadSnapshot {
            in_flight: counts.in_flight(),
            peak: self.peak.load(Ordering::Relaxed),
            waiting: counts.waiting,
            rejected: self.rejected.load(Ordering::Relaxed),
            max_concurrent: self.ceiling(0),
        }
    }

    /// The lane a request runs in: itself if configured, else the lowest.
    #[inline]
    fn lane(&self, lane: usize) -> u8 {
        if lane < usize::from(self.lanes) {
            lane as u8
        } else {
            self.lanes.saturating_sub(1)
        }
    }

    #[inline]
    fn ceiling(&self, lane: usize) -> u32 {
        self.lane_ceilings.get(lane).copied().unwrap_or(0)
    }

    /// Applies a pure decision to the state word with a compare-and-swap loop.
    #[inline]
    fn update<T, E>(
        &self,
        mut decide: impl FnMut(u64) -> Result<(T, u64), E>,
    ) -> Result<(T, u64), E> {
        let mut prev = self.state.load(Ordering::Relaxed);
        loop {
            let (answer, next) = decide(prev)?;
            match self
                .state
                .compare_exchange_weak(prev, next, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return Ok((answer, next)),
                Err(actual) => prev = actual,
            }
        }
    }

    /// Applies an update that cannot be refused.
    fn apply(&self, change: fn(u64) -> u64) {
        let _ = self.update(|prev| Ok::<_, ()>(((), change(prev))));
    }

    /// Raises the peak to the permits out in `word`. The peak only grows, so one that is
    /// already as high needs no write: a load, not a read-modify-write, on almost every call.
    #[inline]
    fn note_peak(&self, word: u64) {
        let in_flight = Counts::unpack(word).in_flight();
        if in_flight > self.peak.load(Ordering::Relaxed) {
            self.peak.fetch_max(in_flight, Ordering::Relaxed);
        }
    }

    fn count_rejection(&self) {
        self.rejected.fetch_add(1, Ordering::Relaxed);
    }

    /// Gives back one permit: hands it to the queue if anyone waits, else frees it. `false` when
    /// no permit was out.
    #[inline]
    pub(crate) fn release_unit(&self) -> bool {
        match self.update(|prev| state::decide_release(prev).ok_or(())) {
            Ok((Release::HandedOff, _)) => {
                self.promote();
                true
            }
            Ok((Release::Freed, _)) => true,
            Err(()) => false,
        }
    }

    /// `acquire`'s first poll: a permit, a queue slot (with the waker stored), or a refusal.
    pub(crate) fn enter(&self, lane: u8, waker: &Waker) -> Entered {
        let ceiling = self.ceiling(usize::from(lane));
        let max_waiting = u32::from(self.max_waiting);
        let mut claimed: Option<(usize, &Slot)> = None;
        let mut prev = self.state.load(Ordering::Relaxed);
        let outcome = loop {
            let (entry, next) = match state::decide_enter(prev, ceiling, max_waiting) {
                Ok(decision) => decision,
                Err(rejected) => break Err(rejected),
            };
            // Take a slot before committing to the queue, so a queued waiter always has one.
            if entry == Entry::Queued && claimed.is_none() {
                claimed = waiters::claim(&self.waiters);
                if claimed.is_none() {
                    break Err(Rejected::new(Reason::QueueFull, None));
                }
            }
            match self
                .state
                .compare_exchange_weak(prev, next, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => break Ok((entry, next)),
                Err(actual) => prev = actual,
            }
        };
        match (outcome, claimed) {
            (Ok((Entry::Queued, _)), Some((index, slot))) => {
                let ticket = self.next_ticket.fetch_add(1, Ordering::Relaxed);
                waiters::publish(slot, lane, ticket, waker);
                // A release may have run between our decision and the publication.
                self.promote();
                if waiters::take_grant(slot) {
                    Entered::Permit
                } else {
                    Entered::Queued(index)
                }
            }
            (outcome, claimed) => {
                if let Some((_, slot)) = claimed {
                    waiters::unclaim(slot);
                }
                match outcome {
                    Ok((_, next)) => {
                        self.note_peak(next);
                        Entered::Permit
                    }
                    Err(rejected) => {
                        self.count_rejection();
                        Entered::Refused(rejected)
                    }
                }
            }
        }
    }

    /// A queued `acquire` future is dropped.
    pub(crate) fn cancel(&self, index: usize) {
        let Some(slot) = self.waiters.get(index) else {
            return;
        };
        match waiters::cancel(slot) {
            Cancelled::Left => self.apply(state::decide_leave_queue),
            Cancelled::Granted => {
                self.release_unit();
            }
            Cancelled::Gone => {}
        }
    }

    /// Hands room to queued waiters while the best of them is admitted, and gives back hand-off
    /// room none can use. Runs after every hand-off release and every new waiter.
    // Out of line, so the release path, inlined into callers, stays small.
    #[inline(never)]
    fn promote(&self) {
        loop {
            // A read-modify-write, not a load: see "Memory ordering" in the module doc.
            let prev = self.state.fetch_add(0, Ordering::AcqRel);
            let best = if Counts::unpack(prev).waiting == 0 {
                None
            } else {
                waiters::best(&self.waiters)
            };
            let best_ceiling = best.map(|candidate| self.ceiling(candidate.lane()));
            let Some((step, next)) = state::decide_promote(prev, best_ceiling) else {
                return;
            };
            if self
                .state
                .compare_exchange(prev, next, Ordering::AcqRel, Ordering::Relaxed)
                .is_err()
            {
                continue;
            }
            let granted = match (step, best) {
                (Promote::ReturnRoom, _) => continue,
                (Promote::Reserve, Some(candidate)) => waiters::grant(candidate),
                // Not reachable (a reservation needs a waiter), but never lose the unit.
                (Promote::Reserve, None) => Err(()),
            };
            match granted {
                Ok(waker) => {
                    self.apply(state::decide_leave_queue);
                    self.note_peak(next);
                    if let Some(waker) = waker {
                        waker.wake();
                    }
                }
                // The waiter left or was served by another thread: the unit goes back to
                // hand-off room, still ahead of any newcomer.
                Err(()) => self.apply(state::decide_unreserve),
            }
        }
    }
}

const_fn! {
    fn empty_slots<const WAITERS: usize>() -> [Slot; WAITERS] {
        #[cfg(not(any(loom, shuttle)))]
        let slots = [const { Slot::new() }; WAITERS];
        #[cfg(any(loom, shuttle))]
        let slots = core::array::from_fn(|_| Slot::new());
        slots
    }
}

impl<const WAITERS: usize> fmt::Debug for Bulkhead<WAITERS> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bulkhead")
            .field(
                "lane_ceilings",
                &self
                    .lane_ceilings
                    .get(..usize::from(self.lanes))
                    .unwrap_or(&[]),
            )
            .field("waiters", &WAITERS)
            .field("snapshot", &self.snapshot())
            .finish()
    }
}
