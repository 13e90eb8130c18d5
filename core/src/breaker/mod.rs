//! Circuit breaker: closed, open and half-open, with four triggers over a sliding window.
//!
//! The state machine follows the classic pattern (Nygard, *Release It!*; the Resilience4j and
//! Polly breakers): closed counts outcomes and trips open on a trigger; open refuses calls
//! until `open_for` passes; then the first caller moves it half-open, where at most
//! `half_open_probes` probe calls run at once; a failed probe re-opens it, enough successful
//! probes close it. Triggers: failures in the window, failures in a row, the window's failure
//! rate and its slow-call rate (the rates gated by `minimum_calls`), all evaluated on every
//! record and tripping *at* their threshold.
//!
//! **Concurrency.** The mode, generation, probes in flight and half-open successes share one
//! atomic word changed by compare-and-swap around the pure decisions of `state.rs`, so the
//! probe bound is hard: half-open never admits more than `half_open_probes` calls. Each
//! transition starts a new generation; a permit remembers its generation, and a report from an
//! older one changes nothing, so a late answer from before a trip can neither re-trip nor close
//! the breaker. Deadlines (`open_until`, the probe lease) live in a second word that only the
//! thread whose CAS made the transition writes, after that CAS, while a `pending` bit in the
//! state word tells every other thread that the deadline is not yet in force (`state.rs`): a
//! thread that lost a race never writes a deadline, so none is ever cut short by another. The
//! window is emptied before a close or reset is published and again after, so a breaker that
//! closes starts from an empty window. Window counts are separate atomics and may be off by
//! the calls racing them.
//!
//! **Probe leases.** A probe that does not report within `probe_timeout` counts as a failed
//! probe. The breaker keeps one lease deadline, the oldest probe's; when that probe reports
//! while others are out, the deadline passes to the newest probe's. That is exact with up to
//! two probes out at once and never earlier than the true deadline with more, so a healthy
//! probe is never taken for a lost one, and a lost one is found within `probe_timeout` of the
//! newest admission.
//!
//! **Time.** A `now` older than one already seen never corrupts state: the window counts it in
//! the newest bucket, and deadlines (`open_until`, leases, `retry_after`) are measured from the
//! `now` given, so advancing that clock by `retry_after` still makes the call pass.
//!
//! **Cost.** Admitting a call while closed is one atomic load; recording a success is one RMW
//! on the window (plus a load of the failure streak); refusing while open is two loads and one
//! counter increment. Nothing allocates, nothing blocks.
//!
//! **Size.** `8 × (33 + W)` bytes: 344 bytes for the default `W = 10` (`CircuitBreaker`),
//! which holds a time window of up to 10 buckets or a count window of up to 320 calls.
//!
//! ```
//! use stanchion::breaker::{BreakerConfig, CircuitBreaker, Outcome, State};
//! use stanchion::{Nanos, Reason};
//!
//! let breaker: CircuitBreaker = CircuitBreaker::new(
//!     BreakerConfig::new().consecutive_failures(Some(3)).open_for(Nanos::from_secs(5)),
//! )
//! .unwrap();
//! let mut now = Nanos::ZERO;
//! for _ in 0..3 {
//!     let permit = breaker.try_acquire(now).unwrap();
//!     now = now + Nanos::from_millis(10);
//!     permit.record(Outcome::Failure, now);
//! }
//! assert_eq!(breaker.state(), State::Open);
//! let refused = breaker.try_acquire(now).unwrap_err();
//! assert_eq!(refused.reason, Reason::BreakerOpen);
//! assert_eq!(refused.retry_after, Some(Nanos::from_secs(5)));
//!
//! // After the open period one probe goes through; its success closes the breaker.
//! now = now + Nanos::from_secs(5);
//! let probe = breaker.try_acquire(now).unwrap();
//! assert_eq!(breaker.state(), State::HalfOpen);
//! probe.record(Outcome::Success, now + Nanos::from_millis(10));
//! assert_eq!(breaker.state(), State::Closed);
//! ```
//!
//! Firmware keeps one in a `static`:
//!
//! ```
//! use stanchion::breaker::{BreakerConfig, CircuitBreaker};
//! static PAYMENTS: CircuitBreaker = match CircuitBreaker::new(BreakerConfig::new()) {
//!     Ok(breaker) => breaker,
//!     Err(_) => panic!("invalid breaker config"),
//! };
//! assert!(PAYMENTS.try_acquire(stanchion::Nanos::ZERO).is_ok());
//! ```

mod config;
mod permit;
mod settings;
mod snapshot;
mod state;
mod window;

pub use config::{
    BreakerConfig, SlowCall, Window, DEFAULT_PROBE_TIMEOUT, MAX_OPEN_FOR_FACTOR, MAX_PROBES,
    MAX_WINDOW_LEN,
};
pub use permit::{Permit, RawPermit};
pub use snapshot::BreakerSnapshot;
pub use state::{Outcome, State, Transition};

use settings::{Settings, SettingsCell};
use state::{Plan, Word};
use window::Counts;

use crate::sync::{const_fn, AtomicU64, Ordering};
use crate::{ConfigError, Nanos, Reason, Rejected};

/// A circuit breaker whose window has `W` words of storage (see the module docs).
///
/// Every method takes `&self`: share it by reference, in an `Arc`, or in a `static`.
///
/// The field order is fixed (`repr(C)`) for the cache: the words every call reads (state,
/// deadline, config) come first, the window's written words next, and the refusal counters
/// last, so counting a refusal does not evict the line that the next refusal reads.
#[repr(C)]
pub struct CircuitBreaker<const W: usize = 10> {
    /// Mode, generation, probes in flight, half-open successes (`state.rs`).
    state: AtomicU64,
    /// `open_until` while open; the probe lease deadline while half-open.
    until: AtomicU64,
    settings: SettingsCell,
    /// Low half: failures in a row. High half: trips in a row without a full recovery.
    streak: AtomicU64,
    /// When the newest half-open probe was admitted (see `state::decide_probe_report`),
    /// raised before the CAS that admits it, so a report that sees the probe sees its time.
    newest_probe: AtomicU64,
    window: window::Window<W>,
    transitions: AtomicU64,
    rejected_open: AtomicU64,
    rejected_half_open: AtomicU64,
    rejected_forced: AtomicU64,
}

const STREAK_MASK: u64 = u32::MAX as u64;

impl<const W: usize> CircuitBreaker<W> {
    const_fn! {
        /// A closed breaker with `config`, or the first config error.
        ///
        /// Besides [`BreakerConfig::validate`], the window must fit the breaker's `W` words:
        /// a time window of at most `W` buckets, or a count window of at most `32 × W` calls.
        ///
        /// ```
        /// use stanchion::breaker::{BreakerConfig, CircuitBreaker, Window};
        /// let big = BreakerConfig::new().window(Window::Count(1000));
        /// assert_eq!(CircuitBreaker::<10>::new(big).err().unwrap().field, "window");
        /// assert!(CircuitBreaker::<32>::new(big).is_ok());
        /// ```
        // `?` is not allowed in a const fn; under the checkers this one is not const.
        #[cfg_attr(any(loom, shuttle), allow(clippy::question_mark))]
        pub fn new(config: BreakerConfig) -> Result<Self, ConfigError> {
            let settings = match Self::checked_settings(&config) {
                Ok(settings) => settings,
                Err(e) => return Err(e),
            };
            Ok(CircuitBreaker {
                state: AtomicU64::new(0),
                until: AtomicU64::new(0),
                streak: AtomicU64::new(0),
                newest_probe: AtomicU64::new(0),
                window: window::Window::new(),
                rejected_open: AtomicU64::new(0),
                rejected_half_open: AtomicU64::new(0),
                rejected_forced: AtomicU64::new(0),
                transitions: AtomicU64::new(0),
                settings: SettingsCell::new(&settings),
            })
        }
    }

    /// The config validated, including its window's fit to `W` words, as the breaker keeps it.
    const fn checked_settings(config: &BreakerConfig) -> Result<Settings, ConfigError> {
        if let Err(e) = config.validate() {
            return Err(e);
        }
        let settings = Settings::from_config(config);
        if !window::Window::<W>::fits(&settings) {
            return Err(ConfigError::new(
                "window",
                "a count window of at most 32 x W calls or a time window of at most W buckets (W = the breaker's window words, 10 by default)",
            ));
        }
        Ok(settings)
    }

    /// Asks to make a call at `now`: a [`Permit`] to report the outcome with, or the refusal.
    ///
    /// A transition this admission causes (open to half-open) is on the permit. A refusal can
    /// also cause one (an overdue probe lease re-opens the breaker); to observe those, use
    /// [`try_acquire_raw`](Self::try_acquire_raw).
    ///
    /// ```
    /// use stanchion::breaker::{BreakerConfig, CircuitBreaker};
    /// use stanchion::{Nanos, Reason};
    /// let breaker: CircuitBreaker = CircuitBreaker::new(BreakerConfig::new()).unwrap();
    /// breaker.force_open(Nanos::ZERO);
    /// assert_eq!(breaker.try_acquire(Nanos::ZERO).unwrap_err().reason, Reason::ForcedOpen);
    /// ```
    pub fn try_acquire(&self, now: Nanos) -> Result<Permit<'_, W>, Rejected> {
        let (admitted, transition) = self.try_acquire_raw(now);
        admitted.map(|raw| Permit {
            breaker: self,
            raw,
            transition,
        })
    }

    /// [`try_acquire`](Self::try_acquire) for bindings: a plain permit, and the transition the
    /// call caused whether it was admitted or refused.
    ///
    /// ```
    /// use stanchion::breaker::CircuitBreaker;
    /// use stanchion::Nanos;
    /// let breaker: CircuitBreaker = CircuitBreaker::new(Default::default()).unwrap();
    /// let (admitted, transition) = breaker.try_acquire_raw(Nanos::ZERO);
    /// assert!(admitted.is_ok());
    /// assert_eq!(transition, None);
    /// ```
    pub fn try_acquire_raw(&self, now: Nanos) -> (Result<RawPermit, Rejected>, Option<Transition>) {
        let mut current = self.state.load(Ordering::Acquire);
        let w = Word::unpack(current);
        // The hot paths need neither the config nor a CAS.
        match w.state {
            State::Closed | State::Disabled => {
                return (Ok(RawPermit::from_parts(w.generation, now)), None);
            }
            State::ForcedOpen => {
                return (
                    Err(self.refuse(Rejected::new(Reason::ForcedOpen, None))),
                    None,
                );
            }
            State::Open if !w.pending => {
                let until = self.until.load(Ordering::Acquire);
                if now.as_nanos() < until {
                    let refusal = state::refused_open(until, now.as_nanos());
                    return (Err(self.refuse(refusal)), None);
                }
            }
            State::Open | State::HalfOpen => {}
        }
        let s = self.settings.load();
        loop {
            let w = Word::unpack(current);
            let plan = state::decide_acquire(w, self.until_of(w), now.as_nanos(), &s, self.trips());
            let probe = plan.answer.is_ok() && matches!(w.state, State::Open | State::HalfOpen);
            if probe {
                // Before the CAS that admits the probe: a report that sees the probe counted
                // in the word must see its admission time, or it could hand the lease to an
                // older probe and declare this one lost.
                self.newest_probe
                    .fetch_max(now.as_nanos(), Ordering::Relaxed);
            }
            if let Err(actual) = self.apply(current, &plan, now, &s) {
                current = actual;
                continue;
            }
            let generation = plan.next.map_or(w.generation, |next| next.generation);
            let admitted = match plan.answer {
                Ok(()) => Ok(RawPermit::from_parts(generation, now)),
                Err(refusal) => Err(self.refuse(refusal)),
            };
            return (admitted, plan.transition);
        }
    }

    /// Records how the call of `permit` ended; returns the transition it caused, if any.
    /// Same as [`Permit::record`].
    ///
    /// ```
    /// use stanchion::breaker::{BreakerConfig, CircuitBreaker, Outcome, State};
    /// use stanchion::Nanos;
    /// let breaker: CircuitBreaker =
    ///     CircuitBreaker::new(BreakerConfig::new().failure_count(Some(2))).unwrap();
    /// for t in 0..2 {
    ///     let permit = breaker.try_acquire(Nanos::new(t)).unwrap();
    ///     breaker.record(permit, Outcome::Failure, Nanos::new(t));
    /// }
    /// assert_eq!(breaker.state(), State::Open);
    /// ```
    pub fn record(
        &self,
        permit: Permit<'_, W>,
        outcome: Outcome,
        now: Nanos,
    ) -> Option<Transition> {
        let (_, raw) = permit.into_raw();
        self.record_raw(raw, outcome, now)
    }

    /// Records the outcome of a plain permit. A permit from an older generation (issued before
    /// a transition) changes nothing and returns `None`.
    ///
    /// ```
    /// use stanchion::breaker::{BreakerConfig, CircuitBreaker, Outcome, State};
    /// use stanchion::Nanos;
    /// let breaker: CircuitBreaker =
    ///     CircuitBreaker::new(BreakerConfig::new().failure_count(Some(1))).unwrap();
    /// let (early, _) = breaker.try_acquire_raw(Nanos::ZERO);
    /// let (tripper, _) = breaker.try_acquire_raw(Nanos::ZERO);
    /// breaker.record_raw(tripper.unwrap(), Outcome::Failure, Nanos::new(1));
    /// breaker.reset(Nanos::new(2));
    /// // A late failure from before the reset cannot trip the fresh breaker.
    /// assert_eq!(breaker.record_raw(early.unwrap(), Outcome::Failure, Nanos::new(3)), None);
    /// assert_eq!(breaker.state(), State::Closed);
    /// ```
    pub fn record_raw(
        &self,
        permit: RawPermit,
        outcome: Outcome,
        now: Nanos,
    ) -> Option<Transition> {
        let current = self.state.load(Ordering::Acquire);
        let w = Word::unpack(current);
        if w.generation != permit.generation() {
            return None;
        }
        match w.state {
            State::Closed | State::Disabled => self.record_closed(w, permit, outcome, now),
            State::HalfOpen => self.report_probe(permit, Some(outcome), now),
            State::Open | State::ForcedOpen => None,
        }
    }

    /// Abandons the call of a plain permit: frees its probe slot, records nothing.
    ///
    /// ```
    /// use stanchion::breaker::CircuitBreaker;
    /// use stanchion::Nanos;
    /// let breaker: CircuitBreaker = CircuitBreaker::new(Default::default()).unwrap();
    /// let (p, _) = breaker.try_acquire_raw(Nanos::ZERO);
    /// assert_eq!(breaker.release_raw(p.unwrap(), Nanos::new(1)), None);
    /// ```
    pub fn release_raw(&self, permit: RawPermit, now: Nanos) -> Option<Transition> {
        let w = Word::unpack(self.state.load(Ordering::Acquire));
        if w.generation != permit.generation() || w.state != State::HalfOpen {
            return None;
        }
        self.report_probe(permit, None, now)
    }

    fn record_closed(
        &self,
        w: Word,
        permit: RawPermit,
        outcome: Outcome,
        now: Nanos,
    ) -> Option<Transition> {
        let failure = match outcome {
            Outcome::Ignored => return None,
            Outcome::Success => false,
            Outcome::Failure => true,
        };
        let s = self.settings.load();
        let slow = is_slow(&s, permit, now);
        let may_trip = w.state != State::Disabled;
        // A success can only trip a rate trigger; a failure also the count in the window.
        let rates = s.failure_rate_ppm != 0 || s.slow_rate_ppm != 0;
        let want_counts = may_trip && (rates || (failure && s.failure_count != 0));
        let counts = self
            .window
            .record(&s, now.as_nanos(), failure, slow, want_counts);
        let streak = if failure {
            self.extend_streak()
        } else {
            self.break_streak();
            0
        };
        let tripped = match counts {
            Some(counts) => should_trip(&s, counts, streak),
            None => may_trip && streak_trips(&s, streak),
        };
        if !tripped {
            return None;
        }
        self.trip(w.generation, now, &s)
    }

    /// Closed to open, unless another thread already moved the breaker on.
    fn trip(&self, generation: u32, now: Nanos, s: &Settings) -> Option<Transition> {
        let mut current = self.state.load(Ordering::Acquire);
        loop {
            let w = Word::unpack(current);
            if w.generation != generation || w.state != State::Closed {
                return None;
            }
            let plan = state::plan_open(w, now.as_nanos(), s, self.trips(), ());
            match self.apply(current, &plan, now, s) {
                Ok(()) => return plan.transition,
                Err(actual) => current = actual,
            }
        }
    }

    /// A report (`Some(outcome)`) or release (`None`) of a half-open probe.
    fn report_probe(
        &self,
        permit: RawPermit,
        outcome: Option<Outcome>,
        now: Nanos,
    ) -> Option<Transition> {
        let s = self.settings.load();
        let mut current = self.state.load(Ordering::Acquire);
        loop {
            let w = Word::unpack(current);
            if w.generation != permit.generation() || w.state != State::HalfOpen {
                return None;
            }
            let until = self.until_of(w);
            let leases = state::Leases {
                reporter: permit
                    .issued_at()
                    .as_nanos()
                    .saturating_add(s.probe_timeout),
                newest: self
                    .newest_probe
                    .load(Ordering::Relaxed)
                    .saturating_add(s.probe_timeout),
            };
            let plan = state::decide_probe_report(
                w,
                until,
                now.as_nanos(),
                &s,
                self.trips(),
                outcome,
                leases,
            );
            if let Err(actual) = self.apply(current, &plan, now, &s) {
                current = actual;
                continue;
            }
            if plan.answer == state::Report::Counted {
                if let Some(counted @ (Outcome::Success | Outcome::Failure)) = outcome {
                    let failure = counted == Outcome::Failure;
                    self.window.roll(Counts {
                        calls: 1,
                        failures: u64::from(failure),
                        slow: u64::from(is_slow(&s, permit, now)),
                    });
                }
            }
            return plan.transition;
        }
    }

    /// Forces the breaker open: every call is refused (`ForcedOpen`, no `retry_after`) until
    /// [`reset`](Self::reset). Returns the transition, if the state changed.
    ///
    /// ```
    /// use stanchion::breaker::{CircuitBreaker, State, Transition};
    /// use stanchion::Nanos;
    /// let breaker: CircuitBreaker = CircuitBreaker::new(Default::default()).unwrap();
    /// let t = breaker.force_open(Nanos::ZERO);
    /// assert_eq!(t, Some(Transition { from: State::Closed, to: State::ForcedOpen }));
    /// assert_eq!(breaker.force_open(Nanos::ZERO), None);
    /// ```
    pub fn force_open(&self, now: Nanos) -> Option<Transition> {
        self.override_to(State::ForcedOpen, now)
    }

    /// Disables the breaker: every call is admitted and counted, nothing trips, until
    /// [`reset`](Self::reset). Clears the window.
    ///
    /// ```
    /// use stanchion::breaker::{BreakerConfig, CircuitBreaker, Outcome, State};
    /// use stanchion::Nanos;
    /// let breaker: CircuitBreaker =
    ///     CircuitBreaker::new(BreakerConfig::new().failure_count(Some(1))).unwrap();
    /// breaker.disable(Nanos::ZERO);
    /// let permit = breaker.try_acquire(Nanos::ZERO).unwrap();
    /// assert_eq!(permit.record(Outcome::Failure, Nanos::new(1)), None);
    /// assert_eq!(breaker.state(), State::Disabled);
    /// ```
    pub fn disable(&self, now: Nanos) -> Option<Transition> {
        self.override_to(State::Disabled, now)
    }

    /// Back to a fresh closed state: clears the window and the streaks and starts a new
    /// generation, so permits issued before are stale. Resetting a closed breaker reports no
    /// transition.
    ///
    /// ```
    /// use stanchion::breaker::{CircuitBreaker, State, Transition};
    /// use stanchion::Nanos;
    /// let breaker: CircuitBreaker = CircuitBreaker::new(Default::default()).unwrap();
    /// breaker.force_open(Nanos::ZERO);
    /// let t = breaker.reset(Nanos::new(1));
    /// assert_eq!(t, Some(Transition { from: State::ForcedOpen, to: State::Closed }));
    /// assert_eq!(breaker.reset(Nanos::new(2)), None);
    /// ```
    pub fn reset(&self, now: Nanos) -> Option<Transition> {
        self.override_to(State::Closed, now)
    }

    fn override_to(&self, to: State, now: Nanos) -> Option<Transition> {
        let s = self.settings.load();
        let mut current = self.state.load(Ordering::Acquire);
        loop {
            let w = Word::unpack(current);
            let plan = state::decide_override(w, to);
            plan.next?;
            match self.apply(current, &plan, now, &s) {
                Ok(()) => return plan.transition,
                Err(actual) => current = actual,
            }
        }
    }

    /// Changes thresholds and durations in place, keeping the state and, where the window's
    /// shape is unchanged, its counts (a different shape starts an empty window). Calls racing
    /// it are judged by the old config or the new one, never by a mix. Two calls to
    /// `reconfigure` at once: the one that finds the other half done changes nothing and
    /// returns an error naming `config`.
    ///
    /// ```
    /// use stanchion::breaker::{BreakerConfig, CircuitBreaker};
    /// use stanchion::Nanos;
    /// let breaker: CircuitBreaker = CircuitBreaker::new(BreakerConfig::new()).unwrap();
    /// let stricter = BreakerConfig::new().failure_count(Some(2));
    /// assert!(breaker.reconfigure(stricter, Nanos::ZERO).is_ok());
    /// assert_eq!(breaker.config().failure_count, Some(2));
    /// assert!(breaker.reconfigure(BreakerConfig::new().minimum_calls(0), Nanos::ZERO).is_err());
    /// ```
    pub fn reconfigure(&self, config: BreakerConfig, _now: Nanos) -> Result<(), ConfigError> {
        let new = Self::checked_settings(&config)?;
        let old = self.settings.load();
        self.settings.store(&new).map_err(|settings::Busy| {
            ConfigError::new(
                "config",
                "one reconfigure at a time: another is half done, try again",
            )
        })?;
        // After the new config is in force, so no record of the new shape lands in the old
        // window once it is emptied (records racing the switch may still; the window treats
        // what it cannot read as empty).
        if old.window() != new.window() {
            self.window.reshape(&old);
        }
        Ok(())
    }

    /// The config in force (rates as stored: parts per million).
    ///
    /// ```
    /// use stanchion::breaker::{BreakerConfig, CircuitBreaker};
    /// let breaker: CircuitBreaker =
    ///     CircuitBreaker::new(BreakerConfig::new().failure_rate(Some(0.1))).unwrap();
    /// assert_eq!(breaker.config().failure_rate, Some(0.1));
    /// ```
    pub fn config(&self) -> BreakerConfig {
        self.settings.load().to_config()
    }

    /// The current state, as stored (an open breaker whose period has ended reads `Open`
    /// until the next call moves it half-open).
    ///
    /// ```
    /// use stanchion::breaker::{CircuitBreaker, State};
    /// let breaker: CircuitBreaker = CircuitBreaker::new(Default::default()).unwrap();
    /// assert_eq!(breaker.state(), State::Closed);
    /// ```
    pub fn state(&self) -> State {
        Word::unpack(self.state.load(Ordering::Acquire)).state
    }

    /// The deadline in force for `w`: `None` while the thread that set it is still storing it.
    #[inline]
    fn until_of(&self, w: Word) -> Option<u64> {
        (!w.pending).then(|| self.until.load(Ordering::Acquire))
    }

    /// Applies a plan decided on the word `current`: publish its word, then (as the one thread
    /// that won) its deadline and the upkeep its transition needs. `Err` carries the word that
    /// beat us, to decide again.
    fn apply<T>(&self, current: u64, plan: &Plan<T>, now: Nanos, s: &Settings) -> Result<(), u64> {
        let Some(mut next) = plan.next else {
            return Ok(());
        };
        let starts_fresh = plan.closes() || starts_counting(Word::unpack(current), next);
        if starts_fresh {
            // Before the new word is out, so a call of the fresh generation never meets the
            // old counts; and again after, for records of the old one that raced this.
            self.clear_counts(s);
        }
        let owner = plan.until.is_some() && !next.pending;
        next.pending |= plan.until.is_some();
        let published = next.pack();
        self.state
            .compare_exchange(current, published, Ordering::AcqRel, Ordering::Acquire)?;
        if plan.transition.is_some() {
            self.transitions.fetch_add(1, Ordering::Relaxed);
        }
        if plan.opens() {
            self.add_trip();
        }
        if starts_fresh {
            self.clear_counts(s);
            // A full recovery: the next trip's open period starts from `open_for` again.
            self.streak.fetch_and(STREAK_MASK, Ordering::Relaxed);
        }
        if let (true, Some(until)) = (owner, plan.until) {
            self.publish_until(published, until, now, s);
        }
        Ok(())
    }

    /// Stores the deadline of the word this thread published with `pending` set, then clears
    /// `pending`. If other threads moved the word on meanwhile (they cannot store deadlines
    /// while `pending` is set), the deadline is the one the word found needs, counted from
    /// `now`. Only this thread writes the deadline word until `pending` is clear.
    fn publish_until(&self, published: u64, planned: u64, now: Nanos, s: &Settings) {
        let mut current = published;
        loop {
            let w = Word::unpack(current);
            let until = if current == published {
                Some(planned)
            } else {
                self.deadline_for(w, now, s)
            };
            if let Some(until) = until {
                self.until.store(until, Ordering::Relaxed);
            }
            let done = Word {
                pending: false,
                ..w
            }
            .pack();
            // Release: a reader that sees `pending` clear sees the deadline stored above.
            match self
                .state
                .compare_exchange(current, done, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return,
                Err(actual) => current = actual,
            }
        }
    }

    /// The deadline a word needs when another thread moved the breaker while a deadline was
    /// being stored: an open period from `now`, or a lease that ends no earlier than that of
    /// the newest probe out, so a healthy probe is never taken for a lost one.
    fn deadline_for(&self, w: Word, now: Nanos, s: &Settings) -> Option<u64> {
        match w.state {
            State::Open => Some(now.as_nanos().saturating_add(state::open_period(
                s,
                self.trips().max(1),
                w.generation,
            ))),
            State::HalfOpen if w.probes > 0 => Some(
                self.newest_probe
                    .load(Ordering::Relaxed)
                    .saturating_add(s.probe_timeout),
            ),
            _ => None,
        }
    }

    /// Empties the window and the failure streak (not the trips in a row).
    fn clear_counts(&self, s: &Settings) {
        self.window.clear(s);
        self.break_streak();
    }

    fn refuse(&self, refusal: Rejected) -> Rejected {
        let counter = match refusal.reason {
            Reason::HalfOpenFull => &self.rejected_half_open,
            Reason::ForcedOpen => &self.rejected_forced,
            _ => &self.rejected_open,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        refusal
    }

    fn trips(&self) -> u32 {
        (self.streak.load(Ordering::Relaxed) >> 32) as u32
    }

    fn add_trip(&self) {
        let _ = self
            .streak
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |s| {
                let trips = ((s >> 32) as u32).saturating_add(1);
                Some((s & STREAK_MASK) | u64::from(trips) << 32)
            });
    }

    /// One more failure in a row; returns the new streak.
    fn extend_streak(&self) -> u32 {
        let previous = self
            .streak
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |s| {
                let failures = (s as u32).saturating_add(1);
                Some((s & !STREAK_MASK) | u64::from(failures))
            })
            .unwrap_or_else(|s| s);
        (previous as u32).saturating_add(1)
    }

    fn break_streak(&self) {
        // A load first: the common case (no streak) then costs no RMW.
        if self.streak.load(Ordering::Relaxed) & STREAK_MASK != 0 {
            self.streak.fetch_and(!STREAK_MASK, Ordering::Relaxed);
        }
    }
}

impl<const W: usize> core::fmt::Debug for CircuitBreaker<W> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let w = Word::unpack(self.state.load(Ordering::Relaxed));
        f.debug_struct("CircuitBreaker")
            .field("state", &w.state)
            .field("generation", &w.generation)
            .finish_non_exhaustive()
    }
}

#[inline]
fn is_slow(s: &Settings, permit: RawPermit, now: Nanos) -> bool {
    s.slow_duration != 0 && now.saturating_sub(permit.issued_at()).as_nanos() >= s.slow_duration
}

#[inline]
fn streak_trips(s: &Settings, streak: u32) -> bool {
    s.consecutive_failures != 0 && streak >= s.consecutive_failures
}

/// Does the move from `from` to `to` start a fresh count (a reset, a disable, leaving
/// disabled)? A close after recovery is a plan's own (`Plan::closes`).
#[inline]
fn starts_counting(from: Word, to: Word) -> bool {
    from.generation != to.generation
        && (matches!(to.state, State::Closed | State::Disabled) || from.state == State::Disabled)
}

/// Every trigger, on every record; each trips at its threshold (`>=`).
#[inline]
fn should_trip(s: &Settings, counts: Counts, streak: u32) -> bool {
    let reaches = |part: u64, ppm: u32| {
        // u64 x 10^6 and u32 x u64 both fit in u128.
        ppm != 0
            && u128::from(part).wrapping_mul(1_000_000)
                >= u128::from(ppm).wrapping_mul(u128::from(counts.calls))
    };
    (s.failure_count != 0 && counts.failures >= u64::from(s.failure_count))
        || streak_trips(s, streak)
        || (counts.calls >= u64::from(s.minimum_calls)
            && (reaches(counts.failures, s.failure_rate_ppm)
                || reaches(counts.slow, s.slow_rate_ppm)))
}
