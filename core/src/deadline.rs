//! `Deadline`: an instant after which no call starts.
//!
//! A deadline bounds a whole call, retries and waits included (docs/semantics.md section 6: a
//! deadline that is already past is not called at all). It is a plain instant in the caller's
//! clock, so it is 8 bytes, `Copy`, and compares and combines without atomics. A deadline counts
//! as expired from the instant itself on (`now >= at`): at that point no time remains for a call.

use crate::Nanos;

/// An instant after which no call starts.
///
/// ```
/// use stanchion::{Deadline, Nanos};
/// let deadline = Deadline::after(Nanos::from_secs(10), Nanos::from_secs(2));
/// assert_eq!(deadline.remaining(Nanos::from_secs(11)), Nanos::from_secs(1));
/// assert!(deadline.is_expired(Nanos::from_secs(12)));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Deadline {
    at: Nanos,
}

impl Deadline {
    /// A deadline that never expires before the end of time ([`Nanos::MAX`]).
    pub const NEVER: Deadline = Deadline { at: Nanos::MAX };

    /// The deadline `timeout` after `now`, saturating at [`Nanos::MAX`].
    ///
    /// ```
    /// use stanchion::{Deadline, Nanos};
    /// let d = Deadline::after(Nanos::new(5), Nanos::new(10));
    /// assert_eq!(d.expires_at(), Nanos::new(15));
    /// assert_eq!(Deadline::after(Nanos::MAX, Nanos::new(1)), Deadline::NEVER);
    /// ```
    pub const fn after(now: Nanos, timeout: Nanos) -> Deadline {
        Deadline {
            at: now.saturating_add(timeout),
        }
    }

    /// The deadline at instant `at`.
    ///
    /// ```
    /// use stanchion::{Deadline, Nanos};
    /// assert_eq!(Deadline::at(Nanos::new(7)).expires_at(), Nanos::new(7));
    /// ```
    pub const fn at(at: Nanos) -> Deadline {
        Deadline { at }
    }

    /// The instant this deadline expires.
    ///
    /// ```
    /// use stanchion::{Deadline, Nanos};
    /// assert_eq!(Deadline::NEVER.expires_at(), Nanos::MAX);
    /// ```
    pub const fn expires_at(self) -> Nanos {
        self.at
    }

    /// Time left at `now`: zero once expired, never negative.
    ///
    /// ```
    /// use stanchion::{Deadline, Nanos};
    /// let d = Deadline::at(Nanos::new(100));
    /// assert_eq!(d.remaining(Nanos::new(40)), Nanos::new(60));
    /// assert_eq!(d.remaining(Nanos::new(140)), Nanos::ZERO);
    /// ```
    pub const fn remaining(self, now: Nanos) -> Nanos {
        self.at.saturating_sub(now)
    }

    /// Whether the deadline has passed at `now` (`now >= expires_at()`): no time remains, so
    /// no call should start.
    ///
    /// ```
    /// use stanchion::{Deadline, Nanos};
    /// let d = Deadline::at(Nanos::new(100));
    /// assert!(!d.is_expired(Nanos::new(99)));
    /// assert!(d.is_expired(Nanos::new(100)));
    /// ```
    pub const fn is_expired(self, now: Nanos) -> bool {
        now.as_nanos() >= self.at.as_nanos()
    }

    /// The earlier of two deadlines: a call inside another keeps the tighter bound.
    ///
    /// ```
    /// use stanchion::{Deadline, Nanos};
    /// let outer = Deadline::at(Nanos::new(100));
    /// let inner = Deadline::after(Nanos::new(50), Nanos::new(80));
    /// assert_eq!(outer.min(inner), outer);
    /// ```
    pub const fn min(self, other: Deadline) -> Deadline {
        Deadline {
            at: self.at.min(other.at),
        }
    }
}

impl From<Nanos> for Deadline {
    fn from(at: Nanos) -> Deadline {
        Deadline::at(at)
    }
}
