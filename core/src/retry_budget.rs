//! `RetryBudget`: retries as a share of first attempts, with a floor.
//!
//! # Algorithm
//!
//! The retry budget of Finagle (`RetryBudget`) and gRPC's retry throttling, with the rules of
//! `docs/semantics.md` sections 5 and 7:
//!
//! - Each first attempt [deposits](RetryBudget::deposit) `ratio` tokens. Deposits accumulate up
//!   to `max_balance` tokens and never expire.
//! - A floor lets a trickle of retries through when there is little traffic: a token bucket
//!   refilled at `min_retries_per_sec`, holding at most one second's worth, full when new.
//! - Each retry [withdraws](RetryBudget::try_retry) one token: from the deposits while they hold
//!   a whole token, else from the floor, else it is refused with
//!   [`Reason::RetryBudgetExhausted`].
//!
//! Retries beyond the budget are refused *(hard)*: neither pool is ever overdrawn.
//!
//! # State
//!
//! Two words, each changed by a CAS loop around a pure function:
//!
//! - `balance`: the deposits in millionths of a token ([`MICRO_TOKENS`] per token), so decimal
//!   ratios such as 0.1 are exact: ten first attempts fund exactly one retry.
//! - `floor_tat`: the floor as a GCRA (the generic cell rate algorithm of ATM networks, ITU-T
//!   I.371): the theoretical arrival time of the next token. One token costs
//!   `interval = ⌊10⁹ / min_retries_per_sec⌋` ns (rounded down, so the floor never falls below
//!   the configured rate) and the bucket holds `min_retries_per_sec` tokens, so a retry passes
//!   when `max(tat, now) + interval <= now + interval·min_retries_per_sec`. `0` means full.
//!
//! Beside them, `floor_seen` holds the newest `now` of a floor grant (see "Time"), stored
//! after the CAS of a grant whose `now` is newer than the one it loaded. It cannot live in
//! `floor_tat`, whose 64 bits the TAT needs.
//!
//! The pools need not change together: a retry takes from one of them, so each word on its own
//! guarantees it is never overdrawn. Under a race a retry may take from the floor while a
//! deposit lands (the "deposits first" order is exact only from one thread).
//!
//! # Memory ordering
//!
//! `Relaxed` throughout. Every decision reads and writes one word by a read-modify-write, and
//! read-modify-writes of one location always see its latest value, which is all the
//! never-overdrawn guarantee needs. No other memory is published through these words.
//! `floor_seen` is a plain load and store: racing grants may leave an older one of their
//! times in it, or a caller may load an older one, which only makes an older `now` see less
//! refill, never more.
//!
//! # Time
//!
//! Deposits do not depend on time. For the floor, a `now` older than `floor_seen` counts as
//! no time passed: it is taken as `floor_seen`, so the tokens the floor held then are still
//! there, and refill resumes once the clock passes it. A refusal's `retry_after` counts from
//! the `now` given: it is how long that clock takes to reach the time the next token comes, so
//! advancing it by `retry_after` makes the same call pass. Refusals, snapshots and retries paid
//! from deposits do not touch the floor, so they leave `floor_seen` where it is.
//!
//! Every floor grant moves `tat` forward by `interval` and leaves it at most `window` past the
//! time it was decided at (its `now`, or `floor_seen` if later), so the grants decided within
//! any span `[a, b]` number at most `min_retries_per_sec + (b − a) / interval` *(hard)*; with a
//! clock that never runs backwards those are their `now`s. An older `now` never wraps and never
//! corrupts the state. At the end of time (a grant that would push `tat` past `u64::MAX`) the
//! floor refuses with no `retry_after`; deposits still work.
//!
//! # Size
//!
//! A `RetryBudget` is 80 bytes: five `AtomicU64` (the two pools, the floor's newest grant time
//! and the allowed and refused counters), its config and four derived integers (the floor's
//! interval and window, at most 10⁹, in 32 bits each). Both pools need 64 bits (a nanosecond
//! instant; up to 4.3·10¹⁵ millionths of a token), so targets without native 64-bit atomics
//! (Cortex-M0/M3/M4, riscv32imc) mask interrupts around each operation, through a critical
//! section or portable-atomic's `unsafe-assume-single-core`: interrupt-safe, never a spinlock
//! (see "Embedded targets" in the crate docs). Targets with 64-bit atomics use them natively.

use crate::sync::{const_fn, AtomicU64, Ordering};
use crate::{fixed, ConfigError, Nanos, Reason, Rejected};

/// Millionths of a token per token: the unit of [`RetryBudgetSnapshot::balance`].
pub const MICRO_TOKENS: u64 = 1_000_000;

const NANOS_PER_SEC: u64 = 1_000_000_000;
const MAX_RATIO: f64 = 1000.0;

/// A retry budget's settings.
///
/// ```
/// use stanchion::RetryBudgetConfig;
/// let cfg = RetryBudgetConfig::new(0.2).min_retries_per_sec(5).max_balance(50);
/// assert_eq!(cfg.max_balance, 50);
/// assert!(cfg.validate().is_ok());
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryBudgetConfig {
    /// Tokens deposited by each first attempt, finite and in `[0, 1000]`, kept to a millionth
    /// of a token (rounded to nearest). `0.1` allows one retry per ten first attempts.
    pub ratio: f64,
    /// The floor's refill rate, `0..=1_000_000_000`; default 10; it holds at most this many tokens.
    /// `0` turns the floor off.
    pub min_retries_per_sec: u32,
    /// The most deposited tokens kept; default 100.
    pub max_balance: u32,
}

impl RetryBudgetConfig {
    /// A config depositing `ratio` tokens per first attempt, with a floor of 10 retries per
    /// second and at most 100 deposited tokens.
    ///
    /// ```
    /// use stanchion::RetryBudgetConfig;
    /// let cfg = RetryBudgetConfig::new(0.1);
    /// assert_eq!((cfg.min_retries_per_sec, cfg.max_balance), (10, 100));
    /// ```
    pub const fn new(ratio: f64) -> RetryBudgetConfig {
        RetryBudgetConfig {
            ratio,
            min_retries_per_sec: 10,
            max_balance: 100,
        }
    }

    /// Sets the floor's rate (`0` for no floor).
    ///
    /// ```
    /// use stanchion::RetryBudgetConfig;
    /// assert_eq!(RetryBudgetConfig::new(0.1).min_retries_per_sec(0).min_retries_per_sec, 0);
    /// ```
    pub const fn min_retries_per_sec(mut self, min_retries_per_sec: u32) -> RetryBudgetConfig {
        self.min_retries_per_sec = min_retries_per_sec;
        self
    }

    /// Sets the most deposited tokens kept.
    ///
    /// ```
    /// use stanchion::RetryBudgetConfig;
    /// assert_eq!(RetryBudgetConfig::new(0.1).max_balance(7).max_balance, 7);
    /// ```
    pub const fn max_balance(mut self, max_balance: u32) -> RetryBudgetConfig {
        self.max_balance = max_balance;
        self
    }

    /// Checks every field; the error names the first one out of range.
    ///
    /// ```
    /// use stanchion::{ConfigError, RetryBudgetConfig};
    /// assert_eq!(
    ///     RetryBudgetConfig::new(-0.1).validate(),
    ///     Err(ConfigError::new("ratio", "[0, 1000]")),
    /// );
    /// ```
    pub const fn validate(&self) -> Result<(), ConfigError> {
        // NaN fails both comparisons; infinities fail one.
        if !fixed::f64_in_closed(self.ratio, 0.0, MAX_RATIO) {
            return Err(ConfigError::new("ratio", "[0, 1000]"));
        }
        if (self.min_retries_per_sec as u64) > NANOS_PER_SEC {
            return Err(ConfigError::new("min_retries_per_sec", "0..=1000000000"));
        }
        Ok(())
    }
}

/// A retry budget: allows retries up to a share of first attempts, plus a floor.
///
/// Shared by every caller of one dependency (a `static`, or behind an `Arc`).
///
/// ```
/// use stanchion::{Nanos, RetryBudget, RetryBudgetConfig};
/// static BUDGET: RetryBudget =
///     match RetryBudget::new(RetryBudgetConfig::new(0.5).min_retries_per_sec(0)) {
///         Ok(b) => b,
///         Err(_) => panic!("invalid retry budget"),
///     };
/// BUDGET.deposit();
/// BUDGET.deposit(); // two first attempts: one token
/// assert!(BUDGET.try_retry(Nanos::ZERO).is_ok());
/// assert!(BUDGET.try_retry(Nanos::ZERO).is_err());
/// ```
#[derive(Debug)]
pub struct RetryBudget {
    /// Deposited millionths of a token, at most `max_balance`.
    balance: AtomicU64,
    /// The floor's GCRA theoretical arrival time; `0` is a full floor.
    floor_tat: AtomicU64,
    /// The newest `now` of a floor grant: an older `now` is taken as this one.
    floor_seen: AtomicU64,
    allowed: AtomicU64,
    refused: AtomicU64,
    config: RetryBudgetConfig,
    /// `ratio` in millionths of a token.
    deposit: u64,
    /// `max_balance` in millionths of a token.
    max_balance: u64,
    /// Nanoseconds per floor token (at most 10⁹); `0` when there is no floor.
    interval: u32,
    /// `interval · min_retries_per_sec`: how far ahead of `now` grants may run (<= 1 s).
    window: u32,
}

/// What a [`RetryBudget`] holds at one instant.
///
/// ```
/// use stanchion::{Nanos, RetryBudget, RetryBudgetConfig};
/// let b = RetryBudget::new(RetryBudgetConfig::new(0.25)).unwrap();
/// b.deposit();
/// let s = b.snapshot(Nanos::ZERO);
/// assert_eq!(s.balance, 250_000);
/// assert_eq!(s.floor_tokens, 10);
/// assert_eq!(s.retries_available(), 10);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryBudgetSnapshot {
    /// Deposited tokens, in millionths of a token ([`MICRO_TOKENS`] per token).
    pub balance: u64,
    /// Whole tokens the floor holds at this instant.
    pub floor_tokens: u64,
    /// Retries allowed since the budget was made.
    pub retries_allowed: u64,
    /// Retries refused since the budget was made.
    pub retries_refused: u64,
}

impl RetryBudgetSnapshot {
    /// How many retries in a row would pass at this instant: whole deposited tokens plus
    /// floor tokens.
    ///
    /// ```
    /// use stanchion::{Nanos, RetryBudget, RetryBudgetConfig};
    /// let b = RetryBudget::new(RetryBudgetConfig::new(0.1).min_retries_per_sec(3)).unwrap();
    /// assert_eq!(b.snapshot(Nanos::ZERO).retries_available(), 3);
    /// ```
    pub const fn retries_available(&self) -> u64 {
        (self.balance / MICRO_TOKENS).saturating_add(self.floor_tokens)
    }
}

impl RetryBudget {
    const_fn! {
        /// Validates `config` and makes an empty budget with a full floor.
        ///
        /// ```
        /// use stanchion::{RetryBudget, RetryBudgetConfig};
        /// assert!(RetryBudget::new(RetryBudgetConfig::new(0.1)).is_ok());
        /// assert!(RetryBudget::new(RetryBudgetConfig::new(f64::NAN)).is_err());
        /// ```
        // A `const fn` can use neither `?` nor `unwrap_or`; under a checker this one is not const.
        #[allow(
            clippy::question_mark,
            clippy::manual_unwrap_or,
            clippy::manual_unwrap_or_default
        )]
        pub fn new(config: RetryBudgetConfig) -> Result<RetryBudget, ConfigError> {
            if let Err(e) = config.validate() {
                return Err(e);
            }
            let rate = config.min_retries_per_sec as u64;
            let interval = match NANOS_PER_SEC.checked_div(rate) {
                Some(interval) => interval,
                None => 0,
            };
            // rate <= 10^9 and interval = ⌊10^9 / rate⌋, so the product is at most 10^9.
            let window = interval.saturating_mul(rate);
            Ok(RetryBudget {
                balance: AtomicU64::new(0),
                floor_tat: AtomicU64::new(0),
                floor_seen: AtomicU64::new(0),
                allowed: AtomicU64::new(0),
                refused: AtomicU64::new(0),
                config,
                // Validated to [0, 1000]: at most 10^9, exact for decimal ratios after rounding.
                // `(ratio * 1e6 + 0.5) as u64`, computed without soft-float.
                deposit: fixed::f64_scale_round(config.ratio, fixed::PPM),
                max_balance: (config.max_balance as u64).saturating_mul(MICRO_TOKENS),
                // Both at most 10^9, so they fit 32 bits.
                interval: interval as u32,
                window: window as u32,
            })
        }
    }

    /// The config this budget was built from.
    ///
    /// ```
    /// use stanchion::{RetryBudget, RetryBudgetConfig};
    /// let cfg = RetryBudgetConfig::new(0.1);
    /// assert_eq!(*RetryBudget::new(cfg).unwrap().config(), cfg);
    /// ```
    pub const fn config(&self) -> &RetryBudgetConfig {
        &self.config
    }

    /// Records a first attempt: deposits `ratio` tokens, up to `max_balance`.
    ///
    /// ```
    /// use stanchion::{Nanos, RetryBudget, RetryBudgetConfig};
    /// let b = RetryBudget::new(RetryBudgetConfig::new(1.0).max_balance(2)).unwrap();
    /// for _ in 0..5 {
    ///     b.deposit();
    /// }
    /// assert_eq!(b.snapshot(Nanos::ZERO).balance, 2_000_000); // capped at max_balance
    /// ```
    pub fn deposit(&self) {
        let mut prev = self.balance.load(Ordering::Relaxed);
        loop {
            let next = add_deposit(prev, self.deposit, self.max_balance);
            if next == prev {
                return;
            }
            match self.balance.compare_exchange_weak(
                prev,
                next,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(actual) => prev = actual,
            }
        }
    }

    /// Asks to make one retry at `now`: takes a token from the deposits, else from the floor.
    ///
    /// Refused with [`Reason::RetryBudgetExhausted`] when neither holds a token; `retry_after`
    /// is when the floor will hold one again, `None` without a floor.
    ///
    /// ```
    /// use stanchion::{Nanos, Reason, RetryBudget, RetryBudgetConfig};
    /// let b = RetryBudget::new(RetryBudgetConfig::new(0.1).min_retries_per_sec(2)).unwrap();
    /// assert!(b.try_retry(Nanos::ZERO).is_ok()); // the floor starts full: two tokens
    /// assert!(b.try_retry(Nanos::ZERO).is_ok());
    /// let refused = b.try_retry(Nanos::ZERO).unwrap_err();
    /// assert_eq!(refused.reason, Reason::RetryBudgetExhausted);
    /// assert_eq!(refused.retry_after, Some(Nanos::from_millis(500)));
    /// assert!(b.try_retry(Nanos::from_millis(500)).is_ok());
    /// ```
    ///
    /// A `now` older than the newest retry the floor paid for counts as no time passed, and
    /// `retry_after` counts from the `now` given:
    ///
    /// ```
    /// use stanchion::{Nanos, RetryBudget, RetryBudgetConfig};
    /// let b = RetryBudget::new(RetryBudgetConfig::new(0.0).min_retries_per_sec(2)).unwrap();
    /// assert!(b.try_retry(Nanos::from_secs(10)).is_ok());
    /// // The clock steps back to 4 s: the token left at 10 s is still there.
    /// assert!(b.try_retry(Nanos::from_secs(4)).is_ok());
    /// // The next comes 500 ms after 10 s, which that clock reaches in 6.5 s.
    /// let refused = b.try_retry(Nanos::from_secs(4)).unwrap_err();
    /// assert_eq!(refused.retry_after, Some(Nanos::from_millis(6500)));
    /// ```
    pub fn try_retry(&self, now: Nanos) -> Result<(), Rejected> {
        let result = self.withdraw(now);
        let counter = if result.is_ok() {
            &self.allowed
        } else {
            &self.refused
        };
        counter.fetch_add(1, Ordering::Relaxed);
        result
    }

    fn withdraw(&self, now: Nanos) -> Result<(), Rejected> {
        let mut balance = self.balance.load(Ordering::Relaxed);
        while let Some(next) = spend_deposit(balance) {
            match self.balance.compare_exchange_weak(
                balance,
                next,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Ok(()),
                Err(actual) => balance = actual,
            }
        }
        let seen = self.floor_seen.load(Ordering::Relaxed);
        let mut tat = self.floor_tat.load(Ordering::Relaxed);
        loop {
            let next = spend_floor(tat, now, seen, self.interval.into(), self.window.into())?;
            match self.floor_tat.compare_exchange_weak(
                tat,
                next,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    // A plain store: racing grants may leave an older one of their times,
                    // which only makes a later, older `now` see less refill, never more.
                    if now.as_nanos() > seen {
                        self.floor_seen.store(now.as_nanos(), Ordering::Relaxed);
                    }
                    return Ok(());
                }
                Err(actual) => tat = actual,
            }
        }
    }

    /// The balance, the floor's tokens at `now` and the counters.
    ///
    /// ```
    /// use stanchion::{Nanos, RetryBudget, RetryBudgetConfig};
    /// let b = RetryBudget::new(RetryBudgetConfig::new(0.1).min_retries_per_sec(1)).unwrap();
    /// let _ = b.try_retry(Nanos::ZERO);
    /// let _ = b.try_retry(Nanos::ZERO);
    /// let s = b.snapshot(Nanos::ZERO);
    /// assert_eq!((s.retries_allowed, s.retries_refused, s.floor_tokens), (1, 1, 0));
    /// assert_eq!(b.snapshot(Nanos::from_secs(1)).floor_tokens, 1);
    /// ```
    pub fn snapshot(&self, now: Nanos) -> RetryBudgetSnapshot {
        RetryBudgetSnapshot {
            balance: self.balance.load(Ordering::Relaxed),
            floor_tokens: floor_tokens(
                self.floor_tat.load(Ordering::Relaxed),
                now.max(Nanos::new(self.floor_seen.load(Ordering::Relaxed))),
                self.interval.into(),
                self.window.into(),
            ),
            retries_allowed: self.allowed.load(Ordering::Relaxed),
            retries_refused: self.refused.load(Ordering::Relaxed),
        }
    }
}

/// The balance after one deposit of `amount`, capped at `max_balance`.
#[inline]
const fn add_deposit(balance: u64, amount: u64, max_balance: u64) -> u64 {
    let sum = balance.saturating_add(amount);
    if sum < max_balance {
        sum
    } else if balance > max_balance {
        // Unreachable from `deposit`; a deposit never lowers the balance.
        balance
    } else {
        max_balance
    }
}

/// The balance after withdrawing one whole token, or `None` when it holds less.
#[inline]
const fn spend_deposit(balance: u64) -> Option<u64> {
    balance.checked_sub(MICRO_TOKENS)
}

/// The floor's next `tat` after one grant at `now`, or the refusal, when its newest grant was
/// at `seen`.
///
/// GCRA: the grant is the `interval` after `max(tat, now)`, and grants may run at most `window`
/// ahead of `now`. A `now` older than `seen` counts as no time passed: it is taken as `seen`,
/// and a refusal's `retry_after` still counts from the `now` given. u128 keeps `now + window`
/// and `tat + interval` exact near `u64::MAX`.
#[inline]
fn spend_floor(
    tat: u64,
    now: Nanos,
    seen: u64,
    interval: u64,
    window: u64,
) -> Result<u64, Rejected> {
    if interval == 0 {
        return Err(Rejected::new(Reason::RetryBudgetExhausted, None));
    }
    let given = u128::from(now.as_nanos());
    let now = given.max(u128::from(seen));
    let start = u128::from(tat).max(now);
    let next = start.saturating_add(u128::from(interval));
    let Ok(next_word) = u64::try_from(next) else {
        // No later `now` fits either: the clock cannot pass u64::MAX.
        return Err(Rejected::new(Reason::RetryBudgetExhausted, None));
    };
    let limit = now.saturating_add(u128::from(window));
    if next <= limit {
        return Ok(next_word);
    }
    // Refused, so tat > now: at now' = tat + interval - window the grant fits exactly, and
    // that is the first time it fits for an older clock too, since it is later than `seen`.
    let wait = next
        .saturating_sub(limit)
        .saturating_add(now.saturating_sub(given));
    Err(Rejected::new(
        Reason::RetryBudgetExhausted,
        Some(Nanos::new(u64::try_from(wait).unwrap_or(u64::MAX))),
    ))
}

/// Whole floor tokens at `now`: how many grants in a row would pass.
#[inline]
fn floor_tokens(tat: u64, now: Nanos, interval: u64, window: u64) -> u64 {
    let now = now.as_nanos();
    let start = tat.max(now);
    // Room ahead of `start` before grants would run past `now + window`.
    let room = u128::from(now)
        .saturating_add(u128::from(window))
        .saturating_sub(u128::from(start));
    // Near u64::MAX a grant cannot be stored: the floor holds only what fits below it.
    let storable = u128::from(u64::MAX).saturating_sub(u128::from(start));
    let room = room.min(storable);
    let tokens = room.checked_div(u128::from(interval)).unwrap_or(0);
    u64::try_from(tokens).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every floor decision for small rates, intervals, times and newest grant times, against
    /// the classic bucket: at `at = max(now, seen)` the floor holds `window - (tat - at)`
    /// nanoseconds of credit, a grant costs `interval`.
    #[test]
    fn floor_decisions_match_a_token_bucket_exhaustively() {
        for rate in 1..=4u64 {
            for interval in 1..=4u64 {
                let window = interval * rate;
                for tat in 0..=24u64 {
                    for now in 0..=24u64 {
                        for seen in [0, now / 2, now, now + 1, 12, 24] {
                            let at = now.max(seen);
                            let credit = window - (tat.saturating_sub(at)).min(window);
                            let spend = |now: u64| {
                                spend_floor(tat, Nanos::new(now), seen, interval, window)
                            };
                            let got = spend(now);
                            if tat.saturating_sub(at) <= window && credit >= interval {
                                assert_eq!(got, Ok(tat.max(at) + interval));
                            } else {
                                let after = got.unwrap_err().retry_after.unwrap().as_nanos();
                                assert_eq!(after, tat + interval - window - now);
                                // The promise: at `now + after` the same grant fits exactly.
                                assert!(spend(now + after).is_ok());
                                assert!(spend(now + after - 1).is_err());
                            }
                            let tokens = floor_tokens(tat, Nanos::new(at), interval, window);
                            let expected = if tat.saturating_sub(at) > window {
                                0
                            } else {
                                credit / interval
                            };
                            assert_eq!(tokens, expected);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn deposit_decisions_cap_and_spend_whole_tokens() {
        for balance in (0..=3 * MICRO_TOKENS).step_by(250_000) {
            for amount in [0, 1, 100_000, MICRO_TOKENS] {
                let max = 2 * MICRO_TOKENS;
                let next = add_deposit(balance, amount, max);
                assert!(next >= balance.min(max) && next <= max.max(balance));
                assert_eq!(spend_deposit(balance), balance.checked_sub(MICRO_TOKENS));
            }
        }
    }
}
