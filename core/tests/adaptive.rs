//! Behaviour of the adaptive limiter on a fake clock: the window rules, the guards, each
//! algorithm's update as the public API shows it, the permits and the async queue, config
//! errors, extreme arguments and the size.

use core::cell::Cell;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};

use stanchion::adaptive::{
    AdaptiveConfig, AdaptiveLimiter, Aimd, Algorithm, Gradient2, LimitChange, Outcome, Permit,
    RawPermit, Vegas, MAX_LIMIT,
};
use stanchion::{ConfigError, Nanos, Reason, Rejected};

const FULL: Rejected = Rejected::new(Reason::BulkheadFull, None);

fn ms(n: u64) -> Nanos {
    Nanos::from_millis(n)
}

fn secs(n: u64) -> Nanos {
    Nanos::from_secs(n)
}

fn limiter<const W: usize>(config: AdaptiveConfig) -> AdaptiveLimiter<W> {
    AdaptiveLimiter::new(config).unwrap()
}

/// AIMD from 10, between 1 and 100, windows of 3 samples and 1 s.
fn aimd() -> AdaptiveConfig {
    AdaptiveConfig::new().limits(1, 10, 100).window(secs(1), 3)
}

/// `n` permits taken at `now`: the last one saw `n` in flight.
fn take(limiter: &AdaptiveLimiter, n: u32, now: Nanos) -> Vec<Permit<'_>> {
    (0..n).map(|_| limiter.try_acquire(now).unwrap()).collect()
}

/// A window of its own (with `window(0, 1)`): a call that saw `in_flight` calls in flight
/// (as many as the limit allows), reported `latency` after `now`. The other permits are given
/// back unsampled.
fn one_window(
    limiter: &AdaptiveLimiter,
    in_flight: u32,
    latency: Nanos,
    outcome: Outcome,
    now: Nanos,
) -> Option<LimitChange> {
    let mut permits = take(limiter, in_flight.min(limiter.limit()).max(1), now);
    let last = permits.pop().unwrap();
    drop(permits);
    last.record(outcome, now + latency)
}

fn single_sample_windows(config: AdaptiveConfig) -> AdaptiveConfig {
    config.window(Nanos::ZERO, 1)
}

// ---------------------------------------------------------------------------------------------
// Config.

#[test]
fn config_errors_name_the_field() {
    let cases = [
        (AdaptiveConfig::new().limits(0, 1, 10), "min_limit"),
        (AdaptiveConfig::new().limits(5, 4, 10), "initial_limit"),
        (AdaptiveConfig::new().limits(5, 11, 10), "initial_limit"),
        (AdaptiveConfig::new().limits(11, 11, 10), "min_limit"),
        (
            AdaptiveConfig::new().limits(1, 1, MAX_LIMIT + 1),
            "max_limit",
        ),
        (AdaptiveConfig::new().window(secs(1), 0), "min_samples"),
        (
            AdaptiveConfig::new().algorithm(Algorithm::Aimd(Aimd::new().backoff_ratio(1.0))),
            "algorithm.backoff_ratio",
        ),
        (
            AdaptiveConfig::new().algorithm(Algorithm::Aimd(Aimd::new().backoff_ratio(0.49))),
            "algorithm.backoff_ratio",
        ),
        (
            AdaptiveConfig::new().algorithm(Algorithm::Aimd(Aimd::new().backoff_ratio(f64::NAN))),
            "algorithm.backoff_ratio",
        ),
        (
            AdaptiveConfig::new().algorithm(Algorithm::Aimd(Aimd::new().timeout(Nanos::ZERO))),
            "algorithm.timeout",
        ),
        (
            AdaptiveConfig::new().algorithm(Algorithm::Vegas(Vegas::new().probe_multiplier(0))),
            "algorithm.probe_multiplier",
        ),
        (
            AdaptiveConfig::new().algorithm(Algorithm::Vegas(Vegas::new().smoothing(0.0))),
            "algorithm.smoothing",
        ),
        (
            AdaptiveConfig::new().algorithm(Algorithm::Vegas(Vegas::new().alpha(70_000))),
            "algorithm.alpha",
        ),
        (
            AdaptiveConfig::new().algorithm(Algorithm::Gradient2(Gradient2::new().smoothing(1.5))),
            "algorithm.smoothing",
        ),
        (
            AdaptiveConfig::new()
                .algorithm(Algorithm::Gradient2(Gradient2::new().rtt_tolerance(0.9))),
            "algorithm.rtt_tolerance",
        ),
        (
            AdaptiveConfig::new().algorithm(Algorithm::Gradient2(Gradient2::new().long_window(0))),
            "algorithm.long_window",
        ),
        (
            AdaptiveConfig::new()
                .algorithm(Algorithm::Gradient2(Gradient2::new().queue_size(70_000))),
            "algorithm.queue_size",
        ),
    ];
    for (config, field) in cases {
        assert_eq!(config.validate().unwrap_err().field, field, "{config:?}");
        assert_eq!(
            AdaptiveLimiter::<0>::new(config).unwrap_err().field,
            field,
            "{config:?}"
        );
    }
    assert_eq!(
        AdaptiveConfig::new().limits(0, 0, 0).validate(),
        Err(ConfigError::new("min_limit", "1..=max_limit"))
    );
    // The edges are allowed.
    for config in [
        AdaptiveConfig::new().limits(1, 1, 1),
        AdaptiveConfig::new().limits(1, MAX_LIMIT, MAX_LIMIT),
        AdaptiveConfig::new().algorithm(Algorithm::Aimd(Aimd::new().backoff_ratio(0.5))),
        AdaptiveConfig::new().algorithm(Algorithm::Gradient2(
            Gradient2::new().smoothing(1.0).rtt_tolerance(1.0),
        )),
    ] {
        assert_eq!(config.validate(), Ok(()), "{config:?}");
    }
}

#[test]
fn the_defaults_are_those_of_the_contract() {
    let config = AdaptiveConfig::new();
    assert_eq!(
        (config.min_limit, config.initial_limit, config.max_limit),
        (1, 20, 1000)
    );
    assert_eq!((config.min_samples, config.window), (10, secs(1)));
    assert_eq!(config.algorithm, Algorithm::Aimd(Aimd::new()));
    assert_eq!(Aimd::new().timeout, secs(5));
    assert_eq!(AdaptiveConfig::default(), config);
}

#[test]
fn a_limiter_can_live_in_a_static() {
    static LIMITER: AdaptiveLimiter<2> = match AdaptiveLimiter::new(AdaptiveConfig::new()) {
        Ok(limiter) => limiter,
        Err(_) => panic!("invalid config"),
    };
    assert_eq!(LIMITER.limit(), 20);
    let permit = LIMITER.try_acquire(Nanos::ZERO).unwrap();
    assert_eq!(permit.in_flight(), 1);
}

// ---------------------------------------------------------------------------------------------
// Admission.

#[test]
fn in_flight_never_exceeds_the_limit_at_admission() {
    let limiter: AdaptiveLimiter = limiter(aimd());
    let held = take(&limiter, 10, Nanos::ZERO);
    assert_eq!(limiter.try_acquire(Nanos::ZERO).unwrap_err(), FULL);
    let snapshot = limiter.snapshot();
    assert_eq!(
        (snapshot.in_flight, snapshot.peak, snapshot.rejected),
        (10, 10, 1)
    );
    drop(held);
    assert_eq!(limiter.snapshot().in_flight, 0);
}

#[test]
fn a_lowered_limit_lets_in_flight_drain_and_revokes_nothing() {
    let limiter: AdaptiveLimiter = limiter(aimd().window(Nanos::ZERO, 1));
    let mut held = take(&limiter, 10, Nanos::ZERO);
    // One dropped call closes a window of its own: 10 → 9.
    let change = held.pop().unwrap().record(Outcome::Dropped, ms(5));
    assert_eq!(change, Some(LimitChange { from: 10, to: 9 }));
    held.pop().unwrap().record(Outcome::Dropped, ms(6)); // 9 → 8
    assert_eq!(limiter.limit(), 8);
    // Eight still out, all kept: at the limit, so newcomers wait for the count to drain.
    assert_eq!(limiter.snapshot().in_flight, 8);
    assert_eq!(limiter.try_acquire(ms(7)).unwrap_err(), FULL);
    held.pop();
    assert!(limiter.try_acquire(ms(7)).is_ok());
}

#[test]
fn permits_report_when_they_were_issued_and_what_they_saw() {
    let limiter: AdaptiveLimiter = limiter(aimd());
    let first = limiter.try_acquire(ms(3)).unwrap();
    let second = limiter.try_acquire(ms(4)).unwrap();
    assert_eq!((first.issued_at(), first.in_flight()), (ms(3), 1));
    assert_eq!((second.issued_at(), second.in_flight()), (ms(4), 2));
    let raw = second.into_raw();
    assert_eq!(raw, RawPermit::from_parts(ms(4), 2, true));
    assert_eq!(core::mem::size_of::<RawPermit>(), 16);
    let mut rebuilt = RawPermit::from_parts(raw.issued_at(), raw.in_flight(), raw.is_held());
    assert!(limiter.release(&mut rebuilt));
    drop(first);
    assert_eq!(limiter.snapshot().in_flight, 0);
}

#[test]
fn a_permit_reports_once() {
    let limiter: AdaptiveLimiter = limiter(aimd().window(Nanos::ZERO, 1));
    let mut raw = limiter.try_acquire(Nanos::ZERO).unwrap().into_raw();
    let _other = limiter.try_acquire(Nanos::ZERO).unwrap();
    limiter.record_raw(&mut raw, Outcome::Dropped, ms(1));
    assert_eq!(limiter.limit(), 9);
    // A second report of the same value: no sample, no release.
    assert_eq!(limiter.record_raw(&mut raw, Outcome::Dropped, ms(2)), None);
    assert!(!limiter.release(&mut raw));
    assert_eq!(limiter.limit(), 9);
    assert_eq!(limiter.snapshot().in_flight, 1);
    assert_eq!(limiter.snapshot().windows, 1);
}

#[test]
fn a_permit_that_gives_nothing_back_samples_nothing() {
    // A raw permit from elsewhere (another limiter, or storage rebuilt under it), reported to a
    // limiter with nothing out.
    let limiter: AdaptiveLimiter = limiter(aimd().window(Nanos::ZERO, 1));
    let mut stray = RawPermit::from_parts(Nanos::ZERO, 1, true);
    assert_eq!(
        limiter.record_raw(&mut stray, Outcome::Dropped, ms(1)),
        None
    );
    let snapshot = limiter.snapshot();
    assert_eq!(
        (snapshot.limit, snapshot.in_flight, snapshot.windows),
        (10, 0, 0)
    );
}

#[test]
fn a_dropped_permit_is_given_back_without_a_sample() {
    let limiter: AdaptiveLimiter = limiter(aimd().window(Nanos::ZERO, 1));
    drop(limiter.try_acquire(Nanos::ZERO).unwrap());
    let snapshot = limiter.snapshot();
    assert_eq!((snapshot.in_flight, snapshot.windows), (0, 0));
}

// ---------------------------------------------------------------------------------------------
// Windows.

#[test]
fn a_window_opens_at_its_first_sample_and_closes_on_the_first_record_with_enough_of_both() {
    let limiter: AdaptiveLimiter = limiter(aimd());
    let mut held = take(&limiter, 6, secs(4));
    // The first sample comes at 5 s: the window's age counts from there, not from 4 s.
    assert_eq!(held.pop().unwrap().record(Outcome::Success, secs(5)), None);
    assert_eq!(
        held.pop().unwrap().record(Outcome::Success, ms(5_500)),
        None
    );
    // Three samples, 0.9 s old: not yet.
    assert_eq!(
        held.pop().unwrap().record(Outcome::Success, ms(5_900)),
        None
    );
    assert_eq!(limiter.snapshot().windows, 0);
    // Four samples, 1 s old: this record closes it. Six were in flight: +1.
    let change = held.pop().unwrap().record(Outcome::Success, secs(6));
    assert_eq!(change, Some(LimitChange { from: 10, to: 11 }));
    let snapshot = limiter.snapshot();
    assert_eq!((snapshot.windows, snapshot.last_update), (1, Some(secs(6))));
}

#[test]
fn an_old_window_waits_for_its_samples() {
    let limiter: AdaptiveLimiter = limiter(aimd());
    let mut held = take(&limiter, 6, Nanos::ZERO);
    held.pop().unwrap().record(Outcome::Success, Nanos::ZERO);
    held.pop().unwrap().record(Outcome::Success, secs(100));
    assert_eq!(limiter.snapshot().windows, 0);
    held.pop().unwrap().record(Outcome::Success, secs(100));
    assert_eq!(limiter.snapshot().windows, 1);
}

#[test]
fn the_sample_that_closes_a_window_belongs_to_it() {
    let limiter: AdaptiveLimiter = limiter(aimd());
    let mut held = take(&limiter, 6, Nanos::ZERO);
    held.pop().unwrap().record(Outcome::Success, secs(1));
    held.pop().unwrap().record(Outcome::Success, secs(1));
    // The closing sample is a drop: the window is a dropped one.
    let change = held.pop().unwrap().record(Outcome::Dropped, secs(2));
    assert_eq!(change, Some(LimitChange { from: 10, to: 9 }));
}

#[test]
fn a_sample_belongs_to_the_window_open_when_it_is_recorded() {
    let limiter: AdaptiveLimiter = limiter(aimd());
    let mut held = take(&limiter, 6, Nanos::ZERO);
    for now in [secs(1), secs(1), secs(2)] {
        held.pop().unwrap().record(Outcome::Success, now);
    }
    assert_eq!((limiter.snapshot().windows, limiter.limit()), (1, 11));
    // Issued during the first window, recorded after it closed: it opens the second window at
    // 2.5 s, which closes at 3.5 s with its third sample, not earlier.
    held.pop().unwrap().record(Outcome::Dropped, ms(2_500));
    held.pop().unwrap().record(Outcome::Success, ms(3_400));
    held.pop().unwrap().record(Outcome::Success, ms(3_499));
    assert_eq!(limiter.snapshot().windows, 1);
    let mut more = take(&limiter, 1, secs(3));
    let change = more.pop().unwrap().record(Outcome::Success, ms(3_500));
    assert_eq!(change, Some(LimitChange { from: 11, to: 9 }));
}

#[test]
fn ignored_outcomes_sample_nothing() {
    let limiter: AdaptiveLimiter = limiter(aimd().window(Nanos::ZERO, 3));
    let mut held = take(&limiter, 6, Nanos::ZERO);
    for _ in 0..3 {
        assert_eq!(held.pop().unwrap().record(Outcome::Ignored, ms(1)), None);
    }
    let snapshot = limiter.snapshot();
    assert_eq!((snapshot.windows, snapshot.in_flight), (0, 3));
    for _ in 0..3 {
        held.pop().unwrap().record(Outcome::Success, ms(1));
    }
    assert_eq!(limiter.snapshot().windows, 1);
}

#[test]
fn failures_are_latency_samples_and_drops_are_drops() {
    let limiter: AdaptiveLimiter = limiter(aimd().window(Nanos::ZERO, 3));
    let mut held = take(&limiter, 6, Nanos::ZERO);
    for _ in 0..3 {
        held.pop().unwrap().record(Outcome::Failure, ms(1));
    }
    assert_eq!(limiter.limit(), 11);
    let mut held = take(&limiter, 6, ms(1));
    held.pop().unwrap().record(Outcome::Success, ms(2));
    held.pop().unwrap().record(Outcome::Dropped, ms(2));
    held.pop().unwrap().record(Outcome::Success, ms(2));
    // One drop anywhere makes the window a dropped one: ⌊11 × 0.9⌋.
    assert_eq!(limiter.limit(), 9);
}

#[test]
fn the_window_latency_is_the_mean_rounded_down() {
    // Vegas's first window sets the baseline to the window's latency, which the snapshot shows.
    let config = AdaptiveConfig::new()
        .algorithm(Algorithm::Vegas(Vegas::new()))
        .window(Nanos::ZERO, 3);
    let limiter: AdaptiveLimiter = limiter(config);
    let mut held = take(&limiter, 3, Nanos::ZERO);
    for now in [10, 10, 11] {
        held.pop()
            .unwrap()
            .record(Outcome::Success, Nanos::new(now));
    }
    // 31 / 3 = 10.33...
    assert_eq!(limiter.snapshot().baseline, Some(Nanos::new(10)));
}

#[test]
fn a_latency_of_zero_or_less_counts_as_one_nanosecond() {
    let config = AdaptiveConfig::new()
        .algorithm(Algorithm::Vegas(Vegas::new()))
        .window(Nanos::ZERO, 2);
    let limiter: AdaptiveLimiter = limiter(config);
    let mut held = take(&limiter, 2, secs(10));
    held.pop().unwrap().record(Outcome::Success, secs(10));
    // The clock ran backwards: no time passed.
    held.pop().unwrap().record(Outcome::Success, secs(9));
    assert_eq!(limiter.snapshot().baseline, Some(Nanos::new(1)));
}

#[test]
fn the_window_in_flight_figure_is_the_highest_seen() {
    let limiter: AdaptiveLimiter = limiter(aimd().window(Nanos::ZERO, 3));
    let mut held = take(&limiter, 5, Nanos::ZERO);
    let fifth = held.pop().unwrap();
    let (second, first) = (held.remove(1), held.remove(0));
    // In flight 1, 5 and 2, in that order: the window saw 5, and 5 · 2 ≥ 10.
    first.record(Outcome::Success, ms(1));
    fifth.record(Outcome::Success, ms(1));
    second.record(Outcome::Success, ms(1));
    assert_eq!(limiter.limit(), 11);
    // The highest figure 4: 4 · 2 < 11, application-limited, no growth.
    drop(held);
    let mut held = take(&limiter, 4, ms(1));
    for _ in 0..3 {
        held.pop().unwrap().record(Outcome::Success, ms(2));
    }
    assert_eq!((limiter.snapshot().windows, limiter.limit()), (2, 11));
}

#[test]
fn application_limited_windows_hold_growth_but_not_a_drop() {
    let limiter: AdaptiveLimiter = limiter(aimd().window(Nanos::ZERO, 3));
    let mut held = take(&limiter, 3, Nanos::ZERO);
    for _ in 0..3 {
        held.pop().unwrap().record(Outcome::Success, ms(1));
    }
    assert_eq!((limiter.snapshot().windows, limiter.limit()), (1, 10));
    let mut held = take(&limiter, 3, ms(1));
    held.pop().unwrap().record(Outcome::Dropped, ms(2));
    held.pop().unwrap().record(Outcome::Success, ms(2));
    held.pop().unwrap().record(Outcome::Success, ms(2));
    assert_eq!(limiter.limit(), 9);
}

#[test]
fn record_returns_a_change_only_when_the_limit_moved() {
    let limiter: AdaptiveLimiter = limiter(single_sample_windows(aimd().limits(1, 1, 2)));
    assert_eq!(
        one_window(&limiter, 1, ms(1), Outcome::Success, Nanos::ZERO),
        Some(LimitChange { from: 1, to: 2 })
    );
    // At the ceiling: the window closes, the limit stays, nothing is returned.
    assert_eq!(
        one_window(&limiter, 2, ms(1), Outcome::Success, ms(1)),
        None
    );
    assert_eq!(limiter.snapshot().windows, 2);
    assert_eq!(
        one_window(&limiter, 2, ms(1), Outcome::Dropped, ms(2)),
        Some(LimitChange { from: 2, to: 1 })
    );
    // At the floor a drop changes nothing.
    assert_eq!(
        one_window(&limiter, 1, ms(1), Outcome::Dropped, ms(3)),
        None
    );
    assert_eq!(limiter.limit(), 1);
}

// ---------------------------------------------------------------------------------------------
// The algorithms through the public API.

#[test]
fn aimd_counts_a_mean_latency_above_the_timeout_as_a_drop() {
    let config =
        single_sample_windows(aimd()).algorithm(Algorithm::Aimd(Aimd::new().timeout(ms(100))));
    let limiter: AdaptiveLimiter = limiter(config);
    one_window(&limiter, 10, ms(100), Outcome::Success, Nanos::ZERO);
    assert_eq!(limiter.limit(), 11);
    one_window(
        &limiter,
        11,
        Nanos::new(100_000_001),
        Outcome::Success,
        secs(1),
    );
    assert_eq!(limiter.limit(), 9);
}

#[test]
fn aimd_backs_off_by_its_ratio() {
    let config = single_sample_windows(aimd().limits(1, 100, 100))
        .algorithm(Algorithm::Aimd(Aimd::new().backoff_ratio(0.5)));
    let limiter: AdaptiveLimiter = limiter(config);
    let limits: Vec<u32> = (0..4)
        .map(|i| {
            one_window(&limiter, 1, ms(1), Outcome::Dropped, ms(i));
            limiter.limit()
        })
        .collect();
    assert_eq!(limits, [50, 25, 12, 6]);
}

#[test]
fn vegas_sets_its_baseline_then_follows_the_queue() {
    let config = single_sample_windows(AdaptiveConfig::new())
        .algorithm(Algorithm::Vegas(Vegas::new()))
        .limits(1, 20, 1000);
    let limiter: AdaptiveLimiter = limiter(config);
    assert_eq!(
        one_window(&limiter, 20, ms(100), Outcome::Success, Nanos::ZERO),
        None
    );
    assert_eq!(limiter.snapshot().baseline, Some(ms(100)));
    // No queue: + 6 · log10.
    one_window(&limiter, 20, ms(100), Outcome::Success, secs(1));
    assert_eq!(limiter.limit(), 26);
    // ⌈26 · (1 − 100/200)⌉ = 13 > 6: − 1.
    one_window(&limiter, 26, ms(200), Outcome::Success, secs(2));
    assert_eq!(limiter.limit(), 25);
}

#[test]
fn vegas_drops_lower_the_limit_by_log10_and_never_the_baseline() {
    let config = single_sample_windows(AdaptiveConfig::new())
        .algorithm(Algorithm::Vegas(Vegas::new()))
        .limits(1, 200, 1000);
    let limiter: AdaptiveLimiter = limiter(config);
    one_window(&limiter, 1, ms(100), Outcome::Success, Nanos::ZERO);
    // A refusal answered in 10 µs, application-limited: still − log10(200) = − 2.
    let change = one_window(
        &limiter,
        1,
        Nanos::from_micros(10),
        Outcome::Dropped,
        secs(1),
    );
    assert_eq!(change, Some(LimitChange { from: 200, to: 198 }));
    assert_eq!(limiter.snapshot().baseline, Some(ms(100)));
}

#[test]
fn vegas_measures_its_baseline_afresh_after_a_jittered_thirty_times_the_limit_windows() {
    let seed = 7;
    let config = single_sample_windows(AdaptiveConfig::new())
        .algorithm(Algorithm::Vegas(Vegas::new()))
        .limits(1, 10, 1000)
        .seed(seed);
    let limiter: AdaptiveLimiter = limiter(config);
    // The probe is due once jitter · 30 · 10 ≤ windows, jitter in [0.5, 1) from the seed.
    let jitter = (1u128 << 32) | u128::from(stanchion::rng::draw(seed, 0) >> 32);
    let due = (jitter * 300).div_ceil(1 << 33) as u64;
    assert!((150..=300).contains(&due));
    // Window 1 sets the baseline; later ones are slower and application-limited, so only the
    // probe can change the baseline, and nothing changes the limit.
    one_window(&limiter, 1, ms(100), Outcome::Success, Nanos::ZERO);
    for window in 2..=due {
        assert_eq!(
            limiter.snapshot().baseline,
            Some(ms(100)),
            "window {window}"
        );
        one_window(&limiter, 1, ms(150), Outcome::Success, secs(window));
    }
    assert_eq!(limiter.snapshot().baseline, Some(ms(150)));
    assert_eq!(limiter.limit(), 10);
}

#[test]
fn gradient2_follows_the_gradient_with_smoothing() {
    let config = single_sample_windows(AdaptiveConfig::new())
        .algorithm(Algorithm::Gradient2(Gradient2::new()))
        .limits(1, 20, 1000);
    let limiter: AdaptiveLimiter = limiter(config);
    // Gradient 1 (latency = long average): 20 · 0.8 + 24 · 0.2 = 20.8, then 21.44, 22.15.
    let limits: Vec<u32> = (0..3)
        .map(|i| {
            one_window(&limiter, 20, ms(10), Outcome::Success, secs(i));
            limiter.limit()
        })
        .collect();
    assert_eq!(limits, [20, 21, 22]);
    assert_eq!(limiter.snapshot().baseline, Some(ms(10)));
}

#[test]
fn gradient2_drops_lower_the_limit_as_a_gradient_of_one_half_without_queue() {
    let config = single_sample_windows(AdaptiveConfig::new())
        .algorithm(Algorithm::Gradient2(Gradient2::new()))
        .limits(1, 20, 1000);
    let limiter: AdaptiveLimiter = limiter(config);
    // 20 · 0.8 + 10 · 0.2 = 18, application-limited or not.
    let change = one_window(&limiter, 1, ms(10), Outcome::Dropped, Nanos::ZERO);
    assert_eq!(change, Some(LimitChange { from: 20, to: 18 }));
}

// ---------------------------------------------------------------------------------------------
// The pitfalls.

#[test]
fn vegas_climbs_back_from_the_floor_once_the_load_ends() {
    let config = single_sample_windows(AdaptiveConfig::new())
        .algorithm(Algorithm::Vegas(Vegas::new()))
        .limits(1, 20, 1000);
    let limiter: AdaptiveLimiter = limiter(config);
    one_window(&limiter, 20, ms(10), Outcome::Success, Nanos::ZERO);
    // Overload: every window is refused downstream within 10 µs.
    let mut now = secs(1);
    for _ in 0..30 {
        one_window(&limiter, 20, Nanos::from_micros(10), Outcome::Dropped, now);
        now = now + secs(1);
    }
    assert_eq!(limiter.limit(), 1);
    // The refusals did not pose as the no-load latency.
    assert_eq!(limiter.snapshot().baseline, Some(ms(10)));
    // The load ends: calls take their usual 10 ms and fill the limit again. The first such
    // window is the probe the drops postponed (it measures 10 ms again); each one after grows
    // the limit by 6: 7, 13, 19, 25.
    for _ in 0..5 {
        one_window(&limiter, 1000, ms(10), Outcome::Success, now);
        now = now + secs(1);
    }
    assert!(limiter.limit() >= 20, "limit {}", limiter.limit());
}

#[test]
fn one_lucky_window_does_not_pin_the_vegas_baseline() {
    let config = single_sample_windows(AdaptiveConfig::new())
        .algorithm(Algorithm::Vegas(Vegas::new()))
        .limits(1, 20, 1000);
    let limiter: AdaptiveLimiter = limiter(config);
    one_window(&limiter, 20, ms(10), Outcome::Success, Nanos::ZERO);
    // One window served from a cache: 1 ms.
    one_window(&limiter, 20, ms(1), Outcome::Success, secs(1));
    assert_eq!(limiter.snapshot().baseline, Some(ms(1)));
    // Against it every usual window looks queued, and the limit sinks.
    let mut now = secs(2);
    for _ in 0..20 {
        one_window(&limiter, 1000, ms(10), Outcome::Success, now);
        now = now + secs(1);
    }
    let sunk = limiter.limit();
    assert!(sunk < 10, "limit {sunk}");
    // The probe measures the baseline afresh within 30 × L windows, and the limit recovers.
    for _ in 0..30 * sunk {
        one_window(&limiter, 1000, ms(10), Outcome::Success, now);
        now = now + secs(1);
    }
    assert_eq!(limiter.snapshot().baseline, Some(ms(10)));
    assert!(limiter.limit() > 20, "limit {}", limiter.limit());
}

#[test]
fn the_vegas_probe_never_touches_the_limit() {
    let config = single_sample_windows(AdaptiveConfig::new())
        .algorithm(Algorithm::Vegas(Vegas::new().probe_multiplier(1)))
        .limits(1, 1, 1000);
    let limiter: AdaptiveLimiter = limiter(config);
    one_window(&limiter, 1, ms(10), Outcome::Success, Nanos::ZERO);
    // With a multiplier of 1 and a limit of 1, the probe is due on the next window.
    let change = one_window(&limiter, 1, ms(30), Outcome::Success, secs(1));
    assert_eq!(change, None);
    assert_eq!(limiter.snapshot().baseline, Some(ms(30)));
    assert_eq!(limiter.limit(), 1);
}

/// A window whose latency is 1.6 times the long average: every window reports queueing.
fn queueing_window(limiter: &AdaptiveLimiter, now: Nanos) {
    let long = limiter.snapshot().baseline.unwrap().as_nanos();
    one_window(
        limiter,
        1000,
        Nanos::new(long * 8 / 5),
        Outcome::Success,
        now,
    );
}

#[test]
fn gradient2_creeps_up_under_moderate_overload_unless_guarded() {
    let run = |guard: bool| {
        let config = single_sample_windows(AdaptiveConfig::new())
            .algorithm(Algorithm::Gradient2(Gradient2::new().creep_guard(guard)))
            .limits(1, 20, 1000);
        let limiter: AdaptiveLimiter = limiter(config);
        for i in 0..10 {
            one_window(&limiter, 1, ms(10), Outcome::Success, secs(i));
        }
        for i in 10..200 {
            queueing_window(&limiter, secs(i));
        }
        limiter.limit()
    };
    // concurrency-limits' rule: gradient 1.5 / 1.6, and the limit climbs toward
    // 4 / (1 − 0.9375) = 64 although every window is slower than the tolerance allows.
    assert!(run(false) > 40, "unguarded {}", run(false));
    // Guarded: below a gradient of 1 the limit only shrinks.
    assert!(run(true) < 20, "guarded {}", run(true));
}

// ---------------------------------------------------------------------------------------------
// The async queue.

fn poll<F: Future + Unpin>(future: &mut F) -> Poll<F::Output> {
    Pin::new(future).poll(&mut Context::from_waker(Waker::noop()))
}

#[test]
fn acquire_waits_for_a_permit_and_stamps_it_when_it_resolves() {
    let limiter: AdaptiveLimiter<4> = limiter(aimd().limits(1, 1, 10));
    let clock = Cell::new(ms(1));
    let now = || clock.get();
    let held = limiter.try_acquire(Nanos::ZERO).unwrap();
    let mut waiting = limiter.acquire(&now);
    assert!(poll(&mut waiting).is_pending());
    assert_eq!(limiter.snapshot().waiting, 1);
    clock.set(ms(9));
    drop(held);
    let Poll::Ready(Ok(permit)) = poll(&mut waiting) else {
        panic!("expected the permit");
    };
    assert_eq!((permit.issued_at(), permit.in_flight()), (ms(9), 1));
    assert!(
        poll(&mut waiting).is_pending(),
        "a resolved future stays pending"
    );
}

#[test]
fn a_raised_limit_hands_room_to_waiters_at_once() {
    let limiter: AdaptiveLimiter<4> = limiter(aimd().limits(1, 2, 10).window(Nanos::ZERO, 1));
    let now = || Nanos::ZERO;
    let first = limiter.try_acquire(Nanos::ZERO).unwrap();
    let second = limiter.try_acquire(Nanos::ZERO).unwrap();
    let mut waiters = [limiter.acquire(&now), limiter.acquire(&now)];
    for waiter in &mut waiters {
        assert!(poll(waiter).is_pending());
    }
    // One report: its permit goes to the first waiter, and its window (one sample, 1 in
    // flight of 2) raises the limit to 3, which lets the second waiter in too.
    assert_eq!(
        second.record(Outcome::Success, ms(1)),
        Some(LimitChange { from: 2, to: 3 })
    );
    for waiter in &mut waiters {
        assert!(matches!(poll(waiter), Poll::Ready(Ok(_))));
    }
    let snapshot = limiter.snapshot();
    assert_eq!((snapshot.in_flight, snapshot.waiting), (1, 0));
    drop(first);
}

#[test]
fn acquire_refuses_when_the_queue_is_full_and_a_dropped_waiter_leaves_it() {
    let limiter: AdaptiveLimiter<1> = limiter(aimd().limits(1, 1, 10));
    let now = || Nanos::ZERO;
    let held = limiter.try_acquire(Nanos::ZERO).unwrap();
    let mut first = limiter.acquire(&now);
    assert!(poll(&mut first).is_pending());
    let mut second = limiter.acquire(&now);
    let Poll::Ready(Err(refused)) = poll(&mut second) else {
        panic!("expected a refusal");
    };
    assert_eq!(refused, Rejected::new(Reason::QueueFull, None));
    drop(first);
    assert_eq!(limiter.snapshot().waiting, 0);
    drop(held);
    assert!(limiter.try_acquire(Nanos::ZERO).is_ok());
}

// ---------------------------------------------------------------------------------------------
// Time and extremes.

#[test]
fn a_clock_that_runs_backwards_neither_closes_a_window_early_nor_panics() {
    let limiter: AdaptiveLimiter = limiter(aimd());
    let mut held = take(&limiter, 6, secs(100));
    held.pop().unwrap().record(Outcome::Success, secs(100));
    held.pop().unwrap().record(Outcome::Success, secs(50));
    held.pop().unwrap().record(Outcome::Success, Nanos::ZERO);
    assert_eq!(limiter.snapshot().windows, 0);
    held.pop().unwrap().record(Outcome::Success, secs(101));
    assert_eq!(limiter.snapshot().windows, 1);
}

#[test]
fn extreme_arguments_never_panic_and_keep_the_limit_in_its_bounds() {
    for algorithm in [
        Algorithm::Aimd(Aimd::new().timeout(Nanos::new(1))),
        Algorithm::Vegas(
            Vegas::new()
                .alpha(65_535)
                .beta(65_535)
                .probe_multiplier(65_535),
        ),
        Algorithm::Gradient2(
            Gradient2::new()
                .queue_size(65_535)
                .long_window(65_535)
                .rtt_tolerance(1000.0)
                .smoothing(1.0),
        ),
    ] {
        let config = AdaptiveConfig::new()
            .algorithm(algorithm)
            .limits(1, MAX_LIMIT, MAX_LIMIT)
            .window(Nanos::ZERO, 1);
        let limiter: AdaptiveLimiter = limiter(config);
        for (issued, now) in [
            (Nanos::ZERO, Nanos::MAX),
            (Nanos::MAX, Nanos::ZERO),
            (Nanos::MAX, Nanos::MAX),
            (Nanos::ZERO, Nanos::new(1)),
            (Nanos::ZERO, Nanos::MAX),
        ] {
            for outcome in [Outcome::Success, Outcome::Dropped, Outcome::Failure] {
                let mut raw = RawPermit::from_parts(issued, u32::MAX, true);
                limiter.record_raw(&mut raw, outcome, now);
                let limit = limiter.limit();
                assert!((1..=MAX_LIMIT).contains(&limit), "{algorithm:?}: {limit}");
            }
        }
    }
    // A window that can never close just keeps counting.
    let config = AdaptiveConfig::new().window(Nanos::MAX, u32::MAX);
    let limiter: AdaptiveLimiter = limiter(config);
    for now in [Nanos::ZERO, Nanos::MAX] {
        let permit = limiter.try_acquire(now).unwrap();
        assert_eq!(permit.record(Outcome::Success, now), None);
    }
    assert_eq!(limiter.snapshot().windows, 0);
}

#[test]
fn the_size_is_fixed() {
    use core::mem::size_of;
    #[cfg(target_pointer_width = "64")]
    {
        assert_eq!(size_of::<AdaptiveLimiter<0>>(), 168);
        assert_eq!(
            size_of::<AdaptiveLimiter<1>>() - size_of::<AdaptiveLimiter<0>>(),
            24
        );
        assert_eq!(
            size_of::<AdaptiveLimiter<10>>() - size_of::<AdaptiveLimiter<0>>(),
            240
        );
    }
    assert_eq!(size_of::<RawPermit>(), 16);
}

#[test]
fn outcomes_share_the_breakers_numbers() {
    for (breaker, adaptive) in [
        (stanchion::Outcome::Success, Outcome::Success),
        (stanchion::Outcome::Failure, Outcome::Failure),
        (stanchion::Outcome::Ignored, Outcome::Ignored),
    ] {
        assert_eq!(breaker as u8, adaptive as u8);
        assert_eq!(Outcome::from(breaker), adaptive);
    }
    assert_eq!(Outcome::Dropped as u8, 3);
}
