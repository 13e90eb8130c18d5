//! The circuit breaker's config: what trips it, how long it stays open, how it probes.

use crate::{fixed, ConfigError, Nanos};

/// The sliding window over which the breaker counts calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Window {
    /// The last `n` recorded calls (an exact ring of outcomes).
    Count(u32),
    /// The calls recorded in the last `span`, counted in `buckets` equal slices of it; the
    /// oldest slice slides out whole.
    Time {
        /// The length of the window.
        span: Nanos,
        /// How many slices the span is counted in (the window's resolution).
        buckets: u32,
    },
}

/// The slow-call trigger: a call that takes at least `duration` is slow, and the breaker trips
/// when the slow share of the window reaches `rate`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SlowCall {
    /// A call that takes this long or longer is slow.
    pub duration: Nanos,
    /// The slow share of the window, in `(0, 1]`, at which the breaker trips.
    pub rate: f32,
}

/// Configuration of a [`CircuitBreaker`](super::CircuitBreaker).
///
/// Defaults follow the classic "5 failures in 10 s, open for 30 s, one probe":
///
/// ```
/// use stanchion::breaker::{BreakerConfig, Window};
/// use stanchion::Nanos;
/// let config = BreakerConfig::new();
/// assert_eq!(config.failure_count, Some(5));
/// assert_eq!(config.window, Window::Time { span: Nanos::from_secs(10), buckets: 10 });
/// assert_eq!(config.open_for, Nanos::from_secs(30));
/// assert!(config.validate().is_ok());
///
/// // Trip at a 50 % failure rate over the last 20 calls, once 10 calls were seen.
/// let config = BreakerConfig::new()
///     .failure_count(None)
///     .failure_rate(Some(0.5))
///     .minimum_calls(10)
///     .window(Window::Count(20));
/// assert!(config.validate().is_ok());
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BreakerConfig {
    /// Trip when the window holds this many failures. Default `Some(5)`. At least one of
    /// the four triggers (this, `consecutive_failures`, `failure_rate`, `slow_call`) must be
    /// set: a breaker with none could never open, and [`validate`](Self::validate) refuses it
    /// naming this field.
    pub failure_count: Option<u32>,
    /// Trip after this many failures in a row. Default `None`.
    pub consecutive_failures: Option<u32>,
    /// Trip when the window's failure share reaches this rate, in `(0, 1]`, once it holds at
    /// least `minimum_calls` calls. Default `None`.
    pub failure_rate: Option<f32>,
    /// The fewest calls in the window before either rate trigger may trip. Default 10.
    pub minimum_calls: u32,
    /// The slow-call trigger. Default `None`.
    pub slow_call: Option<SlowCall>,
    /// The window the counts are taken over. Default `Time { span: 10 s, buckets: 10 }`.
    pub window: Window,
    /// How long the breaker stays open after a trip. Default 30 s.
    pub open_for: Nanos,
    /// The longest open period when trips repeat without a full recovery. Default: `open_for`
    /// (no growth).
    pub open_for_max: Nanos,
    /// Each trip in a row multiplies the open period by this factor, up to `open_for_max`
    /// (counting at most 4096 trips in a row, so a factor barely above 1 cannot make a trip
    /// cost more than that many steps). Default 2.0 (only matters when `open_for_max >
    /// open_for`).
    pub open_for_factor: f32,
    /// Proportional jitter of the open period, in `[0, 1]`: the period is shortened by a
    /// random share of up to this much of itself. Default 0 (none).
    pub open_for_jitter: f32,
    /// Probes admitted at once while half-open. Default 1.
    pub half_open_probes: u32,
    /// Successful probes that close the breaker. Default `None`: as many as `half_open_probes`.
    pub half_open_successes: Option<u32>,
    /// A probe that has not reported within this time frees its slot and counts as a failed
    /// probe. Default `None`: the slow-call duration if set, else 60 s.
    pub probe_timeout: Option<Nanos>,
    /// Seed of the open-period jitter, so a run can be replayed. Default 0.
    pub seed: u64,
}

/// The largest number of probes or probe successes (they share a 16-bit field of the state word).
pub const MAX_PROBES: u32 = u16::MAX as u32;
/// The largest count window or bucket count (16-bit config field).
pub const MAX_WINDOW_LEN: u32 = u16::MAX as u32;
/// The largest `open_for_factor` (a 16.16 fixed-point field).
pub const MAX_OPEN_FOR_FACTOR: f32 = 65_535.0;
/// The probe timeout when neither it nor a slow-call duration is set.
pub const DEFAULT_PROBE_TIMEOUT: Nanos = Nanos::from_secs(60);

impl BreakerConfig {
    /// The defaults: 5 failures in a 10 s window trip it, open for 30 s, one probe.
    ///
    /// ```
    /// let config = stanchion::breaker::BreakerConfig::new();
    /// assert_eq!(config.half_open_probes, 1);
    /// ```
    pub const fn new() -> BreakerConfig {
        BreakerConfig {
            failure_count: Some(5),
            consecutive_failures: None,
            failure_rate: None,
            minimum_calls: 10,
            slow_call: None,
            window: Window::Time {
                span: Nanos::from_secs(10),
                buckets: 10,
            },
            open_for: Nanos::from_secs(30),
            open_for_max: Nanos::from_secs(30),
            open_for_factor: 2.0,
            open_for_jitter: 0.0,
            half_open_probes: 1,
            half_open_successes: None,
            probe_timeout: None,
            seed: 0,
        }
    }

    /// Sets [`failure_count`](Self::failure_count).
    ///
    /// ```
    /// let c = stanchion::breaker::BreakerConfig::new().failure_count(Some(3));
    /// assert_eq!(c.failure_count, Some(3));
    /// ```
    pub const fn failure_count(mut self, count: Option<u32>) -> Self {
        self.failure_count = count;
        self
    }

    /// Sets [`consecutive_failures`](Self::consecutive_failures).
    ///
    /// ```
    /// let c = stanchion::breaker::BreakerConfig::new().consecutive_failures(Some(3));
    /// assert_eq!(c.consecutive_failures, Some(3));
    /// ```
    pub const fn consecutive_failures(mut self, count: Option<u32>) -> Self {
        self.consecutive_failures = count;
        self
    }

    /// Sets [`failure_rate`](Self::failure_rate).
    ///
    /// ```
    /// let c = stanchion::breaker::BreakerConfig::new().failure_rate(Some(0.5));
    /// assert_eq!(c.failure_rate, Some(0.5));
    /// ```
    pub const fn failure_rate(mut self, rate: Option<f32>) -> Self {
        self.failure_rate = rate;
        self
    }

    /// Sets [`minimum_calls`](Self::minimum_calls).
    ///
    /// ```
    /// let c = stanchion::breaker::BreakerConfig::new().minimum_calls(20);
    /// assert_eq!(c.minimum_calls, 20);
    /// ```
    pub const fn minimum_calls(mut self, calls: u32) -> Self {
        self.minimum_calls = calls;
        self
    }

    /// Sets the slow-call trigger: calls of at least `duration` are slow, trip at `rate`.
    ///
    /// ```
    /// use stanchion::Nanos;
    /// let c = stanchion::breaker::BreakerConfig::new().slow_call(Nanos::from_secs(2), 0.5);
    /// assert_eq!(c.slow_call.unwrap().duration, Nanos::from_secs(2));
    /// ```
    pub const fn slow_call(mut self, duration: Nanos, rate: f32) -> Self {
        self.slow_call = Some(SlowCall { duration, rate });
        self
    }

    /// Sets the [`window`](Self::window).
    ///
    /// ```
    /// use stanchion::breaker::{BreakerConfig, Window};
    /// let c = BreakerConfig::new().window(Window::Count(100));
    /// assert_eq!(c.window, Window::Count(100));
    /// ```
    pub const fn window(mut self, window: Window) -> Self {
        self.window = window;
        self
    }

    /// Sets a fixed open period (no growth).
    ///
    /// ```
    /// use stanchion::Nanos;
    /// let c = stanchion::breaker::BreakerConfig::new().open_for(Nanos::from_secs(5));
    /// assert_eq!(c.open_for_max, Nanos::from_secs(5));
    /// ```
    pub const fn open_for(mut self, open_for: Nanos) -> Self {
        self.open_for = open_for;
        self.open_for_max = open_for;
        self
    }

    /// Lets the open period grow by `factor` on each trip in a row, up to `max`, shortened by
    /// up to `jitter` of itself at random.
    ///
    /// ```
    /// use stanchion::Nanos;
    /// let c = stanchion::breaker::BreakerConfig::new()
    ///     .open_for(Nanos::from_secs(1))
    ///     .open_for_growth(Nanos::from_secs(60), 2.0, 0.2);
    /// assert!(c.validate().is_ok());
    /// ```
    pub const fn open_for_growth(mut self, max: Nanos, factor: f32, jitter: f32) -> Self {
        self.open_for_max = max;
        self.open_for_factor = factor;
        self.open_for_jitter = jitter;
        self
    }

    /// Sets how many probes run at once while half-open, and how many successes close.
    ///
    /// ```
    /// let c = stanchion::breaker::BreakerConfig::new().half_open(3, Some(2));
    /// assert_eq!((c.half_open_probes, c.half_open_successes), (3, Some(2)));
    /// ```
    pub const fn half_open(mut self, probes: u32, successes: Option<u32>) -> Self {
        self.half_open_probes = probes;
        self.half_open_successes = successes;
        self
    }

    /// Sets [`probe_timeout`](Self::probe_timeout).
    ///
    /// ```
    /// use stanchion::Nanos;
    /// let c = stanchion::breaker::BreakerConfig::new().probe_timeout(Some(Nanos::from_secs(5)));
    /// assert_eq!(c.probe_timeout, Some(Nanos::from_secs(5)));
    /// ```
    pub const fn probe_timeout(mut self, timeout: Option<Nanos>) -> Self {
        self.probe_timeout = timeout;
        self
    }

    /// Sets the jitter [`seed`](Self::seed).
    ///
    /// ```
    /// let c = stanchion::breaker::BreakerConfig::new().seed(42);
    /// assert_eq!(c.seed, 42);
    /// ```
    pub const fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The probe timeout in force: the configured one, else the slow-call duration, else 60 s.
    ///
    /// ```
    /// use stanchion::Nanos;
    /// let c = stanchion::breaker::BreakerConfig::new().slow_call(Nanos::from_secs(2), 1.0);
    /// assert_eq!(c.effective_probe_timeout(), Nanos::from_secs(2));
    /// ```
    pub const fn effective_probe_timeout(&self) -> Nanos {
        match (self.probe_timeout, self.slow_call) {
            (Some(t), _) => t,
            (None, Some(slow)) => slow.duration,
            (None, None) => DEFAULT_PROBE_TIMEOUT,
        }
    }

    /// Successful probes that close the breaker, with the default applied.
    ///
    /// ```
    /// let c = stanchion::breaker::BreakerConfig::new().half_open(4, None);
    /// assert_eq!(c.effective_half_open_successes(), 4);
    /// ```
    pub const fn effective_half_open_successes(&self) -> u32 {
        match self.half_open_successes {
            Some(n) => n,
            None => self.half_open_probes,
        }
    }

    /// Checks every field; the error names the first field out of range and the allowed range.
    ///
    /// The window's fit to a particular breaker's storage is checked by
    /// [`CircuitBreaker::new`](super::CircuitBreaker::new).
    ///
    /// ```
    /// use stanchion::breaker::BreakerConfig;
    /// let err = BreakerConfig::new().failure_rate(Some(1.5)).validate().unwrap_err();
    /// assert_eq!(err.field, "failure_rate");
    /// assert_eq!(err.allowed, "(0, 1]");
    /// ```
    pub const fn validate(&self) -> Result<(), ConfigError> {
        if let Some(0) = self.failure_count {
            return Err(ConfigError::new("failure_count", "1..=4294967295 or none"));
        }
        if let Some(0) = self.consecutive_failures {
            return Err(ConfigError::new(
                "consecutive_failures",
                "1..=4294967295 or none",
            ));
        }
        if let Some(rate) = self.failure_rate {
            if !rate_in_range(rate) {
                return Err(ConfigError::new("failure_rate", "(0, 1]"));
            }
        }
        if self.failure_count.is_none()
            && self.consecutive_failures.is_none()
            && self.failure_rate.is_none()
            && self.slow_call.is_none()
        {
            // A breaker that can never open is a mistake far more often than a wish; one that
            // only counts is `disable()`.
            return Err(ConfigError::new(
                "failure_count",
                "1..=4294967295, or none with another trigger set (consecutive_failures, failure_rate, slow_call): a breaker needs one",
            ));
        }
        if self.minimum_calls == 0 {
            return Err(ConfigError::new("minimum_calls", "1..=4294967295"));
        }
        if let Some(slow) = self.slow_call {
            if slow.duration.as_nanos() == 0 {
                return Err(ConfigError::new(
                    "slow_call.duration",
                    "1ns..=18446744073709551615ns",
                ));
            }
            if !rate_in_range(slow.rate) {
                return Err(ConfigError::new("slow_call.rate", "(0, 1]"));
            }
        }
        match self.window {
            Window::Count(n) => {
                if n == 0 || n > MAX_WINDOW_LEN {
                    return Err(ConfigError::new("window.count", "1..=65535"));
                }
            }
            Window::Time { span, buckets } => {
                if buckets == 0 || buckets > MAX_WINDOW_LEN {
                    return Err(ConfigError::new("window.buckets", "1..=65535"));
                }
                if span.as_nanos() < buckets as u64 {
                    return Err(ConfigError::new(
                        "window.span",
                        "at least 1ns per bucket (span >= buckets ns)",
                    ));
                }
            }
        }
        if self.open_for_max.as_nanos() < self.open_for.as_nanos() {
            return Err(ConfigError::new(
                "open_for_max",
                "open_for..=18446744073709551615ns",
            ));
        }
        if !fixed::f32_in_closed(self.open_for_factor, 1.0, MAX_OPEN_FOR_FACTOR) {
            return Err(ConfigError::new("open_for_factor", "[1, 65535]"));
        }
        if !fixed::f32_in_closed(self.open_for_jitter, 0.0, 1.0) {
            return Err(ConfigError::new("open_for_jitter", "[0, 1]"));
        }
        if self.half_open_probes == 0 || self.half_open_probes > MAX_PROBES {
            return Err(ConfigError::new("half_open_probes", "1..=65535"));
        }
        if let Some(n) = self.half_open_successes {
            if n == 0 || n > MAX_PROBES {
                return Err(ConfigError::new("half_open_successes", "1..=65535 or none"));
            }
        }
        if let Some(t) = self.probe_timeout {
            if t.as_nanos() == 0 {
                return Err(ConfigError::new(
                    "probe_timeout",
                    "1ns..=18446744073709551615ns or none",
                ));
            }
        }
        Ok(())
    }
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig::new()
    }
}

/// NaN fails both comparisons, so it is out of range too.
const fn rate_in_range(rate: f32) -> bool {
    fixed::f32_in_open_closed(rate, 0.0, 1.0)
}

/// A rate in `(0, 1]` as parts per million, rounded to nearest: `0.1` (which `f32` holds as
/// 0.100000001…) becomes exactly 100 000, so "10 % trips at 1 in 10" holds as users expect.
/// `(rate * 1_000_000.0 + 0.5) as u32`, computed without soft-float.
pub(crate) const fn rate_ppm(rate: f32) -> u32 {
    // `as` saturates and maps NaN to 0; validated rates lie in (0, 1] anyway.
    fixed::f32_scale_round(rate, fixed::PPM)
}

/// A factor in `[1, 65535]` as 16.16 fixed point, rounded to nearest:
/// `(factor * 65_536.0 + 0.5) as u32`.
pub(crate) const fn factor_q16(factor: f32) -> u32 {
    fixed::f32_scale_round(factor, fixed::Q16)
}

/// A share in `[0, 1]` as a fraction of 65 536, rounded to nearest (1.0 saturates to 65 535):
/// `(share * 65_536.0 + 0.5) as u16`.
pub(crate) const fn share_q16(share: f32) -> u16 {
    fixed::f32_scale_round_u16(share, fixed::Q16)
}
