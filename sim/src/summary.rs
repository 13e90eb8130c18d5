//! The figures of one run that the table compares: success, latency percentiles, saturation,
//! calls per service, retries, and the time to recover once the failure ends.

use stanchion::breaker::State;
use stanchion::Nanos;

use crate::adapt::{adaptation, load_end, Adaptation};
use crate::metrics::{Bucket, Metrics};
use crate::scenario::{RunSpec, Scenario};

/// One run's headline figures.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    /// The run's name.
    pub name: String,
    /// User requests that arrived.
    pub offered: u64,
    /// Served in full.
    pub ok: u64,
    /// Served by a fallback.
    pub degraded: u64,
    /// Errors seen by users.
    pub errors: u64,
    /// Latency percentiles of user requests: p50, p99, max.
    pub p50: Nanos,
    /// The 99th percentile.
    pub p99: Nanos,
    /// The slowest.
    pub max: Nanos,
    /// For each service with a worker limit: (name, time with every worker busy, peak busy).
    pub saturated: Vec<(String, Nanos, u32)>,
    /// Attempts that reached each service: (name, count).
    pub reaching: Vec<(String, u64)>,
    /// Requests each service refused with workers and queue full.
    pub pool_rejected: u64,
    /// Retries sent.
    pub retries: u64,
    /// Retries the budget refused.
    pub budget_refused: u64,
    /// Attempts refused by a breaker, bulkhead or rate limiter.
    pub refused: u64,
    /// Attempts abandoned at their timeout.
    pub timeouts: u64,
    /// Times a breaker opened.
    pub breaker_trips: u64,
    /// The most retries sent to the entry service within one millisecond.
    pub peak_per_ms: u64,
    /// Time from the heal to a lasting recovery: `None` without a failure window,
    /// `Some(None)` when the run never recovered.
    pub recovery: Option<Option<Nanos>>,
    /// When the last user request completed.
    pub last_answer: Nanos,
    /// Requests served in full per second of load (up to the end of the last interval in
    /// which requests arrived).
    pub goodput: f64,
    /// How an adaptive limit followed a change of capacity, when the run has one (filled in
    /// by [`summarize_run`]).
    pub adapt: Option<Adaptation>,
}

impl Summary {
    /// The share of users who got an answer (fallbacks included): `(ok + degraded) /
    /// (ok + degraded + errors)`.
    pub fn success_rate(&self) -> f64 {
        let answered = self.ok + self.degraded + self.errors;
        if answered == 0 {
            return 0.0;
        }
        (self.ok + self.degraded) as f64 / answered as f64
    }
}

/// The nearest-rank percentile `q` of sorted `v`.
///
/// ```
/// assert_eq!(stanchion_sim::summary::percentile(&[10, 20, 30, 40], 0.5), 20);
/// ```
pub fn percentile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn sorted_latencies<'a>(buckets: impl Iterator<Item = &'a Bucket>) -> Vec<u64> {
    let mut all: Vec<u64> = buckets.flat_map(|b| b.latencies.iter().copied()).collect();
    all.sort_unstable();
    all
}

/// Summarises run `name` of `scenario`.
///
/// ```
/// use stanchion_sim::{engine::simulate, scenario::Scenario, summary::summarize};
/// let s = Scenario::parse("drill", stanchion_sim::builtin::DRILL).unwrap();
/// let m = simulate(&s, &s.runs[1], s.seed, &mut |_| {});
/// let sum = summarize(&s, &s.runs[1].name, &m);
/// assert!(sum.success_rate() > 0.99);
/// ```
pub fn summarize(scenario: &Scenario, name: &str, m: &Metrics) -> Summary {
    let all = sorted_latencies(m.buckets.iter());
    let total = |f: fn(&Bucket) -> u64| m.buckets.iter().map(f).sum::<u64>();
    let saturated = scenario
        .services
        .iter()
        .zip(&m.pools)
        .filter(|(s, _)| s.workers.is_some())
        .map(|(s, o)| {
            (
                s.name.clone(),
                o.saturated,
                o.peak.iter().copied().max().unwrap_or(0),
            )
        })
        .collect();
    let reaching = scenario
        .services
        .iter()
        .zip(&m.reaching)
        .map(|(s, &n)| (s.name.clone(), n))
        .collect();
    let breaker_trips = m
        .breakers
        .iter()
        .flatten()
        .map(|log| log.iter().filter(|&&(_, s)| s == State::Open).count() as u64)
        .sum();
    Summary {
        name: name.to_owned(),
        offered: total(|b| b.offered),
        ok: total(|b| b.ok),
        degraded: total(|b| b.degraded),
        errors: total(|b| b.errors),
        p50: Nanos::new(percentile(&all, 0.50)),
        p99: Nanos::new(percentile(&all, 0.99)),
        max: Nanos::new(all.last().copied().unwrap_or(0)),
        saturated,
        reaching,
        pool_rejected: m.pool_rejected.iter().sum(),
        retries: m.retries,
        budget_refused: m.budget_refused,
        refused: m.refused,
        timeouts: m.timeouts,
        breaker_trips,
        peak_per_ms: m.peak_per_ms,
        recovery: scenario.healed_at().map(|heal| recovery(scenario, m, heal)),
        last_answer: m.last_answer,
        goodput: total(|b| b.ok) as f64 / (load_end(m).as_nanos().max(1) as f64 / 1e9),
        adapt: None,
    }
}

/// Summarises `run` of `scenario`, with how its adaptive limit followed a change of capacity.
///
/// ```
/// use stanchion_sim::{builtin, engine::simulate, scenario::Scenario, summary::summarize_run};
/// let s = Scenario::parse("overload", builtin::OVERLOAD).unwrap();
/// let aimd = &s.runs[2];
/// let sum = summarize_run(&s, aimd, &simulate(&s, aimd, s.seed, &mut |_| {}));
/// assert_eq!(sum.adapt.unwrap().reduced, 40);
/// ```
pub fn summarize_run(scenario: &Scenario, run: &RunSpec, m: &Metrics) -> Summary {
    Summary {
        adapt: adaptation(scenario, run, m),
        ..summarize(scenario, &run.name, m)
    }
}

/// The time from `heal` until every later bucket of the load period is healthy: as large a
/// share served in full as before the failure (less one point) and a p99 at most twice the
/// p99 before it.
fn recovery(scenario: &Scenario, m: &Metrics, heal: Nanos) -> Option<Nanos> {
    let width = m.bucket.as_nanos();
    let before = scenario
        .failing_from()
        .map_or(0, |f| (f.as_nanos() / width) as usize);
    let baseline = &m.buckets[..before.min(m.buckets.len())];
    let full = |b: &Bucket| {
        let n = b.ok + b.degraded + b.errors;
        (n > 0).then(|| b.ok as f64 / n as f64)
    };
    let base_lat = sorted_latencies(baseline.iter());
    let base_share = {
        let (ok, n) = baseline.iter().fold((0, 0), |(ok, n), b| {
            (ok + b.ok, n + b.ok + b.degraded + b.errors)
        });
        if n == 0 {
            1.0
        } else {
            ok as f64 / n as f64
        }
    };
    let p99_limit = if base_lat.is_empty() {
        u64::MAX
    } else {
        percentile(&base_lat, 0.99).saturating_mul(2)
    };
    let healthy = |b: &Bucket| {
        let mut lat = b.latencies.clone();
        lat.sort_unstable();
        full(b).is_some_and(|share| share >= base_share - 0.01)
            && percentile(&lat, 0.99) <= p99_limit
    };
    // The load period: up to the last bucket in which requests still arrived.
    let end = m
        .buckets
        .iter()
        .rposition(|b| b.offered > 0)
        .map_or(0, |i| i + 1);
    let first = (heal.as_nanos() / width) as usize;
    let mut recovered = end;
    for b in (first..end).rev() {
        if !healthy(&m.buckets[b]) {
            break;
        }
        recovered = b;
    }
    if recovered >= end {
        return None;
    }
    Some(Nanos::new(recovered as u64 * width).saturating_sub(heal))
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 0.5), 50);
        assert_eq!(percentile(&v, 0.99), 99);
        assert_eq!(percentile(&v, 1.0), 100);
        assert_eq!(percentile(&[7], 0.99), 7);
        assert_eq!(percentile(&[], 0.5), 0);
    }
}
