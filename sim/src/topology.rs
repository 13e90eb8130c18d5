//! The services at run time: worker pools with a bounded FIFO queue, and what a request costs
//! at a given moment (the failure windows decide).

use std::collections::VecDeque;

use stanchion::rng::SplitMix64;
use stanchion::Nanos;

use crate::distribution::unit;
use crate::scenario::Service;

/// A service's workers: how many are busy and who waits for one.
#[derive(Debug, Default)]
pub struct Pool {
    /// Requests being served.
    pub busy: u32,
    /// Requests waiting for a worker, oldest first (job ids).
    pub waiting: VecDeque<u32>,
}

/// What a pool does with a new request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entry {
    /// A worker takes it now.
    Served,
    /// It waits in the queue.
    Queued,
    /// Workers and queue are full: refused at once.
    Refused,
}

impl Pool {
    /// Decides what happens to a request arriving at `service` (the caller queues the job id
    /// on [`Entry::Queued`]).
    ///
    /// ```
    /// use stanchion_sim::topology::{Entry, Pool};
    /// let mut pool = Pool::default();
    /// assert_eq!(pool.enter(Some(1), 1), Entry::Served);
    /// assert_eq!(pool.enter(Some(1), 1), Entry::Queued);
    /// pool.waiting.push_back(7);
    /// assert_eq!(pool.enter(Some(1), 1), Entry::Refused);
    /// ```
    pub fn enter(&mut self, workers: Option<u32>, queue: u32) -> Entry {
        if workers.is_none_or(|w| self.busy < w) {
            self.busy += 1;
            Entry::Served
        } else if (self.waiting.len() as u64) < u64::from(queue) {
            Entry::Queued
        } else {
            Entry::Refused
        }
    }

    /// A worker is done: the next waiting job takes it, if any, unless the service now has
    /// fewer `workers` than are busy (its capacity dropped): then the worker retires.
    ///
    /// ```
    /// use stanchion_sim::topology::{Entry, Pool};
    /// let mut pool = Pool::default();
    /// pool.enter(Some(2), 5);
    /// pool.enter(Some(2), 5);
    /// pool.waiting.push_back(3);
    /// assert_eq!(pool.leave(Some(1)), None); // down to one worker: this one retires
    /// assert_eq!(pool.leave(Some(1)), Some(3)); // handed over: still one busy
    /// assert_eq!(pool.busy, 1);
    /// assert_eq!(pool.leave(Some(1)), None);
    /// assert_eq!(pool.busy, 0);
    /// ```
    pub fn leave(&mut self, workers: Option<u32>) -> Option<u32> {
        if workers.is_some_and(|w| self.busy > w) {
            self.busy -= 1;
            return None;
        }
        match self.waiting.pop_front() {
            Some(next) => Some(next),
            None => {
                self.busy -= 1;
                None
            }
        }
    }
}

/// The work of one request starting at `now`: how long it takes and whether it fails.
///
/// ```
/// use stanchion::rng::SplitMix64;
/// use stanchion::Nanos;
/// use stanchion_sim::scenario::Scenario;
/// use stanchion_sim::topology::work;
/// let s = Scenario::parse("drill", stanchion_sim::builtin::DRILL).unwrap();
/// let payments = &s.services[s.service("payments").unwrap()];
/// let (took, failed) = work(payments, Nanos::from_secs(40), &mut SplitMix64::new(1));
/// assert!(failed && took >= Nanos::from_secs(9)); // inside the outage
/// ```
pub fn work(service: &Service, now: Nanos, rng: &mut SplitMix64) -> (Nanos, bool) {
    let window = service
        .failures
        .iter()
        .find(|f| f.from <= now && now < f.until);
    let (latency, error_rate) = match window {
        Some(f) => (f.latency, f.error_rate),
        None => (service.latency, service.error_rate),
    };
    let took = latency.sample(rng);
    let failed = error_rate > 0.0 && unit(rng) < error_rate;
    (took, failed)
}
