//! The state of one retried call: the step-by-step form of [`Backoff::delay`].

use core::fmt;
use core::iter::FusedIterator;

use super::{
    decorrelated_step, decorrelated_top, decorrelated_window, exponential_beyond, exponential_step,
    linear, whole_nanos, Backoff, Kind, FRACTION_BITS,
};
use crate::rng::draw;
use crate::Nanos;

/// Why a backoff gives no more waits.
///
/// ```
/// use stanchion::Exhausted;
/// assert_eq!(Exhausted::MaxAttempts.to_string(), "max_attempts reached");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Exhausted {
    /// `max_attempts` calls have been made.
    MaxAttempts,
    /// The next wait would end past `max_elapsed`.
    MaxElapsed,
}

impl fmt::Display for Exhausted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Exhausted::MaxAttempts => "max_attempts reached",
            Exhausted::MaxElapsed => "max_elapsed reached",
        })
    }
}

impl core::error::Error for Exhausted {}

/// The backoff state of one call: which retry comes next, when the call started, and what the
/// exponential and decorrelated schedules carry from one wait to the next.
///
/// Made by [`Backoff::start`]; each [`next_delay`](Retrying::next_delay) takes the backoff it
/// was started from, so the state stays small (40 bytes), `Copy` and free of lifetimes. Each
/// wait costs a handful of integer operations whatever the retry number (at most 64 wide
/// multiplies for an exponential schedule still growing past [`Backoff::REPLAY_LIMIT`]
/// retries).
///
/// ```
/// use stanchion::{Backoff, BackoffConfig, Exhausted, Nanos};
/// let b = Backoff::new(BackoffConfig::exponential(Nanos::from_millis(10), 2.0)).unwrap();
/// let mut retrying = b.start(1, Nanos::ZERO);
/// assert_eq!(retrying.next_delay(&b, Nanos::ZERO, None), Ok(Nanos::from_millis(10)));
/// assert_eq!(retrying.next_delay(&b, Nanos::from_millis(10), None), Ok(Nanos::from_millis(20)));
/// assert_eq!(retrying.next_delay(&b, Nanos::from_millis(30), None), Err(Exhausted::MaxAttempts));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retrying {
    /// When the first call started: the origin of `max_elapsed`.
    started: Nanos,
    seed: u64,
    /// Exponential: the un-jittered wait as Q64.32 nanoseconds, split in two words so the
    /// struct keeps 8-byte alignment. Decorrelated: `prev` in `whole`, and in `fraction` the
    /// draws since the last one that gave the same result as from the top (see the module
    /// docs). Otherwise unused.
    whole: u64,
    fraction: u32,
    /// Waits handed out so far: the index of the next retry.
    retries: u32,
    /// Set by the first refusal: a stopped backoff stays stopped.
    stopped: Option<Exhausted>,
}

impl Retrying {
    pub(super) const fn new(seed: u64, now: Nanos, (whole, fraction): (u64, u32)) -> Retrying {
        Retrying {
            started: now,
            seed,
            whole,
            fraction,
            retries: 0,
            stopped: None,
        }
    }

    /// The wait before the next retry, or why there is none.
    ///
    /// `now` is when the last attempt failed; `hint` is a server's Retry-After, which raises
    /// this wait to at least `min(hint, max_delay)`. Returns [`Exhausted::MaxAttempts`] once
    /// `max_attempts` calls were made and [`Exhausted::MaxElapsed`] when `now + wait` would be
    /// more than `max_elapsed` after the start; after either, it returns the same error for
    /// good. A `now` before the start counts as the start (no time passed).
    ///
    /// Without a hint the waits equal `backoff.delay(0, seed)`, `backoff.delay(1, seed)`, … .
    ///
    /// ```
    /// use stanchion::{Backoff, BackoffConfig, Exhausted, Nanos};
    /// let b = Backoff::new(
    ///     BackoffConfig::constant(Nanos::from_secs(1))
    ///         .max_delay(Nanos::from_secs(5))
    ///         .max_elapsed(Nanos::from_secs(8))
    ///         .unlimited_attempts(),
    /// )
    /// .unwrap();
    /// let mut r = b.start(0, Nanos::ZERO);
    /// // A Retry-After of 30 s is honoured up to max_delay.
    /// let hint = Some(Nanos::from_secs(30));
    /// assert_eq!(r.next_delay(&b, Nanos::ZERO, hint), Ok(Nanos::from_secs(5)));
    /// // At 7.5 s a 1 s wait would end past max_elapsed (8 s): stop, do not clip.
    /// let late = Nanos::from_millis(7_500);
    /// assert_eq!(r.next_delay(&b, late, None), Err(Exhausted::MaxElapsed));
    /// ```
    #[inline]
    pub fn next_delay(
        &mut self,
        backoff: &Backoff,
        now: Nanos,
        hint: Option<Nanos>,
    ) -> Result<Nanos, Exhausted> {
        if let Some(stop) = self.stopped {
            return Err(stop);
        }
        if self.retries >= backoff.retry_limit {
            self.stopped = Some(Exhausted::MaxAttempts);
            return Err(Exhausted::MaxAttempts);
        }
        let bits = draw(self.seed, u64::from(self.retries));
        let raw = match backoff.kind {
            Kind::Constant { delay } => delay,
            Kind::Linear { initial, step } => linear(initial, step, self.retries, backoff.cap),
            Kind::Exponential { factor, .. } => {
                let scaled = (u128::from(self.whole) << FRACTION_BITS) | u128::from(self.fraction);
                let next = exponential_step(scaled, factor, backoff.cap);
                match self.retries.checked_sub(Backoff::REPLAY_LIMIT) {
                    None => {
                        self.whole = whole_nanos(next);
                        self.fraction = u32::try_from(next & u128::from(u32::MAX)).unwrap_or(0);
                        whole_nanos(scaled)
                    }
                    // The state stays at step REPLAY_LIMIT: `delay` continues from there in
                    // closed form, and so must this, unless the chain has stopped (the common
                    // case, at the cap), where the closed form is the state itself.
                    Some(steps) if next != scaled => {
                        whole_nanos(exponential_beyond(scaled, factor, backoff.cap, steps))
                    }
                    Some(_) => whole_nanos(scaled),
                }
            }
            Kind::Decorrelated { base } => {
                let top = decorrelated_top(base, backoff.cap);
                let next = decorrelated_step(bits, base, self.whole, backoff.cap);
                // A draw that gives the same result from the top ties every chain started
                // higher to this one from here on; `fraction` counts the draws since the last.
                self.fraction = if next == decorrelated_step(bits, base, top, backoff.cap) {
                    0
                } else {
                    self.fraction.saturating_add(1)
                };
                self.whole = next;
                if self.retries < Backoff::REPLAY_LIMIT || self.fraction < Backoff::REPLAY_LIMIT {
                    next
                } else {
                    // No such draw among the last REPLAY_LIMIT: `delay`'s replay of them from
                    // the top is not this chain, and this must give what `delay` does.
                    decorrelated_window(self.seed, base, backoff.cap, self.retries)
                }
            }
        };
        let mut wait = backoff.jitter(raw, bits);
        if let Some(hint) = hint {
            wait = wait.max(hint.as_nanos().min(backoff.cap));
        }
        if let Some(max_elapsed) = backoff.config.max_elapsed {
            let elapsed = now.saturating_sub(self.started).as_nanos();
            let left = max_elapsed.as_nanos().checked_sub(elapsed);
            if left.is_none_or(|left| wait > left) {
                self.stopped = Some(Exhausted::MaxElapsed);
                return Err(Exhausted::MaxElapsed);
            }
        }
        self.retries = self.retries.saturating_add(1);
        Ok(Nanos::new(wait))
    }

    /// Waits handed out so far (the number of retries scheduled).
    ///
    /// ```
    /// use stanchion::{Backoff, BackoffConfig, Nanos};
    /// let b = Backoff::new(BackoffConfig::constant(Nanos::ZERO)).unwrap();
    /// let mut r = b.start(0, Nanos::ZERO);
    /// let _ = r.next_delay(&b, Nanos::ZERO, None);
    /// assert_eq!(r.retries(), 1);
    /// ```
    pub const fn retries(&self) -> u32 {
        self.retries
    }

    /// When the first call started, as passed to [`Backoff::start`].
    ///
    /// ```
    /// use stanchion::{Backoff, BackoffConfig, Nanos};
    /// let b = Backoff::new(BackoffConfig::constant(Nanos::ZERO)).unwrap();
    /// assert_eq!(b.start(0, Nanos::new(5)).started(), Nanos::new(5));
    /// ```
    pub const fn started(&self) -> Nanos {
        self.started
    }

    /// Why this backoff stopped, if it has.
    ///
    /// ```
    /// use stanchion::{Backoff, BackoffConfig, Exhausted, Nanos};
    /// let b = Backoff::new(BackoffConfig::constant(Nanos::ZERO).max_attempts(1)).unwrap();
    /// let mut r = b.start(0, Nanos::ZERO);
    /// assert_eq!(r.stopped(), None);
    /// let _ = r.next_delay(&b, Nanos::ZERO, None);
    /// assert_eq!(r.stopped(), Some(Exhausted::MaxAttempts));
    /// ```
    pub const fn stopped(&self) -> Option<Exhausted> {
        self.stopped
    }
}

/// The waits of one call as an iterator, assuming its attempts take no time. Made by
/// [`Backoff::iter`].
///
/// ```
/// use stanchion::{Backoff, BackoffConfig, Nanos};
/// let b = Backoff::new(BackoffConfig::exponential(Nanos::from_secs(1), 2.0)
///     .max_elapsed(Nanos::from_secs(10)).unlimited_attempts()).unwrap();
/// // 1 + 2 + 4 = 7 s; the next 8 s would end at 15 s, past 10 s.
/// assert_eq!(b.iter(0).count(), 3);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Delays<'a> {
    backoff: &'a Backoff,
    state: Retrying,
    elapsed: Nanos,
}

impl<'a> Delays<'a> {
    pub(super) const fn new(backoff: &'a Backoff, state: Retrying) -> Delays<'a> {
        Delays {
            backoff,
            state,
            elapsed: Nanos::ZERO,
        }
    }
}

impl Iterator for Delays<'_> {
    type Item = Nanos;

    #[inline]
    fn next(&mut self) -> Option<Nanos> {
        let wait = self
            .state
            .next_delay(self.backoff, self.elapsed, None)
            .ok()?;
        self.elapsed = self.elapsed.saturating_add(wait);
        Some(wait)
    }
}

impl FusedIterator for Delays<'_> {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BackoffConfig;

    #[test]
    fn a_chain_that_never_met_the_top_in_the_window_gives_the_replay_from_the_top() {
        // No seed is known whose chain goes REPLAY_LIMIT draws without meeting the top, so
        // build that state by hand: the chain at `base`, far below the cap.
        let base = 100_000_000;
        let config = BackoffConfig::decorrelated(Nanos::new(base))
            .max_delay(Nanos::from_secs(10))
            .unlimited_attempts();
        let b = Backoff::new(config).unwrap();
        let retries = Backoff::REPLAY_LIMIT + 5;
        let state = |since: u32| Retrying {
            started: Nanos::ZERO,
            seed: 3,
            whole: base,
            fraction: since,
            retries,
            stopped: None,
        };
        let own = decorrelated_step(draw(3, u64::from(retries)), base, base, b.cap);
        let window = decorrelated_window(3, base, b.cap, retries);
        assert_ne!(own, window);

        let mut unmet = state(Backoff::REPLAY_LIMIT);
        let wait = unmet.next_delay(&b, Nanos::ZERO, None);
        assert_eq!(wait, Ok(Nanos::new(window)));
        assert_eq!(wait.ok(), b.delay(retries, 3));
        assert_eq!(
            (unmet.whole, unmet.fraction),
            (own, Backoff::REPLAY_LIMIT + 1)
        );

        let mut met = state(Backoff::REPLAY_LIMIT - 2);
        assert_eq!(met.next_delay(&b, Nanos::ZERO, None), Ok(Nanos::new(own)));
    }
}
