//! `NativeRateLimiter`: the core's `TokenBucket` (GCRA).

use std::cell::RefCell;
use std::rc::Rc;

use napi::bindgen_prelude::{BigInt, Either, Null};
use napi_derive::napi;
use stanchion::{Nanos, TokenBucket, TokenBucketConfig, TokenBucketSnapshot};

use crate::code;
use crate::fast::{self, Registry};
use crate::time::{bigint, duration, instant, millis, nanos_of_bigint};

/// A token bucket's config: `capacity` tokens of burst, `refillAmount` tokens every
/// `refillEvery` (`bigint` nanoseconds; default one second).
#[napi(object)]
pub struct NativeBucketConfig {
    /// The burst, >= 1.
    pub capacity: u32,
    /// Tokens added every `refillEvery` (default 1).
    pub refill_amount: Option<u32>,
    /// The refill period (default 1 s).
    pub refill_every: Option<BigInt>,
}

/// The config, every field the caller left out at the core's default (`TokenBucketConfig::new`).
pub(crate) fn config(o: &NativeBucketConfig) -> TokenBucketConfig {
    let defaults = TokenBucketConfig::new(o.capacity);
    defaults.refill(
        o.refill_amount.unwrap_or(defaults.refill_amount),
        duration(&o.refill_every).unwrap_or(defaults.refill_every),
    )
}

/// A bucket at one moment. Instants are milliseconds.
#[napi(object)]
pub struct NativeBucketSnapshot {
    /// Whole tokens now, never negative.
    pub available: f64,
    /// The burst.
    pub capacity: u32,
    /// When `available` next grows; null when full.
    pub next_token_at: Either<f64, Null>,
    /// When the bucket is full again if nothing more is taken.
    pub full_at: f64,
}

impl From<TokenBucketSnapshot> for NativeBucketSnapshot {
    fn from(s: TokenBucketSnapshot) -> Self {
        NativeBucketSnapshot {
            available: s.available as f64,
            capacity: s.capacity,
            next_token_at: crate::time::nullable(s.next_token_at),
            full_at: millis(s.full_at),
        }
    }
}

/// A bucket's instants at one moment, in exact nanoseconds.
#[napi(object)]
pub struct NativeBucketTimesNs {
    /// When `available` next grows; null when full.
    pub next_token_at: Either<BigInt, Null>,
    /// When the bucket is full again if nothing more is taken.
    pub full_at: BigInt,
}

impl From<TokenBucketSnapshot> for NativeBucketTimesNs {
    fn from(s: TokenBucketSnapshot) -> Self {
        NativeBucketTimesNs {
            next_token_at: s
                .next_token_at
                .map_or(Either::B(Null), |n| Either::A(bigint(n))),
            full_at: bigint(s.full_at),
        }
    }
}

/// A reservation's answer in exact nanoseconds: the instant to proceed at, or a refusal code.
pub(crate) fn reservation_ns(
    answer: Result<Nanos, stanchion::Rejected>,
    last: &code::LastRetryAfter,
) -> Either<BigInt, f64> {
    match answer {
        Ok(ready_at) => Either::A(bigint(ready_at)),
        Err(refusal) => Either::B(code::refused(&refusal, None, last)),
    }
}

/// The `max_wait` of a reservation: `bigint` nanoseconds, or none for no limit.
pub(crate) fn max_wait(ns: &Option<BigInt>) -> Nanos {
    ns.as_ref()
        .map_or(Nanos::new(u64::MAX), |ns| Nanos::new(nanos_of_bigint(ns)))
}

/// A bucket and the `retry_after` of its last refusal.
pub(crate) struct Bucket {
    bucket: TokenBucket,
    retry_after: code::LastRetryAfter,
}

thread_local! {
    static BUCKETS: RefCell<Registry<Bucket>> = const { RefCell::new(Registry::new()) };
}

impl Bucket {
    fn acquire(&self, n: u32, now: Nanos) -> f64 {
        match self.bucket.try_acquire(n, now) {
            Ok(()) => 0.0,
            Err(refusal) => code::refused(&refusal, None, &self.retry_after),
        }
    }

    fn reserve(&self, n: u32, now: Nanos, max_wait: Nanos) -> f64 {
        match self.bucket.reserve(n, now, max_wait) {
            Ok(ready_at) => millis(ready_at),
            Err(refusal) => code::refused(&refusal, None, &self.retry_after),
        }
    }
}

/// `tryAcquire` over the registers: handle, n, now (NaN: native clock). A refusal's
/// `retry_after` goes to register 7.
#[napi]
pub fn fast_bucket_acquire() -> f64 {
    fast::with(&BUCKETS, f64::NAN, |b| {
        let answer = b.acquire(fast::u32_reg(1), fast::instant_reg(2));
        fast::set_reg(7, b.retry_after.ms());
        answer
    })
}

/// `reserve` over the registers: handle, n, now (NaN: native clock), max wait (ms; infinite
/// for none). Writes the instant used to register 6 and a refusal's `retry_after` to 7.
#[napi]
pub fn fast_bucket_reserve() -> f64 {
    fast::with(&BUCKETS, f64::NAN, |b| {
        let now = fast::instant_reg(2);
        fast::set_reg(6, millis(now));
        let answer = b.reserve(fast::u32_reg(1), now, crate::time::of_millis(fast::reg(3)));
        fast::set_reg(7, b.retry_after.ms());
        answer
    })
}

/// The core's `TokenBucket` with its answers packed as numbers (see `code.rs`).
#[napi]
pub struct NativeRateLimiter {
    inner: Rc<Bucket>,
    handle: u32,
}

impl Drop for NativeRateLimiter {
    fn drop(&mut self) {
        let handle = self.handle;
        let _ = BUCKETS.try_with(|table| table.borrow_mut().remove(handle));
    }
}

#[napi]
impl NativeRateLimiter {
    /// A full bucket, or an error naming the invalid field.
    #[napi(constructor)]
    pub fn new(config: NativeBucketConfig) -> napi::Result<Self> {
        let inner = Rc::new(Bucket {
            bucket: TokenBucket::new(self::config(&config)).map_err(code::config_error)?,
            retry_after: code::LastRetryAfter::new(),
        });
        let handle = BUCKETS.with(|table| table.borrow_mut().insert(Rc::clone(&inner)));
        Ok(NativeRateLimiter { inner, handle })
    }

    /// The handle the `fastBucket*` functions take in register 0.
    #[napi(getter)]
    pub fn handle(&self) -> u32 {
        self.handle
    }

    /// Takes `n` tokens now: 0 when admitted, else a refusal code.
    #[napi]
    pub fn try_acquire(&self, n: u32, now: Either<f64, BigInt>) -> f64 {
        self.inner.acquire(n, instant(&now))
    }

    /// Reserves `n` tokens: the instant (ms) to proceed at, or a refusal code (< 0).
    #[napi]
    pub fn reserve(&self, n: u32, now: Either<f64, BigInt>, max_wait: Option<BigInt>) -> f64 {
        self.inner
            .reserve(n, instant(&now), self::max_wait(&max_wait))
    }

    /// Reserves `n` tokens: the instant to proceed at in exact nanoseconds, or a refusal code.
    #[napi]
    pub fn reserve_ns(
        &self,
        n: u32,
        now: Either<f64, BigInt>,
        max_wait: Option<BigInt>,
    ) -> Either<BigInt, f64> {
        let answer = self
            .inner
            .bucket
            .reserve(n, instant(&now), self::max_wait(&max_wait));
        reservation_ns(answer, &self.inner.retry_after)
    }

    /// Whole tokens available now.
    #[napi]
    pub fn available(&self, now: Either<f64, BigInt>) -> f64 {
        self.inner.bucket.available(instant(&now)) as f64
    }

    /// The bucket now.
    #[napi]
    pub fn snapshot(&self, now: Either<f64, BigInt>) -> NativeBucketSnapshot {
        self.inner.bucket.snapshot(instant(&now)).into()
    }

    /// The bucket's instants now, in exact nanoseconds.
    #[napi]
    pub fn times_ns(&self, now: Either<f64, BigInt>) -> NativeBucketTimesNs {
        self.inner.bucket.snapshot(instant(&now)).into()
    }

    /// The `retry_after` of the last refusal, in milliseconds; NaN when waiting cannot help.
    #[napi(getter)]
    pub fn retry_after(&self) -> f64 {
        self.inner.retry_after.ms()
    }

    /// The `retry_after` of the last refusal, in exact nanoseconds; null when waiting cannot
    /// help.
    #[napi(getter)]
    pub fn retry_after_ns(&self) -> Option<BigInt> {
        self.inner.retry_after.ns()
    }
}
