//! The script and the core `TokenBucket` on the same random timelines: every answer equal in
//! every field, and every grant's key expiring when the core's bucket is full again.
//!
//! A seeded loop rather than proptest: each step is a round trip to a live server, and a
//! failure names the config, the seed and the step, which replays it exactly.

mod common;

use redis::aio::MultiplexedConnection;
use stanchion::{rng, Nanos, TokenBucketConfig};
use stanchion_redis::FleetLimiter;

use common::{Answer, CoreModel, ORIGIN};

const STEPS: u64 = 300;

/// Rates and bursts of every kind the script accepts: whole and fractional intervals, slow and
/// fast, a burst of one and a burst near the exactness bound.
fn configs() -> Vec<TokenBucketConfig> {
    vec![
        TokenBucketConfig::new(5).refill(1, Nanos::from_secs(1)),
        TokenBucketConfig::new(10).refill(1, Nanos::from_secs(3)),
        TokenBucketConfig::new(3).refill(3, Nanos::from_secs(1)),
        TokenBucketConfig::new(1).refill(7, Nanos::new(10)),
        TokenBucketConfig::new(1000).refill(1_000_000, Nanos::from_secs(1)),
        TokenBucketConfig::new(u32::MAX).refill(1_000_000, Nanos::from_secs(1)),
        TokenBucketConfig::new(1250).refill(1, Nanos::from_secs(3600)),
        TokenBucketConfig::new(4_503_599).refill(3, Nanos::from_secs(1)),
        TokenBucketConfig::new(17).refill(999_999_999, Nanos::from_secs(1)),
        TokenBucketConfig::new(2).refill(u32::MAX, Nanos::new(u64::MAX)),
    ]
}

#[tokio::test]
async fn the_script_answers_as_the_core_on_random_timelines() {
    let mut conn = common::connect().await;
    let mut tally = Tally::default();
    for (seed, bucket) in (1u64..).zip(configs()) {
        run(&mut conn, bucket, seed, &mut tally).await;
    }
    println!("{tally:?}");
    // The timelines must reach every kind of answer, or the comparison proves little.
    assert!(tally.grants > 1000, "{tally:?}");
    assert!(tally.rate_limited > 300, "{tally:?}");
    assert!(tally.insufficient > 50, "{tally:?}");
    assert!(tally.peeks > 300, "{tally:?}");
    assert!(tally.older_now > 100, "{tally:?}");
}

#[derive(Debug, Default)]
struct Tally {
    grants: u64,
    rate_limited: u64,
    insufficient: u64,
    peeks: u64,
    /// Steps whose `now` is older than the newest grant's.
    older_now: u64,
}

async fn run(
    conn: &mut MultiplexedConnection,
    bucket: TokenBucketConfig,
    seed: u64,
    tally: &mut Tally,
) {
    let limiter = common::limiter(bucket, "side-by-side");
    let mut core = CoreModel::new(bucket);
    let reduced = limiter.config().bucket;
    // The time one token takes, at least 1 ns: steps are drawn around it so that the bucket
    // is sometimes empty, sometimes refilling and sometimes full.
    let token = (reduced.refill_every.as_nanos() / u64::from(reduced.refill_amount)).max(1);
    let burst = token.saturating_mul(u64::from(reduced.capacity));
    let mut now = ORIGIN;
    let mut newest_grant = ORIGIN;
    let mut draw = 0u64;
    let mut next = |bound: u64| {
        draw += 1;
        rng::draw(seed, draw) % bound.max(1)
    };
    for step in 0..STEPS {
        now = match next(20) {
            0..=5 => now,
            6..=11 => now.saturating_add(next(token)),
            12..=15 => now.saturating_add(next(token.saturating_mul(4))),
            16 => now.saturating_add(next(burst.saturating_mul(2))),
            // The clock steps back, at most to the origin.
            17 => now - next(token.saturating_mul(3)).min(now - ORIGIN),
            _ => now.saturating_add(1),
        };
        let capacity = reduced.capacity;
        let n = match next(10) {
            0 => 0,
            1 => capacity,
            2 => capacity.saturating_add(1),
            3 => u32::try_from(next(u64::from(capacity)) + 1).unwrap_or(capacity),
            _ => 1,
        };
        let peek = next(5) == 0;
        let at = Nanos::new(now);
        let (fleet, model) = if peek {
            (limiter.peek_at(conn, "key", n, at).await, core.peek(n, at))
        } else {
            (
                limiter.try_acquire_at(conn, "key", n, at).await,
                core.try_acquire(n, at),
            )
        };
        let fleet = Answer::of_fleet(fleet);
        let op = if peek { "peek" } else { "try_acquire" };
        assert_eq!(
            fleet,
            model,
            "{bucket:?}, seed {seed}, step {step}: {op}(n = {n}, now = ORIGIN + {})",
            now - ORIGIN
        );
        tally.peeks += u64::from(peek);
        tally.older_now += u64::from(now < newest_grant);
        match fleet.reason {
            None => tally.grants += 1,
            Some(stanchion::Reason::InsufficientCapacity) => tally.insufficient += 1,
            Some(_) => tally.rate_limited += 1,
        }
        if fleet.admitted && n > 0 && !peek {
            newest_grant = newest_grant.max(now);
            check_expiry(conn, &limiter, now, fleet.reset_after, seed, step).await;
        }
    }
}

/// The key of a grant expires when the bucket is full again, rounded up to the millisecond.
async fn check_expiry(
    conn: &mut MultiplexedConnection,
    limiter: &FleetLimiter,
    now: u64,
    reset_after: u64,
    seed: u64,
    step: u64,
) {
    let key = limiter.redis_key("key").expect("a valid key");
    let millis: i64 = redis::cmd("PEXPIRETIME")
        .arg(&key)
        .query_async(conn)
        .await
        .expect("PEXPIRETIME answers");
    let full_at = u128::from(now) + u128::from(reset_after);
    let expected = full_at.div_ceil(1_000_000);
    assert_eq!(
        i128::from(millis),
        expected as i128,
        "seed {seed}, step {step}: the key expires at {millis} ms, the bucket is full at {full_at} ns"
    );
}
