//! The adaptive limiter against a plain sequential model of its admission and its windows:
//! random configs and random sequences of acquisitions, reports of every outcome, releases and
//! permit drops, on a clock that jumps forwards and backwards.
//!
//! After every step: the limit lies in its bounds; it moved only in the step that closed a
//! window, and a report returns the change exactly when it moved; a window closes exactly when
//! the model says it does; and admission is exact: a permit is granted while fewer than the
//! limit are out, never when as many are.

use proptest::prelude::*;
use stanchion::adaptive::{
    AdaptiveConfig, AdaptiveLimiter, Aimd, Algorithm, Gradient2, LimitChange, Outcome, RawPermit,
    Vegas,
};
use stanchion::{Nanos, Reason};

#[derive(Clone, Debug)]
enum Op {
    /// `try_acquire` at this time.
    Acquire(u64),
    /// Report the permit at this index (modulo those held) with this outcome at this time.
    Record(usize, Outcome, u64),
    /// Give a permit back without a sample.
    Release(usize),
    /// Report a permit that was already reported.
    Stale(usize),
}

fn outcome() -> impl Strategy<Value = Outcome> {
    prop_oneof![
        4 => Just(Outcome::Success),
        1 => Just(Outcome::Failure),
        1 => Just(Outcome::Ignored),
        2 => Just(Outcome::Dropped),
    ]
}

/// Times from a small range, so that windows close often and the clock often runs backwards,
/// with the extremes now and then.
fn time() -> impl Strategy<Value = u64> {
    prop_oneof![
        8 => (0..60u64).prop_map(|t| t * 10),
        1 => Just(0),
        1 => Just(u64::MAX),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => time().prop_map(Op::Acquire),
        4 => (any::<usize>(), outcome(), time()).prop_map(|(i, o, t)| Op::Record(i, o, t)),
        1 => any::<usize>().prop_map(Op::Release),
        1 => any::<usize>().prop_map(Op::Stale),
    ]
}

fn algorithm() -> impl Strategy<Value = Algorithm> {
    prop_oneof![
        (500_000..1_000_000u32, 1..300u64).prop_map(|(ratio, timeout)| {
            Algorithm::Aimd(
                Aimd::new()
                    .backoff_ratio(f64::from(ratio) / 1e6)
                    .timeout(Nanos::new(timeout)),
            )
        }),
        (0..8u32, 0..8u32, 1..4u32, 1..=10u32).prop_map(|(alpha, beta, probe, smoothing)| {
            Algorithm::Vegas(
                Vegas::new()
                    .alpha(alpha)
                    .beta(beta)
                    .probe_multiplier(probe)
                    .smoothing(f64::from(smoothing) / 10.0),
            )
        }),
        (1..=10u32, 0..8u32, 1..50u32, any::<bool>()).prop_map(
            |(smoothing, queue, long, guard)| {
                Algorithm::Gradient2(
                    Gradient2::new()
                        .smoothing(f64::from(smoothing) / 10.0)
                        .queue_size(queue)
                        .long_window(long)
                        .creep_guard(guard),
                )
            }
        ),
    ]
}

/// Windows as long as a few steps of the clock, or none, so that both thresholds decide.
fn window() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0),
        Just(10),
        (0..20u64).prop_map(|w| w * 10),
        Just(u64::MAX)
    ]
}

fn config() -> impl Strategy<Value = AdaptiveConfig> {
    (
        algorithm(),
        1..6u32,
        0..6u32,
        0..10u32,
        1..5u32,
        window(),
        any::<u64>(),
    )
        .prop_map(
            |(algorithm, min, above_min, above_initial, min_samples, window, seed)| {
                let initial = min + above_min;
                AdaptiveConfig::new()
                    .algorithm(algorithm)
                    .limits(min, initial, initial + above_initial)
                    .window(Nanos::new(window), min_samples)
                    .seed(seed)
            },
        )
}

/// The window as the contract states it: opens at its first sample, closes on the first
/// record with `min_samples` samples and at least `window` of age.
#[derive(Default)]
struct WindowModel {
    samples: u32,
    start: u64,
}

impl WindowModel {
    /// Folds a sample recorded at `now`; `true` when it closes the window.
    fn fold(&mut self, now: u64, config: &AdaptiveConfig) -> bool {
        if self.samples == 0 {
            self.start = now;
        }
        self.samples += 1;
        let closes = self.samples >= config.min_samples
            && now.saturating_sub(self.start) >= config.window.as_nanos();
        if closes {
            self.samples = 0;
        }
        closes
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn the_limit_follows_only_closed_windows_within_bounds_and_admission_is_exact(
        config in config(),
        ops in prop::collection::vec(op(), 1..200),
    ) {
        let limiter: AdaptiveLimiter = AdaptiveLimiter::new(config).unwrap();
        let mut held: Vec<RawPermit> = Vec::new();
        let mut reported: Vec<RawPermit> = Vec::new();
        let mut window = WindowModel::default();
        let mut windows = 0u64;
        for op in ops {
            let before = limiter.snapshot();
            let mut change = None;
            match op {
                Op::Acquire(now) => match limiter.try_acquire(Nanos::new(now)) {
                    Ok(permit) => {
                        // The hard bound, exactly: admitted only below the limit.
                        prop_assert!(before.in_flight < before.limit);
                        prop_assert_eq!(permit.in_flight(), before.in_flight + 1);
                        prop_assert!(permit.in_flight() <= before.limit);
                        held.push(permit.into_raw());
                    }
                    Err(refused) => {
                        prop_assert_eq!(refused.reason, Reason::BulkheadFull);
                        prop_assert!(before.in_flight >= before.limit);
                    }
                },
                Op::Record(index, outcome, now) if !held.is_empty() => {
                    let mut raw = held.swap_remove(index % held.len());
                    change = limiter.record_raw(&mut raw, outcome, Nanos::new(now));
                    reported.push(raw);
                    if outcome != Outcome::Ignored && window.fold(now, &config) {
                        windows += 1;
                    }
                }
                Op::Release(index) if !held.is_empty() => {
                    let mut raw = held.swap_remove(index % held.len());
                    prop_assert!(limiter.release(&mut raw));
                    reported.push(raw);
                }
                Op::Stale(index) if !reported.is_empty() => {
                    let i = index % reported.len();
                    prop_assert_eq!(
                        limiter.record_raw(&mut reported[i], Outcome::Dropped, Nanos::ZERO),
                        None
                    );
                    prop_assert!(!limiter.release(&mut reported[i]));
                }
                _ => {}
            }
            let after = limiter.snapshot();
            prop_assert!((config.min_limit..=config.max_limit).contains(&after.limit));
            prop_assert_eq!(after.windows, windows, "windows closed");
            prop_assert_eq!(after.in_flight as usize, held.len());
            if after.windows == before.windows {
                prop_assert_eq!(after.limit, before.limit, "moved without a closed window");
            }
            let moved = (after.limit != before.limit)
                .then_some(LimitChange { from: before.limit, to: after.limit });
            prop_assert_eq!(change, moved);
        }
    }
}
