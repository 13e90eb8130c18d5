//! Local batches of a fleet quota: a process takes a batch of units in one call and hands
//! them out from a core `Stock` with no round trip.

use std::fmt;

use redis::aio::ConnectionLike;
use stanchion::Stock;

use crate::names::check_units;
use crate::{Error, FleetQuota};

/// A process's local pool of one quota's units: [`take`](QuotaPool::take) is served from a
/// core [`Stock`] with one atomic operation, and only when the pool runs dry does it call
/// Redis, taking up to the config's [`batch`](crate::FleetQuotaConfig::batch) units at once
/// (at least the units asked for, at most what the bucket holds). With batches of 100, 10 000
/// takes cost about 100 calls.
///
/// Shared by the process's tasks (`&self` methods; put it in an `Arc`). Units in the pool are
/// taken as far as Redis knows: while pools hold them, other processes may find the quota sold
/// out. So give them back when done: [`close`](QuotaPool::close) or
/// [`give_back`](QuotaPool::give_back) return them in one call. Dropping a pool that still
/// holds units gives them back from a task spawned on the current tokio runtime (feature
/// `tokio-comp`), as a best effort whose failure nobody sees; without a runtime they are lost
/// to the quota. Call `close` to know.
///
/// Pool takes carry no request id: a refill whose answer is lost may have taken a batch that
/// the pool never receives. Like every failure of a quota, it errs on the side of selling
/// less, never more.
///
/// ```no_run
/// # async fn run(conn: redis::aio::MultiplexedConnection) -> Result<(), stanchion_redis::Error> {
/// use std::sync::Arc;
/// use stanchion_redis::{FleetQuota, FleetQuotaConfig};
///
/// let quota = FleetQuota::new(FleetQuotaConfig::new().batch(100)).unwrap();
/// let pool = Arc::new(quota.pool(conn, "api-credits")?);
/// for _ in 0..1_000 {
///     pool.take(1).await?; // 10 calls to Redis in all
/// }
/// let returned = Arc::try_unwrap(pool).expect("no other owner").close().await?;
/// println!("{returned} units went back");
/// # Ok(())
/// # }
/// ```
pub struct QuotaPool<C>
where
    C: ConnectionLike + Clone + Send + 'static,
{
    quota: FleetQuota,
    name: String,
    conn: C,
    stock: Stock,
}

impl<C> fmt::Debug for QuotaPool<C>
where
    C: ConnectionLike + Clone + Send + 'static,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QuotaPool")
            .field("name", &self.name)
            .field("local", &self.stock.available())
            .finish_non_exhaustive()
    }
}

impl<C> QuotaPool<C>
where
    C: ConnectionLike + Clone + Send + 'static,
{
    pub(crate) fn new(quota: FleetQuota, conn: C, name: String) -> QuotaPool<C> {
        QuotaPool {
            quota,
            name,
            conn,
            stock: Stock::new(0),
        }
    }

    /// Takes `n` units: from the pool when it holds `n`, with no round trip; otherwise one
    /// sweep of the quota's buckets takes between `n` and `max(n, batch)` units, hands `n` to
    /// the caller and keeps the rest. [`Error::SoldOut`] when no bucket holds `n` and the
    /// pool does not either; the units the pool holds stay there for smaller takes. Tasks
    /// that find the pool dry at once each take a batch; a take racing another's batch that
    /// is still on its way may be refused.
    ///
    /// ```no_run
    /// # async fn run(pool: stanchion_redis::QuotaPool<redis::aio::MultiplexedConnection>) {
    /// match pool.take(3).await {
    ///     Ok(()) => println!("three units are ours"),
    ///     Err(error) if error.is_refusal() => println!("sold out"),
    ///     Err(error) => eprintln!("Redis could not decide: {error}"),
    /// }
    /// # }
    /// ```
    pub async fn take(&self, n: u64) -> Result<(), Error> {
        check_units(n)?;
        if self.stock.take(n) {
            return Ok(());
        }
        let most = self.quota.config().batch.max(n);
        let start = self.quota.random_bucket();
        let mut conn = self.conn.clone();
        match self
            .quota
            .sweep(&mut conn, &self.name, n, most, None, start, None)
            .await
        {
            Ok((_, units)) => {
                self.stock.add(units - n);
                Ok(())
            }
            // Another task's batch may have landed while this one swept.
            Err(Error::SoldOut(_)) if self.stock.take(n) => Ok(()),
            Err(error) => Err(error),
        }
    }

    /// The units the pool holds now.
    ///
    /// ```no_run
    /// # fn run(pool: stanchion_redis::QuotaPool<redis::aio::MultiplexedConnection>) {
    /// println!("{} units held locally", pool.local());
    /// # }
    /// ```
    pub fn local(&self) -> u64 {
        self.stock.available()
    }

    /// Returns every unit the pool holds to the quota, in one call (to a random bucket), and
    /// says how many. Nothing held, no call. On an error the units are not put back in the
    /// pool: Redis may have added them already, and keeping them too could sell them twice.
    ///
    /// ```no_run
    /// # async fn run(pool: stanchion_redis::QuotaPool<redis::aio::MultiplexedConnection>) {
    /// let returned = pool.give_back().await.unwrap();
    /// assert_eq!(pool.local(), 0);
    /// # }
    /// ```
    pub async fn give_back(&self) -> Result<u64, Error> {
        let units = self.stock.drain();
        if units == 0 {
            return Ok(0);
        }
        let bucket = self.quota.random_bucket();
        let mut conn = self.conn.clone();
        self.quota
            .restock_bucket(&mut conn, &self.name, bucket, units)
            .await?;
        Ok(units)
    }

    /// [`give_back`](QuotaPool::give_back), then drops the pool.
    ///
    /// ```no_run
    /// # async fn run(pool: stanchion_redis::QuotaPool<redis::aio::MultiplexedConnection>) {
    /// let returned = pool.close().await.unwrap();
    /// # }
    /// ```
    pub async fn close(self) -> Result<u64, Error> {
        self.give_back().await
    }
}

impl<C> Drop for QuotaPool<C>
where
    C: ConnectionLike + Clone + Send + 'static,
{
    fn drop(&mut self) {
        let units = self.stock.drain();
        if units == 0 {
            return;
        }
        #[cfg(feature = "tokio-comp")]
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let (quota, name, mut conn) =
                (self.quota.clone(), self.name.clone(), self.conn.clone());
            let bucket = quota.random_bucket();
            runtime.spawn(async move {
                let _ = quota.restock_bucket(&mut conn, &name, bucket, units).await;
            });
        }
    }
}
