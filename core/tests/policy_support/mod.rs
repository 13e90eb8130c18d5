//! What the policy tests share: fake time whose timer advances the clock, and a constant
//! backoff.
#![allow(dead_code)] // Each test file uses what it needs.

use core::cell::Cell;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use stanchion::{Backoff, BackoffConfig, Nanos};

/// A fake clock whose timer advances it when first polled, then completes.
pub struct FakeTime {
    pub now: Cell<Nanos>,
}

pub struct FakeSleep<'a> {
    time: &'a FakeTime,
    duration: Nanos,
}

impl Future for FakeSleep<'_> {
    type Output = ();
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        self.time.now.set(self.time.now.get() + self.duration);
        Poll::Ready(())
    }
}

impl FakeTime {
    pub fn new() -> FakeTime {
        FakeTime {
            now: Cell::new(Nanos::from_secs(100)),
        }
    }
    pub fn clock(&self) -> impl Fn() -> Nanos + '_ {
        || self.now.get()
    }
    pub fn sleeper<'a>(&'a self) -> impl Fn(Nanos) -> FakeSleep<'a> + 'a {
        move |duration| FakeSleep {
            time: self,
            duration,
        }
    }
}

/// A constant 10 ms backoff of `attempts` attempts.
pub fn backoff(attempts: u32) -> Backoff {
    Backoff::new(BackoffConfig::constant(Nanos::from_millis(10)).max_attempts(attempts)).unwrap()
}
