//! The bulkhead's counting word and the pure decisions over it.
//!
//! Every change to the word is one of the functions below, applied by a compare-and-swap loop in
//! `gate.rs`; none of them touches an atomic, so they are tested here without threads. The word
//! holds three counts whose widths a [`Layout`] gives: the bulkhead spends all 64 bits on them,
//! while the adaptive limiter keeps narrower counts and its cap in the bits above, so that one
//! compare-and-swap checks a count against the cap it was read with.

use crate::{Reason, Rejected};

/// The width of the `waiting` count in every layout.
const WAITING_BITS: u32 = 16;

/// The largest waiter table a word can count (the `waiting` field's 16 bits).
pub(crate) const MAX_WAITERS: usize = (1 << WAITING_BITS) - 1;

/// Where the counts sit in a state word: `taken` from bit 0, `handoff` above it, then 16 bits of
/// `waiting`. Bits above those belong to the word's owner and pass through every decision
/// unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Layout {
    taken_mask: u64,
    handoff_shift: u32,
    handoff_mask: u64,
    waiting_shift: u32,
    owner_shift: u32,
}

/// The lowest `bits` bits set (all of them from 64 on).
const fn low_bits(bits: u32) -> u64 {
    match 1u64.checked_shl(bits) {
        Some(bit) => bit.wrapping_sub(1),
        None => u64::MAX,
    }
}

impl Layout {
    /// The bulkhead's: 24 bits each of `taken` and `handoff`, 16 of `waiting`, nothing above.
    pub(crate) const BULKHEAD: Layout = Layout::new(24, 24);

    /// `taken` and `handoff` in `taken_bits` and `handoff_bits` bits (at most 24 each, so that
    /// the counts and the 16 bits of `waiting` fit the word).
    pub(crate) const fn new(taken_bits: u32, handoff_bits: u32) -> Layout {
        let waiting_shift = taken_bits.wrapping_add(handoff_bits);
        Layout {
            taken_mask: low_bits(taken_bits),
            handoff_shift: taken_bits,
            handoff_mask: low_bits(handoff_bits),
            waiting_shift,
            owner_shift: waiting_shift.wrapping_add(WAITING_BITS),
        }
    }

    /// The largest `taken` (and so the largest cap) the layout can count.
    pub(crate) const fn max_taken(self) -> u32 {
        self.taken_mask as u32
    }

    /// The first bit above the counts: where the owner's bits begin (64: none).
    pub(crate) const fn owner_shift(self) -> u32 {
        self.owner_shift
    }

    const fn owner_mask(self) -> u64 {
        !low_bits(self.owner_shift)
    }

    #[inline]
    pub(crate) const fn unpack(self, word: u64) -> Counts {
        Counts {
            taken: (word & self.taken_mask) as u32,
            handoff: ((word >> self.handoff_shift) & self.handoff_mask) as u32,
            waiting: ((word >> self.waiting_shift) & low_bits(WAITING_BITS)) as u32,
        }
    }

    /// `counts` packed into a word that keeps the owner's bits of `word`.
    #[inline]
    pub(crate) const fn pack(self, counts: Counts, word: u64) -> u64 {
        (word & self.owner_mask())
            | (counts.taken as u64 & self.taken_mask)
            | ((counts.handoff as u64 & self.handoff_mask) << self.handoff_shift)
            | ((counts.waiting as u64 & low_bits(WAITING_BITS)) << self.waiting_shift)
    }
}

/// The largest `max_concurrent` the bulkhead's word can count (24 bits).
pub(crate) const MAX_CONCURRENT: u32 = Layout::BULKHEAD.max_taken();

/// The unpacked counts of a state word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Counts {
    /// Units of the cap in use: permits out (including ones granted to a waiter that has not
    /// collected it yet) plus `handoff`. Never above the cap in force when the last unit was
    /// taken.
    pub(crate) taken: u32,
    /// Units given back while waiters were queued, held for them (so no newcomer can take them)
    /// until a waiter is granted one or none can use it. Always `<= taken`.
    pub(crate) handoff: u32,
    /// `acquire` futures queued and not yet granted.
    pub(crate) waiting: u32,
}

impl Counts {
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
pub(crate) const fn decide_admit(layout: Layout, prev: u64, ceiling: u32) -> Result<u64, Rejected> {
    let mut counts = layout.unpack(prev);
    if counts.taken < ceiling {
        counts.taken = counts.taken.saturating_add(1);
        Ok(layout.pack(counts, prev))
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
    layout: Layout,
    prev: u64,
    ceiling: u32,
    max_waiting: u32,
) -> Result<(Entry, u64), Rejected> {
    if let Ok(next) = decide_admit(layout, prev, ceiling) {
        return Ok((Entry::Admitted, next));
    }
    let mut counts = layout.unpack(prev);
    if counts.waiting < max_waiting {
        counts.waiting = counts.waiting.saturating_add(1);
        Ok((Entry::Queued, layout.pack(counts, prev)))
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
pub(crate) const fn decide_release(layout: Layout, prev: u64) -> Option<(Release, u64)> {
    let mut counts = layout.unpack(prev);
    if counts.in_flight() == 0 {
        return None;
    }
    if counts.waiting > 0 {
        counts.handoff = counts.handoff.saturating_add(1);
        Some((Release::HandedOff, layout.pack(counts, prev)))
    } else {
        counts.taken = counts.taken.saturating_sub(1);
        Some((Release::Freed, layout.pack(counts, prev)))
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
pub(crate) const fn decide_promote(
    layout: Layout,
    prev: u64,
    best_ceiling: Option<u32>,
) -> Option<(Promote, u64)> {
    let mut counts = layout.unpack(prev);
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
        Some((Promote::Reserve, layout.pack(counts, prev)))
    } else if counts.handoff > 0 {
        counts.handoff = counts.handoff.saturating_sub(1);
        counts.taken = counts.taken.saturating_sub(1);
        Some((Promote::ReturnRoom, layout.pack(counts, prev)))
    } else {
        None
    }
}

/// A reserved unit whose waiter left before the grant landed becomes hand-off room again, so it
/// still goes to a waiter before any newcomer.
pub(crate) const fn decide_unreserve(layout: Layout, prev: u64) -> u64 {
    let mut counts = layout.unpack(prev);
    counts.handoff = counts.handoff.saturating_add(1);
    layout.pack(counts, prev)
}

/// A waiter stops waiting: granted, or dropped before it was.
pub(crate) const fn decide_leave_queue(layout: Layout, prev: u64) -> u64 {
    let mut counts = layout.unpack(prev);
    counts.waiting = counts.waiting.saturating_sub(1);
    layout.pack(counts, prev)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BULKHEAD: Layout = Layout::BULKHEAD;

    fn word(taken: u32, handoff: u32, waiting: u32) -> u64 {
        let counts = Counts {
            taken,
            handoff,
            waiting,
        };
        BULKHEAD.pack(counts, 0)
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
            assert_eq!(BULKHEAD.unpack(BULKHEAD.pack(counts, u64::MAX)), counts);
        }
    }

    #[test]
    fn a_narrow_layout_keeps_the_owner_bits_untouched() {
        let narrow = Layout::new(16, 16);
        assert_eq!(narrow.max_taken(), 65_535);
        assert_eq!(narrow.owner_shift(), 48);
        let owner = 0xabcd_u64 << 48;
        let counts = Counts {
            taken: 65_535,
            handoff: 3,
            waiting: 65_535,
        };
        let word = narrow.pack(counts, owner | 0x1234);
        assert_eq!(word >> 48, 0xabcd);
        assert_eq!(narrow.unpack(word), counts);
        let next = decide_admit(narrow, narrow.pack(Counts { taken: 1, ..counts }, owner), 2);
        assert_eq!(
            next.map(|w| (w >> 48, narrow.unpack(w).taken)),
            Ok((0xabcd, 2))
        );
        // The bulkhead's layout is all counts: every bit round-trips.
        assert_eq!(BULKHEAD.pack(BULKHEAD.unpack(u64::MAX), 0), u64::MAX);
    }

    #[test]
    fn admission_respects_the_ceiling_and_counts_handoff_room_as_taken() {
        for taken in 0..6 {
            for handoff in 0..=taken {
                for ceiling in 1..6 {
                    let got = decide_admit(BULKHEAD, word(taken, handoff, 1), ceiling);
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
            decide_enter(BULKHEAD, word(1, 0, 0), 2, 1),
            Ok((Entry::Admitted, word(2, 0, 0)))
        );
        assert_eq!(
            decide_enter(BULKHEAD, word(2, 0, 0), 2, 1),
            Ok((Entry::Queued, word(2, 0, 1)))
        );
        assert_eq!(decide_enter(BULKHEAD, word(2, 0, 1), 2, 1), Err(QUEUE_FULL));
        assert_eq!(decide_enter(BULKHEAD, word(2, 0, 0), 2, 0), Err(QUEUE_FULL));
    }

    #[test]
    fn release_frees_or_hands_off_and_ignores_strays() {
        assert_eq!(decide_release(BULKHEAD, word(0, 0, 0)), None);
        assert_eq!(decide_release(BULKHEAD, word(2, 2, 1)), None);
        assert_eq!(
            decide_release(BULKHEAD, word(2, 0, 0)),
            Some((Release::Freed, word(1, 0, 0)))
        );
        assert_eq!(
            decide_release(BULKHEAD, word(2, 0, 3)),
            Some((Release::HandedOff, word(2, 1, 3)))
        );
        assert_eq!(
            decide_release(BULKHEAD, word(3, 1, 0)),
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
                        let before = BULKHEAD.unpack(prev);
                        let eligible = best.is_some_and(|c| before.in_flight() < c);
                        match decide_promote(BULKHEAD, prev, best) {
                            Some((Promote::Reserve, next)) => {
                                let after = BULKHEAD.unpack(next);
                                assert!(eligible);
                                assert_eq!(after.in_flight(), before.in_flight() + 1);
                                assert!(after.taken <= best.unwrap_or(0).max(before.taken));
                                assert_eq!(after.waiting, waiting);
                            }
                            Some((Promote::ReturnRoom, next)) => {
                                let after = BULKHEAD.unpack(next);
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
        assert_eq!(decide_unreserve(BULKHEAD, word(3, 0, 2)), word(3, 1, 2));
        assert_eq!(decide_leave_queue(BULKHEAD, word(3, 1, 2)), word(3, 1, 1));
        assert_eq!(decide_leave_queue(BULKHEAD, word(3, 1, 0)), word(3, 1, 0));
    }
}
