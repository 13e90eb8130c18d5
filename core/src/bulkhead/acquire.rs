//! `acquire`'s future: a permit now, or a place in the queue until one is handed over.

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use super::gate::Step;
use super::{Bulkhead, Permit};
use crate::Rejected;

/// The future returned by [`Bulkhead::acquire`]: resolves to a [`Permit`], or to `QueueFull`
/// at once when it cannot wait.
///
/// It needs no executor and no allocation: it parks its waker in one slot of the bulkhead's
/// waiter table. Dropping it while queued takes it out of the queue; if a permit had already
/// been handed to it, the permit goes on to the next waiter (or back to free room). Polling it
/// again after it resolved returns `Pending`.
#[must_use = "futures do nothing unless polled"]
pub struct Acquire<'a, const WAITERS: usize = 0> {
    bulkhead: &'a Bulkhead<WAITERS>,
    lane: u8,
    step: Step,
}

impl<'a, const WAITERS: usize> Acquire<'a, WAITERS> {
    pub(crate) const fn new(bulkhead: &'a Bulkhead<WAITERS>, lane: u8) -> Self {
        Acquire {
            bulkhead,
            lane,
            step: Step::Start,
        }
    }
}

impl<'a, const WAITERS: usize> Future for Acquire<'a, WAITERS> {
    type Output = Result<Permit<'a, WAITERS>, Rejected>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // No field is pinned: the slot is named by index, so the future may move freely.
        let this = self.get_mut();
        let bulkhead = this.bulkhead;
        this.step
            .poll(&bulkhead.gate, bulkhead, this.lane, cx.waker())
            .map_ok(|()| Permit::new(bulkhead, this.lane))
    }
}

impl<const WAITERS: usize> Drop for Acquire<'_, WAITERS> {
    fn drop(&mut self) {
        self.step.cancel(&self.bulkhead.gate, self.bulkhead);
    }
}

impl<const WAITERS: usize> fmt::Debug for Acquire<'_, WAITERS> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acquire")
            .field("lane", &self.lane)
            .field("step", &self.step)
            .finish()
    }
}
