//! Adaptive concurrency limit: a bulkhead whose cap `L` follows the latency it measures.
//!
//! # Algorithm
//!
//! Admission is the bulkhead's: `try_acquire(now)` takes a permit while fewer than `L` are out,
//! and `acquire` waits in the same kind of queue, with the same hand-off and cancellation
//! safety (it is the same code). Each call reports how it ended: its latency from the permit
//! is a sample, `Dropped` (a timeout, or a refusal for overload from further down) is a drop,
//! `Ignored` samples nothing. Samples are folded into a window, which opens at its first
//! sample and closes on the first record that finds it with `min_samples` samples and at least
//! `window` of age (that record's sample is part of it). The window's latency is the mean of its
//! samples in whole nanoseconds, rounded down (a latency of 0 counts as 1 ns); its in-flight
//! figure is the highest any of its calls saw at admission; one drop makes it a dropped window.
//! The record that closes a window runs one update of the estimate, by the algorithm of the
//! config, after Netflix's concurrency-limits:
//!
//! - **AIMD** (the default; `AIMDLimit`): +1 after a window that used at least half of `L`
//!   without a drop; `⌊L × 0.9⌋` after a drop or a mean latency above `timeout` (5 s).
//! - **Vegas** (`VegasLimit`): from the queue the latency implies over a no-load baseline,
//!   `⌈L × (1 − baseline / latency)⌉`: +6·log, +log, −log or no change, with
//!   `log = max(1, ⌊log10 L⌋)`; the baseline is the fastest window since the last probe.
//! - **Gradient2** (`Gradient2Limit`): `L × clamp(1.5 × long / latency, 0.5, 1) + 4`, smoothed
//!   by 0.2, against a long exponential average of the window latencies.
//!
//! The files `aimd.rs`, `vegas.rs` and `gradient2.rs` state each rule in full, with where it
//! departs from concurrency-limits. Common to all: the limit never leaves
//! `[min_limit, max_limit]`; it does not grow after an application-limited window (one whose
//! in-flight figure times two is below the integer limit: it says nothing about whether more
//! would fit); and a dropped window always lowers it, application-limited or not.
//!
//! # Known pitfalls, and what the core does about them
//!
//! - **A baseline pinned by one lucky sample.** A minimum latency, once seen, would hold the
//!   baseline down for good, and every later window would look queued. Here no single call sets
//!   it: the baseline takes window means (at least `min_samples` calls). Vegas measures it
//!   afresh every `30 × L` windows (times a seeded jitter in `[0.5, 1)`, as concurrency-limits
//!   does), and a drop never lowers it, so a refusal answered at once cannot pose as the
//!   no-load latency. Gradient2's long average decays: it is an exponential average, and it is
//!   cut by 5 % whenever it is over twice the window's latency.
//! - **Gradient2 creeping up under moderate overload.** Below a gradient of 1 the queue
//!   allowance still adds 4 per update, so with every window past the tolerance the limit
//!   climbs toward `4 / (1 − gradient)`, while the long average follows the latency up. Setting
//!   `creep_guard` adds the allowance only at a gradient of 1, so below it the limit only
//!   shrinks; within the tolerance the long average still follows the latency, as in
//!   concurrency-limits. It is off by default, so that the default is concurrency-limits' rule;
//!   drops lower the limit in any case.
//! - **Vegas stuck at 1 after load ends.** In concurrency-limits a run of fast refusals can
//!   pose as the baseline, after which every window looks queued and the limit sinks to its
//!   floor. Here a drop never lowers the baseline; at `L = 1` the queue estimate cannot exceed
//!   the threshold, so the first window that is not dropped and not application-limited grows
//!   the limit by `beta`; and the probe interval, `30 × L` windows, is shortest at the floor.
//! - **A probe window that refuses real traffic.** Some limiters measure the no-load latency
//!   by dropping the limit to a minimum for a while, refusing real calls to do it. Vegas's
//!   probe here only takes the window's latency as the new baseline: the limit is untouched.
//!
//! # Guarantees
//!
//! At admission, the permits out are at most `L` *(hard)*: `L` lives in the bits of the
//! bulkhead's counting word above its counts, so admission checks the count against the `L` of
//! the same word in one compare-and-swap. Lowering `L` takes no permit back: calls in flight
//! finish and the count drains below the new limit. Raising it hands the room to queued
//! waiters at once. Exactly one record closes each window, and the limit changes only in the
//! update of a closed window *(hard)*. Driven from one thread everything is exact; under
//! concurrency a sample racing a close may be counted in either window, and its latency in the
//! other.
//!
//! # State and memory ordering
//!
//! The counting word (permits out, hand-off room, waiters: 16 bits each, then `L`) changes by
//! compare-and-swap as in the bulkhead. The window is one word of counts and flags beside a
//! latency sum and a start time (`window.rs`); the sample that closes a window sets its
//! `updating` flag in the same swap, and no window closes while it is set, so updates never
//! overlap: the estimate and the baseline are written by one thread at a time, which clears the
//! flag with a release once it has published `L`, and the next closer's swap acquires it. A
//! thread stalled in an update delays later updates, never an admission.
//!
//! # Size
//!
//! `AdaptiveLimiter<0>` is 168 bytes on 64-bit targets (asserted by a test): the bulkhead's
//! counting word and counters (32), the window's count, sum and start (24), the estimate, the
//! baseline, the algorithm's counters, the windows closed and the last update (56 with
//! padding), and the config in integers (56). Each waiter slot adds 24 bytes on 64-bit targets,
//! 16 on 32-bit ones. No floating point after construction: fractions of the config
//! are kept in millionths, the estimate in billionths, the baseline in Q64.32 nanoseconds; that
//! stays within 10⁻⁴ of the same rules in binary64 over 400 windows (a test compares them).
//!
//! ```
//! use stanchion::adaptive::{AdaptiveConfig, AdaptiveLimiter, Outcome};
//! use stanchion::{Nanos, Reason};
//!
//! // Every 2 samples and 100 ms close a window; start at 4.
//! static LIMITER: AdaptiveLimiter = match AdaptiveLimiter::new(
//!     AdaptiveConfig::new().limits(1, 4, 100).window(Nanos::from_millis(100), 2),
//! ) {
//!     Ok(limiter) => limiter,
//!     Err(_) => panic!("invalid adaptive limiter config"),
//! };
//!
//! let held: Vec<_> = (0..4).map(|_| LIMITER.try_acquire(Nanos::ZERO).unwrap()).collect();
//! assert_eq!(LIMITER.try_acquire(Nanos::ZERO).unwrap_err().reason, Reason::BulkheadFull);
//! // The four calls time out. The third report closes the first window (two samples, 100 ms
//! // old): a dropped window, so the limit falls to ⌊4 × 0.9⌋.
//! let mut now = Nanos::ZERO;
//! for permit in held {
//!     now = now + Nanos::from_millis(50);
//!     permit.record(Outcome::Dropped, now);
//! }
//! assert_eq!(LIMITER.limit(), 3);
//! ```

mod acquire;
mod aimd;
mod config;
mod gradient2;
mod permit;
#[cfg(test)]
mod reference;
mod settings;
mod state;
mod vegas;
mod window;

use core::fmt;

pub use acquire::Acquire;
pub use aimd::Aimd;
pub use config::{AdaptiveConfig, Algorithm, MAX_LIMIT, MAX_WAITERS};
pub use gradient2::Gradient2;
pub use permit::{LimitChange, Outcome, Permit, RawPermit};
pub use vegas::Vegas;

use crate::bulkhead::gate::{Ceilings, Gate, Layout};
use crate::retry::Clock;
use crate::sync::{const_fn, AtomicU32, AtomicU64, Ordering};
use crate::{ConfigError, Nanos, Rejected};
use settings::{Rule, Settings};
use state::{Closed, Model};
use window::{Close, Fold, Sample, OPENING, UPDATING};

/// The counting word: 16 bits each of permits out, hand-off room and waiters, then `L`.
const LAYOUT: Layout = Layout::new(16, 16);
const LIMIT_SHIFT: u32 = LAYOUT.owner_shift();
const COUNTS_MASK: u64 = (1 << LIMIT_SHIFT) - 1;

/// A concurrency limit that follows the measured latency, with room for `WAITERS` queued
/// `acquire` futures (0 by default: no queue).
///
/// See the [module documentation](self) for the algorithms, the guarantees and the size.
pub struct AdaptiveLimiter<const WAITERS: usize = 0> {
    gate: Gate<WAITERS>,
    window: AtomicU64,
    window_sum: AtomicU64,
    window_start: AtomicU64,
    estimate: AtomicU64,
    /// The baseline's whole nanoseconds and, beside it, its 32 fraction bits.
    baseline: AtomicU64,
    baseline_fraction: AtomicU32,
    warmup_sum: AtomicU64,
    /// Low half: `Model::count`; high half: `Model::probes`.
    counters: AtomicU64,
    windows: AtomicU64,
    last_update: AtomicU64,
    settings: Settings,
}

/// The state of an [`AdaptiveLimiter`] at one moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AdaptiveSnapshot {
    /// The limit in force.
    pub limit: u32,
    /// Permits out now (may exceed `limit` just after it was lowered, while they drain).
    pub in_flight: u32,
    /// `acquire` futures queued and not yet granted.
    pub waiting: u32,
    /// The most permits ever out at once.
    pub peak: u32,
    /// Calls refused so far, `BulkheadFull` and `QueueFull` alike.
    pub rejected: u64,
    /// The no-load latency the algorithm compares against, in whole nanoseconds: Vegas's
    /// baseline, Gradient2's long average; `None` for AIMD and before the first window.
    pub baseline: Option<Nanos>,
    /// The `now` of the record that closed the last window; `None` before the first.
    pub last_update: Option<Nanos>,
    /// Windows closed so far.
    pub windows: u64,
}

impl<const WAITERS: usize> Ceilings for AdaptiveLimiter<WAITERS> {
    const LAYOUT: Layout = LAYOUT;

    #[inline]
    fn ceiling(&self, _lane: usize, word: u64) -> u32 {
        (word >> LIMIT_SHIFT) as u32
    }
}

impl<const WAITERS: usize> AdaptiveLimiter<WAITERS> {
    const_fn! {
        /// A limiter for `config`, or the config's first invalid field.
        ///
        /// `WAITERS` above [`MAX_WAITERS`] fails to compile.
        ///
        /// ```
        /// use stanchion::{AdaptiveConfig, AdaptiveLimiter};
        /// let limiter: AdaptiveLimiter = AdaptiveLimiter::new(AdaptiveConfig::new()).unwrap();
        /// assert_eq!(limiter.limit(), 20);
        /// let error = AdaptiveLimiter::<0>::new(AdaptiveConfig::new().limits(0, 1, 2));
        /// assert_eq!(error.unwrap_err().field, "min_limit");
        /// ```
        // `?` is not allowed in a const fn; under the checkers this one is not const.
        #[cfg_attr(any(loom, shuttle), allow(clippy::question_mark))]
        pub fn new(config: AdaptiveConfig) -> Result<Self, ConfigError> {
            const { assert!(WAITERS <= MAX_WAITERS, "WAITERS is above MAX_WAITERS") };
            if let Err(error) = config.validate() {
                return Err(error);
            }
            let settings = Settings::from_config(&config);
            let model = Model::new(config.initial_limit);
            let limit = (config.initial_limit as u64) << LIMIT_SHIFT;
            Ok(AdaptiveLimiter {
                gate: Gate::new(limit, config.max_waiting, 1),
                window: AtomicU64::new(0),
                window_sum: AtomicU64::new(0),
                window_start: AtomicU64::new(0),
                estimate: AtomicU64::new(model.estimate),
                baseline: AtomicU64::new(0),
                baseline_fraction: AtomicU32::new(0),
                warmup_sum: AtomicU64::new(0),
                counters: AtomicU64::new(0),
                windows: AtomicU64::new(0),
                last_update: AtomicU64::new(0),
                settings,
            })
        }
    }

    /// A permit issued at `now` while fewer than the limit are out, else `BulkheadFull` with
    /// `retry_after: None` (only a release can help). A newcomer never takes a permit being
    /// handed to a queued waiter.
    ///
    /// ```
    /// use stanchion::{AdaptiveConfig, AdaptiveLimiter, Nanos, Reason};
    /// let limiter: AdaptiveLimiter =
    ///     AdaptiveLimiter::new(AdaptiveConfig::new().limits(1, 1, 10)).unwrap();
    /// let permit = limiter.try_acquire(Nanos::ZERO).unwrap();
    /// let refused = limiter.try_acquire(Nanos::ZERO).unwrap_err();
    /// assert_eq!((refused.reason, refused.retry_after), (Reason::BulkheadFull, None));
    /// drop(permit);
    /// assert!(limiter.try_acquire(Nanos::ZERO).is_ok());
    /// ```
    #[inline]
    pub fn try_acquire(&self, now: Nanos) -> Result<Permit<'_, WAITERS>, Rejected> {
        let next = self.gate.try_admit(self, 0)?;
        let in_flight = LAYOUT.unpack(next).in_flight();
        Ok(Permit::new(
            self,
            RawPermit::from_parts(now, in_flight, true),
        ))
    }

    /// A future that resolves to a permit: at once if fewer than the limit are out, otherwise
    /// after waiting in the queue (oldest first) for a permit given back or room made by a
    /// raised limit. It resolves to `QueueFull` at once when every one of the `WAITERS` slots
    /// is in use or `max_waiting` futures already wait; with `WAITERS = 0` it never waits.
    ///
    /// The permit is issued at `clock`'s time when the future resolves, so time spent queued
    /// here is not counted as the call's latency: a queue in front of the limit is not the
    /// overload the limit measures.
    ///
    /// ```
    /// use core::future::Future;
    /// use core::pin::pin;
    /// use core::task::{Context, Poll, Waker};
    /// use stanchion::{AdaptiveConfig, AdaptiveLimiter, Nanos};
    ///
    /// let limiter: AdaptiveLimiter<4> =
    ///     AdaptiveLimiter::new(AdaptiveConfig::new().limits(1, 1, 10)).unwrap();
    /// let clock = || Nanos::from_millis(7);
    /// let mut cx = Context::from_waker(Waker::noop());
    /// let held = limiter.try_acquire(Nanos::ZERO).unwrap();
    /// let mut waiting = pin!(limiter.acquire(&clock));
    /// assert!(waiting.as_mut().poll(&mut cx).is_pending());
    /// drop(held); // handed straight to the waiter
    /// let Poll::Ready(Ok(permit)) = waiting.as_mut().poll(&mut cx) else { panic!() };
    /// assert_eq!(permit.issued_at(), Nanos::from_millis(7));
    /// ```
    pub fn acquire<'a, C: Clock + ?Sized>(&'a self, clock: &'a C) -> Acquire<'a, C, WAITERS> {
        Acquire::new(self, clock)
    }

    /// Reports how the call of a plain permit ended (see [`Permit::record`]). A value already
    /// reported or released does nothing and returns `None`.
    ///
    /// ```
    /// use stanchion::adaptive::{LimitChange, Outcome};
    /// use stanchion::{AdaptiveConfig, AdaptiveLimiter, Nanos};
    /// let config = AdaptiveConfig::new().limits(1, 2, 10).window(Nanos::ZERO, 1);
    /// let limiter: AdaptiveLimiter = AdaptiveLimiter::new(config).unwrap();
    /// let mut raw = limiter.try_acquire(Nanos::ZERO).unwrap().into_raw();
    /// // One call in flight of a limit of 2: not application-limited, so +1.
    /// let change = limiter.record_raw(&mut raw, Outcome::Success, Nanos::from_millis(1));
    /// assert_eq!(change, Some(LimitChange { from: 2, to: 3 }));
    /// assert_eq!(limiter.record_raw(&mut raw, Outcome::Success, Nanos::from_millis(1)), None);
    /// ```
    pub fn record_raw(
        &self,
        permit: &mut RawPermit,
        outcome: Outcome,
        now: Nanos,
    ) -> Option<LimitChange> {
        // A permit that gave nothing back (one of another limiter, or from before this one
        // was rebuilt in the same storage) says nothing about this limiter's calls.
        if !permit.disarm() || !self.gate.release_unit(self) {
            return None;
        }
        let dropped = match outcome {
            Outcome::Ignored => return None,
            Outcome::Success | Outcome::Failure => false,
            Outcome::Dropped => true,
        };
        let latency = now.saturating_sub(permit.issued_at()).as_nanos().max(1);
        let sample = Sample {
            in_flight: permit.in_flight(),
            dropped,
        };
        self.sample(latency, sample, now.as_nanos())
    }

    /// Gives back a plain permit without a sample; `true` if one was given back. The value is
    /// marked released, so a second release (or a record after it) does nothing.
    ///
    /// ```
    /// use stanchion::{AdaptiveConfig, AdaptiveLimiter, Nanos};
    /// let limiter: AdaptiveLimiter = AdaptiveLimiter::new(AdaptiveConfig::new()).unwrap();
    /// let mut raw = limiter.try_acquire(Nanos::ZERO).unwrap().into_raw();
    /// assert!(limiter.release(&mut raw));
    /// assert!(!limiter.release(&mut raw));
    /// assert_eq!(limiter.snapshot().in_flight, 0);
    /// ```
    #[inline]
    pub fn release(&self, permit: &mut RawPermit) -> bool {
        permit.disarm() && self.gate.release_unit(self)
    }

    /// The limit in force.
    ///
    /// ```
    /// use stanchion::{AdaptiveConfig, AdaptiveLimiter};
    /// let limiter: AdaptiveLimiter =
    ///     AdaptiveLimiter::new(AdaptiveConfig::new().limits(1, 7, 10)).unwrap();
    /// assert_eq!(limiter.limit(), 7);
    /// ```
    pub fn limit(&self) -> u32 {
        self.ceiling(0, self.gate.word())
    }

    /// The state now. Fields are read one by one and may disagree by the calls racing the read.
    ///
    /// ```
    /// use stanchion::adaptive::Outcome;
    /// use stanchion::{AdaptiveConfig, AdaptiveLimiter, Nanos};
    /// let config = AdaptiveConfig::new().window(Nanos::ZERO, 1);
    /// let limiter: AdaptiveLimiter = AdaptiveLimiter::new(config).unwrap();
    /// let permit = limiter.try_acquire(Nanos::ZERO).unwrap();
    /// permit.record(Outcome::Success, Nanos::from_millis(2));
    /// let snapshot = limiter.snapshot();
    /// assert_eq!((snapshot.limit, snapshot.in_flight, snapshot.windows), (20, 0, 1));
    /// assert_eq!(snapshot.last_update, Some(Nanos::from_millis(2)));
    /// assert_eq!(snapshot.baseline, None); // AIMD keeps none
    /// ```
    pub fn snapshot(&self) -> AdaptiveSnapshot {
        let word = self.gate.word();
        let counts = LAYOUT.unpack(word);
        let windows = self.windows.load(Ordering::Relaxed);
        let model = self.load_model();
        let baseline = match self.settings.rule {
            Rule::Aimd { .. } => None,
            Rule::Vegas { .. } => (model.baseline != 0).then_some(model.baseline),
            Rule::Gradient2 { .. } => (model.count != 0).then_some(model.baseline),
        };
        AdaptiveSnapshot {
            limit: self.ceiling(0, word),
            in_flight: counts.in_flight(),
            waiting: counts.waiting,
            peak: self.gate.peak(),
            rejected: self.gate.rejected(),
            baseline: baseline.map(|b| Nanos::new(state::narrow(b >> 32))),
            last_update: (windows != 0)
                .then(|| Nanos::new(self.last_update.load(Ordering::Relaxed))),
            windows,
        }
    }

    /// A permit handed to a waiter, issued at `now`.
    pub(crate) fn handed_over(&self, now: Nanos) -> Permit<'_, WAITERS> {
        let in_flight = LAYOUT.unpack(self.gate.word()).in_flight().max(1);
        Permit::new(self, RawPermit::from_parts(now, in_flight, true))
    }

    /// Folds one sample into the open window, and runs the update if it closed the window.
    fn sample(&self, latency: u64, sample: Sample, now: u64) -> Option<LimitChange> {
        // Before the fold, so the sample that closes a window finds its own latency counted.
        let _ = self
            .window_sum
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |sum| {
                Some(sum.saturating_add(latency))
            });
        let close = Close {
            min_samples: self.settings.min_samples,
            window: self.settings.window,
        };
        let mut prev = self.window.load(Ordering::Acquire);
        let fold = loop {
            // Acquire on the word: a window no longer `opening` has its start stored.
            let start = self.window_start.load(Ordering::Relaxed);
            let (fold, next) = window::decide_fold(prev, sample, now, start, close);
            match self
                .window
                .compare_exchange_weak(prev, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => break fold,
                Err(actual) => prev = actual,
            }
        };
        match fold {
            Fold::Added => None,
            Fold::Opened => {
                self.window_start.store(now, Ordering::Relaxed);
                self.window.fetch_and(!OPENING, Ordering::Release);
                None
            }
            Fold::Closed(counts) => self.update(counts, now),
        }
    }

    /// The update of the window this thread closed: the next model, stored, and the limit
    /// published in the counting word with one compare-and-swap.
    fn update(&self, counts: window::Counts, now: u64) -> Option<LimitChange> {
        let sum = self.window_sum.swap(0, Ordering::Relaxed);
        let closed = Closed {
            latency: sum
                .checked_div(u64::from(counts.samples))
                .unwrap_or(sum)
                .max(1),
            in_flight: counts.in_flight,
            dropped: counts.dropped,
        };
        let s = &self.settings;
        let model = self.load_model();
        let next = state::step(&s.rule, s.bounds, s.seed, model, closed);
        self.store_model(&next);
        self.last_update.store(now, Ordering::Relaxed);
        self.windows.fetch_add(1, Ordering::Relaxed);
        let (from, to) = (model.limit(), next.limit());
        if from != to {
            let limit = u64::from(to) << LIMIT_SHIFT;
            let _ = self
                .gate
                .update(|word| Ok::<_, ()>(((), (word & COUNTS_MASK) | limit)));
        }
        // Release: the next closer, acquiring the window word, sees the model stored above.
        self.window.fetch_and(!UPDATING, Ordering::Release);
        if to > from {
            self.gate.promote(self);
        }
        (from != to).then_some(LimitChange { from, to })
    }

    fn load_model(&self) -> Model {
        let counters = self.counters.load(Ordering::Relaxed);
        let whole = u128::from(self.baseline.load(Ordering::Relaxed));
        let fraction = u128::from(self.baseline_fraction.load(Ordering::Relaxed));
        Model {
            estimate: self.estimate.load(Ordering::Relaxed),
            baseline: whole << 32 | fraction,
            warmup_sum: self.warmup_sum.load(Ordering::Relaxed),
            count: counters as u32,
            probes: (counters >> 32) as u32,
        }
    }

    fn store_model(&self, model: &Model) {
        let counters = u64::from(model.count) | u64::from(model.probes) << 32;
        self.estimate.store(model.estimate, Ordering::Relaxed);
        self.baseline
            .store(state::narrow(model.baseline >> 32), Ordering::Relaxed);
        self.baseline_fraction
            .store(model.baseline as u32, Ordering::Relaxed);
        self.warmup_sum.store(model.warmup_sum, Ordering::Relaxed);
        self.counters.store(counters, Ordering::Relaxed);
    }
}

impl<const WAITERS: usize> fmt::Debug for AdaptiveLimiter<WAITERS> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdaptiveLimiter")
            .field("waiters", &WAITERS)
            .field("snapshot", &self.snapshot())
            .finish_non_exhaustive()
    }
}
