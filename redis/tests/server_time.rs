//! The limiter on the server's own clock, through the public API as users call it, and what
//! the scenarios cannot show: expiry in real time, the `NOSCRIPT` fallback, the script's own
//! checks of its arguments and state, a changed rate, and other connection types.

mod common;

use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, MultiplexedConnection};
use stanchion::{Nanos, Reason, TokenBucketConfig};
use stanchion_redis::{Error, FleetLimiter, FleetLimiterConfig};

/// The server's clock, in microseconds.
async fn server_micros(conn: &mut MultiplexedConnection) -> u64 {
    let (seconds, micros): (u64, u64) = redis::cmd("TIME")
        .query_async(conn)
        .await
        .expect("TIME answers");
    seconds * 1_000_000 + micros
}

#[tokio::test]
async fn a_burst_then_refusals_on_the_server_clock() {
    let mut conn = common::connect().await;
    let limiter = common::limiter(
        TokenBucketConfig::new(3).refill(1, Nanos::from_secs(1)),
        "server-time",
    );
    for left in (0..3).rev() {
        let admitted = limiter.try_acquire(&mut conn, "burst", 1).await.unwrap();
        assert_eq!(admitted.remaining, left);
    }
    let refused = match limiter.try_acquire(&mut conn, "burst", 1).await {
        Err(Error::Refused(refused)) => refused,
        other => panic!("expected a refusal, got {other:?}"),
    };
    assert_eq!(refused.rejected.reason, Reason::RateLimited);
    assert_eq!(refused.remaining, 0);
    let retry_after = refused.rejected.retry_after.unwrap().as_nanos();
    // A second's worth of tokens, less the time since the burst; on a clock of whole
    // microseconds and a rate of whole microseconds per token, a whole number of them.
    assert!(
        retry_after > 0 && retry_after <= 1_000_000_000,
        "{retry_after}"
    );
    assert_eq!(
        retry_after % 1000,
        0,
        "{retry_after} ns is not whole microseconds"
    );
    let reset_after = refused.reset_after.as_nanos();
    assert!(reset_after > 2_000_000_000 && reset_after <= 3_000_000_000);
    assert_eq!(reset_after % 1000, 0);

    tokio::time::sleep(Duration::from_nanos(retry_after)).await;
    limiter
        .try_acquire(&mut conn, "burst", 1)
        .await
        .expect("advancing by retry_after makes the same call pass");
}

#[tokio::test]
async fn a_grant_expires_the_key_when_the_bucket_is_full_again() {
    let mut conn = common::connect().await;
    let limiter = common::limiter(
        TokenBucketConfig::new(2).refill(1, Nanos::from_millis(150)),
        "expiry",
    );
    let key = limiter.redis_key("idle").unwrap();
    let before = server_micros(&mut conn).await;
    let started = Instant::now();
    let admitted = limiter.try_acquire(&mut conn, "idle", 2).await.unwrap();
    let after = server_micros(&mut conn).await;
    let pttl: i64 = redis::cmd("PTTL")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    let elapsed = started.elapsed();
    let reset_after = admitted.reset_after.as_nanos();
    assert_eq!(reset_after, 300_000_000, "a full burst at 150 ms per token");

    // The expiry is the decision time plus reset_after, rounded up to the millisecond; the
    // decision time lies between the two readings of the server's clock.
    let expires: i64 = redis::cmd("PEXPIRETIME")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    let earliest = (before * 1000 + reset_after).div_ceil(1_000_000);
    let latest = (after * 1000 + reset_after).div_ceil(1_000_000);
    assert!(
        (earliest..=latest).contains(&(expires as u64)),
        "expires at {expires} ms, not in {earliest}..={latest}"
    );
    // And PTTL right after the grant is reset_after, less the time since, in milliseconds:
    // one more at most, since the expiry is an instant rounded up to the millisecond and PTTL
    // counts from the current millisecond, rounded down.
    let reset_ms = reset_after.div_ceil(1_000_000) as i64;
    let slack = elapsed.as_millis() as i64 + 1;
    assert!(
        pttl <= reset_ms + 1 && pttl >= reset_ms - slack,
        "PTTL {pttl} ms after a grant with reset_after {reset_ms} ms (slack {slack} ms)"
    );

    tokio::time::sleep(Duration::from_millis(350)).await;
    let exists: bool = redis::cmd("EXISTS")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(!exists, "an idle key leaves nothing behind");
    let admitted = limiter.try_acquire(&mut conn, "idle", 2).await.unwrap();
    assert_eq!(admitted.remaining, 0);
}

#[tokio::test]
async fn refusals_and_peeks_write_nothing() {
    let mut conn = common::connect().await;
    let limiter = common::limiter(TokenBucketConfig::new(2), "writes");
    let key = limiter.redis_key("quiet").unwrap();
    let peeked = limiter.peek(&mut conn, "quiet", 2).await.unwrap();
    assert_eq!((peeked.remaining, peeked.reset_after), (2, Nanos::ZERO));
    let refused = limiter
        .try_acquire(&mut conn, "quiet", 3)
        .await
        .unwrap_err();
    assert_eq!(
        refused.rejected(),
        Some(stanchion::Rejected::new(Reason::InsufficientCapacity, None))
    );
    let exists: bool = redis::cmd("EXISTS")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(!exists);
}

#[tokio::test]
async fn the_script_is_loaded_again_after_the_server_forgets_it() {
    let mut conn = common::connect().await;
    let limiter = common::limiter(TokenBucketConfig::new(5), "noscript");
    limiter.try_acquire(&mut conn, "a", 1).await.unwrap();
    // Other tests may be running their scripts on this server now; they load them again too.
    let _: () = redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query_async(&mut conn)
        .await
        .unwrap();
    let admitted = limiter.try_acquire(&mut conn, "a", 1).await.unwrap();
    assert_eq!(admitted.remaining, 3);
}

#[tokio::test]
async fn every_connection_type_works() {
    let client = redis::Client::open(common::url()).unwrap();
    let mut manager = ConnectionManager::new(client).await.unwrap();
    let limiter = common::limiter(TokenBucketConfig::new(2), "manager");
    limiter.try_acquire(&mut manager, "m", 1).await.unwrap();
    limiter.try_acquire(&mut manager, "m", 1).await.unwrap();
    assert!(limiter.try_acquire(&mut manager, "m", 1).await.is_err());
}

/// A connection that fails the test if anything is sent on it.
struct NoRoundTrip;

impl redis::aio::ConnectionLike for NoRoundTrip {
    fn req_packed_command<'a>(
        &'a mut self,
        _: &'a redis::Cmd,
    ) -> redis::RedisFuture<'a, redis::Value> {
        panic!("a command was sent")
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        _: &'a redis::Pipeline,
        _: usize,
        _: usize,
    ) -> redis::RedisFuture<'a, Vec<redis::Value>> {
        panic!("a pipeline was sent")
    }

    fn get_db(&self) -> i64 {
        0
    }
}

#[tokio::test]
async fn bad_keys_are_refused_before_any_round_trip() {
    let limiter = common::limiter(TokenBucketConfig::new(2), "keys");
    for (key, reason) in [
        ("", "empty"),
        ("a{b", "contains `{` or `}`"),
        ("a}b", "contains `{` or `}`"),
        (&"x".repeat(1025), "longer than 1024 bytes"),
    ] {
        match limiter.try_acquire(&mut NoRoundTrip, key, 1).await {
            Err(Error::InvalidKey { reason: got }) => assert_eq!(got, reason),
            other => panic!("{key:?}: expected InvalidKey, got {other:?}"),
        }
    }
    let mut conn = common::connect().await;
    assert!(limiter
        .try_acquire(&mut conn, &"x".repeat(1024), 1)
        .await
        .is_ok());
}

#[tokio::test]
async fn the_script_checks_its_arguments_itself() {
    // Another binding could pass what this crate's validation refuses: the script refuses it
    // too, with an error, instead of computing inexactly.
    let mut conn = common::connect().await;
    let key = format!("{}{{args}}:limiter", common::unique_prefix("args"));
    let script = redis::Script::new(include_str!("../scripts/gcra.lua"));
    for (args, message) in [
        (["0", "1", "1000", "1", "0"], "capacity out of range"),
        (["4503600", "1", "1000000000", "1", "0"], "at most 2^52"),
        (["1", "2", "1", "1", "0"], "refill amount must be at most"),
        (
            ["1", "1", "1e3", "1", "0"],
            "refill period must be a decimal integer",
        ),
        (["1", "1", "1000", "-1", "0"], "n must be a decimal integer"),
        (["1", "1", "1000", "1", "yes"], "peek must be 0 or 1"),
    ] {
        let mut invocation = script.key(&key);
        for arg in args {
            invocation.arg(arg);
        }
        let error = invocation
            .invoke_async::<redis::Value>(&mut conn)
            .await
            .expect_err("refused by the script");
        assert!(
            error.to_string().contains(message),
            "{args:?}: {error} does not say {message:?}"
        );
    }
    // 4 503 599 per second reduces to 4 503 599 per 10^9 ns: far inside the bound.
    let mut invocation = script.key(&key);
    invocation
        .arg("1")
        .arg("4503599")
        .arg("1000000000")
        .arg("1")
        .arg("0");
    invocation
        .invoke_async::<redis::Value>(&mut conn)
        .await
        .unwrap();
    let mut invocation = script.key(&key);
    invocation
        .arg("1")
        .arg("1")
        .arg("1000")
        .arg("1")
        .arg("0")
        .arg("18446744073709551616");
    let error = invocation
        .invoke_async::<redis::Value>(&mut conn)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("now must be"), "{error}");
}

#[tokio::test]
async fn a_key_holding_something_else_is_an_error_not_a_full_bucket() {
    let mut conn = common::connect().await;
    let limiter = common::limiter(TokenBucketConfig::new(2), "corrupt");
    let key = limiter.redis_key("taken").unwrap();
    let _: () = redis::cmd("SET")
        .arg(&key)
        .arg("not a limiter")
        .query_async(&mut conn)
        .await
        .unwrap();
    // An error reply waiting will not change: raised as it is, and the connection's breaker
    // counts the answer as a success.
    for _ in 0..5 {
        match limiter.try_acquire(&mut conn, "taken", 1).await {
            Err(Error::Reply(error)) => {
                assert!(
                    error.to_string().contains("does not hold a limiter state"),
                    "{error}"
                )
            }
            other => panic!("expected the script's error reply, got {other:?}"),
        }
    }
    assert_eq!(
        limiter.breaker().snapshot(stanchion::Nanos::ZERO).state,
        stanchion::breaker::State::Closed
    );
    let _: () = redis::cmd("DEL")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_changed_config_takes_over_the_moment_the_bucket_is_full_again() {
    let mut conn = common::connect().await;
    let prefix = common::unique_prefix("config-change");
    let make = |bucket: TokenBucketConfig| {
        FleetLimiter::new(FleetLimiterConfig::new(bucket).prefix(prefix.clone())).unwrap()
    };
    // One key, first at 1 per second (units of 1 ns), then at 3 per 2 s (units of 1/3 ns).
    let old = make(TokenBucketConfig::new(3).refill(1, Nanos::from_secs(1)));
    let new = make(TokenBucketConfig::new(3).refill(3, Nanos::from_secs(2)));
    let now = Nanos::new(common::ORIGIN);
    old.try_acquire_at(&mut conn, "k", 3, now).await.unwrap();
    // Full again at 3 s; the new bucket's burst is 2 s, so its next token fits at 1 2/3 s.
    let refused = new
        .try_acquire_at(&mut conn, "k", 1, now)
        .await
        .unwrap_err();
    assert_eq!(refused.retry_after(), Some(Nanos::new(1_666_666_667)));
    assert_eq!(refused.refused().unwrap().reset_after, Nanos::from_secs(3));
    let then = now + Nanos::new(1_666_666_667);
    let admitted = new.try_acquire_at(&mut conn, "k", 1, then).await.unwrap();
    assert_eq!(admitted.reset_after, Nanos::from_secs(2));
    // Back in the old units: the bucket is full again 1 999 999 999 2/3 ns after `then`, read
    // as the next whole nanosecond, 2 s, which leaves the old bucket room for one token.
    let admitted = old.try_acquire_at(&mut conn, "k", 1, then).await.unwrap();
    assert_eq!(
        (admitted.remaining, admitted.reset_after),
        (0, Nanos::from_secs(3))
    );
    let refused = old
        .try_acquire_at(&mut conn, "k", 1, then)
        .await
        .unwrap_err();
    assert_eq!(refused.retry_after(), Some(Nanos::from_secs(1)));
}

#[tokio::test]
async fn a_redis_failure_is_the_cause_of_the_error() {
    let mut conn = common::connect().await;
    let limiter = common::limiter(TokenBucketConfig::new(2), "cause");
    let key = limiter.redis_key("list").unwrap();
    let _: () = redis::cmd("RPUSH")
        .arg(&key)
        .arg("x")
        .query_async(&mut conn)
        .await
        .unwrap();
    let error = limiter.try_acquire(&mut conn, "list", 1).await.unwrap_err();
    let source = std::error::Error::source(&error).expect("a cause");
    let redis = source
        .downcast_ref::<redis::RedisError>()
        .expect("the cause is the Redis error");
    assert!(redis.to_string().contains("WRONGTYPE"), "{redis}");
    let _: () = redis::cmd("DEL")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
}
