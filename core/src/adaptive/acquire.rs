//! `acquire`'s future: the bulkhead's queue, with the permit stamped when it is handed over.

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use super::{AdaptiveLimiter, Permit};
use crate::bulkhead::gate::Step;
use crate::retry::Clock;
use crate::Rejected;

/// The future returned by [`AdaptiveLimiter::acquire`]: resolves to a [`Permit`] issued at the
/// clock's time when it resolves, or to `QueueFull` at once when it cannot wait.
///
/// It is the bulkhead's waiting, unchanged: no executor, no allocation, one slot of the
/// limiter's waiter table; dropping it while queued takes it out of the queue and passes on a
/// permit handed to it meanwhile. Polling it again after it resolved returns `Pending`.
#[must_use = "futures do nothing unless polled"]
pub struct Acquire<'a, C: Clock + ?Sized, const WAITERS: usize = 0> {
    limiter: &'a AdaptiveLimiter<WAITERS>,
    clock: &'a C,
    step: Step,
}

impl<'a, C: Clock + ?Sized, const WAITERS: usize> Acquire<'a, C, WAITERS> {
    pub(crate) const fn new(limiter: &'a AdaptiveLimiter<WAITERS>, clock: &'a C) -> Self {
        Acquire {
            limiter,
            clock,
            step: Step::Start,
        }
    }
}

impl<'a, C: Clock + ?Sized, const WAITERS: usize> Future for Acquire<'a, C, WAITERS> {
    type Output = Result<Permit<'a, WAITERS>, Rejected>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // No field is pinned: the slot is named by index, so the future may move freely.
        let this = self.get_mut();
        let limiter = this.limiter;
        this.step
            .poll(&limiter.gate, limiter, 0, cx.waker())
            .map_ok(|()| limiter.handed_over(this.clock.now()))
    }
}

impl<C: Clock + ?Sized, const WAITERS: usize> Drop for Acquire<'_, C, WAITERS> {
    fn drop(&mut self) {
        self.step.cancel(&self.limiter.gate, self.limiter);
    }
}

impl<C: Clock + ?Sized, const WAITERS: usize> fmt::Debug for Acquire<'_, C, WAITERS> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acquire")
            .field("step", &self.step)
            .finish_non_exhaustive()
    }
}
