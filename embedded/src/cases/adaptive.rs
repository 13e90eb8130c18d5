//! Adaptive limiter: admission up to the limit, the refusal beyond it, windows closed by a
//! record that change the limit (AIMD, and Vegas's and Gradient2's fixed point computed on the
//! target), raw permits reported once, a lowered limit that drains, and the snapshot.

use core::hint::black_box;

use stanchion::adaptive::{
    AdaptiveConfig, AdaptiveLimiter, AdaptiveSnapshot, Algorithm, Gradient2, LimitChange, Outcome,
    RawPermit, Vegas,
};
use stanchion::{Nanos, Reason, Rejected};

/// Windows of 2 samples and 100 ms; a limit of 4 between 1 and 100. Built by the `const fn`
/// constructor, as firmware builds it into `.bss`.
static LIMITER: AdaptiveLimiter = match AdaptiveLimiter::new(
    AdaptiveConfig::new()
        .limits(1, 4, 100)
        .window(Nanos::from_millis(100), 2),
) {
    Ok(limiter) => limiter,
    Err(_) => panic!("invalid adaptive limiter config"),
};

/// A limiter built at run time, so the config's fractions are converted on the target.
fn limiter(config: AdaptiveConfig) -> AdaptiveLimiter {
    match AdaptiveLimiter::new(black_box(config)) {
        Ok(limiter) => limiter,
        Err(error) => panic!("invalid config: {error}"),
    }
}

/// Every report closes a window: one sample, no minimum age.
fn per_call(algorithm: Algorithm, initial: u32) -> AdaptiveConfig {
    AdaptiveConfig::new()
        .algorithm(algorithm)
        .limits(1, initial, 100)
        .window(Nanos::ZERO, 1)
}

fn take(limiter: &AdaptiveLimiter, now: Nanos) -> RawPermit {
    match limiter.try_acquire(now) {
        Ok(permit) => permit.into_raw(),
        Err(refused) => panic!("refused: {refused}"),
    }
}

/// One call of `latency` ns admitted at `now`: the change its report made.
fn call(
    limiter: &AdaptiveLimiter,
    now: u64,
    latency: u64,
    outcome: Outcome,
) -> Option<LimitChange> {
    let mut permit = take(limiter, Nanos::new(now));
    limiter.record_raw(&mut permit, outcome, Nanos::new(now + latency))
}

fn change(from: u32, to: u32) -> Option<LimitChange> {
    Some(LimitChange { from, to })
}

tests! {
    fn a_static_limiter_admits_up_to_its_limit_and_refuses_beyond() {
        let now = Nanos::from_millis(black_box(1));
        let mut held = [
            take(&LIMITER, now),
            take(&LIMITER, now),
            take(&LIMITER, now),
            take(&LIMITER, now),
        ];
        assert_eq!(held.map(|p| p.in_flight()), [1, 2, 3, 4]);
        let refused = LIMITER.try_acquire(now).map(drop);
        assert_eq!(refused, Err(Rejected::new(Reason::BulkheadFull, None)));
        // The first report opens a window, the second closes it (2 samples, 100 ms old): the
        // window saw 2 of 4 in flight and no drop, so the limit grows by one.
        let later = Nanos::from_millis(101);
        assert_eq!(LIMITER.record_raw(&mut held[0], Outcome::Success, now), None);
        assert_eq!(
            LIMITER.record_raw(&mut held[1], Outcome::Success, later),
            change(4, 5)
        );
        assert_eq!(LIMITER.limit(), 5);
        assert!(LIMITER.release(&mut held[2]));
        assert!(LIMITER.release(&mut held[3]));
        assert_eq!(
            LIMITER.snapshot(),
            AdaptiveSnapshot {
                limit: 5,
                in_flight: 0,
                waiting: 0,
                peak: 4,
                rejected: 1,
                baseline: None,
                last_update: Some(later),
                windows: 1,
            }
        );
    }

    fn aimd_grows_by_one_and_backs_off_on_a_drop() {
        let l = limiter(per_call(Algorithm::default(), 4).limits(1, 4, 6));
        let _held = take(&l, Nanos::ZERO);
        // 2 in flight of 4: +1; 2 of 5: application-limited.
        assert_eq!(call(&l, 1_000_000, 1_000_000, Outcome::Success), change(4, 5));
        assert_eq!(call(&l, 3_000_000, 1_000_000, Outcome::Success), None);
        // A drop: floor(5 x 0.9) = 4; a mean latency above the 5 s timeout is a drop too.
        assert_eq!(call(&l, 5_000_000, 1_000_000, Outcome::Dropped), change(5, 4));
        assert_eq!(
            call(&l, 7_000_000, black_box(5_000_000_001), Outcome::Success),
            change(4, 3)
        );
        // Ignored samples nothing: no window closes.
        assert_eq!(call(&l, 9_000_000, 1_000_000, Outcome::Ignored), None);
        let s = l.snapshot();
        assert_eq!((s.limit, s.in_flight, s.windows), (3, 1, 4));
        assert_eq!(s.last_update, Some(Nanos::new(5_007_000_001)));
    }

    fn a_window_closes_on_the_first_record_with_its_samples_and_age() {
        let config = AdaptiveConfig::new()
            .limits(1, 10, 20)
            .window(Nanos::from_secs(1), 3);
        let l = limiter(config);
        let mut p = [Nanos::from_secs(4); 6].map(|now| take(&l, now));
        let s = |ms: u64| Nanos::from_millis(4000 + ms);
        assert_eq!(l.record_raw(&mut p[5], Outcome::Success, s(1000)), None, "opens at 5 s");
        assert_eq!(l.record_raw(&mut p[4], Outcome::Success, s(1500)), None);
        assert_eq!(l.record_raw(&mut p[3], Outcome::Success, s(1900)), None, "0.9 s old");
        assert_eq!(l.snapshot().windows, 0);
        // 4 samples, 1 s old: closes. Up to 6 in flight of 10: +1.
        assert_eq!(l.record_raw(&mut p[2], Outcome::Success, s(2000)), change(10, 11));
        assert_eq!(l.snapshot().last_update, Some(s(2000)));
        // A report of a permit already reported does nothing.
        assert_eq!(l.record_raw(&mut p[2], Outcome::Dropped, s(2100)), None);
        assert!(!l.release(&mut p[2]));
        assert_eq!(l.snapshot().in_flight, 2);
        assert!(l.release(&mut p[1]) && l.release(&mut p[0]));
        assert_eq!(l.snapshot().in_flight, 0);
    }

    fn a_lowered_limit_takes_no_permit_back_and_drains() {
        let l = limiter(per_call(Algorithm::default(), 3));
        let mut held = [Nanos::ZERO; 3].map(|now| take(&l, now));
        assert_eq!(
            l.try_acquire(Nanos::ZERO).map(drop).map_err(|r| r.reason),
            Err(Reason::BulkheadFull)
        );
        let at = Nanos::from_millis(1);
        assert_eq!(l.record_raw(&mut held[2], Outcome::Dropped, at), change(3, 2));
        assert_eq!(l.record_raw(&mut held[1], Outcome::Dropped, at), change(2, 1));
        // One permit out of a limit of 1: still full until it comes back.
        assert!(l.try_acquire(at).is_err());
        assert!(l.release(&mut held[0]));
        assert_eq!(take(&l, at).in_flight(), 1);
        let s = l.snapshot();
        assert_eq!((s.limit, s.in_flight, s.peak, s.rejected), (1, 1, 3, 2));
    }

    fn vegas_keeps_a_baseline_and_grows_by_its_queue_rule() {
        let l = limiter(per_call(Algorithm::Vegas(Vegas::new()), 10));
        let _held = [Nanos::ZERO; 4].map(|now| take(&l, now));
        // The first window sets the baseline (10 ms); then 5 in flight of 10 and no queue
        // (queue 0 <= log10 10): +6 x 1.
        assert_eq!(call(&l, 0, 10_000_000, Outcome::Success), None);
        assert_eq!(l.snapshot().baseline, Some(Nanos::from_millis(10)));
        assert_eq!(call(&l, 1_000_000_000, 10_000_000, Outcome::Success), change(10, 16));
        // A drop lowers the limit by log10 16 = 1 and never the baseline.
        assert_eq!(call(&l, 2_000_000_000, 1, Outcome::Dropped), change(16, 15));
        assert_eq!(l.snapshot().baseline, Some(Nanos::from_millis(10)));
    }

    fn gradient2_follows_its_long_average_in_fixed_point() {
        let l = limiter(per_call(Algorithm::Gradient2(Gradient2::new()), 10));
        let _held = [Nanos::ZERO; 4].map(|now| take(&l, now));
        // 10 x 0.8 + 14 x 0.2 = 10.8, then 11.6; 5 in flight of 11 is application-limited.
        let ms = 1_000_000;
        assert_eq!(call(&l, 0, 10 * ms, Outcome::Success), None);
        assert_eq!(call(&l, 1000 * ms, 10 * ms, Outcome::Success), change(10, 11));
        assert_eq!(call(&l, 2000 * ms, 10 * ms, Outcome::Success), None);
        assert_eq!(l.snapshot().baseline, Some(Nanos::from_millis(10)));
        let _more = take(&l, Nanos::new(3000 * ms));
        assert_eq!(call(&l, 3000 * ms, 30 * ms, Outcome::Success), None, "11.82");
        assert_eq!(call(&l, 4000 * ms, 100 * ms, Outcome::Success), None, "11.438");
        // The long average, over twice the 1 ms latency, is cut by 5 %; a drop: 10.29.
        assert_eq!(call(&l, 5000 * ms, ms, Outcome::Dropped), change(11, 10));
        let s = l.snapshot();
        assert_eq!((s.limit, s.baseline, s.windows), (10, Some(Nanos::new(25_491_666)), 6));
    }

    fn the_size_is_the_documented_one() {
        // The same on 32- and 64-bit targets: every field is a 64- or 32-bit atomic or integer.
        assert_eq!(core::mem::size_of::<AdaptiveLimiter>(), 168);
        assert_eq!(core::mem::size_of::<RawPermit>(), 16);
    }
}
