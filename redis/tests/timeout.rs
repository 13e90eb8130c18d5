//! A Redis that stops answering costs a call the connection's response timeout, no more, and
//! the timeout comes back as `Error::Redis` with the Redis error as its cause.

mod common;

use std::time::{Duration, Instant};

use redis::AsyncConnectionConfig;
use stanchion::{Nanos, TokenBucketConfig};
use stanchion_redis::{Error, FleetLimiter, FleetLimiterConfig};

#[tokio::test]
async fn a_silent_server_costs_the_response_timeout_and_no_more() {
    let (proxy, url) = common::proxy::Proxy::start().await;
    let config =
        AsyncConnectionConfig::new().set_response_timeout(Some(Duration::from_millis(200)));
    let mut conn = redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .unwrap();
    // The limiter's own timeout is longer, so the connection's is the one that runs out.
    let limiter = FleetLimiter::new(
        FleetLimiterConfig::new(TokenBucketConfig::new(5))
            .prefix(common::unique_prefix("timeout"))
            .timeout(Nanos::from_secs(5)),
    )
    .unwrap();
    limiter.try_acquire(&mut conn, "k", 1).await.unwrap();

    proxy.set_blackhole(true);
    let started = Instant::now();
    let result = limiter.try_acquire(&mut conn, "k", 1).await;
    let elapsed = started.elapsed();
    let Err(Error::Redis(error)) = result else {
        panic!("expected a Redis error, got {result:?}");
    };
    assert!(error.is_timeout(), "{error:?}");
    assert!(
        elapsed >= Duration::from_millis(200) && elapsed < Duration::from_secs(2),
        "{elapsed:?}"
    );
    let wrapped = Error::Redis(error);
    let cause = std::error::Error::source(&wrapped).expect("a cause");
    assert!(cause.downcast_ref::<redis::RedisError>().is_some());
}
