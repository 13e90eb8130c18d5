//! Permits, what they report, and the change of limit a report can cause.

use core::fmt;

use super::AdaptiveLimiter;
use crate::Nanos;

/// How a call through an [`AdaptiveLimiter`] ended, as the caller classifies it.
///
/// The numbers of the first three are those of the breaker's [`Outcome`](crate::Outcome), which
/// converts into this one.
///
/// ```
/// use stanchion::adaptive::Outcome;
/// assert_eq!(Outcome::from(stanchion::Outcome::Failure), Outcome::Failure);
/// assert_eq!(Outcome::Dropped as u8, 3);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Outcome {
    /// The call worked: its latency is a sample.
    Success = 0,
    /// The call failed: its latency is a sample all the same (a fast error says nothing about
    /// overload; report a timeout or a refusal from further down as `Dropped`).
    Failure = 1,
    /// Neither: no sample (a cancelled call, a caller's mistake). The permit is given back.
    Ignored = 2,
    /// The call timed out, or a dependency refused it for overload: a drop, which makes its
    /// window a dropped one and lowers the limit.
    Dropped = 3,
}

impl Outcome {
    /// A short, stable name, as bindings spell it: `"success"`, `"failure"`, `"ignored"` or
    /// `"dropped"`.
    ///
    /// ```
    /// assert_eq!(stanchion::adaptive::Outcome::Dropped.as_str(), "dropped");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Ignored => "ignored",
            Outcome::Dropped => "dropped",
        }
    }
}

impl From<crate::Outcome> for Outcome {
    fn from(outcome: crate::Outcome) -> Outcome {
        match outcome {
            crate::Outcome::Success => Outcome::Success,
            crate::Outcome::Failure => Outcome::Failure,
            crate::Outcome::Ignored => Outcome::Ignored,
        }
    }
}

/// The limit before and after the update that a report made, returned when the report closed a
/// window whose update changed the limit, so bindings can raise an event.
///
/// ```
/// use stanchion::adaptive::LimitChange;
/// let change = LimitChange { from: 20, to: 18 };
/// assert!(change.to < change.from);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LimitChange {
    /// The limit before the update.
    pub from: u32,
    /// The limit after it.
    pub to: u32,
}

/// A permit as a plain 16-byte value, for bindings that cannot hold a borrow: from
/// [`Permit::into_raw`], reported with [`AdaptiveLimiter::record_raw`] or given back with
/// [`AdaptiveLimiter::release`].
///
/// Both take it by `&mut` and mark it reported, so a second report of the same value does
/// nothing. A copy is a separate value the limiter cannot tell apart: keep exactly one per
/// permit.
///
/// ```
/// use stanchion::adaptive::{AdaptiveLimiter, Outcome, RawPermit};
/// use stanchion::{AdaptiveConfig, Nanos};
/// let limiter: AdaptiveLimiter = AdaptiveLimiter::new(AdaptiveConfig::new()).unwrap();
/// let mut raw = limiter.try_acquire(Nanos::ZERO).unwrap().into_raw();
/// assert_eq!((raw.issued_at(), raw.in_flight(), raw.is_held()), (Nanos::ZERO, 1, true));
/// limiter.record_raw(&mut raw, Outcome::Success, Nanos::from_millis(3));
/// assert!(!raw.is_held());
/// assert_eq!(limiter.snapshot().in_flight, 0);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(C)]
pub struct RawPermit {
    issued_at: Nanos,
    in_flight: u32,
    held: bool,
}

impl RawPermit {
    /// Rebuilds a permit from its parts, for bindings that keep permits in a representation of
    /// their own. A rebuilt permit is as good as a copy: report only one value per permit taken.
    ///
    /// ```
    /// use stanchion::{adaptive::RawPermit, Nanos};
    /// let raw = RawPermit::from_parts(Nanos::new(5), 3, true);
    /// assert_eq!((raw.issued_at(), raw.in_flight(), raw.is_held()), (Nanos::new(5), 3, true));
    /// ```
    pub const fn from_parts(issued_at: Nanos, in_flight: u32, held: bool) -> RawPermit {
        RawPermit {
            issued_at,
            in_flight,
            held,
        }
    }

    /// When the call began: its latency is measured from here.
    ///
    /// ```
    /// use stanchion::{adaptive::RawPermit, Nanos};
    /// assert_eq!(RawPermit::from_parts(Nanos::new(9), 1, true).issued_at(), Nanos::new(9));
    /// ```
    pub const fn issued_at(&self) -> Nanos {
        self.issued_at
    }

    /// The calls in flight when this one was admitted, itself included: its window's in-flight
    /// figure is the highest of these.
    ///
    /// ```
    /// use stanchion::{adaptive::RawPermit, Nanos};
    /// assert_eq!(RawPermit::from_parts(Nanos::ZERO, 4, true).in_flight(), 4);
    /// ```
    pub const fn in_flight(&self) -> u32 {
        self.in_flight
    }

    /// Whether this value still holds its permit (it has been neither recorded nor released).
    ///
    /// ```
    /// use stanchion::{adaptive::RawPermit, Nanos};
    /// assert!(!RawPermit::from_parts(Nanos::ZERO, 1, false).is_held());
    /// ```
    pub const fn is_held(&self) -> bool {
        self.held
    }

    /// Marks the value reported; `true` if it still held its permit.
    pub(crate) fn disarm(&mut self) -> bool {
        core::mem::replace(&mut self.held, false)
    }
}

/// A call admitted by an [`AdaptiveLimiter`]. Report how it ended with [`record`](Self::record);
/// dropping it unreported gives the permit back with no sample, as an `Ignored` outcome.
///
/// ```
/// use stanchion::adaptive::{AdaptiveLimiter, Outcome};
/// use stanchion::{AdaptiveConfig, Nanos};
/// let limiter: AdaptiveLimiter = AdaptiveLimiter::new(AdaptiveConfig::new()).unwrap();
/// let permit = limiter.try_acquire(Nanos::ZERO).unwrap();
/// assert_eq!(limiter.snapshot().in_flight, 1);
/// assert_eq!(permit.record(Outcome::Success, Nanos::from_millis(4)), None);
/// assert_eq!(limiter.snapshot().in_flight, 0);
/// ```
#[must_use = "a permit should be recorded; dropping it gives it back with no sample"]
pub struct Permit<'a, const WAITERS: usize = 0> {
    limiter: &'a AdaptiveLimiter<WAITERS>,
    raw: RawPermit,
}

impl<'a, const WAITERS: usize> Permit<'a, WAITERS> {
    pub(crate) const fn new(limiter: &'a AdaptiveLimiter<WAITERS>, raw: RawPermit) -> Self {
        Permit { limiter, raw }
    }

    /// Reports how the call ended at `now`, which gives the permit back and, unless the outcome
    /// is `Ignored`, folds the call's latency into the open window. Returns the change of limit
    /// when this report closed a window whose update changed the limit.
    ///
    /// ```
    /// use stanchion::adaptive::{AdaptiveConfig, AdaptiveLimiter, LimitChange, Outcome};
    /// use stanchion::Nanos;
    /// // Every sample is a window of its own.
    /// let config = AdaptiveConfig::new().limits(1, 10, 100).window(Nanos::ZERO, 1);
    /// let limiter: AdaptiveLimiter = AdaptiveLimiter::new(config).unwrap();
    /// let permit = limiter.try_acquire(Nanos::ZERO).unwrap();
    /// let change = permit.record(Outcome::Dropped, Nanos::from_millis(5));
    /// assert_eq!(change, Some(LimitChange { from: 10, to: 9 }));
    /// ```
    pub fn record(self, outcome: Outcome, now: Nanos) -> Option<LimitChange> {
        let (limiter, mut raw) = self.into_parts();
        limiter.record_raw(&mut raw, outcome, now)
    }

    /// When the call began.
    ///
    /// ```
    /// use stanchion::{AdaptiveConfig, AdaptiveLimiter, Nanos};
    /// let limiter: AdaptiveLimiter = AdaptiveLimiter::new(AdaptiveConfig::new()).unwrap();
    /// assert_eq!(limiter.try_acquire(Nanos::new(7)).unwrap().issued_at(), Nanos::new(7));
    /// ```
    pub fn issued_at(&self) -> Nanos {
        self.raw.issued_at
    }

    /// The calls in flight when this one was admitted, itself included.
    ///
    /// ```
    /// use stanchion::{AdaptiveConfig, AdaptiveLimiter, Nanos};
    /// let limiter: AdaptiveLimiter = AdaptiveLimiter::new(AdaptiveConfig::new()).unwrap();
    /// let first = limiter.try_acquire(Nanos::ZERO).unwrap();
    /// assert_eq!(limiter.try_acquire(Nanos::ZERO).unwrap().in_flight(), 2);
    /// # drop(first);
    /// ```
    pub fn in_flight(&self) -> u32 {
        self.raw.in_flight
    }

    /// Turns the guard into a plain value that gives nothing back when dropped; report it with
    /// [`AdaptiveLimiter::record_raw`]. For bindings, which cannot hold a borrow across calls.
    ///
    /// ```
    /// use stanchion::adaptive::Outcome;
    /// use stanchion::{AdaptiveConfig, AdaptiveLimiter, Nanos};
    /// let limiter: AdaptiveLimiter = AdaptiveLimiter::new(AdaptiveConfig::new()).unwrap();
    /// let mut raw = limiter.try_acquire(Nanos::ZERO).unwrap().into_raw();
    /// assert_eq!(limiter.record_raw(&mut raw, Outcome::Success, Nanos::new(10)), None);
    /// assert_eq!(limiter.record_raw(&mut raw, Outcome::Success, Nanos::new(10)), None);
    /// assert_eq!(limiter.snapshot().in_flight, 0);
    /// ```
    pub fn into_raw(self) -> RawPermit {
        self.into_parts().1
    }

    fn into_parts(self) -> (&'a AdaptiveLimiter<WAITERS>, RawPermit) {
        let parts = (self.limiter, self.raw);
        core::mem::forget(self);
        parts
    }
}

impl<const WAITERS: usize> Drop for Permit<'_, WAITERS> {
    #[inline]
    fn drop(&mut self) {
        self.limiter.release(&mut self.raw);
    }
}

impl<const WAITERS: usize> fmt::Debug for Permit<'_, WAITERS> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit").field("raw", &self.raw).finish()
    }
}
