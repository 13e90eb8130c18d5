//! Backoff: the exact waits of every schedule and jitter for fixed seeds, computed on the host,
//! so every target is shown to agree bit for bit (the `f64` factors and proportions become fixed
//! point at run time here, in soft float on most of these cores; the steps are `u128`).

use core::hint::black_box;

use stanchion::{Backoff, BackoffConfig, Exhausted, Jitter, Nanos};

/// Built by the `const fn` constructor, as firmware keeps one per policy.
static RECONNECT: Backoff = match Backoff::new(
    BackoffConfig::exponential(Nanos::from_millis(100), 2.0)
        .jitter(Jitter::Full)
        .max_delay(Nanos::from_secs(10))
        .max_attempts(9),
) {
    Ok(backoff) => backoff,
    Err(_) => panic!("invalid backoff config"),
};

const SEED: u64 = 42;

/// A backoff built at run time, so its config is converted on the target.
fn backoff(config: BackoffConfig) -> Backoff {
    match Backoff::new(black_box(config)) {
        Ok(backoff) => backoff,
        Err(error) => panic!("invalid config: {error}"),
    }
}

/// Checks the first eight waits for `seed`, from `delay`, from a `Retrying` and from `iter`.
fn assert_waits(backoff: &Backoff, seed: u64, expected: [u64; 8]) {
    let mut retrying = backoff.start(seed, Nanos::ZERO);
    let mut iter = backoff.iter(seed);
    for (attempt, wait) in (0u32..).zip(expected) {
        let wait = Some(Nanos::new(wait));
        assert_eq!(
            backoff.delay(attempt, black_box(seed)),
            wait,
            "delay({attempt})"
        );
        assert_eq!(
            retrying.next_delay(backoff, Nanos::ZERO, None).ok(),
            wait,
            "retry {attempt}"
        );
        assert_eq!(iter.next(), wait, "wait {attempt} of the iterator");
    }
}

tests! {
    fn exponential_with_full_jitter_from_a_static() {
        assert_waits(
            &RECONNECT,
            SEED,
            [
                74_156_488,
                31_982_078,
                111_440_452,
                275_352_573,
                60_848_269,
                2_778_329_845,
                1_397_793_239,
                8_006_318_767,
            ],
        );
        // max_attempts = 9 counts the first call: eight waits, then stop.
        assert_eq!(RECONNECT.delay(8, SEED), None);
        assert_eq!(RECONNECT.iter(SEED).count(), 8);
    }

    fn exponential_factors_are_exact_in_fixed_point() {
        let by_half =
            backoff(BackoffConfig::exponential(Nanos::from_millis(100), 1.5).max_attempts(9));
        assert_waits(
            &by_half,
            0,
            [
                100_000_000,
                150_000_000,
                225_000_000,
                337_500_000,
                506_250_000,
                759_375_000,
                1_139_062_500,
                1_708_593_750,
            ],
        );
        // 1.1 is not exact in binary; rounded to 32 fraction bits it still gives 100 ms x 1.1^n.
        let by_tenth =
            backoff(BackoffConfig::exponential(Nanos::from_millis(100), 1.1).max_attempts(9));
        assert_waits(
            &by_tenth,
            0,
            [
                100_000_000,
                110_000_000,
                121_000_000,
                133_100_000,
                146_410_000,
                161_051_000,
                177_156_100,
                194_871_710,
            ],
        );
        // An f32 factor converts exactly, and its error shows.
        let from_f32 = backoff(
            BackoffConfig::exponential(Nanos::from_millis(100), f64::from(1.1f32)).max_attempts(9),
        );
        assert_waits(
            &from_f32,
            0,
            [
                100_000_000,
                110_000_002,
                121_000_005,
                133_100_008,
                146_410_012,
                161_051_017,
                177_156_123,
                194_871_739,
            ],
        );
        // 32 fraction bits of state: even 1 ns grows.
        assert_waits(
            &backoff(BackoffConfig::exponential(Nanos::new(1), 1.5).max_attempts(9)),
            0,
            [1, 1, 2, 3, 5, 7, 11, 17],
        );
        // Without a cap, doubling from 1 s saturates at the end of time instead of wrapping.
        let uncapped =
            backoff(BackoffConfig::exponential(Nanos::from_secs(1), 2.0).unlimited_attempts());
        assert_eq!(
            uncapped.delay(33, 0),
            Some(Nanos::new(8_589_934_592_000_000_000))
        );
        assert_eq!(
            uncapped.delay(34, 0),
            Some(Nanos::new(17_179_869_184_000_000_000))
        );
        assert_eq!(uncapped.delay(35, 0), Some(Nanos::MAX));
        assert_eq!(uncapped.delay(black_box(1_000), 0), Some(Nanos::MAX));
    }

    fn equal_proportional_and_decorrelated_jitter() {
        let equal = backoff(
            BackoffConfig::exponential(Nanos::from_millis(100), 1.5)
                .jitter(Jitter::Equal)
                .max_attempts(9),
        );
        assert_waits(
            &equal,
            SEED,
            [
                87_078_244,
                86_993_279,
                143_842_627,
                226_832_183,
                262_751_386,
                709_342_848,
                693_919_833,
                1_538_274_186,
            ],
        );
        let proportional = backoff(
            BackoffConfig::linear(Nanos::from_millis(10), Nanos::from_millis(5))
                .jitter(Jitter::Proportional(0.2))
                .max_attempts(9),
        );
        assert_waits(
            &proportional,
            SEED,
            [
                10_966_259, 12_959_463, 18_228_809, 23_441_907, 24_456_362, 40_155_193, 35_494_483,
                50_411_373,
            ],
        );
        let decorrelated = backoff(
            BackoffConfig::decorrelated(Nanos::from_millis(10))
                .max_delay(Nanos::from_secs(1))
                .max_attempts(9),
        );
        assert_waits(
            &decorrelated,
            SEED,
            [
                24_831_298, 20_313_244, 24_191_867, 31_537_941, 13_217_877, 35_746_115, 31_237_359,
                77_022_558,
            ],
        );
    }

    fn a_hint_raises_one_wait_and_leaves_the_schedule_alone() {
        let decorrelated = backoff(
            BackoffConfig::decorrelated(Nanos::from_millis(10))
                .max_delay(Nanos::from_secs(1))
                .max_attempts(9),
        );
        let mut retrying = decorrelated.start(SEED, Nanos::ZERO);
        let hint = Some(Nanos::from_millis(30));
        for _ in 0..3 {
            assert_eq!(
                retrying.next_delay(&decorrelated, Nanos::ZERO, hint),
                Ok(Nanos::from_millis(30))
            );
        }
        assert_eq!(
            retrying.next_delay(&decorrelated, Nanos::ZERO, None),
            Ok(Nanos::new(31_537_941))
        );
        // A hint is honoured only up to max_delay.
        assert_eq!(
            retrying.next_delay(&decorrelated, Nanos::ZERO, Some(Nanos::MAX)),
            Ok(Nanos::from_secs(1))
        );
        assert_eq!(retrying.retries(), 5);
    }

    fn max_attempts_and_max_elapsed_stop_rather_than_clip() {
        let b = backoff(
            BackoffConfig::constant(Nanos::from_secs(1))
                .max_delay(Nanos::from_secs(5))
                .max_elapsed(Nanos::from_secs(8))
                .unlimited_attempts(),
        );
        let mut retrying = b.start(0, Nanos::from_secs(100));
        assert_eq!(
            retrying.next_delay(&b, Nanos::from_secs(100), Some(Nanos::from_secs(30))),
            Ok(Nanos::from_secs(5))
        );
        // A wait ending exactly at the limit is allowed; one past it stops the backoff for good.
        assert_eq!(
            retrying.next_delay(&b, Nanos::from_secs(107), None),
            Ok(Nanos::from_secs(1))
        );
        let late = Nanos::from_millis(107_500);
        assert_eq!(
            retrying.next_delay(&b, late, None),
            Err(Exhausted::MaxElapsed)
        );
        assert_eq!(
            retrying.next_delay(&b, Nanos::from_secs(100), None),
            Err(Exhausted::MaxElapsed)
        );
        assert_eq!(retrying.stopped(), Some(Exhausted::MaxElapsed));
        // A `now` before the start counts as the start.
        let mut early = b.start(0, Nanos::from_secs(100));
        assert_eq!(
            early.next_delay(&b, Nanos::ZERO, None),
            Ok(Nanos::from_secs(1))
        );

        let once =
            backoff(BackoffConfig::linear(Nanos::ZERO, Nanos::from_millis(1)).max_attempts(1));
        let mut retrying = once.start(0, Nanos::MAX);
        assert_eq!(
            retrying.next_delay(&once, Nanos::MAX, None),
            Err(Exhausted::MaxAttempts)
        );
        assert_eq!(once.delay(0, 0), None);
    }

    fn invalid_configs_name_the_field() {
        let field = |config: BackoffConfig| {
            Backoff::new(black_box(config))
                .err()
                .map(|error| error.field)
        };
        assert_eq!(
            field(BackoffConfig::exponential(Nanos::ZERO, 0.5)),
            Some("schedule.factor")
        );
        assert_eq!(
            field(BackoffConfig::exponential(Nanos::ZERO, f64::NAN)),
            Some("schedule.factor")
        );
        assert_eq!(
            field(BackoffConfig::exponential(Nanos::ZERO, 1024.5)),
            Some("schedule.factor")
        );
        assert_eq!(
            field(BackoffConfig::constant(Nanos::ZERO).jitter(Jitter::Proportional(1.5))),
            Some("jitter.proportional")
        );
        assert_eq!(
            field(BackoffConfig::decorrelated(Nanos::ZERO).jitter(Jitter::Full)),
            Some("jitter")
        );
        assert_eq!(
            field(BackoffConfig::constant(Nanos::ZERO).max_attempts(0)),
            Some("max_attempts")
        );
        assert_eq!(field(BackoffConfig::exponential(Nanos::ZERO, 1024.0)), None);
    }
}
