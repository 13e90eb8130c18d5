//! Behaviour of the token bucket, driven by a fake clock (plain `Nanos` values).

use stanchion::{ConfigError, Nanos, Reason, Rejected, TokenBucket, TokenBucketConfig};

const SECOND: u64 = 1_000_000_000;
const HOUR: u64 = 3600 * SECOND;

fn new_bucket(capacity: u32, amount: u32, every: u64) -> TokenBucket {
    TokenBucket::new(TokenBucketConfig::new(capacity).refill(amount, Nanos::new(every))).unwrap()
}

fn ns(n: u64) -> Nanos {
    Nanos::new(n)
}

fn rate_limited(after: u64) -> Rejected {
    Rejected::new(Reason::RateLimited, Some(ns(after)))
}

/// Drains the bucket at `now` one token at a time and returns how many it gave.
fn drain(bucket: &TokenBucket, now: Nanos) -> u64 {
    let mut taken = 0;
    while bucket.try_acquire(1, now).is_ok() {
        taken += 1;
    }
    taken
}

#[test]
fn a_new_bucket_is_full_at_any_time() {
    for now in [0, 1, SECOND, u64::MAX / 2, u64::MAX - 1, u64::MAX] {
        let bucket = new_bucket(5, 1, SECOND);
        assert_eq!(bucket.available(ns(now)), 5);
        assert_eq!(drain(&bucket, ns(now)), 5, "at {now}");
    }
}

#[test]
fn grants_up_to_capacity_then_refuses_and_says_when() {
    let bucket = new_bucket(3, 1, SECOND);
    let now = ns(10 * SECOND);
    assert_eq!(bucket.try_acquire(2, now), Ok(()));
    assert_eq!(bucket.try_acquire(1, now), Ok(()));
    assert_eq!(bucket.try_acquire(1, now), Err(rate_limited(SECOND)));
    assert_eq!(bucket.try_acquire(3, now), Err(rate_limited(3 * SECOND)));
    assert_eq!(
        bucket.try_acquire(1, now + ns(SECOND - 1)),
        Err(rate_limited(1))
    );
    assert_eq!(bucket.try_acquire(1, now + ns(SECOND)), Ok(()));
}

#[test]
fn advancing_by_retry_after_makes_the_same_call_pass_and_no_sooner() {
    let configs = [
        (1, 1, 1),
        (3, 1, SECOND),
        (10, 7, 10),
        (5, 1, 3 * SECOND),
        (4, 3, 1000),
    ];
    for (capacity, amount, every) in configs {
        for n in 1..=capacity {
            let bucket = new_bucket(capacity, amount, every);
            let mut now = ns(12_345);
            // Leave the bucket in many partial states and check the promise from each.
            for step in 0..50u64 {
                match bucket.try_acquire(n, now) {
                    Ok(()) => now = now + ns(step % 3),
                    Err(refused) => {
                        assert_eq!(refused.reason, Reason::RateLimited);
                        let after = refused.retry_after.unwrap();
                        assert!(after > Nanos::ZERO);
                        let sooner = now + after - ns(1);
                        assert!(
                            bucket.try_acquire(n, sooner).is_err(),
                            "passed before retry_after"
                        );
                        now = now + after;
                        assert_eq!(
                            bucket.try_acquire(n, now),
                            Ok(()),
                            "{capacity} {amount}/{every} n={n}"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn zero_tokens_always_pass_and_take_nothing() {
    let bucket = new_bucket(2, 1, SECOND);
    assert_eq!(bucket.try_acquire(2, Nanos::ZERO), Ok(()));
    assert_eq!(bucket.try_acquire(0, Nanos::ZERO), Ok(()));
    assert_eq!(bucket.reserve(0, ns(5), Nanos::ZERO), Ok(ns(5)));
    assert_eq!(
        bucket.reserve(2, Nanos::ZERO, ns(10 * SECOND)),
        Ok(ns(2 * SECOND))
    );
    // Even behind a queue of reservations, zero tokens do not wait.
    assert_eq!(bucket.reserve(0, Nanos::ZERO, Nanos::ZERO), Ok(Nanos::ZERO));
    assert_eq!(bucket.try_acquire(0, Nanos::ZERO), Ok(()));
    assert_eq!(bucket.snapshot(Nanos::ZERO).full_at, ns(4 * SECOND));
}

#[test]
fn more_than_capacity_can_never_pass_and_takes_nothing() {
    let bucket = new_bucket(4, 1, SECOND);
    let never = Rejected::new(Reason::InsufficientCapacity, None);
    assert_eq!(bucket.try_acquire(5, Nanos::ZERO), Err(never));
    assert_eq!(bucket.try_acquire(u32::MAX, Nanos::ZERO), Err(never));
    assert_eq!(bucket.reserve(5, Nanos::ZERO, Nanos::MAX), Err(never));
    assert_eq!(bucket.available(Nanos::ZERO), 4);
    assert_eq!(bucket.try_acquire(4, Nanos::ZERO), Ok(()));
}

#[test]
fn a_refusal_takes_nothing() {
    let bucket = new_bucket(3, 1, SECOND);
    bucket.try_acquire(2, Nanos::ZERO).unwrap();
    let before = bucket.snapshot(Nanos::ZERO);
    assert!(bucket.try_acquire(2, Nanos::ZERO).is_err());
    assert!(bucket.reserve(3, Nanos::ZERO, ns(SECOND)).is_err());
    assert_eq!(bucket.snapshot(Nanos::ZERO), before);
    assert_eq!(bucket.try_acquire(1, Nanos::ZERO), Ok(()));
}

#[test]
fn one_token_per_three_seconds_is_exact() {
    let bucket = new_bucket(100, 1, 3 * SECOND);
    let start = ns(7);
    assert_eq!(drain(&bucket, start), 100);
    for k in 1..=50u64 {
        let arrival = start + ns(3 * SECOND * k);
        assert_eq!(bucket.try_acquire(1, arrival - ns(1)), Err(rate_limited(1)));
        assert_eq!(bucket.try_acquire(1, arrival), Ok(()));
    }
}

#[test]
fn seven_tokens_per_ten_nanoseconds_is_exact() {
    // An emission interval of 10/7 ns: no whole number of nanoseconds would do.
    let bucket = new_bucket(1000, 7, 10);
    assert_eq!(drain(&bucket, Nanos::ZERO), 1000);
    for t in 0..=1400u64 {
        assert_eq!(bucket.available(ns(t)), (7 * t / 10).min(1000), "at {t} ns");
    }

    // Polled every nanosecond, a drained bucket grants exactly 7 per 10 ns, forever.
    let bucket = new_bucket(10, 7, 10);
    assert_eq!(drain(&bucket, Nanos::ZERO), 10);
    let mut granted = 0u64;
    for t in 1..=10_000u64 {
        if bucket.try_acquire(1, ns(t)).is_ok() {
            granted += 1;
        }
        assert_eq!(granted, 7 * t / 10, "at {t} ns");
    }
}

#[test]
fn a_billion_per_second_is_one_per_nanosecond() {
    let bucket = new_bucket(1, 1_000_000_000, SECOND);
    for t in 0..1000 {
        assert_eq!(bucket.try_acquire(1, ns(t)), Ok(()));
        assert_eq!(bucket.try_acquire(1, ns(t)), Err(rate_limited(1)));
    }
    // The same rate written another way, with a burst.
    let bucket = new_bucket(1000, 1000, 1000);
    assert_eq!(drain(&bucket, Nanos::ZERO), 1000);
    assert_eq!(bucket.available(ns(999)), 999);
}

#[test]
fn just_under_a_billion_per_second_is_exact() {
    // 999 999 999 per second: an interval of 1.000000001 ns, whose fraction adds up to one
    // whole token over a second.
    let bucket = new_bucket(u32::MAX, 999_999_999, SECOND);
    assert_eq!(bucket.try_acquire(u32::MAX, Nanos::ZERO), Ok(()));
    assert_eq!(bucket.available(ns(1)), 0);
    assert_eq!(bucket.available(ns(2)), 1);
    assert_eq!(bucket.available(ns(1000)), 999);
    assert_eq!(bucket.available(ns(SECOND - 1)), 999_999_998);
    assert_eq!(bucket.available(ns(SECOND)), 999_999_999);
    assert_eq!(bucket.available(ns(4 * SECOND)), 3_999_999_996);
    assert_eq!(bucket.available(ns(5 * SECOND)), u32::MAX as u64);
}

#[test]
fn one_token_per_hour_is_exact() {
    let bucket = new_bucket(2, 1, HOUR);
    let start = ns(HOUR);
    assert_eq!(drain(&bucket, start), 2);
    assert_eq!(
        bucket.try_acquire(1, start + ns(HOUR - 1)),
        Err(rate_limited(1))
    );
    assert_eq!(bucket.try_acquire(1, start + ns(HOUR)), Ok(()));
    assert_eq!(
        bucket.try_acquire(2, start + ns(HOUR)),
        Err(rate_limited(2 * HOUR))
    );
    assert_eq!(bucket.available(start + ns(4 * HOUR)), 2);
}

#[test]
fn slow_rates_with_large_bursts_stay_exact_across_many_refills() {
    // 1 per hour: each token moves the state across the boundary of its high word.
    let bucket = new_bucket(1000, 1, HOUR);
    let now = ns(5);
    assert_eq!(drain(&bucket, now), 1000);
    for k in 1..=200u64 {
        assert_eq!(bucket.available(now + ns(k * HOUR) - ns(1)), k - 1);
        assert_eq!(bucket.available(now + ns(k * HOUR)), k);
    }
    assert_eq!(bucket.try_acquire(200, now + ns(200 * HOUR)), Ok(()));
    assert_eq!(bucket.available(now + ns(200 * HOUR)), 0);
}

#[test]
fn reserve_takes_tokens_now_and_says_when_to_proceed() {
    let bucket = new_bucket(2, 1, SECOND);
    let wait = ns(10 * SECOND);
    assert_eq!(bucket.reserve(2, Nanos::ZERO, wait), Ok(Nanos::ZERO));
    assert_eq!(bucket.reserve(1, Nanos::ZERO, wait), Ok(ns(SECOND)));
    assert_eq!(bucket.reserve(2, ns(SECOND / 2), wait), Ok(ns(3 * SECOND)));
    assert_eq!(bucket.available(ns(3 * SECOND)), 0);
    assert_eq!(bucket.available(ns(4 * SECOND)), 1);
}

#[test]
fn reservations_are_served_in_the_order_made() {
    let bucket = new_bucket(3, 7, 10 * SECOND);
    let mut last = Nanos::ZERO;
    let mut now = Nanos::ZERO;
    for i in 0..200u64 {
        let n = (i % 3 + 1) as u32;
        let ready = bucket.reserve(n, now, Nanos::MAX).unwrap();
        assert!(ready >= last && ready >= now);
        last = ready;
        now = now + ns(i * 1_000_003 % 900_000_000);
    }
}

#[test]
fn a_reservation_beyond_max_wait_is_refused_takes_nothing_and_says_when_it_would_fit() {
    let bucket = new_bucket(1, 1, SECOND);
    let max_wait = ns(2 * SECOND);
    for expected in [0, 1, 2] {
        assert_eq!(
            bucket.reserve(1, Nanos::ZERO, max_wait),
            Ok(ns(expected * SECOND))
        );
    }
    let refused = bucket.reserve(1, Nanos::ZERO, max_wait).unwrap_err();
    assert_eq!(refused, rate_limited(SECOND));
    assert_eq!(bucket.snapshot(Nanos::ZERO).full_at, ns(3 * SECOND));
    // Not a nanosecond sooner; then exactly within max_wait.
    assert!(bucket.reserve(1, ns(SECOND - 1), max_wait).is_err());
    assert_eq!(bucket.reserve(1, ns(SECOND), max_wait), Ok(ns(3 * SECOND)));
}

#[test]
fn reserved_tokens_hold_off_try_acquire_until_served() {
    let bucket = new_bucket(2, 1, SECOND);
    assert_eq!(bucket.reserve(2, Nanos::ZERO, Nanos::MAX), Ok(Nanos::ZERO));
    assert_eq!(
        bucket.reserve(2, Nanos::ZERO, Nanos::MAX),
        Ok(ns(2 * SECOND))
    );
    assert_eq!(
        bucket.try_acquire(1, ns(SECOND)),
        Err(rate_limited(2 * SECOND))
    );
    assert_eq!(bucket.try_acquire(1, ns(3 * SECOND)), Ok(()));
}

#[test]
fn a_full_burst_reservation_never_overlaps_the_one_before() {
    // At 7 per 10 ns a capacity-1 bucket cannot keep whole-nanosecond proceed times 10/7 ns
    // apart, so each waiting reservation gives up the fraction instead of crowding the last.
    let bucket = new_bucket(1, 7, 10);
    let readies: Vec<u64> = (0..5)
        .map(|_| {
            bucket
                .reserve(1, Nanos::ZERO, Nanos::MAX)
                .unwrap()
                .as_nanos()
        })
        .collect();
    assert_eq!(readies, [0, 2, 4, 6, 8]);
    // With room to spare, reservations keep the exact rate.
    let bucket = new_bucket(10, 7, 10);
    assert_eq!(drain(&bucket, Nanos::ZERO), 10);
    let last = (0..70)
        .map(|_| bucket.reserve(1, Nanos::ZERO, Nanos::MAX).unwrap())
        .last();
    assert_eq!(last, Some(ns(100)));
}

#[test]
fn available_is_never_negative() {
    let bucket = new_bucket(2, 1, SECOND);
    for _ in 0..5 {
        bucket.reserve(2, Nanos::ZERO, Nanos::MAX).unwrap();
    }
    assert_eq!(bucket.available(Nanos::ZERO), 0);
    assert_eq!(bucket.available(ns(8 * SECOND)), 0);
    assert_eq!(bucket.available(ns(9 * SECOND)), 1);
    let snapshot = bucket.snapshot(ns(SECOND));
    assert_eq!(snapshot.available, 0);
    assert_eq!(snapshot.next_token_at, Some(ns(9 * SECOND)));
    assert_eq!(snapshot.full_at, ns(10 * SECOND));
}

#[test]
fn snapshot_reports_tokens_next_refill_and_when_full() {
    let bucket = new_bucket(4, 1, 3 * SECOND);
    let snapshot = bucket.snapshot(ns(1));
    assert_eq!((snapshot.available, snapshot.capacity), (4, 4));
    assert_eq!((snapshot.next_token_at, snapshot.full_at), (None, ns(1)));
    bucket.try_acquire(3, ns(1)).unwrap();
    let snapshot = bucket.snapshot(ns(1 + SECOND));
    assert_eq!(snapshot.available, 1);
    assert_eq!(snapshot.next_token_at, Some(ns(1 + 3 * SECOND)));
    assert_eq!(snapshot.full_at, ns(1 + 9 * SECOND));
}

#[test]
fn time_going_backwards_refills_nothing_and_corrupts_nothing() {
    let bucket = new_bucket(2, 1, SECOND);
    let now = ns(100 * SECOND);
    assert_eq!(bucket.try_acquire(2, now), Ok(()));
    // An older clock sees the bucket as it was at 100 s, and is told to wait relative to its
    // own now.
    let earlier = ns(50 * SECOND);
    assert_eq!(bucket.available(earlier), 0);
    let refused = bucket.try_acquire(1, earlier).unwrap_err();
    assert_eq!(refused, rate_limited(51 * SECOND));
    assert_eq!(
        bucket.try_acquire(1, earlier + refused.retry_after.unwrap()),
        Ok(())
    );
    // The present is unharmed: the grant above used the token due at 101 s.
    assert_eq!(
        bucket.try_acquire(1, ns(101 * SECOND)),
        Err(rate_limited(SECOND))
    );
    assert_eq!(bucket.try_acquire(1, ns(102 * SECOND)), Ok(()));
    assert_eq!(
        bucket.try_acquire(2, Nanos::ZERO).unwrap_err().reason,
        Reason::RateLimited
    );
    assert_eq!(bucket.available(ns(104 * SECOND)), 2);
}

#[test]
fn an_older_now_sees_the_bucket_as_at_the_newest_grant() {
    let bucket = new_bucket(10, 1, SECOND);
    assert_eq!(bucket.try_acquire(1, ns(10 * SECOND)), Ok(()));
    for earlier in [10 * SECOND - 1, 5 * SECOND, 0] {
        assert_eq!(bucket.available(ns(earlier)), 9, "at {earlier}");
    }
    assert_eq!(bucket.try_acquire(5, ns(5 * SECOND)), Ok(()));
    // The 5 came out of the 9 that 10 s left: no time passed for them.
    assert_eq!(bucket.available(ns(10 * SECOND)), 4);
    let snapshot = bucket.snapshot(ns(5 * SECOND));
    assert_eq!(snapshot.available, 4);
    // Instants are on the caller's clock: `available` first grows when it reads 11 s.
    assert_eq!(snapshot.next_token_at, Some(ns(11 * SECOND)));
    assert_eq!(snapshot.full_at, ns(16 * SECOND));
    assert_eq!(bucket.available(ns(11 * SECOND) - ns(1)), 4);
    assert_eq!(bucket.available(ns(11 * SECOND)), 5);
}

#[test]
fn a_clock_that_steps_back_keeps_the_rest_of_the_burst() {
    // 100 per second, a burst of 100: 10 taken, then the clock steps back an hour.
    let bucket = new_bucket(100, 100, SECOND);
    let now = ns(2 * HOUR);
    assert_eq!(bucket.try_acquire(10, now), Ok(()));
    let stepped_back = now - ns(HOUR);
    assert_eq!(drain(&bucket, stepped_back), 90);
    // Spent: the next token comes 10 ms after 2 h, which that clock reaches in an hour and 10 ms.
    assert_eq!(
        bucket.try_acquire(1, stepped_back),
        Err(rate_limited(HOUR + SECOND / 100))
    );
    assert_eq!(bucket.try_acquire(1, now + ns(SECOND / 100)), Ok(()));
}

#[test]
fn a_reservation_at_an_older_now_waits_from_that_now() {
    let bucket = new_bucket(2, 1, SECOND);
    let now = ns(100 * SECOND);
    assert_eq!(bucket.try_acquire(2, now), Ok(()));
    // At 100 s the next token is a second away, so a caller whose clock reads 50 s waits a
    // second from there.
    let earlier = ns(50 * SECOND);
    assert_eq!(
        bucket.reserve(1, earlier, ns(2 * SECOND)),
        Ok(ns(51 * SECOND))
    );
    // The one after is two seconds away, half a second past max_wait: the same reservation fits
    // once that clock is half a second past 100 s.
    let max_wait = ns(3 * SECOND / 2);
    let refused = bucket.reserve(1, earlier, max_wait).unwrap_err();
    assert_eq!(refused, rate_limited(50 * SECOND + SECOND / 2));
    let later = earlier + refused.retry_after.unwrap();
    assert!(bucket.reserve(1, later - ns(1), max_wait).is_err());
    assert_eq!(bucket.reserve(1, later, max_wait), Ok(ns(102 * SECOND)));
}

#[test]
fn only_grants_move_the_time_an_older_now_is_taken_as() {
    let bucket = new_bucket(3, 1, SECOND);
    assert_eq!(bucket.try_acquire(3, ns(10 * SECOND)), Ok(()));
    // A refusal and reads take nothing, so an older now is still taken as 10 s...
    assert!(bucket.try_acquire(3, ns(12 * SECOND)).is_err());
    assert_eq!(bucket.available(ns(12 * SECOND)), 2);
    assert_eq!(bucket.available(ns(11 * SECOND)), 1);
    // ...until a grant at 12 s.
    assert_eq!(bucket.try_acquire(1, ns(12 * SECOND)), Ok(()));
    assert_eq!(bucket.available(ns(11 * SECOND)), 1);
    assert_eq!(bucket.available(ns(13 * SECOND)), 2);
}

#[test]
fn works_at_time_zero_and_at_the_end_of_time() {
    let bucket = new_bucket(2, 1, SECOND);
    assert_eq!(bucket.try_acquire(2, Nanos::ZERO), Ok(()));
    assert_eq!(
        bucket.try_acquire(1, Nanos::ZERO),
        Err(rate_limited(SECOND))
    );

    let bucket = new_bucket(2, 1, SECOND);
    let end = Nanos::MAX;
    assert_eq!(bucket.try_acquire(2, end - ns(SECOND)), Ok(()));
    assert_eq!(bucket.try_acquire(1, end - ns(1)), Err(rate_limited(1)));
    assert_eq!(bucket.try_acquire(1, end), Ok(()));
    // The next token would come after the last representable nanosecond.
    let refused = bucket.try_acquire(1, end).unwrap_err();
    assert_eq!(refused, Rejected::new(Reason::RateLimited, None));
    assert_eq!(bucket.reserve(1, end, Nanos::MAX), Err(refused));
    assert_eq!(bucket.available(end), 0);
    assert_eq!(bucket.snapshot(end).full_at, Nanos::MAX);
}

#[test]
fn a_bucket_is_40_bytes() {
    assert_eq!(core::mem::size_of::<TokenBucket>(), 40);
}

#[test]
fn every_invalid_config_field_is_named() {
    let valid = TokenBucketConfig::new(1);
    let cases = [
        (TokenBucketConfig::new(0), "capacity"),
        (valid.refill(0, Nanos::from_secs(1)), "refill_amount"),
        (valid.refill(1, Nanos::ZERO), "refill_every"),
        (valid.refill(11, ns(10)), "refill_amount"),
        (
            valid.refill(u32::MAX, ns(u32::MAX as u64 - 1)),
            "refill_amount",
        ),
    ];
    for (config, field) in cases {
        let error: ConfigError = config.validate().unwrap_err();
        assert_eq!(error.field, field);
        assert!(!error.allowed.is_empty());
        assert_eq!(TokenBucket::new(config).unwrap_err(), error);
    }
}

#[test]
fn extreme_valid_configs_work() {
    for config in [
        TokenBucketConfig::new(u32::MAX).refill(1, Nanos::MAX),
        TokenBucketConfig::new(u32::MAX).refill(u32::MAX, ns(u32::MAX as u64)),
        TokenBucketConfig::new(1).refill(u32::MAX, Nanos::MAX),
        TokenBucketConfig::new(u32::MAX).refill(999_999_937, ns(999_999_999)),
    ] {
        let bucket = TokenBucket::new(config).unwrap();
        assert_eq!(bucket.try_acquire(config.capacity, Nanos::ZERO), Ok(()));
        assert_eq!(bucket.available(Nanos::ZERO), 0);
        let refused = bucket.try_acquire(1, Nanos::ZERO).unwrap_err();
        assert_eq!(refused.reason, Reason::RateLimited);
        if let Some(after) = refused.retry_after {
            assert_eq!(bucket.try_acquire(1, after), Ok(()));
        }
    }
}

#[test]
fn the_config_reads_back_in_lowest_terms() {
    let bucket = new_bucket(9, 1_000, 3_000);
    assert_eq!(bucket.config(), TokenBucketConfig::new(9).refill(1, ns(3)));
    let bucket = new_bucket(9, 7, 10);
    assert_eq!(bucket.config(), TokenBucketConfig::new(9).refill(7, ns(10)));
}

static SHARED: TokenBucket =
    match TokenBucket::new(TokenBucketConfig::new(1000).refill(1, Nanos::from_secs(1))) {
        Ok(bucket) => bucket,
        Err(_) => panic!("invalid config"),
    };

#[test]
fn racing_threads_at_one_instant_get_exactly_the_burst() {
    let granted: u64 = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                scope.spawn(|| {
                    (0..1000)
                        .filter(|_| SHARED.try_acquire(1, ns(SECOND)).is_ok())
                        .count() as u64
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().unwrap())
            .sum()
    });
    assert_eq!(granted, 1000);
    assert_eq!(SHARED.available(ns(SECOND)), 0);
}

#[test]
fn racing_threads_with_their_own_clocks_never_exceed_the_bound() {
    // Four threads, each with a clock that advances differently; grants are checked against
    // capacity + rate × (latest - earliest now).
    let bucket = new_bucket(50, 3, 1000);
    let results: Vec<Vec<(u64, u32)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4u64)
            .map(|thread| {
                let bucket = &bucket;
                scope.spawn(move || {
                    let mut grants = Vec::new();
                    for i in 0..2000u64 {
                        let now = i * (thread + 1) * 7;
                        let n = (i % 3 + 1) as u32;
                        if bucket.try_acquire(n, ns(now)).is_ok() {
                            grants.push((now, n));
                        }
                    }
                    grants
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().unwrap())
            .collect()
    });
    let all: Vec<(u64, u32)> = results.into_iter().flatten().collect();
    let total: u64 = all.iter().map(|&(_, n)| n as u64).sum();
    let latest = all.iter().map(|&(t, _)| t).max().unwrap();
    assert!(
        total * 1000 <= 50 * 1000 + latest * 3,
        "{total} tokens by {latest} ns"
    );
}
