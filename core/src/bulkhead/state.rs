//! The bulkhead's one counting word and the pure decisions over it.
//!
//! Every change to the word is one of the functions below, applied by a compare-and-swap loop in
//! `mod.rs`; none of them touches an atomic, so they are tested here without threads.

use crate::{Reason, Rejected};

const TAKEN_BITS: u32 = 24;
const HANDOFF_BITS: u32 = 24;
const HANDOFF_SHIFT: u32 = TAKEN_BITS;
const WAITING_SHIFT: u32 = TAKEN_BITS + HANDOFF_BITS;
const TAKEN_MASK: u64 = (1 << TAKEN_BITS) - 1;
const HANDOFF_MASK: u64 = (1 << HANDOFF_BITS) - 1;

/// The largest `max_concurrent` the word can count (24 bits).
pub(crate) const MAX_CONCURRENT: u32 = (1 << TAKEN_BITS) - 1;
/// The largest waiter table the word can count (the 16 bits left).
pub(crate) const MAX_WAITERS: usize = (1 << (64 - WAITING_SHIFT)) - 1;

/// The unpacked state word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Counts {
    /// Units of the cap in use: permits out (including ones granted to a waiter that has not
    /// collected it yet) plus `handoff`. Never above `max_concurrent`.
    pub(crate) taken: u32,
    /// Units given back while waiters were queued, held for them (so no newcomer can take them)
    /// until a waiter is granted one or none can use it. Always `<= taken`.
    pub(crate) handoff: u32,
    /// `acquire` futures queued and not yet granted.
    pub(crate) waiting: u32,
}

impl Counts {
    #[inline]
    pub(crate) const fn unpack(word: u64) -> Counts {
        Counts {
            taken: (word & TAKEN_MASK) as u32,
            handoff: ((word >> HANDOFF_SHIFT) & HANDOFF_MASK) as u32,
            waiting: (word >> WAITING_SHIFT) as u32,
        }
    }

    #[inline]
    pub(crate) const fn pack(self) -> u64 {
        (self.taken as u64 & TAKEN_MASK)
            | ((self.handoff as u64 & HANDOFF_MASK) << HANDOFF_SHIFT)
            | ((self.waiting as u64) << WAITING_SHIFT)
    }

    /// Permits out, counting ones granted to waiters and not the room held for hand-off.
    #[inline]
    pub(crate) const fn in_flight(self) -> u32 {
        self.taken.saturating_sub(self.handoff)
    }
}

const FULL: Rejected = Rejected::new(Reason::BulkheadFull, None);
const QUEUE_FULL: Rejected = Rejected::new(Reason::QueueFull, None);

/// `try_acquire`: take a unit if the lane's ceiling allows.
///
/// Room held for hand-off counts as taken, so a newcomer can never grab a permit on its way to
/// a waiter. Every queued waiter is blocked by its own ceiling (the promotion loop keeps that
/// true), so a newcomer admitted here passes no waiter that could have used the room.
#[inline]
pub(crate) const fn decide_admit(prev: u64, ceiling: u32) -> Result<u64, Rejected> {
    let mut counts = Counts::unpack(prev);
    if counts.taken < ceiling {
        counts.taken = counts.taken.saturating_add(1);
        Ok(counts.pack())
    } else {
        Err(FULL)
    }
}

/// What a newcomer calling `acquire` gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Entry {
    /// A permit at once.
    Admitted,
    /// A place in the queue.
    Queued,
}

/// `acquire`'s first step: a permit if the lane's ceiling allows (as [`decide_admit`]), else a
/// place in the queue while fewer than `max_waiting` wait, else `QueueFull`.
pub(crate) const fn decide_enter(
    prev: u64,
    ceiling: u32,
    max_waiting: u32,
) -> Result<(Entry, u64), Rejected> {
    if let Ok(next) = decide_admit(prev, ceiling) {
        return Ok((Entry::Admitted, next));
    }
    let mut counts = Counts::unpack(prev);
    if counts.waiting < max_waiting {
        counts.waiting = counts.waiting.saturating_add(1);
        Ok((Entry::Queued, counts.pack()))
    } else {
        Err(QUEUE_FULL)
    }
}

/// Where a released permit went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Release {
    /// Back to free room: nobody was waiting.
    Freed,
    /// Held for the waiters; the caller must run the promotion loop.
    HandedOff,
}

/// A permit comes back. With waiters queued its unit stays taken and becomes hand-off room;
/// otherwise it is freed. `None` when no permit is out: a stray or repeated release, ignored
/// rather than allowed to wrap the count.
#[inline]
pub(crate) const fn decide_release(prev: u64) -> Option<(Release, u64)> {
    let mut counts = Counts::unpack(prev);
    if counts.in_flight() == 0 {
        return None;
    }
    if counts.waiting > 0 {
        counts.handoff = counts.handoff.saturating_add(1);
        Some((Release::HandedOff, counts.pack()))
    } else {
        counts.taken = counts.taken.saturating_sub(1);
        Some((Release::Freed, counts.pack()))
    }
}

/// One step of the promotion loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Promote {
    /// A unit is now reserved for the best waiter; grant it (or undo with [`decide_unreserve`]).
    Reserve,
    /// Hand-off room that no waiter can use goes back to free room.
    ReturnRoom,
}

/// Given the ceiling of the best queued waiter (highest-priority lane, oldest first), reserve a
/// unit for it if its lane admits it, taking hand-off room first; otherwise give hand-off room
/// back. `None` when there is nothing to do.
///
/// If the best waiter's lane does not admit it, no waiter's does: lower-priority lanes have
/// ceilings no higher.
pub(crate) const fn decide_promote(prev: u64, best_ceiling: Option<u32>) -> Option<(Promote, u64)> {
    let mut counts = Counts::unpack(prev);
    let eligible = match best_ceiling {
        Some(ceiling) => counts.in_flight() < ceiling,
        None => false,
    };
    if eligible {
        if counts.handoff > 0 {
            counts.handoff = counts.handoff.saturating_sub(1);
        } else {
            counts.taken = counts.taken.saturating_add(1);
        }
        Some((Promote::Reserve, counts.pack()))
    } else if counts.handoff > 0 {
        counts.handoff = counts.handoff.saturating_sub(1);
        counts.taken = counts.taken.saturating_sub(1);
        Some((Promote::ReturnRoom, counts.pack()))
    } else {
        None
    }
}

/// A reserved unit whose waiter left before the grant landed becomes hand-off room again, so it
/// still goes to a waiter before any newcomer.
pub(crate) const fn decide_unreserve(prev: u64) -> u64 {
    let mut counts = Counts::unpack(prev);
    counts.handoff = counts.handoff.saturating_add(1);
    counts.pack()
}

/// A waiter stops waiting: granted, or dropped before it was.
pub(crate) const fn decide_leave_queue(prev: u64) -> u64 {
    let mut counts = Counts::unpack(prev);
    counts.waiting = counts.waiting.saturating_sub(1);
    counts.pack()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(taken: u32, handoff: u32, waiting: u32) -> u64 {
        Counts {
            taken,
            handoff,
            waiting,
        }
        .pack()
    }

    #[test]
    fn packing_round_trips_at_the_field_limits() {
        for counts in [
            Counts {
                taken: 0,
                handoff: 0,
                waiting: 0,
            },
            Counts {
                taken: MAX_CONCURRENT,
                handoff: MAX_CONCURRENT,
                waiting: MAX_WAITERS as u32,
            },
            Counts {
                taken: 5,
                handoff: 2,
                waiting: 7,
            },
        ] {
            assert_eq!(Counts::unpack(counts.pack()), counts);
        }
    }

    #[test]
    fn admission_respects_the_ceiling_and_counts_handoff_room_as_taken() {
        for taken in 0..6 {
            for handoff in 0..=taken {
                for ceiling in 1..6 {
                    let got = decide_admit(word(taken, handoff, 1), ceiling);
                    if taken < ceiling {
                        assert_eq!(got, Ok(word(taken + 1, handoff, 1)));
                    } else {
                        assert_eq!(got, Err(FULL));
                    }
                }
            }
        }
    }

    #[test]
    fn entering_admits_then_queues_then_refuses() {
        assert_eq!(
            decide_enter(word(1, 0, 0), 2, 1),
            Ok((Entry::Admitted, word(2, 0, 0)))
        );
        assert_eq!(
            decide_enter(word(2, 0, 0), 2, 1),
            Ok((Entry::Queued, word(2, 0, 1)))
        );
        assert_eq!(decide_enter(word(2, 0, 1), 2, 1), Err(QUEUE_FULL));
        assert_eq!(decide_enter(word(2, 0, 0), 2, 0), Err(QUEUE_FULL));
    }

    #[test]
    fn release_frees_or_hands_off_and_ignores_strays() {
        assert_eq!(decide_release(word(0, 0, 0)), None);
        assert_eq!(decide_release(word(2, 2, 1)), None);
        assert_eq!(
            decide_release(word(2, 0, 0)),
            Some((Release::Freed, word(1, 0, 0)))
        );
        assert_eq!(
            decide_release(word(2, 0, 3)),
            Some((Release::HandedOff, word(2, 1, 3)))
        );
        assert_eq!(
            decide_release(word(3, 1, 0)),
            Some((Release::Freed, word(2, 1, 0)))
        );
    }

    #[test]
    fn promotion_is_exhaustively_consistent() {
        for taken in 0..6u32 {
            for handoff in 0..=taken {
                for waiting in 0..3 {
                    for best in [None, Some(1), Some(3), Some(5)] {
                        let prev = word(taken, handoff, waiting);
                        let before = Counts::unpack(prev);
                        let eligible = best.is_some_and(|c| before.in_flight() < c);
                        match decide_promote(prev, best) {
                            Some((Promote::Reserve, next)) => {
                                let after = Counts::unpack(next);
                                assert!(eligible);
                                assert_eq!(after.in_flight(), before.in_flight() + 1);
                                assert!(after.taken <= best.unwrap_or(0).max(before.taken));
                                assert_eq!(after.waiting, waiting);
                            }
                            Some((Promote::ReturnRoom, next)) => {
                                let after = Counts::unpack(next);
                                assert!(!eligible);
                                assert_eq!(after.in_flight(), before.in_flight());
                                assert_eq!(after.taken + 1, before.taken);
                                assert_eq!(after.handoff + 1, before.handoff);
                            }
                            None => assert!(!eligible && handoff == 0),
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn unreserving_and_leaving_adjust_one_field() {
        assert_eq!(decide_unreserve(word(3, 0, 2)), word(3, 1, 2));
        assert_eq!(decide_leave_queue(word(3, 1, 2)), word(3, 1, 1));
        assert_eq!(decide_leave_queue(word(3, 1, 0)), word(3, 1, 0));
    }
}
