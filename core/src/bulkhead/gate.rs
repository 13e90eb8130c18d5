//! The gate: a counting word, the waiter table and the counters around them, shared by every
//! primitive that caps calls in flight.
//!
//! The bulkhead reads its caps from its lane ceilings; the adaptive limiter reads its one cap
//! from the bits of the counting word above the counts, so that the cap and the count it is
//! checked against are one value read by one compare-and-swap. Both reach the gate through
//! [`Ceilings`], and everything else (admission, the queue, hand-off, cancellation) is this one
//! implementation. The algorithm and its memory ordering are described in the bulkhead's module
//! docs.

use core::task::{Poll, Waker};

pub(crate) use super::state::Layout;
use super::state::{self, Entry, Promote, Release};
use super::waiters::{self, Cancelled, Slot};
use crate::sync::{const_fn, AtomicU32, AtomicU64, Ordering};
use crate::{Reason, Rejected};

/// How a gate's owner packs its word and caps its lanes.
pub(crate) trait Ceilings {
    /// Where the counts sit in the word.
    const LAYOUT: Layout;

    /// The cap for `lane` (already clamped to the configured lanes), given the word the
    /// decision is made on.
    fn ceiling(&self, lane: usize, word: u64) -> u32;
}

/// The counting word, the waiter table and the counters of a capped primitive.
pub(crate) struct Gate<const WAITERS: usize> {
    state: AtomicU64,
    rejected: AtomicU64,
    peak: AtomicU32,
    next_ticket: AtomicU32,
    /// `min(max_waiting, WAITERS)`, which fits: `WAITERS <= MAX_WAITERS`.
    max_waiting: u16,
    /// Lanes in use, `1..=8`.
    lanes: u8,
    waiters: [Slot; WAITERS],
}

/// How a first poll went.
pub(crate) enum Entered {
    /// A permit at once (or handed over before the poll returned).
    Permit,
    /// Queued in this slot.
    Queued(usize),
    /// Refused.
    Refused(Rejected),
}

impl<const WAITERS: usize> Gate<WAITERS> {
    const_fn! {
        /// A gate with nothing taken and no one waiting; `word` holds the owner's bits.
        pub(crate) fn new(word: u64, max_waiting: u32, lanes: u8) -> Self {
            let max_waiting = if (max_waiting as usize) < WAITERS {
                max_waiting as u16
            } else {
                WAITERS as u16
            };
            Gate {
                state: AtomicU64::new(word),
                rejected: AtomicU64::new(0),
                peak: AtomicU32::new(0),
                next_ticket: AtomicU32::new(0),
                max_waiting,
                lanes,
                waiters: empty_slots(),
            }
        }
    }

    /// The lane a request runs in: itself if configured, else the lowest.
    #[inline]
    pub(crate) fn lane(&self, lane: usize) -> u8 {
        if lane < usize::from(self.lanes) {
            lane as u8
        } else {
            self.lanes.saturating_sub(1)
        }
    }

    /// The lanes in use.
    pub(crate) fn lanes(&self) -> u8 {
        self.lanes
    }

    /// The counting word now.
    #[inline]
    pub(crate) fn word(&self) -> u64 {
        self.state.load(Ordering::Acquire)
    }

    /// The most permits ever out at once.
    pub(crate) fn peak(&self) -> u32 {
        self.peak.load(Ordering::Relaxed)
    }

    /// Calls refused so far.
    pub(crate) fn rejected(&self) -> u64 {
        self.rejected.load(Ordering::Relaxed)
    }

    /// Takes a unit for `lane` if its cap allows: the word after the admission, or the refusal
    /// (counted).
    #[inline]
    pub(crate) fn try_admit<C: Ceilings>(&self, owner: &C, lane: u8) -> Result<u64, Rejected> {
        let admitted = self.update(|prev| {
            let ceiling = owner.ceiling(usize::from(lane), prev);
            state::decide_admit(C::LAYOUT, prev, ceiling).map(|next| ((), next))
        });
        match admitted {
            Ok(((), next)) => {
                self.note_peak::<C>(next);
                Ok(next)
            }
            Err(rejected) => {
                self.count_rejection();
                Err(rejected)
            }
        }
    }

    /// Applies a pure decision to the word with a compare-and-swap loop.
    #[inline]
    pub(crate) fn update<T, E>(
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
    fn apply(&self, change: impl Fn(u64) -> u64) {
        let _ = self.update(|prev| Ok::<_, ()>(((), change(prev))));
    }

    /// Raises the peak to the permits out in `word`. The peak only grows, so one that is
    /// already as high needs no write: a load, not a read-modify-write, on almost every call.
    #[inline]
    fn note_peak<C: Ceilings>(&self, word: u64) {
        let in_flight = C::LAYOUT.unpack(word).in_flight();
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
    pub(crate) fn release_unit<C: Ceilings>(&self, owner: &C) -> bool {
        match self.update(|prev| state::decide_release(C::LAYOUT, prev).ok_or(())) {
            Ok((Release::HandedOff, _)) => {
                self.promote(owner);
                true
            }
            Ok((Release::Freed, _)) => true,
            Err(()) => false,
        }
    }

    /// `acquire`'s first poll: a permit, a queue slot (with the waker stored), or a refusal.
    pub(crate) fn enter<C: Ceilings>(&self, owner: &C, lane: u8, waker: &Waker) -> Entered {
        let max_waiting = u32::from(self.max_waiting);
        let mut claimed: Option<(usize, &Slot)> = None;
        let mut prev = self.state.load(Ordering::Relaxed);
        let outcome = loop {
            let ceiling = owner.ceiling(usize::from(lane), prev);
            let (entry, next) = match state::decide_enter(C::LAYOUT, prev, ceiling, max_waiting) {
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
                self.promote(owner);
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
                        self.note_peak::<C>(next);
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

    /// A queued future is polled again: `true` once its permit has been handed over.
    pub(crate) fn poll_slot(&self, index: usize, waker: &Waker) -> bool {
        self.waiters
            .get(index)
            .is_some_and(|slot| waiters::poll(slot, waker))
    }

    /// A queued `acquire` future is dropped.
    pub(crate) fn cancel<C: Ceilings>(&self, owner: &C, index: usize) {
        let Some(slot) = self.waiters.get(index) else {
            return;
        };
        match waiters::cancel(slot) {
            Cancelled::Left => self.apply(|prev| state::decide_leave_queue(C::LAYOUT, prev)),
            Cancelled::Granted => {
                self.release_unit(owner);
            }
            Cancelled::Gone => {}
        }
    }

    /// Hands room to queued waiters while the best of them is admitted, and gives back hand-off
    /// room none can use. Runs after every hand-off release, every new waiter and every raise
    /// of a cap read from the word.
    // Out of line, so the release path, inlined into callers, stays small.
    #[inline(never)]
    pub(crate) fn promote<C: Ceilings>(&self, owner: &C) {
        loop {
            // A read-modify-write, not a load: see "Memory ordering" in the bulkhead's docs.
            let prev = self.state.fetch_add(0, Ordering::AcqRel);
            let best = if C::LAYOUT.unpack(prev).waiting == 0 {
                None
            } else {
                waiters::best(&self.waiters)
            };
            let best_ceiling = best.map(|candidate| owner.ceiling(candidate.lane(), prev));
            let Some((step, next)) = state::decide_promote(C::LAYOUT, prev, best_ceiling) else {
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
                    self.apply(|prev| state::decide_leave_queue(C::LAYOUT, prev));
                    self.note_peak::<C>(next);
                    if let Some(waker) = waker {
                        waker.wake();
                    }
                }
                // The waiter left or was served by another thread: the unit goes back to
                // hand-off room, still ahead of any newcomer.
                Err(()) => self.apply(|prev| state::decide_unreserve(C::LAYOUT, prev)),
            }
        }
    }
}

/// Where an `acquire` future stands: the part of it that is the same for every owner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    Start,
    Queued { slot: usize },
    Done,
}

impl Step {
    /// One poll of the future: `Ready(Ok)` when it holds a permit, `Ready(Err)` when refused.
    /// Polling again after it resolved stays `Pending`.
    pub(crate) fn poll<C: Ceilings, const WAITERS: usize>(
        &mut self,
        gate: &Gate<WAITERS>,
        owner: &C,
        lane: u8,
        waker: &Waker,
    ) -> Poll<Result<(), Rejected>> {
        let granted = match *self {
            Step::Start => match gate.enter(owner, lane, waker) {
                Entered::Permit => true,
                Entered::Queued(slot) => {
                    *self = Step::Queued { slot };
                    false
                }
                Entered::Refused(rejected) => {
                    *self = Step::Done;
                    return Poll::Ready(Err(rejected));
                }
            },
            Step::Queued { slot } => gate.poll_slot(slot, waker),
            Step::Done => false,
        };
        if granted {
            *self = Step::Done;
            Poll::Ready(Ok(()))
        } else {
            Poll::Pending
        }
    }

    /// The future is dropped: leave the queue, passing on a permit handed over meanwhile.
    pub(crate) fn cancel<C: Ceilings, const WAITERS: usize>(
        &self,
        gate: &Gate<WAITERS>,
        owner: &C,
    ) {
        if let Step::Queued { slot } = *self {
            gate.cancel(owner, slot);
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
