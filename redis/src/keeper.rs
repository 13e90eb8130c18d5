//! The lease keeper: renews a lease every third of its time until told to stop, and reports
//! at once when a renewal fails or finds the lease gone. Generic over "renew this lease", so
//! every kind of lease (a fleet bulkhead's slot, a lock) shares it.

use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Poll, Waker};
use std::time::Duration;

use crate::Error;

const KEEPING: u8 = 0;
const STOPPING: u8 = 1;
const STOPPED: u8 = 2;
const LOST: u8 = 3;

/// How a lease keeper ended: the lease is gone, or a renewal failed.
///
/// ```
/// use stanchion_redis::Lost;
/// assert_eq!(Lost::Gone.to_string(), "the lease is no longer held");
/// ```
#[derive(Debug)]
pub enum Lost {
    /// A renewal found the lease no longer held: it expired (the holder paused longer than
    /// its time) or was released or taken over. Another holder may have it now.
    Gone,
    /// A renewal did not get an answer: Redis failed, timed out or could not be reached. The
    /// lease may still be held until it expires, or it may not; the holder must act as if
    /// it were lost, and may release it.
    Failed(Error),
}

impl fmt::Display for Lost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Lost::Gone => f.write_str("the lease is no longer held"),
            Lost::Failed(error) => write!(f, "a lease renewal failed: {error}"),
        }
    }
}

impl std::error::Error for Lost {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Lost::Gone => None,
            Lost::Failed(error) => Some(error),
        }
    }
}

/// Where a lease keeper is, as its [`KeeperHandle`] sees it.
///
/// ```
/// use stanchion_redis::KeeperStatus;
/// assert_ne!(KeeperStatus::Keeping, KeeperStatus::Lost);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeeperStatus {
    /// Renewing (or finishing a renewal after being asked to stop).
    Keeping,
    /// Stopped on request, or its future was dropped; it renews no more.
    Stopped,
    /// A renewal failed or found the lease gone; it renews no more.
    Lost,
}

/// Renews a lease every third of its time, runtime-agnostic: it sleeps with the function it
/// is given and renews with the closure it is given, and ends when its [`KeeperHandle`]
/// stops it or a renewal does not answer `Ok(true)`.
///
/// The renew closure answers `Ok(true)` when the lease was still held and now runs for its
/// full time again, `Ok(false)` when it was no longer held, and `Err` when that could not be
/// found out. Nothing here knows what the lease is, so every kind of lease shares the keeper.
/// The keeper sleeps a third of the lease time between the end of one renewal and the start of
/// the next, so a lease is renewed while at least two thirds of its time are left, as long as
/// a renewal answers within that time.
///
/// ```no_run
/// # async fn run(
/// #     sem: stanchion_redis::FleetSemaphore,
/// #     conn: redis::aio::MultiplexedConnection,
/// # ) -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// use stanchion_redis::{KeeperStatus, LeaseKeeper};
///
/// let lease = sem.lease("exports")?;
/// sem.try_acquire(&mut conn.clone(), &lease).await?;
/// let renew = {
///     let (sem, lease, conn) = (sem.clone(), lease.clone(), conn.clone());
///     move || {
///         let (sem, lease, mut conn) = (sem.clone(), lease.clone(), conn.clone());
///         async move { sem.renew(&mut conn, &lease).await }
///     }
/// };
/// let (keeper, handle) = LeaseKeeper::new(lease.ttl().as_duration(), renew, tokio::time::sleep);
/// tokio::spawn(keeper.run());
///
/// // ... the work, checking `handle.status()` or awaiting `handle.ended()` alongside it ...
///
/// // Stop renewing before releasing: `stop` returns once no renewal is in flight.
/// if handle.stop().await == KeeperStatus::Stopped {
///     sem.release(&mut conn.clone(), &lease).await?;
/// }
/// # Ok(())
/// # }
/// ```
pub struct LeaseKeeper<R, S> {
    every: Duration,
    renew: R,
    sleep: S,
    end: EndOnDrop,
}

impl<R, S> fmt::Debug for LeaseKeeper<R, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LeaseKeeper")
            .field("every", &self.every)
            .field("status", &self.end.0.status())
            .finish_non_exhaustive()
    }
}

impl<R, RF, S, SF> LeaseKeeper<R, S>
where
    R: FnMut() -> RF,
    RF: Future<Output = Result<bool, Error>>,
    S: FnMut(Duration) -> SF,
    SF: Future<Output = ()>,
{
    /// A keeper of a lease of `ttl` that renews it with `renew` every `ttl / 3`, waiting with
    /// `sleep` (`tokio::time::sleep`, `async_io::Timer::after`, a test's fake), and the
    /// handle that watches and stops it. Nothing happens until the keeper's
    /// [`run`](LeaseKeeper::run) future is polled: spawn it, or run it beside the work. (A
    /// lease time under 3 ns renews back to back.)
    ///
    /// ```
    /// use std::time::Duration;
    /// use stanchion_redis::{KeeperStatus, LeaseKeeper};
    /// let (keeper, handle) = LeaseKeeper::new(
    ///     Duration::from_secs(30),
    ///     || async { Ok(true) },
    ///     |_wait: Duration| async {},
    /// );
    /// assert_eq!(keeper.every(), Duration::from_secs(10));
    /// assert_eq!(handle.status(), KeeperStatus::Keeping);
    /// ```
    pub fn new(ttl: Duration, renew: R, sleep: S) -> (LeaseKeeper<R, S>, KeeperHandle) {
        let shared = Arc::new(Shared {
            state: AtomicU8::new(KEEPING),
            wakers: Mutex::new(Wakers::default()),
        });
        let keeper = LeaseKeeper {
            every: Duration::from_nanos(
                stanchion::fleet::renew_every(stanchion::Nanos::new(
                    u64::try_from(ttl.as_nanos()).unwrap_or(u64::MAX),
                ))
                .as_nanos(),
            ),
            renew,
            sleep,
            end: EndOnDrop(shared.clone()),
        };
        (keeper, KeeperHandle { shared })
    }

    /// The time between the end of one renewal and the start of the next: a third of the
    /// lease time.
    ///
    /// ```
    /// use std::time::Duration;
    /// use stanchion_redis::LeaseKeeper;
    /// let (keeper, _) = LeaseKeeper::new(
    ///     Duration::from_millis(900),
    ///     || async { Ok(true) },
    ///     |_wait: Duration| async {},
    /// );
    /// assert_eq!(keeper.every(), Duration::from_millis(300));
    /// ```
    pub fn every(&self) -> Duration {
        self.every
    }

    /// Renews until stopped (`Ok(())`) or until a renewal answers `Ok(false)` (`Lost::Gone`)
    /// or `Err` (`Lost::Failed`). The handle's status changes at the same moment, so a holder
    /// watching [`KeeperHandle::ended`] learns of a loss as soon as the keeper does.
    ///
    /// A stop requested while a renewal is in flight lets it finish: no renewal starts after
    /// the keeper saw the stop, and [`KeeperHandle::stop`] returns only once the keeper has
    /// ended. Dropping this future stops the keeper as well.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU32, Ordering};
    /// use std::time::Duration;
    /// use stanchion_redis::{LeaseKeeper, Lost};
    /// // A lease whose second renewal finds it gone, with a sleep that returns at once.
    /// let renewals = AtomicU32::new(0);
    /// let (keeper, handle) = LeaseKeeper::new(
    ///     Duration::from_secs(3),
    ///     || async { Ok(renewals.fetch_add(1, Ordering::SeqCst) == 0) },
    ///     |_wait: Duration| async {},
    /// );
    /// # let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// let ended = runtime.block_on(keeper.run());
    /// assert!(matches!(ended, Err(Lost::Gone)));
    /// assert_eq!(renewals.load(Ordering::SeqCst), 2);
    /// assert!(handle.is_lost());
    /// ```
    pub async fn run(self) -> Result<(), Lost> {
        let LeaseKeeper {
            every,
            mut renew,
            mut sleep,
            end,
        } = self;
        let shared = &end.0;
        loop {
            let stop = {
                let mut wait = pin!(sleep(every));
                poll_fn(|cx| {
                    if shared.stop_requested() {
                        return Poll::Ready(true);
                    }
                    shared.register_keeper(cx.waker());
                    // A stop requested between the check and the registration found no waker
                    // to wake: look again now that one is there.
                    if shared.stop_requested() {
                        return Poll::Ready(true);
                    }
                    wait.as_mut().poll(cx).map(|()| false)
                })
                .await
            };
            if stop || shared.stop_requested() {
                shared.finish(STOPPED);
                return Ok(());
            }
            match renew().await {
                Ok(true) => {}
                Ok(false) => {
                    shared.finish(LOST);
                    return Err(Lost::Gone);
                }
                Err(error) => {
                    shared.finish(LOST);
                    return Err(Lost::Failed(error));
                }
            }
        }
    }
}

/// The sleep function of a keeper built by [`LeaseKeeper::with_tokio`]: `tokio::time::sleep`.
#[cfg(feature = "tokio-comp")]
pub type TokioSleep = fn(Duration) -> tokio::time::Sleep;

#[cfg(feature = "tokio-comp")]
impl<R, RF> LeaseKeeper<R, TokioSleep>
where
    R: FnMut() -> RF,
    RF: Future<Output = Result<bool, Error>>,
{
    /// [`new`](LeaseKeeper::new) with `tokio::time::sleep` (feature `tokio-comp`). The keeper
    /// must then run inside a tokio runtime with its time driver enabled.
    ///
    /// ```
    /// use std::time::Duration;
    /// use stanchion_redis::LeaseKeeper;
    /// let (keeper, _handle) = LeaseKeeper::with_tokio(Duration::from_secs(3), || async { Ok(true) });
    /// assert_eq!(keeper.every(), Duration::from_secs(1));
    /// ```
    pub fn with_tokio(ttl: Duration, renew: R) -> (LeaseKeeper<R, TokioSleep>, KeeperHandle) {
        LeaseKeeper::new(ttl, renew, tokio::time::sleep as TokioSleep)
    }
}

/// Watches and stops a [`LeaseKeeper`]. Cheap to clone; every clone sees the same keeper.
///
/// ```
/// use std::time::Duration;
/// use stanchion_redis::{KeeperStatus, LeaseKeeper};
/// let (keeper, handle) = LeaseKeeper::new(
///     Duration::from_secs(3),
///     || async { Ok(true) },
///     |_wait: Duration| async {},
/// );
/// drop(keeper); // a keeper that never runs, or whose future is dropped, has stopped
/// assert_eq!(handle.status(), KeeperStatus::Stopped);
/// ```
#[derive(Clone, Debug)]
pub struct KeeperHandle {
    shared: Arc<Shared>,
}

impl KeeperHandle {
    /// Where the keeper is now.
    ///
    /// ```
    /// use std::time::Duration;
    /// use stanchion_redis::{KeeperStatus, LeaseKeeper};
    /// let (_keeper, handle) =
    ///     LeaseKeeper::new(Duration::from_secs(3), || async { Ok(true) }, |_: Duration| async {});
    /// assert_eq!(handle.status(), KeeperStatus::Keeping);
    /// ```
    pub fn status(&self) -> KeeperStatus {
        self.shared.status()
    }

    /// Whether a renewal failed or found the lease gone. A holder that finds this true must
    /// stop acting as the holder.
    ///
    /// ```
    /// use std::time::Duration;
    /// use stanchion_redis::LeaseKeeper;
    /// let (_keeper, handle) =
    ///     LeaseKeeper::new(Duration::from_secs(3), || async { Ok(true) }, |_: Duration| async {});
    /// assert!(!handle.is_lost());
    /// ```
    pub fn is_lost(&self) -> bool {
        self.status() == KeeperStatus::Lost
    }

    /// Resolves once the keeper has ended, stopped or lost, with how it ended: a holder runs
    /// it beside its work (`select!`) to learn of a loss the moment the keeper does.
    ///
    /// ```
    /// use std::time::Duration;
    /// use stanchion_redis::{KeeperStatus, LeaseKeeper};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let (keeper, handle) =
    ///     LeaseKeeper::new(Duration::from_secs(3), || async { Ok(false) }, |_: Duration| async {});
    /// let _ = keeper.run().await;
    /// assert_eq!(handle.ended().await, KeeperStatus::Lost);
    /// # });
    /// ```
    pub async fn ended(&self) -> KeeperStatus {
        let shared = &self.shared;
        poll_fn(|cx| {
            if let Some(status) = shared.ended() {
                return Poll::Ready(status);
            }
            shared.register_watcher(cx.waker());
            match shared.ended() {
                Some(status) => Poll::Ready(status),
                None => Poll::Pending,
            }
        })
        .await
    }

    /// Asks the keeper to stop and waits until it has ended: a renewal in flight finishes
    /// first, and none starts after. Release the lease after this returns, and no renewal can
    /// reach Redis after the release. Answers how the keeper ended: `Lost` if a renewal had
    /// already lost the lease. The keeper's future must be running (or be dropped) for this
    /// to return.
    ///
    /// ```
    /// use std::time::Duration;
    /// use stanchion_redis::{KeeperStatus, LeaseKeeper};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let (keeper, handle) =
    ///     LeaseKeeper::new(Duration::from_secs(3), || async { Ok(true) }, |_: Duration| async {
    ///         std::future::pending::<()>().await
    ///     });
    /// // The keeper sleeps (for ever, here) until the stop wakes it.
    /// let (ended, status) = tokio::join!(keeper.run(), handle.stop());
    /// assert!(ended.is_ok());
    /// assert_eq!(status, KeeperStatus::Stopped);
    /// # });
    /// ```
    pub async fn stop(&self) -> KeeperStatus {
        self.shared.request_stop();
        self.ended().await
    }
}

#[derive(Debug)]
struct Shared {
    state: AtomicU8,
    wakers: Mutex<Wakers>,
}

#[derive(Debug, Default)]
struct Wakers {
    /// The keeper, while it sleeps.
    keeper: Option<Waker>,
    /// Everyone awaiting the end.
    watchers: Vec<Waker>,
}

impl Shared {
    fn status(&self) -> KeeperStatus {
        match self.state.load(Ordering::SeqCst) {
            STOPPED => KeeperStatus::Stopped,
            LOST => KeeperStatus::Lost,
            _ => KeeperStatus::Keeping,
        }
    }

    fn ended(&self) -> Option<KeeperStatus> {
        match self.status() {
            KeeperStatus::Keeping => None,
            ended => Some(ended),
        }
    }

    fn stop_requested(&self) -> bool {
        self.state.load(Ordering::SeqCst) != KEEPING
    }

    fn wakers(&self) -> std::sync::MutexGuard<'_, Wakers> {
        // The lock guards two lists of wakers and no invariant a panic could break.
        self.wakers.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn register_keeper(&self, waker: &Waker) {
        let mut wakers = self.wakers();
        match &mut wakers.keeper {
            Some(known) if known.will_wake(waker) => {}
            slot => *slot = Some(waker.clone()),
        }
    }

    fn register_watcher(&self, waker: &Waker) {
        let mut wakers = self.wakers();
        if !wakers.watchers.iter().any(|known| known.will_wake(waker)) {
            wakers.watchers.push(waker.clone());
        }
    }

    fn request_stop(&self) {
        if self
            .state
            .compare_exchange(KEEPING, STOPPING, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            let keeper = self.wakers().keeper.take();
            if let Some(keeper) = keeper {
                keeper.wake();
            }
        }
    }

    /// Ends the keeper as `state` (`STOPPED` or `LOST`) unless it has ended already, and
    /// wakes everyone waiting for the end.
    fn finish(&self, state: u8) {
        let mut current = self.state.load(Ordering::SeqCst);
        while current == KEEPING || current == STOPPING {
            match self
                .state
                .compare_exchange(current, state, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => {
                    let watchers = {
                        let mut wakers = self.wakers();
                        wakers.keeper = None;
                        std::mem::take(&mut wakers.watchers)
                    };
                    watchers.into_iter().for_each(Waker::wake);
                    return;
                }
                Err(actual) => current = actual,
            }
        }
    }
}

/// Ends the keeper as stopped when its future (or the keeper itself, never run) is dropped
/// before it ended, so a handle waiting in `stop` or `ended` returns.
struct EndOnDrop(Arc<Shared>);

impl Drop for EndOnDrop {
    fn drop(&mut self) {
        self.0.finish(STOPPED);
    }
}

/// Runs a [`LeaseKeeper`] on `guard`'s timer until a renewal finds the lease gone or fails, and
/// says which. With no timer nothing can pace the renewals, and it never ends.
pub(crate) async fn keep_until_lost<R, RF>(
    guard: &crate::guard::Guard,
    ttl: stanchion::Nanos,
    renew: R,
) -> Lost
where
    R: FnMut() -> RF,
    RF: Future<Output = Result<bool, Error>>,
{
    let sleep = |wait: Duration| async move {
        if !guard
            .sleep(stanchion::Nanos::new(
                u64::try_from(wait.as_nanos()).unwrap_or(u64::MAX),
            ))
            .await
        {
            std::future::pending::<()>().await;
        }
    };
    let ttl = Duration::from_nanos(ttl.as_nanos());
    let (keeper, _handle) = LeaseKeeper::new(ttl, renew, sleep);
    match keeper.run().await {
        Err(lost) => lost,
        // Only a stop ends it otherwise, and nobody holds the handle to ask for one.
        Ok(()) => std::future::pending().await,
    }
}
