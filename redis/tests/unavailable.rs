//! When Redis cannot decide (silenced by a proxy, or killed with SIGKILL and started again):
//! every call is bounded by the limiter's timeout, the breaker
//! guarding the connection opens after three failures so later calls make no call at all, each
//! `on_unavailable` policy answers as documented, and a probe closes the breaker once Redis
//! answers again.

mod common;

use std::time::Duration;

use common::proxy::Proxy;
use redis::aio::MultiplexedConnection;
use stanchion::breaker::{BreakerConfig, State};
use stanchion::fleet::Unavailable;
use stanchion::{Nanos, Reason, TokenBucketConfig};
use stanchion_redis::{Error, FleetLimiter, FleetLimiterConfig};

/// A short call timeout and a breaker that stays open long enough to observe, short enough to
/// wait out.
fn config(bucket: TokenBucketConfig, tag: &str) -> FleetLimiterConfig {
    FleetLimiterConfig::new(bucket)
        .prefix(common::unique_prefix(tag))
        .timeout(Nanos::from_millis(50))
        .breaker(
            stanchion::fleet::connection_breaker()
                .open_for(Nanos::from_millis(300))
                .open_for_growth(Nanos::from_millis(300), 1.0, 0.0),
        )
}

/// Makes the three failing calls that open the breaker, checking each is answered as
/// `expect` says.
async fn trip(
    limiter: &FleetLimiter,
    conn: &mut MultiplexedConnection,
    expect: impl Fn(&Result<stanchion_redis::Admitted, Error>) -> bool,
) {
    for _ in 0..3 {
        let answer = limiter.try_acquire(conn, "k", 1).await;
        assert!(expect(&answer), "{answer:?}");
    }
    assert_eq!(limiter.breaker().snapshot(Nanos::ZERO).state, State::Open);
}

#[tokio::test]
async fn raise_hands_over_the_timeout_then_the_open_breaker_without_calling() {
    let (proxy, url) = Proxy::start().await;
    let mut conn = common::connect_to(&url).await;
    let limiter = FleetLimiter::new(config(TokenBucketConfig::new(5), "raise")).unwrap();
    assert_eq!(limiter.config().on_unavailable, Unavailable::Raise);
    assert!(limiter.try_acquire(&mut conn, "k", 1).await.is_ok());

    proxy.set_blackhole(true);
    trip(&limiter, &mut conn, |answer| {
        matches!(answer, Err(Error::TimedOut { after }) if *after == Nanos::from_millis(50))
    })
    .await;
    let sent = proxy.sent();
    let answer = limiter.try_acquire(&mut conn, "k", 1).await;
    let Err(error @ Error::BreakerOpen(rejected)) = &answer else {
        panic!("expected the open breaker, got {answer:?}");
    };
    assert_eq!(rejected.reason, Reason::BreakerOpen);
    assert!(error.is_unavailable());
    assert_eq!(proxy.sent(), sent, "an open breaker makes no call");
}

#[tokio::test]
async fn allow_admits_and_deny_refuses_while_redis_is_silent() {
    let (proxy, url) = Proxy::start().await;
    let mut conn = common::connect_to(&url).await;
    let allow = FleetLimiter::new(
        config(TokenBucketConfig::new(1), "allow").on_unavailable(Unavailable::Allow),
    )
    .unwrap();
    let deny = FleetLimiter::new(
        config(TokenBucketConfig::new(1), "deny").on_unavailable(Unavailable::Deny),
    )
    .unwrap();
    proxy.set_blackhole(true);

    trip(
        &allow,
        &mut conn,
        |answer| matches!(answer, Ok(admitted) if admitted.fallback),
    )
    .await;
    // The bucket holds one token, yet every call passes: Redis is not asked.
    for _ in 0..5 {
        assert!(allow.try_acquire(&mut conn, "k", 1).await.unwrap().fallback);
    }
    let denied = |answer: &Result<_, Error>| match answer {
        Err(Error::Refused(refused)) => {
            refused.fallback
                && refused.rejected.reason == Reason::RateLimited
                && refused.rejected.retry_after.is_none()
        }
        _ => false,
    };
    trip(&deny, &mut conn, denied).await;
    assert!(denied(&deny.try_acquire(&mut conn, "k", 1).await));
    assert!(denied(&deny.peek(&mut conn, "k", 1).await));
}

#[tokio::test]
async fn local_keeps_its_share_of_the_fleet_limit() {
    let (proxy, url) = Proxy::start().await;
    let mut conn = common::connect_to(&url).await;
    // A fleet burst of 8 at 8 per hour; a quarter of it is a burst of 2 at 2 per hour.
    let fleet = TokenBucketConfig::new(8).refill(8, Nanos::from_secs(3600));
    let limiter = FleetLimiter::new(config(fleet, "local").local(0.25)).unwrap();
    proxy.set_blackhole(true);

    // The three calls that trip the breaker already ask the stand-in: two pass, one waits.
    let mut answers = Vec::new();
    for _ in 0..3 {
        answers.push(limiter.try_acquire(&mut conn, "k", 1).await);
    }
    assert!(answers[..2]
        .iter()
        .all(|a| matches!(a, Ok(a) if a.fallback)));
    let Err(Error::Refused(refused)) = &answers[2] else {
        panic!("expected the stand-in's refusal, got {:?}", answers[2]);
    };
    assert!(refused.fallback);
    assert_eq!(refused.rejected.reason, Reason::RateLimited);
    let wait = refused
        .rejected
        .retry_after
        .expect("the stand-in says when");
    assert!(
        wait > Nanos::from_secs(1_700) && wait <= Nanos::from_secs(1_800),
        "{wait:?}"
    );
    // A peek asks the stand-in and takes nothing; more than its burst can never pass.
    assert!(limiter.peek(&mut conn, "k", 1).await.is_err());
    let too_many = limiter.peek(&mut conn, "k", 3).await.unwrap_err();
    assert_eq!(
        too_many.rejected().map(|r| r.reason),
        Some(Reason::InsufficientCapacity)
    );
}

#[tokio::test]
async fn a_probe_closes_the_breaker_once_redis_answers_again() {
    let (proxy, url) = Proxy::start().await;
    let mut conn = common::connect_to(&url).await;
    let limiter = FleetLimiter::new(config(TokenBucketConfig::new(5), "probe")).unwrap();
    proxy.set_blackhole(true);
    trip(&limiter, &mut conn, Result::is_err).await;

    // The silenced connection's replies would arrive out of step; a fresh one stands in for
    // the client reconnecting.
    proxy.set_blackhole(false);
    let mut conn = common::connect_to(&url).await;
    let mut waited = Duration::ZERO;
    let admitted = loop {
        match limiter.try_acquire(&mut conn, "k", 1).await {
            Err(Error::BreakerOpen(_)) if waited < Duration::from_secs(10) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                waited += Duration::from_millis(50);
            }
            answer => break answer,
        }
    };
    let admitted = admitted.expect("the probe reaches Redis and is granted");
    assert!(!admitted.fallback);
    assert_eq!(admitted.remaining, 4);
    assert_eq!(limiter.breaker().snapshot(Nanos::ZERO).state, State::Closed);
}

#[test]
fn configs_name_the_field_out_of_range() {
    let base = FleetLimiterConfig::new(TokenBucketConfig::new(1));
    let cases = [
        (base.clone().timeout(Nanos::ZERO), "timeout"),
        (base.clone().local(0.0), "local_share"),
        (base.clone().local(1.5), "local_share"),
        (
            base.clone().on_unavailable(Unavailable::Local),
            "local_share",
        ),
        (
            base.clone()
                .breaker(BreakerConfig::new().half_open(0, None)),
            "half_open_probes",
        ),
    ];
    for (config, field) in cases {
        assert_eq!(FleetLimiter::new(config).unwrap_err().field, field);
    }
}

/// A server of this test's own, so it can be killed and started again on the same port.
struct OwnServer {
    port: u16,
    dir: std::path::PathBuf,
    child: Option<std::process::Child>,
}

impl OwnServer {
    fn start(port: u16, dir: std::path::PathBuf) -> OwnServer {
        let mut server = OwnServer {
            port,
            dir,
            child: None,
        };
        server.restart();
        server
    }

    fn restart(&mut self) {
        let child = std::process::Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--loglevel", "warning"])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server on the PATH (scripts/test-redis.sh installs it)");
        self.child = Some(child);
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("redis-server did not start on port {}", self.port);
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("SIGKILL");
            child.wait().expect("the killed server is reaped");
        }
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test]
async fn a_server_killed_and_restarted_opens_the_breaker_then_closes_it() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = std::env::temp_dir().join(common::unique_prefix("killed").replace(':', "-"));
    std::fs::create_dir_all(&dir).unwrap();
    let mut server = OwnServer::start(port, dir);
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
    // A manager reconnects by itself, as a service's connection would.
    let manager = redis::aio::ConnectionManagerConfig::new()
        .set_number_of_retries(1)
        .set_connection_timeout(Some(Duration::from_millis(100)))
        .set_response_timeout(Some(Duration::from_millis(100)));
    let mut conn = redis::aio::ConnectionManager::new_with_config(client, manager)
        .await
        .unwrap();
    let limiter = FleetLimiter::new(
        config(TokenBucketConfig::new(5), "killed").on_unavailable(Unavailable::Deny),
    )
    .unwrap();
    assert!(
        !limiter
            .try_acquire(&mut conn, "k", 1)
            .await
            .unwrap()
            .fallback
    );

    server.kill();
    for _ in 0..3 {
        let answer = limiter.try_acquire(&mut conn, "k", 1).await;
        assert!(
            matches!(&answer, Err(Error::Refused(refused)) if refused.fallback),
            "{answer:?}"
        );
    }
    assert_eq!(limiter.breaker().snapshot(Nanos::ZERO).state, State::Open);

    // The restarted server is empty: the bucket starts full again.
    server.restart();
    let mut waited = Duration::ZERO;
    let admitted = loop {
        match limiter.try_acquire(&mut conn, "k", 1).await {
            Ok(admitted) if !admitted.fallback => break admitted,
            _ if waited < Duration::from_secs(10) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                waited += Duration::from_millis(50);
            }
            other => panic!("Redis never came back: {other:?}"),
        }
    };
    assert_eq!(admitted.remaining, 4);
    assert_eq!(limiter.breaker().snapshot(Nanos::ZERO).state, State::Closed);
}
