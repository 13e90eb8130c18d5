//! RedLock: one lease on several independent Redis servers, held while a majority agrees.

use redis::aio::ConnectionLike;
use stanchion::{fleet, ConfigError, Nanos};

use crate::lock::{new_token, renewal, Waiter};
use crate::timer::{alongside, join_all};
use crate::{Finished, FleetLock, FleetLockConfig, LeaseLost, LockError, LockLease, Lost};

/// A lock kept on N independent Redis servers (not replicas of one another): the lock
/// script of [`FleetLock`] runs on each with one token, and the lease holds while a majority,
/// ⌊N/2⌋ + 1, has it.
///
/// An acquisition is valid for the lease time less the time it took and a clock-drift
/// allowance (1 % of the lease plus 2 ms, [`stanchion::fleet::redlock_validity`]); one that
/// misses the quorum, or leaves no validity, is released on every server. Renewal needs the
/// quorum too. Each server has its own breaker and call timeout.
///
/// **Timing assumptions.** RedLock is safe only while the servers' clocks run at nearly the
/// same rate, and while no holder pauses (a GC, a stopped VM) past its validity without
/// noticing. The fencing token is the safety net: each server's fence comes from its own
/// counter and clock, and the lease carries the largest, so fences still grow with every
/// acquisition while the servers' clocks move forward.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use stanchion::Nanos;
/// use stanchion_redis::{FleetLockConfig, Redlock};
///
/// let urls = ["redis://10.0.0.1/", "redis://10.0.0.2/", "redis://10.0.0.3/"];
/// let mut conns = Vec::new();
/// for url in urls {
///     conns.push(redis::Client::open(url)?.get_multiplexed_async_connection().await?);
/// }
/// let redlock = Redlock::new(FleetLockConfig::new().ttl(Nanos::from_secs(10)), conns.len())?;
/// let lease = redlock.acquire(&mut conns, "billing-run", Nanos::from_secs(2)).await?;
/// println!("valid for {:?}, fence {}", lease.validity(), lease.fence());
/// redlock.release(&mut conns, &lease).await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Redlock {
    servers: Vec<FleetLock>,
}

impl Redlock {
    /// A RedLock over `servers` servers (1 to 255; use an odd number, 3 or 5), or the first
    /// field out of range. `wait_replicas` does not apply and must be unset.
    ///
    /// ```
    /// use stanchion::Nanos;
    /// use stanchion_redis::{FleetLockConfig, Redlock};
    /// assert_eq!(Redlock::new(FleetLockConfig::new(), 5).unwrap().quorum(), 3);
    /// assert_eq!(Redlock::new(FleetLockConfig::new(), 0).unwrap_err().field, "servers");
    /// let waiting = FleetLockConfig::new().wait_replicas(1, Nanos::from_millis(10));
    /// assert_eq!(Redlock::new(waiting, 3).unwrap_err().field, "wait_replicas");
    /// ```
    pub fn new(config: FleetLockConfig, servers: usize) -> Result<Redlock, ConfigError> {
        if servers == 0 || servers > 255 {
            return Err(ConfigError::new("servers", "1..=255"));
        }
        if config.wait_replicas.is_some() {
            return Err(ConfigError::new(
                "wait_replicas",
                "unset: RedLock spreads the lease over servers instead",
            ));
        }
        let servers = (0..servers)
            .map(|_| FleetLock::new(config.clone()))
            .collect::<Result<_, _>>()?;
        Ok(Redlock { servers })
    }

    /// The servers that must agree: ⌊N/2⌋ + 1.
    ///
    /// ```
    /// use stanchion_redis::{FleetLockConfig, Redlock};
    /// assert_eq!(Redlock::new(FleetLockConfig::new(), 4).unwrap().quorum(), 3);
    /// ```
    pub fn quorum(&self) -> usize {
        fleet::quorum(self.servers.len() as u32) as usize
    }

    /// The config every server's lock uses.
    ///
    /// ```
    /// use stanchion_redis::{FleetLockConfig, Redlock};
    /// let redlock = Redlock::new(FleetLockConfig::new().prefix("jobs:"), 3).unwrap();
    /// assert_eq!(redlock.config().prefix, "jobs:");
    /// ```
    pub fn config(&self) -> &FleetLockConfig {
        &self.servers[0].config
    }

    fn check<C>(&self, conns: &[C]) -> Result<(), LockError> {
        if conns.len() != self.servers.len() {
            return Err(LockError::Invalid(ConfigError::new(
                "conns",
                "one connection per server, in the order of the servers",
            )));
        }
        Ok(())
    }

    /// One attempt on every server at once: the lease if a quorum granted it with validity
    /// left, else it is released everywhere and the answer says why ([`LockError::Held`] when
    /// holders kept the quorum from forming, [`LockError::Unavailable`] when failing servers
    /// did, [`LockError::NoQuorum`] otherwise).
    ///
    /// ```no_run
    /// # async fn run(conns: &mut [redis::aio::MultiplexedConnection]) {
    /// use stanchion_redis::{FleetLockConfig, Redlock};
    /// let redlock = Redlock::new(FleetLockConfig::new(), conns.len()).unwrap();
    /// if let Ok(lease) = redlock.try_acquire(conns, "job").await {
    ///     redlock.release(conns, &lease).await.unwrap();
    /// }
    /// # }
    /// ```
    pub async fn try_acquire<C>(&self, conns: &mut [C], name: &str) -> Result<LockLease, LockError>
    where
        C: ConnectionLike,
    {
        self.check(conns)?;
        let guard = &self.servers[0].guard;
        let start = guard.now();
        let token = new_token();
        let answers = join_all(
            self.servers
                .iter()
                .zip(conns.iter_mut())
                .map(|(server, conn)| server.take(conn, name, token.clone(), None))
                .collect(),
        )
        .await;
        let elapsed = guard.now().saturating_sub(start);
        let granted: Vec<&LockLease> = answers.iter().filter_map(|a| a.as_ref().ok()).collect();
        let validity = fleet::redlock_validity(self.config().ttl, elapsed);
        if let (true, Some(validity), Some(first)) =
            (granted.len() >= self.quorum(), validity, granted.first())
        {
            let fence = granted.iter().map(|lease| lease.fence).max().unwrap_or(0);
            return Ok(LockLease {
                fence,
                validity,
                lost: LeaseLost::new(),
                ..(*first).clone()
            });
        }
        let granted = granted.len() as u32;
        // Every server, not only those that granted: a grant whose reply was lost is a lease
        // too.
        let (key, fence_key) = self.servers[0].redis_keys(name)?;
        let lease = LockLease {
            name: name.to_string(),
            key,
            fence_key,
            token,
            fence: 0,
            ttl: self.config().ttl,
            validity: Nanos::ZERO,
            lost: LeaseLost::new(),
        };
        let _ = self.release(conns, &lease).await;
        Err(self.refusal(answers, granted))
    }

    fn refusal(&self, answers: Vec<Result<LockLease, LockError>>, granted: u32) -> LockError {
        let needed = self.quorum() as u32;
        let mut held = None;
        let mut unavailable = Vec::new();
        for answer in answers {
            match answer {
                Err(LockError::Held { retry_after }) => {
                    held = Some(held.map_or(retry_after, |h: Nanos| h.min(retry_after)));
                }
                Err(LockError::Unavailable(error)) => unavailable.push(error),
                _ => {}
            }
        }
        let servers = self.servers.len();
        if unavailable.len() > servers - self.quorum() {
            return LockError::Unavailable(unavailable.remove(0));
        }
        match held {
            Some(retry_after) => LockError::Held { retry_after },
            None => LockError::NoQuorum { granted, needed },
        }
    }

    /// Takes lock `name`, waiting up to `wait` while holders keep a quorum from forming, with
    /// the waits of [`FleetLock::acquire`].
    ///
    /// ```no_run
    /// # async fn run(conns: &mut [redis::aio::MultiplexedConnection]) {
    /// use stanchion::Nanos;
    /// use stanchion_redis::{FleetLockConfig, Redlock};
    /// let redlock = Redlock::new(FleetLockConfig::new(), conns.len()).unwrap();
    /// let lease = redlock.acquire(conns, "job", Nanos::from_secs(1)).await.unwrap();
    /// # }
    /// ```
    pub async fn acquire<C>(
        &self,
        conns: &mut [C],
        name: &str,
        wait: Nanos,
    ) -> Result<LockLease, LockError>
    where
        C: ConnectionLike,
    {
        let guard = &self.servers[0].guard;
        let mut waiter = Waiter::new(guard, self.config().backoff, wait)?;
        loop {
            match self.try_acquire(conns, name).await {
                Err(LockError::Held { retry_after }) => waiter.pause(guard, retry_after).await?,
                Err(LockError::NoQuorum { .. }) => waiter.pause(guard, Nanos::MAX).await?,
                answer => return answer,
            }
        }
    }

    /// Releases `lease` on every server; the number of servers where it still held.
    ///
    /// ```no_run
    /// # async fn run(conns: &mut [redis::aio::MultiplexedConnection], lease: stanchion_redis::LockLease) {
    /// use stanchion_redis::{FleetLockConfig, Redlock};
    /// let redlock = Redlock::new(FleetLockConfig::new(), conns.len()).unwrap();
    /// let released = redlock.release(conns, &lease).await.unwrap();
    /// # }
    /// ```
    pub async fn release<C>(&self, conns: &mut [C], lease: &LockLease) -> Result<usize, LockError>
    where
        C: ConnectionLike,
    {
        self.check(conns)?;
        let answers = join_all(
            self.servers
                .iter()
                .zip(conns.iter_mut())
                .map(|(server, conn)| server.release(conn, lease))
                .collect(),
        )
        .await;
        Ok(answers
            .into_iter()
            .filter(|a| matches!(a, Ok(true)))
            .count())
    }

    /// Sets `lease`'s remaining time to `ttl` on every server; `true` if a quorum still held
    /// it.
    ///
    /// ```no_run
    /// # async fn run(conns: &mut [redis::aio::MultiplexedConnection], lease: stanchion_redis::LockLease) {
    /// use stanchion::Nanos;
    /// use stanchion_redis::{FleetLockConfig, Redlock};
    /// let redlock = Redlock::new(FleetLockConfig::new(), conns.len()).unwrap();
    /// let kept = redlock.extend(conns, &lease, Nanos::from_secs(30)).await.unwrap();
    /// # }
    /// ```
    pub async fn extend<C>(
        &self,
        conns: &mut [C],
        lease: &LockLease,
        ttl: Nanos,
    ) -> Result<bool, LockError>
    where
        C: ConnectionLike,
    {
        self.check(conns)?;
        fleet::check_lease("ttl", ttl).map_err(LockError::Invalid)?;
        let answers = join_all(
            self.servers
                .iter()
                .zip(conns.iter_mut())
                .map(|(server, conn)| server.extend(conn, lease, ttl))
                .collect(),
        )
        .await;
        let kept = answers.iter().filter(|a| matches!(a, Ok(true))).count();
        if kept >= self.quorum() {
            return Ok(true);
        }
        let mut failures: Vec<crate::Error> = answers
            .into_iter()
            .filter_map(|answer| match answer {
                Err(LockError::Unavailable(error)) => Some(error),
                _ => None,
            })
            .collect();
        // Short of the quorum because servers failed, not because the lease had gone from
        // them: say so, with the first failure as the cause.
        if kept + failures.len() >= self.quorum() {
            return Err(LockError::Unavailable(failures.remove(0)));
        }
        Ok(false)
    }

    /// Keeps `lease` alive on a quorum, renewing every third of its time, until a renewal
    /// misses the quorum; then fires [`LockLease::lost`] and completes with the reason. Stop it
    /// by dropping it before releasing (as [`with`](Redlock::with) does), with clones of the
    /// connections the release uses.
    ///
    /// ```no_run
    /// # async fn run(conns: Vec<redis::aio::MultiplexedConnection>, lease: stanchion_redis::LockLease) {
    /// use stanchion_redis::{FleetLockConfig, Redlock};
    /// let redlock = Redlock::new(FleetLockConfig::new(), conns.len()).unwrap();
    /// let lost = redlock.keep(conns.clone(), &lease).await;
    /// # }
    /// ```
    pub async fn keep<C>(&self, conns: Vec<C>, lease: &LockLease) -> Lost
    where
        C: ConnectionLike + Clone,
    {
        let renew = || {
            let mut conns = conns.clone();
            async move { renewal(self.extend(&mut conns, lease, lease.ttl).await) }
        };
        let guard = &self.servers[0].guard;
        let lost = crate::keeper::keep_until_lost(guard, lease.ttl, renew).await;
        lease.lost.fire();
        lost
    }

    /// Takes lock `name` (waiting up to `wait`), runs `work` while a keeper renews the lease
    /// on a quorum, then stops the keeper and releases everywhere, as [`FleetLock::with`].
    ///
    /// ```no_run
    /// # async fn run(conns: Vec<redis::aio::MultiplexedConnection>) {
    /// use stanchion::Nanos;
    /// use stanchion_redis::{FleetLockConfig, Redlock};
    /// let redlock = Redlock::new(FleetLockConfig::new(), conns.len()).unwrap();
    /// let finished = redlock
    ///     .with(conns, "job", Nanos::from_secs(1), |lease| async move { lease.fence() })
    ///     .await
    ///     .unwrap();
    /// # }
    /// ```
    pub async fn with<C, F, W, T>(
        &self,
        conns: Vec<C>,
        name: &str,
        wait: Nanos,
        work: W,
    ) -> Result<Finished<T>, LockError>
    where
        C: ConnectionLike + Clone,
        W: FnOnce(LockLease) -> F,
        F: std::future::Future<Output = T>,
    {
        let mut release_conns = conns.clone();
        let lease = self.acquire(&mut release_conns, name, wait).await?;
        let (value, lost) = alongside(work(lease.clone()), self.keep(conns, &lease)).await;
        let released = self.release(&mut release_conns, &lease).await;
        let lost = match (lost, released) {
            (Some(lost), _) => Some(lost),
            (None, Ok(n)) if n >= self.quorum() => None,
            (None, _) => Some(Lost::Gone),
        };
        Ok(Finished { value, lost })
    }
}
