//! What the shuttle tests share: how a test explores schedules, threads that each run their
//! own random operations, and a poll loop for the core's futures.
//!
//! A test file opts in with `#![cfg(shuttle)]` and `mod shuttle_support;`, then writes one body
//! that spawns its threads through [`spawn_all`], draws its operations from [`rng`] (shuttle's
//! generator, so a failing schedule replays with the same operations), and asserts as it goes.
//! [`explore`] runs that body under shuttle's random scheduler and its PCT scheduler. A failure
//! prints the schedule to pass to `shuttle::replay`.
//!
//! Shuttle treats every atomic ordering as `SeqCst`: it finds interleavings, not reorderings.
//! Weaker orderings are the loom models' job.
#![allow(dead_code)] // Each test file uses what it needs.

use core::future::Future;
use core::pin::{pin, Pin};
use core::task::{Context, Poll, Waker};
use std::sync::Arc;
use std::task::Wake;

pub use shuttle::rand::Rng;
use shuttle::thread;

/// The PCT scheduler's bug depth: the number of ordering constraints a bug may need.
const PCT_DEPTH: usize = 3;

/// Runs `body` under `iterations` random schedules and as many PCT schedules.
/// `STANCHION_SHUTTLE_ITERATIONS` replaces the count, for longer runs by hand.
pub fn explore(iterations: usize, body: impl Fn() + Send + Sync + 'static) {
    let iterations = std::env::var("STANCHION_SHUTTLE_ITERATIONS")
        .ok()
        .and_then(|count| count.parse().ok())
        .unwrap_or(iterations);
    let body = Arc::new(body);
    let random = Arc::clone(&body);
    shuttle::check_random(move || random(), iterations);
    shuttle::check_pct(move || body(), iterations, PCT_DEPTH);
}

/// shuttle's random generator: what it draws is part of the schedule, so a replay repeats it.
pub fn rng() -> impl Rng {
    shuttle::rand::thread_rng()
}

/// Runs `body(0)` to `body(threads - 1)` on threads of their own and returns their results
/// in that order.
pub fn spawn_all<T: Send + 'static>(
    threads: usize,
    body: impl Fn(usize) -> T + Send + Sync + 'static,
) -> Vec<T> {
    let body = Arc::new(body);
    let handles: Vec<_> = (0..threads)
        .map(|index| {
            let body = Arc::clone(&body);
            thread::spawn(move || body(index))
        })
        .collect();
    handles
        .into_iter()
        .map(|handle| handle.join().expect("a thread panicked"))
        .collect()
}

/// A waker that unparks the thread that polled with it.
struct Unpark(thread::Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Polls `future` until it is ready, parking the thread in between: a future that is never
/// woken leaves its thread parked for good, which shuttle reports as a deadlock.
pub fn wait_for<F: Future>(future: F) -> F::Output {
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut context = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
        // Parking may also return spuriously; the poll above decides.
        thread::park();
    }
}

/// Polls `future` once with a waker that does nothing.
pub fn poll_once<F: Future + Unpin>(future: &mut F) -> Poll<F::Output> {
    Pin::new(future).poll(&mut Context::from_waker(Waker::noop()))
}
