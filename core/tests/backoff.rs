//! Backoff behaviour: schedules, jitter, caps, hints, the stateful form, and config errors.

use stanchion::rng::{draw, uniform};
use stanchion::{
    Backoff, BackoffConfig, ConfigError, Exhausted, Jitter, Nanos, Retrying, Schedule,
};

fn ms(n: u64) -> Nanos {
    Nanos::from_millis(n)
}

fn backoff(config: BackoffConfig) -> Backoff {
    Backoff::new(config).unwrap()
}

/// The first `n` pure waits for `seed`.
fn waits(b: &Backoff, seed: u64, n: u32) -> Vec<Option<Nanos>> {
    (0..n).map(|attempt| b.delay(attempt, seed)).collect()
}

// ---- schedules ----

#[test]
fn constant_waits_the_same_before_every_retry() {
    let b = backoff(BackoffConfig::constant(ms(50)).max_attempts(4));
    assert_eq!(
        waits(&b, 1, 4),
        [Some(ms(50)), Some(ms(50)), Some(ms(50)), None]
    );
}

#[test]
fn linear_adds_one_step_per_retry() {
    let b = backoff(BackoffConfig::linear(ms(100), ms(25)).unlimited_attempts());
    assert_eq!(
        waits(&b, 1, 4),
        [Some(ms(100)), Some(ms(125)), Some(ms(150)), Some(ms(175))]
    );
}

#[test]
fn linear_saturates_instead_of_overflowing() {
    let b = backoff(BackoffConfig::linear(Nanos::MAX, Nanos::MAX).unlimited_attempts());
    assert_eq!(b.delay(u32::MAX - 1, 0), Some(Nanos::MAX));
    let b = backoff(BackoffConfig::linear(ms(1), Nanos::new(u64::MAX / 2)).unlimited_attempts());
    assert_eq!(b.delay(3, 0), Some(Nanos::MAX));
}

#[test]
fn exponential_multiplies_by_the_factor_each_retry() {
    let b = backoff(BackoffConfig::exponential(ms(100), 2.0).unlimited_attempts());
    assert_eq!(
        waits(&b, 9, 4),
        [Some(ms(100)), Some(ms(200)), Some(ms(400)), Some(ms(800))]
    );
}

#[test]
fn exponential_with_a_fractional_factor_is_exact() {
    let b = backoff(BackoffConfig::exponential(ms(100), 1.5).unlimited_attempts());
    assert_eq!(
        waits(&b, 0, 4),
        [
            Some(ms(100)),
            Some(ms(150)),
            Some(ms(225)),
            Some(Nanos::new(337_500_000))
        ]
    );
}

#[test]
fn exponential_keeps_fractions_so_tiny_waits_still_grow() {
    // 1 ns · 1.5ⁿ = 1, 1.5, 2.25, 3.375, 5.06, 7.59, 11.39: whole nanoseconds of the exact value.
    let b = backoff(BackoffConfig::exponential(Nanos::new(1), 1.5).unlimited_attempts());
    let got: Vec<u64> = (0..7).map(|n| b.delay(n, 0).unwrap().as_nanos()).collect();
    assert_eq!(got, [1, 1, 2, 3, 5, 7, 11]);
}

#[test]
fn exponential_factor_from_f32_converts_exactly() {
    let factor: f32 = 1.5;
    let b = backoff(BackoffConfig::exponential(ms(10), f64::from(factor)).max_attempts(3));
    assert_eq!(b.delay(1, 0), Some(ms(15)));
}

#[test]
fn exponential_with_factor_one_is_constant() {
    let b = backoff(BackoffConfig::exponential(ms(30), 1.0).unlimited_attempts());
    assert_eq!(b.delay(0, 0), Some(ms(30)));
    assert_eq!(b.delay(u32::MAX - 1, 0), Some(ms(30)));
}

#[test]
fn exponential_saturates_at_max_delay() {
    let b = backoff(
        BackoffConfig::exponential(ms(100), 2.0)
            .max_delay(ms(300))
            .unlimited_attempts(),
    );
    assert_eq!(
        waits(&b, 0, 4),
        [Some(ms(100)), Some(ms(200)), Some(ms(300)), Some(ms(300))]
    );
}

#[test]
fn exponential_without_a_cap_saturates_at_nanos_max() {
    let b = backoff(BackoffConfig::exponential(Nanos::MAX, 1024.0).unlimited_attempts());
    assert_eq!(b.delay(0, 0), Some(Nanos::MAX));
    assert_eq!(b.delay(5, 0), Some(Nanos::MAX));
    let b = backoff(BackoffConfig::exponential(Nanos::new(1), 2.0).unlimited_attempts());
    assert_eq!(b.delay(63, 0), Some(Nanos::new(1 << 63)));
    assert_eq!(b.delay(64, 0), Some(Nanos::MAX));
    assert_eq!(b.delay(u32::MAX - 1, 0), Some(Nanos::MAX));
}

#[test]
fn exponential_initial_above_max_delay_is_capped() {
    let b = backoff(BackoffConfig::exponential(ms(900), 3.0).max_delay(ms(500)));
    assert_eq!(waits(&b, 0, 2), [Some(ms(500)), Some(ms(500))]);
}

#[test]
fn max_delay_caps_every_schedule() {
    let cap = ms(70);
    for config in [
        BackoffConfig::constant(ms(100)),
        BackoffConfig::linear(ms(10), ms(100)),
        BackoffConfig::exponential(ms(50), 4.0),
        BackoffConfig::decorrelated(ms(60)),
    ] {
        let b = backoff(config.max_delay(cap).max_attempts(20));
        for seed in 0..20 {
            for attempt in 0..19 {
                assert!(b.delay(attempt, seed).unwrap() <= cap, "{config:?}");
            }
        }
    }
}

#[test]
fn zero_delays_are_allowed() {
    for config in [
        BackoffConfig::constant(Nanos::ZERO),
        BackoffConfig::linear(Nanos::ZERO, Nanos::ZERO),
        BackoffConfig::exponential(Nanos::ZERO, 2.0),
        BackoffConfig::decorrelated(Nanos::ZERO),
        BackoffConfig::constant(ms(5)).max_delay(Nanos::ZERO),
    ] {
        let b = backoff(config);
        assert_eq!(b.delay(0, 3), Some(Nanos::ZERO), "{config:?}");
        assert_eq!(b.delay(1, 3), Some(Nanos::ZERO), "{config:?}");
    }
}

#[test]
fn decorrelated_follows_the_aws_formula() {
    let (base, cap) = (10_000_000u64, 1_000_000_000u64);
    let b = backoff(
        BackoffConfig::decorrelated(Nanos::new(base))
            .max_delay(Nanos::new(cap))
            .unlimited_attempts(),
    );
    let seed = 0xdead_beef;
    let mut prev = base;
    for attempt in 0..50u32 {
        let expected = uniform(draw(seed, u64::from(attempt)), base, prev * 3).min(cap);
        assert_eq!(b.delay(attempt, seed), Some(Nanos::new(expected)));
        prev = expected;
    }
}

#[test]
fn decorrelated_stays_between_base_and_cap() {
    let b = backoff(
        BackoffConfig::decorrelated(ms(10))
            .max_delay(ms(200))
            .max_attempts(30),
    );
    for seed in 0..50 {
        for wait in b.iter(seed) {
            assert!(wait >= ms(10) && wait <= ms(200));
        }
    }
}

#[test]
fn decorrelated_with_cap_below_base_waits_the_cap() {
    let b = backoff(BackoffConfig::decorrelated(ms(100)).max_delay(ms(40)));
    assert_eq!(waits(&b, 5, 2), [Some(ms(40)), Some(ms(40))]);
}

// ---- jitter ----

#[test]
fn full_jitter_is_uniform_between_zero_and_the_capped_wait() {
    let b = backoff(
        BackoffConfig::exponential(ms(100), 2.0)
            .jitter(Jitter::Full)
            .max_delay(ms(300))
            .unlimited_attempts(),
    );
    for seed in 0..200 {
        for (attempt, ceiling) in [(0, 100), (1, 200), (2, 300), (3, 300)] {
            let wait = b.delay(attempt, seed).unwrap();
            assert!(wait <= ms(ceiling));
            let expected = uniform(draw(seed, u64::from(attempt)), 0, ms(ceiling).as_nanos());
            assert_eq!(wait.as_nanos(), expected);
        }
    }
}

#[test]
fn full_jitter_spreads_over_the_whole_range() {
    let b = backoff(BackoffConfig::constant(ms(100)).jitter(Jitter::Full));
    let draws: Vec<u64> = (0..1000)
        .map(|seed| b.delay(0, seed).unwrap().as_nanos())
        .collect();
    let mean = draws.iter().sum::<u64>() / 1000;
    assert!((45_000_000..55_000_000).contains(&mean), "mean {mean}");
    assert!(draws.iter().any(|&d| d < 10_000_000));
    assert!(draws.iter().any(|&d| d > 90_000_000));
}

#[test]
fn equal_jitter_keeps_at_least_half() {
    for d in [0u64, 1, 2, 3, 99, 100_000_001] {
        let b = backoff(BackoffConfig::constant(Nanos::new(d)).jitter(Jitter::Equal));
        for seed in 0..200 {
            let wait = b.delay(0, seed).unwrap().as_nanos();
            assert!(wait >= d - d / 2 && wait <= d, "d={d} wait={wait}");
            let expected = (d - d / 2) + uniform(draw(seed, 0), 0, d / 2);
            assert_eq!(wait, expected);
        }
    }
}

#[test]
fn proportional_jitter_stays_within_p_of_the_wait() {
    let b = backoff(BackoffConfig::constant(ms(100)).jitter(Jitter::Proportional(0.2)));
    let draws: Vec<Nanos> = (0..500).map(|seed| b.delay(0, seed).unwrap()).collect();
    assert!(draws.iter().all(|&w| w >= ms(80) && w <= ms(120)));
    assert!(draws.iter().any(|&w| w < ms(85)));
    assert!(draws.iter().any(|&w| w > ms(115)));
}

#[test]
fn proportional_jitter_never_goes_above_max_delay_or_below_zero() {
    let b = backoff(
        BackoffConfig::constant(ms(100))
            .jitter(Jitter::Proportional(1.0))
            .max_delay(ms(110)),
    );
    for seed in 0..500 {
        let wait = b.delay(0, seed).unwrap();
        assert!(wait <= ms(110));
    }
    let b = backoff(BackoffConfig::constant(Nanos::MAX).jitter(Jitter::Proportional(1.0)));
    for seed in 0..50 {
        assert!(b.delay(0, seed).is_some());
    }
}

#[test]
fn proportional_zero_is_no_jitter() {
    let b = backoff(BackoffConfig::constant(ms(100)).jitter(Jitter::Proportional(0.0)));
    assert!((0..100).all(|seed| b.delay(0, seed) == Some(ms(100))));
}

#[test]
fn the_same_seed_gives_the_same_waits_and_others_differ() {
    let b = backoff(
        BackoffConfig::exponential(ms(100), 2.0)
            .jitter(Jitter::Full)
            .max_attempts(8),
    );
    assert_eq!(waits(&b, 42, 8), waits(&b, 42, 8));
    assert_ne!(waits(&b, 42, 8), waits(&b, 43, 8));
}

#[test]
fn jitter_draws_are_pinned_to_splitmix64() {
    // Conformance: these numbers must be the same in every language.
    let b = backoff(BackoffConfig::constant(Nanos::new(1_000_000_000)).jitter(Jitter::Full));
    assert_eq!(draw(0, 0), 0xE220_A839_7B1D_CDAF);
    assert_eq!(
        b.delay(0, 0),
        Some(Nanos::new(uniform(0xE220_A839_7B1D_CDAF, 0, 1_000_000_000)))
    );
    assert_eq!(b.delay(0, 0), Some(Nanos::new(883_310_809)));
}

// ---- max_attempts ----

#[test]
fn max_attempts_counts_the_first_call() {
    let b = backoff(BackoffConfig::constant(ms(1)).max_attempts(3));
    assert_eq!(waits(&b, 0, 4), [Some(ms(1)), Some(ms(1)), None, None]);
}

#[test]
fn max_attempts_one_allows_no_retry() {
    let b = backoff(BackoffConfig::constant(ms(1)).max_attempts(1));
    assert_eq!(b.delay(0, 0), None);
    let mut r = b.start(0, Nanos::ZERO);
    assert_eq!(
        r.next_delay(&b, Nanos::ZERO, None),
        Err(Exhausted::MaxAttempts)
    );
}

#[test]
fn default_config_allows_three_calls() {
    let b = backoff(BackoffConfig::constant(ms(1)));
    assert_eq!(b.iter(0).count(), 2);
}

#[test]
fn unlimited_attempts_never_stop_on_count() {
    let b = backoff(BackoffConfig::exponential(ms(1), 2.0).unlimited_attempts());
    assert_eq!(b.iter(0).take(10_000).count(), 10_000);
    assert!(b.delay(u32::MAX - 1, 0).is_some());
}

// ---- the stateful form ----

#[test]
fn retrying_gives_the_pure_waits_for_every_schedule_and_jitter() {
    let schedules = [
        BackoffConfig::constant(ms(7)),
        BackoffConfig::linear(ms(3), ms(11)),
        BackoffConfig::exponential(Nanos::new(3), 1.7),
        BackoffConfig::exponential(ms(10), 3.0),
        BackoffConfig::decorrelated(ms(5)),
    ];
    let jitters = [
        Jitter::None,
        Jitter::Full,
        Jitter::Equal,
        Jitter::Proportional(0.3),
    ];
    for config in schedules {
        for jitter in jitters {
            if matches!(config.schedule, Schedule::Decorrelated { .. }) && jitter != Jitter::None {
                continue;
            }
            let b = backoff(config.jitter(jitter).max_delay(ms(900)).max_attempts(40));
            for seed in [0, 1, u64::MAX, 0x1234_5678] {
                let mut r = b.start(seed, Nanos::ZERO);
                for attempt in 0..40 {
                    let step = r.next_delay(&b, Nanos::ZERO, None).ok();
                    assert_eq!(step, b.delay(attempt, seed), "{config:?} {jitter:?}");
                }
            }
        }
    }
}

#[test]
fn a_hint_raises_the_wait_to_at_least_the_hint() {
    let b = backoff(BackoffConfig::constant(ms(100)).max_delay(ms(5_000)));
    let mut r = b.start(0, Nanos::ZERO);
    assert_eq!(
        r.next_delay(&b, Nanos::ZERO, Some(ms(2_000))),
        Ok(ms(2_000))
    );
}

#[test]
fn a_hint_shorter_than_the_wait_changes_nothing() {
    let b = backoff(BackoffConfig::constant(ms(100)));
    let mut r = b.start(0, Nanos::ZERO);
    assert_eq!(r.next_delay(&b, Nanos::ZERO, Some(ms(10))), Ok(ms(100)));
}

#[test]
fn a_hint_is_honoured_only_up_to_max_delay() {
    let b = backoff(BackoffConfig::constant(ms(100)).max_delay(ms(500)));
    let mut r = b.start(0, Nanos::ZERO);
    assert_eq!(r.next_delay(&b, Nanos::ZERO, Some(Nanos::MAX)), Ok(ms(500)));
}

#[test]
fn a_hint_does_not_change_later_waits() {
    let b = backoff(BackoffConfig::exponential(ms(100), 2.0).max_attempts(5));
    let mut r = b.start(0, Nanos::ZERO);
    assert_eq!(
        r.next_delay(&b, Nanos::ZERO, Some(ms(1_000))),
        Ok(ms(1_000))
    );
    assert_eq!(r.next_delay(&b, Nanos::ZERO, None), Ok(ms(200)));
}

#[test]
fn max_elapsed_stops_rather_than_clips() {
    let b = backoff(
        BackoffConfig::constant(ms(400))
            .max_elapsed(ms(1_000))
            .unlimited_attempts(),
    );
    let mut r = b.start(0, Nanos::ZERO);
    assert_eq!(r.next_delay(&b, ms(100), None), Ok(ms(400))); // ends at 500
    assert_eq!(r.next_delay(&b, ms(550), None), Ok(ms(400))); // ends at 950
    assert_eq!(r.next_delay(&b, ms(950), None), Err(Exhausted::MaxElapsed)); // 1350
}

#[test]
fn max_elapsed_allows_a_wait_ending_exactly_at_the_limit() {
    let b = backoff(BackoffConfig::constant(ms(400)).max_elapsed(ms(1_000)));
    let mut r = b.start(0, ms(10));
    assert_eq!(r.next_delay(&b, ms(610), None), Ok(ms(400)));
    let mut r = b.start(0, ms(10));
    assert_eq!(
        r.next_delay(&b, ms(610) + Nanos::new(1), None),
        Err(Exhausted::MaxElapsed)
    );
}

#[test]
fn max_elapsed_counts_a_hint() {
    let b = backoff(BackoffConfig::constant(ms(10)).max_elapsed(ms(1_000)));
    let mut r = b.start(0, Nanos::ZERO);
    assert_eq!(
        r.next_delay(&b, Nanos::ZERO, Some(ms(1_500))),
        Err(Exhausted::MaxElapsed)
    );
}

#[test]
fn max_elapsed_zero_allows_only_zero_waits_at_the_start() {
    let b = backoff(BackoffConfig::constant(Nanos::ZERO).max_elapsed(Nanos::ZERO));
    let mut r = b.start(0, ms(5));
    assert_eq!(r.next_delay(&b, ms(5), None), Ok(Nanos::ZERO));
    assert_eq!(r.next_delay(&b, ms(6), None), Err(Exhausted::MaxElapsed));
}

#[test]
fn a_stopped_backoff_stays_stopped() {
    let b = backoff(
        BackoffConfig::constant(ms(400))
            .max_elapsed(ms(1_000))
            .unlimited_attempts(),
    );
    let mut r = b.start(0, Nanos::ZERO);
    assert_eq!(r.next_delay(&b, ms(900), None), Err(Exhausted::MaxElapsed));
    // Even a clock that ran backwards does not revive it.
    assert_eq!(
        r.next_delay(&b, Nanos::ZERO, None),
        Err(Exhausted::MaxElapsed)
    );
    assert_eq!(r.stopped(), Some(Exhausted::MaxElapsed));
    assert_eq!(r.retries(), 0);
}

#[test]
fn time_before_the_start_counts_as_no_time_passed() {
    let b = backoff(BackoffConfig::constant(ms(400)).max_elapsed(ms(1_000)));
    let mut r = b.start(0, ms(5_000));
    assert_eq!(r.next_delay(&b, ms(1), None), Ok(ms(400)));
    assert_eq!(r.started(), ms(5_000));
}

#[test]
fn times_near_the_end_of_time_do_not_wrap() {
    let b = backoff(
        BackoffConfig::constant(ms(400))
            .max_elapsed(ms(1_000))
            .unlimited_attempts(),
    );
    let start = Nanos::new(u64::MAX - 100);
    let mut r = b.start(0, start);
    assert_eq!(r.next_delay(&b, Nanos::MAX, None), Ok(ms(400)));
    let b = backoff(BackoffConfig::constant(Nanos::MAX).max_elapsed(Nanos::MAX));
    let mut r = b.start(0, Nanos::MAX);
    assert_eq!(r.next_delay(&b, Nanos::MAX, None), Ok(Nanos::MAX));
    let mut r = b.start(0, Nanos::ZERO);
    assert_eq!(
        r.next_delay(&b, Nanos::new(1), None),
        Err(Exhausted::MaxElapsed)
    );
}

#[test]
fn now_zero_works() {
    let b = backoff(BackoffConfig::exponential(ms(1), 2.0).max_elapsed(ms(10)));
    let mut r = b.start(0, Nanos::ZERO);
    assert_eq!(r.next_delay(&b, Nanos::ZERO, None), Ok(ms(1)));
}

#[test]
fn iter_assumes_attempts_take_no_time() {
    let b = backoff(
        BackoffConfig::linear(ms(100), ms(100))
            .max_elapsed(ms(1_000))
            .unlimited_attempts(),
    );
    // 100 + 200 + 300 + 400 = 1000: the fifth (500) would end at 1500.
    assert_eq!(
        b.iter(0).collect::<Vec<_>>(),
        [ms(100), ms(200), ms(300), ms(400)]
    );
}

#[test]
fn retrying_counts_retries() {
    let b = backoff(BackoffConfig::constant(ms(1)).max_attempts(3));
    let mut r: Retrying = b.start(0, Nanos::ZERO);
    let _ = r.next_delay(&b, Nanos::ZERO, None);
    let _ = r.next_delay(&b, Nanos::ZERO, None);
    assert_eq!(r.retries(), 2);
    assert_eq!(
        r.next_delay(&b, Nanos::ZERO, None),
        Err(Exhausted::MaxAttempts)
    );
    assert_eq!(r.retries(), 2);
}

// ---- construction and config errors ----

static STATIC_BACKOFF: Backoff = match Backoff::new(
    BackoffConfig::exponential(Nanos::from_millis(10), 2.0)
        .jitter(Jitter::Equal)
        .max_delay(Nanos::from_secs(1)),
) {
    Ok(b) => b,
    Err(_) => panic!("invalid backoff"),
};

#[test]
fn a_backoff_can_be_a_static() {
    assert!(STATIC_BACKOFF.delay(0, 0).unwrap() <= ms(10));
    assert_eq!(STATIC_BACKOFF.config().max_delay, Some(Nanos::from_secs(1)));
}

#[test]
fn sizes_are_as_documented() {
    assert_eq!(core::mem::size_of::<Backoff>(), 136);
    assert_eq!(core::mem::size_of::<Retrying>(), 40);
}

#[test]
fn factor_must_be_finite_and_between_one_and_1024() {
    let err = Err(ConfigError::new("schedule.factor", "[1, 1024]"));
    for factor in [
        0.0,
        0.999_999,
        -2.0,
        1_024.000_001,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
    ] {
        let config = BackoffConfig::exponential(ms(1), factor);
        assert_eq!(config.validate(), err, "{factor}");
        assert_eq!(Backoff::new(config).err(), err.err(), "{factor}");
    }
    for factor in [1.0, 1.000_001, 2.0, 1024.0] {
        assert!(Backoff::new(BackoffConfig::exponential(ms(1), factor)).is_ok());
    }
}

#[test]
fn proportional_jitter_must_be_between_zero_and_one() {
    let err = Err(ConfigError::new("jitter.proportional", "[0, 1]"));
    for p in [-0.01, 1.01, f64::NAN, f64::INFINITY] {
        let config = BackoffConfig::constant(ms(1)).jitter(Jitter::Proportional(p));
        assert_eq!(config.validate(), err, "{p}");
    }
    for p in [0.0, 0.5, 1.0] {
        let config = BackoffConfig::constant(ms(1)).jitter(Jitter::Proportional(p));
        assert_eq!(config.validate(), Ok(()));
    }
}

#[test]
fn decorrelated_takes_no_extra_jitter() {
    for jitter in [Jitter::Full, Jitter::Equal, Jitter::Proportional(0.5)] {
        let config = BackoffConfig::decorrelated(ms(1)).jitter(jitter);
        assert_eq!(config.validate().unwrap_err().field, "jitter");
    }
    assert!(BackoffConfig::decorrelated(ms(1)).validate().is_ok());
}

#[test]
fn max_attempts_must_be_at_least_one() {
    let config = BackoffConfig::constant(ms(1)).max_attempts(0);
    assert_eq!(config.validate().unwrap_err().field, "max_attempts");
    assert!(BackoffConfig::constant(ms(1))
        .max_attempts(1)
        .validate()
        .is_ok());
    assert!(BackoffConfig::constant(ms(1))
        .max_attempts(u32::MAX)
        .validate()
        .is_ok());
}

#[test]
fn config_errors_say_the_allowed_range() {
    let e = BackoffConfig::exponential(ms(1), 0.5)
        .validate()
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid `schedule.factor`: must be in [1, 1024]"
    );
}
