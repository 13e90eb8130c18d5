//! The fleet quota: a stock of units shared by every process that names it, taken from by one
//! call of `scripts/quota.lua` per bucket visited, never below zero, and charged once per
//! request id however often a take is retried.

use std::borrow::Cow;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use redis::aio::ConnectionLike;
use redis::{ErrorKind, RedisError, Script};
use stanchion::{rng, BreakerConfig, ConfigError, Nanos};

use crate::guard::Guard;
use crate::names::{self, check_name, check_request_id, check_units};
use crate::{Error, QuotaPool, SoldOut, DEFAULT_PREFIX};
use stanchion::fleet::{quota, MAX_MILLIS};

/// The quota script, the same file every binding ships.
pub(crate) const QUOTA_LUA: &str = include_str!("../scripts/quota.lua");

/// How long a bucket remembers a request id unless configured otherwise: 10 minutes, longer
/// than any sensible retry of a timed-out call, short enough that a busy quota's ids (about
/// 100 bytes each in Redis) stay small. The core's bound, shared by every language.
///
/// ```
/// use stanchion::Nanos;
/// use stanchion_redis::{FleetQuotaConfig, DEFAULT_ID_MEMORY};
/// assert_eq!(DEFAULT_ID_MEMORY, Nanos::from_secs(600));
/// assert_eq!(FleetQuotaConfig::new().id_memory, DEFAULT_ID_MEMORY);
/// ```
pub const DEFAULT_ID_MEMORY: Nanos = quota::DEFAULT_ID_MEMORY;

/// How many units a [`QuotaPool`] takes from Redis at once unless configured otherwise.
///
/// ```
/// use stanchion_redis::{FleetQuotaConfig, DEFAULT_BATCH};
/// assert_eq!(FleetQuotaConfig::new().batch, DEFAULT_BATCH);
/// ```
pub const DEFAULT_BATCH: u64 = quota::DEFAULT_BATCH;

/// The most buckets a quota may be split over.
///
/// ```
/// use stanchion_redis::{FleetQuotaConfig, MAX_BUCKETS};
/// assert!(FleetQuotaConfig::new().buckets(MAX_BUCKETS).validate().is_ok());
/// assert!(FleetQuotaConfig::new().buckets(MAX_BUCKETS + 1).validate().is_err());
/// ```
pub const MAX_BUCKETS: u32 = quota::MAX_BUCKETS;

/// Configuration of a [`FleetQuota`]: the key prefix, how many buckets the stock is split
/// over, how long request ids are remembered, and the size of a local batch.
///
/// Every process using a quota must use the same prefix and bucket count: they name its
/// keys. Changing the bucket count moves the stock to other keys, so it is a migration, not
/// a deploy.
///
/// ```
/// use stanchion::Nanos;
/// use stanchion_redis::FleetQuotaConfig;
/// let config = FleetQuotaConfig::new()
///     .prefix("shop:stock:")
///     .buckets(8)
///     .id_memory(Nanos::from_secs(3600))
///     .batch(50);
/// assert!(config.validate().is_ok());
/// assert_eq!(FleetQuotaConfig::new().buckets(0).validate().unwrap_err().field, "buckets");
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct FleetQuotaConfig {
    /// Put before every key: `<prefix>{<name>:<bucket>}:quota`. At most 256 bytes, without
    /// `{` or `}`. Default [`DEFAULT_PREFIX`].
    pub prefix: Cow<'static, str>,
    /// How many buckets the stock is split over, `1..=1024` ([`MAX_BUCKETS`]); default 1.
    /// Each bucket is its own cluster hash tag, so a hot quota's takes spread over slots
    /// (and nodes); a take is served by one bucket, so with more buckets a quota can
    /// refuse a take of `n > 1` while holding `n` units spread thin (see [`FleetQuota`]).
    pub buckets: u32,
    /// How long a bucket remembers a request id and its outcome, `1 ms..=2^40 ms`, kept in
    /// whole milliseconds (rounded down); default [`DEFAULT_ID_MEMORY`] (10 minutes). A
    /// take retried with the same id within this time is charged once; after it, the id is
    /// forgotten and a retry takes again.
    pub id_memory: Nanos,
    /// How many units a [`QuotaPool`] takes from Redis when it runs dry, `1..=2^53 - 1`;
    /// default [`DEFAULT_BATCH`] (100).
    pub batch: u64,
    /// How long one Redis call may take. Default
    /// [`stanchion::fleet::DEFAULT_CALL_TIMEOUT`] (250 ms).
    pub timeout: Nanos,
    /// The breaker guarding the connection. Default `None`: the core's breaker for the
    /// call timeout ([`stanchion::fleet::connection_breaker_for`]), with a random seed.
    pub breaker: Option<BreakerConfig>,
}

impl FleetQuotaConfig {
    /// The defaults: prefix `stanchion:`, one bucket, ids remembered for 10 minutes, batches
    /// of 100.
    ///
    /// ```
    /// use stanchion_redis::FleetQuotaConfig;
    /// let config = FleetQuotaConfig::new();
    /// assert_eq!((config.buckets, config.batch), (1, 100));
    /// assert_eq!(config.prefix, "stanchion:");
    /// ```
    pub const fn new() -> FleetQuotaConfig {
        FleetQuotaConfig {
            prefix: Cow::Borrowed(DEFAULT_PREFIX),
            buckets: 1,
            id_memory: DEFAULT_ID_MEMORY,
            batch: DEFAULT_BATCH,
            timeout: stanchion::fleet::DEFAULT_CALL_TIMEOUT,
            breaker: None,
        }
    }

    /// The same config with another call timeout, 1 ns to 1 hour.
    ///
    /// ```
    /// use stanchion::Nanos;
    /// use stanchion_redis::FleetQuotaConfig;
    /// let config = FleetQuotaConfig::new().timeout(Nanos::from_millis(50));
    /// assert_eq!(config.timeout, Nanos::from_millis(50));
    /// ```
    pub const fn timeout(mut self, timeout: Nanos) -> FleetQuotaConfig {
        self.timeout = timeout;
        self
    }

    /// The same config with another breaker guarding the connection.
    ///
    /// ```
    /// use stanchion_redis::FleetQuotaConfig;
    /// let eager = stanchion::fleet::connection_breaker().consecutive_failures(Some(1));
    /// assert_eq!(FleetQuotaConfig::new().breaker(eager).breaker.map(|b| b.consecutive_failures), Some(Some(1)));
    /// ```
    pub const fn breaker(mut self, breaker: BreakerConfig) -> FleetQuotaConfig {
        self.breaker = Some(breaker);
        self
    }

    /// The same config with another key prefix.
    ///
    /// ```
    /// use stanchion_redis::FleetQuotaConfig;
    /// assert_eq!(FleetQuotaConfig::new().prefix("shop:").prefix, "shop:");
    /// ```
    pub fn prefix(self, prefix: impl Into<Cow<'static, str>>) -> FleetQuotaConfig {
        FleetQuotaConfig {
            prefix: prefix.into(),
            ..self
        }
    }

    /// The same config split over `buckets` buckets.
    ///
    /// ```
    /// use stanchion_redis::FleetQuotaConfig;
    /// assert_eq!(FleetQuotaConfig::new().buckets(16).buckets, 16);
    /// ```
    pub const fn buckets(mut self, buckets: u32) -> FleetQuotaConfig {
        self.buckets = buckets;
        self
    }

    /// The same config remembering request ids for `id_memory`.
    ///
    /// ```
    /// use stanchion::Nanos;
    /// use stanchion_redis::FleetQuotaConfig;
    /// let config = FleetQuotaConfig::new().id_memory(Nanos::from_secs(60));
    /// assert_eq!(config.id_memory, Nanos::from_secs(60));
    /// ```
    pub const fn id_memory(mut self, id_memory: Nanos) -> FleetQuotaConfig {
        self.id_memory = id_memory;
        self
    }

    /// The same config with local batches of `batch` units.
    ///
    /// ```
    /// use stanchion_redis::FleetQuotaConfig;
    /// assert_eq!(FleetQuotaConfig::new().batch(10).batch, 10);
    /// ```
    pub const fn batch(mut self, batch: u64) -> FleetQuotaConfig {
        self.batch = batch;
        self
    }

    /// Checks every field, returning the first one out of range.
    ///
    /// ```
    /// use stanchion::Nanos;
    /// use stanchion_redis::FleetQuotaConfig;
    /// let forgetful = FleetQuotaConfig::new().id_memory(Nanos::from_micros(999));
    /// assert_eq!(forgetful.validate().unwrap_err().field, "id_memory");
    /// assert_eq!(FleetQuotaConfig::new().batch(0).validate().unwrap_err().field, "batch");
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        names::check_prefix(&self.prefix)?;
        quota::check_buckets(self.buckets)?;
        quota::id_memory_millis(self.id_memory)?;
        quota::check_units("batch", self.batch)?;
        stanchion::fleet::check_timeout(self.timeout)?;
        match &self.breaker {
            Some(breaker) => breaker.validate(),
            None => Ok(()),
        }
    }
}

impl Default for FleetQuotaConfig {
    /// [`FleetQuotaConfig::new`].
    ///
    /// ```
    /// use stanchion_redis::FleetQuotaConfig;
    /// assert_eq!(FleetQuotaConfig::default(), FleetQuotaConfig::new());
    /// ```
    fn default() -> FleetQuotaConfig {
        FleetQuotaConfig::new()
    }
}

/// A take the quota served.
///
/// ```
/// use stanchion_redis::Taken;
/// let taken = Taken { bucket: 3, remaining: 41, replayed: false };
/// assert_eq!(taken.remaining, 41);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Taken {
    /// The bucket that served it.
    pub bucket: u32,
    /// The units left in that bucket after the call (the whole stock when the quota has one
    /// bucket). For a replayed take, what is left now.
    pub remaining: u64,
    /// The request id was remembered: an earlier call with it was served, and this one took
    /// nothing.
    pub replayed: bool,
}

/// A stock of units shared by every process that uses the same Redis, prefix and name:
/// hot-item inventory, seats, credits. A take never drives it below zero, and a take with a
/// request id is charged once however often it is retried while the id is remembered.
///
/// # Buckets
///
/// A quota of K buckets keeps K counts, the Redis keys `<prefix>{<name>:<i>}:quota` for
/// `i` in `0..K`: each its own hash tag, so on a cluster they land on different slots (and
/// nodes) and a hot item's takes spread over them. A take visits the buckets one call at a
/// time, from a starting bucket round the ring, until one holds the units asked for; it is
/// [`SoldOut`] only when every bucket, at the moment it was visited, held fewer. One call
/// touches one bucket, one slot, and a take is served whole by one bucket, never split: a
/// take of `n > 1` is refused when no single bucket holds `n`, even if the buckets together
/// do. Keep takes small against the stock per bucket, or use one bucket.
///
/// A take without an id starts at a random bucket. A take with an id starts at the bucket
/// [`start_bucket`](FleetQuota::start_bucket) derives from the id, and each bucket it visits
/// remembers the id's outcome there, served or not: a retry visits the same buckets in the same
/// order, and each answers as it did, so the take is charged once even when the first attempt
/// failed half way round. Restocking spreads the units evenly over the buckets.
///
/// Holds no connection: each call takes one, so a `MultiplexedConnection`, a
/// `ConnectionManager` or a cluster connection all work. When Redis cannot answer, every call
/// returns [`Error::Redis`]: a quota never guesses.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use stanchion_redis::{Error, FleetQuota, FleetQuotaConfig};
///
/// let quota = FleetQuota::new(FleetQuotaConfig::new().prefix("shop:stock:").buckets(8))?;
/// let client = redis::Client::open("redis://127.0.0.1/")?;
/// let mut conn = client.get_multiplexed_async_connection().await?;
/// quota.restock(&mut conn, "sku-42", 1_000).await?;
/// // The order id makes the take safe to retry after a timeout.
/// match quota.take_with_id(&mut conn, "sku-42", 1, "order-7781").await {
///     Ok(taken) => println!("reserved; {} left in bucket {}", taken.remaining, taken.bucket),
///     Err(Error::SoldOut(_)) => println!("sold out"),
///     Err(error) => return Err(error.into()),
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct FleetQuota {
    config: FleetQuotaConfig,
    /// The timeout and breaker every call goes through, shared by clones and pools.
    guard: Arc<Guard>,
    /// The id memory in milliseconds, formatted once.
    memory: String,
    script: Script,
    /// The random starting buckets: SplitMix64 draws from a per-quota seed.
    seed: u64,
    draws: Arc<AtomicU64>,
}

impl FleetQuota {
    /// A quota with `config`, or the first field out of range.
    ///
    /// ```
    /// use stanchion_redis::{FleetQuota, FleetQuotaConfig};
    /// assert!(FleetQuota::new(FleetQuotaConfig::new().buckets(4)).is_ok());
    /// assert!(FleetQuota::new(FleetQuotaConfig::new().buckets(2000)).is_err());
    /// ```
    pub fn new(config: FleetQuotaConfig) -> Result<FleetQuota, ConfigError> {
        config.validate()?;
        let memory = quota::id_memory_millis(config.id_memory)
            .unwrap_or(MAX_MILLIS)
            .to_string();
        Ok(FleetQuota {
            guard: Arc::new(Guard::new(
                config.timeout,
                config.breaker,
                crate::timer::default_timer(),
            )?),
            config,
            memory,
            script: Script::new(QUOTA_LUA),
            // Not a secret: only spreads starting buckets, differently in each process.
            seed: RandomState::new().hash_one(0u8),
            draws: Arc::new(AtomicU64::new(0)),
        })
    }

    /// The config.
    ///
    /// ```
    /// use stanchion_redis::{FleetQuota, FleetQuotaConfig};
    /// let quota = FleetQuota::new(FleetQuotaConfig::new().buckets(4)).unwrap();
    /// assert_eq!(quota.config().buckets, 4);
    /// ```
    pub fn config(&self) -> &FleetQuotaConfig {
        &self.config
    }

    /// The Redis key of bucket `bucket` of quota `name`: `<prefix>{<name>:<bucket>}:quota`.
    /// The braces make `name:bucket` the cluster hash tag, so each bucket has its own slot.
    ///
    /// ```
    /// use stanchion_redis::{Error, FleetQuota, FleetQuotaConfig};
    /// let quota = FleetQuota::new(FleetQuotaConfig::new().buckets(4)).unwrap();
    /// assert_eq!(quota.redis_key("sku-42", 3).unwrap(), "stanchion:{sku-42:3}:quota");
    /// assert!(matches!(quota.redis_key("sku-42", 4), Err(Error::InvalidArgument(_))));
    /// assert!(matches!(quota.redis_key("a{b}", 0), Err(Error::InvalidKey { .. })));
    /// ```
    pub fn redis_key(&self, name: &str, bucket: u32) -> Result<String, Error> {
        check_name(name)?;
        self.check_bucket(bucket)?;
        Ok(self.key(name, bucket))
    }

    /// The bucket where a take with `request_id` starts: the 64-bit FNV-1a hash of the id's
    /// bytes, modulo the bucket count. Every binding computes it the same way, so a take
    /// retried from another language visits the buckets in the same order.
    ///
    /// ```
    /// use stanchion_redis::{FleetQuota, FleetQuotaConfig};
    /// let quota = FleetQuota::new(FleetQuotaConfig::new().buckets(8)).unwrap();
    /// // FNV-1a of "order-1" is 0xdee4809f34bee86d.
    /// assert_eq!(quota.start_bucket("order-1"), 5);
    /// let single = FleetQuota::new(FleetQuotaConfig::new()).unwrap();
    /// assert_eq!(single.start_bucket("order-1"), 0);
    /// ```
    pub fn start_bucket(&self, request_id: &str) -> u32 {
        let hash = request_id
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325u64, |hash, byte| {
                (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
            });
        (hash % u64::from(self.config.buckets)) as u32
    }

    /// Takes `n` units from quota `name`, or refuses with [`Error::SoldOut`] when no bucket
    /// holds `n`. A take whose answer is lost (a timeout) may or may not have been charged:
    /// use [`take_with_id`](FleetQuota::take_with_id) to retry safely.
    ///
    /// One call per bucket visited: one when the first bucket serves it, up to the bucket
    /// count when the quota is sold out.
    ///
    /// ```no_run
    /// # async fn run(conn: &mut redis::aio::MultiplexedConnection) {
    /// use stanchion_redis::{FleetQuota, FleetQuotaConfig};
    /// let quota = FleetQuota::new(FleetQuotaConfig::new()).unwrap();
    /// quota.restock(conn, "seats", 2).await.unwrap();
    /// assert_eq!(quota.take(conn, "seats", 2).await.unwrap().remaining, 0);
    /// assert!(quota.take(conn, "seats", 1).await.is_err());
    /// # }
    /// ```
    pub async fn take<C>(&self, conn: &mut C, name: &str, n: u64) -> Result<Taken, Error>
    where
        C: ConnectionLike,
    {
        check_units(n)?;
        let start = self.random_bucket();
        self.sweep(conn, name, n, n, None, start, None)
            .await
            .map(|(taken, _)| taken)
    }

    /// [`take`](FleetQuota::take), charged once per `request_id` (1 to 256 bytes): retried
    /// with the same id while the id is remembered (the config's `id_memory`), it answers
    /// what the first call answered and takes nothing more. A refusal is remembered too. An
    /// id used for a take of another `n` is an [`Error::InvalidArgument`] on `request_id`.
    ///
    /// ```no_run
    /// # async fn run(conn: &mut redis::aio::MultiplexedConnection) {
    /// use stanchion_redis::{FleetQuota, FleetQuotaConfig};
    /// let quota = FleetQuota::new(FleetQuotaConfig::new()).unwrap();
    /// quota.restock(conn, "sku-9", 5).await.unwrap();
    /// let first = quota.take_with_id(conn, "sku-9", 2, "order-1").await.unwrap();
    /// let retry = quota.take_with_id(conn, "sku-9", 2, "order-1").await.unwrap();
    /// assert!(!first.replayed && retry.replayed);
    /// assert_eq!(quota.remaining(conn, "sku-9").await.unwrap(), 3);
    /// # }
    /// ```
    pub async fn take_with_id<C>(
        &self,
        conn: &mut C,
        name: &str,
        n: u64,
        request_id: &str,
    ) -> Result<Taken, Error>
    where
        C: ConnectionLike,
    {
        check_units(n)?;
        check_request_id(request_id)?;
        let start = self.start_bucket(request_id);
        self.sweep(conn, name, n, n, Some(request_id), start, None)
            .await
            .map(|(taken, _)| taken)
    }

    /// A take at `now` (nanoseconds on the server's Unix clock) instead of the server's
    /// `TIME`, starting at bucket `start` when there is no request id (a random one when
    /// `None`): for conformance tests that replay a timeline. Only request ids' memory
    /// depends on time. Production code must not pass client clocks.
    ///
    /// ```no_run
    /// # async fn run(conn: &mut redis::aio::MultiplexedConnection) {
    /// use stanchion::Nanos;
    /// use stanchion_redis::{FleetQuota, FleetQuotaConfig};
    /// let quota = FleetQuota::new(FleetQuotaConfig::new()).unwrap();
    /// let year_2096 = Nanos::new(4_000_000_000_000_000_000);
    /// let _ = quota.take_at(conn, "k", 1, Some("id"), None, year_2096).await;
    /// # }
    /// ```
    #[doc(hidden)]
    pub async fn take_at<C>(
        &self,
        conn: &mut C,
        name: &str,
        n: u64,
        request_id: Option<&str>,
        start: Option<u32>,
        now: Nanos,
    ) -> Result<Taken, Error>
    where
        C: ConnectionLike,
    {
        check_units(n)?;
        let start = match (request_id, start) {
            (Some(id), _) => {
                check_request_id(id)?;
                self.start_bucket(id)
            }
            (None, Some(start)) => {
                self.check_bucket(start)?;
                start
            }
            (None, None) => self.random_bucket(),
        };
        self.sweep(conn, name, n, n, request_id, start, Some(now))
            .await
            .map(|(taken, _)| taken)
    }

    /// Adds `n` units to quota `name`, spread evenly over its buckets (the first `n % K` from
    /// a random bucket on get one more), and returns the units the buckets held after, summed
    /// as each call left them. One call per bucket (a bucket that gets no units is read);
    /// a failure part way leaves the buckets before it restocked (read them with
    /// [`remaining`](FleetQuota::remaining)). A bucket saturates at 2^53 - 1 units.
    ///
    /// ```no_run
    /// # async fn run(conn: &mut redis::aio::MultiplexedConnection) {
    /// use stanchion_redis::{FleetQuota, FleetQuotaConfig};
    /// let quota = FleetQuota::new(FleetQuotaConfig::new().buckets(4)).unwrap();
    /// quota.restock(conn, "sku-1", 10).await.unwrap(); // 3, 3, 2, 2 from a random bucket
    /// # }
    /// ```
    pub async fn restock<C>(&self, conn: &mut C, name: &str, n: u64) -> Result<u64, Error>
    where
        C: ConnectionLike,
    {
        let start = self.random_bucket();
        self.restock_from(conn, name, n, start).await
    }

    /// [`restock`](FleetQuota::restock) with the extra units from bucket `start` on, for
    /// conformance tests.
    ///
    /// ```no_run
    /// # async fn run(conn: &mut redis::aio::MultiplexedConnection) {
    /// use stanchion_redis::{FleetQuota, FleetQuotaConfig};
    /// let quota = FleetQuota::new(FleetQuotaConfig::new().buckets(4)).unwrap();
    /// quota.restock_from(conn, "sku-1", 10, 2).await.unwrap(); // 2, 2, 3, 3
    /// # }
    /// ```
    #[doc(hidden)]
    pub async fn restock_from<C>(
        &self,
        conn: &mut C,
        name: &str,
        n: u64,
        start: u32,
    ) -> Result<u64, Error>
    where
        C: ConnectionLike,
    {
        check_name(name)?;
        check_units(n)?;
        self.check_bucket(start)?;
        let buckets = u64::from(self.config.buckets);
        let (share, extra) = (n / buckets, n % buckets);
        let mut total = 0u64;
        for step in 0..self.config.buckets {
            let bucket = (start + step) % self.config.buckets;
            let units = share + u64::from(u64::from(step) < extra);
            let remaining = if units == 0 {
                self.bucket_remaining(conn, name, bucket).await?
            } else {
                self.restock_bucket(conn, name, bucket, units).await?
            };
            total = total.saturating_add(remaining);
        }
        Ok(total)
    }

    /// Adds `n` units to one bucket and returns its count after.
    pub(crate) async fn restock_bucket<C>(
        &self,
        conn: &mut C,
        name: &str,
        bucket: u32,
        n: u64,
    ) -> Result<u64, Error>
    where
        C: ConnectionLike,
    {
        let mut invocation = self.script.key(self.key(name, bucket));
        invocation.arg("restock").arg(n.to_string());
        let reply: (u64,) = self.guard.run(|| invocation.invoke_async(conn)).await?;
        Ok(reply.0)
    }

    /// The units quota `name` holds, summed over its buckets (one call each, so on a busy
    /// bucketed quota a sum of counts read moments apart).
    ///
    /// ```no_run
    /// # async fn run(conn: &mut redis::aio::MultiplexedConnection) {
    /// use stanchion_redis::{FleetQuota, FleetQuotaConfig};
    /// let quota = FleetQuota::new(FleetQuotaConfig::new()).unwrap();
    /// println!("{} left", quota.remaining(conn, "sku-42").await.unwrap());
    /// # }
    /// ```
    pub async fn remaining<C>(&self, conn: &mut C, name: &str) -> Result<u64, Error>
    where
        C: ConnectionLike,
    {
        check_name(name)?;
        let mut total = 0u64;
        for bucket in 0..self.config.buckets {
            total = total.saturating_add(self.bucket_remaining(conn, name, bucket).await?);
        }
        Ok(total)
    }

    /// The units bucket `bucket` of quota `name` holds.
    ///
    /// ```no_run
    /// # async fn run(conn: &mut redis::aio::MultiplexedConnection) {
    /// use stanchion_redis::{FleetQuota, FleetQuotaConfig};
    /// let quota = FleetQuota::new(FleetQuotaConfig::new().buckets(4)).unwrap();
    /// for bucket in 0..4 {
    ///     println!("{bucket}: {}", quota.bucket_remaining(conn, "sku-42", bucket).await.unwrap());
    /// }
    /// # }
    /// ```
    pub async fn bucket_remaining<C>(
        &self,
        conn: &mut C,
        name: &str,
        bucket: u32,
    ) -> Result<u64, Error>
    where
        C: ConnectionLike,
    {
        let key = self.redis_key(name, bucket)?;
        let mut invocation = self.script.key(key);
        invocation.arg("remaining");
        let reply: (u64,) = self.guard.run(|| invocation.invoke_async(conn)).await?;
        Ok(reply.0)
    }

    /// A local pool of quota `name`'s units for this process, holding its own `conn`: takes
    /// are served from the pool with no round trip, and one call takes up to
    /// [`batch`](FleetQuotaConfig::batch) units from Redis when it runs dry. See
    /// [`QuotaPool`].
    ///
    /// ```no_run
    /// # async fn run(conn: redis::aio::MultiplexedConnection) -> Result<(), stanchion_redis::Error> {
    /// use stanchion_redis::{FleetQuota, FleetQuotaConfig};
    /// let quota = FleetQuota::new(FleetQuotaConfig::new().batch(100)).unwrap();
    /// let pool = quota.pool(conn, "api-credits")?;
    /// pool.take(1).await?;
    /// pool.close().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn pool<C>(&self, conn: C, name: &str) -> Result<QuotaPool<C>, Error>
    where
        C: ConnectionLike + Clone + Send + 'static,
    {
        check_name(name)?;
        Ok(QuotaPool::new(self.clone(), conn, name.to_string()))
    }

    /// Visits the buckets from `start` round the ring until one serves a take of at least
    /// `least` and at most `most` units; returns it and the units taken.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn sweep<C>(
        &self,
        conn: &mut C,
        name: &str,
        least: u64,
        most: u64,
        request_id: Option<&str>,
        start: u32,
        now: Option<Nanos>,
    ) -> Result<(Taken, u64), Error>
    where
        C: ConnectionLike,
    {
        check_name(name)?;
        let mut seen = 0u64;
        for step in 0..self.config.buckets {
            let bucket = (start + step) % self.config.buckets;
            let mut invocation = self.script.key(self.key(name, bucket));
            if let Some(id) = request_id {
                invocation.key(format!("{}:id:{id}", self.key(name, bucket)));
            }
            invocation
                .arg("take")
                .arg(least.to_string())
                .arg(most.to_string())
                .arg(&self.memory);
            if let Some(now) = now {
                invocation.arg(names::now_arg(now));
            }
            let (taken, remaining, replayed): (i64, u64, i64) =
                self.guard.run(|| invocation.invoke_async(conn)).await?;
            let replayed = replayed == 1;
            match u64::try_from(taken) {
                Ok(0) => seen = seen.saturating_add(remaining),
                Ok(units) if units >= least && units <= most => {
                    let taken = Taken {
                        bucket,
                        remaining,
                        replayed,
                    };
                    return Ok((taken, units));
                }
                _ if taken == -1 => {
                    return Err(Error::InvalidArgument(ConfigError::new(
                        "request_id",
                        "an id not used within its memory for a take of another n",
                    )))
                }
                _ => {
                    return Err(Error::Redis(RedisError::from((
                        ErrorKind::UnexpectedReturnType,
                        "the quota script took a number of units outside the range asked for",
                        taken.to_string(),
                    ))))
                }
            }
        }
        Err(Error::SoldOut(SoldOut {
            requested: least,
            remaining: seen,
        }))
    }

    pub(crate) fn random_bucket(&self) -> u32 {
        let index = self.draws.fetch_add(1, Ordering::Relaxed);
        let bits = rng::draw(self.seed, index);
        rng::uniform(bits, 0, u64::from(self.config.buckets) - 1) as u32
    }

    fn check_bucket(&self, bucket: u32) -> Result<(), Error> {
        if bucket >= self.config.buckets {
            return Err(Error::InvalidArgument(ConfigError::new(
                "bucket",
                "0..buckets (below the quota's bucket count)",
            )));
        }
        Ok(())
    }

    fn key(&self, name: &str, bucket: u32) -> String {
        format!("{}{{{name}:{bucket}}}:quota", self.config.prefix)
    }
}
