//! `NativeBackoff` and `NativeRetrying`: the core's schedules, and the state of one retried call.

use napi::bindgen_prelude::{BigInt, Either};
use napi_derive::napi;
use stanchion::{Backoff, BackoffConfig, ConfigError, Exhausted, Jitter, Nanos, Retrying};

use crate::code;
use crate::time::{bigint, duration, instant, millis, nanos_of_bigint};

/// A backoff config. `schedule` is `constant` (`delay`), `linear` (`initial`, `step`),
/// `exponential` (`initial`, `factor`) or `decorrelated` (`base`); durations are `bigint`
/// nanoseconds.
#[napi(object)]
pub struct NativeBackoffConfig {
    /// `constant`, `linear`, `exponential` or `decorrelated`.
    pub schedule: String,
    /// The constant wait.
    pub delay: Option<BigInt>,
    /// The first wait of a linear or exponential schedule.
    pub initial: Option<BigInt>,
    /// Added per retry by a linear schedule.
    pub step: Option<BigInt>,
    /// Growth per retry of an exponential schedule.
    pub factor: Option<f64>,
    /// The smallest wait of a decorrelated schedule.
    pub base: Option<BigInt>,
    /// `none`, `full`, `equal` or `proportional`.
    pub jitter: Option<String>,
    /// The share of a proportional jitter, in [0, 1].
    pub proportion: Option<f64>,
    /// The longest wait.
    pub max_delay: Option<BigInt>,
    /// The most calls, the first included (default 3).
    pub max_attempts: Option<u32>,
    /// No limit on attempts.
    pub unlimited_attempts: Option<bool>,
    /// No retry whose wait would end later than this after the first call started.
    pub max_elapsed: Option<BigInt>,
}

fn config(o: &NativeBackoffConfig) -> Result<BackoffConfig, ConfigError> {
    let zero = |d: &Option<BigInt>| duration(d).unwrap_or(Nanos::ZERO);
    let mut config = match o.schedule.as_str() {
        "constant" => BackoffConfig::constant(zero(&o.delay)),
        "linear" => BackoffConfig::linear(zero(&o.initial), zero(&o.step)),
        "exponential" => BackoffConfig::exponential(zero(&o.initial), o.factor.unwrap_or(2.0)),
        "decorrelated" => BackoffConfig::decorrelated(zero(&o.base)),
        _ => {
            return Err(ConfigError::new(
                "schedule",
                "constant, linear, exponential, decorrelated",
            ))
        }
    };
    config = config.jitter(match o.jitter.as_deref() {
        None | Some("none") => Jitter::None,
        Some("full") => Jitter::Full,
        Some("equal") => Jitter::Equal,
        Some("proportional") => Jitter::Proportional(o.proportion.unwrap_or(0.0)),
        Some(_) => {
            return Err(ConfigError::new(
                "jitter",
                "none, full, equal, proportional",
            ))
        }
    });
    if let Some(max_delay) = duration(&o.max_delay) {
        config = config.max_delay(max_delay);
    }
    if let Some(max_attempts) = o.max_attempts {
        config = config.max_attempts(max_attempts);
    }
    if o.unlimited_attempts == Some(true) {
        config = config.unlimited_attempts();
    }
    if let Some(max_elapsed) = duration(&o.max_elapsed) {
        config = config.max_elapsed(max_elapsed);
    }
    Ok(config)
}

fn seed(seed: &BigInt) -> u64 {
    nanos_of_bigint(seed)
}

/// The core's `Backoff`: waits in milliseconds, NaN for "stop".
#[napi]
pub struct NativeBackoff {
    backoff: Backoff,
}

impl NativeBackoff {
    /// The core's backoff.
    pub(crate) fn core(&self) -> Backoff {
        self.backoff
    }
}

#[napi]
impl NativeBackoff {
    /// A backoff, or an error naming the invalid field.
    #[napi(constructor)]
    pub fn new(config: NativeBackoffConfig) -> napi::Result<Self> {
        let backoff = self::config(&config)
            .and_then(Backoff::new)
            .map_err(code::config_error)?;
        Ok(NativeBackoff { backoff })
    }

    /// The wait before call `attempt + 2` (attempt 0 is the wait before the second call), in
    /// milliseconds; NaN means stop. Pure.
    #[napi]
    pub fn delay(&self, attempt: u32, seed: BigInt) -> f64 {
        self.backoff
            .delay(attempt, self::seed(&seed))
            .map_or(f64::NAN, millis)
    }

    /// `delay` in exact nanoseconds; null means stop.
    #[napi]
    pub fn delay_ns(&self, attempt: u32, seed: BigInt) -> Option<BigInt> {
        self.backoff.delay(attempt, self::seed(&seed)).map(bigint)
    }

    /// `delays` in exact nanoseconds.
    #[napi]
    pub fn delays_ns(&self, seed: BigInt, limit: u32) -> Vec<BigInt> {
        self.backoff
            .iter(self::seed(&seed))
            .take(limit as usize)
            .map(bigint)
            .collect()
    }

    /// The waits of a whole schedule (attempts taking no time), at most `limit` of them.
    #[napi]
    pub fn delays(&self, seed: BigInt, limit: u32) -> Vec<f64> {
        self.backoff
            .iter(self::seed(&seed))
            .take(limit as usize)
            .map(millis)
            .collect()
    }

    /// Begins a retried call whose first attempt started at `now`.
    #[napi]
    pub fn start(&self, seed: BigInt, now: Either<f64, BigInt>) -> NativeRetrying {
        NativeRetrying {
            backoff: self.backoff,
            retrying: self.backoff.start(self::seed(&seed), instant(&now)),
        }
    }
}

/// One retried call's backoff state.
#[napi]
pub struct NativeRetrying {
    backoff: Backoff,
    retrying: Retrying,
}

impl NativeRetrying {
    fn next(
        &mut self,
        now: &Either<f64, BigInt>,
        hint: &Option<Either<f64, BigInt>>,
    ) -> Result<stanchion::Nanos, Exhausted> {
        let hint = hint.as_ref().map(instant);
        self.retrying.next_delay(&self.backoff, instant(now), hint)
    }
}

#[napi]
impl NativeRetrying {
    /// The wait before the next attempt in milliseconds (`hint`: a server's Retry-After, ms
    /// or `bigint` ns), or -1 when `maxAttempts` is reached, -2 when the wait would end past
    /// `maxElapsed`.
    #[napi]
    pub fn next_delay(
        &mut self,
        now: Either<f64, BigInt>,
        hint: Option<Either<f64, BigInt>>,
    ) -> f64 {
        match self.next(&now, &hint) {
            Ok(wait) => millis(wait),
            Err(Exhausted::MaxAttempts) => -1.0,
            Err(Exhausted::MaxElapsed) => -2.0,
        }
    }

    /// `nextDelay` in exact nanoseconds: the wait, or -1n at `maxAttempts`, -2n past
    /// `maxElapsed`.
    #[napi]
    pub fn next_delay_ns(
        &mut self,
        now: Either<f64, BigInt>,
        hint: Option<Either<f64, BigInt>>,
    ) -> BigInt {
        match self.next(&now, &hint) {
            Ok(wait) => bigint(wait),
            Err(Exhausted::MaxAttempts) => BigInt::from(-1i64),
            Err(Exhausted::MaxElapsed) => BigInt::from(-2i64),
        }
    }

    /// Waits handed out so far.
    #[napi(getter)]
    pub fn retries(&self) -> u32 {
        self.retrying.retries()
    }
}
