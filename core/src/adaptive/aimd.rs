//! AIMD, after concurrency-limits' `AIMDLimit`: +1 after a window that used at least half the
//! limit without a drop, ×`backoff_ratio` (rounded down) after a drop or a window whose mean
//! latency is above `timeout`.
//!
//! This file holds the parameters and the rule. The estimate stays a whole number: every answer
//! is an integer.

use super::config::ppm_in;
use super::settings::Bounds;
use super::state::{application_limited, clamp, Closed, Model, MILLION, ONE};
use crate::{ConfigError, Nanos};

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

impl Aimd {
    pub(crate) const fn backoff_ppm(&self) -> Option<u32> {
        ppm_in(self.backoff_ratio, 500_000, 999_999)
    }

    pub(crate) const fn validate(&self) -> Result<(), ConfigError> {
        if self.backoff_ppm().is_none() {
            return Err(ConfigError::new("algorithm.backoff_ratio", "[0.5, 1)"));
        }
        if self.timeout.as_nanos() == 0 {
            return Err(ConfigError::new("algorithm.timeout", "at least 1 ns"));
        }
        Ok(())
    }
}

pub(crate) fn update(
    backoff_ppm: u32,
    timeout: u64,
    bounds: Bounds,
    model: Model,
    closed: Closed,
) -> Model {
    let limit = u64::from(model.limit());
    let next = if closed.dropped || closed.latency > timeout {
        // limit < 2^16 and the ratio below 10^6: the product fits 2^36.
        let cut = u128::from(limit).saturating_mul(u128::from(backoff_ppm)) / MILLION;
        cut as u64
    } else if application_limited(closed, model.limit()) {
        return model;
    } else {
        limit.saturating_add(1)
    };
    Model {
        estimate: clamp(next.saturating_mul(ONE), bounds),
        ..model
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOUNDS: Bounds = Bounds { min: 1, max: 1000 };
    const TIMEOUT: u64 = 5_000_000_000;

    fn window(latency: u64, in_flight: u32, dropped: bool) -> Closed {
        Closed {
            latency,
            in_flight,
            dropped,
        }
    }

    fn after(limit: u32, closed: Closed) -> u32 {
        update(900_000, TIMEOUT, BOUNDS, Model::new(limit), closed).limit()
    }

    #[test]
    fn grows_by_one_when_half_the_limit_was_in_flight() {
        assert_eq!(after(20, window(1_000, 10, false)), 21);
        assert_eq!(after(20, window(1_000, 20, false)), 21);
    }

    #[test]
    fn holds_while_application_limited() {
        assert_eq!(after(20, window(1_000, 9, false)), 20);
        assert_eq!(after(21, window(1_000, 10, false)), 21);
    }

    #[test]
    fn a_drop_cuts_to_nine_tenths_rounded_down_even_when_application_limited() {
        assert_eq!(after(20, window(1_000, 20, true)), 18);
        assert_eq!(after(20, window(1_000, 0, true)), 18);
        assert_eq!(after(11, window(1_000, 11, true)), 9);
        assert_eq!(after(1, window(1_000, 1, true)), 1);
    }

    #[test]
    fn a_mean_latency_above_the_timeout_is_a_drop() {
        assert_eq!(after(20, window(TIMEOUT, 20, false)), 21);
        assert_eq!(after(20, window(TIMEOUT + 1, 20, false)), 18);
    }

    #[test]
    fn the_limit_stays_in_its_bounds() {
        let bounds = Bounds { min: 5, max: 21 };
        let model = Model::new(21);
        assert_eq!(
            update(900_000, TIMEOUT, bounds, model, window(1, 21, false)).limit(),
            21
        );
        let model = Model::new(5);
        assert_eq!(
            update(500_000, TIMEOUT, bounds, model, window(1, 5, true)).limit(),
            5
        );
    }
}
