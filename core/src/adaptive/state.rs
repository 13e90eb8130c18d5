//! The estimate and what each algorithm keeps beside it, as plain values, and the one step that
//! turns a closed window into the next estimate.
//!
//! Everything here is pure: the limiter loads a [`Model`] from its words, calls [`step`], and
//! stores the result, and only the thread that closed a window does that (see `window.rs`).
//!
//! Fixed point: the estimate is kept in billionths (a limit of at most 65,535 is below 2^46
//! of them), so that the decimal fractions of a config give exact answers where they can; the
//! baseline latency is Q64.32 nanoseconds, fractions of the config whole millionths. Every product
//! below fits 128 bits (the bounds are stated at each), every division rounds down, and every
//! sum saturates.

use super::settings::{Bounds, Rule};
use super::{aimd, gradient2, vegas};

/// 1.0 in the estimate's units: billionths.
pub(crate) const ONE: u64 = 1_000_000_000;

/// A million: the denominator of every fraction of the config.
pub(crate) const MILLION: u128 = 1_000_000;

/// What a closed window tells the algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Closed {
    /// The mean latency of its samples, in whole nanoseconds (at least 1).
    pub(crate) latency: u64,
    /// The highest in-flight figure among its samples.
    pub(crate) in_flight: u32,
    /// A sample in it was a drop.
    pub(crate) dropped: bool,
}

/// The algorithm's state between windows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Model {
    /// The estimated limit in billionths, within the bounds. The limit in force is its integer part.
    pub(crate) estimate: u64,
    /// Vegas: the no-load latency (0 until the first window). Gradient2: the long average.
    /// Q64.32 nanoseconds.
    pub(crate) baseline: u128,
    /// Gradient2: the sum of the warm-up windows' latencies.
    pub(crate) warmup_sum: u64,
    /// Vegas: windows since the last probe. Gradient2: warm-up windows averaged (up to 10).
    pub(crate) count: u32,
    /// Vegas: probes made so far, the index of the next jitter draw.
    pub(crate) probes: u32,
}

impl Model {
    /// The state before the first window.
    pub(crate) const fn new(initial_limit: u32) -> Model {
        Model {
            estimate: (initial_limit as u64).saturating_mul(ONE),
            baseline: 0,
            warmup_sum: 0,
            count: 0,
            probes: 0,
        }
    }

    /// The limit in force: the estimate's integer part.
    pub(crate) const fn limit(&self) -> u32 {
        (self.estimate / ONE) as u32
    }
}

/// The next model after `closed`.
pub(crate) fn step(rule: &Rule, bounds: Bounds, seed: u64, model: Model, closed: Closed) -> Model {
    match *rule {
        Rule::Aimd {
            backoff_ppm,
            timeout,
        } => aimd::update(backoff_ppm, timeout, bounds, model, closed),
        Rule::Vegas {
            alpha,
            beta,
            probe_multiplier,
            smoothing_ppm,
        } => vegas::update(
            vegas::Params {
                alpha,
                beta,
                probe_multiplier,
                smoothing_ppm,
                seed,
            },
            bounds,
            model,
            closed,
        ),
        Rule::Gradient2 {
            smoothing_ppm,
            queue_size,
            long_window,
            tolerance_ppm,
            creep_guard,
        } => gradient2::update(
            gradient2::Params {
                smoothing_ppm,
                queue_size,
                long_window,
                tolerance_ppm,
                creep_guard,
            },
            bounds,
            model,
            closed,
        ),
    }
}

/// Application-limited: the window never had half the limit in flight, so it says nothing about
/// whether more would fit (`in_flight · 2 < L`).
pub(crate) const fn application_limited(closed: Closed, limit: u32) -> bool {
    (closed.in_flight as u64).saturating_mul(2) < limit as u64
}

/// `estimate` moved `smoothing_ppm` millionths of the way to `target`:
/// `⌊(estimate · (10⁶ − s) + target · s) / 10⁶⌋`. Both are below 2^48 (clamped estimates)
/// or 2^64, the weights at most 10⁶: the sum fits 2^85. In billionths, a decimal smoothing
/// of a decimal estimate is exact.
pub(crate) fn smooth(estimate: u64, target: u64, smoothing_ppm: u32) -> u64 {
    let s = u128::from(smoothing_ppm).min(MILLION);
    let kept = u128::from(estimate).saturating_mul(MILLION.saturating_sub(s));
    let moved = u128::from(target).saturating_mul(s);
    narrow(kept.saturating_add(moved) / MILLION)
}

/// `estimate` within the bounds, in billionths.
pub(crate) const fn clamp(estimate: u64, bounds: Bounds) -> u64 {
    let min = (bounds.min as u64).saturating_mul(ONE);
    let max = (bounds.max as u64).saturating_mul(ONE);
    if estimate < min {
        min
    } else if estimate > max {
        max
    } else {
        estimate
    }
}

/// A 128-bit intermediate as 64 bits, saturating.
pub(crate) const fn narrow(x: u128) -> u64 {
    if x > u64::MAX as u128 {
        u64::MAX
    } else {
        x as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn application_limited_is_twice_in_flight_below_the_integer_limit() {
        let window = |in_flight| Closed {
            latency: 1,
            in_flight,
            dropped: false,
        };
        assert!(application_limited(window(9), 20));
        assert!(!application_limited(window(10), 20));
        assert!(application_limited(window(10), 21));
        assert!(!application_limited(window(u32::MAX), 65_535));
    }

    #[test]
    fn smoothing_moves_part_of_the_way_and_rounds_down() {
        assert_eq!(smooth(100, 200, 1_000_000), 200);
        assert_eq!(smooth(100, 200, 200_000), 120);
        assert_eq!(smooth(100, 101, 500_000), 100);
        assert_eq!(smooth(u64::MAX, u64::MAX, 300_000), u64::MAX);
    }

    #[test]
    fn clamping_keeps_the_estimate_in_the_bounds() {
        let bounds = Bounds { min: 2, max: 5 };
        assert_eq!(clamp(ONE, bounds), 2 * ONE);
        assert_eq!(clamp(3 * ONE + 7, bounds), 3 * ONE + 7);
        assert_eq!(clamp(u64::MAX, bounds), 5 * ONE);
    }
}
