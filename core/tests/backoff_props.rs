//! Backoff properties: the pure and stateful forms against a plain model of DESIGN.md's
//! formulas, the caps as hard limits, and no panic on any input.

use proptest::prelude::*;
use stanchion::rng::{draw, uniform};
use stanchion::{Backoff, BackoffConfig, Exhausted, Jitter, Nanos, Schedule};

// ---- a plain model, written from the formulas rather than from the code ----

const ONE: u128 = 1 << 32;

/// The capped, un-jittered wait before retry `n`, following each schedule's definition.
fn model_raw(config: &BackoffConfig, n: u32, seed: u64) -> u128 {
    let cap = u128::from(config.max_delay.unwrap_or(Nanos::MAX).as_nanos());
    let n128 = u128::from(n);
    match config.schedule {
        Schedule::Constant { delay } => u128::from(delay.as_nanos()).min(cap),
        Schedule::Linear { initial, step } => {
            (u128::from(initial.as_nanos()) + u128::from(step.as_nanos()) * n128).min(cap)
        }
        Schedule::Exponential { initial, factor } => {
            // The documented fixed point: factor rounded to Q32.32, the wait kept in Q.32
            // nanoseconds, each step floored and capped.
            let factor = (factor * ONE as f64).round() as u128;
            let mut wait = u128::from(initial.as_nanos()).min(cap) * ONE;
            for _ in 0..n {
                // A product past u128 is far past any cap: saturate.
                wait = wait
                    .checked_mul(factor)
                    .map_or(cap * ONE, |product| (product / ONE).min(cap * ONE));
            }
            wait / ONE
        }
        Schedule::Decorrelated { base } => {
            let base = u128::from(base.as_nanos());
            let mut prev = base;
            for i in 0..=n {
                let high = (prev * 3).min(u128::from(u64::MAX));
                let drawn = u128::from(uniform(draw(seed, u64::from(i)), base as u64, high as u64));
                prev = drawn.min(cap);
            }
            prev
        }
    }
}

/// The model's wait before retry `n`, or `None` past `max_attempts`.
fn model_delay(config: &BackoffConfig, n: u32, seed: u64) -> Option<u64> {
    let retries = config
        .max_attempts
        .map_or(u64::from(u32::MAX), |m| u64::from(m) - 1);
    if u64::from(n) >= retries {
        return None;
    }
    let cap = u128::from(config.max_delay.unwrap_or(Nanos::MAX).as_nanos());
    let d = model_raw(config, n, seed);
    let bits = draw(seed, u64::from(n));
    let wait = match config.jitter {
        Jitter::None => d,
        Jitter::Full => u128::from(uniform(bits, 0, d as u64)),
        Jitter::Equal => {
            let half = d / 2;
            (d - half) + u128::from(uniform(bits, 0, half as u64))
        }
        Jitter::Proportional(p) => {
            let share = (p * ONE as f64).round() as u128;
            let spread = d * share / ONE;
            let high = (d + spread).min(cap);
            u128::from(uniform(bits, (d - spread) as u64, high as u64))
        }
    };
    Some(wait as u64)
}

// ---- strategies ----

fn nanos() -> impl Strategy<Value = Nanos> {
    prop_oneof![
        0..1_000u64,
        0..10_000_000_000u64,
        any::<u64>(),
        Just(u64::MAX),
    ]
    .prop_map(Nanos::new)
}

fn factor() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(1.0),
        Just(2.0),
        Just(1024.0),
        1.0f64..1.01,
        1.0f64..=1024.0,
    ]
}

fn schedule() -> impl Strategy<Value = Schedule> {
    prop_oneof![
        nanos().prop_map(|delay| Schedule::Constant { delay }),
        (nanos(), nanos()).prop_map(|(initial, step)| Schedule::Linear { initial, step }),
        (nanos(), factor()).prop_map(|(initial, factor)| Schedule::Exponential { initial, factor }),
        nanos().prop_map(|base| Schedule::Decorrelated { base }),
    ]
}

fn jitter() -> impl Strategy<Value = Jitter> {
    prop_oneof![
        Just(Jitter::None),
        Just(Jitter::Full),
        Just(Jitter::Equal),
        prop_oneof![Just(0.0), Just(1.0), 0.0f64..=1.0].prop_map(Jitter::Proportional),
    ]
}

/// Valid configs.
fn config() -> impl Strategy<Value = BackoffConfig> {
    (
        schedule(),
        jitter(),
        proptest::option::of(nanos()),
        proptest::option::of(1u32..40),
        proptest::option::of(nanos()),
    )
        .prop_map(|(schedule, jitter, max_delay, max_attempts, max_elapsed)| {
            let jitter = match schedule {
                Schedule::Decorrelated { .. } => Jitter::None,
                _ => jitter,
            };
            BackoffConfig {
                schedule,
                jitter,
                max_delay,
                max_attempts,
                max_elapsed,
            }
        })
}

/// Any config at all, valid or not.
fn any_config() -> impl Strategy<Value = BackoffConfig> {
    let schedule = prop_oneof![
        schedule(),
        (nanos(), any::<f64>())
            .prop_map(|(initial, factor)| Schedule::Exponential { initial, factor }),
    ];
    let jitter = prop_oneof![jitter(), any::<f64>().prop_map(Jitter::Proportional)];
    (
        schedule,
        jitter,
        proptest::option::of(nanos()),
        proptest::option::of(any::<u32>()),
        proptest::option::of(nanos()),
    )
        .prop_map(
            |(schedule, jitter, max_delay, max_attempts, max_elapsed)| BackoffConfig {
                schedule,
                jitter,
                max_delay,
                max_attempts,
                max_elapsed,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn pure_delay_matches_the_model(config in config(), seed in any::<u64>(), n in 0u32..64) {
        let b = Backoff::new(config).unwrap();
        prop_assert_eq!(b.delay(n, seed).map(Nanos::as_nanos), model_delay(&config, n, seed));
    }

    #[test]
    fn retrying_gives_the_pure_waits(config in config(), seed in any::<u64>(), start in nanos()) {
        // `max_elapsed` needs a clock, which the pure form has not: leave it out here.
        let b = Backoff::new(BackoffConfig { max_elapsed: None, ..config }).unwrap();
        let mut r = b.start(seed, start);
        for n in 0..48 {
            let step = r.next_delay(&b, start, None).ok();
            prop_assert_eq!(step, b.delay(n, seed));
        }
    }

    #[test]
    fn retrying_gives_the_pure_waits_past_the_replay_limit(
        config in config(),
        seed in any::<u64>(),
        restarts in 1u32..3,
    ) {
        // Where the pure form stops replaying and continues in closed form (exponential) or
        // restarts its chain (decorrelated), the stateful form must follow.
        let b = Backoff::new(BackoffConfig { max_elapsed: None, ..config }.unlimited_attempts()).unwrap();
        let first = restarts * Backoff::REPLAY_LIMIT - 8;
        let mut r = b.start(seed, Nanos::ZERO);
        for _ in 0..first {
            prop_assert!(r.next_delay(&b, Nanos::ZERO, None).is_ok());
        }
        for n in first..first + 24 {
            prop_assert_eq!(r.next_delay(&b, Nanos::ZERO, None).ok(), b.delay(n, seed));
        }
    }

    #[test]
    fn every_wait_is_at_most_max_delay(config in config(), seed in any::<u64>(), hint in proptest::option::of(nanos())) {
        let b = Backoff::new(config).unwrap();
        let cap = config.max_delay.unwrap_or(Nanos::MAX);
        let mut r = b.start(seed, Nanos::ZERO);
        for _ in 0..48 {
            match r.next_delay(&b, Nanos::ZERO, hint) {
                Ok(wait) => {
                    prop_assert!(wait <= cap);
                    if let Some(hint) = hint {
                        prop_assert!(wait >= hint.min(cap));
                    }
                }
                Err(_) => break,
            }
        }
    }

    #[test]
    fn jittered_waits_stay_in_their_documented_range(config in config(), seed in any::<u64>(), n in 0u32..40) {
        let b = Backoff::new(config.unlimited_attempts()).unwrap();
        let d = model_raw(&config, n, seed) as u64;
        let cap = config.max_delay.unwrap_or(Nanos::MAX).as_nanos();
        let wait = b.delay(n, seed).unwrap().as_nanos();
        match config.jitter {
            Jitter::None => prop_assert_eq!(wait, d),
            Jitter::Full => prop_assert!(wait <= d),
            Jitter::Equal => prop_assert!(wait >= d - d / 2 && wait <= d),
            Jitter::Proportional(p) => {
                let spread = (d as f64 * p) as u64;
                // Allow for the rounding of p to 32 fraction bits.
                let slack = d / (1 << 30) + 1;
                prop_assert!(wait <= cap);
                let (wait, spread, slack, d) = (u128::from(wait), u128::from(spread), u128::from(slack), u128::from(d));
                prop_assert!(wait + spread + slack >= d);
                prop_assert!(wait <= d + spread + slack);
            }
        }
    }

    #[test]
    fn dyadic_factors_grow_exactly(
        initial in 0u64..1_000_000,
        (numerator, shift) in prop_oneof![Just((3u128, 1u32)), Just((5, 2)), Just((7, 2)), Just((2, 0)), Just((3, 0))],
        n in 0u32..16,
    ) {
        // factor = numerator / 2^shift: exact in Q32.32, and 16 steps need at most 32
        // fraction bits, so the wait is exactly ⌊initial · factorⁿ⌋.
        let factor = numerator as f64 / f64::from(1u32 << shift);
        let b = Backoff::new(BackoffConfig::exponential(Nanos::new(initial), factor).unlimited_attempts()).unwrap();
        let exact = (u128::from(initial) * numerator.pow(n)) >> (shift * n);
        let expected = u64::try_from(exact).unwrap_or(u64::MAX);
        prop_assert_eq!(b.delay(n, 0), Some(Nanos::new(expected)));
    }

    #[test]
    fn exponential_waits_never_shrink(initial in nanos(), factor in factor(), cap in proptest::option::of(nanos())) {
        let mut config = BackoffConfig::exponential(initial, factor).unlimited_attempts();
        config.max_delay = cap;
        let b = Backoff::new(config).unwrap();
        let waits: Vec<Nanos> = b.iter(0).take(80).collect();
        prop_assert!(waits.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn max_attempts_bounds_the_number_of_waits(config in config(), seed in any::<u64>()) {
        let b = Backoff::new(BackoffConfig { max_elapsed: None, ..config }).unwrap();
        let count = b.iter(seed).take(100).count();
        match config.max_attempts {
            Some(m) => prop_assert_eq!(count as u32, m - 1),
            None => prop_assert_eq!(count, 100),
        }
    }

    #[test]
    fn no_wait_ends_past_max_elapsed(
        config in config(),
        seed in any::<u64>(),
        start in 0u64..1 << 62,
        calls in proptest::collection::vec(0u64..5_000_000_000, 1..40),
    ) {
        let b = Backoff::new(config).unwrap();
        let start = Nanos::new(start);
        let mut r = b.start(seed, start);
        let mut now = start;
        for call in calls {
            now = now + Nanos::new(call);
            match r.next_delay(&b, now, None) {
                Ok(wait) => {
                    if let Some(max_elapsed) = config.max_elapsed {
                        prop_assert!((now + wait) - start <= max_elapsed);
                    }
                    now = now + wait;
                }
                Err(stop) => {
                    // Stopping is final, and says why.
                    prop_assert_eq!(r.next_delay(&b, now, None), Err(stop));
                    if stop == Exhausted::MaxElapsed {
                        prop_assert!(config.max_elapsed.is_some());
                    }
                    break;
                }
            }
        }
    }

    #[test]
    fn any_config_and_any_inputs_never_panic(
        config in any_config(),
        seed in any::<u64>(),
        attempt in prop_oneof![0u32..2_000, Just(u32::MAX - 1), Just(u32::MAX)],
        steps in proptest::collection::vec((any::<u64>(), proptest::option::of(any::<u64>())), 0..30),
    ) {
        let Ok(b) = Backoff::new(config) else {
            prop_assert!(config.validate().is_err());
            return Ok(());
        };
        // Any attempt: the pure form replays at most `Backoff::REPLAY_LIMIT` steps.
        let _ = b.delay(attempt, seed);
        let mut r = b.start(seed, Nanos::new(seed));
        for (now, hint) in steps {
            let _ = r.next_delay(&b, Nanos::new(now), hint.map(Nanos::new));
        }
        let _ = b.iter(seed).take(50).count();
    }
}
