//! The fleet bulkhead: at most `limit` holders across the fleet, each holding a lease (a
//! random 128-bit token with an expiry), decided by one call of `scripts/semaphore.lua`.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::ConnectionLike;
use redis::{ErrorKind, RedisError, Script};
use stanchion::{BreakerConfig, ConfigError, Nanos};

use crate::guard::Guard;
use crate::names::{self, check_name};
use crate::{Error, Full, KeeperHandle, LeaseKeeper, DEFAULT_PREFIX};

/// The semaphore script, the same file every binding ships.
pub(crate) const SEMAPHORE_LUA: &str = include_str!("../scripts/semaphore.lua");

/// The lease time unless configured otherwise: 30 seconds.
///
/// ```
/// use stanchion::Nanos;
/// use stanchion_redis::{FleetSemaphoreConfig, DEFAULT_LEASE_TTL};
/// assert_eq!(FleetSemaphoreConfig::new(3).ttl, DEFAULT_LEASE_TTL);
/// assert_eq!(DEFAULT_LEASE_TTL, Nanos::from_secs(30));
/// ```
pub const DEFAULT_LEASE_TTL: Nanos = Nanos::from_secs(30);

/// The renew closure of a semaphore's keeper.
type Renewal = Pin<Box<dyn Future<Output = Result<bool, Error>> + Send>>;

/// Configuration of a [`FleetSemaphore`]: how many leases at once, for how long, and the key
/// prefix.
///
/// ```
/// use stanchion::Nanos;
/// use stanchion_redis::FleetSemaphoreConfig;
/// let config = FleetSemaphoreConfig::new(3).ttl(Nanos::from_secs(10)).prefix("app:jobs:");
/// assert!(config.validate().is_ok());
/// assert_eq!(FleetSemaphoreConfig::new(0).validate().unwrap_err().field, "limit");
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct FleetSemaphoreConfig {
    /// The most leases held at once across the fleet, `1..=4294967295`.
    pub limit: u32,
    /// How long a lease lasts unless renewed, `1 ms..=2^40 ms`, kept in whole milliseconds
    /// (rounded down); default [`DEFAULT_LEASE_TTL`] (30 s). A holder that stops renewing
    /// (a crash, a pause) frees its slot this long after its last renewal at the latest.
    pub ttl: Nanos,
    /// Put before every key: `<prefix>{<name>}:semaphore`. At most 256 bytes, without `{` or
    /// `}`. Default [`DEFAULT_PREFIX`].
    pub prefix: Cow<'static, str>,
    /// How long one Redis call may take. Default
    /// [`stanchion::fleet::DEFAULT_CALL_TIMEOUT`] (250 ms).
    pub timeout: Nanos,
    /// The breaker guarding the connection. Default `None`: the core's breaker for the
    /// call timeout ([`stanchion::fleet::connection_breaker_for`]), with a random seed.
    pub breaker: Option<BreakerConfig>,
}

impl FleetSemaphoreConfig {
    /// At most `limit` holders, leases of 30 s, the default prefix.
    ///
    /// ```
    /// use stanchion_redis::FleetSemaphoreConfig;
    /// assert_eq!(FleetSemaphoreConfig::new(5).limit, 5);
    /// ```
    pub const fn new(limit: u32) -> FleetSemaphoreConfig {
        FleetSemaphoreConfig {
            limit,
            ttl: DEFAULT_LEASE_TTL,
            prefix: Cow::Borrowed(DEFAULT_PREFIX),
            timeout: stanchion::fleet::DEFAULT_CALL_TIMEOUT,
            breaker: None,
        }
    }

    /// The same config with another call timeout, 1 ns to 1 hour.
    ///
    /// ```
    /// use stanchion::Nanos;
    /// use stanchion_redis::FleetSemaphoreConfig;
    /// let config = FleetSemaphoreConfig::new(1).timeout(Nanos::from_millis(50));
    /// assert_eq!(config.timeout, Nanos::from_millis(50));
    /// ```
    pub const fn timeout(mut self, timeout: Nanos) -> FleetSemaphoreConfig {
        self.timeout = timeout;
        self
    }

    /// The same config with another breaker guarding the connection.
    ///
    /// ```
    /// use stanchion_redis::FleetSemaphoreConfig;
    /// let eager = stanchion::fleet::connection_breaker().consecutive_failures(Some(1));
    /// let config = FleetSemaphoreConfig::new(1).breaker(eager);
    /// assert_eq!(config.breaker.map(|b| b.consecutive_failures), Some(Some(1)));
    /// ```
    pub const fn breaker(mut self, breaker: BreakerConfig) -> FleetSemaphoreConfig {
        self.breaker = Some(breaker);
        self
    }

    /// The same config with leases of `ttl`.
    ///
    /// ```
    /// use stanchion::Nanos;
    /// use stanchion_redis::FleetSemaphoreConfig;
    /// let config = FleetSemaphoreConfig::new(1).ttl(Nanos::from_secs(5));
    /// assert_eq!(config.ttl, Nanos::from_secs(5));
    /// ```
    pub const fn ttl(mut self, ttl: Nanos) -> FleetSemaphoreConfig {
        self.ttl = ttl;
        self
    }

    /// The same config with another key prefix.
    ///
    /// ```
    /// use stanchion_redis::FleetSemaphoreConfig;
    /// assert_eq!(FleetSemaphoreConfig::new(1).prefix("a:").prefix, "a:");
    /// ```
    pub fn prefix(self, prefix: impl Into<Cow<'static, str>>) -> FleetSemaphoreConfig {
        FleetSemaphoreConfig {
            prefix: prefix.into(),
            ..self
        }
    }

    /// Checks every field, returning the first one out of range.
    ///
    /// ```
    /// use stanchion::Nanos;
    /// use stanchion_redis::FleetSemaphoreConfig;
    /// let instant = FleetSemaphoreConfig::new(1).ttl(Nanos::ZERO);
    /// assert_eq!(instant.validate().unwrap_err().field, "ttl");
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.limit == 0 {
            return Err(ConfigError::new("limit", "1..=4294967295"));
        }
        if names::millis(self.ttl).is_none() {
            return Err(ConfigError::new("ttl", "1 ms..=2^40 ms (1099511627776 ms)"));
        }
        names::check_prefix(&self.prefix)?;
        stanchion::fleet::check_timeout(self.timeout)?;
        match &self.breaker {
            Some(breaker) => breaker.validate(),
            None => Ok(()),
        }
    }
}

/// One holder's claim on a slot of a [`FleetSemaphore`]: the name, a random 128-bit token
/// and the lease time. Made by [`FleetSemaphore::lease`], held once
/// [`try_acquire`](FleetSemaphore::try_acquire) succeeds, until it is released or expires.
///
/// ```
/// use stanchion_redis::{FleetSemaphore, FleetSemaphoreConfig};
/// let sem = FleetSemaphore::new(FleetSemaphoreConfig::new(2)).unwrap();
/// let lease = sem.lease("exports").unwrap();
/// assert_eq!(lease.name(), "exports");
/// assert_eq!(lease.token().len(), 32);
/// assert_ne!(lease.token(), sem.lease("exports").unwrap().token());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    name: String,
    token: String,
    ttl: Nanos,
}

impl Lease {
    /// The semaphore's name.
    ///
    /// ```
    /// # let sem = stanchion_redis::FleetSemaphore::new(stanchion_redis::FleetSemaphoreConfig::new(1)).unwrap();
    /// assert_eq!(sem.lease("jobs").unwrap().name(), "jobs");
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The token: 32 lowercase hexadecimal digits, from the operating system's random source.
    ///
    /// ```
    /// # let sem = stanchion_redis::FleetSemaphore::new(stanchion_redis::FleetSemaphoreConfig::new(1)).unwrap();
    /// let lease = sem.lease("jobs").unwrap();
    /// assert!(lease.token().bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    /// ```
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The lease time, in whole milliseconds: each acquire and renewal sets the expiry this
    /// far after the server's `now`.
    ///
    /// ```
    /// use stanchion::Nanos;
    /// use stanchion_redis::{FleetSemaphore, FleetSemaphoreConfig};
    /// let config = FleetSemaphoreConfig::new(1).ttl(Nanos::new(2_500_900));
    /// let sem = FleetSemaphore::new(config).unwrap();
    /// assert_eq!(sem.lease("jobs").unwrap().ttl(), Nanos::from_millis(2));
    /// ```
    pub fn ttl(&self) -> Nanos {
        self.ttl
    }
}

/// The leases of a semaphore as one call found them.
///
/// ```
/// use stanchion::Nanos;
/// use stanchion_redis::SemaphoreState;
/// let state = SemaphoreState { holders: 2, next_expiry_in: Some(Nanos::from_secs(4)) };
/// assert_eq!(state.holders, 2);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SemaphoreState {
    /// The leases held (expired ones are not counted).
    pub holders: u32,
    /// How long until the earliest lease expires unless renewed or released first; `None`
    /// when no lease is held.
    pub next_expiry_in: Option<Nanos>,
}

/// A bulkhead shared by the fleet: at most `limit` holders at once across every process that
/// uses the same Redis, prefix and name.
///
/// Each holder holds a [`Lease`]: a random 128-bit token with an expiry on the server's
/// clock, kept in the sorted set `<prefix>{<name>}:semaphore`. Expired leases are reclaimed
/// by the next call, so a holder that crashes frees its slot one lease time after its last
/// renewal at the latest. [`release`](FleetSemaphore::release) frees the slot at once;
/// [`renew`](FleetSemaphore::renew) sets the expiry to the full lease time from now (never
/// adding to what is left), and both check the token first, so a holder that lost its lease
/// can neither free nor extend another's. A holder doing work longer than the lease time
/// runs a [`LeaseKeeper`] ([`keeper`](FleetSemaphore::keeper)), which renews every third of
/// it and reports at once when the lease is lost.
///
/// A lease is safe only while pauses and clock drift stay well within its time, and Redis
/// replicates asynchronously: after a failover a lease may be granted twice. See the
/// README's "Honest limits".
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use stanchion::Nanos;
/// use stanchion_redis::{Error, FleetSemaphore, FleetSemaphoreConfig};
///
/// // At most 3 exports running across the fleet.
/// let sem = FleetSemaphore::new(FleetSemaphoreConfig::new(3).ttl(Nanos::from_secs(10)))?;
/// let client = redis::Client::open("redis://127.0.0.1/")?;
/// let mut conn = client.get_multiplexed_async_connection().await?;
/// let lease = sem.lease("exports")?;
/// match sem.try_acquire(&mut conn, &lease).await {
///     Ok(state) => {
///         println!("running; {} of 3 slots taken", state.holders);
///         // ... work shorter than the lease time, or run a keeper ...
///         sem.release(&mut conn, &lease).await?;
///     }
///     Err(Error::Full(full)) => println!("busy: {} exports running", full.holders),
///     Err(error) => return Err(error.into()),
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct FleetSemaphore {
    config: FleetSemaphoreConfig,
    /// The timeout and breaker every call goes through, shared by clones.
    guard: Arc<Guard>,
    /// The limit, formatted once.
    limit: String,
    /// The lease time, in whole milliseconds.
    ttl: Nanos,
    script: Script,
}

impl FleetSemaphore {
    /// A semaphore with `config`, or the first field out of range.
    ///
    /// ```
    /// use stanchion_redis::{FleetSemaphore, FleetSemaphoreConfig};
    /// assert!(FleetSemaphore::new(FleetSemaphoreConfig::new(3)).is_ok());
    /// assert!(FleetSemaphore::new(FleetSemaphoreConfig::new(3).prefix("{x}")).is_err());
    /// ```
    pub fn new(config: FleetSemaphoreConfig) -> Result<FleetSemaphore, ConfigError> {
        config.validate()?;
        let ttl_ms = names::millis(config.ttl).unwrap_or(names::MAX_MILLIS);
        Ok(FleetSemaphore {
            guard: Arc::new(Guard::new(
                config.timeout,
                config.breaker,
                crate::timer::default_timer(),
            )?),
            limit: config.limit.to_string(),
            ttl: names::from_millis(ttl_ms),
            config,
            script: Script::new(SEMAPHORE_LUA),
        })
    }

    /// The config.
    ///
    /// ```
    /// use stanchion_redis::{FleetSemaphore, FleetSemaphoreConfig};
    /// let sem = FleetSemaphore::new(FleetSemaphoreConfig::new(3)).unwrap();
    /// assert_eq!(sem.config().limit, 3);
    /// ```
    pub fn config(&self) -> &FleetSemaphoreConfig {
        &self.config
    }

    /// The Redis key of semaphore `name`: `<prefix>{<name>}:semaphore`.
    ///
    /// ```
    /// use stanchion_redis::{FleetSemaphore, FleetSemaphoreConfig};
    /// let sem = FleetSemaphore::new(FleetSemaphoreConfig::new(3)).unwrap();
    /// assert_eq!(sem.redis_key("exports").unwrap(), "stanchion:{exports}:semaphore");
    /// assert!(sem.redis_key("").is_err());
    /// ```
    pub fn redis_key(&self, name: &str) -> Result<String, Error> {
        check_name(name)?;
        Ok(format!("{}{{{name}}}:semaphore", self.config.prefix))
    }

    /// A new lease on semaphore `name`, with a fresh random token, not yet held: pass it to
    /// [`try_acquire`](FleetSemaphore::try_acquire). No round trip. [`Error::Entropy`] if the
    /// operating system gives no random bytes.
    ///
    /// ```
    /// use stanchion_redis::{FleetSemaphore, FleetSemaphoreConfig};
    /// let sem = FleetSemaphore::new(FleetSemaphoreConfig::new(3)).unwrap();
    /// assert!(sem.lease("exports").is_ok());
    /// assert!(sem.lease("a}b").is_err());
    /// ```
    pub fn lease(&self, name: &str) -> Result<Lease, Error> {
        check_name(name)?;
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).map_err(|e| Error::Entropy(std::io::Error::from(e)))?;
        let token = bytes.iter().map(|b| format!("{b:02x}")).collect();
        Ok(Lease {
            name: name.to_string(),
            token,
            ttl: self.ttl,
        })
    }

    /// Acquires `lease` if fewer than `limit` leases are held (after reclaiming expired
    /// ones), for the lease time from now; [`Error::Full`] otherwise. Retrying with the same
    /// lease after a timeout is safe: a lease already held is renewed, not counted twice.
    ///
    /// ```no_run
    /// # async fn run(conn: &mut redis::aio::MultiplexedConnection) {
    /// use stanchion_redis::{FleetSemaphore, FleetSemaphoreConfig};
    /// let sem = FleetSemaphore::new(FleetSemaphoreConfig::new(1)).unwrap();
    /// let (a, b) = (sem.lease("jobs").unwrap(), sem.lease("jobs").unwrap());
    /// assert_eq!(sem.try_acquire(conn, &a).await.unwrap().holders, 1);
    /// assert!(sem.try_acquire(conn, &b).await.is_err());
    /// assert!(sem.try_acquire(conn, &a).await.is_ok()); // a retry: still one holder
    /// # }
    /// ```
    pub async fn try_acquire<C>(&self, conn: &mut C, lease: &Lease) -> Result<SemaphoreState, Error>
    where
        C: ConnectionLike,
    {
        self.acquire_inner(conn, lease, None).await
    }

    /// Sets `lease`'s expiry to the lease time from now if it is still held, and says whether
    /// it was. `false`: it expired or was released, and another holder may have the slot.
    ///
    /// ```no_run
    /// # async fn run(conn: &mut redis::aio::MultiplexedConnection, sem: stanchion_redis::FleetSemaphore, lease: stanchion_redis::Lease) {
    /// if !sem.renew(conn, &lease).await.unwrap() {
    ///     eprintln!("lost the lease: stop the work");
    /// }
    /// # }
    /// ```
    pub async fn renew<C>(&self, conn: &mut C, lease: &Lease) -> Result<bool, Error>
    where
        C: ConnectionLike,
    {
        Ok(self.call(conn, "renew", lease, None).await?.0)
    }

    /// Frees `lease`'s slot at once if it is still held, and says whether it was.
    ///
    /// ```no_run
    /// # async fn run(conn: &mut redis::aio::MultiplexedConnection, sem: stanchion_redis::FleetSemaphore, lease: stanchion_redis::Lease) {
    /// let was_held = sem.release(conn, &lease).await.unwrap();
    /// # }
    /// ```
    pub async fn release<C>(&self, conn: &mut C, lease: &Lease) -> Result<bool, Error>
    where
        C: ConnectionLike,
    {
        Ok(self.call(conn, "release", lease, None).await?.0)
    }

    /// The leases of semaphore `name` held now (reclaiming expired ones).
    ///
    /// ```no_run
    /// # async fn run(conn: &mut redis::aio::MultiplexedConnection, sem: stanchion_redis::FleetSemaphore) {
    /// println!("{} holders", sem.state(conn, "exports").await.unwrap().holders);
    /// # }
    /// ```
    pub async fn state<C>(&self, conn: &mut C, name: &str) -> Result<SemaphoreState, Error>
    where
        C: ConnectionLike,
    {
        self.state_inner(conn, name, None).await
    }

    /// A [`LeaseKeeper`] of `lease` that renews it through its own `conn` every third of the
    /// lease time, sleeping with `sleep`, and its handle. Run (spawn) the keeper; stop it
    /// with the handle before releasing.
    ///
    /// ```no_run
    /// # async fn run(conn: redis::aio::MultiplexedConnection) -> Result<(), stanchion_redis::Error> {
    /// use stanchion_redis::{FleetSemaphore, FleetSemaphoreConfig};
    /// let sem = FleetSemaphore::new(FleetSemaphoreConfig::new(2)).unwrap();
    /// let lease = sem.lease("reindex")?;
    /// sem.try_acquire(&mut conn.clone(), &lease).await?;
    /// let (keeper, handle) = sem.keeper(conn.clone(), &lease, tokio::time::sleep);
    /// tokio::spawn(keeper.run());
    /// // ... long work, watching handle.is_lost() ...
    /// handle.stop().await;
    /// sem.release(&mut conn.clone(), &lease).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn keeper<C, S, SF>(
        &self,
        conn: C,
        lease: &Lease,
        sleep: S,
    ) -> (
        LeaseKeeper<impl FnMut() -> Renewal + Send + 'static, S>,
        KeeperHandle,
    )
    where
        C: ConnectionLike + Clone + Send + 'static,
        S: FnMut(Duration) -> SF,
        SF: Future<Output = ()>,
    {
        let (semaphore, lease) = (self.clone(), lease.clone());
        let renew = move || -> Renewal {
            let (semaphore, lease, mut conn) = (semaphore.clone(), lease.clone(), conn.clone());
            Box::pin(async move { semaphore.renew(&mut conn, &lease).await })
        };
        LeaseKeeper::new(self.ttl.as_duration(), renew, sleep)
    }

    /// [`keeper`](FleetSemaphore::keeper) sleeping with `tokio::time::sleep` (feature
    /// `tokio-comp`).
    ///
    /// ```no_run
    /// # async fn run(conn: redis::aio::MultiplexedConnection, sem: stanchion_redis::FleetSemaphore, lease: stanchion_redis::Lease) {
    /// let (keeper, handle) = sem.tokio_keeper(conn, &lease);
    /// tokio::spawn(keeper.run());
    /// # }
    /// ```
    #[cfg(feature = "tokio-comp")]
    pub fn tokio_keeper<C>(
        &self,
        conn: C,
        lease: &Lease,
    ) -> (
        LeaseKeeper<impl FnMut() -> Renewal + Send + 'static, crate::TokioSleep>,
        KeeperHandle,
    )
    where
        C: ConnectionLike + Clone + Send + 'static,
    {
        self.keeper(conn, lease, tokio::time::sleep as crate::TokioSleep)
    }

    /// [`try_acquire`](FleetSemaphore::try_acquire) at `now` (nanoseconds on the server's Unix
    /// clock) instead of the server's `TIME`, for conformance tests.
    ///
    /// ```no_run
    /// # async fn run(conn: &mut redis::aio::MultiplexedConnection, sem: stanchion_redis::FleetSemaphore) {
    /// use stanchion::Nanos;
    /// let lease = sem.lease("jobs").unwrap();
    /// let _ = sem.try_acquire_at(conn, &lease, Nanos::new(4_000_000_000_000_000_000)).await;
    /// # }
    /// ```
    #[doc(hidden)]
    pub async fn try_acquire_at<C>(
        &self,
        conn: &mut C,
        lease: &Lease,
        now: Nanos,
    ) -> Result<SemaphoreState, Error>
    where
        C: ConnectionLike,
    {
        self.acquire_inner(conn, lease, Some(now)).await
    }

    /// [`renew`](FleetSemaphore::renew) at `now`, for conformance tests; also answers the
    /// state after.
    ///
    /// ```no_run
    /// # async fn run(conn: &mut redis::aio::MultiplexedConnection, sem: stanchion_redis::FleetSemaphore, lease: stanchion_redis::Lease) {
    /// use stanchion::Nanos;
    /// let (renewed, state) = sem.renew_at(conn, &lease, Nanos::new(4_000_000_000_000_000_000)).await.unwrap();
    /// # }
    /// ```
    #[doc(hidden)]
    pub async fn renew_at<C>(
        &self,
        conn: &mut C,
        lease: &Lease,
        now: Nanos,
    ) -> Result<(bool, SemaphoreState), Error>
    where
        C: ConnectionLike,
    {
        self.call(conn, "renew", lease, Some(now)).await
    }

    /// [`release`](FleetSemaphore::release) at `now`, for conformance tests; also answers the
    /// state after.
    ///
    /// ```no_run
    /// # async fn run(conn: &mut redis::aio::MultiplexedConnection, sem: stanchion_redis::FleetSemaphore, lease: stanchion_redis::Lease) {
    /// use stanchion::Nanos;
    /// let (released, state) = sem.release_at(conn, &lease, Nanos::new(4_000_000_000_000_000_000)).await.unwrap();
    /// # }
    /// ```
    #[doc(hidden)]
    pub async fn release_at<C>(
        &self,
        conn: &mut C,
        lease: &Lease,
        now: Nanos,
    ) -> Result<(bool, SemaphoreState), Error>
    where
        C: ConnectionLike,
    {
        self.call(conn, "release", lease, Some(now)).await
    }

    /// [`state`](FleetSemaphore::state) at `now`, for conformance tests.
    ///
    /// ```no_run
    /// # async fn run(conn: &mut redis::aio::MultiplexedConnection, sem: stanchion_redis::FleetSemaphore) {
    /// use stanchion::Nanos;
    /// let state = sem.state_at(conn, "jobs", Nanos::new(4_000_000_000_000_000_000)).await.unwrap();
    /// # }
    /// ```
    #[doc(hidden)]
    pub async fn state_at<C>(
        &self,
        conn: &mut C,
        name: &str,
        now: Nanos,
    ) -> Result<SemaphoreState, Error>
    where
        C: ConnectionLike,
    {
        self.state_inner(conn, name, Some(now)).await
    }

    async fn acquire_inner<C>(
        &self,
        conn: &mut C,
        lease: &Lease,
        now: Option<Nanos>,
    ) -> Result<SemaphoreState, Error>
    where
        C: ConnectionLike,
    {
        match self.call(conn, "acquire", lease, now).await? {
            (true, state) => Ok(state),
            (false, state) => match state.next_expiry_in {
                Some(next_expiry_in) => Err(Error::Full(Full {
                    holders: state.holders,
                    next_expiry_in,
                })),
                None => Err(unexpected(
                    "the semaphore script refused with no lease held",
                )),
            },
        }
    }

    async fn state_inner<C>(
        &self,
        conn: &mut C,
        name: &str,
        now: Option<Nanos>,
    ) -> Result<SemaphoreState, Error>
    where
        C: ConnectionLike,
    {
        let mut invocation = self.script.key(self.redis_key(name)?);
        invocation.arg("holders").arg("").arg("0").arg("0");
        if let Some(now) = now {
            invocation.arg(names::now_arg(now));
        }
        let reply: (i64, u32, Option<u64>) =
            self.guard.run(|| invocation.invoke_async(conn)).await?;
        Ok(state_of(reply))
    }

    async fn call<C>(
        &self,
        conn: &mut C,
        op: &str,
        lease: &Lease,
        now: Option<Nanos>,
    ) -> Result<(bool, SemaphoreState), Error>
    where
        C: ConnectionLike,
    {
        let mut invocation = self.script.key(self.redis_key(&lease.name)?);
        invocation
            .arg(op)
            .arg(&lease.token)
            .arg(&self.limit)
            .arg(names::millis(lease.ttl).unwrap_or(1).to_string());
        if let Some(now) = now {
            invocation.arg(names::now_arg(now));
        }
        let reply: (i64, u32, Option<u64>) =
            self.guard.run(|| invocation.invoke_async(conn)).await?;
        match reply.0 {
            0 | 1 => Ok((reply.0 == 1, state_of(reply))),
            _ => Err(unexpected("the semaphore script answered neither 1 nor 0")),
        }
    }
}

fn state_of((_, holders, next_expiry_ms): (i64, u32, Option<u64>)) -> SemaphoreState {
    SemaphoreState {
        holders,
        next_expiry_in: next_expiry_ms.map(names::from_millis),
    }
}

fn unexpected(what: &'static str) -> Error {
    Error::Redis(RedisError::from((ErrorKind::UnexpectedReturnType, what)))
}
