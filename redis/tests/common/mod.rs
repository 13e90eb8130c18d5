//! What the tests against a live Redis share: where the servers are, fresh key prefixes, and
//! the core `TokenBucket` as the model every answer of the script is compared with.

// Each test file uses a different part of this module.
#![allow(dead_code)]

pub mod proxy;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use redis::aio::MultiplexedConnection;
use serde_json::{json, Map, Value};
use stanchion::{Nanos, Reason, TokenBucket, TokenBucketConfig};
use stanchion_redis::{Admitted, Error, FleetLimiter, FleetLimiterConfig};

/// Where a replayed timeline's instant 0 sits on the server's clock: 4 × 10^18 ns after the
/// Unix epoch (the year 2096), a whole number of milliseconds. A key's expiry is absolute on
/// the server's clock, so a timeline placed in its future keeps its keys for the whole run,
/// as the core keeps its state.
pub const ORIGIN: u64 = 4_000_000_000_000_000_000;

/// The largest integer every JSON reader holds exactly; larger ones are decimal strings.
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

const HOW: &str = "run scripts/test-redis.sh, which starts Redis servers on free loopback ports \
                   and runs these tests against them";

/// The standalone server's URL, from `STANCHION_REDIS_URL`. Tests that need Redis fail
/// without it rather than skip, so a green run always means they ran.
pub fn url() -> String {
    match std::env::var("STANCHION_REDIS_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => panic!("STANCHION_REDIS_URL is not set: {HOW}"),
    }
}

/// The cluster's node URLs, from `STANCHION_REDIS_CLUSTER_URLS` (comma-separated).
pub fn cluster_urls() -> Vec<String> {
    match std::env::var("STANCHION_REDIS_CLUSTER_URLS") {
        Ok(urls) if !urls.is_empty() => urls.split(',').map(str::to_string).collect(),
        _ => panic!("STANCHION_REDIS_CLUSTER_URLS is not set: {HOW}"),
    }
}

/// A multiplexed connection to `url` (a proxy, a replica, a RedLock server).
pub async fn connect_to(url: &str) -> MultiplexedConnection {
    redis::Client::open(url)
        .expect("a valid URL")
        .get_multiplexed_async_connection()
        .await
        .expect("a connection to the test server")
}

pub async fn connect() -> MultiplexedConnection {
    let client = redis::Client::open(url()).expect("a valid STANCHION_REDIS_URL");
    client
        .get_multiplexed_async_connection()
        .await
        .expect("a connection to the test server")
}

/// A key prefix no other test and no earlier run has used.
pub fn unique_prefix(tag: &str) -> String {
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_nanos();
    let count = COUNT.fetch_add(1, Ordering::Relaxed);
    format!("test:{tag}:{}:{since_epoch}:{count}:", std::process::id())
}

pub fn limiter(bucket: TokenBucketConfig, tag: &str) -> FleetLimiter {
    FleetLimiter::new(FleetLimiterConfig::new(bucket).prefix(unique_prefix(tag)))
        .expect("a valid test config")
}

/// One answer of a limiter, the script's or the core's, in the fields the scenarios name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Answer {
    pub admitted: bool,
    pub reason: Option<Reason>,
    pub retry_after: Option<u64>,
    pub remaining: u64,
    pub reset_after: u64,
}

impl Answer {
    /// The fleet limiter's answer; a failure to decide is a test failure.
    pub fn of_fleet(result: Result<Admitted, Error>) -> Answer {
        match result {
            Ok(admitted) => Answer {
                admitted: true,
                reason: None,
                retry_after: None,
                remaining: admitted.remaining,
                reset_after: admitted.reset_after.as_nanos(),
            },
            Err(Error::Refused(refused)) => Answer {
                admitted: false,
                reason: Some(refused.rejected.reason),
                retry_after: refused.rejected.retry_after.map(Nanos::as_nanos),
                remaining: refused.remaining,
                reset_after: refused.reset_after.as_nanos(),
            },
            Err(error) => panic!("the limiter did not decide: {error:?}"),
        }
    }

    pub fn json(&self) -> Map<String, Value> {
        let mut fields = Map::new();
        fields.insert("admitted".into(), json!(self.admitted));
        fields.insert(
            "reason".into(),
            self.reason.map_or(Value::Null, |r| json!(r.as_str())),
        );
        fields.insert(
            "retry_after".into(),
            self.retry_after.map_or(Value::Null, int_json),
        );
        fields.insert("remaining".into(), int_json(self.remaining));
        fields.insert("reset_after".into(), int_json(self.reset_after));
        fields
    }
}

/// A u64 as the scenario files write it: a number up to 2^53 - 1, a decimal string above.
pub fn int_json(n: u64) -> Value {
    if n <= MAX_SAFE_INTEGER {
        json!(n)
    } else {
        json!(n.to_string())
    }
}

/// The core's `TokenBucket` answering what the fleet limiter answers: the decision, then
/// `available` and `full_at - now` as `remaining` and `reset_after`.
pub struct CoreModel {
    config: TokenBucketConfig,
    bucket: TokenBucket,
    /// Every grant so far: the core has no peek, so a peek replays them on a fresh bucket
    /// and asks that one.
    grants: Vec<(u32, Nanos)>,
}

impl CoreModel {
    pub fn new(config: TokenBucketConfig) -> CoreModel {
        CoreModel {
            config,
            bucket: TokenBucket::new(config).expect("a valid core config"),
            grants: Vec::new(),
        }
    }

    pub fn try_acquire(&mut self, n: u32, now: Nanos) -> Answer {
        let result = self.bucket.try_acquire(n, now);
        if result.is_ok() && n > 0 {
            self.grants.push((n, now));
        }
        self.answer(result, now)
    }

    pub fn peek(&self, n: u32, now: Nanos) -> Answer {
        let replay = TokenBucket::new(self.config).expect("a valid core config");
        for &(n, at) in &self.grants {
            replay
                .try_acquire(n, at)
                .expect("a replayed grant is granted again");
        }
        self.answer(replay.try_acquire(n, now), now)
    }

    fn answer(&self, result: Result<(), stanchion::Rejected>, now: Nanos) -> Answer {
        let snapshot = self.bucket.snapshot(now);
        Answer {
            admitted: result.is_ok(),
            reason: result.err().map(|r| r.reason),
            retry_after: result
                .err()
                .and_then(|r| r.retry_after)
                .map(Nanos::as_nanos),
            remaining: snapshot.available,
            reset_after: snapshot.full_at.saturating_sub(now).as_nanos(),
        }
    }
}

/// The URL of a replica of the standalone server, from `STANCHION_REDIS_REPLICA_URL`.
pub fn replica_url() -> String {
    match std::env::var("STANCHION_REDIS_REPLICA_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => panic!("STANCHION_REDIS_REPLICA_URL is not set: {HOW}"),
    }
}

/// The URLs of the independent servers RedLock runs on, from `STANCHION_REDIS_REDLOCK_URLS`.
pub fn redlock_urls() -> Vec<String> {
    match std::env::var("STANCHION_REDIS_REDLOCK_URLS") {
        Ok(urls) if !urls.is_empty() => urls.split(',').map(str::to_string).collect(),
        _ => panic!("STANCHION_REDIS_REDLOCK_URLS is not set: {HOW}"),
    }
}

/// `redis://host:port/` split into its host and port.
pub fn host_port(url: &str) -> (String, u16) {
    let address = url.trim_start_matches("redis://").trim_end_matches('/');
    let (host, port) = address.rsplit_once(':').expect("host:port");
    (host.to_string(), port.parse().expect("a port"))
}

/// A connection that counts the commands sent through it (an `EVALSHA`, a `SCRIPT LOAD`
/// after `NOSCRIPT`), shared by its clones.
#[derive(Clone)]
pub struct Counting<C> {
    pub inner: C,
    pub calls: std::sync::Arc<AtomicU64>,
}

impl<C> Counting<C> {
    pub fn new(inner: C) -> Counting<C> {
        Counting {
            inner,
            calls: std::sync::Arc::new(AtomicU64::new(0)),
        }
    }

    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }
}

impl<C: redis::aio::ConnectionLike> redis::aio::ConnectionLike for Counting<C> {
    fn req_packed_command<'a>(
        &'a mut self,
        cmd: &'a redis::Cmd,
    ) -> redis::RedisFuture<'a, redis::Value> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.req_packed_command(cmd)
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<redis::Value>> {
        self.calls.fetch_add(count as u64, Ordering::SeqCst);
        self.inner.req_packed_commands(pipeline, offset, count)
    }

    fn get_db(&self) -> i64 {
        self.inner.get_db()
    }
}

pub fn quota(config: stanchion_redis::FleetQuotaConfig, tag: &str) -> stanchion_redis::FleetQuota {
    stanchion_redis::FleetQuota::new(config.prefix(unique_prefix(tag)))
        .expect("a valid test config")
}

pub fn semaphore(
    config: stanchion_redis::FleetSemaphoreConfig,
    tag: &str,
) -> stanchion_redis::FleetSemaphore {
    stanchion_redis::FleetSemaphore::new(config.prefix(unique_prefix(tag)))
        .expect("a valid test config")
}
