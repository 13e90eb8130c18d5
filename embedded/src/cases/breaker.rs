//! Circuit breaker: trip, open, half-open and close on a fake clock, generations, and the
//! open period's growth and jitter, whose exact values were computed on the host (the config's
//! `f32`s become fixed point at run time here, from their bits in integer arithmetic).

use core::hint::black_box;

use stanchion::breaker::{BreakerConfig, CircuitBreaker, Outcome, State, Transition, Window};
use stanchion::{Nanos, Reason};

/// Built by the `const fn` constructor, as firmware places a breaker.
static UPLINK: CircuitBreaker = match CircuitBreaker::new(
    BreakerConfig::new()
        .failure_count(None)
        .consecutive_failures(Some(3))
        .open_for(Nanos::from_secs(5)),
) {
    Ok(breaker) => breaker,
    Err(_) => panic!("invalid breaker config"),
};

fn secs(n: u64) -> Nanos {
    Nanos::from_secs(black_box(n))
}

fn ms(n: u64) -> Nanos {
    Nanos::from_millis(black_box(n))
}

/// A breaker built at run time, so its config is converted on the target.
fn breaker(config: BreakerConfig) -> CircuitBreaker {
    match CircuitBreaker::new(black_box(config)) {
        Ok(breaker) => breaker,
        Err(error) => panic!("invalid config: {error}"),
    }
}

/// One call admitted at `now` and reported at `now`.
fn call(breaker: &CircuitBreaker, now: Nanos, outcome: Outcome) -> Option<Transition> {
    match breaker.try_acquire(now) {
        Ok(permit) => permit.record(outcome, now),
        Err(refused) => panic!("refused at {now}: {refused}"),
    }
}

fn moved(from: State, to: State) -> Option<Transition> {
    Some(Transition { from, to })
}

tests! {
    fn a_static_breaker_trips_probes_and_closes() {
        let mut now = secs(100);
        assert_eq!(call(&UPLINK, now, Outcome::Failure), None);
        assert_eq!(
            call(&UPLINK, now, Outcome::Success),
            None,
            "a success breaks the streak"
        );
        assert_eq!(call(&UPLINK, now, Outcome::Failure), None);
        assert_eq!(call(&UPLINK, now, Outcome::Failure), None);
        assert_eq!(
            call(&UPLINK, now, Outcome::Failure),
            moved(State::Closed, State::Open)
        );
        let refused = UPLINK.try_acquire(now + ms(1_500)).unwrap_err();
        assert_eq!(
            (refused.reason, refused.retry_after),
            (Reason::BreakerOpen, Some(ms(3_500)))
        );
        now = now + secs(5);
        let probe = UPLINK.try_acquire(now).unwrap();
        assert_eq!(probe.transition(), moved(State::Open, State::HalfOpen));
        assert_eq!(
            UPLINK.try_acquire(now).unwrap_err().reason,
            Reason::HalfOpenFull
        );
        assert_eq!(
            probe.record(Outcome::Success, now + ms(10)),
            moved(State::HalfOpen, State::Closed)
        );
        let snapshot = UPLINK.snapshot(now + ms(10));
        assert_eq!(
            (snapshot.state, snapshot.generation, snapshot.window_calls),
            (State::Closed, 3, 0)
        );
        assert_eq!(
            (snapshot.calls, snapshot.failures, snapshot.successes),
            (6, 4, 2)
        );
        assert_eq!(
            (snapshot.rejected_open, snapshot.rejected_half_open_full),
            (1, 1)
        );
        assert_eq!(snapshot.transitions, 3);
    }

    fn advancing_by_retry_after_lets_a_probe_through_and_no_sooner() {
        let b = breaker(
            BreakerConfig::new()
                .failure_count(Some(1))
                .open_for(secs(7)),
        );
        assert_eq!(
            call(&b, secs(100), Outcome::Failure),
            moved(State::Closed, State::Open)
        );
        let refused = b.try_acquire(secs(103)).unwrap_err();
        assert_eq!(refused.retry_after, Some(secs(4)));
        let just_before = secs(107) - Nanos::new(1);
        assert_eq!(
            b.try_acquire(just_before).unwrap_err().retry_after,
            Some(Nanos::new(1))
        );
        assert_eq!(b.state(), State::Open);
        let probe = b
            .try_acquire(secs(103) + refused.retry_after.unwrap())
            .unwrap();
        assert_eq!(probe.transition(), moved(State::Open, State::HalfOpen));
        // The one probe slot is taken: the refusal names the lease's expiry (60 s by default).
        let full = b.try_acquire(secs(110)).unwrap_err();
        assert_eq!(
            (full.reason, full.retry_after),
            (Reason::HalfOpenFull, Some(secs(57)))
        );
        assert_eq!(
            probe.record(Outcome::Failure, secs(110)),
            moved(State::HalfOpen, State::Open)
        );
        assert_eq!(
            b.try_acquire(secs(110)).unwrap_err().retry_after,
            Some(secs(7))
        );
    }

    fn a_report_from_an_older_generation_changes_nothing() {
        let b = breaker(
            BreakerConfig::new()
                .failure_count(Some(1))
                .open_for(secs(1)),
        );
        let (early, _) = b.try_acquire_raw(Nanos::ZERO);
        let early = early.unwrap();
        assert_eq!(early.generation(), 0);
        assert_eq!(
            call(&b, Nanos::ZERO, Outcome::Failure),
            moved(State::Closed, State::Open)
        );
        let probe = b.try_acquire(secs(1)).unwrap();
        // The call from before the trip fails late, while the probe is out: no re-open, no count.
        assert_eq!(b.record_raw(early, Outcome::Failure, secs(1)), None);
        assert_eq!(b.release_raw(early, secs(1)), None);
        let snapshot = b.snapshot(secs(1));
        assert_eq!(
            (
                snapshot.state,
                snapshot.generation,
                snapshot.probes_in_flight
            ),
            (State::HalfOpen, 2, 1)
        );
        assert_eq!(snapshot.failures, 1);
        assert_eq!(
            probe.record(Outcome::Success, secs(1)),
            moved(State::HalfOpen, State::Closed)
        );
        // reset of a closed breaker reports nothing, yet makes older permits stale.
        let (old, _) = b.try_acquire_raw(secs(2));
        assert_eq!(b.reset(secs(3)), None);
        assert_eq!(b.record_raw(old.unwrap(), Outcome::Failure, secs(4)), None);
        assert_eq!(b.snapshot(secs(4)).window_failures, 0);
    }

    fn a_lost_probe_frees_its_slot_by_reopening() {
        let b = breaker(
            BreakerConfig::new()
                .failure_count(Some(1))
                .open_for(secs(1))
                .half_open(2, Some(2))
                .probe_timeout(Some(secs(10))),
        );
        call(&b, Nanos::ZERO, Outcome::Failure);
        let (lost, _) = b.try_acquire_raw(secs(1));
        let lost = lost.unwrap();
        let second = b.try_acquire(secs(2)).unwrap();
        assert_eq!(
            second.transition(),
            None,
            "only the first probe reports the transition"
        );
        let full = b.try_acquire(secs(3)).unwrap_err();
        assert_eq!(
            (full.reason, full.retry_after),
            (Reason::HalfOpenFull, Some(secs(8)))
        );
        assert_eq!(second.record(Outcome::Success, secs(4)), None);
        // At 11 s the first lease is overdue: a failed probe, and the breaker re-opens.
        let (refused, transition) = b.try_acquire_raw(secs(11));
        assert_eq!(transition, moved(State::HalfOpen, State::Open));
        assert_eq!(refused.unwrap_err().retry_after, Some(secs(1)));
        // Its success, arriving late, is stale.
        assert_eq!(b.record_raw(lost, Outcome::Success, secs(11)), None);
        assert_eq!(b.state(), State::Open);
    }

    fn rate_triggers_trip_at_the_rate_exactly() {
        // 0.1 is not exact in f32; it must still mean 1 failure in 10 calls on every target.
        let b = breaker(
            BreakerConfig::new()
                .failure_count(None)
                .failure_rate(Some(0.1))
                .minimum_calls(10)
                .window(Window::Count(10)),
        );
        for i in 0..9 {
            assert_eq!(call(&b, ms(i), Outcome::Success), None);
        }
        assert_eq!(
            call(&b, ms(9), Outcome::Failure),
            moved(State::Closed, State::Open)
        );
        // Stored as parts per million, read back as the same f32.
        assert_eq!(b.config().failure_rate, Some(0.1));

        // Slow calls: 2 slow in 4 is 50 %, at the rate; a call 1 ns under the duration is fast.
        let b = breaker(
            BreakerConfig::new()
                .failure_count(None)
                .slow_call(secs(1), 0.5)
                .minimum_calls(4),
        );
        let slow = |start: Nanos, took: Nanos| {
            b.try_acquire(start)
                .unwrap()
                .record(Outcome::Success, start + took)
        };
        assert_eq!(slow(ms(0), secs(1)), None);
        assert_eq!(slow(ms(10), secs(1) - Nanos::new(1)), None);
        assert_eq!(slow(ms(20), secs(2)), None);
        assert_eq!(b.snapshot(secs(3)).window_slow_calls, 2);
        assert_eq!(
            call(&b, secs(3), Outcome::Success),
            moved(State::Closed, State::Open)
        );
    }

    fn the_open_period_grows_and_its_jitter_is_the_same_on_every_target() {
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
            b.try_acquire(now).unwrap().record(Outcome::Failure, now);
        }

        // Growth by 1.5 with 25 % jitter, seed 42: the host's periods, to the nanosecond.
        let b = breaker(
            BreakerConfig::new()
                .failure_count(Some(1))
                .open_for(secs(1))
                .open_for_growth(secs(60), 1.5, 0.25)
                .seed(42),
        );
        call(&b, Nanos::ZERO, Outcome::Failure);
        let expected = [
            960_022_402,
            1_370_928_481,
            1_761_621_707,
            2_699_466_854,
            4_279_733_635,
            6_657_840_843,
            9_909_805_877,
            16_216_967_610,
        ];
        let mut now = Nanos::ZERO;
        for period in expected {
            let refused = b.try_acquire(now).unwrap_err();
            assert_eq!(refused.retry_after, Some(Nanos::new(period)));
            now = now + Nanos::new(period);
            b.try_acquire(now).unwrap().record(Outcome::Failure, now);
        }
        let snapshot = b.snapshot(now);
        assert_eq!((snapshot.generation, snapshot.consecutive_trips), (17, 9));

        // Jitter only shortens: 10 s with up to 50 % off, by seed.
        for (seed, period) in [(0, 7_842_360_015), (3, 6_498_532_432), (42, 9_200_448_036)] {
            let b = breaker(
                BreakerConfig::new()
                    .failure_count(Some(1))
                    .open_for(secs(10))
                    .open_for_growth(secs(10), 1.0, 0.5)
                    .seed(seed),
            );
            call(&b, Nanos::ZERO, Outcome::Failure);
            assert_eq!(
                b.try_acquire(Nanos::ZERO).unwrap_err().retry_after,
                Some(Nanos::new(period))
            );
        }
    }

    fn windows_count_exactly_across_words_and_buckets() {
        // A count window of 100 calls spans four of the breaker's words.
        let b = breaker(
            BreakerConfig::new()
                .failure_count(Some(100))
                .window(Window::Count(100)),
        );
        for i in 0..99 {
            assert_eq!(call(&b, ms(i), Outcome::Failure), None);
        }
        assert_eq!(b.snapshot(ms(99)).window_failures, 99);
        assert_eq!(
            call(&b, ms(99), Outcome::Failure),
            moved(State::Closed, State::Open)
        );

        // The default time window: 10 s in 1 s buckets.
        let b = breaker(BreakerConfig::new());
        for i in 0..4 {
            call(&b, secs(i), Outcome::Failure);
        }
        // At 12.5 s the window holds the buckets of seconds 3 to 12: one failure.
        assert_eq!(b.snapshot(ms(12_500)).window_failures, 1);
        for i in 0..3 {
            assert_eq!(call(&b, ms(12_500 + i), Outcome::Failure), None);
        }
        assert_eq!(
            call(&b, ms(12_600), Outcome::Failure),
            moved(State::Closed, State::Open)
        );
    }

    fn overrides_start_new_generations() {
        let b = breaker(BreakerConfig::new().failure_count(Some(1)));
        let (before, _) = b.try_acquire_raw(Nanos::ZERO);
        assert_eq!(
            b.force_open(Nanos::ZERO),
            moved(State::Closed, State::ForcedOpen)
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
        assert_eq!(
            b.disable(secs(2)),
            moved(State::ForcedOpen, State::Disabled)
        );
        for i in 0..5 {
            assert_eq!(
                call(&b, secs(2 + i), Outcome::Failure),
                None,
                "disabled never trips"
            );
        }
        assert_eq!(b.snapshot(secs(7)).window_failures, 5);
        assert_eq!(b.reset(secs(8)), moved(State::Disabled, State::Closed));
        assert_eq!(b.snapshot(secs(8)).window_calls, 0);
        assert_eq!(
            call(&b, secs(8), Outcome::Failure),
            moved(State::Closed, State::Open)
        );
        assert_eq!(b.snapshot(secs(8)).generation, 4);
    }

    fn time_zero_the_end_of_time_and_time_going_backwards() {
        let b = breaker(BreakerConfig::new().failure_count(Some(1)));
        assert_eq!(call(&b, Nanos::ZERO, Outcome::Success), None);
        let late = Nanos::MAX - Nanos::new(5);
        assert_eq!(
            call(&b, late, Outcome::Failure),
            moved(State::Closed, State::Open)
        );
        // open_until saturates at the end of time instead of wrapping into the past.
        assert_eq!(
            b.try_acquire(Nanos::MAX - Nanos::new(1))
                .unwrap_err()
                .retry_after,
            Some(Nanos::new(1))
        );
        assert_eq!(b.snapshot(Nanos::MAX).open_until, Some(Nanos::MAX));
        assert!(b.try_acquire(Nanos::MAX).is_ok());

        // An older `now` is counted in the newest bucket; deadlines count from the `now` given.
        let b = breaker(BreakerConfig::new().failure_count(Some(3)));
        call(&b, secs(20), Outcome::Failure);
        call(&b, secs(5), Outcome::Failure);
        assert_eq!(b.snapshot(secs(20)).window_failures, 2);
        assert_eq!(
            call(&b, Nanos::ZERO, Outcome::Failure),
            moved(State::Closed, State::Open)
        );
        assert_eq!(
            b.try_acquire(secs(1)).unwrap_err().retry_after,
            Some(secs(29))
        );
    }

    fn invalid_configs_name_the_field() {
        let too_big =
            CircuitBreaker::<10>::new(black_box(BreakerConfig::new().window(Window::Count(1_000))));
        assert_eq!(too_big.err().map(|error| error.field), Some("window"));
        assert!(CircuitBreaker::<32>::new(black_box(
            BreakerConfig::new().window(Window::Count(1_000))
        ))
        .is_ok());
        let rate = BreakerConfig::new().failure_rate(Some(black_box(1.5)));
        assert_eq!(
            rate.validate().map_err(|error| error.field),
            Err("failure_rate")
        );
        assert_eq!(core::mem::size_of::<CircuitBreaker>(), 344);
    }
}
