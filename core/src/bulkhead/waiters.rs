//! The waiter table: a fixed array of slots, each a state word and a waker cell.
//!
//! A slot's state word says who may touch its waker cell, in the manner of futures-util's
//! `AtomicWaker`, with the waiter's lane and ticket alongside so a grant can never land on a
//! slot that has since changed hands:
//!
//! ```text
//! bits 0..=2   phase: FREE, CLAIMED, WAITING, GRANTED, CANCELLING
//! bit  3       REGISTERING  the waiting future is replacing its waker (it owns the cell)
//! bit  4       WAKING       a granter is taking the waker out (it owns the cell)
//! bit  5       CLOSED       the future left while WAKING was set; the granter frees the slot
//! bits 8..=15  lane
//! bits 32..=63 ticket (wrapping; orders waiters of one lane)
//! ```
//!
//! Life of a slot: a future `claim`s a FREE slot (CLAIMED: invisible to granters, the cell is
//! the future's), writes its waker and `publish`es it as WAITING. A granter moves WAITING to
//! GRANTED in one compare-and-swap, the only place a waiter can be granted; a dropped future
//! moves WAITING to CANCELLING in one compare-and-swap, the only place it can leave ungranted.
//! Exactly one of the two wins. Whoever holds the slot last stores FREE.
//!
//! Cell ownership: the future in CLAIMED, CANCELLING and while REGISTERING; a granter while
//! WAKING. REGISTERING and WAKING are never set together: a grant over REGISTERING sets only
//! GRANTED and the registering future sees it when it clears its flag. Setting either flag is an
//! acquire, clearing it a release, so one owner's accesses happen before the next owner's.

use core::mem::ManuallyDrop;
use core::task::Waker;

use crate::sync::{AtomicU64, Ordering};

const PHASE: u64 = 0b111;
const FREE: u64 = 0;
const CLAIMED: u64 = 1;
const WAITING: u64 = 2;
const GRANTED: u64 = 3;
const CANCELLING: u64 = 4;
const REGISTERING: u64 = 1 << 3;
const WAKING: u64 = 1 << 4;
const CLOSED: u64 = 1 << 5;
const LANE_SHIFT: u32 = 8;
const TICKET_SHIFT: u32 = 32;

/// The part of a word that names the waiter: its lane and ticket.
const IDENTITY: u64 = !((1 << LANE_SHIFT) - 1);

/// One waiter's place: 8 bytes of state and a 16-byte `Option<Waker>` on 64-bit targets.
pub(crate) struct Slot {
    state: AtomicU64,
    waker: WakerCell,
}

// SAFETY: the waker cell is only touched by the one party the state word names as its owner
// (see the module doc); `Waker` itself is `Send + Sync`.
unsafe impl Sync for Slot {}

impl Slot {
    crate::sync::const_fn! {
        pub(crate) fn new() -> Slot {
            Slot {
                state: AtomicU64::new(FREE),
                waker: WakerCell::new(),
            }
        }
    }
}

/// A queued waiter seen by a scan: where it is and the word its slot held.
#[derive(Clone, Copy)]
pub(crate) struct Candidate<'a> {
    slot: &'a Slot,
    word: u64,
}

impl Candidate<'_> {
    pub(crate) const fn lane(&self) -> usize {
        ((self.word >> LANE_SHIFT) & 0xff) as usize
    }

    const fn ticket(&self) -> u32 {
        (self.word >> TICKET_SHIFT) as u32
    }

    /// Served before `other`: a higher-priority (lower) lane, then the older ticket.
    fn precedes(&self, other: &Candidate<'_>) -> bool {
        let (mine, theirs) = (self.lane(), other.lane());
        if mine != theirs {
            return mine < theirs;
        }
        // Tickets wrap; comparing their wrapping difference as signed orders any two tickets
        // issued fewer than 2^31 apart.
        (self.ticket().wrapping_sub(other.ticket()) as i32) < 0
    }
}

/// Takes a FREE slot for a future about to queue. `None` when every slot is in use (waiting,
/// or granted and not yet collected).
pub(crate) fn claim(slots: &[Slot]) -> Option<(usize, &Slot)> {
    // Acquire: the previous owner's last use of the cell happens before ours.
    slots.iter().enumerate().find(|(_, slot)| {
        slot.state
            .compare_exchange(FREE, CLAIMED, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    })
}

/// Gives back a slot claimed but not used.
pub(crate) fn unclaim(slot: &Slot) {
    slot.state.store(FREE, Ordering::Release);
}

/// Stores the waker of a claimed slot and makes the waiter visible to granters.
pub(crate) fn publish(slot: &Slot, lane: u8, ticket: u32, waker: &Waker) {
    // SAFETY: the slot is CLAIMED by the caller; granters ignore CLAIMED slots.
    let stale = unsafe { slot.waker.replace(Some(waker.clone())) };
    let word = WAITING | (u64::from(lane) << LANE_SHIFT) | (u64::from(ticket) << TICKET_SHIFT);
    slot.state.store(word, Ordering::Release);
    drop(stale);
}

/// The waiter to serve first, if any is queued: highest-priority lane, then oldest.
pub(crate) fn best(slots: &[Slot]) -> Option<Candidate<'_>> {
    let mut best: Option<Candidate<'_>> = None;
    for slot in slots {
        let word = slot.state.load(Ordering::Acquire);
        if word & PHASE != WAITING {
            continue;
        }
        let candidate = Candidate { slot, word };
        if best.is_none_or(|current| candidate.precedes(&current)) {
            best = Some(candidate);
        }
    }
    best
}

/// Grants a unit already reserved to the waiter `candidate` saw. `Err` when that waiter is no
/// longer waiting (dropped, or granted by another thread): the reservation must be undone.
/// `Ok` carries the waker to wake, once the caller has updated the counts.
pub(crate) fn grant(candidate: Candidate<'_>) -> Result<Option<Waker>, ()> {
    let slot = candidate.slot;
    let mut word = candidate.word;
    loop {
        // Over REGISTERING the future owns the cell: leave it, it will see GRANTED itself.
        let claim_cell = if word & REGISTERING == 0 { WAKING } else { 0 };
        let next = (word & !PHASE) | GRANTED | claim_cell;
        // AcqRel: acquire the future's waker write, release the reservation to the future.
        match slot
            .state
            .compare_exchange(word, next, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) if claim_cell == 0 => return Ok(None),
            Ok(_) => break,
            Err(actual) => {
                let same_waiter = actual & IDENTITY == candidate.word & IDENTITY;
                if actual & PHASE == WAITING && same_waiter {
                    word = actual; // only REGISTERING changed: try again
                } else {
                    return Err(());
                }
            }
        }
    }
    // SAFETY: we set WAKING while REGISTERING was clear: the cell is ours until WAKING clears.
    let waker = unsafe { slot.waker.replace(None) };
    let prev = slot.state.fetch_and(!WAKING, Ordering::AcqRel);
    if prev & CLOSED != 0 {
        // The future collected its permit meanwhile and left the slot to us; it needs no wake.
        slot.state.store(FREE, Ordering::Release);
        return Ok(None);
    }
    Ok(waker)
}

/// The owning future checks its slot without touching its waker: `true` when granted (the slot
/// is then left and the permit is the caller's).
pub(crate) fn take_grant(slot: &Slot) -> bool {
    let word = slot.state.load(Ordering::Acquire);
    if word & PHASE == GRANTED {
        leave_granted(slot, word);
        true
    } else {
        false
    }
}

/// The owning future is polled again: collect a grant, or make sure `waker` is the one a grant
/// will wake. `true` when granted.
pub(crate) fn poll(slot: &Slot, waker: &Waker) -> bool {
    let mut word = slot.state.load(Ordering::Acquire);
    loop {
        match word & PHASE {
            GRANTED => {
                leave_granted(slot, word);
                return true;
            }
            WAITING => {
                match slot.state.compare_exchange(
                    word,
                    word | REGISTERING,
                    Ordering::Acquire,
                    Ordering::Acquire,
                ) {
                    Ok(_) => break,
                    Err(actual) => word = actual,
                }
            }
            // Not a state an owned slot can be in; staying pending is the harmless answer.
            _ => return false,
        }
    }
    // SAFETY: REGISTERING is ours, so no granter touches the cell (grants over it skip it).
    let stale = unsafe { slot.waker.register(waker) };
    let registered = word | REGISTERING;
    // Release: the new waker is written before a granter can take it.
    let outcome =
        slot.state
            .compare_exchange(registered, word, Ordering::AcqRel, Ordering::Acquire);
    drop(stale);
    match outcome {
        Ok(_) => false,
        Err(_) => {
            // Only a grant can change a REGISTERING slot, and it left the cell to us.
            // SAFETY: REGISTERING is still set and still ours.
            let ours = unsafe { slot.waker.replace(None) };
            slot.state.store(FREE, Ordering::Release);
            drop(ours);
            true
        }
    }
}

/// What a dropped waiting future held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cancelled {
    /// It was still waiting: it left the queue.
    Left,
    /// It had been granted: it holds a permit that must be released.
    Granted,
    /// The slot was not in a state an owned slot can be in: nothing to undo.
    Gone,
}

/// The owning future is dropped while queued.
pub(crate) fn cancel(slot: &Slot) -> Cancelled {
    let mut word = slot.state.load(Ordering::Acquire);
    loop {
        match word & PHASE {
            GRANTED => {
                leave_granted(slot, word);
                return Cancelled::Granted;
            }
            WAITING => {
                let next = (word & !PHASE) | CANCELLING;
                match slot
                    .state
                    .compare_exchange(word, next, Ordering::Acquire, Ordering::Acquire)
                {
                    Ok(_) => break,
                    Err(actual) => word = actual,
                }
            }
            _ => return Cancelled::Gone,
        }
    }
    // SAFETY: CANCELLING is ours and granters ignore it; WAKING cannot be set without GRANTED.
    let waker = unsafe { slot.waker.replace(None) };
    slot.state.store(FREE, Ordering::Release);
    drop(waker);
    Cancelled::Left
}

/// A granted future leaves its slot: free it, or, while a granter is still taking the waker
/// out, leave the freeing to that granter.
fn leave_granted(slot: &Slot, mut word: u64) {
    loop {
        if word & WAKING == 0 {
            // The granter (if any took the cell) has emptied it and is done with the slot.
            slot.state.store(FREE, Ordering::Release);
            return;
        }
        match slot
            .state
            .compare_exchange(word, word | CLOSED, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => return,
            Err(actual) => word = actual,
        }
    }
}

/// The waker cell, over core's `UnsafeCell` or loom's checked one.
///
/// `ManuallyDrop` keeps the bulkhead free of drop glue, so `Bulkhead::new` can initialise a
/// `static` whatever `WAITERS` is. Nothing leaks in practice: every path out of a slot takes the
/// waker with it, and a queued future borrows its bulkhead, so the cell can only still hold a
/// waker when that future was leaked itself (`mem::forget`).
struct WakerCell {
    #[cfg(not(loom))]
    cell: core::cell::UnsafeCell<ManuallyDrop<Option<Waker>>>,
    #[cfg(loom)]
    cell: loom::cell::UnsafeCell<ManuallyDrop<Option<Waker>>>,
}

impl WakerCell {
    crate::sync::const_fn! {
        fn new() -> WakerCell {
            WakerCell {
                #[cfg(not(loom))]
                cell: core::cell::UnsafeCell::new(ManuallyDrop::new(None)),
                #[cfg(loom)]
                cell: loom::cell::UnsafeCell::new(ManuallyDrop::new(None)),
            }
        }
    }

    /// Runs `f` on the cell's contents.
    ///
    /// # Safety
    /// The caller owns the cell under the slot protocol (module doc).
    unsafe fn with_mut<R>(&self, f: impl FnOnce(&mut Option<Waker>) -> R) -> R {
        #[cfg(not(loom))]
        // SAFETY: exclusive access is the caller's contract.
        let result = f(unsafe { &mut *self.cell.get() });
        #[cfg(loom)]
        // SAFETY: exclusive access is the caller's contract (and loom checks it).
        let result = self.cell.with_mut(|cell| f(unsafe { &mut *cell }));
        result
    }

    /// Puts `waker` in the cell, returning what was there.
    ///
    /// # Safety
    /// The caller owns the cell under the slot protocol (module doc).
    unsafe fn replace(&self, waker: Option<Waker>) -> Option<Waker> {
        // SAFETY: forwarded from the caller.
        unsafe { self.with_mut(|current| core::mem::replace(current, waker)) }
    }

    /// Makes the cell hold a waker that wakes the same task as `waker`, cloning only when it
    /// differs; returns a replaced waker for the caller to drop.
    ///
    /// # Safety
    /// The caller owns the cell under the slot protocol (module doc).
    unsafe fn register(&self, waker: &Waker) -> Option<Waker> {
        // SAFETY: forwarded from the caller.
        unsafe {
            self.with_mut(|current| match current {
                Some(stored) if stored.will_wake(waker) => None,
                _ => current.replace(waker.clone()),
            })
        }
    }
}
