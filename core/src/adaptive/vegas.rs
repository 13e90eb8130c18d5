//! Vegas, after concurrency-limits' `VegasLimit`: the limit follows the queue the window's
//! latency implies over the no-load baseline.
//!
//! With `L` the integer limit, `log = max(1, ⌊log10 L⌋)` and
//! `queue = ⌈E · (1 − baseline / latency)⌉` (`E` the estimate): grow by `beta · log` when
//! `queue ≤ log`, by `log` when `queue < alpha · log`, shrink by `log` when
//! `queue > beta · log`, otherwise stay; then move `smoothing` of the way there.
//!
//! Each window first counts toward the next probe. A window that finds the probe due measures
//! the baseline afresh (its latency becomes the baseline) and changes nothing else; the probe is
//! due once `jitter · probe_multiplier · E ≤ windows since the last probe`, with `jitter` drawn
//! in `[0.5, 1)` from the seed, a new draw after each probe. Otherwise a window faster than the
//! baseline (or the first) sets it and changes nothing else. Where this departs from
//! concurrency-limits, for the guards of the contract: a dropped window always shrinks the
//! limit by `log`, never sets the baseline (a refusal answered at once is not the no-load
//! latency) and leaves a probe that is due for the next window that is not dropped; and a
//! window that is application-limited keeps the limit with `in_flight · 2 < L` on the integer
//! limit.

use super::config::{ppm_in, MAX_PARAMETER};
use super::settings::Bounds;
use super::state::{application_limited, clamp, narrow, smooth, Closed, Model, ONE};
use crate::rng;
use crate::ConfigError;

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

impl Vegas {
    pub(crate) const fn smoothing_ppm(&self) -> Option<u32> {
        ppm_in(self.smoothing, 1, 1_000_000)
    }

    pub(crate) const fn validate(&self) -> Result<(), ConfigError> {
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

/// Vegas's parameters, in integers.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Params {
    pub(crate) alpha: u32,
    pub(crate) beta: u32,
    pub(crate) probe_multiplier: u32,
    pub(crate) smoothing_ppm: u32,
    pub(crate) seed: u64,
}

/// `max(1, ⌊log10 limit⌋)`, as concurrency-limits' `Log10RootIntFunction`.
pub(crate) const fn log10(limit: u32) -> u32 {
    let mut log: u32 = 0;
    let mut rest = limit / 10;
    while rest > 0 {
        log = log.saturating_add(1);
        rest /= 10;
    }
    if log == 0 {
        1
    } else {
        log
    }
}

/// The probe jitter for probe number `probe`, in units of 2^-33 so that it lies in
/// `[2^32, 2^33)`: a factor in `[0.5, 1)` with 32 random bits.
pub(crate) const fn jitter(seed: u64, probe: u32) -> u64 {
    (1 << 32) | (rng::draw(seed, probe as u64) >> 32)
}

/// Whether the probe is due: `jitter · multiplier · E ≤ count`, in integers:
/// `(jitter · 2^33) · multiplier · (E · 10⁹) ≤ count · 2^33 · 10⁹`. The left side is below
/// 2^33 · 2^16 · 2^46 = 2^95, the right below 2^32 · 2^33 · 2^30 = 2^95.
const fn probe_due(params: &Params, model: &Model) -> bool {
    let left = (jitter(params.seed, model.probes) as u128)
        .saturating_mul(params.probe_multiplier as u128)
        .saturating_mul(model.estimate as u128);
    let right = ((model.count as u128) << 33).saturating_mul(ONE as u128);
    left <= right
}

/// `⌈E · (latency − baseline) / latency⌉` for `latency ≥ baseline ≥ 1`: E (in billionths) is
/// below 2^46, the difference below 2^64, so the numerator fits 2^110; the denominator
/// `latency · 10⁹` fits 2^94.
const fn queue(estimate: u64, baseline: u64, latency: u64) -> u64 {
    let numerator = (estimate as u128).saturating_mul(latency.saturating_sub(baseline) as u128);
    let denominator = (latency as u128).saturating_mul(ONE as u128);
    if denominator == 0 {
        return 0;
    }
    narrow(numerator.div_ceil(denominator))
}

pub(crate) fn update(params: Params, bounds: Bounds, model: Model, closed: Closed) -> Model {
    let mut next = model;
    next.count = model.count.saturating_add(1);
    let latency = u128::from(closed.latency) << 32;
    if !closed.dropped {
        if probe_due(&params, &next) {
            next.probes = next.probes.wrapping_add(1);
            next.count = 0;
            next.baseline = latency;
            return next;
        }
        if next.baseline == 0 || latency < next.baseline {
            next.baseline = latency;
            return next;
        }
    }
    let estimate = model.estimate;
    let limit = model.limit();
    let log = u64::from(log10(limit)).saturating_mul(ONE);
    let target = if closed.dropped {
        estimate.saturating_sub(log)
    } else if application_limited(closed, limit) {
        return next;
    } else {
        let baseline = narrow(next.baseline >> 32);
        let queue = queue(estimate, baseline, closed.latency);
        let log = u64::from(log10(limit));
        let alpha = log.saturating_mul(u64::from(params.alpha));
        let beta = log.saturating_mul(u64::from(params.beta));
        if queue <= log {
            estimate.saturating_add(beta.saturating_mul(ONE))
        } else if queue < alpha {
            estimate.saturating_add(log.saturating_mul(ONE))
        } else if queue > beta {
            estimate.saturating_sub(log.saturating_mul(ONE))
        } else {
            return next;
        }
    };
    next.estimate = smooth(estimate, clamp(target, bounds), params.smoothing_ppm);
    next
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOUNDS: Bounds = Bounds { min: 1, max: 1000 };
    const PARAMS: Params = Params {
        alpha: 3,
        beta: 6,
        probe_multiplier: 30,
        smoothing_ppm: 1_000_000,
        seed: 0,
    };

    fn window(latency: u64, in_flight: u32, dropped: bool) -> Closed {
        Closed {
            latency,
            in_flight,
            dropped,
        }
    }

    fn with_baseline(limit: u32, baseline: u64) -> Model {
        Model {
            baseline: u128::from(baseline) << 32,
            count: 1,
            ..Model::new(limit)
        }
    }

    #[test]
    fn log10_is_at_least_one_and_rounds_down() {
        let cases = [
            (0, 1),
            (1, 1),
            (9, 1),
            (99, 1),
            (100, 2),
            (999, 2),
            (1000, 3),
        ];
        for (limit, log) in cases {
            assert_eq!(log10(limit), log, "log10({limit})");
        }
        assert_eq!(log10(65_535), 4);
        assert_eq!(log10(u32::MAX), 9);
    }

    #[test]
    fn the_first_window_sets_the_baseline_and_nothing_else() {
        let next = update(PARAMS, BOUNDS, Model::new(20), window(100, 20, false));
        assert_eq!((next.limit(), next.baseline >> 32), (20, 100));
    }

    #[test]
    fn a_faster_window_lowers_the_baseline_and_nothing_else() {
        let next = update(
            PARAMS,
            BOUNDS,
            with_baseline(20, 100),
            window(90, 20, false),
        );
        assert_eq!((next.limit(), next.baseline >> 32), (20, 90));
    }

    #[test]
    fn the_queue_picks_the_step() {
        // L = 20: log 1, alpha 3, beta 6. queue = ⌈20 · (1 − 100 / latency)⌉.
        let at = |latency| {
            update(
                PARAMS,
                BOUNDS,
                with_baseline(20, 100),
                window(latency, 20, false),
            )
            .limit()
        };
        assert_eq!(at(100), 26); // queue 0 ≤ 1: + beta
        assert_eq!(at(105), 26); // ⌈0.952⌉ = 1 ≤ 1: + beta
        assert_eq!(at(110), 21); // ⌈1.82⌉ = 2 < 3: + log
        assert_eq!(at(115), 20); // ⌈2.61⌉ = 3: between alpha and beta, stays
        assert_eq!(at(142), 20); // ⌈5.92⌉ = 6 = beta: stays
        assert_eq!(at(143), 19); // ⌈6.01⌉ = 7 > 6: − log
    }

    #[test]
    fn an_exact_queue_is_not_rounded_up() {
        // 20 · (1 − 100 / 125) = 4 exactly: between alpha and beta, so no change.
        let next = update(
            PARAMS,
            BOUNDS,
            with_baseline(20, 100),
            window(125, 20, false),
        );
        assert_eq!(next.limit(), 20);
        // 20 · (1 − 100 / 200) = 10 > 6: shrink.
        let next = update(
            PARAMS,
            BOUNDS,
            with_baseline(20, 100),
            window(200, 20, false),
        );
        assert_eq!(next.limit(), 19);
    }

    #[test]
    fn application_limited_windows_do_not_move_the_limit() {
        let next = update(
            PARAMS,
            BOUNDS,
            with_baseline(20, 100),
            window(100, 9, false),
        );
        assert_eq!(next.limit(), 20);
    }

    #[test]
    fn a_dropped_window_shrinks_by_log_and_never_lowers_the_baseline() {
        let next = update(PARAMS, BOUNDS, with_baseline(200, 100), window(1, 0, true));
        assert_eq!((next.limit(), next.baseline >> 32), (198, 100));
        let first = update(PARAMS, BOUNDS, Model::new(20), window(1, 0, true));
        assert_eq!((first.limit(), first.baseline), (19, 0));
        let floor = update(PARAMS, BOUNDS, Model::new(1), window(1, 1, true));
        assert_eq!(floor.limit(), 1);
    }

    #[test]
    fn smoothing_moves_part_of_the_way() {
        let params = Params {
            smoothing_ppm: 500_000,
            ..PARAMS
        };
        let next = update(
            params,
            BOUNDS,
            with_baseline(20, 100),
            window(100, 20, false),
        );
        assert_eq!(next.estimate, 23 * ONE);
        let next = update(params, BOUNDS, next, window(1_000, 20, true));
        assert_eq!(next.estimate, 22 * ONE + ONE / 2);
    }

    #[test]
    fn the_probe_comes_after_jitter_times_thirty_times_the_limit_windows() {
        // With L = 1 the probe is due after between 15 and 30 windows.
        let mut model = with_baseline(1, 100);
        model.count = 0;
        let due = (jitter(PARAMS.seed, 0) * 30).div_ceil(1 << 33);
        assert!((15..=30).contains(&due), "{due}");
        for window_index in 1..=due {
            // Slower windows than the baseline: only a probe can raise it.
            model = update(PARAMS, BOUNDS, model, window(150, 0, false));
            let probed = model.baseline >> 32 == 150;
            assert_eq!(probed, window_index == due, "window {window_index}");
        }
        assert_eq!((model.count, model.probes), (0, 1));
    }

    #[test]
    fn a_dropped_window_postpones_a_due_probe() {
        let mut model = with_baseline(1, 100);
        model.count = 1_000;
        let next = update(PARAMS, BOUNDS, model, window(150, 1, true));
        assert_eq!((next.baseline >> 32, next.probes), (100, 0));
        let next = update(PARAMS, BOUNDS, next, window(150, 1, false));
        assert_eq!((next.baseline >> 32, next.probes, next.count), (150, 1, 0));
    }

    #[test]
    fn jitter_lies_in_half_to_one() {
        for probe in 0..1000 {
            let j = jitter(42, probe);
            assert!((1 << 32..1 << 33).contains(&j));
        }
    }
}
