//! Token-bucket rate limiter: GCRA, exact for any rational rate, in three atomic words.
//!
//! The algorithm is the generic cell rate algorithm (GCRA) in its virtual-scheduling form
//! (ITU-T Recommendation I.371; ATM Forum Traffic Management 4.0), the form governor and
//! redis-cell use: the bucket keeps one number, the *theoretical arrival time* (TAT), the
//! moment it would be full again. A request for `n` tokens at `now` moves the TAT to
//! `max(TAT, now) + n × interval` and passes if the new TAT is at most one burst
//! (`capacity × interval`) ahead of `now`. Refill is implicit in the clock moving on.
//!
//! **Exact rates.** The interval `every / amount` is rarely whole nanoseconds (3 per second is
//! 333 333 333.3 ns, 7 per 10 ns is 1.43 ns), so it is never rounded: time is kept in units of
//! `1 / amount` ns, with the rate in lowest terms, where a token costs exactly `every` units.
//! Every rate from 10⁹ tokens per second down to 1 per 584 years is exact, and arithmetic is
//! `u128`. The only rounding is that `ready_at` and `retry_after` are whole nanoseconds,
//! rounded up (so they are never early). The common request, one that passes at once with the
//! scaled `now`, TAT and burst all below `2^64` (true at any rate of whole nanoseconds per
//! token, short of bursts spanning centuries or clocks near [`Nanos::MAX`]), takes a `u64` path
//! that gives the same answers, with the arithmetic done before the state is read: that keeps
//! the time between a caller's load and its CAS short. Targets without 64-bit atomics, where
//! flash counts more, leave it out.
//!
//! **State.** Such a TAT needs `64 + log2(amount)` bits to cover every `now` up to
//! [`Nanos::MAX`], which no single word holds once `amount > 1`, and 128-bit atomics fall back
//! to locks on most targets. So the TAT lives in two `AtomicU64` words: a *CAS word* holding its
//! low 40 bits and a 15-bit tag, and a *high word* holding `TAT >> 40`, which only ever grows
//! (`fetch_max`). All state changes are one CAS on the CAS word around the pure decision of
//! `gcra.rs`; the high word is raised (rarely: once per `2^40` units of TAT) *before* the CAS
//! that needs it. A reader decodes the high part as the largest value `<= high word` whose low
//! 15 bits equal the tag, so:
//! - driven from one thread, the high word always equals the TAT's high part: exact;
//! - the high word is never below the TAT's high part, so a decoded TAT is never early and
//!   the bucket never grants more than it should, whatever the interleaving. It is late only
//!   if a caller raised the high word and then lost its CAS to a caller whose `now` was at
//!   least `2^55 / amount` ns older (`amount` in lowest terms: over a year when the interval
//!   is whole nanoseconds, 36 ms at 999 999 999 per second, never under 8 ms): the bucket
//!   then counts the loser's request as taken, plus up to `2^40 / amount` ns of refill.
//!
//! A third word, *seen*, holds the newest `now` at which tokens were granted (see "Time that
//! runs backwards"). It cannot share the other two, which hold a TAT of up to 99 bits: how
//! far seen lies behind the TAT is bounded only by the longest reservation. It is stored
//! after the CAS of a grant whose `now` is newer than the seen it loaded, with a plain store;
//! racing grants may leave an older one of their times there, which only makes a later, older
//! `now` see less refill, never more.
//!
//! All three words start at 0, which decodes to TAT 0: a new bucket is full and
//! [`TokenBucket::new`] needs no clock.
//!
//! **Memory ordering.** The CAS word is loaded with `Acquire` and changed with `Release`, so a
//! reader that sees a TAT also sees the high-word raise made before it; the high word itself
//! is `Relaxed` (its `fetch_max` is ordered by the CAS that follows it). The seen word is
//! `Relaxed`: no value of it can make a decision more generous than one at the newest `now`
//! already given.
//!
//! **Time that runs backwards.** A `now` older than seen counts as no time passed: the bucket
//! is taken as it was at seen, so the tokens left there are still there (a clock that steps
//! back does not strand the rest of a burst), and refill resumes once the clock passes seen.
//! What the bucket reports counts from the `now` given, as deadlines do:
//! - a refusal's `retry_after` is how long until the same call passes on that clock, which
//!   includes the time the clock takes to reach seen, so "advance by `retry_after`" holds;
//! - a grant that waits is ready the same wait after `now` as it would be after seen;
//! - the snapshot's instants are those at which `available` changes on the caller's clock.
//!
//! Refusals and reads change nothing, so they leave seen where it is. Nothing wraps, panics or
//! corrupts.
//!
//! **Guarantee** *(hard)*: over any interval `[x, y]` of the bucket's time, the tokens granted in
//! it number at most `capacity + rate × (y - x)`. A grant's time is that of its decision (its
//! `now`, or seen if that is later): for `try_acquire` that instant, for `reserve` the instant
//! its wait ends, which is its `ready_at` when `now` is not older than seen. With a clock that
//! never runs backwards the bucket's time is the caller's. Each grant of `n` tokens at time `t`
//! claims the TAT span `[TAT' - n × interval, TAT']`, which lies inside `[t, t + burst]` (that
//! is why a waiting reservation may give up a fraction of a token, see
//! [`TokenBucket::reserve`]), and the spans of successive grants never overlap because the TAT
//! only grows. Spans inside `[x, y + burst]` add up to at most `(y - x) + burst`. Counted in
//! the callers' `now`s, once a clock has run backwards, it cannot hold: an older `now` that
//! counts as no time passed draws on tokens that a later `now` already saw.
//!
//! **Size.** 40 bytes: three atomic words and the rate in lowest terms (`every: u64`,
//! `amount: u32`, `capacity: u32`).
//!
//! ```
//! use stanchion::{Nanos, Reason, TokenBucket, TokenBucketConfig};
//!
//! // Bursts of up to 10, refilled at 1 token per 3 seconds.
//! let bucket = TokenBucket::new(TokenBucketConfig::new(10).refill(1, Nanos::from_secs(3))).unwrap();
//! let now = Nanos::from_secs(100);
//! assert_eq!(bucket.try_acquire(10, now), Ok(()));
//! let refused = bucket.try_acquire(2, now).unwrap_err();
//! assert_eq!(refused.reason, Reason::RateLimited);
//! assert_eq!(refused.retry_after, Some(Nanos::from_secs(6)));
//! assert_eq!(bucket.try_acquire(2, now + Nanos::from_secs(6)), Ok(()));
//! ```
//!
//! Firmware keeps one in a `static`:
//!
//! ```
//! use stanchion::{Nanos, TokenBucket, TokenBucketConfig};
//! static UPLINK: TokenBucket =
//!     match TokenBucket::new(TokenBucketConfig::new(5).refill(1, Nanos::from_millis(200))) {
//!         Ok(bucket) => bucket,
//!         Err(_) => panic!("invalid token bucket config"),
//!     };
//! assert_eq!(UPLINK.available(Nanos::ZERO), 5);
//! ```

mod gcra;

pub(crate) use gcra::{decode, Gcra, Grant, OWNER_SHIFT, PENDING, TAT_BITS};

use crate::sync::{const_fn, AtomicU64, Ordering};
use crate::{ConfigError, Nanos, Rejected};

/// Configuration of a [`TokenBucket`] (and of every bucket of a
/// [`KeyedLimiter`](crate::KeyedLimiter)): the burst and the refill rate.
///
/// The rate is `refill_amount` tokens every `refill_every`, so fractional rates are exact:
/// `refill(1, 3 s)`, `refill(7, 10 ns)`. It may be at most one token per nanosecond (10⁹ per
/// second). The default rate is one token per second.
///
/// ```
/// use stanchion::{Nanos, TokenBucketConfig};
/// let config = TokenBucketConfig::new(100).refill(50, Nanos::from_secs(1));
/// assert_eq!(config.capacity, 100);
/// assert_eq!((config.refill_amount, config.refill_every), (50, Nanos::from_secs(1)));
/// assert!(config.validate().is_ok());
/// assert_eq!(TokenBucketConfig::new(0).validate().unwrap_err().field, "capacity");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TokenBucketConfig {
    /// The burst: tokens a full bucket holds, and the most one request may take. At least 1.
    pub capacity: u32,
    /// Tokens added every `refill_every`. At least 1. Default 1.
    pub refill_amount: u32,
    /// The period in which `refill_amount` tokens are added. At least `refill_amount`
    /// nanoseconds (at most 10⁹ tokens per second). Default 1 s.
    pub refill_every: Nanos,
}

impl TokenBucketConfig {
    /// A bucket of `capacity` tokens, refilled at the default rate of one token per second.
    ///
    /// ```
    /// use stanchion::{Nanos, TokenBucketConfig};
    /// let config = TokenBucketConfig::new(3);
    /// assert_eq!((config.refill_amount, config.refill_every), (1, Nanos::from_secs(1)));
    /// ```
    pub const fn new(capacity: u32) -> TokenBucketConfig {
        TokenBucketConfig {
            capacity,
            refill_amount: 1,
            refill_every: Nanos::from_secs(1),
        }
    }

    /// Refill `amount` tokens every `every`, spread evenly (one every `every / amount`).
    ///
    /// ```
    /// use stanchion::{Nanos, TokenBucketConfig};
    /// let config = TokenBucketConfig::new(1).refill(7, Nanos::new(10));
    /// assert_eq!(config.refill_amount, 7);
    /// assert!(config.validate().is_ok());
    /// ```
    pub const fn refill(self, amount: u32, every: Nanos) -> TokenBucketConfig {
        TokenBucketConfig {
            refill_amount: amount,
            refill_every: every,
            ..self
        }
    }

    /// Checks every field, returning the first one out of range.
    ///
    /// ```
    /// use stanchion::{Nanos, TokenBucketConfig};
    /// let too_fast = TokenBucketConfig::new(1).refill(2, Nanos::new(1));
    /// assert_eq!(too_fast.validate().unwrap_err().field, "refill_amount");
    /// let never = TokenBucketConfig::new(1).refill(1, Nanos::ZERO);
    /// assert_eq!(never.validate().unwrap_err().field, "refill_every");
    /// ```
    pub const fn validate(&self) -> Result<(), ConfigError> {
        if self.capacity == 0 {
            return Err(ConfigError::new("capacity", "1..=4294967295"));
        }
        if self.refill_amount == 0 {
            return Err(ConfigError::new("refill_amount", "1..=4294967295"));
        }
        if self.refill_every.as_nanos() == 0 {
            return Err(ConfigError::new("refill_every", "at least 1 ns"));
        }
        if self.refill_amount as u64 > self.refill_every.as_nanos() {
            return Err(ConfigError::new(
                "refill_amount",
                "at most refill_every in nanoseconds (10^9 tokens per second)",
            ));
        }
        Ok(())
    }
}

/// A token bucket's state at one moment, for metrics and debugging.
///
/// ```
/// use stanchion::{Nanos, TokenBucket, TokenBucketConfig};
/// let bucket = TokenBucket::new(TokenBucketConfig::new(2).refill(1, Nanos::from_secs(1))).unwrap();
/// bucket.try_acquire(2, Nanos::ZERO).unwrap();
/// let snapshot = bucket.snapshot(Nanos::from_millis(500));
/// assert_eq!(snapshot.available, 0);
/// assert_eq!(snapshot.next_token_at, Some(Nanos::from_secs(1)));
/// assert_eq!(snapshot.full_at, Nanos::from_secs(2));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TokenBucketSnapshot {
    /// Whole tokens available now: `0..=capacity`, never negative, even when reservations
    /// have taken tokens ahead of time.
    pub available: u64,
    /// The burst the bucket was configured with.
    pub capacity: u32,
    /// When `available` next grows by one; `None` if the bucket is full.
    pub next_token_at: Option<Nanos>,
    /// When the bucket will be full again if nothing more is taken; `now` if it is full.
    pub full_at: Nanos,
}

impl TokenBucketSnapshot {
    /// The snapshot for a caller at `now` of a bucket taken as at `at` (`now`, or the newest
    /// grant's time if that is later). A bucket full at `at` is full at `now`; every other
    /// instant is one the caller's clock reaches before `available` changes, so it is the same
    /// on either clock.
    pub(crate) fn seen_at(gcra: Gcra, tat: u128, now: Nanos, at: Nanos) -> TokenBucketSnapshot {
        TokenBucketSnapshot {
            available: gcra.available(tat, at),
            capacity: gcra.capacity(),
            next_token_at: gcra.next_token_at(tat, at),
            full_at: if gcra.is_full(tat, at) {
                now
            } else {
                gcra::saturate(gcra.full_at(tat, at))
            },
        }
    }
}

/// A lock-free token-bucket rate limiter (see the [module docs](self) for the algorithm).
///
/// Every method takes `&self`: share it by reference, in an `Arc`, or in a `static`.
#[derive(Debug)]
pub struct TokenBucket {
    /// Tag and low bits of the TAT; the word every change is a CAS on.
    word: AtomicU64,
    /// The TAT's high part, raised before any CAS that needs more.
    high: AtomicU64,
    /// The newest `now` of a grant, in nanoseconds: an older `now` is taken as this one.
    seen: AtomicU64,
    gcra: Gcra,
}

impl TokenBucket {
    const_fn! {
        /// A full bucket with `config`, or the first config error.
        ///
        /// ```
        /// use stanchion::{Nanos, TokenBucket, TokenBucketConfig};
        /// let bucket = TokenBucket::new(TokenBucketConfig::new(4)).unwrap();
        /// assert_eq!(bucket.available(Nanos::ZERO), 4);
        /// assert!(TokenBucket::new(TokenBucketConfig::new(0)).is_err());
        /// ```
        pub fn new(config: TokenBucketConfig) -> Result<TokenBucket, ConfigError> {
            match config.validate() {
                Ok(()) => Ok(TokenBucket {
                    word: AtomicU64::new(0),
                    high: AtomicU64::new(0),
                    seen: AtomicU64::new(0),
                    gcra: Gcra::new(config.capacity, config.refill_amount, config.refill_every),
                }),
                Err(error) => Err(error),
            }
        }
    }

    /// Takes `n` tokens now, or says why not and when to retry.
    ///
    /// `n == 0` always passes. `n > capacity` can never pass: `InsufficientCapacity` with
    /// `retry_after: None`. Otherwise a refusal is `RateLimited` with the exact wait after
    /// which the same call passes, all else equal. A refusal takes nothing.
    ///
    /// ```
    /// use stanchion::{Nanos, Reason, TokenBucket, TokenBucketConfig};
    /// let bucket = TokenBucket::new(TokenBucketConfig::new(1).refill(7, Nanos::new(10))).unwrap();
    /// assert!(bucket.try_acquire(1, Nanos::ZERO).is_ok());
    /// let refused = bucket.try_acquire(1, Nanos::ZERO).unwrap_err();
    /// assert_eq!(refused.retry_after, Some(Nanos::new(2))); // 10/7 ns, rounded up
    /// assert!(bucket.try_acquire(1, Nanos::new(2)).is_ok());
    /// let too_big = bucket.try_acquire(2, Nanos::new(2)).unwrap_err();
    /// assert_eq!((too_big.reason, too_big.retry_after), (Reason::InsufficientCapacity, None));
    /// ```
    #[inline]
    pub fn try_acquire(&self, n: u32, now: Nanos) -> Result<(), Rejected> {
        self.update(n, now, Nanos::ZERO).map(|_| ())
    }

    /// Takes `n` tokens now, to be used at the returned `ready_at`; the caller waits (sleeps)
    /// until then. Refused, taking nothing, if `ready_at` would be more than `max_wait` away.
    ///
    /// Reservations are served in the order made: with a clock that does not run backwards,
    /// a later reservation gets a later or equal `ready_at`. A refusal's `retry_after` is how
    /// much later the same reservation would fit within `max_wait`. `n == 0` returns `now`
    /// and takes nothing; `n > capacity` is `InsufficientCapacity`.
    ///
    /// A `now` older than the newest grant's counts as no time passed, and the wait runs from
    /// the `now` given (see the [module docs](self)):
    ///
    /// ```
    /// use stanchion::{Nanos, TokenBucket, TokenBucketConfig};
    /// let bucket = TokenBucket::new(TokenBucketConfig::new(1).refill(1, Nanos::from_secs(1))).unwrap();
    /// let max_wait = Nanos::from_secs(5);
    /// assert_eq!(bucket.reserve(1, Nanos::from_secs(100), max_wait), Ok(Nanos::from_secs(100)));
    /// // The clock steps back to 40 s: the next token is still a second away.
    /// assert_eq!(bucket.reserve(1, Nanos::from_secs(40), max_wait), Ok(Nanos::from_secs(41)));
    /// ```
    ///
    /// A reservation that has to wait leaves the bucket holding at most `capacity - n` tokens
    /// at its `ready_at`. That only matters when `n == capacity` and the rate does not divide
    /// whole nanoseconds, and then costs under one token; it keeps the hard guarantee true of
    /// `ready_at` times, which are whole nanoseconds.
    ///
    /// ```
    /// use stanchion::{Nanos, Reason, TokenBucket, TokenBucketConfig};
    /// let bucket = TokenBucket::new(TokenBucketConfig::new(1).refill(1, Nanos::from_secs(1))).unwrap();
    /// let max_wait = Nanos::from_secs(2);
    /// assert_eq!(bucket.reserve(1, Nanos::ZERO, max_wait), Ok(Nanos::ZERO));
    /// assert_eq!(bucket.reserve(1, Nanos::ZERO, max_wait), Ok(Nanos::from_secs(1)));
    /// assert_eq!(bucket.reserve(1, Nanos::ZERO, max_wait), Ok(Nanos::from_secs(2)));
    /// let refused = bucket.reserve(1, Nanos::ZERO, max_wait).unwrap_err();
    /// assert_eq!((refused.reason, refused.retry_after), (Reason::RateLimited, Some(Nanos::from_secs(1))));
    /// ```
    #[inline]
    pub fn reserve(&self, n: u32, now: Nanos, max_wait: Nanos) -> Result<Nanos, Rejected> {
        self.update(n, now, max_wait)
    }

    /// Whole tokens available at `now`, in `0..=capacity` (never negative).
    ///
    /// ```
    /// use stanchion::{Nanos, TokenBucket, TokenBucketConfig};
    /// let bucket = TokenBucket::new(TokenBucketConfig::new(3).refill(1, Nanos::from_secs(1))).unwrap();
    /// bucket.try_acquire(3, Nanos::ZERO).unwrap();
    /// assert_eq!(bucket.available(Nanos::from_millis(2500)), 2);
    /// ```
    pub fn available(&self, now: Nanos) -> u64 {
        let (tat, at) = self.load(now);
        self.gcra.available(tat, at)
    }

    /// The bucket's state at `now`.
    ///
    /// ```
    /// use stanchion::{Nanos, TokenBucket, TokenBucketConfig};
    /// let bucket = TokenBucket::new(TokenBucketConfig::new(3)).unwrap();
    /// let snapshot = bucket.snapshot(Nanos::ZERO);
    /// assert_eq!((snapshot.available, snapshot.capacity, snapshot.next_token_at), (3, 3, None));
    /// ```
    pub fn snapshot(&self, now: Nanos) -> TokenBucketSnapshot {
        let (tat, at) = self.load(now);
        TokenBucketSnapshot::seen_at(self.gcra, tat, now, at)
    }

    /// The config, with the rate in lowest terms (`refill(10, 20 ns)` reads back as
    /// `refill(1, 2 ns)`).
    ///
    /// ```
    /// use stanchion::{Nanos, TokenBucket, TokenBucketConfig};
    /// let bucket = TokenBucket::new(TokenBucketConfig::new(5).refill(10, Nanos::new(20))).unwrap();
    /// assert_eq!(bucket.config(), TokenBucketConfig::new(5).refill(1, Nanos::new(2)));
    /// ```
    pub fn config(&self) -> TokenBucketConfig {
        config_of(self.gcra)
    }

    /// The TAT, and the time a caller at `now` sees the bucket at.
    fn load(&self, now: Nanos) -> (u128, Nanos) {
        let word = self.word.load(Ordering::Acquire);
        let tat = decode(word, self.high.load(Ordering::Relaxed));
        (tat, now.max(Nanos::new(self.seen.load(Ordering::Relaxed))))
    }

    /// Keeps `now` as the newest grant's time if it is newer than `seen`, the time loaded
    /// before the grant. A plain store: racing grants may leave an older one of their times,
    /// which only makes a later, older `now` see less refill, never more.
    #[inline]
    fn saw(&self, now: Nanos, seen: u64) {
        if now.as_nanos() > seen {
            self.seen.store(now.as_nanos(), Ordering::Relaxed);
        }
    }

    /// The common request (it passes at once, in 64-bit numbers) in a short loop that may be
    /// inlined into the caller; anything else, and any state the short loop cannot decide,
    /// goes to [`TokenBucket::update_exact`].
    #[cfg(target_has_atomic = "64")]
    #[inline]
    fn update(&self, n: u32, now: Nanos, max_wait: Nanos) -> Result<Nanos, Rejected> {
        let seen = self.seen.load(Ordering::Relaxed);
        let Some(admit) = self.gcra.admit(n, now.max(Nanos::new(seen))) else {
            let word = self.word.load(Ordering::Acquire);
            return self.update_exact(word, n, now, seen, max_wait);
        };
        let mut word = self.word.load(Ordering::Acquire);
        loop {
            let high = self.high.load(Ordering::Relaxed);
            let Some(tat) = admit.tat(word, high) else {
                return self.update_exact(word, n, now, seen, max_wait);
            };
            let next = prepare_u64(&self.high, high, tat);
            match self
                .word
                .compare_exchange_weak(word, next, Ordering::Release, Ordering::Acquire)
            {
                Ok(_) => {
                    self.saw(now, seen);
                    return Ok(now);
                }
                Err(actual) => word = actual,
            }
        }
    }

    /// Without 64-bit atomics every request takes the exact decision, which gives the same
    /// answers as the short loop above: that loop keeps a host's load-to-CAS window short,
    /// where here each atomic operation masks interrupts, and it would cost its size in flash
    /// a second time.
    #[cfg(not(target_has_atomic = "64"))]
    #[inline]
    fn update(&self, n: u32, now: Nanos, max_wait: Nanos) -> Result<Nanos, Rejected> {
        let seen = self.seen.load(Ordering::Relaxed);
        self.update_exact(self.word.load(Ordering::Acquire), n, now, seen, max_wait)
    }

    /// The CAS loop around the exact decision, starting from `word`, the CAS word as loaded,
    /// and `seen`, the newest grant's time as loaded before it.
    #[inline(never)]
    fn update_exact(
        &self,
        mut word: u64,
        n: u32,
        now: Nanos,
        seen: u64,
        max_wait: Nanos,
    ) -> Result<Nanos, Rejected> {
        let seen_at = Nanos::new(seen);
        loop {
            let high = self.high.load(Ordering::Relaxed);
            let tat = decode(word, high);
            let Grant { ready_at, tat } = self.gcra.decide_seen(tat, n, now, seen_at, max_wait)?;
            let Some(tat) = tat else {
                return Ok(ready_at);
            };
            let next = prepare(&self.high, high, tat);
            match self
                .word
                .compare_exchange_weak(word, next, Ordering::Release, Ordering::Acquire)
            {
                Ok(_) => {
                    self.saw(now, seen);
                    return Ok(ready_at);
                }
                Err(actual) => word = actual,
            }
        }
    }
}

pub(crate) fn config_of(gcra: Gcra) -> TokenBucketConfig {
    TokenBucketConfig::new(gcra.capacity()).refill(gcra.amount(), gcra.every())
}

/// The CAS-word bits for `tat`, after raising the high word if `tat` needs a larger high part
/// than the `seen` one. Raising before the CAS keeps the high word at or above the high part
/// of whatever TAT the CAS word holds.
pub(crate) fn prepare(high: &AtomicU64, seen: u64, tat: u128) -> u64 {
    let (bits, tat_high) = gcra::encode(tat);
    if tat_high > seen {
        raise(high, tat_high);
    }
    bits
}

/// [`prepare`] for a TAT below `2^64`.
#[inline]
pub(crate) fn prepare_u64(high: &AtomicU64, seen: u64, tat: u64) -> u64 {
    let (bits, tat_high) = gcra::encode_u64(tat);
    if tat_high > seen {
        raise(high, tat_high);
    }
    bits
}

/// Raises the high word to `tat_high`: once per `2^40` scaled units of TAT, so kept out of line.
#[cold]
#[inline(never)]
fn raise(high: &AtomicU64, tat_high: u64) {
    high.fetch_max(tat_high, Ordering::Relaxed);
}
