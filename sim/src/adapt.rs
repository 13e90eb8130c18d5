//! How an adaptive limit followed a change of capacity: the capacity-equivalent limit over
//! time, and the time the limit took to adapt to its drop and to its recovery.
//!
//! The capacity-equivalent limit of a service is its number of workers at that moment: the
//! most calls it serves at once without queueing, so the concurrency limit at which its callers
//! get all its throughput and none of its queue.

use stanchion::Nanos;

use crate::metrics::Metrics;
use crate::scenario::{RunSpec, Scenario};

/// How far from the capacity-equivalent limit the limit may be and count as adapted: 20 %.
pub const TOLERANCE: f64 = 0.2;

/// One run's adaptive limit against the capacity change of the service it guards.
#[derive(Clone, Debug, PartialEq)]
pub struct Adaptation {
    /// The guarded service.
    pub service: String,
    /// When its capacity dropped, and when it came back.
    pub dropped_at: Nanos,
    /// When its capacity came back.
    pub recovered_at: Nanos,
    /// The end of the load: the later figures look no further.
    pub load_end: Nanos,
    /// The capacity-equivalent limit before and after the drop.
    pub healthy: u32,
    /// The capacity-equivalent limit during the drop.
    pub reduced: u32,
    /// From the drop until the limit stays within 20 % of `reduced` up to the recovery;
    /// `None` if it is outside that band at the recovery.
    pub down: Option<Nanos>,
    /// From the recovery until the limit is at least 80 % of `healthy` and stays there up to
    /// the end of the load; `None` if it is below that at the end.
    pub up: Option<Nanos>,
    /// The lowest and highest limit in the second half of the drop.
    pub settled_reduced: (u32, u32),
    /// The lowest and highest limit in the second half of the time from the recovery to the
    /// end of the load.
    pub settled_healthy: (u32, u32),
}

/// The limit in force over `[from, to)`, as (start, limit) steps, the first at `from`.
///
/// ```
/// use stanchion::Nanos;
/// use stanchion_sim::adapt::steps;
/// let s = Nanos::from_secs;
/// let log = [(s(0), 20), (s(5), 18), (s(12), 30)];
/// assert_eq!(steps(&log, s(6), s(20)), vec![(s(6), 18), (s(12), 30)]);
/// ```
pub fn steps(log: &[(Nanos, u32)], from: Nanos, to: Nanos) -> Vec<(Nanos, u32)> {
    let before = log.iter().rev().find(|(t, _)| *t <= from).map(|&(_, l)| l);
    let first = before.or_else(|| log.first().map(|&(_, l)| l));
    first
        .map(|l| (from, l))
        .into_iter()
        .chain(log.iter().filter(|(t, _)| from < *t && *t < to).copied())
        .collect()
}

/// The time from `from` until the limit satisfies `ok` for good, up to `to`: the end of the
/// last step in `[from, to)` that fails it, less `from`; `None` if the last step fails it.
///
/// ```
/// use stanchion::Nanos;
/// use stanchion_sim::adapt::settle_time;
/// let s = Nanos::from_secs;
/// let log = [(s(0), 80), (s(2), 50), (s(3), 41), (s(7), 49), (s(8), 44)];
/// let within = |l: u32| (32..=48).contains(&l);
/// assert_eq!(settle_time(&log, s(0), s(20), within), Some(s(8)));
/// assert_eq!(settle_time(&log, s(0), s(7), within), Some(s(3)));
/// assert_eq!(settle_time(&log, s(0), s(8), within), None);
/// ```
pub fn settle_time(
    log: &[(Nanos, u32)],
    from: Nanos,
    to: Nanos,
    ok: impl Fn(u32) -> bool,
) -> Option<Nanos> {
    let steps = steps(log, from, to);
    let mut settled = from;
    for (i, &(_, limit)) in steps.iter().enumerate() {
        if !ok(limit) {
            settled = steps.get(i + 1).map_or(to, |&(t, _)| t);
        }
    }
    (settled < to).then(|| settled - from)
}

/// The lowest and highest limit over `[from, to)`.
pub fn range(log: &[(Nanos, u32)], from: Nanos, to: Nanos) -> (u32, u32) {
    steps(log, from, to)
        .iter()
        .fold((u32::MAX, 0), |(lo, hi), &(_, l)| (lo.min(l), hi.max(l)))
}

/// The end of the load: the end of the last bucket in which requests arrived.
pub fn load_end(m: &Metrics) -> Nanos {
    let last = m
        .buckets
        .iter()
        .rposition(|b| b.offered > 0)
        .map_or(0, |i| i + 1);
    Nanos::new(last as u64 * m.bucket.as_nanos())
}

/// How the run's adaptive limit followed the first window that changes the workers of the
/// service it guards; `None` when the run has no adaptive limit on such a service.
pub fn adaptation(scenario: &Scenario, run: &RunSpec, m: &Metrics) -> Option<Adaptation> {
    let (service, window, log) = scenario.services.iter().enumerate().find_map(|(i, s)| {
        run.policies[i].as_ref()?.adaptive?;
        let window = s.failures.iter().find(|f| f.workers.is_some())?;
        Some((s, window, m.limits[i].as_ref()?))
    })?;
    let healthy = service.workers_at(window.until)?;
    let reduced = window.workers?;
    let load_end = load_end(m);
    let (dropped_at, recovered_at) = (window.from, window.until.min(load_end));
    let low = f64::from(reduced);
    let within = |l: u32| (f64::from(l) - low).abs() <= TOLERANCE * low;
    let back = |l: u32| f64::from(l) >= (1.0 - TOLERANCE) * f64::from(healthy);
    let half = |a: Nanos, b: Nanos| a + Nanos::new((b.as_nanos().saturating_sub(a.as_nanos())) / 2);
    Some(Adaptation {
        service: service.name.clone(),
        dropped_at,
        recovered_at,
        load_end,
        healthy,
        reduced,
        down: settle_time(log, dropped_at, recovered_at, within),
        up: settle_time(log, recovered_at, load_end, back),
        settled_reduced: range(log, half(dropped_at, recovered_at), recovered_at),
        settled_healthy: range(log, half(recovered_at, load_end), load_end),
    })
}
