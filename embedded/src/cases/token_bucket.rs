//! Token bucket (GCRA): grants, refusals with the exact `retry_after`, reservations, and
//! fractional rates kept exact in `u128` arithmetic, which 32-bit cores do in software.

use core::hint::black_box;

use stanchion::{Nanos, Reason, Rejected, TokenBucket, TokenBucketConfig, TokenBucketSnapshot};

/// Bursts of up to 10, refilled at 1 token per 3 seconds; built by the `const fn` constructor.
static UPLINK: TokenBucket =
    match TokenBucket::new(TokenBucketConfig::new(10).refill(1, Nanos::from_secs(3))) {
        Ok(bucket) => bucket,
        Err(_) => panic!("invalid token bucket config"),
    };

fn ns(n: u64) -> Nanos {
    Nanos::new(black_box(n))
}

/// A bucket built at run time: `capacity`, refilled with `amount` tokens every `every` ns.
fn bucket(capacity: u32, amount: u32, every: u64) -> TokenBucket {
    let config = TokenBucketConfig::new(capacity).refill(amount, Nanos::new(every));
    match TokenBucket::new(black_box(config)) {
        Ok(bucket) => bucket,
        Err(error) => panic!("invalid config: {error}"),
    }
}

fn rate_limited(after: u64) -> Result<(), Rejected> {
    Err(Rejected::new(Reason::RateLimited, Some(Nanos::new(after))))
}

tests! {
    fn a_static_bucket_grants_the_burst_then_says_when() {
        let now = Nanos::from_secs(black_box(100));
        assert_eq!(UPLINK.available(now), 10);
        assert_eq!(UPLINK.try_acquire(10, now), Ok(()));
        let refused = UPLINK.try_acquire(2, now).unwrap_err();
        assert_eq!(refused.reason, Reason::RateLimited);
        assert_eq!(refused.retry_after, Some(Nanos::from_secs(6)));
        assert_eq!(
            UPLINK.try_acquire(2, now + Nanos::from_secs(6) - Nanos::new(1)),
            rate_limited(1)
        );
        assert_eq!(UPLINK.try_acquire(2, now + Nanos::from_secs(6)), Ok(()));
        assert_eq!(
            UPLINK.snapshot(now + Nanos::from_secs(7)),
            TokenBucketSnapshot {
                available: 0,
                capacity: 10,
                next_token_at: Some(now + Nanos::from_secs(9)),
                full_at: now + Nanos::from_secs(36),
            }
        );
    }

    fn seven_tokens_every_ten_nanoseconds_are_exact() {
        let b = bucket(1, 7, 10);
        assert_eq!(b.try_acquire(1, ns(0)), Ok(()));
        // The interval is 10/7 ns: rounded up, never early.
        assert_eq!(b.try_acquire(1, ns(0)), rate_limited(2));
        assert_eq!(b.try_acquire(1, ns(2)), Ok(()));
        // A big bucket emptied at 0 refills exactly 7 tokens per 10 ns, with no drift.
        let b = bucket(1_000, 7, 10);
        assert_eq!(b.try_acquire(1_000, ns(0)), Ok(()));
        assert_eq!(b.available(ns(1_000)), 700);
        assert_eq!(b.available(ns(1_001)), 700);
        assert_eq!(b.available(ns(1_002)), 701);
        assert_eq!(b.try_acquire(701, ns(1_002)), Ok(()));
        assert_eq!(b.try_acquire(1, ns(1_002)), rate_limited(1));
    }

    fn one_token_every_three_seconds_stays_exact_for_years() {
        let b = bucket(3, 1, 3_000_000_000);
        let start = Nanos::from_secs(black_box(1_000_000_000)); // about 31.7 years
        assert_eq!(b.try_acquire(3, start), Ok(()));
        assert_eq!(b.available(start + Nanos::from_secs(3) - Nanos::new(1)), 0);
        assert_eq!(b.available(start + Nanos::from_secs(3)), 1);
        assert_eq!(b.available(start + Nanos::from_secs(9)), 3);
        assert_eq!(
            b.available(start + Nanos::from_secs(9_000)),
            3,
            "never above capacity"
        );
        assert_eq!(
            b.config(),
            TokenBucketConfig::new(3).refill(1, Nanos::from_secs(3))
        );
        // A rate given in other terms is kept in lowest terms.
        assert_eq!(
            bucket(5, 10, 20).config(),
            TokenBucketConfig::new(5).refill(1, Nanos::new(2))
        );
    }

    fn a_rate_of_almost_a_billion_per_second_crosses_the_high_word() {
        // 999 999 999 per second: time is kept in units of 1/999 999 999 ns, so an hour is far
        // past the 2^40 units the CAS word holds, and the high word takes the rest.
        let b = bucket(1_000, 999_999_999, 1_000_000_000);
        let t = Nanos::from_secs(black_box(3_600));
        assert_eq!(b.try_acquire(1_000, t), Ok(()));
        assert_eq!(b.try_acquire(1, t), rate_limited(2));
        assert_eq!(b.available(t + ns(1_000)), 999);
        assert_eq!(
            b.snapshot(t + ns(123)),
            TokenBucketSnapshot {
                available: 122,
                capacity: 1_000,
                next_token_at: Some(t + ns(124)),
                full_at: t + ns(1_001),
            }
        );
        assert_eq!(
            b.reserve(500, t + ns(1_000), Nanos::from_millis(1)),
            Ok(t + ns(1_000))
        );
        assert_eq!(b.snapshot(t + ns(1_000)).available, 499);
        assert_eq!(b.snapshot(t + ns(1_000)).full_at, t + ns(1_501));
    }

    fn advancing_by_retry_after_makes_the_same_call_pass() {
        for (amount, every) in [
            (1, 3_000_000_000),
            (7, 10),
            (3, 1_000),
            (999_999_999, 1_000_000_000),
        ] {
            let b = bucket(5, amount, every);
            let mut now = ns(1_000);
            for n in [5, 1, 3, 5, 2, 4] {
                match b.try_acquire(n, now) {
                    Ok(()) => {}
                    Err(refused) => {
                        assert_eq!(refused.reason, Reason::RateLimited);
                        let after = refused.retry_after.unwrap();
                        assert!(after > Nanos::ZERO);
                        assert_eq!(
                            b.try_acquire(n, now + after - Nanos::new(1))
                                .map_err(|r| r.reason),
                            Err(Reason::RateLimited)
                        );
                        now = now + after;
                        assert_eq!(b.try_acquire(n, now), Ok(()));
                    }
                }
            }
        }
    }

    fn reservations_queue_in_order_within_max_wait() {
        let b = bucket(1, 1, 1_000_000_000);
        let max_wait = Nanos::from_secs(2);
        assert_eq!(b.reserve(1, ns(0), max_wait), Ok(Nanos::ZERO));
        assert_eq!(b.reserve(1, ns(0), max_wait), Ok(Nanos::from_secs(1)));
        assert_eq!(b.reserve(1, ns(0), max_wait), Ok(Nanos::from_secs(2)));
        // Beyond max_wait: refused, takes nothing, and says how much later it would fit.
        let refused = b.reserve(1, ns(0), max_wait).unwrap_err();
        assert_eq!(
            (refused.reason, refused.retry_after),
            (Reason::RateLimited, Some(Nanos::from_secs(1)))
        );
        assert_eq!(
            b.reserve(1, Nanos::from_secs(1), max_wait),
            Ok(Nanos::from_secs(3))
        );
        // Available is never negative while reservations are out.
        assert_eq!(b.available(Nanos::from_secs(1)), 0);
        assert_eq!(b.reserve(0, ns(5), max_wait), Ok(ns(5)));
    }

    fn zero_and_too_many_tokens() {
        let b = bucket(4, 1, 1_000_000_000);
        assert_eq!(b.try_acquire(0, ns(0)), Ok(()));
        assert_eq!(
            b.try_acquire(5, ns(0)),
            Err(Rejected::new(Reason::InsufficientCapacity, None))
        );
        assert_eq!(
            b.reserve(5, ns(0), Nanos::MAX),
            Err(Rejected::new(Reason::InsufficientCapacity, None))
        );
        assert_eq!(b.available(ns(0)), 4, "refusals take nothing");
        assert_eq!(
            TokenBucketConfig::new(0).validate().map_err(|e| e.field),
            Err("capacity")
        );
        let too_fast = TokenBucketConfig::new(1).refill(2, ns(1));
        assert_eq!(
            too_fast.validate().map_err(|e| e.field),
            Err("refill_amount")
        );
        assert!(
            TokenBucket::new(black_box(TokenBucketConfig::new(1).refill(1, Nanos::ZERO))).is_err()
        );
        assert_eq!(core::mem::size_of::<TokenBucket>(), 40);
    }

    fn time_zero_the_end_of_time_and_time_going_backwards() {
        let b = bucket(2, 1, 1_000_000_000);
        assert_eq!(b.try_acquire(2, Nanos::MAX), Ok(()));
        assert_eq!(b.available(Nanos::MAX), 0);
        // Refill would come after the end of time: waiting cannot help.
        assert_eq!(
            b.try_acquire(1, Nanos::MAX),
            Err(Rejected::new(Reason::RateLimited, None))
        );

        let b = bucket(2, 1, 1_000_000_000);
        assert_eq!(b.try_acquire(1, Nanos::from_secs(10)), Ok(()));
        // An older `now` counts as no time passed: the token left at 10 s is still there.
        assert_eq!(b.available(Nanos::from_secs(5)), 1);
        assert_eq!(b.try_acquire(1, Nanos::from_secs(5)), Ok(()));
        // retry_after counts from the `now` given: the next token comes at 11 s.
        assert_eq!(
            b.try_acquire(1, Nanos::from_secs(5)),
            rate_limited(6_000_000_000)
        );
        assert_eq!(b.try_acquire(1, Nanos::from_secs(11)), Ok(()));
    }
}
