//! Latency distributions and the sampling that draws from them, on the core's SplitMix64 so a
//! seed fixes every draw.

use stanchion::rng::SplitMix64;
use stanchion::Nanos;

/// How long a service takes to answer.
///
/// ```
/// use stanchion::rng::SplitMix64;
/// use stanchion::Nanos;
/// use stanchion_sim::distribution::Latency;
/// let mut rng = SplitMix64::new(1);
/// assert_eq!(Latency::Constant(Nanos::from_millis(5)).sample(&mut rng), Nanos::from_millis(5));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Latency {
    /// Always the same.
    Constant(Nanos),
    /// Uniform on `[min, max]`.
    Uniform(Nanos, Nanos),
    /// Exponential with this mean.
    Exponential(Nanos),
    /// Log-normal with this median and 99th percentile (a long right tail, like real
    /// services).
    LogNormal {
        /// The median.
        p50: Nanos,
        /// The 99th percentile.
        p99: Nanos,
    },
}

/// z of the standard normal's 99th percentile.
const Z99: f64 = 2.326_347_874;

/// A uniform draw in `(0, 1)`, never 0 or 1.
///
/// ```
/// let x = stanchion_sim::distribution::unit(&mut stanchion::rng::SplitMix64::new(9));
/// assert!(x > 0.0 && x < 1.0);
/// ```
pub fn unit(rng: &mut SplitMix64) -> f64 {
    // 53 random bits, shifted off zero so that logarithms stay finite.
    ((rng.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
}

impl Latency {
    /// One draw.
    pub fn sample(&self, rng: &mut SplitMix64) -> Nanos {
        let nanos = match *self {
            Latency::Constant(d) => return d,
            Latency::Uniform(lo, hi) => {
                let span = hi.as_nanos() - lo.as_nanos();
                return Nanos::new(lo.as_nanos() + (unit(rng) * span as f64) as u64);
            }
            Latency::Exponential(mean) => -unit(rng).ln() * mean.as_nanos() as f64,
            Latency::LogNormal { p50, p99 } => {
                let mu = (p50.as_nanos().max(1) as f64).ln();
                let sigma = ((p99.as_nanos().max(1) as f64).ln() - mu) / Z99;
                // Box–Muller: one standard normal from two uniforms.
                let z =
                    (-2.0 * unit(rng).ln()).sqrt() * (2.0 * std::f64::consts::PI * unit(rng)).cos();
                (mu + sigma * z).exp()
            }
        };
        Nanos::new(nanos.min(1e15) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quantile(latency: Latency, q: f64) -> u64 {
        let mut rng = SplitMix64::new(3);
        let mut v: Vec<u64> = (0..20_000)
            .map(|_| latency.sample(&mut rng).as_nanos())
            .collect();
        v.sort_unstable();
        v[(q * v.len() as f64) as usize]
    }

    #[test]
    fn lognormal_hits_its_median_and_tail() {
        let l = Latency::LogNormal {
            p50: Nanos::from_millis(40),
            p99: Nanos::from_millis(200),
        };
        let p50 = quantile(l, 0.5) as f64 / 1e6;
        let p99 = quantile(l, 0.99) as f64 / 1e6;
        assert!((36.0..44.0).contains(&p50), "p50 {p50} ms");
        assert!((170.0..235.0).contains(&p99), "p99 {p99} ms");
    }

    #[test]
    fn exponential_and_uniform_stay_in_shape() {
        let mean = Nanos::from_millis(10);
        let median = quantile(Latency::Exponential(mean), 0.5) as f64 / 1e6;
        assert!(
            (6.3..7.6).contains(&median),
            "median {median} ms (ln 2 · 10)"
        );
        let u = Latency::Uniform(Nanos::from_millis(5), Nanos::from_millis(15));
        assert!(quantile(u, 0.0) >= 5_000_000 && quantile(u, 0.999) <= 15_000_000);
    }
}
