//! The fleet rate limiter: the core's token bucket, kept in Redis and decided by one call of
//! `scripts/gcra.lua`.

use std::borrow::Cow;

use std::sync::Arc;

use redis::aio::ConnectionLike;
use redis::{ErrorKind, RedisError, Script};
use stanchion::fleet::{self, Fallback, Unavailable};
use stanchion::{
    BreakerConfig, CircuitBreaker, ConfigError, Nanos, Reason, Rejected, TokenBucket,
    TokenBucketConfig,
};

use crate::guard::Guard;
use crate::{Error, Refused, Timer};

/// The GCRA script, the same file every binding ships.
pub(crate) const GCRA_LUA: &str = include_str!("../scripts/gcra.lua");

/// The prefix of every Redis key unless configured otherwise.
///
/// ```
/// use stanchion::TokenBucketConfig;
/// use stanchion_redis::{FleetLimiter, FleetLimiterConfig, DEFAULT_PREFIX};
/// let limiter = FleetLimiter::new(FleetLimiterConfig::new(TokenBucketConfig::new(1))).unwrap();
/// assert!(limiter.redis_key("a").unwrap().starts_with(DEFAULT_PREFIX));
/// ```
pub const DEFAULT_PREFIX: &str = stanchion::fleet::DEFAULT_PREFIX;

/// The longest limiter key accepted, in bytes.
///
/// ```
/// use stanchion::TokenBucketConfig;
/// use stanchion_redis::{FleetLimiter, FleetLimiterConfig, MAX_KEY_LEN};
/// let limiter = FleetLimiter::new(FleetLimiterConfig::new(TokenBucketConfig::new(1))).unwrap();
/// assert!(limiter.redis_key(&"k".repeat(MAX_KEY_LEN)).is_ok());
/// assert!(limiter.redis_key(&"k".repeat(MAX_KEY_LEN + 1)).is_err());
/// ```
pub const MAX_KEY_LEN: usize = stanchion::fleet::MAX_NAME_LEN;

/// The longest prefix accepted, in bytes.
///
/// ```
/// use stanchion::TokenBucketConfig;
/// use stanchion_redis::{FleetLimiterConfig, MAX_PREFIX_LEN};
/// let config = FleetLimiterConfig::new(TokenBucketConfig::new(1));
/// assert!(config.clone().prefix("p".repeat(MAX_PREFIX_LEN)).validate().is_ok());
/// assert!(config.prefix("p".repeat(MAX_PREFIX_LEN + 1)).validate().is_err());
/// ```
pub const MAX_PREFIX_LEN: usize = stanchion::fleet::MAX_PREFIX_LEN;

/// The largest burst the script computes exactly: `capacity × refill_every`, with the rate in
/// lowest terms, in units of `1 / refill_amount` ns. Every number the script handles then
/// stays an integer a double holds exactly (below 2^53).
///
/// ```
/// use stanchion::{Nanos, TokenBucketConfig};
/// use stanchion_redis::{FleetLimiterConfig, MAX_BURST_UNITS};
/// // One token per second: 10^9 units each.
/// let most = (MAX_BURST_UNITS / 1_000_000_000) as u32;
/// assert!(FleetLimiterConfig::new(TokenBucketConfig::new(most)).validate().is_ok());
/// assert!(FleetLimiterConfig::new(TokenBucketConfig::new(most + 1)).validate().is_err());
/// ```
pub const MAX_BURST_UNITS: u64 = stanchion::fleet::MAX_BURST_UNITS;

/// Configuration of a [`FleetLimiter`]: the core's [`TokenBucketConfig`] and the prefix of its
/// Redis keys.
///
/// Limiters that share a Redis share their keys' names: give each limiter its own prefix
/// (`"stanchion:login:"`, `"stanchion:api:"`), or two of them limiting the same name would
/// share one bucket. Every caller of a key should use the same config; when it changes (a
/// deploy), the new config takes over the moment the bucket would be full again.
///
/// ```
/// use stanchion::{Nanos, TokenBucketConfig};
/// use stanchion_redis::FleetLimiterConfig;
/// let config = FleetLimiterConfig::new(TokenBucketConfig::new(100).refill(10, Nanos::from_secs(1)))
///     .prefix("stanchion:api:");
/// assert!(config.validate().is_ok());
/// // A burst of 10^7 tokens at one per second refills in 116 days: too long to be exact.
/// let slow = FleetLimiterConfig::new(TokenBucketConfig::new(10_000_000));
/// assert_eq!(slow.validate().unwrap_err().field, "capacity");
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct FleetLimiterConfig {
    /// The burst and the refill rate, as for the core's `TokenBucket`.
    pub bucket: TokenBucketConfig,
    /// Put before every key: `<prefix>{<key>}:limiter`. At most [`MAX_PREFIX_LEN`] bytes,
    /// without `{` or `}`. Default [`DEFAULT_PREFIX`].
    pub prefix: Cow<'static, str>,
    /// What a call answers when Redis cannot decide (an error, a timeout, or the breaker
    /// open). Default [`Unavailable::Raise`]: the caller gets the [`Error`].
    pub on_unavailable: Unavailable,
    /// For `on_unavailable = Local`: the share of the fleet's burst and rate this process
    /// keeps while Redis is away, in (0, 1] (see [`stanchion::fleet::local_share`]).
    pub local_share: Option<f64>,
    /// How long one Redis call may take. Default [`stanchion::fleet::DEFAULT_CALL_TIMEOUT`]
    /// (250 ms).
    pub timeout: Nanos,
    /// The breaker guarding the connection. Default `None`: the core's breaker for the
    /// call timeout ([`stanchion::fleet::connection_breaker_for`]), with a random seed.
    pub breaker: Option<BreakerConfig>,
}

impl FleetLimiterConfig {
    /// A limiter with the bucket `bucket` and the default prefix.
    ///
    /// ```
    /// use stanchion::TokenBucketConfig;
    /// use stanchion_redis::FleetLimiterConfig;
    /// let config = FleetLimiterConfig::new(TokenBucketConfig::new(5));
    /// assert_eq!(config.prefix, "stanchion:");
    /// ```
    pub const fn new(bucket: TokenBucketConfig) -> FleetLimiterConfig {
        FleetLimiterConfig {
            bucket,
            prefix: Cow::Borrowed(DEFAULT_PREFIX),
            on_unavailable: Unavailable::DEFAULT,
            local_share: None,
            timeout: fleet::DEFAULT_CALL_TIMEOUT,
            breaker: None,
        }
    }

    /// The same config with another `on_unavailable` policy. For
    /// [`Unavailable::Local`], use [`local`](Self::local), which sets the share too.
    ///
    /// ```
    /// use stanchion::fleet::Unavailable;
    /// use stanchion::TokenBucketConfig;
    /// use stanchion_redis::FleetLimiterConfig;
    /// let config = FleetLimiterConfig::new(TokenBucketConfig::new(5)).on_unavailable(Unavailable::Allow);
    /// assert!(config.validate().is_ok());
    /// ```
    pub fn on_unavailable(self, policy: Unavailable) -> FleetLimiterConfig {
        FleetLimiterConfig {
            on_unavailable: policy,
            ..self
        }
    }

    /// The same config falling back, while Redis cannot decide, to a local token bucket
    /// holding `share` of the fleet's burst and rate (`1 / processes` keeps the fleet near its
    /// limit).
    ///
    /// ```
    /// use stanchion::fleet::Unavailable;
    /// use stanchion::TokenBucketConfig;
    /// use stanchion_redis::FleetLimiterConfig;
    /// let config = FleetLimiterConfig::new(TokenBucketConfig::new(100)).local(0.25);
    /// assert_eq!((config.on_unavailable, config.local_share), (Unavailable::Local, Some(0.25)));
    /// let bad = FleetLimiterConfig::new(TokenBucketConfig::new(100)).local(f64::NAN);
    /// assert_eq!(bad.validate().unwrap_err().field, "local_share");
    /// ```
    pub fn local(self, share: f64) -> FleetLimiterConfig {
        FleetLimiterConfig {
            on_unavailable: Unavailable::Local,
            local_share: Some(share),
            ..self
        }
    }

    /// The same config with another call timeout, 1 ns to 1 hour.
    ///
    /// ```
    /// use stanchion::{Nanos, TokenBucketConfig};
    /// use stanchion_redis::FleetLimiterConfig;
    /// let config = FleetLimiterConfig::new(TokenBucketConfig::new(5)).timeout(Nanos::from_millis(50));
    /// assert_eq!(config.timeout, Nanos::from_millis(50));
    /// ```
    pub fn timeout(self, timeout: Nanos) -> FleetLimiterConfig {
        FleetLimiterConfig { timeout, ..self }
    }

    /// The same config with another breaker guarding the connection.
    ///
    /// ```
    /// use stanchion::{breaker::BreakerConfig, TokenBucketConfig};
    /// use stanchion_redis::FleetLimiterConfig;
    /// let eager = BreakerConfig::new().failure_count(None).consecutive_failures(Some(1));
    /// let config = FleetLimiterConfig::new(TokenBucketConfig::new(5)).breaker(eager);
    /// assert_eq!(config.breaker.map(|b| b.consecutive_failures), Some(Some(1)));
    /// ```
    pub fn breaker(self, breaker: BreakerConfig) -> FleetLimiterConfig {
        FleetLimiterConfig {
            breaker: Some(breaker),
            ..self
        }
    }

    /// The same config with another key prefix.
    ///
    /// ```
    /// use stanchion::TokenBucketConfig;
    /// use stanchion_redis::FleetLimiterConfig;
    /// let config = FleetLimiterConfig::new(TokenBucketConfig::new(5)).prefix("app:login:");
    /// assert_eq!(config.prefix, "app:login:");
    /// ```
    pub fn prefix(self, prefix: impl Into<Cow<'static, str>>) -> FleetLimiterConfig {
        FleetLimiterConfig {
            prefix: prefix.into(),
            ..self
        }
    }

    /// Checks every field, returning the first one out of range: the core's token-bucket
    /// checks, then the bound that keeps the script exact (see the [crate docs](crate)), then
    /// the prefix.
    ///
    /// ```
    /// use stanchion::{Nanos, TokenBucketConfig};
    /// use stanchion_redis::FleetLimiterConfig;
    /// let too_fast = FleetLimiterConfig::new(TokenBucketConfig::new(1).refill(2, Nanos::new(1)));
    /// assert_eq!(too_fast.validate().unwrap_err().field, "refill_amount");
    /// let braced = FleetLimiterConfig::new(TokenBucketConfig::new(1)).prefix("a{b}:");
    /// assert_eq!(braced.validate().unwrap_err().field, "prefix");
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        fleet::check_bucket(self.bucket)?;
        fleet::check_prefix(&self.prefix)?;
        self.on_unavailable.check(self.local_share, true)?;
        fleet::check_timeout(self.timeout)?;
        match &self.breaker {
            Some(breaker) => breaker.validate(),
            None => Ok(()),
        }
    }
}

/// The bucket config with its rate in lowest terms, as the core keeps it.
fn reduced(bucket: TokenBucketConfig) -> Result<TokenBucketConfig, ConfigError> {
    Ok(TokenBucket::new(bucket)?.config())
}

/// A request the limiter admitted (or, from [`FleetLimiter::peek`], would admit).
///
/// ```
/// use stanchion::Nanos;
/// use stanchion_redis::Admitted;
/// let admitted = Admitted { remaining: 4, reset_after: Nanos::from_secs(1), fallback: false };
/// assert_eq!(admitted.remaining, 4);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Admitted {
    /// Whole tokens left in the bucket after the request (before it, for a peek).
    pub remaining: u64,
    /// How long until the bucket is full again; zero when it is full. The Redis key expires
    /// then (rounded up to the millisecond).
    pub reset_after: Nanos,
    /// Whether the `on_unavailable` policy admitted while Redis could not decide (`allow`,
    /// or the local stand-in of `local`); `remaining` and `reset_after` are then zero.
    pub fallback: bool,
}

/// A token bucket shared by every process that uses the same Redis and key: the core's
/// [`TokenBucket`], decided in Redis by one script call per request.
///
/// Holds no connection: each call takes one, so a `MultiplexedConnection`, a
/// `ConnectionManager` or a cluster connection all work, and one limiter serves them all.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use stanchion::{Nanos, TokenBucketConfig};
/// use stanchion_redis::{Error, FleetLimiter, FleetLimiterConfig};
///
/// let limiter = FleetLimiter::new(FleetLimiterConfig::new(
///     TokenBucketConfig::new(20).refill(10, Nanos::from_secs(1)),
/// ))?;
/// let client = redis::Client::open("redis://127.0.0.1/")?;
/// let mut conn = client.get_multiplexed_async_connection().await?;
/// match limiter.try_acquire(&mut conn, "user:42", 1).await {
///     Ok(admitted) => println!("go ahead, {} left", admitted.remaining),
///     Err(Error::Refused(refused)) => println!("slow down: {}", refused.rejected),
///     Err(error) => return Err(error.into()),
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct FleetLimiter {
    config: FleetLimiterConfig,
    guard: Guard,
    /// The stand-in while Redis cannot decide, for `on_unavailable = Local`.
    local: Option<TokenBucket>,
    /// The arguments the script takes for this config, formatted once.
    capacity: String,
    amount: String,
    every: String,
    script: Script,
}

impl FleetLimiter {
    /// A limiter with `config`, or the first field out of range.
    ///
    /// ```
    /// use stanchion::{Nanos, TokenBucketConfig};
    /// use stanchion_redis::{FleetLimiter, FleetLimiterConfig};
    /// let limiter = FleetLimiter::new(FleetLimiterConfig::new(
    ///     TokenBucketConfig::new(10).refill(1, Nanos::from_secs(3)),
    /// ))
    /// .unwrap();
    /// assert_eq!(limiter.config().bucket.capacity, 10);
    /// assert!(FleetLimiter::new(FleetLimiterConfig::new(TokenBucketConfig::new(0))).is_err());
    /// ```
    pub fn new(config: FleetLimiterConfig) -> Result<FleetLimiter, ConfigError> {
        config.validate()?;
        let bucket = reduced(config.bucket)?;
        let local = match config.local_share {
            Some(share) => Some(TokenBucket::new(fleet::local_share(bucket, share)?)?),
            None => None,
        };
        Ok(FleetLimiter {
            guard: Guard::new(
                config.timeout,
                config.breaker,
                crate::timer::default_timer(),
            )?,
            local,
            capacity: bucket.capacity.to_string(),
            amount: bucket.refill_amount.to_string(),
            every: bucket.refill_every.as_nanos().to_string(),
            config: FleetLimiterConfig { bucket, ..config },
            script: Script::new(GCRA_LUA),
        })
    }

    /// The config, with the rate in lowest terms (`refill(10, 20 ns)` reads back as
    /// `refill(1, 2 ns)`).
    ///
    /// ```
    /// use stanchion::{Nanos, TokenBucketConfig};
    /// use stanchion_redis::{FleetLimiter, FleetLimiterConfig};
    /// let limiter = FleetLimiter::new(FleetLimiterConfig::new(
    ///     TokenBucketConfig::new(5).refill(10, Nanos::new(20)),
    /// ))
    /// .unwrap();
    /// assert_eq!(limiter.config().bucket, TokenBucketConfig::new(5).refill(1, Nanos::new(2)));
    /// ```
    pub fn config(&self) -> &FleetLimiterConfig {
        &self.config
    }

    /// The Redis key that holds `key`'s bucket: `<prefix>{<key>}:limiter`. The braces make
    /// `key` the cluster hash tag, so every key of one call lives in one slot and different
    /// keys spread over the cluster.
    ///
    /// ```
    /// use stanchion::TokenBucketConfig;
    /// use stanchion_redis::{Error, FleetLimiter, FleetLimiterConfig};
    /// let limiter = FleetLimiter::new(FleetLimiterConfig::new(TokenBucketConfig::new(5))).unwrap();
    /// assert_eq!(limiter.redis_key("user:42").unwrap(), "stanchion:{user:42}:limiter");
    /// assert!(matches!(limiter.redis_key("a{b}"), Err(Error::InvalidKey { .. })));
    /// assert!(matches!(limiter.redis_key(""), Err(Error::InvalidKey { .. })));
    /// ```
    pub fn redis_key(&self, key: &str) -> Result<String, Error> {
        if key.is_empty() {
            return Err(Error::InvalidKey { reason: "empty" });
        }
        if key.len() > MAX_KEY_LEN {
            return Err(Error::InvalidKey {
                reason: "longer than 1024 bytes",
            });
        }
        if key.contains(['{', '}']) {
            return Err(Error::InvalidKey {
                reason: "contains `{` or `}`",
            });
        }
        Ok(format!("{}{{{key}}}:limiter", self.config.prefix))
    }

    /// Takes `n` tokens from `key`'s bucket now (by the Redis server's clock), or says why
    /// not and when to retry.
    ///
    /// The answers are the core's `TokenBucket::try_acquire`: `n == 0` always passes;
    /// `n > capacity` never can (`InsufficientCapacity`, `retry_after: None`); otherwise a
    /// refusal is `RateLimited` with the exact wait after which the same request passes, and
    /// takes nothing. One `EVALSHA` (loading the script first if the server answers
    /// `NOSCRIPT`), bounded by the connection's response timeout.
    ///
    /// ```no_run
    /// # async fn run(conn: &mut redis::aio::MultiplexedConnection) {
    /// use stanchion::TokenBucketConfig;
    /// use stanchion_redis::{FleetLimiter, FleetLimiterConfig};
    /// let limiter = FleetLimiter::new(FleetLimiterConfig::new(TokenBucketConfig::new(3))).unwrap();
    /// let admitted = limiter.try_acquire(conn, "tenant-7", 2).await.unwrap();
    /// assert!(admitted.remaining <= 1);
    /// # }
    /// ```
    pub async fn try_acquire<C>(&self, conn: &mut C, key: &str, n: u32) -> Result<Admitted, Error>
    where
        C: ConnectionLike,
    {
        self.decide(conn, key, n, false, None).await
    }

    /// What [`try_acquire`](FleetLimiter::try_acquire) would answer now, taking nothing.
    /// `remaining` and `reset_after` describe the bucket as it is.
    ///
    /// ```no_run
    /// # async fn run(conn: &mut redis::aio::MultiplexedConnection) {
    /// use stanchion::TokenBucketConfig;
    /// use stanchion_redis::{FleetLimiter, FleetLimiterConfig};
    /// let limiter = FleetLimiter::new(FleetLimiterConfig::new(TokenBucketConfig::new(3))).unwrap();
    /// if limiter.peek(conn, "tenant-7", 3).await.is_ok() {
    ///     println!("a burst of 3 would pass now");
    /// }
    /// # }
    /// ```
    pub async fn peek<C>(&self, conn: &mut C, key: &str, n: u32) -> Result<Admitted, Error>
    where
        C: ConnectionLike,
    {
        self.decide(conn, key, n, true, None).await
    }

    /// [`try_acquire`](FleetLimiter::try_acquire) at `now` (nanoseconds on the server's Unix
    /// clock) instead of the server's `TIME`: for conformance tests that replay a timeline.
    /// Production code must not pass client clocks, which disagree across a fleet.
    ///
    /// The key still expires on the server's clock, at the `now` given plus `reset_after`,
    /// so a timeline in the server's past leaves no state behind.
    ///
    /// ```no_run
    /// # async fn run(conn: &mut redis::aio::MultiplexedConnection) {
    /// use stanchion::{Nanos, TokenBucketConfig};
    /// use stanchion_redis::{FleetLimiter, FleetLimiterConfig};
    /// let limiter = FleetLimiter::new(FleetLimiterConfig::new(TokenBucketConfig::new(1))).unwrap();
    /// let year_2096 = Nanos::new(4_000_000_000_000_000_000);
    /// assert!(limiter.try_acquire_at(conn, "k", 1, year_2096).await.is_ok());
    /// assert!(limiter.try_acquire_at(conn, "k", 1, year_2096).await.is_err());
    /// # }
    /// ```
    #[doc(hidden)]
    pub async fn try_acquire_at<C>(
        &self,
        conn: &mut C,
        key: &str,
        n: u32,
        now: Nanos,
    ) -> Result<Admitted, Error>
    where
        C: ConnectionLike,
    {
        self.decide(conn, key, n, false, Some(now)).await
    }

    /// [`peek`](FleetLimiter::peek) at `now`, for conformance tests (see `try_acquire_at`).
    ///
    /// ```no_run
    /// # async fn run(conn: &mut redis::aio::MultiplexedConnection) {
    /// use stanchion::{Nanos, TokenBucketConfig};
    /// use stanchion_redis::{FleetLimiter, FleetLimiterConfig};
    /// let limiter = FleetLimiter::new(FleetLimiterConfig::new(TokenBucketConfig::new(1))).unwrap();
    /// let now = Nanos::new(4_000_000_000_000_000_000);
    /// assert_eq!(limiter.peek_at(conn, "k", 1, now).await.unwrap().remaining, 1);
    /// # }
    /// ```
    #[doc(hidden)]
    pub async fn peek_at<C>(
        &self,
        conn: &mut C,
        key: &str,
        n: u32,
        now: Nanos,
    ) -> Result<Admitted, Error>
    where
        C: ConnectionLike,
    {
        self.decide(conn, key, n, true, Some(now)).await
    }

    /// The same limiter with calls bounded by `timer` (another runtime's sleep) instead of
    /// the runtime feature's.
    ///
    /// ```
    /// use stanchion::TokenBucketConfig;
    /// use stanchion_redis::{FleetLimiter, FleetLimiterConfig, TokioTimer};
    /// let config = FleetLimiterConfig::new(TokenBucketConfig::new(5));
    /// let limiter = FleetLimiter::new(config).unwrap().with_timer(TokioTimer);
    /// # let _ = limiter;
    /// ```
    pub fn with_timer(mut self, timer: impl Timer) -> FleetLimiter {
        self.guard.set_timer(Arc::new(timer));
        self
    }

    /// The breaker guarding the connection, for metrics (`snapshot`) and operators
    /// (`force_open`, `reset`).
    ///
    /// ```
    /// use stanchion::{breaker::State, Nanos, TokenBucketConfig};
    /// use stanchion_redis::{FleetLimiter, FleetLimiterConfig};
    /// let limiter = FleetLimiter::new(FleetLimiterConfig::new(TokenBucketConfig::new(5))).unwrap();
    /// assert_eq!(limiter.breaker().snapshot(Nanos::ZERO).state, State::Closed);
    /// ```
    pub fn breaker(&self) -> &CircuitBreaker {
        self.guard.breaker()
    }

    /// Answers a call Redis could not decide by the `on_unavailable` policy (the core's
    /// [`fleet::fallback`]). A peek asks the local stand-in without taking.
    fn fall_back(&self, error: Error, n: u32, peek: bool) -> Result<Admitted, Error> {
        let now = self.guard.now();
        let decide = if peek {
            fleet::fallback_peek
        } else {
            fleet::fallback
        };
        let local = self.local.as_ref();
        match decide(
            self.config.on_unavailable,
            Reason::RateLimited,
            local,
            n,
            now,
        ) {
            Fallback::Admit => Ok(Admitted {
                remaining: 0,
                reset_after: Nanos::ZERO,
                fallback: true,
            }),
            Fallback::Refuse(rejected) => Err(Error::Refused(Refused {
                rejected,
                remaining: 0,
                reset_after: Nanos::ZERO,
                fallback: true,
            })),
            Fallback::Raise => Err(error),
        }
    }

    async fn decide<C>(
        &self,
        conn: &mut C,
        key: &str,
        n: u32,
        peek: bool,
        now: Option<Nanos>,
    ) -> Result<Admitted, Error>
    where
        C: ConnectionLike,
    {
        let key = self.redis_key(key)?;
        let mut invocation = self.script.key(key);
        invocation
            .arg(&self.capacity)
            .arg(&self.amount)
            .arg(&self.every)
            .arg(n.to_string())
            .arg(if peek { "1" } else { "0" });
        if let Some(now) = now {
            invocation.arg(now.as_nanos().to_string());
        }
        let reply: (i64, u64, Option<u64>, u64) =
            match self.guard.run(|| invocation.invoke_async(conn)).await {
                Ok(reply) => reply,
                Err(error) => return self.fall_back(error, n, peek),
            };
        let (allowed, remaining, retry_after, reset_after) = reply;
        let reset_after = Nanos::new(reset_after);
        match allowed {
            1 => Ok(Admitted {
                remaining,
                reset_after,
                fallback: false,
            }),
            0 => {
                let reason = if n > self.config.bucket.capacity {
                    Reason::InsufficientCapacity
                } else {
                    Reason::RateLimited
                };
                Err(Error::Refused(Refused {
                    rejected: Rejected::new(reason, retry_after.map(Nanos::new)),
                    remaining,
                    reset_after,
                    fallback: false,
                }))
            }
            _ => Err(Error::Redis(RedisError::from((
                ErrorKind::UnexpectedReturnType,
                "the limiter script answered neither 1 nor 0",
                allowed.to_string(),
            )))),
        }
    }
}
