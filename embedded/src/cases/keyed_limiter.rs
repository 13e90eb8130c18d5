//! Keyed limiter: one token bucket per key in a fixed table, keys isolated from each other,
//! `TableFull` when every slot a new key may use holds an active key. Slot placement hashes
//! the key with SplitMix64, so which keys fit was computed on the host and must match.

use core::hint::black_box;

use stanchion::{
    KeyedLimiter, Nanos, Reason, Rejected, TableFullPolicy, TokenBucket, TokenBucketConfig,
};

/// 16 slots of 24 bytes each: a table lives in a `static`, never on a small stack.
static PER_PEER: KeyedLimiter<16> = match KeyedLimiter::new(
    TokenBucketConfig::new(2).refill(1, Nanos::from_secs(1)),
    TableFullPolicy::Reject,
) {
    Ok(limiter) => limiter,
    Err(_) => panic!("invalid limiter config"),
};

/// For the placement case: its own table, so no other case's keys are in it.
static PLACEMENT: KeyedLimiter<16> =
    match KeyedLimiter::new(TokenBucketConfig::new(1), TableFullPolicy::Reject) {
        Ok(limiter) => limiter,
        Err(_) => panic!("invalid limiter config"),
    };

const SECOND: u64 = 1_000_000_000;

fn ns(n: u64) -> Nanos {
    Nanos::new(black_box(n))
}

/// A limiter built at run time, with buckets of `capacity` refilled one token a second.
fn limiter<const N: usize>(capacity: u32, policy: TableFullPolicy) -> KeyedLimiter<N> {
    let config = TokenBucketConfig::new(capacity).refill(1, Nanos::from_secs(1));
    match KeyedLimiter::new(black_box(config), policy) {
        Ok(limiter) => limiter,
        Err(error) => panic!("invalid config: {error}"),
    }
}

fn refused(reason: Reason, after: Option<u64>) -> Result<(), Rejected> {
    Err(Rejected::new(reason, after.map(Nanos::new)))
}

tests! {
    fn keys_are_isolated_from_each_other() {
        let now = ns(10 * SECOND);
        assert_eq!(PER_PEER.try_acquire(7, 2, now), Ok(()));
        assert_eq!(
            PER_PEER.try_acquire(7, 1, now),
            refused(Reason::RateLimited, Some(SECOND))
        );
        assert_eq!(
            PER_PEER.try_acquire(8, 2, now),
            Ok(()),
            "another key, another bucket"
        );
        assert_eq!(PER_PEER.available(7, now + ns(SECOND / 2)), 0);
        assert_eq!(
            PER_PEER.available(9, now),
            2,
            "a key without a slot has a full bucket"
        );
        assert_eq!(PER_PEER.active_keys(now), 2);
        assert_eq!(PER_PEER.snapshot(8, now).full_at, now + ns(2 * SECOND));
        assert_eq!(
            PER_PEER.active_keys(now + ns(2 * SECOND)),
            0,
            "full again, the slots are free"
        );
        assert_eq!(PER_PEER.policy(), TableFullPolicy::Reject);
    }

    fn each_key_behaves_exactly_like_its_own_token_bucket() {
        let config = TokenBucketConfig::new(3).refill(7, Nanos::new(10));
        let keyed: KeyedLimiter<4> =
            KeyedLimiter::new(black_box(config), TableFullPolicy::Reject).unwrap();
        let alone = TokenBucket::new(config).unwrap();
        let other = TokenBucket::new(config).unwrap();
        let mut now = 0;
        for step in 0..64u64 {
            let n = (step % 4) as u32;
            now += step % 3;
            let key = if step % 5 == 0 { u64::MAX } else { 0 };
            let expected = if key == 0 {
                alone.try_acquire(n, ns(now))
            } else {
                other.try_acquire(n, ns(now))
            };
            assert_eq!(keyed.try_acquire(key, n, ns(now)), expected, "step {step}");
        }
        assert_eq!(keyed.available(0, ns(now)), alone.available(ns(now)));
        assert_eq!(keyed.snapshot(u64::MAX, ns(now)), other.snapshot(ns(now)));
    }

    fn a_full_table_refuses_new_keys_and_says_when_a_slot_frees() {
        let table: KeyedLimiter<4> = limiter(3, TableFullPolicy::Reject);
        for key in 1..=4 {
            assert_eq!(table.try_acquire(key, 1, ns(0)), Ok(()));
        }
        // Every slot holds a key one token short: the first frees in a second.
        assert_eq!(
            table.try_acquire(5, 1, ns(0)),
            refused(Reason::TableFull, Some(SECOND))
        );
        assert_eq!(
            table.try_acquire(5, 1, ns(SECOND) - ns(1)),
            refused(Reason::TableFull, Some(1))
        );
        assert_eq!(table.try_acquire(5, 1, ns(SECOND)), Ok(()));
        // Tracked keys go on as before.
        assert_eq!(table.try_acquire(2, 2, ns(SECOND)), Ok(()));
    }

    fn a_slot_is_reused_once_its_key_is_full_again() {
        let table: KeyedLimiter<1> = limiter(2, TableFullPolicy::Reject);
        assert_eq!(table.try_acquire(1, 2, ns(0)), Ok(()));
        assert_eq!(
            table.try_acquire(2, 1, ns(0)),
            refused(Reason::TableFull, Some(2 * SECOND))
        );
        assert_eq!(table.try_acquire(2, 2, ns(2 * SECOND)), Ok(()));
        // Key 1 lost its slot while full, so it comes back as a new key: a full bucket.
        assert_eq!(table.try_acquire(1, 1, ns(4 * SECOND)), Ok(()));
        assert_eq!(table.available(2, ns(4 * SECOND)), 2);
    }

    fn the_admit_policy_lets_new_keys_through_untracked() {
        let table: KeyedLimiter<1> = limiter(1, TableFullPolicy::Admit);
        assert_eq!(table.try_acquire(1, 1, ns(0)), Ok(()));
        for _ in 0..3 {
            assert_eq!(
                table.try_acquire(2, 1, ns(0)),
                Ok(()),
                "untracked: never limited"
            );
        }
        assert_eq!(table.reserve(3, 1, ns(5), Nanos::ZERO), Ok(ns(5)));
        assert_eq!(
            table.try_acquire(1, 1, ns(0)),
            refused(Reason::RateLimited, Some(SECOND))
        );
    }

    fn slot_placement_is_the_same_on_every_target() {
        // Keys 1 to 40 into 16 slots, each taking its only token: which fit depends on where
        // SplitMix64 puts them and on the 8-slot probe windows.
        let mut admitted = 0u64;
        for key in 1..=40u64 {
            match PLACEMENT.try_acquire(black_box(key), 1, ns(0)) {
                Ok(()) => admitted |= 1 << key,
                Err(refusal) => assert_eq!(
                    refusal,
                    Rejected::new(Reason::TableFull, Some(Nanos::from_secs(1)))
                ),
            }
        }
        assert_eq!(admitted, 0x82_DFFE);
        assert_eq!(PLACEMENT.active_keys(ns(0)), 16);
        assert_eq!(PLACEMENT.active_keys(ns(SECOND)), 0);
    }

    fn extreme_keys_and_times() {
        let table: KeyedLimiter<2> = limiter(1, TableFullPolicy::Reject);
        assert_eq!(table.try_acquire(0, 1, Nanos::MAX), Ok(()));
        assert_eq!(table.try_acquire(u64::MAX, 1, Nanos::MAX), Ok(()));
        assert_eq!(
            table.try_acquire(0, 1, Nanos::MAX),
            Err(Rejected::new(Reason::RateLimited, None))
        );
        assert_eq!(
            table.try_acquire(1, 1, Nanos::MAX),
            Err(Rejected::new(Reason::TableFull, None))
        );
        assert_eq!(
            table.try_acquire(1, 2, ns(0)),
            refused(Reason::InsufficientCapacity, None)
        );
        assert!(KeyedLimiter::<4>::new(
            black_box(TokenBucketConfig::new(0)),
            TableFullPolicy::Admit
        )
        .is_err());
        assert_eq!(core::mem::size_of::<KeyedLimiter<16>>(), 24 * 16 + 32);
    }
}
