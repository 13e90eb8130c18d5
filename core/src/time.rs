//! `Nanos`: the one unit of time in the core.
//!
//! The core never reads a clock. Every operation takes `now` as a [`Nanos`] counted from any
//! monotonic origin the caller picks, and every duration in a config is a [`Nanos`] too, so
//! time arithmetic is plain `u64` arithmetic that saturates instead of wrapping. A `Nanos` is 8
//! bytes.

use core::fmt;
use core::time::Duration;

/// A point in time or a length of time, in whole nanoseconds (`u64`).
///
/// As an instant it counts from an origin the caller chooses (process start, boot, the Unix
/// epoch); only differences matter to the core. All arithmetic saturates at `0` and
/// [`Nanos::MAX`], so no input can overflow.
///
/// ```
/// use stanchion::Nanos;
/// let t = Nanos::from_secs(2) + Nanos::from_millis(500);
/// assert_eq!(t.as_nanos(), 2_500_000_000);
/// assert_eq!(Nanos::ZERO - t, Nanos::ZERO); // saturates, never wraps
/// assert_eq!(Nanos::MAX + t, Nanos::MAX);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[repr(transparent)]
pub struct Nanos(u64);

impl Nanos {
    /// Zero: the origin, or no time at all.
    pub const ZERO: Nanos = Nanos(0);
    /// The largest representable time (about 584 years).
    pub const MAX: Nanos = Nanos(u64::MAX);

    /// `n` nanoseconds.
    ///
    /// ```
    /// assert_eq!(stanchion::Nanos::new(7).as_nanos(), 7);
    /// ```
    pub const fn new(n: u64) -> Nanos {
        Nanos(n)
    }

    /// `us` microseconds, saturating.
    ///
    /// ```
    /// assert_eq!(stanchion::Nanos::from_micros(3).as_nanos(), 3_000);
    /// ```
    pub const fn from_micros(us: u64) -> Nanos {
        Nanos(us.saturating_mul(1_000))
    }

    /// `ms` milliseconds, saturating.
    ///
    /// ```
    /// assert_eq!(stanchion::Nanos::from_millis(3).as_nanos(), 3_000_000);
    /// ```
    pub const fn from_millis(ms: u64) -> Nanos {
        Nanos(ms.saturating_mul(1_000_000))
    }

    /// `s` seconds, saturating.
    ///
    /// ```
    /// assert_eq!(stanchion::Nanos::from_secs(3).as_nanos(), 3_000_000_000);
    /// assert_eq!(stanchion::Nanos::from_secs(u64::MAX), stanchion::Nanos::MAX);
    /// ```
    pub const fn from_secs(s: u64) -> Nanos {
        Nanos(s.saturating_mul(1_000_000_000))
    }

    /// A [`Duration`], saturating at [`Nanos::MAX`].
    ///
    /// ```
    /// use core::time::Duration;
    /// use stanchion::Nanos;
    /// assert_eq!(Nanos::from_duration(Duration::from_millis(5)), Nanos::from_millis(5));
    /// assert_eq!(Nanos::from_duration(Duration::MAX), Nanos::MAX);
    /// ```
    pub const fn from_duration(d: Duration) -> Nanos {
        let n = d.as_nanos();
        if n > u64::MAX as u128 {
            Nanos::MAX
        } else {
            Nanos(n as u64)
        }
    }

    /// The count of nanoseconds.
    ///
    /// ```
    /// assert_eq!(stanchion::Nanos::from_micros(1).as_nanos(), 1_000);
    /// ```
    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// As a [`Duration`].
    ///
    /// ```
    /// use core::time::Duration;
    /// assert_eq!(stanchion::Nanos::from_millis(5).as_duration(), Duration::from_millis(5));
    /// ```
    pub const fn as_duration(self) -> Duration {
        Duration::from_nanos(self.0)
    }

    /// `self + rhs`, saturating at [`Nanos::MAX`].
    ///
    /// ```
    /// use stanchion::Nanos;
    /// assert_eq!(Nanos::MAX.saturating_add(Nanos::new(1)), Nanos::MAX);
    /// ```
    pub const fn saturating_add(self, rhs: Nanos) -> Nanos {
        Nanos(self.0.saturating_add(rhs.0))
    }

    /// `self - rhs`, saturating at zero: the time from `rhs` until `self`.
    ///
    /// ```
    /// use stanchion::Nanos;
    /// assert_eq!(Nanos::new(3).saturating_sub(Nanos::new(5)), Nanos::ZERO);
    /// ```
    pub const fn saturating_sub(self, rhs: Nanos) -> Nanos {
        Nanos(self.0.saturating_sub(rhs.0))
    }

    /// `self * n`, saturating at [`Nanos::MAX`].
    ///
    /// ```
    /// use stanchion::Nanos;
    /// assert_eq!(Nanos::from_secs(2).saturating_mul(3), Nanos::from_secs(6));
    /// ```
    pub const fn saturating_mul(self, n: u64) -> Nanos {
        Nanos(self.0.saturating_mul(n))
    }

    /// The larger of two times (usable in `const` contexts, unlike `Ord::max`).
    ///
    /// ```
    /// use stanchion::Nanos;
    /// assert_eq!(Nanos::new(3).max(Nanos::new(5)), Nanos::new(5));
    /// ```
    pub const fn max(self, other: Nanos) -> Nanos {
        if self.0 >= other.0 {
            self
        } else {
            other
        }
    }

    /// The smaller of two times (usable in `const` contexts, unlike `Ord::min`).
    ///
    /// ```
    /// use stanchion::Nanos;
    /// assert_eq!(Nanos::new(3).min(Nanos::new(5)), Nanos::new(3));
    /// ```
    pub const fn min(self, other: Nanos) -> Nanos {
        if self.0 <= other.0 {
            self
        } else {
            other
        }
    }
}

impl core::ops::Add for Nanos {
    type Output = Nanos;
    fn add(self, rhs: Nanos) -> Nanos {
        self.saturating_add(rhs)
    }
}

impl core::ops::Sub for Nanos {
    type Output = Nanos;
    fn sub(self, rhs: Nanos) -> Nanos {
        self.saturating_sub(rhs)
    }
}

impl From<Duration> for Nanos {
    fn from(d: Duration) -> Nanos {
        Nanos::from_duration(d)
    }
}

impl From<Nanos> for Duration {
    fn from(n: Nanos) -> Duration {
        n.as_duration()
    }
}

impl From<u64> for Nanos {
    fn from(n: u64) -> Nanos {
        Nanos(n)
    }
}

impl From<Nanos> for u64 {
    fn from(n: Nanos) -> u64 {
        n.0
    }
}

impl fmt::Debug for Nanos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ns", self.0)
    }
}

impl fmt::Display for Nanos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.as_duration(), f)
    }
}

/// A monotonic clock for hosted programs: nanoseconds since the first call in this process.
///
/// Only with the `std` feature. The core itself never calls it; it is a convenience for callers
/// that want a `now` without choosing an origin.
///
/// ```
/// let a = stanchion::monotonic_now();
/// let b = stanchion::monotonic_now();
/// assert!(b >= a);
/// ```
#[cfg(feature = "std")]
pub fn monotonic_now() -> Nanos {
    extern crate std;
    use std::sync::OnceLock;
    use std::time::Instant;
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    let origin = *ORIGIN.get_or_init(Instant::now);
    Nanos::from_duration(origin.elapsed())
}
