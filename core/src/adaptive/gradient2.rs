//! Gradient2, after concurrency-limits' `Gradient2Limit`: the limit follows the ratio of a
//! long-term average latency to the window's.
//!
//! Each window first feeds the long average: the plain mean of the first ten windows, then an
//! exponential average with factor `2 / (long_window + 1)`; and when the long average is more
//! than twice the window's latency it is cut by 5 %, so that it comes down quickly after a
//! period of overload. Then, unless the window is application-limited,
//! `gradient = clamp(rtt_tolerance · long / latency, 0.5, 1)` and the estimate moves
//! `smoothing` of the way to `E · gradient + queue_size`, within the bounds.
//!
//! Where this departs from concurrency-limits, for the guards of the contract: a dropped window
//! (concurrency-limits ignores drops) always shrinks the estimate, as with a gradient of 0.5 and
//! no queue allowance, application-limited or not; application-limited is `in_flight · 2 < L`
//! on the integer limit; and with `creep_guard` the queue allowance is added only at a gradient
//! of 1. The long average itself follows concurrency-limits in every case.

use super::config::{ppm_in, MAX_PARAMETER};
use super::settings::Bounds;
use super::state::{application_limited, clamp, narrow, smooth, Closed, Model, MILLION, ONE};
use crate::ConfigError;

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

impl Gradient2 {
    pub(crate) const fn smoothing_ppm(&self) -> Option<u32> {
        ppm_in(self.smoothing, 1, 1_000_000)
    }

    pub(crate) const fn tolerance_ppm(&self) -> Option<u32> {
        ppm_in(self.rtt_tolerance, 1_000_000, 1_000_000_000)
    }

    pub(crate) const fn validate(&self) -> Result<(), ConfigError> {
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

/// A gradient of 1, in Q32.32.
const FULL_GRADIENT: u64 = 1 << 32;

/// concurrency-limits' warm-up: the long average is a plain mean over this many windows.
const WARMUP_WINDOWS: u32 = 10;

/// Gradient2's parameters, in integers.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Params {
    pub(crate) smoothing_ppm: u32,
    pub(crate) queue_size: u32,
    pub(crate) long_window: u32,
    pub(crate) tolerance_ppm: u32,
    pub(crate) creep_guard: bool,
}

/// The long average after one more window of `latency` ns (Q64.32; the average is at most
/// 2^96, `long_window` at most 2^16, so the products fit 2^113).
fn feed_long_average(params: &Params, model: &mut Model, latency: u64) {
    let sample = u128::from(latency) << 32;
    if model.count < WARMUP_WINDOWS {
        model.count = model.count.saturating_add(1);
        model.warmup_sum = model.warmup_sum.saturating_add(latency);
        let sum = u128::from(model.warmup_sum) << 32;
        model.baseline = sum.checked_div(u128::from(model.count)).unwrap_or(sum);
    } else {
        // value · (1 − 2 / (n + 1)) + sample · 2 / (n + 1), over one denominator.
        let n = u128::from(params.long_window.max(1));
        let kept = model.baseline.saturating_mul(n.saturating_sub(1));
        let total = kept.saturating_add(sample.saturating_mul(2));
        model.baseline = total.checked_div(n.saturating_add(1)).unwrap_or(total);
    }
    if model.baseline > sample.saturating_mul(2) {
        model.baseline = model
            .baseline
            .saturating_mul(19)
            .checked_div(20)
            .unwrap_or(0);
    }
}

/// `clamp(tolerance · long / latency, 0.5, 1)` in Q32.32, and whether it is 1. The tolerance
/// is below 2^30 millionths and the long average below 2^96, so `tolerance · long` fits 2^126;
/// `10⁶ · latency · 2^32` fits 2^116.
fn gradient(params: &Params, long: u128, latency: u64) -> (u64, bool) {
    let scaled_long = u128::from(params.tolerance_ppm).saturating_mul(long);
    let scaled_latency = MILLION.saturating_mul(u128::from(latency)) << 32;
    if scaled_long >= scaled_latency {
        return (FULL_GRADIENT, true);
    }
    // Below 2^32 here, since scaled_long < scaled_latency.
    let divisor = MILLION.saturating_mul(u128::from(latency));
    let gradient = narrow(scaled_long.checked_div(divisor).unwrap_or(0));
    (gradient.max(FULL_GRADIENT / 2), false)
}

pub(crate) fn update(params: Params, bounds: Bounds, model: Model, closed: Closed) -> Model {
    let mut next = model;
    feed_long_average(&params, &mut next, closed.latency);
    let estimate = model.estimate;
    let target = if closed.dropped {
        estimate / 2
    } else if application_limited(closed, model.limit()) {
        return next;
    } else {
        let (gradient, full) = gradient(&params, next.baseline, closed.latency);
        // E below 2^46, the gradient at most 2^32: the product fits 2^78.
        let scaled = narrow(u128::from(estimate).saturating_mul(u128::from(gradient)) >> 32);
        if full || !params.creep_guard {
            scaled.saturating_add(u64::from(params.queue_size).saturating_mul(ONE))
        } else {
            scaled
        }
    };
    next.estimate = clamp(smooth(estimate, target, params.smoothing_ppm), bounds);
    next
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOUNDS: Bounds = Bounds { min: 1, max: 1000 };
    const PARAMS: Params = Params {
        smoothing_ppm: 200_000,
        queue_size: 4,
        long_window: 600,
        tolerance_ppm: 1_500_000,
        creep_guard: false,
    };

    fn window(latency: u64, in_flight: u32, dropped: bool) -> Closed {
        Closed {
            latency,
            in_flight,
            dropped,
        }
    }

    fn warmed(limit: u32, long: u64) -> Model {
        Model {
            baseline: u128::from(long) << 32,
            count: WARMUP_WINDOWS,
            ..Model::new(limit)
        }
    }

    #[test]
    fn the_long_average_is_a_plain_mean_for_ten_windows_then_exponential() {
        let mut model = Model::new(20);
        for (i, latency) in [100, 200, 300].into_iter().enumerate() {
            model = update(PARAMS, BOUNDS, model, window(latency, 0, false));
            assert_eq!(model.count, i as u32 + 1);
        }
        assert_eq!(model.baseline, 200 << 32);
        let mut model = warmed(20, 100);
        model = update(PARAMS, BOUNDS, model, window(701, 0, false));
        // 100 · 599/601 + 701 · 2/601 = 102
        assert_eq!(model.baseline, 102 << 32);
    }

    #[test]
    fn a_long_average_over_twice_the_latency_is_cut_by_five_percent() {
        let model = update(PARAMS, BOUNDS, warmed(20, 1_000), window(400, 0, false));
        // 1000 · 599/601 + 400 · 2/601 = 998.0033..., then × 0.95 = 948.1031...
        let long = model.baseline as f64 / (1u64 << 32) as f64;
        assert!((long - 948.1031).abs() < 1e-3, "{long}");
    }

    #[test]
    fn no_queueing_grows_by_the_smoothed_queue_allowance() {
        // gradient 1: 20 · 0.8 + (20 + 4) · 0.2 = 20.8
        let next = update(PARAMS, BOUNDS, warmed(20, 100), window(100, 20, false));
        assert_eq!(next.estimate, 20 * ONE + ONE * 4 / 5);
        assert_eq!(next.limit(), 20);
    }

    #[test]
    fn a_slow_window_shrinks_by_the_gradient() {
        // long ≈ 100.5, latency 300: gradient = max(0.5, 1.5 · 100.5 / 300) = 0.5025
        let next = update(PARAMS, BOUNDS, warmed(100, 100), window(300, 100, false));
        let estimate = next.estimate as f64 / ONE as f64;
        let long = 100.0 * 599.0 / 601.0 + 300.0 * 2.0 / 601.0;
        let want = 100.0 * 0.8 + (100.0 * (1.5 * long / 300.0) + 4.0) * 0.2;
        assert!((estimate - want).abs() < 1e-6, "{estimate} vs {want}");
    }

    #[test]
    fn the_gradient_is_at_least_one_half() {
        let next = update(
            PARAMS,
            BOUNDS,
            warmed(100, 100),
            window(100_000, 100, false),
        );
        // 100 · 0.8 + (100 · 0.5 + 4) · 0.2 = 90.8
        assert_eq!(next.limit(), 90);
    }

    #[test]
    fn a_dropped_window_halves_the_target_without_queue_even_when_application_limited() {
        // 20 · 0.8 + 10 · 0.2 = 18
        let next = update(PARAMS, BOUNDS, warmed(20, 100), window(100, 0, true));
        assert_eq!(next.estimate, 18 * ONE);
        let floor = update(PARAMS, BOUNDS, warmed(1, 100), window(100, 1, true));
        assert_eq!(floor.estimate, ONE);
    }

    #[test]
    fn application_limited_windows_feed_the_average_but_keep_the_limit() {
        let next = update(PARAMS, BOUNDS, warmed(20, 100), window(701, 9, false));
        assert_eq!((next.estimate, next.baseline), (20 * ONE, 102 << 32));
    }

    #[test]
    fn the_creep_guard_adds_the_queue_only_at_full_gradient() {
        let guarded = Params {
            creep_guard: true,
            ..PARAMS
        };
        // long 100, latency 160: gradient 0.9375 < 1.
        let plain = update(PARAMS, BOUNDS, warmed(40, 100), window(160, 40, false));
        let guard = update(guarded, BOUNDS, warmed(40, 100), window(160, 40, false));
        assert!(plain.estimate > guard.estimate);
        assert!(guard.estimate < 40 * ONE);
        // Gradient 1: both add it.
        let plain = update(PARAMS, BOUNDS, warmed(40, 100), window(100, 40, false));
        let guard = update(guarded, BOUNDS, warmed(40, 100), window(100, 40, false));
        assert_eq!(plain.estimate, guard.estimate);
    }
}
