//! Behaviour of the circuit breaker, driven by a fake clock (plain `Nanos` values).

use stanchion::breaker::{
    BreakerConfig, CircuitBreaker, Outcome, RawPermit, State, Transition, Window,
};
use stanchion::{Nanos, Reason};

fn ms(n: u64) -> Nanos {
    Nanos::from_millis(n)
}

fn secs(n: u64) -> Nanos {
    Nanos::from_secs(n)
}

fn breaker(config: BreakerConfig) -> CircuitBreaker {
    CircuitBreaker::new(config).expect("valid config")
}

/// One call admitted at `now` and reported at `now` with `outcome`.
fn call(b: &CircuitBreaker, now: Nanos, outcome: Outcome) -> Option<Transition> {
    let permit = b.try_acquire(now).expect("admitted");
    permit.record(outcome, now)
}

fn t(from: State, to: State) -> Option<Transition> {
    Some(Transition { from, to })
}

#[test]
fn opens_after_five_failures_in_window() {
    let b = breaker(BreakerConfig::new());
    for i in 0..4 {
        assert_eq!(call(&b, secs(i), Outcome::Failure), None);
    }
    assert_eq!(
        call(&b, secs(4), Outcome::Failure),
        t(State::Closed, State::Open)
    );
    let refused = b.try_acquire(secs(4)).unwrap_err();
    assert_eq!(refused.reason, Reason::BreakerOpen);
    assert_eq!(refused.retry_after, Some(secs(30)));
}

#[test]
fn failures_that_slide_out_of_the_time_window_no_longer_count() {
    let b = breaker(BreakerConfig::new());
    for i in 0..4 {
        call(&b, secs(i), Outcome::Failure);
    }
    // At 12.5 s the window holds the buckets of seconds 3 to 12: one failure.
    assert_eq!(b.snapshot(ms(12_500)).window_failures, 1);
    for i in 0..3 {
        assert_eq!(call(&b, ms(12_500 + i), Outcome::Failure), None);
    }
    assert_eq!(b.state(), State::Closed);
    assert_eq!(
        call(&b, ms(12_600), Outcome::Failure),
        t(State::Closed, State::Open)
    );
}

#[test]
fn an_idle_time_window_empties_completely() {
    let b = breaker(BreakerConfig::new().failure_count(Some(3)));
    call(&b, secs(1), Outcome::Failure);
    call(&b, secs(2), Outcome::Failure);
    let much_later = secs(1_000_000);
    assert_eq!(b.snapshot(much_later).window_calls, 0);
    assert_eq!(call(&b, much_later, Outcome::Failure), None);
    assert_eq!(b.snapshot(much_later).window_failures, 1);
    assert_eq!(b.snapshot(much_later).failures, 3);
}

#[test]
fn count_window_holds_exactly_the_last_n_calls() {
    let b = breaker(
        BreakerConfig::new()
            .failure_count(Some(3))
            .window(Window::Count(4)),
    );
    call(&b, ms(0), Outcome::Failure);
    call(&b, ms(1), Outcome::Failure);
    for i in 2..6 {
        call(&b, ms(i), Outcome::Success);
    }
    // The two failures slid out of the last four calls.
    let snap = b.snapshot(ms(6));
    assert_eq!((snap.window_calls, snap.window_failures), (4, 0));
    call(&b, ms(6), Outcome::Failure);
    call(&b, ms(7), Outcome::Failure);
    assert_eq!(
        call(&b, ms(8), Outcome::Failure),
        t(State::Closed, State::Open)
    );
}

#[test]
fn a_count_window_spanning_several_words_counts_every_slot() {
    let b: CircuitBreaker<10> = CircuitBreaker::new(
        BreakerConfig::new()
            .failure_count(Some(100))
            .window(Window::Count(100)),
    )
    .unwrap();
    for i in 0..99 {
        assert_eq!(call_n(&b, ms(i), Outcome::Failure), None);
    }
    assert_eq!(b.snapshot(ms(99)).window_failures, 99);
    assert_eq!(
        call_n(&b, ms(99), Outcome::Failure),
        t(State::Closed, State::Open)
    );
}

fn call_n<const W: usize>(
    b: &CircuitBreaker<W>,
    now: Nanos,
    outcome: Outcome,
) -> Option<Transition> {
    b.try_acquire(now).unwrap().record(outcome, now)
}

#[test]
fn consecutive_failures_trip_and_a_success_breaks_the_streak() {
    let b = breaker(
        BreakerConfig::new()
            .failure_count(None)
            .consecutive_failures(Some(3)),
    );
    call(&b, ms(1), Outcome::Failure);
    call(&b, ms(2), Outcome::Failure);
    call(&b, ms(3), Outcome::Success);
    call(&b, ms(4), Outcome::Failure);
    call(&b, ms(5), Outcome::Failure);
    assert_eq!(b.snapshot(ms(5)).consecutive_failures, 2);
    assert_eq!(
        call(&b, ms(6), Outcome::Failure),
        t(State::Closed, State::Open)
    );
}

#[test]
fn ignored_neither_counts_nor_breaks_the_streak() {
    let b = breaker(
        BreakerConfig::new()
            .failure_count(None)
            .consecutive_failures(Some(2)),
    );
    call(&b, ms(1), Outcome::Failure);
    assert_eq!(call(&b, ms(2), Outcome::Ignored), None);
    let snap = b.snapshot(ms(2));
    assert_eq!((snap.window_calls, snap.calls), (1, 1));
    assert_eq!(
        call(&b, ms(3), Outcome::Failure),
        t(State::Closed, State::Open)
    );
}

#[test]
fn failure_rate_waits_for_minimum_calls_and_a_success_can_trip_it() {
    let b = breaker(
        BreakerConfig::new()
            .failure_count(None)
            .failure_rate(Some(0.5))
            .minimum_calls(4),
    );
    call(&b, ms(1), Outcome::Failure);
    call(&b, ms(2), Outcome::Failure);
    call(&b, ms(3), Outcome::Failure);
    assert_eq!(b.state(), State::Closed, "3 calls are below minimum_calls");
    // The fourth call is a success, yet it brings the window to 4 calls at 75 %.
    assert_eq!(
        call(&b, ms(4), Outcome::Success),
        t(State::Closed, State::Open)
    );
}

#[test]
fn failure_rate_trips_at_the_rate_not_above_it() {
    let b = breaker(
        BreakerConfig::new()
            .failure_count(None)
            .failure_rate(Some(0.1))
            .minimum_calls(10)
            .window(Window::Count(10)),
    );
    for i in 0..9 {
        call(&b, ms(i), Outcome::Success);
    }
    // 1 failure in 10 calls is exactly 10 %.
    assert_eq!(
        call(&b, ms(9), Outcome::Failure),
        t(State::Closed, State::Open)
    );
}

#[test]
fn slow_calls_trip_the_slow_rate_once_minimum_calls_is_reached() {
    let b = breaker(
        BreakerConfig::new()
            .failure_count(None)
            .slow_call(secs(1), 0.5)
            .minimum_calls(4),
    );
    let slow = |start: Nanos| {
        let p = b.try_acquire(start).unwrap();
        p.record(Outcome::Success, start + secs(1))
    };
    assert_eq!(slow(ms(0)), None);
    assert_eq!(slow(ms(10)), None);
    call(&b, ms(20), Outcome::Success);
    assert_eq!(b.snapshot(secs(2)).window_slow_calls, 2);
    // The fourth call makes 2 slow in 4: 50 %, at the rate.
    assert_eq!(
        call(&b, secs(2), Outcome::Success),
        t(State::Closed, State::Open)
    );
    assert_eq!(b.snapshot(secs(2)).slow_calls, 2);
}

#[test]
fn a_call_just_under_the_slow_duration_is_not_slow() {
    let b = breaker(
        BreakerConfig::new()
            .slow_call(secs(1), 0.5)
            .minimum_calls(2),
    );
    let p = b.try_acquire(Nanos::ZERO).unwrap();
    assert_eq!(p.record(Outcome::Success, secs(1) - Nanos::new(1)), None);
    assert_eq!(b.snapshot(secs(1)).window_slow_calls, 0);
    let p = b.try_acquire(secs(1)).unwrap();
    assert_eq!(
        p.record(Outcome::Success, secs(2)),
        t(State::Closed, State::Open)
    );
}

#[test]
fn advancing_by_retry_after_lets_a_probe_through() {
    let b = breaker(
        BreakerConfig::new()
            .failure_count(Some(1))
            .open_for(secs(7)),
    );
    call(&b, secs(100), Outcome::Failure);
    let refused = b.try_acquire(secs(103)).unwrap_err();
    assert_eq!(refused.retry_after, Some(secs(4)));
    let just_before = secs(107) - Nanos::new(1);
    assert_eq!(
        b.try_acquire(just_before).unwrap_err().retry_after,
        Some(Nanos::new(1))
    );
    let probe = b
        .try_acquire(secs(103) + refused.retry_after.unwrap())
        .unwrap();
    assert_eq!(probe.transition(), t(State::Open, State::HalfOpen));
}

#[test]
fn half_open_admits_only_the_configured_probes() {
    let b = breaker(
        BreakerConfig::new()
            .failure_count(Some(1))
            .open_for(secs(1))
            .half_open(2, None)
            .probe_timeout(Some(secs(10))),
    );
    call(&b, Nanos::ZERO, Outcome::Failure);
    let first = b.try_acquire(secs(1)).unwrap();
    let second = b.try_acquire(secs(2)).unwrap();
    assert_eq!(
        second.transition(),
        None,
        "only the first probe reports the transition"
    );
    let refused = b.try_acquire(secs(3)).unwrap_err();
    assert_eq!(refused.reason, Reason::HalfOpenFull);
    // The earliest lease (the first probe's, from 1 s) expires at 11 s.
    assert_eq!(refused.retry_after, Some(secs(8)));
    assert_eq!(first.record(Outcome::Success, secs(4)), None);
    assert_eq!(
        second.record(Outcome::Success, secs(4)),
        t(State::HalfOpen, State::Closed)
    );
    assert_eq!(b.snapshot(secs(4)).rejected_half_open_full, 1);
}

#[test]
fn a_failed_probe_reopens_at_once() {
    let b = breaker(
        BreakerConfig::new()
            .failure_count(Some(1))
            .open_for(secs(5)),
    );
    call(&b, Nanos::ZERO, Outcome::Failure);
    let probe = b.try_acquire(secs(5)).unwrap();
    assert_eq!(
        probe.record(Outcome::Failure, secs(6)),
        t(State::HalfOpen, State::Open)
    );
    assert_eq!(
        b.try_acquire(secs(6)).unwrap_err().retry_after,
        Some(secs(5))
    );
}

#[test]
fn closing_clears_the_window() {
    let b = breaker(
        BreakerConfig::new()
            .failure_count(Some(2))
            .open_for(secs(1)),
    );
    call(&b, Nanos::ZERO, Outcome::Failure);
    call(&b, Nanos::ZERO, Outcome::Failure);
    let probe = b.try_acquire(secs(1)).unwrap();
    probe.record(Outcome::Success, secs(1));
    let snap = b.snapshot(secs(1));
    assert_eq!(
        (snap.state, snap.window_calls, snap.window_failures),
        (State::Closed, 0, 0)
    );
    // A single failure does not re-trip a window that was cleared.
    assert_eq!(call(&b, secs(1), Outcome::Failure), None);
    // Totals keep the whole history, probes included.
    assert_eq!((snap.calls, snap.failures, snap.successes), (3, 2, 1));
}

#[test]
fn more_successes_than_probes_take_several_rounds() {
    let b = breaker(
        BreakerConfig::new()
            .failure_count(Some(1))
            .open_for(secs(1))
            .half_open(1, Some(3)),
    );
    call(&b, Nanos::ZERO, Outcome::Failure);
    for round in 0..2 {
        let p = b.try_acquire(secs(1) + ms(round)).unwrap();
        assert_eq!(p.record(Outcome::Success, secs(1) + ms(round)), None);
        assert_eq!(b.state(), State::HalfOpen);
    }
    let p = b.try_acquire(secs(2)).unwrap();
    assert_eq!(
        p.record(Outcome::Success, secs(2)),
        t(State::HalfOpen, State::Closed)
    );
}

#[test]
fn ignored_probe_frees_its_slot_without_closing() {
    let b = breaker(
        BreakerConfig::new()
            .failure_count(Some(1))
            .open_for(secs(1)),
    );
    call(&b, Nanos::ZERO, Outcome::Failure);
    let p = b.try_acquire(secs(1)).unwrap();
    assert_eq!(
        b.try_acquire(secs(1)).unwrap_err().reason,
        Reason::HalfOpenFull
    );
    assert_eq!(p.record(Outcome::Ignored, secs(1)), None);
    assert_eq!(b.state(), State::HalfOpen);
    assert!(b.try_acquire(secs(1)).is_ok());
}

#[test]
fn a_dropped_probe_frees_its_slot() {
    let b = breaker(
        BreakerConfig::new()
            .failure_count(Some(1))
            .open_for(secs(1)),
    );
    call(&b, Nanos::ZERO, Outcome::Failure);
    drop(b.try_acquire(secs(1)).unwrap());
    assert_eq!(b.snapshot(secs(1)).probes_in_flight, 0);
    let p = b.try_acquire(secs(1)).unwrap();
    assert_eq!(p.release(secs(2)), None);
    assert_eq!(b.snapshot(secs(2)).probes_in_flight, 0);
}

#[test]
fn a_lost_probe_reopens_the_breaker_and_its_late_report_is_stale() {
    let b = breaker(
        BreakerConfig::new()
            .failure_count(Some(1))
            .open_for(secs(1))
            .probe_timeout(Some(secs(10))),
    );
    call(&b, Nanos::ZERO, Outcome::Failure);
    let (lost, _) = b.try_acquire_raw(secs(1));
    let lost = lost.unwrap();
    assert_eq!(
        b.try_acquire(secs(10)).unwrap_err().reason,
        Reason::HalfOpenFull
    );
    // At 11 s the lease is overdue: it counts as a failed probe.
    let (refused, transition) = b.try_acquire_raw(secs(11));
    assert_eq!(transition, t(State::HalfOpen, State::Open));
    assert_eq!(refused.unwrap_err().retry_after, Some(secs(1)));
    // Its success, arriving late, cannot close the breaker.
    assert_eq!(b.record_raw(lost, Outcome::Success, secs(11)), None);
    assert_eq!(b.state(), State::Open);
    let probe = b.try_acquire(secs(12)).unwrap();
    assert_eq!(
        probe.record(Outcome::Success, secs(12)),
        t(State::HalfOpen, State::Closed)
    );
}

#[test]
fn a_report_after_the_lease_expired_reopens_instead_of_closing() {
    let b = breaker(
        BreakerConfig::new()
            .failure_count(Some(1))
            .open_for(secs(1))
            .probe_timeout(Some(secs(2))),
    );
    call(&b, Nanos::ZERO, Outcome::Failure);
    let probe = b.try_acquire(secs(1)).unwrap();
    assert_eq!(
        probe.record(Outcome::Success, secs(3)),
        t(State::HalfOpen, State::Open)
    );
}

#[test]
fn the_probe_timeout_defaults_to_the_slow_call_duration() {
    let b = breaker(
        BreakerConfig::new()
            .failure_count(Some(1))
            .slow_call(secs(4), 1.0)
            .open_for(secs(1)),
    );
    call(&b, Nanos::ZERO, Outcome::Failure);
    let _probe = b.try_acquire(secs(1)).unwrap().into_raw();
    let refused = b.try_acquire(secs(1)).unwrap_err();
    assert_eq!(refused.retry_after, Some(secs(4)));
}

#[test]
fn a_late_record_from_before_a_trip_changes_nothing() {
    let b = breaker(
        BreakerConfig::new()
            .failure_count(Some(1))
            .open_for(secs(1)),
    );
    let (slow_call, _) = b.try_acquire_raw(Nanos::ZERO);
    call(&b, Nanos::ZERO, Outcome::Failure);
    let probe = b.try_acquire(secs(1)).unwrap();
    // The call from before the trip fails late, while the probe is out: no re-open.
    assert_eq!(
        b.record_raw(slow_call.unwrap(), Outcome::Failure, secs(1)),
        None
    );
    assert_eq!(b.state(), State::HalfOpen);
    assert_eq!(b.snapshot(secs(1)).failures, 1);
    assert_eq!(
        probe.record(Outcome::Success, secs(1)),
        t(State::HalfOpen, State::Closed)
    );
}

#[test]
fn a_stale_release_does_not_free_a_newer_probe_slot() {
    let b = breaker(
        BreakerConfig::new()
            .failure_count(Some(1))
            .open_for(secs(1)),
    );
    call(&b, Nanos::ZERO, Outcome::Failure);
    let (first, _) = b.try_acquire_raw(secs(1));
    b.record_raw(first.unwrap(), Outcome::Failure, secs(1));
    let _probe = b.try_acquire(secs(2)).unwrap().into_raw();
    assert_eq!(b.release_raw(first.unwrap(), secs(2)), None);
    assert_eq!(b.snapshot(secs(2)).probes_in_flight, 1);
}

#[test]
fn forced_open_refuses_everything_without_a_retry_time() {
    let b = breaker(BreakerConfig::new());
    let (before, _) = b.try_acquire_raw(Nanos::ZERO);
    assert_eq!(
        b.force_open(Nanos::ZERO),
        t(State::Closed, State::ForcedOpen)
    );
    let refused = b.try_acquire(secs(1_000)).unwrap_err();
    assert_eq!(
        (refused.reason, refused.retry_after),
        (Reason::ForcedOpen, None)
    );
    assert_eq!(
        b.record_raw(before.unwrap(), Outcome::Failure, secs(1)),
        None
    );
    assert_eq!(b.reset(secs(2)), t(State::ForcedOpen, State::Closed));
    assert!(b.try_acquire(secs(2)).is_ok());
    assert_eq!(b.snapshot(secs(2)).rejected_forced_open, 1);
}

#[test]
fn disabled_admits_all_counts_and_never_trips() {
    let b = breaker(BreakerConfig::new().failure_count(Some(1)));
    assert_eq!(b.disable(Nanos::ZERO), t(State::Closed, State::Disabled));
    for i in 0..10 {
        assert_eq!(call(&b, ms(i), Outcome::Failure), None);
    }
    let snap = b.snapshot(ms(10));
    assert_eq!((snap.state, snap.window_failures), (State::Disabled, 10));
    // Leaving Disabled clears the window: the first failure after it trips on its own.
    assert_eq!(b.reset(ms(10)), t(State::Disabled, State::Closed));
    assert_eq!(b.snapshot(ms(10)).window_calls, 0);
    assert_eq!(
        call(&b, ms(11), Outcome::Failure),
        t(State::Closed, State::Open)
    );
}

#[test]
fn reset_of_a_closed_breaker_reports_nothing_but_makes_old_permits_stale() {
    let b = breaker(BreakerConfig::new().failure_count(Some(2)));
    call(&b, ms(1), Outcome::Failure);
    let (old, _) = b.try_acquire_raw(ms(2));
    assert_eq!(b.reset(ms(3)), None);
    assert_eq!(b.snapshot(ms(3)).window_calls, 0);
    assert_eq!(b.record_raw(old.unwrap(), Outcome::Failure, ms(4)), None);
    assert_eq!(b.snapshot(ms(4)).window_failures, 0);
}

#[test]
fn open_period_grows_on_repeated_trips_up_to_the_cap_and_resets_after_recovery() {
    let b = breaker(
        BreakerConfig::new()
            .failure_count(Some(1))
            .open_for(secs(1))
            .open_for_growth(secs(5), 2.0, 0.0),
    );
    call(&b, Nanos::ZERO, Outcome::Failure);
    let mut now = Nanos::ZERO;
    for expected in [1, 2, 4, 5, 5] {
        let refused = b.try_acquire(now).unwrap_err();
        assert_eq!(refused.retry_after, Some(secs(expected)));
        now = now + secs(expected);
        let probe = b.try_acquire(now).unwrap();
        probe.record(Outcome::Failure, now);
    }
    let refused = b.try_acquire(now).unwrap_err();
    now = now + refused.retry_after.unwrap();
    b.try_acquire(now).unwrap().record(Outcome::Success, now);
    assert_eq!(b.state(), State::Closed);
    call(&b, now, Outcome::Failure);
    assert_eq!(b.try_acquire(now).unwrap_err().retry_after, Some(secs(1)));
}

#[test]
fn open_period_jitter_is_seeded_and_only_shortens() {
    let config = |seed| {
        BreakerConfig::new()
            .failure_count(Some(1))
            .open_for(secs(10))
            .open_for_growth(secs(10), 1.0, 0.5)
            .seed(seed)
    };
    let period = |seed| {
        let b = breaker(config(seed));
        call(&b, Nanos::ZERO, Outcome::Failure);
        b.try_acquire(Nanos::ZERO).unwrap_err().retry_after.unwrap()
    };
    let periods: Vec<Nanos> = (0..20).map(period).collect();
    assert!(periods.iter().all(|p| *p >= secs(5) && *p <= secs(10)));
    assert_eq!(period(3), period(3));
    assert!(
        periods.windows(2).any(|w| w[0] != w[1]),
        "jitter varies by seed"
    );
}

#[test]
fn time_running_backwards_counts_in_the_newest_bucket() {
    let b = breaker(BreakerConfig::new().failure_count(Some(3)));
    call(&b, secs(20), Outcome::Failure);
    call(&b, secs(5), Outcome::Failure);
    assert_eq!(b.snapshot(secs(20)).window_failures, 2);
    assert_eq!(
        call(&b, Nanos::ZERO, Outcome::Failure),
        t(State::Closed, State::Open)
    );
    // Deadlines count from the `now` given: open until 30 s.
    assert_eq!(
        b.try_acquire(secs(1)).unwrap_err().retry_after,
        Some(secs(29))
    );
    assert!(b.try_acquire(secs(30)).is_ok());
}

#[test]
fn works_at_time_zero_and_near_the_end_of_time() {
    let b = breaker(BreakerConfig::new().failure_count(Some(1)));
    assert_eq!(call(&b, Nanos::ZERO, Outcome::Success), None);
    let late = Nanos::MAX - Nanos::new(5);
    assert_eq!(
        call(&b, late, Outcome::Failure),
        t(State::Closed, State::Open)
    );
    // open_until saturates at the end of time instead of wrapping to the past.
    let refused = b.try_acquire(Nanos::MAX - Nanos::new(1)).unwrap_err();
    assert_eq!(refused.retry_after, Some(Nanos::new(1)));
    assert_eq!(b.snapshot(Nanos::MAX).open_until, Some(Nanos::MAX));
    assert!(b.try_acquire(Nanos::MAX).is_ok());
}

#[test]
fn reconfigure_keeps_a_window_of_the_same_shape() {
    let b = breaker(BreakerConfig::new());
    for i in 0..3 {
        call(&b, secs(i), Outcome::Failure);
    }
    b.reconfigure(BreakerConfig::new().failure_count(Some(4)), secs(3))
        .unwrap();
    assert_eq!(b.snapshot(secs(3)).window_failures, 3);
    assert_eq!(
        call(&b, secs(3), Outcome::Failure),
        t(State::Closed, State::Open)
    );
}

#[test]
fn reconfigure_to_another_window_shape_starts_empty_and_keeps_totals() {
    let b = breaker(BreakerConfig::new());
    for i in 0..3 {
        call(&b, secs(i), Outcome::Failure);
    }
    b.reconfigure(BreakerConfig::new().window(Window::Count(10)), secs(3))
        .unwrap();
    let snap = b.snapshot(secs(3));
    assert_eq!((snap.window_calls, snap.failures), (0, 3));
}

#[test]
fn an_invalid_reconfigure_leaves_the_breaker_as_it_was() {
    let b = breaker(BreakerConfig::new().failure_count(Some(2)));
    let err = b
        .reconfigure(BreakerConfig::new().half_open(0, None), Nanos::ZERO)
        .unwrap_err();
    assert_eq!(err.field, "half_open_probes");
    assert_eq!(b.config().failure_count, Some(2));
    call(&b, ms(1), Outcome::Failure);
    assert_eq!(
        call(&b, ms(2), Outcome::Failure),
        t(State::Closed, State::Open)
    );
}

#[test]
fn every_invalid_field_is_named_with_its_range() {
    let base = BreakerConfig::new();
    let cases: Vec<(BreakerConfig, &str)> = vec![
        (base.failure_count(Some(0)), "failure_count"),
        (base.consecutive_failures(Some(0)), "consecutive_failures"),
        (base.failure_rate(Some(0.0)), "failure_rate"),
        (base.failure_rate(Some(f32::NAN)), "failure_rate"),
        (base.failure_rate(Some(1.01)), "failure_rate"),
        (base.minimum_calls(0), "minimum_calls"),
        (base.slow_call(Nanos::ZERO, 0.5), "slow_call.duration"),
        (base.slow_call(secs(1), 0.0), "slow_call.rate"),
        (base.window(Window::Count(0)), "window.count"),
        (base.window(Window::Count(70_000)), "window.count"),
        (
            base.window(Window::Time {
                span: secs(1),
                buckets: 0,
            }),
            "window.buckets",
        ),
        (
            base.window(Window::Time {
                span: Nanos::new(5),
                buckets: 10,
            }),
            "window.span",
        ),
        (
            base.open_for(secs(10)).open_for_growth(secs(5), 2.0, 0.0),
            "open_for_max",
        ),
        (base.open_for_growth(secs(60), 0.5, 0.0), "open_for_factor"),
        (
            base.open_for_growth(secs(60), f32::INFINITY, 0.0),
            "open_for_factor",
        ),
        (base.open_for_growth(secs(60), 2.0, 1.5), "open_for_jitter"),
        (base.open_for_growth(secs(60), 2.0, -0.1), "open_for_jitter"),
        (base.half_open(0, None), "half_open_probes"),
        (base.half_open(70_000, None), "half_open_probes"),
        (base.half_open(1, Some(0)), "half_open_successes"),
        (base.probe_timeout(Some(Nanos::ZERO)), "probe_timeout"),
        (base.window(Window::Count(321)), "window"),
        (
            base.window(Window::Time {
                span: secs(11),
                buckets: 11,
            }),
            "window",
        ),
    ];
    for (config, field) in cases {
        let err = CircuitBreaker::<10>::new(config).unwrap_err();
        assert_eq!(err.field, field, "{config:?}");
        assert!(!err.allowed.is_empty());
        assert!(err.to_string().contains(field));
    }
}

#[test]
fn counters_count_refusals_by_reason_and_transitions() {
    let b = breaker(
        BreakerConfig::new()
            .failure_count(Some(1))
            .open_for(secs(1)),
    );
    call(&b, Nanos::ZERO, Outcome::Failure);
    let _ = b.try_acquire(Nanos::ZERO);
    let _ = b.try_acquire(ms(1));
    let probe = b.try_acquire(secs(1)).unwrap();
    let _ = b.try_acquire(secs(1));
    probe.record(Outcome::Success, secs(1));
    let snap = b.snapshot(secs(1));
    assert_eq!(snap.rejected_open, 2);
    assert_eq!(snap.rejected_half_open_full, 1);
    assert_eq!(snap.rejected(), 3);
    assert_eq!(snap.transitions, 3, "closed->open->half_open->closed");
    assert_eq!(snap.generation, 3);
}

#[test]
fn the_open_snapshot_says_until_when() {
    let b = breaker(
        BreakerConfig::new()
            .failure_count(Some(1))
            .open_for(secs(3)),
    );
    assert_eq!(b.snapshot(Nanos::ZERO).open_until, None);
    call(&b, secs(2), Outcome::Failure);
    let snap = b.snapshot(secs(2));
    assert_eq!((snap.state, snap.open_until), (State::Open, Some(secs(5))));
}

#[test]
fn raw_permits_round_trip_through_their_parts() {
    let b = breaker(BreakerConfig::new().failure_count(Some(1)));
    let (p, _) = b.try_acquire_raw(secs(1));
    let p = p.unwrap();
    let rebuilt = RawPermit::from_parts(p.generation(), p.issued_at());
    assert_eq!(
        b.record_raw(rebuilt, Outcome::Failure, secs(1)),
        t(State::Closed, State::Open)
    );
}

#[test]
fn size_is_fixed_and_documented() {
    assert_eq!(core::mem::size_of::<CircuitBreaker>(), 344);
    assert_eq!(core::mem::size_of::<CircuitBreaker<1>>(), 272);
    assert_eq!(core::mem::size_of::<RawPermit>(), 16);
}

#[test]
fn a_later_probe_reporting_first_leaves_the_oldest_lease_in_force() {
    let b = breaker(
        BreakerConfig::new()
            .failure_count(Some(1))
            .open_for(secs(1))
            .half_open(2, Some(2))
            .probe_timeout(Some(secs(10))),
    );
    call(&b, Nanos::ZERO, Outcome::Failure);
    let (first, _) = b.try_acquire_raw(secs(1));
    let second = b.try_acquire(secs(2)).unwrap();
    assert_eq!(second.record(Outcome::Success, secs(4)), None);
    // A third probe takes the free slot; the first probe's lease (to 11 s) is still in force.
    let _third = b.try_acquire(secs(5)).unwrap().into_raw();
    let full = b.try_acquire(secs(5)).unwrap_err();
    assert_eq!(full.retry_after, Some(secs(6)));
    let (_, transition) = b.try_acquire_raw(secs(11));
    assert_eq!(transition, t(State::HalfOpen, State::Open));
    assert_eq!(
        b.record_raw(first.unwrap(), Outcome::Success, secs(11)),
        None
    );
}

#[test]
fn the_oldest_probe_reporting_hands_the_lease_to_the_next() {
    let b = breaker(
        BreakerConfig::new()
            .failure_count(Some(1))
            .open_for(secs(1))
            .half_open(2, Some(2))
            .probe_timeout(Some(secs(10))),
    );
    call(&b, Nanos::ZERO, Outcome::Failure);
    let first = b.try_acquire(secs(1)).unwrap();
    let (second, _) = b.try_acquire_raw(secs(2));
    assert_eq!(first.record(Outcome::Success, secs(4)), None);
    // Now the second probe's lease, to 12 s, is in force: at 11.5 s it still reports in time.
    assert_eq!(
        b.record_raw(second.unwrap(), Outcome::Success, ms(11_500)),
        t(State::HalfOpen, State::Closed)
    );
}
