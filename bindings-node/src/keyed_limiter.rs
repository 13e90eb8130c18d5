//! `NativeKeyedRateLimiter`: the core's `KeyedLimiter<N>`, with `N` the power of two that
//! `maxKeys` rounds up to, one monomorphised size per power from 1 to 65536, boxed.

use std::cell::Cell;

use napi::bindgen_prelude::{BigInt, Either, Either3};
use napi_derive::napi;
use stanchion::keyed_limiter::KeyedTable;
use stanchion::{key_of_bytes, ConfigError, KeyedLimiter, TableFullPolicy, TokenBucketConfig};

use crate::code;
use crate::time::{instant, millis, nanos_of_bigint};
use crate::token_bucket::{NativeBucketConfig, NativeBucketSnapshot};

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

fn boxed<const N: usize>(
    config: TokenBucketConfig,
    policy: TableFullPolicy,
) -> Result<Box<dyn KeyedTable>, ConfigError> {
    Ok(Box::new(KeyedLimiter::<N>::new(config, policy)?))
}

/// A table of `slots` (a power of two up to 65536) buckets.
fn table(
    slots: u32,
    config: TokenBucketConfig,
    policy: TableFullPolicy,
) -> Result<Box<dyn KeyedTable>, ConfigError> {
    match slots {
        1 => boxed::<1>(config, policy),
        2 => boxed::<2>(config, policy),
        4 => boxed::<4>(config, policy),
        8 => boxed::<8>(config, policy),
        16 => boxed::<16>(config, policy),
        32 => boxed::<32>(config, policy),
        64 => boxed::<64>(config, policy),
        128 => boxed::<128>(config, policy),
        256 => boxed::<256>(config, policy),
        512 => boxed::<512>(config, policy),
        1024 => boxed::<1024>(config, policy),
        2048 => boxed::<2048>(config, policy),
        4096 => boxed::<4096>(config, policy),
        8192 => boxed::<8192>(config, policy),
        16384 => boxed::<16384>(config, policy),
        32768 => boxed::<32768>(config, policy),
        65536 => boxed::<65536>(config, policy),
        _ => Err(ConfigError::new("max_keys", "1..=65536")),
    }
}

/// A keyed limiter's table: `slots` buckets (a power of two), and what a new key gets when
/// every slot it may use holds an active key.
#[napi(object)]
pub struct NativeKeyedConfig {
    /// Every key's bucket.
    pub bucket: NativeBucketConfig,
    /// The table size: a power of two in 1..=65536.
    pub slots: u32,
    /// Admit untracked instead of refusing with `table_full`.
    pub admit_when_full: bool,
}

/// The core's `KeyedLimiter` with its answers packed as numbers (see `code.rs`).
#[napi]
pub struct NativeKeyedRateLimiter {
    table: Box<dyn KeyedTable>,
    retry_after: Cell<f64>,
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
            retry_after: Cell::new(f64::NAN),
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

    /// Slots whose bucket is not full now.
    #[napi]
    pub fn active_keys(&self, now: Either<f64, BigInt>) -> u32 {
        self.table.active_keys(instant(&now)) as u32
    }

    /// The `retry_after` of the last refusal, in milliseconds; NaN when waiting cannot help.
    #[napi(getter)]
    pub fn retry_after(&self) -> f64 {
        self.retry_after.get()
    }
}
