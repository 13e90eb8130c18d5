//! loom models of the token bucket and the keyed limiter: each asserts the hard guarantee,
//! "granted ≤ capacity + rate × t over any interval", under every interleaving of two threads.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p stanchion --release --test loom_token_bucket`.
#![cfg(loom)]

use loom::sync::Arc;
use loom::thread;
use stanchion::{KeyedLimiter, Nanos, TableFullPolicy, TokenBucket, TokenBucketConfig};

const HOUR: u64 = 3_600_000_000_000;

/// Checks every interval between two grant times: `(granted - capacity) × every ≤ t × amount`.
fn assert_within_bound(config: TokenBucketConfig, mut grants: Vec<(u64, u32)>) {
    grants.sort_unstable();
    let capacity = config.capacity as i128;
    let (amount, every) = (
        config.refill_amount as i128,
        config.refill_every.as_nanos() as i128,
    );
    for first in 0..grants.len() {
        let mut total = 0i128;
        for &(time, n) in &grants[first..] {
            total += n as i128;
            let span = (time - grants[first].0) as i128;
            assert!((total - capacity) * every <= span * amount, "{grants:?}");
        }
    }
}

/// Runs `calls` (`(n, now, max_wait)`; `None` is `try_acquire`) on a shared bucket from two
/// threads and returns each grant's time and size.
fn race(config: TokenBucketConfig, calls: [Vec<(u32, u64, Option<u64>)>; 2]) -> Vec<(u64, u32)> {
    let bucket = Arc::new(TokenBucket::new(config).unwrap());
    let run = |bucket: &TokenBucket, calls: &[(u32, u64, Option<u64>)]| {
        let mut grants = Vec::new();
        for &(n, now, max_wait) in calls {
            let now = Nanos::new(now);
            match max_wait {
                None => {
                    if bucket.try_acquire(n, now).is_ok() {
                        grants.push((now.as_nanos(), n));
                    }
                }
                Some(wait) => {
                    if let Ok(ready) = bucket.reserve(n, now, Nanos::new(wait)) {
                        grants.push((ready.as_nanos(), n));
                    }
                }
            }
        }
        grants
    };
    let [first, second] = calls;
    let other = {
        let bucket = Arc::clone(&bucket);
        thread::spawn(move || run(&bucket, &second))
    };
    let mut grants = run(&bucket, &first);
    grants.extend(other.join().unwrap());
    grants
}

#[test]
fn two_racing_acquires_share_one_token() {
    loom::model(|| {
        let config = TokenBucketConfig::new(1);
        let grants = race(config, [vec![(1, 0, None)], vec![(1, 0, None)]]);
        assert_eq!(grants.len(), 1);
    });
}

#[test]
fn racing_acquires_on_different_clocks_stay_within_the_bound() {
    loom::model(|| {
        let config = TokenBucketConfig::new(2).refill(1, Nanos::new(10));
        let grants = race(
            config,
            [
                vec![(2, 0, None), (1, 10, None)],
                vec![(1, 5, None), (1, 12, None)],
            ],
        );
        assert_within_bound(config, grants);
    });
}

#[test]
fn racing_grants_that_raise_the_high_word_stay_within_the_bound() {
    // At one token per hour every grant moves the state into a new high word.
    loom::model(|| {
        let config = TokenBucketConfig::new(2).refill(1, Nanos::new(HOUR));
        let grants = race(
            config,
            [vec![(1, 0, None), (1, 0, None)], vec![(2, HOUR, None)]],
        );
        assert_within_bound(config, grants);
    });
}

#[test]
fn racing_reservations_never_overlap() {
    loom::model(|| {
        let config = TokenBucketConfig::new(1).refill(7, Nanos::new(10));
        let grants = race(
            config,
            [
                vec![(1, 0, Some(100))],
                vec![(1, 0, Some(100)), (1, 1, None)],
            ],
        );
        assert_within_bound(config, grants);
    });
}

#[test]
fn a_grant_at_an_older_now_racing_another_draws_on_the_same_burst() {
    // One thread takes a token at 10 ns and then one with its clock stepped back to 5 ns; the
    // other takes one at 10 ns. Whatever the order, the older now is taken as 10 ns: all three
    // come out of the burst there, and nothing more does.
    loom::model(|| {
        let config = TokenBucketConfig::new(3).refill(1, Nanos::new(HOUR));
        let bucket = Arc::new(TokenBucket::new(config).unwrap());
        let other = {
            let bucket = Arc::clone(&bucket);
            thread::spawn(move || bucket.try_acquire(1, Nanos::new(10)))
        };
        assert_eq!(bucket.try_acquire(1, Nanos::new(10)), Ok(()));
        assert_eq!(bucket.try_acquire(1, Nanos::new(5)), Ok(()));
        assert_eq!(other.join().unwrap(), Ok(()));
        assert!(bucket.try_acquire(1, Nanos::new(5)).is_err());
        assert_eq!(bucket.available(Nanos::new(10)), 0);
    });
}

#[test]
fn a_reservation_at_an_older_now_racing_others_never_overlaps_them() {
    // Three reservations of a one-token bucket, one of them from a clock stepped back by 5 ns.
    // Its wait runs from its own now, so its ready_at is 5 ns earlier than the bucket's time
    // for it; on the bucket's time the three are an interval apart.
    loom::model(|| {
        let config = TokenBucketConfig::new(1).refill(1, Nanos::new(HOUR));
        let bucket = Arc::new(TokenBucket::new(config).unwrap());
        let max_wait = Nanos::new(2 * HOUR);
        let other = {
            let bucket = Arc::clone(&bucket);
            thread::spawn(move || bucket.reserve(1, Nanos::new(10), max_wait).unwrap())
        };
        let first = bucket.reserve(1, Nanos::new(10), max_wait).unwrap();
        let older = bucket.reserve(1, Nanos::new(5), max_wait).unwrap();
        let mut times = [
            first.as_nanos(),
            older.as_nanos() + 5,
            other.join().unwrap().as_nanos(),
        ];
        times.sort_unstable();
        assert_eq!(times, [10, 10 + HOUR, 10 + 2 * HOUR]);
    });
}

#[test]
fn two_threads_on_one_key_never_over_grant() {
    loom::model(|| {
        let config = TokenBucketConfig::new(1).refill(1, Nanos::new(10));
        let limiter = Arc::new(KeyedLimiter::<2>::new(config, TableFullPolicy::Reject).unwrap());
        let other = {
            let limiter = Arc::clone(&limiter);
            thread::spawn(move || limiter.try_acquire(42, 1, Nanos::new(3)).is_ok())
        };
        let mine = limiter.try_acquire(42, 1, Nanos::new(3)).is_ok();
        let theirs = other.join().unwrap();
        assert!(
            mine ^ theirs,
            "exactly one of two requests for one token passes"
        );
        assert!(limiter.try_acquire(42, 1, Nanos::new(3)).is_err());
    });
}

/// The slot a key of a two-slot table starts probing at (`mix` picks it, as documented).
fn start_slot(key: u64) -> u64 {
    stanchion::rng::uniform(stanchion::rng::mix(key), 0, 1)
}

#[test]
fn reclaiming_a_slot_while_its_old_key_is_charged_never_over_grants_either_key() {
    // Two keys that start probing at the same slot, so the second reclaims the first's slot.
    let old_key = 1;
    let new_key = (2..)
        .find(|&key| start_slot(key) == start_slot(old_key))
        .unwrap();
    loom::model(move || {
        let config = TokenBucketConfig::new(1).refill(1, Nanos::new(10));
        let limiter = Arc::new(KeyedLimiter::<2>::new(config, TableFullPolicy::Reject).unwrap());
        // At 10 ns the old key's bucket is full again: the new key may take its slot while
        // the old key asks again, and whichever loses moves to the other slot.
        assert!(limiter.try_acquire(old_key, 1, Nanos::ZERO).is_ok());
        let other = {
            let limiter = Arc::clone(&limiter);
            thread::spawn(move || limiter.try_acquire(new_key, 1, Nanos::new(10)).is_ok())
        };
        let old_granted = 1 + limiter.try_acquire(old_key, 1, Nanos::new(10)).is_ok() as u32;
        let new_granted = other.join().unwrap() as u32;
        // Neither key may take another token at 10 ns, wherever its bucket ended up.
        let old_again = limiter.try_acquire(old_key, 1, Nanos::new(10)).is_ok() as u32;
        let new_again = limiter.try_acquire(new_key, 1, Nanos::new(10)).is_ok() as u32;
        assert!(
            old_granted + old_again <= 2,
            "old key: {old_granted} + {old_again} in [0, 10] ns"
        );
        assert!(
            new_granted + new_again <= 1,
            "new key: {new_granted} + {new_again} at 10 ns"
        );
    });
}
