#![cfg_attr(not(loom), allow(missing_docs))]
#![cfg(loom)]
//! Model-checked claims of the keyed limiter's table: under every interleaving loom explores,
//! a key's grants are judged against its own bucket and no other key's, a key holds at most
//! one bucket at a time (so "granted ≤ capacity + rate × t" holds per key), and a claim that
//! another claim overtakes leaves nothing half-done behind.
//!
//! Run with `RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom cargo test -p stanchion
//! --release --test loom_keyed_limiter`.

use loom::sync::Arc;
use loom::thread;
use stanchion::rng::{mix, uniform};
use stanchion::{KeyedLimiter, Nanos, Reason, TableFullPolicy, TokenBucketConfig};

/// Small models explore every interleaving; a preemption bound keeps the window scans in
/// budget.
fn model(body: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(body);
}

/// One token per 10 ns, bursts of one.
fn config() -> TokenBucketConfig {
    TokenBucketConfig::new(1).refill(1, Nanos::new(10))
}

fn limiter<const N: usize>() -> Arc<KeyedLimiter<N>> {
    Arc::new(KeyedLimiter::new(config(), TableFullPolicy::Reject).unwrap())
}

/// The owner byte the table keeps for a key: the low byte of `mix(key)` (as documented).
fn owner(key: u64) -> u64 {
    mix(key) & 0xff
}

/// The slot a key of an `n`-slot table starts probing at: `mix` picks it (as documented).
fn start_slot(key: u64, n: u64) -> u64 {
    uniform(mix(key), 0, n - 1)
}

/// A key other than `key` that the table cannot tell from it by its owner byte and start slot.
fn twin_of(key: u64, n: u64) -> u64 {
    (key + 1..)
        .find(|&other| owner(other) == owner(key) && start_slot(other, n) == start_slot(key, n))
        .unwrap()
}

/// Checks every interval between two grant times of one key:
/// `(granted - capacity) × every ≤ t × amount`.
fn assert_within_bound(mut grants: Vec<u64>) {
    let config = config();
    grants.sort_unstable();
    let (capacity, amount, every) = (
        config.capacity as i128,
        config.refill_amount as i128,
        config.refill_every.as_nanos() as i128,
    );
    for first in 0..grants.len() {
        for (count, &time) in grants[first..].iter().enumerate() {
            let span = (time - grants[first]) as i128;
            assert!(
                (count as i128 + 1 - capacity) * every <= span * amount,
                "grants at {grants:?} ns"
            );
        }
    }
}

/// A key that has never asked is a new key: it has its whole burst, and its first request is
/// granted or refused for want of a slot, never rate limited by a bucket that is not its own.
fn assert_untouched<const N: usize>(limiter: &KeyedLimiter<N>, key: u64, now: u64) {
    let now = Nanos::new(now);
    assert_eq!(
        limiter.available(key, now),
        1,
        "key {key} sees another key's bucket"
    );
    if let Err(refused) = limiter.try_acquire(key, 1, now) {
        assert_eq!(refused.reason, Reason::TableFull, "key {key}: {refused:?}");
    }
}

/// Long after every bucket has filled up again, each of the `N` slots goes to a new key: no
/// claim was left half-done holding one.
fn assert_no_claim_left<const N: usize>(limiter: &KeyedLimiter<N>) {
    let later = Nanos::new(1_000);
    for key in 1_000..1_000 + N as u64 {
        assert_eq!(limiter.try_acquire(key, 1, later), Ok(()), "key {key}");
    }
    assert_eq!(limiter.active_keys(later), N);
}

/// A claim overtaken by a second claim between its CAS on the slot and its publishing of the
/// key. With one slot, key 1 claims it at 0 ns; key 2, whose clock reads 20 ns, already sees
/// that bucket full and may claim the slot again before key 1 has published itself. Whatever
/// the order, the slot ends up held by one key, and a third key that shares key 2's owner
/// byte is still a new key.
#[test]
fn a_claim_overtaken_before_it_publishes_leaves_the_slot_to_one_key() {
    let (first, second) = (1, 2);
    let twin = twin_of(second, 1);
    model(move || {
        let limiter = limiter::<1>();
        let other = {
            let limiter = Arc::clone(&limiter);
            thread::spawn(move || limiter.try_acquire(first, 1, Nanos::new(0)))
        };
        let second_result = limiter.try_acquire(second, 1, Nanos::new(20));
        let first_result = other.join().unwrap();
        // A key is refused only for want of the slot, and someone always gets it.
        for refused in [first_result, second_result]
            .into_iter()
            .filter_map(Result::err)
        {
            assert_eq!(refused.reason, Reason::TableFull, "{refused:?}");
        }
        assert!(first_result.is_ok() || second_result.is_ok());

        let now = Nanos::new(20);
        // The second key's grant shows in its own bucket; refused, it was never charged, and
        // the first key's bucket is full again at 20 ns, so the slot is free for it now.
        if second_result.is_ok() {
            assert_eq!(limiter.available(second, now), 0);
            assert!(limiter.try_acquire(second, 1, now).is_err());
        } else {
            assert_eq!(limiter.available(second, now), 1);
            assert_eq!(limiter.try_acquire(second, 1, now), Ok(()));
        }
        // Either way the second key holds the slot now, and its look-alike is a stranger.
        assert_untouched(&limiter, twin, 20);
        assert_no_claim_left(&limiter);
    });
}

/// Two first requests of one key whose clocks disagree about which slot of its window is
/// full: at 5 ns the key's start slot still holds another key's bucket, at 10 ns it is free.
/// The key must still end up with one bucket, so only one of the two tokens is granted.
#[test]
fn a_new_key_racing_itself_on_different_clocks_holds_one_bucket() {
    let key = 7;
    let occupant = (key + 1..)
        .find(|&other| start_slot(other, 2) == start_slot(key, 2) && owner(other) != owner(key))
        .unwrap();
    model(move || {
        let limiter = limiter::<2>();
        // The occupant's bucket is full again at 10 ns.
        assert_eq!(limiter.try_acquire(occupant, 1, Nanos::new(0)), Ok(()));
        let other = {
            let limiter = Arc::clone(&limiter);
            thread::spawn(move || limiter.try_acquire(key, 1, Nanos::new(5)).is_ok())
        };
        let late = limiter.try_acquire(key, 1, Nanos::new(10)).is_ok();
        let early = other.join().unwrap();
        let mut grants: Vec<u64> = [(early, 5), (late, 10)]
            .into_iter()
            .filter_map(|(granted, at)| granted.then_some(at))
            .collect();
        // Afterwards the key asks again: one bucket means no token before 20 ns or so.
        for at in [10, 15] {
            if limiter.try_acquire(key, 1, Nanos::new(at)).is_ok() {
                grants.push(at);
            }
        }
        assert_within_bound(grants);
        assert_no_claim_left(&limiter);
    });
}

/// Two new keys that the table cannot tell apart by owner byte or start slot claim slots at
/// once. Each is judged against its own bucket: neither is ever rate limited by the other.
#[test]
fn racing_claims_of_look_alike_keys_never_share_a_bucket() {
    let key = 3;
    let twin = twin_of(key, 2);
    model(move || {
        let limiter = limiter::<2>();
        let other = {
            let limiter = Arc::clone(&limiter);
            thread::spawn(move || limiter.try_acquire(twin, 1, Nanos::new(0)))
        };
        let mine = limiter.try_acquire(key, 1, Nanos::new(0));
        let theirs = other.join().unwrap();
        for (who, result) in [(key, mine), (twin, theirs)] {
            match result {
                Ok(()) => assert_eq!(limiter.available(who, Nanos::new(0)), 0),
                Err(refused) => {
                    assert_eq!(refused.reason, Reason::TableFull, "key {who}: {refused:?}");
                    assert_untouched(&limiter, who, 0);
                }
            }
        }
        assert_no_claim_left(&limiter);
    });
}

/// A key charged in its slot while a look-alike key takes that slot over (its bucket is full
/// again at 10 ns): exactly one of them gets the slot's token, and the other is refused for
/// want of a slot, never charged in the winner's bucket.
#[test]
fn a_charge_racing_a_look_alike_reclaim_stays_in_its_own_bucket() {
    let key = 5;
    let twin = twin_of(key, 1);
    model(move || {
        let limiter = limiter::<1>();
        assert_eq!(limiter.try_acquire(key, 1, Nanos::new(0)), Ok(()));
        let other = {
            let limiter = Arc::clone(&limiter);
            thread::spawn(move || limiter.try_acquire(twin, 1, Nanos::new(10)))
        };
        let mine = limiter.try_acquire(key, 1, Nanos::new(10));
        let theirs = other.join().unwrap();
        let now = Nanos::new(10);
        let (winner, loser) = match (mine, theirs) {
            (Ok(()), Err(refused)) => (key, refused),
            (Err(refused), Ok(())) => (twin, refused),
            both => panic!("one slot, one token: {both:?}"),
        };
        assert_eq!(loser.reason, Reason::TableFull, "{loser:?}");
        assert_eq!(limiter.available(winner, now), 0, "key {winner}");
        assert!(limiter.try_acquire(winner, 1, now).is_err());
        assert_no_claim_left(&limiter);
    });
}

/// A claim that gives up puts the slot back exactly as it was, so the old key's charge that
/// raced it lands in the old key's bucket. Key `b` asks at 15 ns and at 10 ns: at 15 ns the
/// slot of an occupant is free, at 10 ns only key `a`'s slot is, so the two requests claim
/// different slots, and the one that sees the other gives up, while key `a` charges its own.
#[test]
fn a_claim_that_gives_up_leaves_the_old_key_its_bucket() {
    let (a, b) = (11, 12);
    // `a` starts at slot 0 and `b` at slot 1 of two, so `b` looks at the occupant's slot 1
    // first and at `a`'s slot 0 second.
    let a = (a..).find(|&key| start_slot(key, 2) == 0).unwrap();
    let b = (b..)
        .find(|&key| start_slot(key, 2) == 1 && owner(key) != owner(a))
        .unwrap();
    let occupant = (b + 1..)
        .find(|&key| start_slot(key, 2) == 1 && owner(key) != owner(a) && owner(key) != owner(b))
        .unwrap();
    model(move || {
        let limiter = limiter::<2>();
        assert_eq!(limiter.try_acquire(a, 1, Nanos::new(0)), Ok(()));
        assert_eq!(limiter.try_acquire(occupant, 1, Nanos::new(5)), Ok(()));
        let spawn = |key: u64, at: u64| {
            let limiter = Arc::clone(&limiter);
            thread::spawn(move || limiter.try_acquire(key, 1, Nanos::new(at)))
        };
        let late_b = spawn(b, 15);
        let early_b = spawn(b, 10);
        let a_result = limiter.try_acquire(a, 1, Nanos::new(10));
        let b_results = [(early_b.join().unwrap(), 10), (late_b.join().unwrap(), 15)];

        // `a`'s bucket is full at 10 ns: its request is granted unless `b` took the slot,
        // and then it is refused for want of a slot.
        match a_result {
            Ok(()) => assert_eq!(limiter.available(a, Nanos::new(10)), 0),
            Err(refused) => assert_eq!(refused.reason, Reason::TableFull, "{refused:?}"),
        }
        let mut b_grants = Vec::new();
        for (result, at) in b_results {
            match result {
                Ok(()) => b_grants.push(at),
                Err(refused) => assert_ne!(refused.reason, Reason::InsufficientCapacity),
            }
        }
        assert_within_bound(b_grants);
        assert_no_claim_left(&limiter);
    });
}
