//! A breaker's state and counters at one moment, as plain data for metrics and tests.

use super::state::{State, Word};
use super::CircuitBreaker;
use crate::sync::Ordering;
use crate::Nanos;

/// What a breaker holds at one moment: its state, its window and its lifetime counters.
///
/// Counters never go down (until `u64` saturates). Under concurrency the fields are read one
/// by one and may disagree by the calls racing the read.
///
/// ```
/// use stanchion::breaker::{BreakerConfig, CircuitBreaker, Outcome, State};
/// use stanchion::Nanos;
/// let breaker: CircuitBreaker =
///     CircuitBreaker::new(BreakerConfig::new().failure_count(Some(2))).unwrap();
/// for (t, outcome) in [(1, Outcome::Success), (2, Outcome::Failure)] {
///     let permit = breaker.try_acquire(Nanos::from_secs(t)).unwrap();
///     permit.record(outcome, Nanos::from_secs(t));
/// }
/// let snap = breaker.snapshot(Nanos::from_secs(2));
/// assert_eq!(snap.state, State::Closed);
/// assert_eq!((snap.window_calls, snap.window_failures), (2, 1));
/// assert_eq!(snap.failure_rate(), 0.5);
/// assert_eq!((snap.successes, snap.failures), (1, 1));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BreakerSnapshot {
    /// The state, as stored.
    pub state: State,
    /// The generation: it changes on every transition and reset.
    pub generation: u32,
    /// When an open breaker lets the next call probe; `None` unless open.
    pub open_until: Option<Nanos>,
    /// Probes in flight while half-open.
    pub probes_in_flight: u32,
    /// Successful probes so far in this half-open period.
    pub half_open_successes: u32,
    /// Calls recorded in the window as of the snapshot's `now`.
    pub window_calls: u64,
    /// Failures in the window.
    pub window_failures: u64,
    /// Slow calls in the window.
    pub window_slow_calls: u64,
    /// Failures in a row.
    pub consecutive_failures: u32,
    /// Trips in a row without a full recovery (drives open-period growth).
    pub consecutive_trips: u32,
    /// Calls recorded as a success or a failure, ever.
    pub calls: u64,
    /// Calls recorded as a success, ever.
    pub successes: u64,
    /// Calls recorded as a failure, ever.
    pub failures: u64,
    /// Calls that took at least the slow-call duration, ever.
    pub slow_calls: u64,
    /// Calls refused because the breaker was open.
    pub rejected_open: u64,
    /// Calls refused because every half-open probe slot was taken.
    pub rejected_half_open_full: u64,
    /// Calls refused because the breaker was forced open.
    pub rejected_forced_open: u64,
    /// State changes, ever.
    pub transitions: u64,
}

impl BreakerSnapshot {
    /// The window's failure share, 0 for an empty window.
    ///
    /// ```
    /// # use stanchion::breaker::CircuitBreaker;
    /// let b: CircuitBreaker = CircuitBreaker::new(Default::default()).unwrap();
    /// assert_eq!(b.snapshot(stanchion::Nanos::ZERO).failure_rate(), 0.0);
    /// ```
    pub fn failure_rate(&self) -> f32 {
        share(self.window_failures, self.window_calls)
    }

    /// The window's slow-call share, 0 for an empty window.
    ///
    /// ```
    /// # use stanchion::breaker::CircuitBreaker;
    /// let b: CircuitBreaker = CircuitBreaker::new(Default::default()).unwrap();
    /// assert_eq!(b.snapshot(stanchion::Nanos::ZERO).slow_call_rate(), 0.0);
    /// ```
    pub fn slow_call_rate(&self) -> f32 {
        share(self.window_slow_calls, self.window_calls)
    }

    /// Calls refused for any reason.
    ///
    /// ```
    /// # use stanchion::breaker::CircuitBreaker;
    /// let b: CircuitBreaker = CircuitBreaker::new(Default::default()).unwrap();
    /// b.force_open(stanchion::Nanos::ZERO);
    /// let _ = b.try_acquire(stanchion::Nanos::ZERO);
    /// assert_eq!(b.snapshot(stanchion::Nanos::ZERO).rejected(), 1);
    /// ```
    pub fn rejected(&self) -> u64 {
        self.rejected_open
            .saturating_add(self.rejected_half_open_full)
            .saturating_add(self.rejected_forced_open)
    }
}

fn share(part: u64, whole: u64) -> f32 {
    if whole == 0 {
        0.0
    } else {
        (part as f64 / whole as f64) as f32
    }
}

impl<const W: usize> CircuitBreaker<W> {
    /// The state and counters as of `now` (the window is read as of `now`; nothing changes).
    ///
    /// ```
    /// use stanchion::breaker::{CircuitBreaker, State};
    /// let breaker: CircuitBreaker = CircuitBreaker::new(Default::default()).unwrap();
    /// let snap = breaker.snapshot(stanchion::Nanos::ZERO);
    /// assert_eq!((snap.state, snap.calls, snap.rejected()), (State::Closed, 0, 0));
    /// ```
    pub fn snapshot(&self, now: Nanos) -> BreakerSnapshot {
        let w = Word::unpack(self.state.load(Ordering::Acquire));
        let s = self.settings.load();
        // A deadline still being stored by the thread that just opened the breaker starts
        // about now.
        let until = self.until_of(w).unwrap_or_else(|| {
            now.as_nanos().saturating_add(super::state::open_period(
                &s,
                self.trips().max(1),
                w.generation,
            ))
        });
        let window = self.window.view(&s, now.as_nanos());
        let totals = self.window.totals(&s);
        let streak = self.streak.load(Ordering::Relaxed);
        BreakerSnapshot {
            state: w.state,
            generation: w.generation,
            open_until: (w.state == State::Open).then_some(Nanos::new(until)),
            probes_in_flight: u32::from(w.probes),
            half_open_successes: u32::from(w.successes),
            window_calls: window.calls,
            window_failures: window.failures,
            window_slow_calls: window.slow,
            consecutive_failures: streak as u32,
            consecutive_trips: (streak >> 32) as u32,
            calls: totals.calls,
            successes: totals.calls.saturating_sub(totals.failures),
            failures: totals.failures,
            slow_calls: totals.slow,
            rejected_open: self.rejected_open.load(Ordering::Relaxed),
            rejected_half_open_full: self.rejected_half_open.load(Ordering::Relaxed),
            rejected_forced_open: self.rejected_forced.load(Ordering::Relaxed),
            transitions: self.transitions.load(Ordering::Relaxed),
        }
    }
}
