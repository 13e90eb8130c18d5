//! `AdaptiveConfig`: the bounds of the limit, the window, and the algorithm (whose parameters
//! each algorithm's file holds).

use super::{Aimd, Gradient2, Vegas};
use crate::{ConfigError, Nanos};

/// The largest `max_limit`: the limit, and so the permits out, share the limiter's counting
/// word with the queue's counts, in 16 bits each.
pub const MAX_LIMIT: u32 = u16::MAX as u32;

/// The largest waiter table (`WAITERS`) an adaptive limiter can have: 65,535.
pub const MAX_WAITERS: usize = crate::bulkhead::MAX_WAITERS;

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
    /// `acquire` futures that may wait at once. Default [`u32::MAX`]: the queue is then bounded
    /// only by the limiter's waiter table (`WAITERS`).
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
pub(crate) const MAX_PARAMETER: u32 = u16::MAX as u32;

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
