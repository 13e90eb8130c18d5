//! Behaviour of the keyed limiter, driven by a fake clock (plain `Nanos` values).

use proptest::prelude::*;
use stanchion::keyed_limiter::MAX_PROBE;
use stanchion::{
    KeyedLimiter, Nanos, Reason, Rejected, TableFullPolicy, TokenBucket, TokenBucketConfig,
};

const SECOND: u64 = 1_000_000_000;

fn ns(n: u64) -> Nanos {
    Nanos::new(n)
}

fn config(capacity: u32) -> TokenBucketConfig {
    TokenBucketConfig::new(capacity).refill(1, Nanos::from_secs(1))
}

fn limiter<const N: usize>(capacity: u32, policy: TableFullPolicy) -> KeyedLimiter<N> {
    KeyedLimiter::new(config(capacity), policy).unwrap()
}

fn rate_limited(after: u64) -> Rejected {
    Rejected::new(Reason::RateLimited, Some(ns(after)))
}

#[test]
fn keys_are_isolated_from_each_other() {
    let limiter: KeyedLimiter<64> = limiter(2, TableFullPolicy::Reject);
    let now = ns(5 * SECOND);
    for key in 0..20u64 {
        assert_eq!(limiter.try_acquire(key, 2, now), Ok(()), "key {key}");
    }
    for key in 0..20u64 {
        assert_eq!(limiter.try_acquire(key, 1, now), Err(rate_limited(SECOND)));
        assert_eq!(limiter.available(key, now), 0);
    }
    assert_eq!(limiter.available(20, now), 2);
    assert_eq!(limiter.try_acquire(20, 2, now), Ok(()));
    assert_eq!(limiter.active_keys(now), 21);
}

#[test]
fn each_key_behaves_exactly_like_its_own_token_bucket() {
    let config = TokenBucketConfig::new(3).refill(7, ns(10));
    let limiter: KeyedLimiter<32> = KeyedLimiter::new(config, TableFullPolicy::Reject).unwrap();
    let buckets: Vec<TokenBucket> = (0..8).map(|_| TokenBucket::new(config).unwrap()).collect();
    let mut now = 1000u64;
    for i in 0..3000u64 {
        let key = i * 7 % 8;
        let n = (i % 4) as u32;
        let bucket = &buckets[key as usize];
        if i % 5 == 0 {
            let wait = ns(i % 13);
            assert_eq!(
                limiter.reserve(key, n, ns(now), wait),
                bucket.reserve(n, ns(now), wait)
            );
        } else {
            assert_eq!(
                limiter.try_acquire(key, n, ns(now)),
                bucket.try_acquire(n, ns(now))
            );
        }
        assert_eq!(limiter.snapshot(key, ns(now)), bucket.snapshot(ns(now)));
        now += i % 3;
    }
}

#[test]
fn a_slot_is_reused_once_its_key_is_full_again() {
    let limiter: KeyedLimiter<1> = limiter(2, TableFullPolicy::Reject);
    assert_eq!(limiter.try_acquire(1, 1, Nanos::ZERO), Ok(()));
    assert_eq!(
        limiter.try_acquire(2, 1, Nanos::ZERO).unwrap_err().reason,
        Reason::TableFull
    );
    // Key 1 is full again after one second: its slot goes to key 2.
    assert_eq!(limiter.try_acquire(2, 2, ns(SECOND)), Ok(()));
    assert_eq!(limiter.available(2, ns(SECOND)), 0);
    assert_eq!(limiter.available(1, ns(SECOND)), 2);
    assert_eq!(
        limiter.try_acquire(1, 1, ns(SECOND)).unwrap_err().reason,
        Reason::TableFull
    );
    // Key 1 comes back as a new key, with a full bucket.
    assert_eq!(limiter.try_acquire(1, 2, ns(3 * SECOND)), Ok(()));
    assert_eq!(limiter.active_keys(ns(3 * SECOND)), 1);
}

#[test]
fn a_full_table_refuses_new_keys_and_says_when_a_slot_frees() {
    let limiter: KeyedLimiter<4> = limiter(3, TableFullPolicy::Reject);
    let now = ns(10 * SECOND);
    // Slots free up at different times: 3 s, 2 s, 1 s and 3 s from now.
    for (key, n) in [(1u64, 3u32), (2, 2), (3, 1), (4, 3)] {
        assert_eq!(limiter.try_acquire(key, n, now), Ok(()));
    }
    let refused = limiter.try_acquire(5, 1, now).unwrap_err();
    assert_eq!(refused, Rejected::new(Reason::TableFull, Some(ns(SECOND))));
    assert_eq!(limiter.reserve(5, 1, now, Nanos::MAX).unwrap_err(), refused);
    assert!(limiter.try_acquire(5, 1, now + ns(SECOND - 1)).is_err());
    assert_eq!(limiter.try_acquire(5, 3, now + ns(SECOND)), Ok(()));
    // Keys already in the table are unaffected by the table being full.
    assert_eq!(limiter.try_acquire(4, 1, now + ns(SECOND)), Ok(()));
    assert_eq!(
        limiter
            .try_acquire(6, 1, now + ns(SECOND))
            .unwrap_err()
            .reason,
        Reason::TableFull
    );
}

#[test]
fn table_full_retry_after_makes_the_same_call_pass() {
    let limiter: KeyedLimiter<16> = KeyedLimiter::new(
        TokenBucketConfig::new(4).refill(3, ns(1000)),
        TableFullPolicy::Reject,
    )
    .unwrap();
    let mut now = 12_345u64;
    let mut table_full = 0;
    for i in 0..5000u64 {
        let key = stanchion::rng::draw(7, i) % 200;
        let n = (i % 4 + 1) as u32;
        match limiter.try_acquire(key, n, ns(now)) {
            Ok(()) => {}
            Err(refused) => {
                let after = refused.retry_after.unwrap();
                if refused.reason == Reason::TableFull {
                    table_full += 1;
                }
                assert!(limiter
                    .try_acquire(key, n, ns(now) + after - ns(1))
                    .is_err());
                now += after.as_nanos();
                assert_eq!(
                    limiter.try_acquire(key, n, ns(now)),
                    Ok(()),
                    "{:?}",
                    refused
                );
            }
        }
        now += i % 50;
    }
    assert!(table_full > 0);
}

#[test]
fn the_admit_policy_lets_new_keys_through_untracked() {
    let limiter: KeyedLimiter<1> = limiter(1, TableFullPolicy::Admit);
    assert_eq!(limiter.try_acquire(1, 1, Nanos::ZERO), Ok(()));
    for _ in 0..10 {
        assert_eq!(limiter.try_acquire(2, 1, Nanos::ZERO), Ok(()));
        assert_eq!(limiter.reserve(2, 1, ns(7), Nanos::ZERO), Ok(ns(7)));
    }
    assert_eq!(limiter.available(2, Nanos::ZERO), 1);
    assert_eq!(limiter.active_keys(Nanos::ZERO), 1);
    // The tracked key is still limited.
    assert_eq!(
        limiter.try_acquire(1, 1, Nanos::ZERO),
        Err(rate_limited(SECOND))
    );
}

#[test]
fn many_more_keys_than_slots_share_the_table_over_time() {
    let limiter: KeyedLimiter<16> = limiter(2, TableFullPolicy::Reject);
    let mut now = 0u64;
    for key in 0..10_000u64 {
        // Each key is full again after 2 s and a new key arrives every 400 ms, so at most 5
        // keys are active at once: fewer than a probe window, so no key is ever turned away.
        assert_eq!(limiter.try_acquire(key, 2, ns(now)), Ok(()), "key {key}");
        assert_eq!(
            limiter.try_acquire(key, 1, ns(now)),
            Err(rate_limited(SECOND))
        );
        assert!(limiter.active_keys(ns(now)) <= 5);
        now += 2 * SECOND / 5;
    }
}

#[test]
fn a_burst_of_new_keys_fills_at_most_every_slot() {
    for policy in [TableFullPolicy::Reject, TableFullPolicy::Admit] {
        let limiter: KeyedLimiter<64> = limiter(1, policy);
        let mut admitted = 0;
        for key in 0..1000u64 {
            match limiter.try_acquire(key * 31 + 7, 1, Nanos::ZERO) {
                Ok(()) => admitted += 1,
                Err(refused) => assert_eq!(refused.reason, Reason::TableFull),
            }
        }
        let tracked = limiter.active_keys(Nanos::ZERO);
        assert!((64 / MAX_PROBE..=64).contains(&tracked));
        match policy {
            TableFullPolicy::Reject => assert_eq!(admitted, tracked),
            TableFullPolicy::Admit => assert_eq!(admitted, 1000),
        }
    }
}

#[test]
fn extreme_keys_work() {
    let limiter: KeyedLimiter<8> = limiter(1, TableFullPolicy::Reject);
    for key in [0, 1, u64::MAX, u64::MAX - 1, 1 << 63] {
        assert_eq!(
            limiter.try_acquire(key, 1, Nanos::ZERO),
            Ok(()),
            "key {key}"
        );
        assert_eq!(
            limiter.try_acquire(key, 1, Nanos::ZERO),
            Err(rate_limited(SECOND))
        );
    }
}

#[test]
fn requests_that_need_no_slot_never_touch_the_table() {
    let limiter: KeyedLimiter<1> = limiter(2, TableFullPolicy::Reject);
    assert_eq!(limiter.try_acquire(1, 2, Nanos::ZERO), Ok(()));
    assert_eq!(limiter.try_acquire(2, 0, Nanos::ZERO), Ok(()));
    assert_eq!(limiter.reserve(2, 0, ns(3), Nanos::ZERO), Ok(ns(3)));
    let never = Rejected::new(Reason::InsufficientCapacity, None);
    assert_eq!(limiter.try_acquire(2, 3, Nanos::ZERO), Err(never));
    assert_eq!(limiter.try_acquire(1, 3, Nanos::ZERO), Err(never));
    assert_eq!(limiter.active_keys(Nanos::ZERO), 1);
}

#[test]
fn reservations_queue_per_key() {
    let limiter: KeyedLimiter<8> = limiter(1, TableFullPolicy::Reject);
    let wait = ns(5 * SECOND);
    assert_eq!(limiter.reserve(1, 1, Nanos::ZERO, wait), Ok(Nanos::ZERO));
    assert_eq!(limiter.reserve(1, 1, Nanos::ZERO, wait), Ok(ns(SECOND)));
    assert_eq!(limiter.reserve(2, 1, Nanos::ZERO, wait), Ok(Nanos::ZERO));
    assert_eq!(
        limiter.reserve(1, 1, Nanos::ZERO, ns(SECOND)),
        Err(rate_limited(SECOND))
    );
    assert_eq!(limiter.snapshot(1, Nanos::ZERO).full_at, ns(2 * SECOND));
}

#[test]
fn time_going_backwards_neither_refills_nor_frees_slots() {
    let limiter: KeyedLimiter<1> = limiter(2, TableFullPolicy::Reject);
    assert_eq!(limiter.try_acquire(1, 2, ns(100 * SECOND)), Ok(()));
    assert_eq!(limiter.available(1, ns(50 * SECOND)), 0);
    assert_eq!(
        limiter.try_acquire(1, 1, ns(50 * SECOND)),
        Err(rate_limited(51 * SECOND))
    );
    let refused = limiter.try_acquire(2, 1, ns(50 * SECOND)).unwrap_err();
    assert_eq!(
        refused,
        Rejected::new(Reason::TableFull, Some(ns(52 * SECOND)))
    );
    assert_eq!(limiter.try_acquire(1, 1, ns(101 * SECOND)), Ok(()));
}

#[test]
fn works_at_time_zero_and_at_the_end_of_time() {
    let limiter: KeyedLimiter<2> = limiter(1, TableFullPolicy::Reject);
    assert_eq!(limiter.try_acquire(1, 1, Nanos::ZERO), Ok(()));
    let end = Nanos::MAX;
    assert_eq!(limiter.try_acquire(2, 1, end), Ok(()));
    assert_eq!(
        limiter.try_acquire(2, 1, end),
        Err(Rejected::new(Reason::RateLimited, None))
    );
    assert_eq!(limiter.try_acquire(1, 1, end), Ok(()));
    assert_eq!(
        limiter.try_acquire(3, 1, end),
        Err(Rejected::new(Reason::TableFull, None))
    );
}

#[test]
fn the_size_is_three_words_per_slot_plus_the_newest_time_and_the_config() {
    assert_eq!(core::mem::size_of::<KeyedLimiter<1>>(), 24 + 32);
    assert_eq!(core::mem::size_of::<KeyedLimiter<64>>(), 24 * 64 + 32);
}

#[test]
fn an_older_now_counts_as_no_time_passed_as_in_the_token_bucket() {
    let keyed: KeyedLimiter<8> = limiter(2, TableFullPolicy::Reject);
    let bucket = TokenBucket::new(config(2)).unwrap();
    let (late, early) = (Nanos::from_secs(100), Nanos::from_secs(40));
    assert_eq!(keyed.try_acquire(7, 1, late), Ok(()));
    assert_eq!(bucket.try_acquire(1, late), Ok(()));
    // The clock steps back 60 s: the request is decided at 100 s, where one token is left.
    assert_eq!(keyed.try_acquire(7, 1, early), Ok(()));
    assert_eq!(bucket.try_acquire(1, early), Ok(()));
    // Empty at 100 s; the next token comes at 101 s, 61 s from the `now` given.
    let refused = rate_limited(61 * SECOND);
    assert_eq!(keyed.try_acquire(7, 1, early), Err(refused));
    assert_eq!(bucket.try_acquire(1, early), Err(refused));
    // A reservation's ready time counts from the `now` given too, and reads see the bucket at
    // the newest grant's time.
    assert_eq!(keyed.snapshot(7, early), bucket.snapshot(early));
    assert_eq!(keyed.available(7, early), 0);
    assert_eq!(
        keyed.reserve(7, 1, early, Nanos::from_secs(100)),
        bucket.reserve(1, early, Nanos::from_secs(100))
    );
    // Another key is decided at the table's newest time as well: its bucket is full there.
    assert_eq!(keyed.try_acquire(8, 2, early), Ok(()));
    assert_eq!(keyed.active_keys(early), 2);
}

#[test]
fn invalid_configs_are_refused() {
    for (config, field) in [
        (TokenBucketConfig::new(0), "capacity"),
        (config(1).refill(0, ns(1)), "refill_amount"),
        (config(1).refill(1, Nanos::ZERO), "refill_every"),
        (config(1).refill(5, ns(4)), "refill_amount"),
    ] {
        let error = KeyedLimiter::<4>::new(config, TableFullPolicy::Admit).unwrap_err();
        assert_eq!(error.field, field);
    }
}

static PER_CLIENT: KeyedLimiter<128> =
    match KeyedLimiter::new(TokenBucketConfig::new(500), TableFullPolicy::Reject) {
        Ok(limiter) => limiter,
        Err(_) => panic!("invalid config"),
    };

#[test]
fn racing_threads_on_one_key_get_exactly_the_burst() {
    let granted: usize = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                scope.spawn(|| {
                    (0..1000)
                        .filter(|_| PER_CLIENT.try_acquire(77, 1, ns(SECOND)).is_ok())
                        .count()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().unwrap())
            .sum()
    });
    assert_eq!(granted, 500);
}

#[test]
fn racing_threads_on_many_keys_never_over_grant_any_key() {
    let limiter: KeyedLimiter<64> = limiter(3, TableFullPolicy::Reject);
    let per_key: Vec<Vec<u64>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4u64)
            .map(|thread| {
                let limiter = &limiter;
                scope.spawn(move || {
                    let mut granted = vec![0u64; 40];
                    for i in 0..4000u64 {
                        let key = (i * (thread + 3)) % 40;
                        if limiter.try_acquire(key, 1, ns(i / 400 * SECOND)).is_ok() {
                            granted[key as usize] += 1;
                        }
                    }
                    granted
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().unwrap())
            .collect()
    });
    // All clocks span 9 s: each key gets at most 3 + 9 tokens, give or take one request per
    // racing thread when two first requests for a key disagree on which slot is free.
    for key in 0..40 {
        let total: u64 = per_key.iter().map(|granted| granted[key]).sum();
        assert!(total <= 3 + 9 + 4, "key {key}: {total}");
    }
}

#[derive(Clone, Debug)]
enum Op {
    Advance(u64),
    Acquire(u64, u32),
    Reserve(u64, u32, u64),
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// With fewer slots than keys, every answer is the key's own token bucket's answer,
    /// except `TableFull` for a key without a slot, whose bucket is then full.
    #[test]
    fn keys_match_independent_buckets_except_when_the_table_is_full(
        ops in prop::collection::vec(prop_oneof![
            2 => (0u64..=3_000).prop_map(Op::Advance),
            5 => (0u64..7, 0u32..=4).prop_map(|(key, n)| Op::Acquire(key, n)),
            2 => (0u64..7, 0u32..=4, 0u64..=5_000).prop_map(|(key, n, w)| Op::Reserve(key, n, w)),
        ], 1..200),
        start in prop_oneof![Just(0u64), 0u64..=1 << 62],
    ) {
        let config = TokenBucketConfig::new(3).refill(2, ns(1_000));
        let limiter: KeyedLimiter<4> = KeyedLimiter::new(config, TableFullPolicy::Reject).unwrap();
        let buckets: Vec<TokenBucket> = (0..7).map(|_| TokenBucket::new(config).unwrap()).collect();
        let mut now = start;
        for op in ops {
            let at = ns(now);
            let (key, n, max_wait) = match op {
                Op::Advance(dt) => { now += dt; continue; }
                Op::Acquire(key, n) => (key, n, None),
                Op::Reserve(key, n, wait) => (key, n, Some(ns(wait))),
            };
            let bucket = &buckets[key as usize];
            let real = match max_wait {
                None => limiter.try_acquire(key, n, at).map(|()| at),
                Some(wait) => limiter.reserve(key, n, at, wait),
            };
            match real {
                Err(refused) if refused.reason == Reason::TableFull => {
                    // The key has no slot, so its own bucket must be full, and the refusal
                    // says when a slot frees up.
                    prop_assert_eq!(bucket.snapshot(at).full_at, at);
                    prop_assert!(refused.retry_after.is_some_and(|after| after > Nanos::ZERO));
                }
                real => {
                    let expected = match max_wait {
                        None => bucket.try_acquire(n, at).map(|()| at),
                        Some(wait) => bucket.reserve(n, at, wait),
                    };
                    prop_assert_eq!(real, expected);
                }
            }
            prop_assert_eq!(limiter.snapshot(key, at), bucket.snapshot(at));
            prop_assert!(limiter.active_keys(at) <= 4);
        }
    }

    #[test]
    fn arbitrary_keys_times_and_calls_never_panic(
        capacity in prop_oneof![1u32..=4, any::<u32>()],
        calls in prop::collection::vec((0u64..12, any::<u64>(), 0u32..=6, any::<u64>(), any::<bool>()), 1..80),
    ) {
        let config = TokenBucketConfig::new(capacity).refill(3, ns(7));
        let limiter: KeyedLimiter<3> = KeyedLimiter::new(config, TableFullPolicy::Reject).unwrap();
        for (key, now, n, max_wait, reserve) in calls {
            let (now, key) = (ns(now), key.wrapping_mul(0x1234_5678_9abc_def1));
            if reserve {
                let _ = limiter.reserve(key, n, now, ns(max_wait));
            } else {
                let _ = limiter.try_acquire(key, n, now);
            }
            prop_assert!(limiter.available(key, now) <= capacity as u64);
            prop_assert!(limiter.active_keys(now) <= 3);
        }
    }
}
