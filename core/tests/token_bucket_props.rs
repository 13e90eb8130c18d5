//! The token bucket against a plain sequential model, and its hard guarantee under arbitrary
//! configs, clocks and call orders.

use proptest::prelude::*;
use stanchion::{Nanos, Reason, Rejected, TokenBucket, TokenBucketConfig};

/// The textbook token bucket, in exact integers: the level counts tokens in units of
/// `1 / every` of a token, so `amount` units drip in every nanosecond and one token is `every`
/// units. The level is kept as at `seen`, the time of the newest grant, and refilled lazily
/// when read. A call whose `now` is older than `seen` is taken as at `seen` (no time passed);
/// what it reports counts from its own `now`.
#[derive(Debug)]
struct Model {
    capacity: i128,
    amount: i128,
    every: i128,
    level: i128,
    seen: u64,
}

fn ceil_div(x: i128, d: i128) -> i128 {
    (x + d - 1) / d
}

impl Model {
    fn new(config: TokenBucketConfig) -> Model {
        let every = config.refill_every.as_nanos() as i128;
        Model {
            capacity: config.capacity as i128,
            amount: config.refill_amount as i128,
            every,
            level: config.capacity as i128 * every,
            seen: 0,
        }
    }

    fn full(&self) -> i128 {
        self.capacity * self.every
    }

    /// The time a call at `now` is taken as, and the level then.
    fn at(&self, now: u64) -> (u64, i128) {
        let at = now.max(self.seen);
        let refill = (at - self.seen) as i128 * self.amount;
        (at, self.full().min(self.level + refill))
    }

    fn reserve(&mut self, n: u32, now: u64, max_wait: u64) -> Result<u64, Rejected> {
        if n == 0 {
            return Ok(now);
        }
        let n = n as i128;
        if n > self.capacity {
            return Err(Rejected::new(Reason::InsufficientCapacity, None));
        }
        let (at, mut level) = self.at(now);
        let short = n * self.every - level;
        let wait = if short <= 0 {
            0
        } else {
            ceil_div(short, self.amount)
        };
        if at as i128 + wait > u64::MAX as i128 {
            return Err(Rejected::new(Reason::RateLimited, None));
        }
        if wait > max_wait as i128 {
            // The same reservation fits once the caller's clock is that much past `at`.
            let after = wait - max_wait as i128 + (at - now) as i128;
            let retry_after = Nanos::new(after as u64);
            return Err(Rejected::new(Reason::RateLimited, Some(retry_after)));
        }
        level -= n * self.every;
        if wait > 0 {
            // At its ready time, a reservation leaves at most capacity - n tokens behind.
            level = level.min((self.capacity - n) * self.every - wait * self.amount);
        }
        self.level = level;
        self.seen = at;
        Ok(now + wait as u64)
    }

    fn try_acquire(&mut self, n: u32, now: u64) -> Result<(), Rejected> {
        self.reserve(n, now, 0).map(|_| ())
    }

    fn available(&self, now: u64) -> u64 {
        (self.at(now).1.max(0) / self.every) as u64
    }

    /// On the caller's clock: `available` stays put until it passes `seen`.
    fn next_token_at(&self, now: u64) -> Option<u64> {
        let (at, level) = self.at(now);
        let available = self.available(now) as i128;
        (available < self.capacity).then(|| {
            let wait = ceil_div((available + 1) * self.every - level, self.amount);
            (at as i128 + wait).min(u64::MAX as i128) as u64
        })
    }

    fn full_at(&self, now: u64) -> u64 {
        let (at, level) = self.at(now);
        if level >= self.full() {
            return now;
        }
        let wait = ceil_div(self.full() - level, self.amount);
        (at as i128 + wait).min(u64::MAX as i128) as u64
    }
}

#[derive(Clone, Debug)]
enum Op {
    Advance(u64),
    /// The clock steps back.
    Back(u64),
    TryAcquire(u32),
    Reserve(u32, u64),
    Look,
}

fn config() -> impl Strategy<Value = TokenBucketConfig> {
    let small = (1u32..=6, 1u32..=12, 0u64..=40).prop_map(|(capacity, amount, extra)| {
        TokenBucketConfig::new(capacity).refill(amount, Nanos::new(amount as u64 + extra))
    });
    let wide = (1u32..=1000, 1u32..=1_000_000_000, 1u64..=3_600_000_000_000).prop_filter_map(
        "at most one token per ns",
        |(capacity, amount, every)| {
            (amount as u64 <= every)
                .then(|| TokenBucketConfig::new(capacity).refill(amount, Nanos::new(every)))
        },
    );
    let named = prop::sample::select(vec![
        (1, 7, 10),
        (10, 7, 10),
        (3, 1, 3_000_000_000),
        (5, 1_000_000_000, 1_000_000_000),
        (4, 999_999_999, 1_000_000_000),
        (1000, 1, 3_600_000_000_000),
        (2, 3, 1_000_000_000),
    ])
    .prop_map(|(capacity, amount, every)| {
        TokenBucketConfig::new(capacity).refill(amount, Nanos::new(every))
    });
    prop_oneof![small, wide, named]
}

/// Steps that are a few emission intervals long, so refill and refusal both happen.
fn ops(config: TokenBucketConfig) -> impl Strategy<Value = Vec<Op>> {
    let interval = (config.refill_every.as_nanos() / config.refill_amount as u64).max(1);
    let top = config.capacity.saturating_add(1).min(12);
    let op = prop_oneof![
        3 => (0..=interval.saturating_mul(3)).prop_map(Op::Advance),
        1 => (0u64..=3).prop_map(Op::Advance),
        1 => (0..=interval.saturating_mul(20)).prop_map(Op::Back),
        4 => (0..=top).prop_map(Op::TryAcquire),
        3 => (0..=top, 0..=interval.saturating_mul(8)).prop_map(|(n, w)| Op::Reserve(n, w)),
        1 => Just(Op::Look),
    ];
    prop::collection::vec(op, 1..120)
}

fn start() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        0u64..=1 << 62,
        (u64::MAX - (1 << 40))..=u64::MAX
    ]
}

/// Checks "granted ≤ capacity + rate × t" over every interval between two grant times.
fn assert_within_bound(config: TokenBucketConfig, grants: &mut [(u64, u32)]) {
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
            assert!(
                (total - capacity) * every <= span * amount,
                "{total} tokens in {span} ns from {}",
                grants[first].0
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn matches_the_sequential_model((config, ops) in config().prop_flat_map(|c| (Just(c), ops(c))), start in start()) {
        let bucket = TokenBucket::new(config).unwrap();
        let mut model = Model::new(config);
        let mut now = start;
        for op in ops {
            match op {
                Op::Advance(dt) => now = now.saturating_add(dt),
                Op::Back(dt) => now = now.saturating_sub(dt),
                Op::TryAcquire(n) => {
                    prop_assert_eq!(bucket.try_acquire(n, Nanos::new(now)), model.try_acquire(n, now));
                }
                Op::Reserve(n, max_wait) => {
                    let real = bucket.reserve(n, Nanos::new(now), Nanos::new(max_wait));
                    let expected = model.reserve(n, now, max_wait).map(Nanos::new);
                    prop_assert_eq!(real, expected);
                }
                Op::Look => {
                    let snapshot = bucket.snapshot(Nanos::new(now));
                    prop_assert_eq!(snapshot.available, model.available(now));
                    prop_assert_eq!(bucket.available(Nanos::new(now)), snapshot.available);
                    prop_assert_eq!(snapshot.capacity, config.capacity);
                    prop_assert_eq!(snapshot.next_token_at, model.next_token_at(now).map(Nanos::new));
                    prop_assert_eq!(snapshot.full_at, Nanos::new(model.full_at(now)));
                }
            }
        }
    }

    #[test]
    fn retry_after_is_the_exact_wait((config, ops) in config().prop_flat_map(|c| (Just(c), ops(c)))) {
        let bucket = TokenBucket::new(config).unwrap();
        let mut now = 1u64 << 40;
        for op in ops {
            match op {
                Op::Advance(dt) => now += dt,
                Op::Back(dt) => now = now.saturating_sub(dt),
                Op::TryAcquire(n) | Op::Reserve(n, _) => {
                    let max_wait = match op { Op::Reserve(_, w) => w, _ => 0 };
                    let at = Nanos::new(now);
                    if let Err(refused) = bucket.reserve(n, at, Nanos::new(max_wait)) {
                        match refused.retry_after {
                            None => prop_assert_eq!(refused.reason, Reason::InsufficientCapacity),
                            Some(after) => {
                                let wait = Nanos::new(max_wait);
                                prop_assert!(bucket.reserve(n, at + after - Nanos::new(1), wait).is_err());
                                now += after.as_nanos();
                                prop_assert!(bucket.reserve(n, Nanos::new(now), wait).is_ok());
                            }
                        }
                    }
                }
                Op::Look => {}
            }
        }
    }

    /// With a clock that does not run backwards.
    #[test]
    fn reservations_are_served_in_order((config, ops) in config().prop_flat_map(|c| (Just(c), ops(c)))) {
        let bucket = TokenBucket::new(config).unwrap();
        let mut now = 0u64;
        let mut last_ready = Nanos::ZERO;
        for op in ops {
            match op {
                Op::Advance(dt) => now += dt,
                Op::Reserve(n, max_wait) if n > 0 => {
                    if let Ok(ready) = bucket.reserve(n, Nanos::new(now), Nanos::new(max_wait)) {
                        prop_assert!(ready >= last_ready && ready.as_nanos() >= now);
                        prop_assert!(ready.as_nanos() - now <= max_wait);
                        last_ready = ready;
                    }
                }
                _ => {}
            }
        }
    }

    /// The hard guarantee, with a clock that jumps anywhere, backwards included. Grants are
    /// counted at the bucket's time: a call's `now`, or the newest grant's if that is later;
    /// a reservation's wait runs from there.
    #[test]
    fn never_grants_more_than_capacity_plus_rate_times_t(
        config in config(),
        calls in prop::collection::vec((0u64..=4000, 0u32..=8, prop::option::of(0u64..=5000)), 1..150),
        scale in prop_oneof![Just(1u64), Just(1000), Just(1_000_000_000)],
    ) {
        let bucket = TokenBucket::new(config).unwrap();
        let mut grants = Vec::new();
        let mut seen = 0u64;
        for (time, n, max_wait) in calls {
            let now = Nanos::new(time * scale);
            let at = now.as_nanos().max(seen);
            let granted = match max_wait {
                None => bucket.try_acquire(n, now).is_ok().then_some(at),
                Some(wait) => bucket
                    .reserve(n, now, Nanos::new(wait * scale))
                    .ok()
                    .map(|ready| ready.as_nanos() + (at - now.as_nanos())),
            };
            if let Some(time) = granted {
                grants.push((time, n));
                if n > 0 {
                    seen = at;
                }
            }
            prop_assert!(bucket.available(now) <= config.capacity as u64);
        }
        assert_within_bound(config, &mut grants);
    }

    /// However far the clock steps back after a grant, the bucket reads as it did then, and
    /// takes tokens as it would have then.
    #[test]
    fn an_older_now_is_no_time_passed(
        config in config(),
        taken in 1u32..=12,
        back in prop_oneof![0u64..=1000, any::<u64>()],
        start in start(),
    ) {
        let bucket = TokenBucket::new(config).unwrap();
        let twin = TokenBucket::new(config).unwrap();
        let now = Nanos::new(start);
        let taken = taken.min(config.capacity);
        for b in [&bucket, &twin] {
            prop_assert_eq!(b.try_acquire(taken, now), Ok(()));
        }
        let older = now - Nanos::new(back);
        prop_assert_eq!(bucket.available(older), twin.available(now));
        let snapshot = bucket.snapshot(older);
        let expected = twin.snapshot(now);
        prop_assert_eq!(snapshot.available, expected.available);
        prop_assert_eq!(snapshot.next_token_at, expected.next_token_at);
        let full = expected.next_token_at.is_none();
        prop_assert_eq!(snapshot.full_at, if full { older } else { expected.full_at });
        let rest = config.capacity - taken;
        prop_assert_eq!(bucket.try_acquire(rest, older), twin.try_acquire(rest, now));
        prop_assert_eq!(bucket.available(now), 0);
    }

    #[test]
    fn arbitrary_configs_times_and_calls_never_panic(
        capacity in any::<u32>(),
        amount in any::<u32>(),
        every in prop_oneof![any::<u64>(), 0u64..=10],
        calls in prop::collection::vec((any::<u64>(), any::<u32>(), any::<u64>(), 0u8..4), 1..60),
    ) {
        let config = TokenBucketConfig::new(capacity).refill(amount, Nanos::new(every));
        match TokenBucket::new(config) {
            Err(error) => prop_assert_eq!(Some(error), config.validate().err()),
            Ok(bucket) => {
                for (now, n, max_wait, kind) in calls {
                    let (now, max_wait) = (Nanos::new(now), Nanos::new(max_wait));
                    match kind {
                        0 => { let _ = bucket.try_acquire(n, now); }
                        1 => { let _ = bucket.reserve(n, now, max_wait); }
                        2 => prop_assert!(bucket.available(now) <= capacity as u64),
                        _ => { let _ = bucket.snapshot(now); }
                    }
                }
            }
        }
    }
}
