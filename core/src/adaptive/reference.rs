//! The three rules again in binary64, as concurrency-limits computes them (with the contract's
//! changes), and a check that the fixed-point rules stay within 10⁻⁴ of them over 400 windows
//! of seeded random traffic.
//!
//! Where binary64 takes an integer part or a ceiling, it does so with a tolerance of 10⁻⁹
//! ([`EDGE`]): its own rounding puts a value the rules make exactly 11 at 10.999999999999998
//! now and then, and the integer limit would then differ by one for a reason that has nothing
//! to do with the fixed point (the core keeps decimal estimates exact). Every other operation is
//! plain binary64.

use super::settings::{Bounds, Rule};
use super::state::{self, Closed, Model, ONE};
use super::vegas;
use crate::rng::SplitMix64;

const WINDOWS: usize = 400;
const TOLERANCE: f64 = 1e-4;
/// How close to an integer binary64's rounding may leave a value that is that integer.
const EDGE: f64 = 1e-9;

/// The integer part, taking a value within [`EDGE`] below an integer as that integer.
fn floor(x: f64) -> f64 {
    (x + EDGE).floor()
}

/// The ceiling, taking a value within [`EDGE`] above an integer as that integer.
fn ceil(x: f64) -> f64 {
    (x - EDGE).ceil()
}

/// The binary64 state: the estimate, the baseline in ns, and the counters.
#[derive(Clone, Copy, Debug)]
struct Float {
    estimate: f64,
    baseline: f64,
    warmup_sum: f64,
    count: u32,
    probes: u32,
}

fn log10(limit: f64) -> f64 {
    f64::from(vegas::log10(floor(limit) as u32))
}

fn clamp(x: f64, bounds: Bounds) -> f64 {
    x.max(f64::from(bounds.min)).min(f64::from(bounds.max))
}

fn limited(closed: Closed, estimate: f64) -> bool {
    u64::from(closed.in_flight) * 2 < floor(estimate) as u64
}

fn float_step(rule: &Rule, bounds: Bounds, seed: u64, mut m: Float, w: Closed) -> Float {
    let latency = w.latency as f64;
    match *rule {
        Rule::Aimd {
            backoff_ppm,
            timeout,
        } => {
            let limit = m.estimate;
            let next = if w.dropped || w.latency > timeout {
                (limit * (f64::from(backoff_ppm) / 1e6)).floor()
            } else if limited(w, limit) {
                return m;
            } else {
                limit + 1.0
            };
            m.estimate = clamp(next, bounds);
        }
        Rule::Vegas {
            alpha,
            beta,
            probe_multiplier,
            smoothing_ppm,
        } => {
            m.count += 1;
            if !w.dropped {
                let jitter = vegas::jitter(seed, m.probes) as f64 / 2f64.powi(33);
                if jitter * f64::from(probe_multiplier) * m.estimate <= f64::from(m.count) + EDGE {
                    m.probes += 1;
                    m.count = 0;
                    m.baseline = latency;
                    return m;
                }
                if m.baseline == 0.0 || latency < m.baseline {
                    m.baseline = latency;
                    return m;
                }
            }
            let e = m.estimate;
            let log = log10(e);
            let next = if w.dropped {
                e - log
            } else if limited(w, e) {
                return m;
            } else {
                let queue = ceil(e * (1.0 - m.baseline / latency));
                if queue <= log {
                    e + f64::from(beta) * log
                } else if queue < f64::from(alpha) * log {
                    e + log
                } else if queue > f64::from(beta) * log {
                    e - log
                } else {
                    return m;
                }
            };
            let s = f64::from(smoothing_ppm) / 1e6;
            m.estimate = (1.0 - s) * e + s * clamp(next, bounds);
        }
        Rule::Gradient2 {
            smoothing_ppm,
            queue_size,
            long_window,
            tolerance_ppm,
            creep_guard,
        } => {
            if m.count < 10 {
                m.count += 1;
                m.warmup_sum += latency;
                m.baseline = m.warmup_sum / f64::from(m.count);
            } else {
                let factor = 2.0 / (f64::from(long_window) + 1.0);
                m.baseline = m.baseline * (1.0 - factor) + latency * factor;
            }
            if m.baseline / latency > 2.0 {
                m.baseline *= 0.95;
            }
            let e = m.estimate;
            let next = if w.dropped {
                e * 0.5
            } else if limited(w, e) {
                return m;
            } else {
                let tolerance = f64::from(tolerance_ppm) / 1e6;
                let gradient = (tolerance * m.baseline / latency).clamp(0.5, 1.0);
                let queue = if gradient == 1.0 || !creep_guard {
                    f64::from(queue_size)
                } else {
                    0.0
                };
                e * gradient + queue
            };
            let s = f64::from(smoothing_ppm) / 1e6;
            m.estimate = clamp(e * (1.0 - s) + next * s, bounds);
        }
    }
    m
}

/// A window from one of a few regimes: calm, loaded, overloaded, with drops now and then.
fn random_window(rng: &mut SplitMix64, limit: u32) -> Closed {
    let regime = rng.next_u64() % 4;
    let base = 1_000_000 + rng.next_u64() % 50_000;
    let latency = match regime {
        0 => base,
        1 => base + rng.next_u64() % 500_000,
        2 => base * (2 + rng.next_u64() % 4),
        _ => base / 2 + rng.next_u64() % base,
    };
    let in_flight = (rng.next_u64() % (u64::from(limit) * 2 + 2)) as u32;
    Closed {
        latency,
        in_flight,
        dropped: rng.next_u64() % 20 == 0,
    }
}

fn estimate_of(model: &Model) -> f64 {
    model.estimate as f64 / ONE as f64
}

fn compare(rule: Rule, seed: u64) {
    let bounds = Bounds { min: 1, max: 1000 };
    let mut fixed = Model::new(20);
    let mut float = Float {
        estimate: 20.0,
        baseline: 0.0,
        warmup_sum: 0.0,
        count: 0,
        probes: 0,
    };
    let mut rng = SplitMix64::new(seed);
    let (mut rises, mut falls) = (0, 0);
    for index in 0..WINDOWS {
        let before = fixed.estimate;
        let window = random_window(&mut rng, fixed.limit());
        fixed = state::step(&rule, bounds, seed, fixed, window);
        float = float_step(&rule, bounds, seed, float, window);
        let (e, f) = (estimate_of(&fixed), float.estimate);
        assert!(
            (e - f).abs() <= TOLERANCE,
            "{rule:?} seed {seed} window {index}: fixed {e} float {f}"
        );
        let baseline = fixed.baseline as f64 / (1u64 << 32) as f64;
        assert!(
            (baseline - float.baseline).abs() <= TOLERANCE * float.baseline.max(1.0),
            "{rule:?} seed {seed} window {index}: baseline {baseline} vs {}",
            float.baseline
        );
        assert_eq!((fixed.count, fixed.probes), (float.count, float.probes));
        rises += usize::from(fixed.estimate > before);
        falls += usize::from(fixed.estimate < before);
    }
    // The traffic moves the estimate both ways, so the comparison covers every branch's
    // arithmetic, not a limit that sat still.
    assert!(
        rises >= 5 && falls >= 5,
        "{rule:?} seed {seed}: {rises} rises, {falls} falls"
    );
}

#[test]
fn aimd_matches_binary64() {
    for seed in 0..20 {
        let rule = Rule::Aimd {
            backoff_ppm: 900_000,
            timeout: 3_000_000,
        };
        compare(rule, seed);
    }
}

#[test]
fn vegas_matches_binary64() {
    for seed in 0..20 {
        for smoothing_ppm in [1_000_000, 300_000] {
            let rule = Rule::Vegas {
                alpha: 3,
                beta: 6,
                probe_multiplier: 30,
                smoothing_ppm,
            };
            compare(rule, seed);
        }
    }
}

#[test]
fn gradient2_matches_binary64() {
    for seed in 0..20 {
        for creep_guard in [false, true] {
            let rule = Rule::Gradient2 {
                smoothing_ppm: 200_000,
                queue_size: 4,
                long_window: 600,
                tolerance_ppm: 1_500_000,
                creep_guard,
            };
            compare(rule, seed);
        }
    }
}
