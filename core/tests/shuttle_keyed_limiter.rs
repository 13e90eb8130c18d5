#![cfg_attr(not(shuttle), allow(missing_docs))]
#![cfg(shuttle)]
//! The keyed limiter under shuttle's random schedules: three threads each run dozens of random
//! requests on keys that collide in the table (look-alikes that share an owner byte and a
//! start slot, and more keys than slots), and the hard guarantees are checked after every
//! grant and at the end: per key, granted ≤ capacity + rate × t over every interval, and no
//! key is ever judged against another key's bucket.
//!
//! Run with `RUSTFLAGS="--cfg shuttle" CARGO_TARGET_DIR=target/shuttle cargo test -p stanchion
//! --release --test shuttle_keyed_limiter`.

mod shuttle_support;

use std::collections::BTreeMap;
use std::sync::Arc;

use shuttle::sync::{Barrier, Mutex};
use shuttle_support::{explore, rng, spawn_all, Rng};
use stanchion::rng::{mix, uniform};
use stanchion::{KeyedLimiter, Nanos, Reason, Rejected, TableFullPolicy, TokenBucketConfig};

const CAPACITY: u32 = 3;
/// Nanoseconds per token: a burst refills in 30 ns.
const EVERY: u64 = 10;
const THREADS: usize = 3;

fn config() -> TokenBucketConfig {
    TokenBucketConfig::new(CAPACITY).refill(1, Nanos::new(EVERY))
}

fn limiter<const N: usize>() -> KeyedLimiter<N> {
    KeyedLimiter::new(config(), TableFullPolicy::Reject).unwrap()
}

/// The owner byte the table keeps for a key: the low byte of `mix(key)` (as documented).
fn owner(key: u64) -> u64 {
    mix(key) & 0xff
}

/// The slot a key of an `n`-slot table starts probing at: `mix` picks it (as documented).
fn start_slot(key: u64, n: usize) -> u64 {
    uniform(mix(key), 0, n as u64 - 1)
}

/// Every grant so far, `(time, tokens)` per key; the time is a grant's `now`, or its
/// `ready_at` for a reservation.
#[derive(Default)]
struct Grants(Mutex<BTreeMap<u64, Vec<(u64, u32)>>>);

impl Grants {
    /// Logs a grant and checks its key's grants so far. A subset of the grants obeys the
    /// bound if they all do, so checking before the other threads have logged theirs is sound.
    fn record(&self, key: u64, time: u64, n: u32) {
        let mut log = self.0.lock().unwrap();
        let grants = log.entry(key).or_default();
        grants.push((time, n));
        assert_within_bound(key, grants);
    }
}

/// Over every interval between two grant times: `granted - capacity ≤ t / EVERY`.
fn assert_within_bound(key: u64, grants: &mut [(u64, u32)]) {
    grants.sort_unstable();
    for first in 0..grants.len() {
        let mut total = 0u64;
        for &(time, n) in &grants[first..] {
            total += u64::from(n);
            let span = time - grants[first].0;
            assert!(
                total.saturating_sub(CAPACITY.into()) * EVERY <= span,
                "key {key}: grants {grants:?}"
            );
        }
    }
}

/// What any refusal may look like: `InsufficientCapacity` exactly for more than a burst, and
/// with these small times a refusal for want of tokens or of a slot always says when to retry.
fn assert_refusal_shape(n: u32, refused: Rejected) {
    if n > CAPACITY {
        assert_eq!(refused, Rejected::new(Reason::InsufficientCapacity, None));
    } else {
        assert!(
            matches!(refused.reason, Reason::RateLimited | Reason::TableFull),
            "{refused:?}"
        );
        assert!(refused.retry_after.is_some(), "{refused:?}");
    }
}

/// Long after every bucket has filled up again, each of the `N` slots goes to a new key that
/// starts probing there: no claim was left half-done holding one.
fn assert_no_claim_left<const N: usize>(limiter: &KeyedLimiter<N>, later: u64) {
    let later = Nanos::new(later);
    for slot in 0..N as u64 {
        let key = (1_000_000..)
            .find(|&key| start_slot(key, N) == slot)
            .unwrap();
        assert_eq!(limiter.try_acquire(key, 1, later), Ok(()), "key {key}");
    }
    assert_eq!(limiter.active_keys(later), N);
}

/// A request and what it got.
#[derive(Clone, Copy, Debug)]
enum Request {
    Acquire(u32, Result<(), Rejected>),
    Reserve(u32, u64, Result<Nanos, Rejected>),
    Available(u64),
}

/// Runs one random request for `key` at `now`, checks its shape, and logs a grant.
fn request<const N: usize>(
    limiter: &KeyedLimiter<N>,
    grants: &Grants,
    rng: &mut impl Rng,
    key: u64,
    now: u64,
) -> Request {
    // One more than a burst now and then: refused at once, whatever the table holds.
    let n = rng.gen_range(1..=CAPACITY + 1);
    match rng.gen_range(0..5) {
        0..=2 => {
            let result = limiter.try_acquire(key, n, Nanos::new(now));
            match result {
                Ok(()) => grants.record(key, now, n),
                Err(refused) => assert_refusal_shape(n, refused),
            }
            Request::Acquire(n, result)
        }
        3 => {
            let max_wait = [0, 15, 40][rng.gen_range(0..3)];
            let result = limiter.reserve(key, n, Nanos::new(now), Nanos::new(max_wait));
            match result {
                Ok(ready) => {
                    let ready = ready.as_nanos();
                    assert!((now..=now + max_wait).contains(&ready), "{ready} at {now}");
                    grants.record(key, ready, n);
                }
                Err(refused) => assert_refusal_shape(n, refused),
            }
            Request::Reserve(n, max_wait, result)
        }
        _ => {
            let available = limiter.available(key, Nanos::new(now));
            assert!(available <= u64::from(CAPACITY));
            Request::Available(available)
        }
    }
}

/// Keys the table cannot tell from `key` by owner byte or start slot in an `n`-slot table.
fn look_alikes(key: u64, n: usize, count: usize) -> Vec<u64> {
    (key + 1..)
        .filter(|&other| owner(other) == owner(key) && start_slot(other, n) == start_slot(key, n))
        .take(count)
        .collect()
}

const SLOTS: usize = 4;
const ROUNDS: usize = 8;
const OPS_PER_ROUND: usize = 4;

/// Three look-alike keys and two others on four slots, in rounds: within a round every
/// request reads the same clock, and the rounds move it on by anything from nothing to two
/// bursts, so buckets fill up again and slots change hands. With one clock per round, a key's
/// own grants bound its bucket: after a round, its TAT is at most
/// `max(TAT, round's now) + its tokens × EVERY`, fewer if its slot went to another key. So a
/// refusal or a shortfall that the key's own grants cannot explain is a charge in its bucket
/// by another key.
#[test]
fn colliding_keys_are_judged_by_their_own_grants_only() {
    let first = 11;
    let mut keys = vec![first];
    keys.extend(look_alikes(first, SLOTS, 2));
    keys.extend([12, 13]);
    let keys = Arc::new(keys);
    explore(5000, move || {
        let mut setup = rng();
        let mut now = setup.gen_range(0..5);
        let times: Arc<Vec<u64>> = Arc::new(
            (0..ROUNDS)
                .map(|_| {
                    now += [0, 4, 10, 20, 35, 60][setup.gen_range(0..6)];
                    now
                })
                .collect(),
        );
        let limiter = Arc::new(limiter::<SLOTS>());
        let grants = Arc::new(Grants::default());
        let barrier = Arc::new(Barrier::new(THREADS));
        let histories = {
            let (limiter, grants, keys, times) = (
                Arc::clone(&limiter),
                Arc::clone(&grants),
                Arc::clone(&keys),
                Arc::clone(&times),
            );
            spawn_all(THREADS, move |_| {
                let mut rng = rng();
                let mut history = Vec::new();
                for (round, &now) in times.iter().enumerate() {
                    for _ in 0..OPS_PER_ROUND {
                        let key = keys[rng.gen_range(0..keys.len())];
                        let request = request(&*limiter, &grants, &mut rng, key, now);
                        history.push((round, key, request));
                    }
                    barrier.wait();
                }
                history
            })
        };

        // Tokens each key was granted in each round.
        let mut granted: BTreeMap<u64, [u64; ROUNDS]> = BTreeMap::new();
        for &(round, key, request) in histories.iter().flatten() {
            if let Request::Acquire(n, Ok(())) | Request::Reserve(n, _, Ok(_)) = request {
                granted.entry(key).or_default()[round] += u64::from(n);
            }
        }
        // The most each key's TAT can be at the end of each round.
        let bounds: BTreeMap<u64, [u64; ROUNDS]> = granted
            .iter()
            .map(|(&key, tokens)| {
                let mut tat = 0;
                let mut bound = [0; ROUNDS];
                for round in 0..ROUNDS {
                    tat = tat.max(times[round]) + tokens[round] * EVERY;
                    bound[round] = tat;
                }
                (key, bound)
            })
            .collect();
        let burst = u64::from(CAPACITY) * EVERY;
        for &(round, key, request) in histories.iter().flatten() {
            let now = times[round];
            let tat = bounds.get(&key).map_or(0, |bound| bound[round]).max(now);
            // How long the key's own grants make a request for `n` wait, at most.
            let wait = |n: u32| (tat + u64::from(n) * EVERY).saturating_sub(now + burst);
            let context = format!("key {key} in round {round} at {now}: {request:?}");
            match request {
                Request::Acquire(n, Err(refused)) if refused.reason == Reason::RateLimited => {
                    let after = refused.retry_after.unwrap().as_nanos();
                    assert!(
                        wait(n) > 0 && after <= wait(n),
                        "{context}, wait {}",
                        wait(n)
                    );
                }
                Request::Reserve(n, max_wait, Err(refused))
                    if refused.reason == Reason::RateLimited =>
                {
                    let after = refused.retry_after.unwrap().as_nanos();
                    let wait = wait(n);
                    assert!(
                        wait > max_wait && after <= wait - max_wait,
                        "{context}, wait {wait}"
                    );
                }
                Request::Available(available) => {
                    let room = (now + burst).saturating_sub(tat) / EVERY;
                    assert!(
                        available >= room.min(CAPACITY.into()),
                        "{context}, room {room}"
                    );
                }
                _ => {}
            }
        }
        assert_no_claim_left(&*limiter, times[ROUNDS - 1] + 1_000);
    });
}

/// One key per half of a 16-slot table, so their windows of eight slots do not meet; each
/// window starts with occupants whose buckets fill up again at 10, 20 or 30 ns and which never
/// ask again. Each thread has a clock of its own, so two threads may disagree about which of
/// a window's slots is free when they make a key's first request, and each key must still end
/// up with one bucket.
#[test]
fn a_key_on_disagreeing_clocks_holds_one_bucket() {
    const SLOTS: usize = 16;
    const OPS: usize = 24;
    let keys: Arc<Vec<u64>> = Arc::new(
        [0, 8]
            .iter()
            .map(|&start| (1..).find(|&key| start_slot(key, SLOTS) == start).unwrap())
            .collect(),
    );
    let occupants: Arc<Vec<Vec<u64>>> = Arc::new(
        keys.iter()
            .map(|&key| {
                (key + 1..)
                    .filter(|&other| start_slot(other, SLOTS) == start_slot(key, SLOTS))
                    .take(3)
                    .collect()
            })
            .collect(),
    );
    explore(5000, move || {
        let mut setup = rng();
        let limiter = Arc::new(limiter::<SLOTS>());
        for window in occupants.iter() {
            for &occupant in window {
                let n = setup.gen_range(1..=CAPACITY);
                assert_eq!(limiter.try_acquire(occupant, n, Nanos::ZERO), Ok(()));
            }
        }
        let grants = Arc::new(Grants::default());
        {
            let (limiter, grants, keys) =
                (Arc::clone(&limiter), Arc::clone(&grants), Arc::clone(&keys));
            spawn_all(THREADS, move |_| {
                let mut rng = rng();
                let mut now = rng.gen_range(0..=35);
                for _ in 0..OPS {
                    let key = keys[rng.gen_range(0..keys.len())];
                    request(&*limiter, &grants, &mut rng, key, now);
                    now += [0, 2, 5, 10][rng.gen_range(0..4)];
                }
            });
        }
        assert_no_claim_left(&*limiter, 10_000);
    });
}
