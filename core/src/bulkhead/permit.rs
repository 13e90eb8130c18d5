//! Permits: the RAII guard for Rust callers and the plain value for bindings.

use core::fmt;

use super::Bulkhead;

/// One unit of a [`Bulkhead`]'s concurrency, given back when dropped.
///
/// ```
/// use stanchion::{Bulkhead, BulkheadConfig};
/// let bulkhead: Bulkhead = Bulkhead::new(BulkheadConfig::new(1)).unwrap();
/// let permit = bulkhead.try_acquire(0).unwrap();
/// assert_eq!(bulkhead.snapshot().in_flight, 1);
/// drop(permit);
/// assert_eq!(bulkhead.snapshot().in_flight, 0);
/// ```
#[must_use = "dropping a permit releases it at once"]
pub struct Permit<'a, const WAITERS: usize = 0> {
    bulkhead: &'a Bulkhead<WAITERS>,
    lane: u8,
}

impl<'a, const WAITERS: usize> Permit<'a, WAITERS> {
    pub(crate) const fn new(bulkhead: &'a Bulkhead<WAITERS>, lane: u8) -> Self {
        Permit { bulkhead, lane }
    }

    /// The lane the permit was taken in (an unknown lane asked for reads as the lowest one).
    ///
    /// ```
    /// use stanchion::{Bulkhead, BulkheadConfig};
    /// let bulkhead: Bulkhead = Bulkhead::new(BulkheadConfig::new(4).lanes(&[4, 2])).unwrap();
    /// assert_eq!(bulkhead.try_acquire(1).unwrap().lane(), 1);
    /// assert_eq!(bulkhead.try_acquire(9).unwrap().lane(), 1);
    /// ```
    pub const fn lane(&self) -> usize {
        self.lane as usize
    }

    /// Turns the guard into a plain value that releases nothing when dropped; give it back with
    /// [`Bulkhead::release`]. For bindings, which cannot hold a borrow across calls.
    ///
    /// ```
    /// use stanchion::{Bulkhead, BulkheadConfig};
    /// let bulkhead: Bulkhead = Bulkhead::new(BulkheadConfig::new(1)).unwrap();
    /// let mut raw = bulkhead.try_acquire(0).unwrap().into_raw();
    /// assert_eq!(bulkhead.snapshot().in_flight, 1);
    /// assert!(bulkhead.release(&mut raw));
    /// assert_eq!(bulkhead.snapshot().in_flight, 0);
    /// ```
    pub fn into_raw(self) -> RawPermit {
        let raw = RawPermit {
            lane: self.lane,
            held: true,
        };
        core::mem::forget(self);
        raw
    }
}

impl<const WAITERS: usize> Drop for Permit<'_, WAITERS> {
    #[inline]
    fn drop(&mut self) {
        self.bulkhead.release_unit();
    }
}

impl<const WAITERS: usize> fmt::Debug for Permit<'_, WAITERS> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit").field("lane", &self.lane).finish()
    }
}

/// A permit as a plain two-byte value, for bindings: from [`Permit::into_raw`], given back with
/// [`Bulkhead::release`].
///
/// `release` takes it by `&mut` and marks it released, so releasing the same value again is a
/// no-op: a binding keeps one `RawPermit` inside its permit object and needs no flag of its
/// own. A copy is a separate value the bulkhead cannot tell apart, so keep exactly one per
/// permit; the bulkhead itself ignores a release when no permit is out at all.
///
/// ```
/// use stanchion::{Bulkhead, BulkheadConfig};
/// let bulkhead: Bulkhead = Bulkhead::new(BulkheadConfig::new(2)).unwrap();
/// let mut raw = bulkhead.try_acquire(0).unwrap().into_raw();
/// assert!(raw.is_held());
/// assert!(bulkhead.release(&mut raw));
/// assert!(!raw.is_held());
/// assert!(!bulkhead.release(&mut raw)); // the second release does nothing
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(C)]
pub struct RawPermit {
    lane: u8,
    held: bool,
}

impl RawPermit {
    /// Rebuilds a permit from its lane and held flag, for bindings that keep permits in their
    /// own representation (a C struct, say). `None` for a lane past [`MAX_LANES`](super::MAX_LANES).
    ///
    /// A rebuilt permit is as good as a copy: release only the one value that stands for each
    /// permit taken, exactly as with [`into_raw`](super::Permit::into_raw)'s value.
    ///
    /// ```
    /// use stanchion::bulkhead::RawPermit;
    /// use stanchion::{Bulkhead, BulkheadConfig};
    /// let bulkhead: Bulkhead = Bulkhead::new(BulkheadConfig::new(1)).unwrap();
    /// let taken = bulkhead.try_acquire(0).unwrap().into_raw();
    /// let mut rebuilt = RawPermit::from_parts(taken.lane(), taken.is_held()).unwrap();
    /// assert_eq!(rebuilt, taken);
    /// assert!(bulkhead.release(&mut rebuilt));
    /// assert!(RawPermit::from_parts(8, true).is_none());
    /// ```
    pub const fn from_parts(lane: usize, held: bool) -> Option<RawPermit> {
        if lane >= super::MAX_LANES {
            return None;
        }
        Some(RawPermit {
            lane: lane as u8,
            held,
        })
    }

    /// The lane the permit was taken in.
    ///
    /// ```
    /// use stanchion::{Bulkhead, BulkheadConfig};
    /// let bulkhead: Bulkhead = Bulkhead::new(BulkheadConfig::new(1)).unwrap();
    /// assert_eq!(bulkhead.try_acquire(0).unwrap().into_raw().lane(), 0);
    /// ```
    pub const fn lane(&self) -> usize {
        self.lane as usize
    }

    /// Whether this value still holds its permit (it has not been released).
    ///
    /// ```
    /// use stanchion::{Bulkhead, BulkheadConfig};
    /// let bulkhead: Bulkhead = Bulkhead::new(BulkheadConfig::new(1)).unwrap();
    /// let mut raw = bulkhead.try_acquire(0).unwrap().into_raw();
    /// bulkhead.release(&mut raw);
    /// assert!(!raw.is_held());
    /// ```
    pub const fn is_held(&self) -> bool {
        self.held
    }

    /// Marks the value released; `true` if it still held its permit.
    pub(crate) fn disarm(&mut self) -> bool {
        core::mem::replace(&mut self.held, false)
    }
}
