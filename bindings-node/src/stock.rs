//! The core's `Stock` and the client-side rules of the fleet quota for `stanchion/redis`'s
//! `FleetQuota` (`docs/semantics.md` §9): its bounds and defaults, the check of its config,
//! and which bucket a take starts at. The script (`redis/scripts/quota.lua`) decides every
//! take on the server; a local batch is handed out from a core `Stock`.
//!
//! The quota's bounds, defaults and checks are the core's (`stanchion::fleet::quota`), which
//! the Rust client (`stanchion-redis`) and the Python binding use too; the quota's conformance
//! scenarios (`redis/conformance/quota/`) pin them alike in every language.

use std::cell::Cell;

use napi::bindgen_prelude::BigInt;
use napi_derive::napi;
use stanchion::fleet::quota::{
    self, DEFAULT_BATCH, DEFAULT_ID_MEMORY, MAX_BUCKETS, MAX_REQUEST_ID_LEN, MAX_UNITS,
};
use stanchion::fleet::MAX_MILLIS;
use stanchion::{key_of_bytes, rng, ConfigError, Nanos, Stock};

use crate::code;
use crate::time::{bigint, nanos_of_bigint};

const NANOS_PER_MILLI: u64 = 1_000_000;

/// The fleet quota's bounds and defaults.
#[napi(object)]
pub struct QuotaDefaults {
    /// The most buckets: 1024.
    pub max_buckets: u32,
    /// The largest `n`, `batch` and count: 2^53 - 1.
    pub max_units: f64,
    /// The longest request id, bytes: 256.
    pub max_request_id_len: u32,
    /// How long request ids are remembered by default, ns (10 minutes).
    pub id_memory: BigInt,
    /// The longest id memory, ns (2^40 ms).
    pub max_id_memory: BigInt,
    /// The default local batch: 100.
    pub batch: f64,
}

/// The fleet quota's bounds and defaults.
#[napi]
pub fn quota_defaults() -> QuotaDefaults {
    QuotaDefaults {
        max_buckets: MAX_BUCKETS,
        max_units: MAX_UNITS as f64,
        max_request_id_len: MAX_REQUEST_ID_LEN as u32,
        id_memory: bigint(DEFAULT_ID_MEMORY),
        max_id_memory: BigInt::from(MAX_MILLIS * NANOS_PER_MILLI),
        batch: DEFAULT_BATCH as f64,
    }
}

/// Checks a quota's config as the reference's `FleetQuotaConfig::validate` does, field by
/// field in its order (`buckets`, `id_memory`, `batch`), and returns the id memory in whole
/// milliseconds (rounded down), the unit the script takes it in.
#[napi]
pub fn quota_check_config(buckets: u32, id_memory: BigInt, batch: f64) -> napi::Result<f64> {
    check_config(buckets, nanos_of_bigint(&id_memory), batch)
        .map(|ms| ms as f64)
        .map_err(code::config_error)
}

fn check_config(buckets: u32, id_memory: u64, batch: f64) -> Result<u64, ConfigError> {
    quota::check_buckets(buckets)?;
    let memory = quota::id_memory_millis(Nanos::new(id_memory))?;
    // A whole number in range converts exactly; anything else (NaN, a fraction, out of range)
    // is checked as 0, which the core refuses with the same message.
    let whole = (1.0..=MAX_UNITS as f64).contains(&batch) && batch.fract() == 0.0;
    quota::check_units("batch", if whole { batch as u64 } else { 0 })?;
    Ok(memory)
}

/// Which bucket of a quota each take starts at: the bucket a request id names, or a random
/// one for a take without an id.
#[napi]
pub struct NativeQuotaRing {
    buckets: u32,
    seed: u64,
    draws: Cell<u64>,
}

#[napi]
impl NativeQuotaRing {
    /// The ring of `buckets` buckets (1 to 1024), drawing random starts from `seed`.
    #[napi(constructor)]
    pub fn new(buckets: u32, seed: BigInt) -> napi::Result<Self> {
        quota::check_buckets(buckets).map_err(code::config_error)?;
        Ok(NativeQuotaRing {
            buckets,
            seed: nanos_of_bigint(&seed),
            draws: Cell::new(0),
        })
    }

    /// The bucket a take with `request_id` starts at: the 64-bit FNV-1a hash of the id's
    /// UTF-8 bytes (the core's `key_of_bytes`) modulo the bucket count, as every binding
    /// computes it, so a retry from another language visits the same buckets.
    #[napi]
    pub fn start(&self, request_id: String) -> u32 {
        (key_of_bytes(request_id.as_bytes()) % u64::from(self.buckets)) as u32
    }

    /// A uniformly random bucket, for a take without an id, a restock's first extra unit and
    /// a local batch's give-back: SplitMix64 draws from the ring's seed.
    #[napi]
    pub fn random(&self) -> u32 {
        let index = self.draws.get();
        self.draws.set(index.wrapping_add(1));
        rng::uniform(rng::draw(self.seed, index), 0, u64::from(self.buckets) - 1) as u32
    }
}

/// A count of whole units as the core's `Stock` takes it: a JavaScript number that is an
/// integer from 0 to 2^53 - 1.
fn units(n: f64, what: &str) -> napi::Result<u64> {
    if n >= 0.0 && n <= MAX_UNITS as f64 && n.fract() == 0.0 {
        Ok(n as u64)
    } else {
        Err(napi::Error::new(
            napi::Status::InvalidArg,
            format!("{what} must be an integer from 0 to 2^53 - 1, got {n}"),
        ))
    }
}

/// The core's `Stock`: a count of units taken from and added to without ever going below
/// zero. Counts go out as numbers, exact up to 2^53 - 1 (a stock added past that keeps the
/// core's saturating count, read rounded).
#[napi]
pub struct NativeStock {
    stock: Stock,
}

#[napi]
impl NativeStock {
    /// A stock holding `units`.
    #[napi(constructor)]
    pub fn new(units: Option<f64>) -> napi::Result<Self> {
        let start = match units {
            Some(n) => self::units(n, "units")?,
            None => 0,
        };
        Ok(NativeStock {
            stock: Stock::new(start),
        })
    }

    /// Takes `n` units if the stock holds them, else takes nothing; says whether it did.
    #[napi]
    pub fn take(&self, n: f64) -> napi::Result<bool> {
        Ok(self.stock.take(units(n, "n")?))
    }

    /// Adds `n` units; returns the count after.
    #[napi]
    pub fn add(&self, n: f64) -> napi::Result<f64> {
        Ok(self.stock.add(units(n, "n")?) as f64)
    }

    /// Takes every unit; returns how many there were.
    #[napi]
    pub fn drain(&self) -> f64 {
        self.stock.drain() as f64
    }

    /// The units held now.
    #[napi(getter)]
    pub fn available(&self) -> f64 {
        self.stock.available() as f64
    }
}
