//! `AdaptiveConfig`: the bounds of the limit, the window, and the algorithm with its parameters.

use crate::{ConfigError, Nanos};

/// The largest `max_limit`: the limit, and so the permits out, share the limiter's counting
/// word with the queue's counts, in 16 bits each.
pub const MAX_LIMIT: u32 = u16::MAX as u32;

/// The largest waiter table (`WAITERS`) an adaptive limiter can have: 65,535.
pub const MAX_WAITERS: usize = crate::bulkhead::MAX_WAITERS;

/// AIMD: additive increase, multiplicative decrease, as concurrency-limits' `AIMDLimit`.
///
/// After a window without a drop in which the in-flight figure reached half the limit, the
/// limit grows by 1; after a dropped window (or one whose mean latency is above `timeout`) it
/// is multiplied by `backoff_ratio` and rounded down.
///
/// ```
/// use stanchion::adaptive::Aimd;
/// use stanchion::Nanos;
/// let aimd = Aimd::new().backoff_ratio(0.8).timeout(Nanos::from_secs(2));
/// assert_eq!((aimd.backoff_ratio, aimd.timeout), (0.8, Nanos::from_secs(2)));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Aimd {
    /// The factor a drop multiplies the limit by, in `[0.5, 1)`, kept to a millionth (rounded
    /// to nearest). Default 0.9.
    pub backoff_ratio: f64,
    /// A window whose mean latency is above this counts as a drop. At least 1 ns; default 5 s.
    pub timeout: Nanos,
}

impl Aimd {
    /// The defaults: ×0.9 on a drop, a 5 s timeout.
    ///
    /// ```
    /// assert_eq!(stanchion::adaptive::Aimd::new().backoff_ratio, 0.9);
    /// ```
    pub const fn new() -> Aimd {
        Aimd {
            backoff_ratio: 0.9,
            timeout: Nanos::from_secs(5),
        }
    }

    /// Sets the factor a drop multiplies the limit by.
    ///
    /// ```
    /// assert_eq!(stanchion::adaptive::Aimd::new().backoff_ratio(0.5).backoff_ratio, 0.5);
    /// ```
    pub const fn backoff_ratio(mut self, ratio: f64) -> Aimd {
        self.backoff_ratio = ratio;
        self
    }

    /// Sets the mean latency above which a window counts as a drop.
    ///
    /// ```
    /// use stanchion::{adaptive::Aimd, Nanos};
    /// assert_eq!(Aimd::new().timeout(Nanos::from_secs(1)).timeout, Nanos::from_secs(1));
    /// ```
    pub const fn timeout(mut self, timeout: Nanos) -> Aimd {
        self.timeout = timeout;
        self
    }
}

impl Default for Aimd {
    fn default() -> Aimd {
        Aimd::new()
    }
}

/// Vegas: the limit follows the queue the latency implies, as concurrency-limits'
/// `VegasLimit`.
///
/// With `L` the limit, `log` = `max(1, ⌊log10 L⌋)`, the baseline the lowest window latency seen
/// and `queue = ⌈L × (1 − baseline / latency)⌉`: the limit grows by `beta × log` when
/// `queue ≤ log`, by `log` when `queue < alpha × log`, shrinks by `log` when
/// `queue > beta × log`, and otherwise stays. The baseline is measured afresh every
/// `probe_multiplier × L` windows, jittered.
///
/// ```
/// use stanchion::adaptive::Vegas;
/// let vegas = Vegas::new().alpha(2).beta(4).smoothing(0.5);
/// assert_eq!((vegas.alpha, vegas.beta, vegas.probe_multiplier), (2, 4, 30));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Vegas {
    /// Below `alpha × log` queued calls the limit grows by `log`. `0..=65535`; default 3.
    pub alpha: u32,
    /// Above `beta × log` queued calls the limit shrinks by `log`. `0..=65535`; default 6.
    pub beta: u32,
    /// The baseline is measured afresh every `probe_multiplier × L` windows, times a random
    /// factor in `[0.5, 1)`. `1..=65535`; default 30.
    pub probe_multiplier: u32,
    /// How far each update moves the limit toward the rule's answer, in `(0, 1]`, kept to a
    /// millionth. Default 1 (all the way).
    pub smoothing: f64,
}

impl Vegas {
    /// The defaults of concurrency-limits: alpha 3, beta 6, a probe every 30 × L windows, no
    /// smoothing.
    ///
    /// ```
    /// assert_eq!(stanchion::adaptive::Vegas::new().smoothing, 1.0);
    /// ```
    pub const fn new() -> Vegas {
        Vegas {
            alpha: 3,
            beta: 6,
            probe_multiplier: 30,
            smoothing: 1.0,
        }
    }

    /// Sets `alpha`, in multiples of `log`.
    ///
    /// ```
    /// assert_eq!(stanchion::adaptive::Vegas::new().alpha(2).alpha, 2);
    /// ```
    pub const fn alpha(mut self, alpha: u32) -> Vegas {
        self.alpha = alpha;
        self
    }

    /// Sets `beta`, in multiples of `log`.
    ///
    /// ```
    /// assert_eq!(stanchion::adaptive::Vegas::new().beta(8).beta, 8);
    /// ```
    pub const fn beta(mut self, beta: u32) -> Vegas {
        self.beta = beta;
        self
    }

    /// Sets how many windows per unit of limit pass between baseline probes.
    ///
    /// ```
    /// assert_eq!(stanchion::adaptive::Vegas::new().probe_multiplier(10).probe_multiplier, 10);
    /// ```
    pub const fn probe_multiplier(mut self, multiplier: u32) -> Vegas {
        self.probe_multiplier = multiplier;
        self
    }

    /// Sets the smoothing.
    ///
    /// ```
    /// assert_eq!(stanchion::adaptive::Vegas::new().smoothing(0.5).smoothing, 0.5);
    /// ```
    pub const fn smoothing(mut self, smoothing: f64) -> Vegas {
        self.smoothing = smoothing;
        self
    }
}

impl Default for Vegas {
    fn default() -> Vegas {
        Vegas::new()
    }
}

/// Gradient2: the limit follows the ratio of a long-term average latency to the window's, as
/// concurrency-limits' `Gradient2Limit`.
///
/// `gradient = clamp(rtt_tolerance × long / latency, 0.5, 1)` and the limit moves `smoothing`
/// of the way to `L × gradient + queue_size`. The long average is an exponential average over
/// `long_window` windows (the plain mean of the first ten), cut by 5 % whenever it is more than
/// twice the window's latency.
///
/// ```
/// use stanchion::adaptive::Gradient2;
/// let g = Gradient2::new().queue_size(2).creep_guard(true);
/// assert_eq!((g.queue_size, g.long_window, g.creep_guard), (2, 600, true));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Gradient2 {
    /// How far each update moves the limit, in `(0, 1]`, kept to a millionth. Default 0.2.
    pub smoothing: f64,
    /// Calls allowed to queue on top of `L × gradient`. `0..=65535`; default 4.
    pub queue_size: u32,
    /// The long average's span in windows (its factor is `2 / (long_window + 1)`).
    /// `1..=65535`; default 600.
    pub long_window: u32,
    /// How much slower than the long average a window may be before the limit shrinks, in
    /// `[1, 1000]`, kept to a millionth. Default 1.5.
    pub rtt_tolerance: f64,
    /// Adds `queue_size` only when the gradient is 1 (no queueing seen). concurrency-limits
    /// always adds it, which under moderate overload lets the limit creep up as the long
    /// average follows the inflated latency. Default `false`, as concurrency-limits.
    pub creep_guard: bool,
}

impl Gradient2 {
    /// The defaults of concurrency-limits: smoothing 0.2, a queue of 4, a long window of 600,
    /// tolerance 1.5; no creep guard.
    ///
    /// ```
    /// assert_eq!(stanchion::adaptive::Gradient2::new().rtt_tolerance, 1.5);
    /// ```
    pub const fn new() -> Gradient2 {
        Gradient2 {
            smoothing: 0.2,
            queue_size: 4,
            long_window: 600,
            rtt_tolerance: 1.5,
            creep_guard: false,
        }
    }

    /// Sets the smoothing.
    ///
    /// ```
    /// assert_eq!(stanchion::adaptive::Gradient2::new().smoothing(0.5).smoothing, 0.5);
    /// ```
    pub const fn smoothing(mut self, smoothing: f64) -> Gradient2 {
        self.smoothing = smoothing;
        self
    }

    /// Sets the queue allowance.
    ///
    /// ```
    /// assert_eq!(stanchion::adaptive::Gradient2::new().queue_size(8).queue_size, 8);
    /// ```
    pub const fn queue_size(mut self, queue_size: u32) -> Gradient2 {
        self.queue_size = queue_size;
        self
    }

    /// Sets the long average's span, in windows.
    ///
    /// ```
    /// assert_eq!(stanchion::adaptive::Gradient2::new().long_window(100).long_window, 100);
    /// ```
    pub const fn long_window(mut self, windows: u32) -> Gradient2 {
        self.long_window = windows;
        self
    }

    /// Sets the latency tolerance.
    ///
    /// ```
    /// assert_eq!(stanchion::adaptive::Gradient2::new().rtt_tolerance(2.0).rtt_tolerance, 2.0);
    /// ```
    pub const fn rtt_tolerance(mut self, tolerance: f64) -> Gradient2 {
        self.rtt_tolerance = tolerance;
        self
    }

    /// Turns the creep guard on or off.
    ///
    /// ```
    /// assert!(stanchion::adaptive::Gradient2::new().creep_guard(true).creep_guard);
    /// ```
    pub const fn creep_guard(mut self, on: bool) -> Gradient2 {
        self.creep_guard = on;
        self
    }
}

impl Default for Gradient2 {
    fn default() -> Gradient2 {
        Gradient2::new()
    }
}

/// How the limit follows the latency.
///
/// ```
/// use stanchion::adaptive::{Algorithm, Vegas};
/// assert_eq!(Algorithm::default(), Algorithm::Aimd(Default::default()));
/// let _ = Algorithm::Vegas(Vegas::new().alpha(2));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Algorithm {
    /// Additive increase, multiplicative decrease (the default).
    Aimd(Aimd),
    /// Vegas: the queue implied by the latency over its baseline.
    Vegas(Vegas),
    /// Gradient2: the latency against its long-term average.
    Gradient2(Gradient2),
}

impl Default for Algorithm {
    fn default() -> Algorithm {
        Algorithm::Aimd(Aimd::new())
    }
}

/// How an [`AdaptiveLimiter`](super::AdaptiveLimiter) sets its limit.
///
/// ```
/// use stanchion::adaptive::{AdaptiveConfig, Algorithm, Gradient2};
/// use stanchion::Nanos;
/// let config = AdaptiveConfig::new()
///     .algorithm(Algorithm::Gradient2(Gradient2::new()))
///     .limits(5, 50, 200)
///     .window(Nanos::from_millis(500), 20);
/// assert_eq!((config.min_limit, config.initial_limit, config.max_limit), (5, 50, 200));
/// assert_eq!(config.validate(), Ok(()));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdaptiveConfig {
    /// The update rule. Default [`Algorithm::Aimd`].
    pub algorithm: Algorithm,
    /// The limit before the first update, in `[min_limit, max_limit]`. Default 20.
    pub initial_limit: u32,
    /// The lowest the limit goes, at least 1. Default 1.
    pub min_limit: u32,
    /// The highest the limit goes, at most [`MAX_LIMIT`]. Default 1000.
    pub max_limit: u32,
    /// The fewest samples that close a window, at least 1. Default 10.
    pub min_samples: u32,
    /// The shortest a window lasts, from its first sample. Default 1 s.
    pub window: Nanos,
    /// `acquire` futures that may wait at once [`u32::MAX`]; the queue is further bounded by the
    /// limiter's waiter table (`WAITERS`).
    pub max_waiting: u32,
    /// Seed of the Vegas probe jitter, so a run can be replayed. Default 0.
    pub seed: u64,
}

impl AdaptiveConfig {
    /// The defaults: AIMD, a limit of 20 between 1 and 1000, windows of at least 10 samples and
    /// 1 s.
    ///
    /// ```
    /// let config = stanchion::AdaptiveConfig::new();
    /// assert_eq!((config.initial_limit, config.min_samples), (20, 10));
    /// ```
    pub const fn new() -> AdaptiveConfig {
        AdaptiveConfig {
            algorithm: Algorithm::Aimd(Aimd::new()),
            initial_limit: 20,
            min_limit: 1,
            max_limit: 1000,
            min_samples: 10,
            window: Nanos::from_secs(1),
            max_waiting: u32::MAX,
            seed: 0,
        }
    }

    /// Sets the update rule.
    ///
    /// ```
    /// use stanchion::adaptive::{AdaptiveConfig, Algorithm, Vegas};
    /// let config = AdaptiveConfig::new().algorithm(Algorithm::Vegas(Vegas::new()));
    /// assert!(matches!(config.algorithm, Algorithm::Vegas(_)));
    /// ```
    pub const fn algorithm(mut self, algorithm: Algorithm) -> AdaptiveConfig {
        self.algorithm = algorithm;
        self
    }

    /// Sets the lowest, the initial and the highest limit.
    ///
    /// ```
    /// let config = stanchion::AdaptiveConfig::new().limits(2, 8, 64);
    /// assert_eq!((config.min_limit, config.initial_limit, config.max_limit), (2, 8, 64));
    /// ```
    pub const fn limits(mut self, min: u32, initial: u32, max: u32) -> AdaptiveConfig {
        self.min_limit = min;
        self.initial_limit = initial;
        self.max_limit = max;
        self
    }

    /// Sets the shortest window and the fewest samples that close one.
    ///
    /// ```
    /// use stanchion::{AdaptiveConfig, Nanos};
    /// let config = AdaptiveConfig::new().window(Nanos::from_millis(100), 5);
    /// assert_eq!((config.window, config.min_samples), (Nanos::from_millis(100), 5));
    /// ```
    pub const fn window(mut self, window: Nanos, min_samples: u32) -> AdaptiveConfig {
        self.window = window;
        self.min_samples = min_samples;
        self
    }

    /// At most `max_waiting` futures queued at once (0: `acquire` never waits).
    ///
    /// ```
    /// assert_eq!(stanchion::AdaptiveConfig::new().max_waiting(3).max_waiting, 3);
    /// ```
    pub const fn max_waiting(mut self, max_waiting: u32) -> AdaptiveConfig {
        self.max_waiting = max_waiting;
        self
    }

    /// Sets the seed of the Vegas probe jitter.
    ///
    /// ```
    /// assert_eq!(stanchion::AdaptiveConfig::new().seed(7).seed, 7);
    /// ```
    pub const fn seed(mut self, seed: u64) -> AdaptiveConfig {
        self.seed = seed;
        self
    }

    /// Checks every field, naming the first one out of range.
    ///
    /// ```
    /// use stanchion::{AdaptiveConfig, ConfigError};
    /// assert_eq!(
    ///     AdaptiveConfig::new().limits(0, 20, 100).validate(),
    ///     Err(ConfigError::new("min_limit", "1..=max_limit"))
    /// );
    /// assert_eq!(
    ///     AdaptiveConfig::new().limits(1, 200, 100).validate().unwrap_err().field,
    ///     "initial_limit"
    /// );
    /// ```
    pub const fn validate(&self) -> Result<(), ConfigError> {
        if self.max_limit > MAX_LIMIT {
            return Err(ConfigError::new("max_limit", "min_limit..=65535"));
        }
        if self.min_limit == 0 || self.min_limit > self.max_limit {
            return Err(ConfigError::new("min_limit", "1..=max_limit"));
        }
        if self.initial_limit < self.min_limit || self.initial_limit > self.max_limit {
            return Err(ConfigError::new("initial_limit", "min_limit..=max_limit"));
        }
        if self.min_samples == 0 {
            return Err(ConfigError::new("min_samples", "1..=4294967295"));
        }
        match self.algorithm {
            Algorithm::Aimd(aimd) => aimd.validate(),
            Algorithm::Vegas(vegas) => vegas.validate(),
            Algorithm::Gradient2(gradient) => gradient.validate(),
        }
    }
}

impl Default for AdaptiveConfig {
    fn default() -> AdaptiveConfig {
        AdaptiveConfig::new()
    }
}

/// The largest count parameter (`alpha`, `beta`, `probe_multiplier`, `queue_size`,
/// `long_window`): small enough that every product in the fixed-point rules fits 128 bits.
const MAX_PARAMETER: u32 = u16::MAX as u32;

/// A fraction kept to a millionth, rounded to nearest (NaN and negatives to 0, infinity to the
/// top), in `lo..=hi` millionths.
pub(crate) const fn ppm_in(x: f64, lo: u64, hi: u64) -> Option<u32> {
    let ppm = crate::fixed::f64_scale_round(x, crate::fixed::PPM);
    if ppm < lo || ppm > hi {
        None
    } else {
        Some(ppm as u32)
    }
}

impl Aimd {
    pub(crate) const fn backoff_ppm(&self) -> Option<u32> {
        ppm_in(self.backoff_ratio, 500_000, 999_999)
    }

    const fn validate(&self) -> Result<(), ConfigError> {
        if self.backoff_ppm().is_none() {
            return Err(ConfigError::new("algorithm.backoff_ratio", "[0.5, 1)"));
        }
        if self.timeout.as_nanos() == 0 {
            return Err(ConfigError::new("algorithm.timeout", "at least 1 ns"));
        }
        Ok(())
    }
}

impl Vegas {
    pub(crate) const fn smoothing_ppm(&self) -> Option<u32> {
        ppm_in(self.smoothing, 1, 1_000_000)
    }

    const fn validate(&self) -> Result<(), ConfigError> {
        if self.alpha > MAX_PARAMETER {
            return Err(ConfigError::new("algorithm.alpha", "0..=65535"));
        }
        if self.beta > MAX_PARAMETER {
            return Err(ConfigError::new("algorithm.beta", "0..=65535"));
        }
        if self.probe_multiplier == 0 || self.probe_multiplier > MAX_PARAMETER {
            return Err(ConfigError::new("algorithm.probe_multiplier", "1..=65535"));
        }
        if self.smoothing_ppm().is_none() {
            return Err(ConfigError::new("algorithm.smoothing", "(0, 1]"));
        }
        Ok(())
    }
}

impl Gradient2 {
    pub(crate) const fn smoothing_ppm(&self) -> Option<u32> {
        ppm_in(self.smoothing, 1, 1_000_000)
    }

    pub(crate) const fn tolerance_ppm(&self) -> Option<u32> {
        ppm_in(self.rtt_tolerance, 1_000_000, 1_000_000_000)
    }

    const fn validate(&self) -> Result<(), ConfigError> {
        if self.smoothing_ppm().is_none() {
            return Err(ConfigError::new("algorithm.smoothing", "(0, 1]"));
        }
        if self.queue_size > MAX_PARAMETER {
            return Err(ConfigError::new("algorithm.queue_size", "0..=65535"));
        }
        if self.long_window == 0 || self.long_window > MAX_PARAMETER {
            return Err(ConfigError::new("algorithm.long_window", "1..=65535"));
        }
        if self.tolerance_ppm().is_none() {
            return Err(ConfigError::new("algorithm.rtt_tolerance", "[1, 1000]"));
        }
        Ok(())
    }
}
