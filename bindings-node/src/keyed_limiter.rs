//! `NativeKeyedRateLimiter`: the core's `KeyedLimiter<N>` for each table size `N` the addon
//! offers (`keyedSizes()`), boxed behind the core's `KeyedTable`.

use napi::bindgen_prelude::{BigInt, Either, Either3};
use napi_derive::napi;
use stanchion::keyed_limiter::KeyedTable;
use stanchion::{key_of_bytes, ConfigError, KeyedLimiter, TableFullPolicy, TokenBucketConfig};

use crate::code;
use crate::time::{instant, millis, nanos_of_bigint};
use crate::token_bucket::{NativeBucketConfig, NativeBucketSnapshot, NativeBucketTimesNs};

/// A key: a string (hashed with the core's `key_of_bytes`, FNV-1a 64 of its UTF-8), a
/// non-negative integer `number`, or a `bigint` (both taken as the `u64` key itself).
type Key = Either3<String, f64, BigInt>;

fn key(key: &Key) -> u64 {
    match key {
        Either3::A(text) => key_of_bytes(text.as_bytes()),
        Either3::B(number) => *number as u64,
        Either3::C(big) => nanos_of_bigint(big),
    }
}

/// The table sizes offered: every size from 1 to 16, which covers the core's probe window
/// (`keyed_limiter::MAX_PROBE`, the largest size a conformance file may use) so that a small
/// table is exactly the size asked for, then every power of two up to 65536. Each is one
/// monomorphised `KeyedLimiter<N>`, reached through the core's `KeyedTable`.
macro_rules! sizes {
    ($($n:literal)*) => {
        const SIZES: &[u32] = &[$($n),*];

        fn table(
            slots: u32,
            config: TokenBucketConfig,
            policy: TableFullPolicy,
        ) -> Result<Box<dyn KeyedTable>, ConfigError> {
            match slots {
                $($n => Ok(Box::new(KeyedLimiter::<$n>::new(config, policy)?)),)*
                _ => Err(ConfigError::new("max_keys", "a table size the addon offers")),
            }
        }
    };
}

sizes!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 32 64 128 256 512 1024 2048 4096 8192 16384 32768 65536);

const _: () = assert!(stanchion::keyed_limiter::MAX_PROBE <= 16);

/// The table sizes `NativeKeyedRateLimiter` offers, smallest first.
#[napi]
pub fn keyed_sizes() -> Vec<u32> {
    SIZES.to_vec()
}

/// A keyed limiter's table: `slots` buckets (one of `keyedSizes()`), and what a new key gets when
/// every slot it may use holds an active key.
#[napi(object)]
pub struct NativeKeyedConfig {
    /// Every key's bucket.
    pub bucket: NativeBucketConfig,
    /// The table size: one of `keyedSizes()`.
    pub slots: u32,
    /// Admit untracked instead of refusing with `table_full`.
    pub admit_when_full: bool,
}

/// The core's `KeyedLimiter` with its answers packed as numbers (see `code.rs`).
#[napi]
pub struct NativeKeyedRateLimiter {
    table: Box<dyn KeyedTable>,
    retry_after: code::LastRetryAfter,
}

#[napi]
impl NativeKeyedRateLimiter {
    /// A table of full buckets, or an error naming the invalid field.
    #[napi(constructor)]
    pub fn new(config: NativeKeyedConfig) -> napi::Result<Self> {
        let policy = if config.admit_when_full {
            TableFullPolicy::Admit
        } else {
            TableFullPolicy::Reject
        };
        let bucket = crate::token_bucket::config(&config.bucket);
        Ok(NativeKeyedRateLimiter {
            table: table(config.slots, bucket, policy).map_err(code::config_error)?,
            retry_after: code::LastRetryAfter::new(),
        })
    }

    /// Takes `n` tokens from `key`'s bucket: 0 when admitted, else a refusal code.
    #[napi]
    pub fn try_acquire(
        &self,
        key: Either3<String, f64, BigInt>,
        n: u32,
        now: Either<f64, BigInt>,
    ) -> f64 {
        match self.table.try_acquire(self::key(&key), n, instant(&now)) {
            Ok(()) => 0.0,
            Err(refusal) => code::refused(&refusal, None, &self.retry_after),
        }
    }

    /// Reserves `n` tokens of `key`: the instant (ms) to proceed at, or a refusal code (< 0).
    #[napi]
    pub fn reserve(
        &self,
        key: Either3<String, f64, BigInt>,
        n: u32,
        now: Either<f64, BigInt>,
        max_wait: Option<BigInt>,
    ) -> f64 {
        let max_wait = crate::token_bucket::max_wait(&max_wait);
        match self
            .table
            .reserve(self::key(&key), n, instant(&now), max_wait)
        {
            Ok(ready_at) => millis(ready_at),
            Err(refusal) => code::refused(&refusal, None, &self.retry_after),
        }
    }

    /// Reserves `n` tokens of `key`: the instant to proceed at in exact nanoseconds, or a
    /// refusal code.
    #[napi]
    pub fn reserve_ns(
        &self,
        key: Either3<String, f64, BigInt>,
        n: u32,
        now: Either<f64, BigInt>,
        max_wait: Option<BigInt>,
    ) -> Either<BigInt, f64> {
        let max_wait = crate::token_bucket::max_wait(&max_wait);
        let answer = self
            .table
            .reserve(self::key(&key), n, instant(&now), max_wait);
        crate::token_bucket::reservation_ns(answer, &self.retry_after)
    }

    /// Whole tokens available to `key` now.
    #[napi]
    pub fn available(&self, key: Either3<String, f64, BigInt>, now: Either<f64, BigInt>) -> f64 {
        self.table.available(self::key(&key), instant(&now)) as f64
    }

    /// `key`'s bucket now.
    #[napi]
    pub fn snapshot(
        &self,
        key: Either3<String, f64, BigInt>,
        now: Either<f64, BigInt>,
    ) -> NativeBucketSnapshot {
        self.table.snapshot(self::key(&key), instant(&now)).into()
    }

    /// `key`'s instants now, in exact nanoseconds.
    #[napi]
    pub fn times_ns(
        &self,
        key: Either3<String, f64, BigInt>,
        now: Either<f64, BigInt>,
    ) -> NativeBucketTimesNs {
        self.table.snapshot(self::key(&key), instant(&now)).into()
    }

    /// Slots whose bucket is not full now.
    #[napi]
    pub fn active_keys(&self, now: Either<f64, BigInt>) -> u32 {
        self.table.active_keys(instant(&now)) as u32
    }

    /// The `retry_after` of the last refusal, in milliseconds; NaN when waiting cannot help.
    #[napi(getter)]
    pub fn retry_after(&self) -> f64 {
        self.retry_after.ms()
    }

    /// The `retry_after` of the last refusal, in exact nanoseconds; null when waiting cannot
    /// help.
    #[napi(getter)]
    pub fn retry_after_ns(&self) -> Option<BigInt> {
        self.retry_after.ns()
    }
}
