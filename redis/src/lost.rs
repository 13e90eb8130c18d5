//! The signal that tells a lease's holder, at once, that the lease is gone.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};

#[derive(Default)]
struct Shared {
    lost: bool,
    wakers: Vec<Waker>,
}

/// A future that completes when the lease it watches is lost, for work under a lock to
/// `select` on (stop writing the moment the lease is gone). Clones watch the same lease.
///
/// ```
/// use stanchion_redis::LeaseLost;
/// let lost = LeaseLost::new();
/// assert!(!lost.is_lost());
/// ```
#[derive(Clone, Default)]
pub struct LeaseLost {
    shared: Arc<Mutex<Shared>>,
}

impl LeaseLost {
    /// A signal not fired yet.
    pub fn new() -> LeaseLost {
        LeaseLost::default()
    }

    /// Whether the lease has been lost.
    ///
    /// ```
    /// let lost = stanchion_redis::LeaseLost::new();
    /// assert!(!lost.is_lost());
    /// ```
    pub fn is_lost(&self) -> bool {
        self.lock().lost
    }

    pub(crate) fn fire(&self) {
        let wakers = {
            let mut shared = self.lock();
            shared.lost = true;
            std::mem::take(&mut shared.wakers)
        };
        wakers.into_iter().for_each(Waker::wake);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        // The state is a flag and a list; a panic elsewhere leaves both usable.
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Future for LeaseLost {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut shared = self.lock();
        if shared.lost {
            return Poll::Ready(());
        }
        if !shared.wakers.iter().any(|w| w.will_wake(cx.waker())) {
            shared.wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

impl std::fmt::Debug for LeaseLost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaseLost")
            .field("lost", &self.is_lost())
            .finish()
    }
}
