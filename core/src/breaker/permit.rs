//! Permits: proof that a call was admitted, carrying what the breaker needs to judge it.

use super::{CircuitBreaker, Outcome, Transition};
use crate::Nanos;

/// A permit as plain data, for callers that cannot hold a borrow of the breaker (bindings,
/// permits kept across an FFI boundary). Report it with
/// [`CircuitBreaker::record_raw`] or [`CircuitBreaker::release_raw`]; reporting it twice is
/// harmless only while the breaker is closed, so keep it unique.
///
/// ```
/// use stanchion::breaker::{CircuitBreaker, Outcome};
/// use stanchion::Nanos;
/// let breaker: CircuitBreaker = CircuitBreaker::new(Default::default()).unwrap();
/// let (admitted, _) = breaker.try_acquire_raw(Nanos::ZERO);
/// let raw = admitted.unwrap();
/// assert_eq!(raw.issued_at(), Nanos::ZERO);
/// assert_eq!(breaker.record_raw(raw, Outcome::Success, Nanos::from_millis(3)), None);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RawPermit {
    generation: u32,
    issued_at: Nanos,
}

impl RawPermit {
    /// Rebuilds a permit from its parts (as a binding stored them).
    ///
    /// ```
    /// use stanchion::{breaker::RawPermit, Nanos};
    /// let p = RawPermit::from_parts(3, Nanos::new(10));
    /// assert_eq!((p.generation(), p.issued_at()), (3, Nanos::new(10)));
    /// ```
    pub const fn from_parts(generation: u32, issued_at: Nanos) -> RawPermit {
        RawPermit {
            generation,
            issued_at,
        }
    }

    /// The generation the permit was issued in: a report from an older generation is stale.
    ///
    /// ```
    /// assert_eq!(stanchion::breaker::RawPermit::from_parts(7, stanchion::Nanos::ZERO).generation(), 7);
    /// ```
    pub const fn generation(&self) -> u32 {
        self.generation
    }

    /// When the call was admitted: the call's duration is measured from here.
    ///
    /// ```
    /// use stanchion::{breaker::RawPermit, Nanos};
    /// assert_eq!(RawPermit::from_parts(0, Nanos::new(5)).issued_at(), Nanos::new(5));
    /// ```
    pub const fn issued_at(&self) -> Nanos {
        self.issued_at
    }
}

/// An admitted call. Report how it ended with [`Permit::record`]; dropping it unreported
/// releases it (as [`Permit::release`] at the time it was issued), so an abandoned call never
/// holds a half-open probe slot.
///
/// ```
/// use stanchion::breaker::{BreakerConfig, CircuitBreaker, Outcome, State};
/// use stanchion::Nanos;
/// let breaker: CircuitBreaker = CircuitBreaker::new(BreakerConfig::new()).unwrap();
/// let permit = breaker.try_acquire(Nanos::ZERO).unwrap();
/// assert_eq!(permit.transition(), None);
/// assert_eq!(permit.record(Outcome::Success, Nanos::from_millis(2)), None);
/// assert_eq!(breaker.state(), State::Closed);
/// ```
#[must_use = "a permit should be recorded; dropping it releases it unrecorded"]
#[derive(Debug)]
pub struct Permit<'a, const W: usize> {
    pub(super) breaker: &'a CircuitBreaker<W>,
    pub(super) raw: RawPermit,
    pub(super) transition: Option<Transition>,
}

impl<'a, const W: usize> Permit<'a, W> {
    /// Records the call's outcome at `now`; returns the transition it caused, if any.
    ///
    /// ```
    /// use stanchion::breaker::{BreakerConfig, CircuitBreaker, Outcome, State, Transition};
    /// use stanchion::Nanos;
    /// let breaker: CircuitBreaker =
    ///     CircuitBreaker::new(BreakerConfig::new().failure_count(Some(1))).unwrap();
    /// let permit = breaker.try_acquire(Nanos::ZERO).unwrap();
    /// let t = permit.record(Outcome::Failure, Nanos::new(1));
    /// assert_eq!(t, Some(Transition { from: State::Closed, to: State::Open }));
    /// ```
    pub fn record(self, outcome: Outcome, now: Nanos) -> Option<Transition> {
        let (breaker, raw) = self.into_raw();
        breaker.record_raw(raw, outcome, now)
    }

    /// Abandons the call (cancelled, or timed out by the caller's choice): frees its probe
    /// slot, records nothing.
    ///
    /// ```
    /// use stanchion::breaker::CircuitBreaker;
    /// use stanchion::Nanos;
    /// let breaker: CircuitBreaker = CircuitBreaker::new(Default::default()).unwrap();
    /// let permit = breaker.try_acquire(Nanos::ZERO).unwrap();
    /// assert_eq!(permit.release(Nanos::new(1)), None);
    /// ```
    pub fn release(self, now: Nanos) -> Option<Transition> {
        let (breaker, raw) = self.into_raw();
        breaker.release_raw(raw, now)
    }

    /// The transition that admitting this call caused (open to half-open), reported once here.
    ///
    /// ```
    /// use stanchion::breaker::CircuitBreaker;
    /// use stanchion::Nanos;
    /// let breaker: CircuitBreaker = CircuitBreaker::new(Default::default()).unwrap();
    /// assert_eq!(breaker.try_acquire(Nanos::ZERO).unwrap().transition(), None);
    /// ```
    pub fn transition(&self) -> Option<Transition> {
        self.transition
    }

    /// When the call was admitted.
    ///
    /// ```
    /// use stanchion::breaker::CircuitBreaker;
    /// use stanchion::Nanos;
    /// let breaker: CircuitBreaker = CircuitBreaker::new(Default::default()).unwrap();
    /// assert_eq!(breaker.try_acquire(Nanos::new(9)).unwrap().issued_at(), Nanos::new(9));
    /// ```
    pub fn issued_at(&self) -> Nanos {
        self.raw.issued_at
    }

    /// Gives up the borrow: the breaker and the plain permit, which no longer releases on drop.
    ///
    /// ```
    /// use stanchion::breaker::{CircuitBreaker, Outcome};
    /// use stanchion::Nanos;
    /// let breaker: CircuitBreaker = CircuitBreaker::new(Default::default()).unwrap();
    /// let (b, raw) = breaker.try_acquire(Nanos::ZERO).unwrap().into_raw();
    /// assert_eq!(b.record_raw(raw, Outcome::Success, Nanos::new(1)), None);
    /// ```
    pub fn into_raw(self) -> (&'a CircuitBreaker<W>, RawPermit) {
        let parts = (self.breaker, self.raw);
        core::mem::forget(self);
        parts
    }
}

impl<const W: usize> Drop for Permit<'_, W> {
    fn drop(&mut self) {
        // No clock here: release as of the issue time, which frees the slot and never counts
        // as a lease expiry.
        self.breaker.release_raw(self.raw, self.raw.issued_at);
    }
}
