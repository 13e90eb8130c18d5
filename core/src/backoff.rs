//! Backoff: how long to wait before each retry.
//!
//! # Algorithm
//!
//! Four schedules give the un-jittered wait before retry `n` (`n = 0` is the wait before the
//! second call):
//!
//! | schedule | wait `n` |
//! | --- | --- |
//! | [`Schedule::Constant`] | `delay` |
//! | [`Schedule::Linear`] | `initial + step·n` |
//! | [`Schedule::Exponential`] | `initial·factorⁿ` |
//! | [`Schedule::Decorrelated`] | `min(cap, rand(base, prev·3))`, `prev` starting at `base` |
//!
//! Every wait is capped at `max_delay` first, then jittered, following Marc Brooker, "Exponential
//! Backoff And Jitter", AWS Architecture Blog (2015):
//!
//! | jitter | wait |
//! | --- | --- |
//! | [`Jitter::None`] | `d` |
//! | [`Jitter::Full`] | `rand(0, d)` |
//! | [`Jitter::Equal`] | `⌈d/2⌉ + rand(0, ⌊d/2⌋)` |
//! | [`Jitter::Proportional(p)`](Jitter::Proportional) | `rand(d − p·d, min(cap, d + p·d))` |
//!
//! where `d` is the capped wait and `rand(lo, hi)` is uniform on the closed range. The
//! decorrelated schedule carries its own jitter, so it takes [`Jitter::None`] only.
//!
//! # Determinism
//!
//! The wait for retry `n` draws `rng::draw(seed, n)` (SplitMix64), so a seed gives the same waits
//! in every language and on every platform. There is no floating point after construction: the
//! exponential factor becomes a Q32.32 fixed-point number (rounded to nearest) and the
//! exponential schedule keeps 32 fraction bits of nanoseconds, so each step is
//! `s ← min(cap, ⌊s·factor⌋)`: a 128-bit multiply and a shift, never `powf`. The same steps are
//! replayed by the pure [`Backoff::delay`] and taken one at a time by [`Retrying`], so both give
//! the same waits to the nanosecond. The exponential state keeps 32 fraction bits, so even a
//! 1 ns start grows by 1.5 per step (1, 1, 2, 3, 5, 7, 11 ns) instead of sticking at 1.
//!
//! # Cost
//!
//! Every wait costs a bounded amount of work, whatever the attempt number, so a caller (or a
//! binding) may pass any `u32`. Two schedules carry state from one wait to the next, and the
//! pure form replays at most [`Backoff::REPLAY_LIMIT`] (4096) of their steps:
//!
//! - **Exponential.** The floor in each step makes the chain differ from
//!   `⌊initial·factorⁿ⌋`, so no closed form gives the same waits. But the chain stops moving
//!   once it reaches its cap or a wait too small for the factor to raise, and with a factor of
//!   1.011 or more it gets there within 4096 steps from any start (1 ns to `u64::MAX`). Every
//!   such schedule, and every schedule's waits up to retry 4096, are exactly the chain. Past
//!   that, a chain still growing (a factor below 1.011) continues in closed form: its
//!   wait `w` at step 4096 times `factorᵐ` for the `m` steps left, the power by
//!   square-and-multiply with 128-bit significands, floored and capped. It never shrinks from
//!   one retry to the next, and its own rounding keeps it within a nanosecond below the real
//!   product. The chain, flooring `m` more times, would run below it by at most
//!   `2⁻³²/((factor − 1)·w)` of it (`w` in nanoseconds: under 10⁻¹² for factor 1.001 and a
//!   1 ms `w`).
//! - **Decorrelated.** Each draw depends on the previous wait, so wait `n` needs every draw
//!   before it. From retry 4096 on, the pure form replays only the last 4096 draws, starting
//!   them from the chain's highest value (`max_delay`, or `u64::MAX` when unset; 0 for a zero
//!   base) instead of the wait before them. Each step is monotone in the previous wait, so that
//!   chain is never below the unbounded one, and it meets it for good at the first draw whose
//!   result would be the same from the highest value: a draw that reaches `max_delay`, or, with
//!   no `max_delay`, one made after a wait of a third of `u64::MAX` or more. Such draws come
//!   every few retries, so the bounded replay is the unbounded chain unless 4096 draws in a row
//!   had none; then its wait is the longer one. [`Retrying`] notes the draws that meet, so it
//!   follows the pure form at the cost of one more step per wait (and of the same replay in
//!   the case that needs it).
//!
//! # Caps
//!
//! `max_attempts` counts every call, the first included: `max_attempts = 3` gives waits for
//! retries 0 and 1, then stops. `max_delay` caps each wait (a server hint included).
//! `max_elapsed` is enforced where time is known ([`Retrying::next_delay`] takes `now`): a retry
//! whose wait would end more than `max_elapsed` after the first call started is not made (stop,
//! not clip).
//!
//! # Concurrency and size
//!
//! A [`Backoff`] is an immutable, validated config: no atomics, so it works alike on every
//! target (Cortex-M0 included) and can be shared or copied freely. It is 136 bytes; a [`Retrying`] (the state of one retried call) is 40 bytes.

mod retrying;
#[cfg(test)]
mod tests;

pub use retrying::{Delays, Exhausted, Retrying};

use crate::rng::{draw, uniform};
use crate::{ConfigError, Nanos};

/// Fraction bits of the fixed-point factor and of the exponential schedule's state.
const FRACTION_BITS: u32 = 32;
/// `2^FRACTION_BITS` as a float, to convert factors and proportions at construction.
const FIXED_ONE: f64 = 4_294_967_296.0;
/// The largest exponential factor accepted. It bounds the fixed-point factor below 2^42.
const MAX_FACTOR: f64 = 1024.0;

/// The shape of the waits, before the `max_delay` cap and jitter.
///
/// ```
/// use stanchion::{Nanos, Schedule};
/// let s = Schedule::Exponential { initial: Nanos::from_millis(100), factor: 2.0 };
/// assert_ne!(s, Schedule::Constant { delay: Nanos::from_millis(100) });
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Schedule {
    /// The same wait every time.
    Constant {
        /// The wait before every retry.
        delay: Nanos,
    },
    /// `initial + step·n` before retry `n` (saturating).
    Linear {
        /// The wait before the first retry.
        initial: Nanos,
        /// Added for each later retry.
        step: Nanos,
    },
    /// `initial·factorⁿ` before retry `n`, in fixed point (see the module docs).
    Exponential {
        /// The wait before the first retry.
        initial: Nanos,
        /// Growth per retry, finite and in `[1, 1024]`. An `f32` converts exactly with
        /// `f64::from`.
        factor: f64,
    },
    /// AWS "decorrelated jitter": `min(cap, rand(base, prev·3))`, `prev` starting at `base`.
    /// From retry [`Backoff::REPLAY_LIMIT`] on, [`Backoff::delay`] defines the wait by the last
    /// `REPLAY_LIMIT` draws only (see the module docs).
    Decorrelated {
        /// The smallest wait, and the first `prev`.
        base: Nanos,
    },
}

/// How the capped wait is randomised. See the table in the module docs.
///
/// ```
/// use stanchion::Jitter;
/// assert_ne!(Jitter::Full, Jitter::Equal);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Jitter {
    /// No randomness: the capped wait itself.
    None,
    /// Uniform on `[0, d]`.
    Full,
    /// Half of `d` for sure, the other half uniform: `[⌈d/2⌉, d]`.
    Equal,
    /// Uniform on `[d − p·d, min(cap, d + p·d)]`, with `p` in `[0, 1]`: never negative, never
    /// above `max_delay`.
    Proportional(f64),
}

/// A backoff's settings. Build with a schedule constructor and the `const` setters, then
/// [`Backoff::new`] validates it.
///
/// Defaults: [`Jitter::None`], no `max_delay`, `max_attempts = Some(3)` (the first call and two
/// retries, as Resilience4j), no `max_elapsed`.
///
/// ```
/// use stanchion::{BackoffConfig, Jitter, Nanos};
/// let cfg = BackoffConfig::exponential(Nanos::from_millis(100), 2.0)
///     .jitter(Jitter::Full)
///     .max_delay(Nanos::from_secs(10))
///     .max_attempts(5);
/// assert_eq!(cfg.max_attempts, Some(5));
/// assert!(cfg.validate().is_ok());
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BackoffConfig {
    /// The shape of the waits.
    pub schedule: Schedule,
    /// How each wait is randomised; default [`Jitter::None`]. Must be `None` for a decorrelated schedule.
    pub jitter: Jitter,
    /// The longest wait ever returned, a server hint included; default none.
    pub max_delay: Option<Nanos>,
    /// The most calls, the first included, `>= 1`; default 3; `None` for no limit (the attempt
    /// counter is a `u32`, so `u32::MAX` retries at most).
    pub max_attempts: Option<u32>,
    /// No retry whose wait would end later than this after the first call started; default none.
    pub max_elapsed: Option<Nanos>,
}

impl BackoffConfig {
    /// A config for `schedule` with the defaults above.
    ///
    /// ```
    /// use stanchion::{BackoffConfig, Nanos, Schedule};
    /// let cfg = BackoffConfig::new(Schedule::Constant { delay: Nanos::from_millis(5) });
    /// assert_eq!(cfg.max_attempts, Some(3));
    /// ```
    pub const fn new(schedule: Schedule) -> BackoffConfig {
        BackoffConfig {
            schedule,
            jitter: Jitter::None,
            max_delay: None,
            max_attempts: Some(3),
            max_elapsed: None,
        }
    }

    /// The same wait `delay` before every retry.
    ///
    /// ```
    /// use stanchion::{BackoffConfig, Nanos, Schedule};
    /// let cfg = BackoffConfig::constant(Nanos::from_millis(5));
    /// assert_eq!(cfg.schedule, Schedule::Constant { delay: Nanos::from_millis(5) });
    /// ```
    pub const fn constant(delay: Nanos) -> BackoffConfig {
        BackoffConfig::new(Schedule::Constant { delay })
    }

    /// `initial + step·n` before retry `n`.
    ///
    /// ```
    /// use stanchion::{BackoffConfig, Nanos};
    /// let cfg = BackoffConfig::linear(Nanos::from_millis(10), Nanos::from_millis(5));
    /// assert!(cfg.validate().is_ok());
    /// ```
    pub const fn linear(initial: Nanos, step: Nanos) -> BackoffConfig {
        BackoffConfig::new(Schedule::Linear { initial, step })
    }

    /// `initial·factorⁿ` before retry `n`; `factor` must be finite and in `[1, 1024]`.
    ///
    /// ```
    /// use stanchion::{BackoffConfig, Nanos};
    /// assert!(BackoffConfig::exponential(Nanos::from_millis(10), 2.0).validate().is_ok());
    /// assert!(BackoffConfig::exponential(Nanos::from_millis(10), 0.5).validate().is_err());
    /// ```
    pub const fn exponential(initial: Nanos, factor: f64) -> BackoffConfig {
        BackoffConfig::new(Schedule::Exponential { initial, factor })
    }

    /// AWS decorrelated jitter from `base`: `min(cap, rand(base, prev·3))`.
    ///
    /// ```
    /// use stanchion::{BackoffConfig, Nanos};
    /// let cfg = BackoffConfig::decorrelated(Nanos::from_millis(10)).max_delay(Nanos::from_secs(1));
    /// assert!(cfg.validate().is_ok());
    /// ```
    pub const fn decorrelated(base: Nanos) -> BackoffConfig {
        BackoffConfig::new(Schedule::Decorrelated { base })
    }

    /// Sets the jitter.
    ///
    /// ```
    /// use stanchion::{BackoffConfig, Jitter, Nanos};
    /// let cfg = BackoffConfig::constant(Nanos::from_millis(5)).jitter(Jitter::Proportional(0.2));
    /// assert_eq!(cfg.jitter, Jitter::Proportional(0.2));
    /// ```
    pub const fn jitter(mut self, jitter: Jitter) -> BackoffConfig {
        self.jitter = jitter;
        self
    }

    /// Caps every wait at `max_delay`.
    ///
    /// ```
    /// use stanchion::{BackoffConfig, Nanos};
    /// let cfg = BackoffConfig::constant(Nanos::from_secs(5)).max_delay(Nanos::from_secs(1));
    /// assert_eq!(cfg.max_delay, Some(Nanos::from_secs(1)));
    /// ```
    pub const fn max_delay(mut self, max_delay: Nanos) -> BackoffConfig {
        self.max_delay = Some(max_delay);
        self
    }

    /// Allows at most `max_attempts` calls, the first included (`>= 1`).
    ///
    /// ```
    /// use stanchion::{BackoffConfig, Nanos};
    /// let cfg = BackoffConfig::constant(Nanos::ZERO).max_attempts(10);
    /// assert_eq!(cfg.max_attempts, Some(10));
    /// ```
    pub const fn max_attempts(mut self, max_attempts: u32) -> BackoffConfig {
        self.max_attempts = Some(max_attempts);
        self
    }

    /// Removes the limit on calls (stop through `max_elapsed`, a deadline or a budget instead).
    ///
    /// ```
    /// use stanchion::{BackoffConfig, Nanos};
    /// assert_eq!(BackoffConfig::constant(Nanos::ZERO).unlimited_attempts().max_attempts, None);
    /// ```
    pub const fn unlimited_attempts(mut self) -> BackoffConfig {
        self.max_attempts = None;
        self
    }

    /// Makes no retry whose wait would end later than `max_elapsed` after the first call.
    ///
    /// ```
    /// use stanchion::{BackoffConfig, Nanos};
    /// let cfg = BackoffConfig::constant(Nanos::ZERO).max_elapsed(Nanos::from_secs(30));
    /// assert_eq!(cfg.max_elapsed, Some(Nanos::from_secs(30)));
    /// ```
    pub const fn max_elapsed(mut self, max_elapsed: Nanos) -> BackoffConfig {
        self.max_elapsed = Some(max_elapsed);
        self
    }

    /// Checks every field; the error names the first one out of range.
    ///
    /// ```
    /// use stanchion::{BackoffConfig, ConfigError, Jitter, Nanos};
    /// let bad = BackoffConfig::constant(Nanos::ZERO).jitter(Jitter::Proportional(1.5));
    /// assert_eq!(bad.validate(), Err(ConfigError::new("jitter.proportional", "[0, 1]")));
    /// ```
    pub const fn validate(&self) -> Result<(), ConfigError> {
        if let Schedule::Exponential { factor, .. } = self.schedule {
            // NaN fails both comparisons; infinities fail one.
            if !(factor >= 1.0 && factor <= MAX_FACTOR) {
                return Err(ConfigError::new("schedule.factor", "[1, 1024]"));
            }
        }
        match self.jitter {
            Jitter::Proportional(p) if !(p >= 0.0 && p <= 1.0) => {
                return Err(ConfigError::new("jitter.proportional", "[0, 1]"));
            }
            Jitter::None => {}
            _ => {
                if let Schedule::Decorrelated { .. } = self.schedule {
                    return Err(ConfigError::new(
                        "jitter",
                        "Jitter::None with a decorrelated schedule (its jitter is built in)",
                    ));
                }
            }
        }
        if let Some(0) = self.max_attempts {
            return Err(ConfigError::new(
                "max_attempts",
                "1..=4294967295, or None for no limit",
            ));
        }
        Ok(())
    }
}

/// The schedule in integer form, every wait already capped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Constant { delay: u64 },
    Linear { initial: u64, step: u64 },
    // `factor` is Q32.32, in [2^32, 2^42].
    Exponential { initial: u64, factor: u64 },
    Decorrelated { base: u64 },
}

/// The jitter in integer form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Spread {
    None,
    Full,
    Equal,
    // `share` is p in Q0.32, in [0, 2^32].
    Proportional { share: u64 },
}

/// A validated backoff: computes the wait before each retry from the attempt and a seed.
///
/// Pure and immutable; keep one per policy (it can be a `static`) and start a [`Retrying`] per
/// call, or ask [`Backoff::delay`] directly.
///
/// ```
/// use stanchion::{Backoff, BackoffConfig, Nanos};
/// static BACKOFF: Backoff =
///     match Backoff::new(BackoffConfig::exponential(Nanos::from_millis(100), 2.0)) {
///         Ok(b) => b,
///         Err(_) => panic!("invalid backoff"),
///     };
/// assert_eq!(BACKOFF.delay(0, 7), Some(Nanos::from_millis(100)));
/// assert_eq!(BACKOFF.delay(1, 7), Some(Nanos::from_millis(200)));
/// assert_eq!(BACKOFF.delay(2, 7), None); // three calls in all
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Backoff {
    config: BackoffConfig,
    kind: Kind,
    spread: Spread,
    /// `max_delay` in nanoseconds, `u64::MAX` when unset.
    cap: u64,
    /// Retries allowed: `max_attempts - 1`, or `u32::MAX` when unlimited.
    retry_limit: u32,
}

impl Backoff {
    /// The most steps of a stateful schedule that [`Backoff::delay`] replays: an exponential
    /// schedule still growing after this many steps continues in closed form, and a decorrelated
    /// wait replays only this many draws (see the module docs). It keeps the cost of one wait
    /// to a few microseconds for any attempt number.
    ///
    /// ```
    /// use stanchion::{Backoff, BackoffConfig, Nanos};
    /// let b = Backoff::new(BackoffConfig::exponential(Nanos::from_millis(1), 2.0).unlimited_attempts())
    ///     .unwrap();
    /// // Long past the limit, at the cap (u64::MAX nanoseconds) since the 54th retry.
    /// assert_eq!(b.delay(Backoff::REPLAY_LIMIT * 1000, 0), Some(Nanos::MAX));
    /// ```
    pub const REPLAY_LIMIT: u32 = 4096;

    /// Validates `config` and converts it to integer form.
    ///
    /// ```
    /// use stanchion::{Backoff, BackoffConfig, Nanos};
    /// assert!(Backoff::new(BackoffConfig::linear(Nanos::from_millis(1), Nanos::from_millis(1))).is_ok());
    /// assert!(Backoff::new(BackoffConfig::exponential(Nanos::ZERO, f64::NAN)).is_err());
    /// ```
    pub const fn new(config: BackoffConfig) -> Result<Backoff, ConfigError> {
        if let Err(e) = config.validate() {
            return Err(e);
        }
        let cap = match config.max_delay {
            Some(max_delay) => max_delay.as_nanos(),
            None => u64::MAX,
        };
        let kind = match config.schedule {
            Schedule::Constant { delay } => Kind::Constant {
                delay: min_u64(delay.as_nanos(), cap),
            },
            Schedule::Linear { initial, step } => Kind::Linear {
                initial: initial.as_nanos(),
                step: step.as_nanos(),
            },
            // Validated to [1, 1024]: scaling by 2^32 is exact and below 2^42 + 1, so the cast
            // neither saturates nor depends on the platform.
            Schedule::Exponential { initial, factor } => Kind::Exponential {
                initial: min_u64(initial.as_nanos(), cap),
                factor: (factor * FIXED_ONE + 0.5) as u64,
            },
            Schedule::Decorrelated { base } => Kind::Decorrelated {
                base: base.as_nanos(),
            },
        };
        let spread = match config.jitter {
            Jitter::None => Spread::None,
            Jitter::Full => Spread::Full,
            Jitter::Equal => Spread::Equal,
            // Validated to [0, 1]: the cast gives at most 2^32.
            Jitter::Proportional(p) => Spread::Proportional {
                share: (p * FIXED_ONE + 0.5) as u64,
            },
        };
        let retry_limit = match config.max_attempts {
            Some(calls) => calls.saturating_sub(1),
            None => u32::MAX,
        };
        Ok(Backoff {
            config,
            kind,
            spread,
            cap,
            retry_limit,
        })
    }

    /// The config this backoff was built from.
    ///
    /// ```
    /// use stanchion::{Backoff, BackoffConfig, Nanos};
    /// let cfg = BackoffConfig::constant(Nanos::from_millis(5));
    /// assert_eq!(*Backoff::new(cfg).unwrap().config(), cfg);
    /// ```
    pub const fn config(&self) -> &BackoffConfig {
        &self.config
    }

    /// The wait before retry `attempt` (0 = before the second call) for `seed`, or `None` when
    /// `max_attempts` allows no such retry.
    ///
    /// Pure: the same arguments give the same wait, equal to what [`Retrying::next_delay`]
    /// returns for that retry without a hint. `max_elapsed` needs a clock and is applied there,
    /// not here.
    ///
    /// Cost, for any `attempt`: constant and linear schedules O(1). Exponential replays its
    /// steps until the wait stops growing (about 45 from 1 ms to an unset cap with factor 2),
    /// at most [`REPLAY_LIMIT`](Self::REPLAY_LIMIT) of them, then at most 64 wide
    /// multiplies. Decorrelated replays at most `REPLAY_LIMIT` draws.
    ///
    /// Bounding the replay defines two cases past `REPLAY_LIMIT` (`L`); the module docs under
    /// [Cost](crate::backoff#cost) say why and how far they are from an unbounded replay:
    ///
    /// - Exponential, `attempt > L`, when the chain still grows after `L` steps (`s`, its Q.32
    ///   state then, is not a fixed point of the step): the un-jittered wait is
    ///   `min(cap, ⌊⌊s·p⌋ / 2³²⌋)` with `p` the Q32.32 factor raised to `attempt − L` by
    ///   square-and-multiply, each product truncated to 128 significant bits. Every other
    ///   exponential wait is exactly the step-by-step chain.
    /// - Decorrelated, `attempt >= L`: the wait is the chain over the last `L` draws,
    ///   `attempt − L + 1 ..= attempt`, started from `prev = max_delay` (`u64::MAX` when unset;
    ///   0 when `base` is 0) instead of the wait before them. It is the unbounded chain's wait
    ///   unless none of those draws would have given the same result from that `prev`.
    ///
    /// ```
    /// use stanchion::{Backoff, BackoffConfig, Jitter, Nanos};
    /// let b = Backoff::new(
    ///     BackoffConfig::exponential(Nanos::from_millis(100), 2.0).jitter(Jitter::Full),
    /// )
    /// .unwrap();
    /// let wait = b.delay(1, 42).unwrap();
    /// assert!(wait <= Nanos::from_millis(200));
    /// assert_eq!(b.delay(1, 42), Some(wait)); // deterministic
    /// ```
    pub fn delay(&self, attempt: u32, seed: u64) -> Option<Nanos> {
        if attempt >= self.retry_limit {
            return None;
        }
        let bits = draw(seed, u64::from(attempt));
        let raw = match self.kind {
            Kind::Constant { delay } => delay,
            Kind::Linear { initial, step } => linear(initial, step, attempt, self.cap),
            Kind::Exponential { initial, factor } => {
                let mut scaled = u128::from(initial) << FRACTION_BITS;
                let replayed = attempt.min(Self::REPLAY_LIMIT);
                for _ in 0..replayed {
                    let next = exponential_step(scaled, factor, self.cap);
                    // The step is a function of `scaled` alone: a fixed point stays fixed.
                    if next == scaled {
                        break;
                    }
                    scaled = next;
                }
                let left = attempt.saturating_sub(replayed);
                whole_nanos(exponential_beyond(scaled, factor, self.cap, left))
            }
            Kind::Decorrelated { base } if attempt >= Self::REPLAY_LIMIT => {
                decorrelated_window(seed, base, self.cap, attempt)
            }
            Kind::Decorrelated { base } => {
                let mut prev = base;
                for index in 0..=attempt {
                    prev = decorrelated_step(draw(seed, u64::from(index)), base, prev, self.cap);
                }
                prev
            }
        };
        Some(Nanos::new(self.jitter(raw, bits)))
    }

    /// Starts the backoff of one call whose first attempt started at `now`, with `seed` for its
    /// jitter. Pass a different seed per call (from any random source), or every client
    /// sharing this backoff waits in lockstep.
    ///
    /// ```
    /// use stanchion::{Backoff, BackoffConfig, Nanos};
    /// let b = Backoff::new(BackoffConfig::constant(Nanos::from_millis(5))).unwrap();
    /// let mut retrying = b.start(99, Nanos::ZERO);
    /// assert_eq!(retrying.next_delay(&b, Nanos::from_millis(1), None), Ok(Nanos::from_millis(5)));
    /// ```
    pub const fn start(&self, seed: u64, now: Nanos) -> Retrying {
        let first = match self.kind {
            Kind::Exponential { initial, .. } => (initial, 0),
            Kind::Decorrelated { base } => (base, 0),
            Kind::Constant { .. } | Kind::Linear { .. } => (0, 0),
        };
        Retrying::new(seed, now, first)
    }

    /// The waits for `seed` as an iterator, for a call whose attempts take no time: `max_elapsed`
    /// then bounds the sum of the waits.
    ///
    /// ```
    /// use stanchion::{Backoff, BackoffConfig, Nanos};
    /// let b = Backoff::new(BackoffConfig::linear(Nanos::from_millis(10), Nanos::from_millis(10))
    ///     .max_attempts(4)).unwrap();
    /// let waits: Vec<Nanos> = b.iter(0).collect();
    /// assert_eq!(waits, [10, 20, 30].map(Nanos::from_millis));
    /// ```
    pub const fn iter(&self, seed: u64) -> Delays<'_> {
        Delays::new(self, self.start(seed, Nanos::ZERO))
    }

    /// Applies the jitter to a wait `raw <= cap` with 64 random bits.
    #[inline]
    fn jitter(&self, raw: u64, bits: u64) -> u64 {
        match self.spread {
            Spread::None => raw,
            Spread::Full => uniform(bits, 0, raw),
            Spread::Equal => {
                let half = raw / 2;
                uniform(bits, raw.saturating_sub(half), raw)
            }
            Spread::Proportional { share } => {
                // share <= 2^32, so spread <= raw and the shift result fits in u64.
                let spread = whole_nanos(u128::from(raw).saturating_mul(u128::from(share)));
                let low = raw.saturating_sub(spread);
                let high = raw.saturating_add(spread).min(self.cap);
                uniform(bits, low, high)
            }
        }
    }
}

/// `min(cap, initial + step·attempt)`, saturating.
#[inline]
fn linear(initial: u64, step: u64, attempt: u32, cap: u64) -> u64 {
    initial
        .saturating_add(step.saturating_mul(u64::from(attempt)))
        .min(cap)
}

/// One exponential step on a Q96.32 number of nanoseconds, capped at `cap` nanoseconds.
#[inline]
fn exponential_step(scaled: u128, factor: u64, cap: u64) -> u128 {
    let cap_scaled = u128::from(cap) << FRACTION_BITS;
    if scaled >= cap_scaled {
        // At the cap already (a long retry sequence's steady state): no multiply needed.
        return cap_scaled;
    }
    match scaled.checked_mul(u128::from(factor)) {
        Some(product) => (product >> FRACTION_BITS).min(cap_scaled),
        // Above 2^128 is far above any cap (at most 2^96 scaled).
        None => cap_scaled,
    }
}

/// The exponential state `steps` steps after `scaled`, in closed form: `scaled · factor^steps`,
/// floored and capped.
///
/// It leaves a fixed point where it is, as the steps would. Otherwise `scaled` is at least one
/// nanosecond (the start is whole nanoseconds and the chain never shrinks), so a power of 2^64
/// or more takes it past any cap. The power is built by square-and-multiply in [`Power`]s, each
/// product truncated to 128 significant bits. A truncation costs less than 2^-127 of the
/// value, and squaring doubles the relative error a value carries, so the power ends below the
/// real one by less than `(steps + 64) · 2^-127 < 2^-94` of it: far less than the `2^-32` (or
/// more) by which one more step raises it, so the waits never shrink from one retry to the
/// next, and less than a nanosecond below the real product.
fn exponential_beyond(scaled: u128, factor: u64, cap: u64, steps: u32) -> u128 {
    let cap_scaled = u128::from(cap) << FRACTION_BITS;
    if steps == 0 || exponential_step(scaled, factor, cap) == scaled {
        return scaled;
    }
    let mut power = Power::ONE;
    let mut square = Power::of_q32(factor);
    let mut left = steps;
    loop {
        if left & 1 == 1 {
            power = power.times(square);
            if power.reaches_2_64() {
                return cap_scaled;
            }
        }
        left >>= 1;
        if left == 0 {
            break;
        }
        square = square.times(square);
        // The power still takes this square at least once more, and every factor is >= 1.
        if square.reaches_2_64() {
            return cap_scaled;
        }
    }
    power
        .scale(scaled)
        .map_or(cap_scaled, |product| product.min(cap_scaled))
}

/// A positive number `significand · 2^exponent` with the significand's top bit set: a power
/// of the exponential factor, kept to 128 significant bits whatever its size.
#[derive(Clone, Copy)]
struct Power {
    significand: u128,
    exponent: i32,
}

impl Power {
    const ONE: Power = Power {
        significand: 1 << 127,
        exponent: -127,
    };

    /// A Q32.32 factor, at least 1.0 (2^32).
    fn of_q32(factor: u64) -> Power {
        let factor = u128::from(factor);
        // The factor is below 2^43 and not zero: the shift is in (85, 127].
        let shift = factor.leading_zeros();
        Power {
            significand: factor << shift,
            exponent: (shift as i32)
                .wrapping_add(FRACTION_BITS as i32)
                .wrapping_neg(),
        }
    }

    /// The product, truncated to 128 significant bits.
    fn times(self, other: Power) -> Power {
        let (high, low) = mul_wide(self.significand, other.significand);
        // Both significands are at least 2^127, so the product is at least 2^254 and `high`
        // keeps at least 127 significant bits. Callers stop once a power reaches 2^64, so both
        // exponents are in [-127, -64] and the sums stay small.
        let exponent = self.exponent.wrapping_add(other.exponent);
        if high >> 127 == 1 {
            Power {
                significand: high,
                exponent: exponent.wrapping_add(128),
            }
        } else {
            Power {
                significand: (high << 1) | (low >> 127),
                exponent: exponent.wrapping_add(127),
            }
        }
    }

    /// Whether the value is 2^64 or more.
    fn reaches_2_64(self) -> bool {
        self.exponent >= 64 - 127
    }

    /// `⌊scaled · self⌋` for a value below 2^64, or `None` from 2^128 on.
    fn scale(self, scaled: u128) -> Option<u128> {
        let (high, low) = mul_wide(scaled, self.significand);
        // The value is in [1, 2^64): the exponent is in [-127, -64], so the shift is in
        // [64, 127].
        let shift = self.exponent.unsigned_abs();
        if high >> shift != 0 {
            return None;
        }
        Some((high << 128u32.wrapping_sub(shift)) | (low >> shift))
    }
}

/// The 256-bit product `a·b` as its high and low 128-bit halves.
#[inline]
fn mul_wide(a: u128, b: u128) -> (u128, u128) {
    const LOW: u128 = u64::MAX as u128;
    // Halves as `u64`, so that each partial product is one 64-by-64-bit multiply.
    let (a_high, a_low) = ((a >> 64) as u64, a as u64);
    let (b_high, b_low) = ((b >> 64) as u64, b as u64);
    let wide = |x: u64, y: u64| u128::from(x).wrapping_mul(u128::from(y));
    // Each partial product is below 2^128, and `middle` sums three numbers below 2^64: none of
    // the sums below can wrap.
    let low_low = wide(a_low, b_low);
    let low_high = wide(a_low, b_high);
    let high_low = wide(a_high, b_low);
    let high_high = wide(a_high, b_high);
    let middle = (low_low >> 64)
        .wrapping_add(low_high & LOW)
        .wrapping_add(high_low & LOW);
    let low = (low_low & LOW) | (middle << 64);
    let high = high_high
        .wrapping_add(low_high >> 64)
        .wrapping_add(high_low >> 64)
        .wrapping_add(middle >> 64);
    (high, low)
}

/// The `prev` from which a decorrelated step gives the highest result: after its first draw
/// the chain never exceeds `cap`, and with a zero base it stays at 0.
#[inline]
const fn decorrelated_top(base: u64, cap: u64) -> u64 {
    if base == 0 {
        0
    } else {
        cap
    }
}

/// A decorrelated wait from `attempt >= REPLAY_LIMIT` on: the chain over the last
/// `REPLAY_LIMIT` draws, started from the top.
fn decorrelated_window(seed: u64, base: u64, cap: u64, attempt: u32) -> u64 {
    let mut prev = decorrelated_top(base, cap);
    // attempt >= REPLAY_LIMIT, so the first draw is at least 1.
    let first = attempt.wrapping_sub(Backoff::REPLAY_LIMIT).wrapping_add(1);
    for index in first..=attempt {
        prev = decorrelated_step(draw(seed, u64::from(index)), base, prev, cap);
    }
    prev
}

/// The whole nanoseconds of a Q96.32 value that is at most `u64::MAX << 32`.
#[inline]
fn whole_nanos(scaled: u128) -> u64 {
    u64::try_from(scaled >> FRACTION_BITS).unwrap_or(u64::MAX)
}

/// One decorrelated draw: `min(cap, rand(base, prev·3))`.
#[inline]
fn decorrelated_step(bits: u64, base: u64, prev: u64, cap: u64) -> u64 {
    uniform(bits, base, prev.saturating_mul(3)).min(cap)
}

const fn min_u64(a: u64, b: u64) -> u64 {
    if a <= b {
        a
    } else {
        b
    }
}
