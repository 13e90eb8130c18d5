//! The overload scenario: each adaptive limit follows the backend's capacity down to half and
//! back, on fixed seeds, within the times the README states. The capacity-equivalent limit is
//! the backend's workers: 80, then 40 from 30 s to 90 s. See `src/adapt.rs` for the measures.

use stanchion::Nanos;
use stanchion_sim::adapt::{range, steps, Adaptation};
use stanchion_sim::builtin;
use stanchion_sim::engine::simulate;
use stanchion_sim::scenario::Scenario;
use stanchion_sim::summary::summarize_run;

const SEEDS: [u64; 8] = [1, 2, 3, 4, 5, 6, 7, 8];

fn adaptation(text: &str, run: &str, seed: u64) -> (Adaptation, Vec<(Nanos, u32)>) {
    let s = Scenario::parse("overload.toml", text).unwrap();
    let spec = s.runs.iter().find(|r| r.name == run).unwrap();
    let m = simulate(&s, spec, seed, &mut |_| {});
    let log = m.limits.iter().flatten().next().unwrap().clone();
    (summarize_run(&s, spec, &m).adapt.unwrap(), log)
}

/// On every seed: L was above the band when the capacity dropped, entered the band within
/// `down` and stayed in it up to the recovery, then reached 80 % of the healthy capacity within
/// `up` and stayed there to the end of the load.
#[track_caller]
fn follows_the_capacity(run: &str, down: u64, up: u64) {
    for seed in SEEDS {
        let (a, log) = adaptation(builtin::OVERLOAD, run, seed);
        assert_eq!((a.healthy, a.reduced), (80, 40));
        let at_drop = steps(&log, a.dropped_at, a.recovered_at)[0].1;
        assert!(
            at_drop > 48,
            "{run}, seed {seed}: L was {at_drop} at the drop"
        );
        let took = a.down.unwrap_or_else(|| {
            panic!(
                "{run}, seed {seed}: L never stayed within 32–48 ({:?})",
                a.settled_reduced
            )
        });
        assert!(
            took <= Nanos::from_secs(down),
            "{run}, seed {seed}: {took} to adapt down"
        );
        let (lo, hi) = range(&log, a.dropped_at + took, a.recovered_at);
        assert!(
            32 <= lo && hi <= 48,
            "{run}, seed {seed}: {lo}–{hi} once settled"
        );
        let took = a.up.unwrap_or_else(|| {
            panic!(
                "{run}, seed {seed}: L never got back to 64 ({:?})",
                a.settled_healthy
            )
        });
        assert!(
            took <= Nanos::from_secs(up),
            "{run}, seed {seed}: {took} to adapt up"
        );
        let (lo, _) = range(&log, a.recovered_at + took, a.load_end);
        assert!(
            lo >= 64,
            "{run}, seed {seed}: down to {lo} after growing back"
        );
    }
}

#[test]
fn aimd_settles_within_8_s_and_recovers_within_15_s() {
    follows_the_capacity("AIMD", 8, 15);
}

#[test]
fn gradient2_settles_within_8_s_and_recovers_within_30_s() {
    follows_the_capacity("Gradient2", 8, 30);
}

#[test]
fn vegas_settles_within_50_s_and_recovers_within_45_s() {
    // Vegas lowers L by 1 a window below 100 (2 from 100): from its healthy ~100, 50 windows
    // of 500 ms at best, more when a noisy window says there is no queue.
    follows_the_capacity("Vegas", 50, 45);
}

/// The scenario's text with `from` (found once) replaced by `to`.
fn overload_with(from: &str, to: &str) -> String {
    assert_eq!(builtin::OVERLOAD.matches(from).count(), 1, "{from}");
    builtin::OVERLOAD.replace(from, to)
}

#[test]
fn gradient2_at_its_default_tolerance_keeps_a_queue() {
    // At rtt_tolerance 1.5 the latency may rise half again before L shrinks: the backend's
    // queue stays at about half its workers, outside the band, on every seed.
    let text = overload_with(", rtt_tolerance = 1.0, creep_guard = true", "");
    for seed in SEEDS {
        let (a, _) = adaptation(&text, "Gradient2", seed);
        assert_eq!(a.down, None, "seed {seed}");
        assert!(
            a.settled_reduced.0 > 48,
            "seed {seed}: {:?}",
            a.settled_reduced
        );
    }
}

#[test]
fn aimd_with_its_default_timeout_never_comes_down() {
    // Nothing is dropped: the queue is long and the calls' timeout far off, and a 5 s mean
    // latency is never reached, so AIMD only grows.
    let text = overload_with(", timeout = \"105ms\"", "");
    let (a, _) = adaptation(&text, "AIMD", 7);
    assert_eq!(a.down, None);
    assert!(a.settled_reduced.0 > 80, "{:?}", a.settled_reduced);
}

#[test]
fn the_same_seed_draws_the_same_limits() {
    let (a, log_a) = adaptation(builtin::OVERLOAD, "Vegas", 3);
    let (b, log_b) = adaptation(builtin::OVERLOAD, "Vegas", 3);
    assert_eq!(a, b);
    assert_eq!(log_a, log_b);
}
