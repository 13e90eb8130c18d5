//! The config as the limiter keeps it: fractions in millionths, so that no decision after
//! construction touches a float.

use super::config::{AdaptiveConfig, Algorithm};

/// An algorithm and its parameters, in integers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Rule {
    Aimd {
        backoff_ppm: u32,
        timeout: u64,
    },
    Vegas {
        alpha: u32,
        beta: u32,
        probe_multiplier: u32,
        smoothing_ppm: u32,
    },
    Gradient2 {
        smoothing_ppm: u32,
        queue_size: u32,
        long_window: u32,
        tolerance_ppm: u32,
        creep_guard: bool,
    },
}

/// The bounds of the limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Bounds {
    pub(crate) min: u32,
    pub(crate) max: u32,
}

/// A validated config.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Settings {
    pub(crate) rule: Rule,
    pub(crate) bounds: Bounds,
    pub(crate) min_samples: u32,
    pub(crate) window: u64,
    pub(crate) seed: u64,
}

impl Settings {
    /// The integer form of a config that passed `validate` (a fraction that did not is kept as
    /// its nearest allowed value, so even a skipped check cannot make a rule divide by zero).
    pub(crate) const fn from_config(config: &AdaptiveConfig) -> Settings {
        let rule = match config.algorithm {
            Algorithm::Aimd(aimd) => Rule::Aimd {
                backoff_ppm: or(aimd.backoff_ppm(), 900_000),
                timeout: aimd.timeout.as_nanos(),
            },
            Algorithm::Vegas(vegas) => Rule::Vegas {
                alpha: vegas.alpha,
                beta: vegas.beta,
                probe_multiplier: vegas.probe_multiplier,
                smoothing_ppm: or(vegas.smoothing_ppm(), 1_000_000),
            },
            Algorithm::Gradient2(gradient) => Rule::Gradient2 {
                smoothing_ppm: or(gradient.smoothing_ppm(), 200_000),
                queue_size: gradient.queue_size,
                long_window: gradient.long_window,
                tolerance_ppm: or(gradient.tolerance_ppm(), 1_500_000),
                creep_guard: gradient.creep_guard,
            },
        };
        Settings {
            rule,
            bounds: Bounds {
                min: config.min_limit,
                max: config.max_limit,
            },
            min_samples: config.min_samples,
            window: config.window.as_nanos(),
            seed: config.seed,
        }
    }
}

const fn or(value: Option<u32>, default: u32) -> u32 {
    match value {
        Some(value) => value,
        None => default,
    }
}
