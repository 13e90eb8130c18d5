//! The headline outcomes of the built-in scenarios, asserted on fixed seeds.

use stanchion_sim::builtin;
use stanchion_sim::output::run_scenario;
use stanchion_sim::scenario::Scenario;
use stanchion_sim::summary::Summary;

const SEEDS: [u64; 3] = [1, 7, 2024];

fn drill(seed: u64) -> (Summary, Summary) {
    let s = Scenario::parse("drill.toml", builtin::DRILL).unwrap();
    let mut out = run_scenario(&s, seed, false, &mut |_, _| {}).unwrap();
    let patterns = out.summaries.pop().unwrap();
    let bare = out.summaries.pop().unwrap();
    (bare, patterns)
}

fn reaching(s: &Summary, name: &str) -> u64 {
    s.reaching.iter().find(|(n, _)| n == name).unwrap().1
}

#[test]
fn without_patterns_the_failure_cascades() {
    for seed in SEEDS {
        let (bare, _) = drill(seed);
        let (_, saturated, peak) = &bare.saturated[0];
        // Orders' 40 workers all wait on Payments for most of the 30 s outage.
        assert!(
            saturated.as_nanos() >= 25_000_000_000,
            "seed {seed}: {saturated}"
        );
        assert_eq!(*peak, 40);
        // Users see it: errors and long waits.
        assert!(
            bare.success_rate() < 0.85,
            "seed {seed}: {}",
            bare.success_rate()
        );
        assert!(bare.pool_rejected > 4_000, "seed {seed}");
        assert!(
            bare.p99.as_nanos() >= 9_000_000_000,
            "seed {seed}: p99 {}",
            bare.p99
        );
        // Inventory, healthy all along, is starved of calls.
        assert!(
            reaching(&bare, "inventory") < bare.offered * 85 / 100,
            "seed {seed}"
        );
        // The backlog outlives the outage.
        assert!(matches!(bare.recovery, Some(Some(t)) if t.as_nanos() >= 5_000_000_000));
    }
}

#[test]
fn with_patterns_the_failure_is_contained() {
    for seed in SEEDS {
        let (bare, guarded) = drill(seed);
        assert_eq!(guarded.errors, 0, "seed {seed}");
        assert!(
            guarded.degraded > 4_000,
            "seed {seed}: the fallback answered"
        );
        assert!(
            guarded.p99.as_nanos() < 1_000_000_000,
            "seed {seed}: p99 {}",
            guarded.p99
        );
        assert!(
            guarded.max.as_nanos() <= 1_000_000_000,
            "seed {seed}: max {}",
            guarded.max
        );
        assert_eq!(
            guarded.saturated[0].1.as_nanos(),
            0,
            "seed {seed}: no worker exhaustion"
        );
        assert_eq!(
            reaching(&guarded, "inventory"),
            guarded.offered,
            "seed {seed}"
        );
        assert!(
            guarded.breaker_trips >= 1 && guarded.refused > 4_000,
            "seed {seed}"
        );
        let (Some(Some(bare_rec)), Some(Some(rec))) = (bare.recovery, guarded.recovery) else {
            panic!("seed {seed}: both runs recover within the run");
        };
        assert!(rec < bare_rec, "seed {seed}: {rec} vs {bare_rec}");
        assert!(guarded.budget_refused + guarded.retries < guarded.offered / 10);
    }
}

#[test]
fn jitter_spreads_retries() {
    let s = Scenario::parse("jitter.toml", builtin::JITTER).unwrap();
    for seed in SEEDS {
        let out = run_scenario(&s, seed, false, &mut |_, _| {}).unwrap();
        let [none, jittered @ ..] = out.summaries.as_slice() else {
            panic!("four runs");
        };
        assert_eq!(none.name, "no jitter");
        // Without jitter the 90 refused clients come back in the same instant.
        assert!(none.peak_per_ms >= 80, "seed {seed}: {}", none.peak_per_ms);
        for j in jittered {
            assert_eq!(j.ok, 100, "{}: every client is served", j.name);
            assert!(
                j.peak_per_ms * 2 <= none.peak_per_ms,
                "{} seed {seed}",
                j.name
            );
            let calls = |s: &Summary| reaching(s, "resource");
            assert!(
                calls(j) < calls(none),
                "{} seed {seed}: fewer calls",
                j.name
            );
            assert!(
                j.last_answer < none.last_answer,
                "{} seed {seed}: done sooner",
                j.name
            );
        }
    }
}
