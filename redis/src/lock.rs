//! The fleet lock: a lease on a name with a fencing token, decided by `scripts/lock.lua`.

use std::borrow::Cow;
use std::sync::Arc;

use redis::aio::ConnectionLike;
use redis::{RedisError, Script};
use stanchion::fleet;
use stanchion::{Backoff, BackoffConfig, BreakerConfig, ConfigError, Nanos};

use crate::guard::Guard;
use crate::{Error, LeaseLost, Lost, Timer};

/// The lock script, the same file every binding ships.
pub(crate) const LOCK_LUA: &str = include_str!("../scripts/lock.lua");

/// Configuration of a [`FleetLock`].
///
/// ```
/// use stanchion::Nanos;
/// use stanchion_redis::FleetLockConfig;
/// let config = FleetLockConfig::new().ttl(Nanos::from_secs(10)).prefix("app:locks:");
/// assert!(config.validate().is_ok());
/// assert_eq!(FleetLockConfig::new().ttl(Nanos::ZERO).validate().unwrap_err().field, "ttl");
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct FleetLockConfig {
    /// Put before every key: `<prefix>{<name>}:lock` and `<prefix>{<name>}:fence`. Default
    /// [`stanchion::fleet::DEFAULT_PREFIX`].
    pub prefix: Cow<'static, str>,
    /// The lease time: a holder that stops renewing loses the lock this long after its last
    /// acquisition or renewal. Whole milliseconds, 1 ms to 2^40 ms; default 30 s
    /// ([`stanchion::fleet::DEFAULT_LEASE`]).
    pub ttl: Nanos,
    /// After acquiring, wait until this many replicas have the lease (`WAIT`), at most this
    /// long; fewer acknowledgements release the lease and fail the acquisition. The
    /// connection's own response timeout (500 ms by default in redis-rs) must be longer.
    /// `WAIT` narrows the window in which a failover loses the lease; it does not close it.
    pub wait_replicas: Option<(u32, Nanos)>,
    /// How long one Redis call may take. Default 250 ms.
    pub timeout: Nanos,
    /// The breaker guarding the connection. Default `None`: the core's breaker for the
    /// call timeout ([`stanchion::fleet::connection_breaker_for`]), with a random seed.
    pub breaker: Option<BreakerConfig>,
    /// The waits between attempts while another holder has the lock. Default
    /// [`stanchion::fleet::lock_backoff`].
    pub backoff: BackoffConfig,
}

impl Default for FleetLockConfig {
    fn default() -> FleetLockConfig {
        FleetLockConfig::new()
    }
}

impl FleetLockConfig {
    /// The defaults: 30 s leases, no replica wait, 250 ms calls.
    ///
    /// ```
    /// let config = stanchion_redis::FleetLockConfig::new();
    /// assert_eq!(config.ttl, stanchion::Nanos::from_secs(30));
    /// ```
    pub const fn new() -> FleetLockConfig {
        FleetLockConfig {
            prefix: Cow::Borrowed(fleet::DEFAULT_PREFIX),
            ttl: fleet::DEFAULT_LEASE,
            wait_replicas: None,
            timeout: fleet::DEFAULT_CALL_TIMEOUT,
            breaker: None,
            backoff: fleet::lock_backoff(),
        }
    }

    /// The same config with another key prefix.
    ///
    /// ```
    /// let config = stanchion_redis::FleetLockConfig::new().prefix("jobs:");
    /// assert_eq!(config.prefix, "jobs:");
    /// ```
    pub fn prefix(self, prefix: impl Into<Cow<'static, str>>) -> FleetLockConfig {
        FleetLockConfig {
            prefix: prefix.into(),
            ..self
        }
    }

    /// The same config with another lease time.
    ///
    /// ```
    /// use stanchion::Nanos;
    /// let config = stanchion_redis::FleetLockConfig::new().ttl(Nanos::from_secs(5));
    /// assert_eq!(config.ttl, Nanos::from_secs(5));
    /// ```
    pub fn ttl(self, ttl: Nanos) -> FleetLockConfig {
        FleetLockConfig { ttl, ..self }
    }

    /// The same config waiting, after each acquisition, for `replicas` replicas to
    /// acknowledge the lease, at most `timeout` (whole milliseconds, at least 1 ms).
    ///
    /// ```
    /// use stanchion::Nanos;
    /// let config = stanchion_redis::FleetLockConfig::new().wait_replicas(1, Nanos::from_millis(100));
    /// assert!(config.validate().is_ok());
    /// ```
    pub fn wait_replicas(self, replicas: u32, timeout: Nanos) -> FleetLockConfig {
        FleetLockConfig {
            wait_replicas: Some((replicas, timeout)),
            ..self
        }
    }

    /// The same config with another call timeout.
    ///
    /// ```
    /// use stanchion::Nanos;
    /// let config = stanchion_redis::FleetLockConfig::new().timeout(Nanos::from_millis(50));
    /// assert_eq!(config.timeout, Nanos::from_millis(50));
    /// ```
    pub fn timeout(self, timeout: Nanos) -> FleetLockConfig {
        FleetLockConfig { timeout, ..self }
    }

    /// The same config with other waits between attempts.
    ///
    /// ```
    /// use stanchion::{BackoffConfig, Nanos};
    /// let config = stanchion_redis::FleetLockConfig::new()
    ///     .backoff(BackoffConfig::constant(Nanos::from_millis(5)).unlimited_attempts());
    /// assert!(config.validate().is_ok());
    /// ```
    pub fn backoff(self, backoff: BackoffConfig) -> FleetLockConfig {
        FleetLockConfig { backoff, ..self }
    }

    /// Checks every field, returning the first one out of range.
    ///
    /// ```
    /// use stanchion::Nanos;
    /// let bad = stanchion_redis::FleetLockConfig::new().wait_replicas(1, Nanos::ZERO);
    /// assert_eq!(bad.validate().unwrap_err().field, "wait_replicas.timeout");
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        fleet::check_prefix(&self.prefix)?;
        fleet::check_lease("ttl", self.ttl)?;
        if let Some((replicas, timeout)) = self.wait_replicas {
            if replicas == 0 {
                return Err(ConfigError::new("wait_replicas.replicas", "at least 1"));
            }
            fleet::check_lease("wait_replicas.timeout", timeout)?;
        }
        fleet::check_timeout(self.timeout)?;
        if let Some(breaker) = &self.breaker {
            breaker.validate()?;
        }
        self.backoff.validate()?;
        Backoff::new(self.backoff).map(|_| ())
    }
}

/// A lease on a lock: who holds it (a random 128-bit token) and its fencing token.
///
/// Pass [`fence`](LockLease::fence) to whatever the lock protects, and have it refuse a write
/// whose fence is smaller than the largest it has seen: a holder that stalled past its lease
/// and wakes up still believing it holds the lock is then refused, however late it writes.
#[derive(Clone, Debug)]
pub struct LockLease {
    pub(crate) name: String,
    pub(crate) key: String,
    pub(crate) fence_key: String,
    pub(crate) token: String,
    pub(crate) fence: u64,
    pub(crate) ttl: Nanos,
    pub(crate) validity: Nanos,
    pub(crate) lost: LeaseLost,
}

impl LockLease {
    /// The lock's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The fencing token: larger than that of every earlier acquisition of this name.
    pub fn fence(&self) -> u64 {
        self.fence
    }

    /// The holder's token, 32 hexadecimal digits.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The lease time it was taken (and is renewed) with.
    pub fn ttl(&self) -> Nanos {
        self.ttl
    }

    /// How long the lease is sure to last from when it was granted: its time, less (for a
    /// [`Redlock`](crate::Redlock)) the time the acquisition took and the clock-drift
    /// allowance.
    pub fn validity(&self) -> Nanos {
        self.validity
    }

    /// A future that completes when the lease is lost (see [`FleetLock::keep`]).
    pub fn lost(&self) -> LeaseLost {
        self.lost.clone()
    }
}

/// Why a lock was not acquired, released or renewed.
#[derive(Debug)]
#[non_exhaustive]
pub enum LockError {
    /// Another holder has the lock; its lease runs out in `retry_after` unless renewed.
    Held {
        /// The holder's remaining lease time.
        retry_after: Nanos,
    },
    /// Another holder kept the lock for as long as the caller would wait.
    WaitedTooLong {
        /// How long the caller waited.
        waited: Nanos,
    },
    /// Fewer replicas than asked acknowledged the lease within the wait; it was released.
    Replicas {
        /// Replicas that acknowledged.
        acknowledged: u32,
        /// Replicas asked for.
        wanted: u32,
    },
    /// An argument out of range: a name that cannot name a lock (empty, longer than 1024
    /// bytes, or holding `{` or `}`), a lease time, or connections that do not match the
    /// servers of a [`Redlock`](crate::Redlock).
    Invalid(ConfigError),
    /// Fewer than a quorum of a [`Redlock`](crate::Redlock)'s servers granted the lease in
    /// time to leave it valid; it was released everywhere.
    NoQuorum {
        /// Servers that granted it.
        granted: u32,
        /// Servers needed: a majority.
        needed: u32,
    },
    /// Redis could not decide (an error, a timeout, or the breaker open). A lock never falls
    /// back: nothing was acquired.
    Unavailable(Error),
}

impl std::fmt::Display for LockError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LockError::Held { retry_after } => {
                write!(f, "held by another holder for up to {retry_after:?}")
            }
            LockError::WaitedTooLong { waited } => {
                write!(f, "still held by another holder after waiting {waited:?}")
            }
            LockError::Replicas {
                acknowledged,
                wanted,
            } => write!(
                f,
                "{acknowledged} of {wanted} replicas acknowledged the lease; it was released"
            ),
            LockError::Invalid(error) => write!(f, "invalid argument: {error}"),
            LockError::NoQuorum { granted, needed } => write!(
                f,
                "{granted} servers granted the lease in time, {needed} are needed; it was released"
            ),
            LockError::Unavailable(error) => fmt_unavailable(f, error),
        }
    }
}

fn fmt_unavailable(f: &mut std::fmt::Formatter<'_>, error: &Error) -> std::fmt::Result {
    write!(f, "the lock could not be decided: {error}")
}

impl std::error::Error for LockError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LockError::Invalid(error) => Some(error),
            LockError::Unavailable(error) => Some(error),
            _ => None,
        }
    }
}

impl From<Error> for LockError {
    fn from(error: Error) -> LockError {
        LockError::Unavailable(error)
    }
}

/// A distributed lock kept in Redis: leases with fencing tokens, renewed by a keeper while
/// the work runs, released by compare-and-delete.
///
/// Holds no connection, like [`FleetLimiter`](crate::FleetLimiter): each call takes one.
/// [`with`](FleetLock::with) is the whole pattern in one call: acquire (waiting), keep the
/// lease while the work runs, release.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use stanchion::Nanos;
/// use stanchion_redis::{FleetLock, FleetLockConfig};
///
/// let lock = FleetLock::new(FleetLockConfig::new().ttl(Nanos::from_secs(10)))?;
/// let client = redis::Client::open("redis://127.0.0.1/")?;
/// let conn = client.get_multiplexed_async_connection().await?;
/// let done = lock
///     .with(conn, "nightly-report", Nanos::from_secs(5), |lease| async move {
///         // Pass the fence to what the lock protects, so a stale holder is refused.
///         println!("holding with fence {}", lease.fence());
///     })
///     .await?;
/// assert!(done.lost.is_none(), "the lease was kept to the end");
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct FleetLock {
    pub(crate) config: FleetLockConfig,
    pub(crate) guard: Guard,
    script: Script,
}

/// What [`FleetLock::with`] returns: the work's value, and whether the lease was lost while
/// it ran (the work then ran, at least in part, without the lock).
#[derive(Debug)]
pub struct Finished<T> {
    /// The work's value.
    pub value: T,
    /// Why the lease was lost while the work ran, if it was.
    pub lost: Option<Lost>,
}

impl FleetLock {
    /// A lock with `config`, or the first field out of range.
    ///
    /// ```
    /// use stanchion_redis::{FleetLock, FleetLockConfig};
    /// assert!(FleetLock::new(FleetLockConfig::new()).is_ok());
    /// ```
    pub fn new(config: FleetLockConfig) -> Result<FleetLock, ConfigError> {
        config.validate()?;
        Ok(FleetLock {
            guard: Guard::new(
                config.timeout,
                config.breaker,
                crate::timer::default_timer(),
            )?,
            script: Script::new(LOCK_LUA),
            config,
        })
    }

    /// The same lock with calls and waits timed by `timer` instead of the runtime feature's.
    ///
    /// ```
    /// use stanchion_redis::{FleetLock, FleetLockConfig, TokioTimer};
    /// let lock = FleetLock::new(FleetLockConfig::new()).unwrap().with_timer(TokioTimer);
    /// # let _ = lock;
    /// ```
    pub fn with_timer(mut self, timer: impl Timer) -> FleetLock {
        self.guard.set_timer(Arc::new(timer));
        self
    }

    /// The config.
    ///
    /// ```
    /// use stanchion_redis::{FleetLock, FleetLockConfig};
    /// let lock = FleetLock::new(FleetLockConfig::new()).unwrap();
    /// assert_eq!(lock.config().prefix, "stanchion:");
    /// ```
    pub fn config(&self) -> &FleetLockConfig {
        &self.config
    }

    /// The Redis keys of lock `name`: the lease and the fence counter, one hash tag.
    ///
    /// ```
    /// use stanchion_redis::{FleetLock, FleetLockConfig};
    /// let lock = FleetLock::new(FleetLockConfig::new()).unwrap();
    /// let (lease, fence) = lock.redis_keys("report").unwrap();
    /// assert_eq!((lease.as_str(), fence.as_str()), ("stanchion:{report}:lock", "stanchion:{report}:fence"));
    /// assert!(lock.redis_keys("a{b").is_err());
    /// ```
    pub fn redis_keys(&self, name: &str) -> Result<(String, String), LockError> {
        fleet::check_name("name", name).map_err(LockError::Invalid)?;
        let prefix = &self.config.prefix;
        Ok((
            format!("{prefix}{{{name}}}:lock"),
            format!("{prefix}{{{name}}}:fence"),
        ))
    }

    /// One attempt to take lock `name`: a lease, or [`LockError::Held`] with the holder's
    /// remaining time. One script call (and a `WAIT` with `wait_replicas`).
    ///
    /// ```no_run
    /// # async fn run(conn: &mut redis::aio::MultiplexedConnection) {
    /// use stanchion_redis::{FleetLock, FleetLockConfig, LockError};
    /// let lock = FleetLock::new(FleetLockConfig::new()).unwrap();
    /// match lock.try_acquire(conn, "report").await {
    ///     Ok(lease) => { lock.release(conn, &lease).await.unwrap(); }
    ///     Err(LockError::Held { retry_after }) => println!("busy for {retry_after:?}"),
    ///     Err(error) => eprintln!("{error}"),
    /// }
    /// # }
    /// ```
    pub async fn try_acquire<C>(&self, conn: &mut C, name: &str) -> Result<LockLease, LockError>
    where
        C: ConnectionLike,
    {
        self.attempt(conn, name, None).await
    }

    /// [`try_acquire`](FleetLock::try_acquire) with the fence's time floor at `now_us`
    /// (microseconds) instead of the server's `TIME`: for conformance tests.
    #[doc(hidden)]
    pub async fn try_acquire_at<C>(
        &self,
        conn: &mut C,
        name: &str,
        now_us: u64,
    ) -> Result<LockLease, LockError>
    where
        C: ConnectionLike,
    {
        self.attempt(conn, name, Some(now_us)).await
    }

    /// Takes lock `name`, waiting up to `wait` while another holder has it: between attempts
    /// the config's backoff, never past the holder's remaining lease, and no attempt that
    /// would start after `wait` ([`LockError::WaitedTooLong`]). Redis failing ends the wait at
    /// once with [`LockError::Unavailable`].
    ///
    /// ```no_run
    /// # async fn run(conn: &mut redis::aio::MultiplexedConnection) {
    /// use stanchion::Nanos;
    /// use stanchion_redis::{FleetLock, FleetLockConfig};
    /// let lock = FleetLock::new(FleetLockConfig::new()).unwrap();
    /// let lease = lock.acquire(conn, "report", Nanos::from_secs(2)).await.unwrap();
    /// lock.release(conn, &lease).await.unwrap();
    /// # }
    /// ```
    pub async fn acquire<C>(
        &self,
        conn: &mut C,
        name: &str,
        wait: Nanos,
    ) -> Result<LockLease, LockError>
    where
        C: ConnectionLike,
    {
        let mut waiter = Waiter::new(&self.guard, self.config.backoff, wait)?;
        loop {
            match self.attempt(conn, name, None).await {
                Err(LockError::Held { retry_after }) => {
                    waiter.pause(&self.guard, retry_after).await?;
                }
                answer => return answer,
            }
        }
    }

    /// Releases `lease`: deletes the lock only if it still holds the lease's token. `true` if
    /// it did; `false` if the lease had already gone (it expired, and perhaps another holder
    /// has the lock now, which this leaves alone).
    ///
    /// ```no_run
    /// # async fn run(conn: &mut redis::aio::MultiplexedConnection) {
    /// use stanchion_redis::{FleetLock, FleetLockConfig};
    /// let lock = FleetLock::new(FleetLockConfig::new()).unwrap();
    /// let lease = lock.try_acquire(conn, "report").await.unwrap();
    /// assert!(lock.release(conn, &lease).await.unwrap());
    /// assert!(!lock.release(conn, &lease).await.unwrap());
    /// # }
    /// ```
    pub async fn release<C>(&self, conn: &mut C, lease: &LockLease) -> Result<bool, LockError>
    where
        C: ConnectionLike,
    {
        let mut call = self.script.key(&lease.key);
        call.key(&lease.fence_key).arg("release").arg(&lease.token);
        let done: i64 = self.guard.run(|| call.invoke_async(conn)).await?;
        Ok(done == 1)
    }

    /// Sets `lease`'s remaining time to `ttl` (it sets, never adds) if the lock still holds
    /// its token. `true` if it did; `false` if the lease had gone.
    ///
    /// ```no_run
    /// # async fn run(conn: &mut redis::aio::MultiplexedConnection) {
    /// use stanchion::Nanos;
    /// use stanchion_redis::{FleetLock, FleetLockConfig};
    /// let lock = FleetLock::new(FleetLockConfig::new()).unwrap();
    /// let lease = lock.try_acquire(conn, "report").await.unwrap();
    /// assert!(lock.extend(conn, &lease, Nanos::from_secs(60)).await.unwrap());
    /// # }
    /// ```
    pub async fn extend<C>(
        &self,
        conn: &mut C,
        lease: &LockLease,
        ttl: Nanos,
    ) -> Result<bool, LockError>
    where
        C: ConnectionLike,
    {
        fleet::check_lease("ttl", ttl).map_err(LockError::Invalid)?;
        let mut call = self.script.key(&lease.key);
        call.key(&lease.fence_key)
            .arg("extend")
            .arg(&lease.token)
            .arg(ttl.as_nanos() / 1_000_000);
        let done: i64 = self.guard.run(|| call.invoke_async(conn)).await?;
        Ok(done == 1)
    }

    /// Keeps `lease` alive: renews it to its full time every third of it
    /// ([`stanchion::fleet::renew_every`]) until a renewal finds it gone or fails, then fires
    /// [`LockLease::lost`] and completes with the reason. It never completes otherwise: stop it
    /// by dropping it, before releasing, as [`with`](FleetLock::with) does. Renewals go over
    /// `conn`; give it a clone of the connection the release will use (a multiplexed
    /// connection or a `ConnectionManager`), so a renewal still in flight when the keeper is
    /// dropped reaches Redis before the release, never after it. It is the [`LeaseKeeper`]
    /// every lease shares, sleeping on this lock's timer.
    ///
    /// [`LeaseKeeper`]: crate::LeaseKeeper
    ///
    /// ```no_run
    /// # async fn run(conn: redis::aio::MultiplexedConnection) {
    /// use stanchion_redis::{FleetLock, FleetLockConfig};
    /// let lock = FleetLock::new(FleetLockConfig::new()).unwrap();
    /// let lease = lock.try_acquire(&mut conn.clone(), "report").await.unwrap();
    /// let lost = lock.keep(conn.clone(), &lease).await; // runs until the lease is lost
    /// eprintln!("{lost}");
    /// # }
    /// ```
    pub async fn keep<C>(&self, conn: C, lease: &LockLease) -> Lost
    where
        C: ConnectionLike + Clone,
    {
        let renew = || {
            let mut conn = conn.clone();
            async move { renewal(self.extend(&mut conn, lease, lease.ttl).await) }
        };
        let lost = crate::keeper::keep_until_lost(&self.guard, lease.ttl, renew).await;
        lease.lost.fire();
        lost
    }

    /// Takes lock `name` (waiting up to `wait`), runs `work` while a keeper renews the lease,
    /// then stops the keeper and releases. The work gets the lease: pass its
    /// [`fence`](LockLease::fence) to the resource, and `select` on [`LockLease::lost`] to stop the
    /// moment the lease is lost. The answer says whether it was.
    ///
    /// ```no_run
    /// # async fn run(conn: redis::aio::MultiplexedConnection) {
    /// use stanchion::Nanos;
    /// use stanchion_redis::{FleetLock, FleetLockConfig};
    /// let lock = FleetLock::new(FleetLockConfig::new()).unwrap();
    /// let finished = lock
    ///     .with(conn, "report", Nanos::from_secs(1), |lease| async move { lease.fence() })
    ///     .await
    ///     .unwrap();
    /// println!("ran with fence {}", finished.value);
    /// # }
    /// ```
    pub async fn with<C, F, W, T>(
        &self,
        conn: C,
        name: &str,
        wait: Nanos,
        work: W,
    ) -> Result<Finished<T>, LockError>
    where
        C: ConnectionLike + Clone,
        W: FnOnce(LockLease) -> F,
        F: std::future::Future<Output = T>,
    {
        let mut release_conn = conn.clone();
        let lease = self.acquire(&mut release_conn, name, wait).await?;
        let (value, lost) =
            crate::timer::alongside(work(lease.clone()), self.keep(conn, &lease)).await;
        // The keeper is stopped (dropped) before the release goes out.
        let released = self.release(&mut release_conn, &lease).await;
        let lost = match (lost, released) {
            (Some(lost), _) => Some(lost),
            (None, Ok(true)) => None,
            (None, Ok(false)) => Some(Lost::Gone),
            (None, Err(LockError::Unavailable(error))) => Some(Lost::Failed(error)),
            (None, Err(_)) => Some(Lost::Gone),
        };
        Ok(Finished { value, lost })
    }

    async fn attempt<C>(
        &self,
        conn: &mut C,
        name: &str,
        now_us: Option<u64>,
    ) -> Result<LockLease, LockError>
    where
        C: ConnectionLike,
    {
        let lease = self.take(conn, name, new_token(), now_us).await?;
        if let Some((replicas, timeout)) = self.config.wait_replicas {
            self.await_replicas(conn, &lease, replicas, timeout).await?;
        }
        Ok(lease)
    }

    /// One acquire script call with `token`: the lease, `Held`, or Redis failing.
    pub(crate) async fn take<C>(
        &self,
        conn: &mut C,
        name: &str,
        token: String,
        now_us: Option<u64>,
    ) -> Result<LockLease, LockError>
    where
        C: ConnectionLike,
    {
        let (key, fence_key) = self.redis_keys(name)?;
        let ttl_ms = self.config.ttl.as_nanos() / 1_000_000;
        let mut call = self.script.key(&key);
        call.key(&fence_key).arg("acquire").arg(&token).arg(ttl_ms);
        if let Some(now_us) = now_us {
            call.arg(now_us);
        }
        let reply: Vec<u64> = self.guard.run(|| call.invoke_async(conn)).await?;
        match reply.as_slice() {
            [1, fence, _] => Ok(LockLease {
                name: name.to_string(),
                key,
                fence_key,
                token,
                fence: *fence,
                ttl: self.config.ttl,
                validity: self.config.ttl,
                lost: LeaseLost::new(),
            }),
            [0, pttl] => Err(LockError::Held {
                retry_after: Nanos::from_millis(*pttl),
            }),
            _ => Err(LockError::Unavailable(Error::Redis(RedisError::from((
                redis::ErrorKind::UnexpectedReturnType,
                "the lock script answered neither {1, fence, ttl} nor {0, pttl}",
                format!("{reply:?}"),
            ))))),
        }
    }

    /// `WAIT`s for `replicas` acknowledgements of `lease`; short of them, releases it.
    async fn await_replicas<C>(
        &self,
        conn: &mut C,
        lease: &LockLease,
        replicas: u32,
        timeout: Nanos,
    ) -> Result<(), LockError>
    where
        C: ConnectionLike,
    {
        {
            let mut wait = redis::cmd("WAIT");
            wait.arg(replicas).arg(timeout.as_nanos() / 1_000_000);
            let acknowledged = self
                .guard
                .run_for(timeout, || wait.query_async::<u32>(conn))
                .await;
            match acknowledged {
                Ok(acknowledged) if acknowledged >= replicas => Ok(()),
                Ok(acknowledged) => {
                    // Best effort: if this fails too, the lease expires on its own.
                    let _ = self.release(conn, lease).await;
                    Err(LockError::Replicas {
                        acknowledged,
                        wanted: replicas,
                    })
                }
                Err(error) => {
                    let _ = self.release(conn, lease).await;
                    Err(LockError::Unavailable(error))
                }
            }
        }
    }
}

/// A renewal's answer as a keeper reads it: held, gone, or Redis failing.
pub(crate) fn renewal(extended: Result<bool, LockError>) -> Result<bool, Error> {
    match extended {
        Ok(held) => Ok(held),
        Err(LockError::Unavailable(error)) => Err(error),
        // `extend` fails otherwise only on a bad ttl, and the lease's was checked.
        Err(_) => Ok(false),
    }
}

/// The waits of one acquisition while others hold the lock: the backoff, bounded by the
/// caller's patience and by the holder's remaining lease.
pub(crate) struct Waiter {
    backoff: Backoff,
    retrying: stanchion::Retrying,
    start: Nanos,
}

impl Waiter {
    pub(crate) fn new(
        guard: &Guard,
        backoff: BackoffConfig,
        wait: Nanos,
    ) -> Result<Waiter, LockError> {
        let start = guard.now();
        // With no patience, one attempt and no wait.
        let backoff = match wait {
            Nanos::ZERO => backoff.max_attempts(1),
            _ => backoff.max_elapsed(wait),
        };
        let backoff = Backoff::new(backoff).map_err(LockError::Invalid)?;
        let retrying = backoff.start(random_seed(), start);
        Ok(Waiter {
            backoff,
            retrying,
            start,
        })
    }

    /// Sleeps before the next attempt, or says the caller has waited long enough.
    pub(crate) async fn pause(
        &mut self,
        guard: &Guard,
        retry_after: Nanos,
    ) -> Result<(), LockError> {
        let now = guard.now();
        let waited = now.saturating_sub(self.start);
        let Ok(pause) = self.retrying.next_delay(&self.backoff, now, None) else {
            return Err(LockError::WaitedTooLong { waited });
        };
        // The lease may run out sooner than the backoff's wait: try then.
        let pause = pause.min(retry_after.max(Nanos::from_millis(1)));
        if guard.sleep(pause).await {
            Ok(())
        } else {
            Err(LockError::WaitedTooLong { waited })
        }
    }
}

/// 128 random bits from the operating system, as 32 hexadecimal digits.
pub(crate) fn new_token() -> String {
    let mut bytes = [0u8; 16];
    // The OS source failing is not recoverable; a fixed token would let two holders share a
    // lock, so fall back to the next best unique value rather than to zeros.
    if getrandom::fill(&mut bytes).is_err() {
        let unique = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
            ^ u128::from(std::process::id()) << 96;
        bytes = unique.to_le_bytes();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn random_seed() -> u64 {
    let mut bytes = [0u8; 8];
    let _ = getrandom::fill(&mut bytes);
    u64::from_le_bytes(bytes)
}
