//! The fleet tier's client-side rules (`stanchion::fleet`) for `stanchion/redis`: names,
//! prefixes, exact limiter buckets, the call timeout, the connection breaker and what a
//! limiter answers when Redis cannot decide. The script decides on the server; everything the
//! client decides is decided here by the core, so Node answers as Rust and Python do.

use napi::bindgen_prelude::{BigInt, Either};
use napi_derive::napi;
use stanchion::breaker::Window;
use stanchion::fleet::{self, Fallback, Unavailable};
use stanchion::{ConfigError, Nanos, Reason, TokenBucket};

use crate::code;
use crate::time::{bigint, instant, nanos_of_bigint};
use crate::token_bucket::NativeBucketConfig;

/// The fleet tier's defaults and limits, as the core states them.
#[napi(object)]
pub struct FleetDefaults {
    /// `fleet::DEFAULT_PREFIX`.
    pub prefix: String,
    /// `fleet::MAX_NAME_LEN`, bytes.
    pub max_name_len: u32,
    /// `fleet::MAX_PREFIX_LEN`, bytes.
    pub max_prefix_len: u32,
    /// `fleet::MAX_BURST_UNITS`.
    pub max_burst_units: BigInt,
    /// `fleet::DEFAULT_CALL_TIMEOUT`, ns.
    pub call_timeout: BigInt,
    /// `Unavailable::DEFAULT`, by name.
    pub on_unavailable: String,
    /// Every `Unavailable` policy, by name, in the core's order.
    pub policies: Vec<String>,
}

/// The fleet tier's defaults and limits.
#[napi]
pub fn fleet_defaults() -> FleetDefaults {
    FleetDefaults {
        prefix: fleet::DEFAULT_PREFIX.to_string(),
        max_name_len: fleet::MAX_NAME_LEN as u32,
        max_prefix_len: fleet::MAX_PREFIX_LEN as u32,
        max_burst_units: BigInt::from(fleet::MAX_BURST_UNITS),
        call_timeout: bigint(fleet::DEFAULT_CALL_TIMEOUT),
        on_unavailable: Unavailable::DEFAULT.as_str().to_string(),
        policies: Unavailable::ALL
            .iter()
            .map(|p| p.as_str().to_string())
            .collect(),
    }
}

/// Checks a name that goes between a key's braces (`fleet::check_name`); `field` is `"key"`
/// or `"name"`, the field its error names.
#[napi]
pub fn fleet_check_name(field: String, name: String) -> napi::Result<()> {
    let field = match field.as_str() {
        "key" => "key",
        "name" => "name",
        _ => {
            return Err(napi::Error::new(
                napi::Status::InvalidArg,
                format!("no fleet name field `{field}`"),
            ))
        }
    };
    fleet::check_name(field, &name).map_err(code::config_error)
}

/// Checks a key prefix (`fleet::check_prefix`).
#[napi]
pub fn fleet_check_prefix(prefix: String) -> napi::Result<()> {
    fleet::check_prefix(&prefix).map_err(code::config_error)
}

/// Checks a call timeout in `bigint` nanoseconds (`fleet::check_timeout`).
#[napi]
pub fn fleet_check_timeout(timeout: BigInt) -> napi::Result<()> {
    fleet::check_timeout(Nanos::new(nanos_of_bigint(&timeout))).map_err(code::config_error)
}

/// A fleet limiter's bucket as the script takes it: the rate in lowest terms, as the core
/// keeps it.
#[napi(object)]
pub struct NativeFleetBucket {
    /// The burst.
    pub capacity: u32,
    /// Tokens per `refillEvery`, in lowest terms.
    pub refill_amount: u32,
    /// The refill period, ns, in lowest terms.
    pub refill_every: BigInt,
}

/// Checks a fleet limiter's bucket (`fleet::check_bucket`) and gives it back in lowest terms.
#[napi]
pub fn fleet_bucket(config: NativeBucketConfig) -> napi::Result<NativeFleetBucket> {
    let bucket = crate::token_bucket::config(&config);
    fleet::check_bucket(bucket).map_err(code::config_error)?;
    let reduced = TokenBucket::new(bucket)
        .map_err(code::config_error)?
        .config();
    Ok(NativeFleetBucket {
        capacity: reduced.capacity,
        refill_amount: reduced.refill_amount,
        refill_every: bigint(reduced.refill_every),
    })
}

/// `fleet::connection_breaker_for(timeout)`, field by field, for the package's
/// `CircuitBreaker` to be built from. Durations are `bigint` nanoseconds; an absent trigger
/// is off.
#[napi(object)]
pub struct NativeConnectionBreaker {
    /// Trip when the window holds this many failures; absent: off.
    pub failure_count: Option<u32>,
    /// Trip after this many failures in a row; absent: off.
    pub consecutive_failures: Option<u32>,
    /// Trip at this failure share of the window; absent: off.
    pub failure_rate: Option<f64>,
    /// The fewest calls in the window before a rate trigger may trip.
    pub minimum_calls: u32,
    /// A call at least this long is slow; absent: off.
    pub slow_call_duration: Option<BigInt>,
    /// Trip at this slow share of the window.
    pub slow_call_rate: Option<f64>,
    /// A count window of the last `n` calls, or absent for a time window.
    pub window_count: Option<u32>,
    /// A time window's span.
    pub window_span: Option<BigInt>,
    /// A time window's buckets.
    pub window_buckets: Option<u32>,
    /// How long a trip keeps it open.
    pub open_for: BigInt,
    /// The longest open period when trips repeat.
    pub open_for_max: BigInt,
    /// Growth of the open period per trip in a row.
    pub open_for_factor: f64,
    /// Proportional jitter of the open period.
    pub open_for_jitter: f64,
    /// Probes admitted at once while half-open.
    pub half_open_probes: u32,
    /// Successful probes that close it; absent: `halfOpenProbes`.
    pub half_open_successes: Option<u32>,
    /// How long a probe may run before its slot is taken back.
    pub probe_timeout: Option<BigInt>,
}

/// The breaker that guards a connection to the store whose calls are bounded by `timeout`
/// (`bigint` ns; the default call timeout when absent): `fleet::connection_breaker_for`, so a
/// probe must report within twice the call timeout. Its seed is the core's 0: the caller
/// gives each breaker its own.
#[napi]
pub fn fleet_connection_breaker(timeout: Option<BigInt>) -> NativeConnectionBreaker {
    let timeout = timeout.map_or(fleet::DEFAULT_CALL_TIMEOUT, |ns| {
        Nanos::new(nanos_of_bigint(&ns))
    });
    let c = fleet::connection_breaker_for(timeout);
    let (window_count, window_span, window_buckets) = match c.window {
        Window::Count(n) => (Some(n), None, None),
        Window::Time { span, buckets } => (None, Some(bigint(span)), Some(buckets)),
    };
    NativeConnectionBreaker {
        failure_count: c.failure_count,
        consecutive_failures: c.consecutive_failures,
        failure_rate: c.failure_rate.map(f64::from),
        minimum_calls: c.minimum_calls,
        slow_call_duration: c.slow_call.map(|s| bigint(s.duration)),
        slow_call_rate: c.slow_call.map(|s| f64::from(s.rate)),
        window_count,
        window_span,
        window_buckets,
        open_for: bigint(c.open_for),
        open_for_max: bigint(c.open_for_max),
        open_for_factor: f64::from(c.open_for_factor),
        open_for_jitter: f64::from(c.open_for_jitter),
        half_open_probes: c.half_open_probes,
        half_open_successes: c.half_open_successes,
        probe_timeout: c.probe_timeout.map(bigint),
    }
}

/// Whether an error reply whose code (its first word) is `code` means the server cannot
/// decide now (`fleet::is_unavailable_reply`, one of `fleet::UNAVAILABLE_REPLIES`): a breaker
/// failure answered by `onUnavailable`. Any other error reply is an answer for the caller.
#[napi]
pub fn fleet_is_unavailable_reply(code: String) -> bool {
    fleet::is_unavailable_reply(&code)
}

/// The error-reply codes that mean the server cannot decide now
/// (`fleet::UNAVAILABLE_REPLIES`), for documentation and tests.
#[napi]
pub fn fleet_unavailable_replies() -> Vec<String> {
    fleet::UNAVAILABLE_REPLIES
        .iter()
        .map(|code| code.to_string())
        .collect()
}

/// The `on_unavailable` policy named `name`, checked with its share (`Unavailable::check`).
fn policy(name: Option<&str>, share: Option<f64>) -> Result<Unavailable, ConfigError> {
    let policy = match name {
        None => Unavailable::DEFAULT,
        Some(name) => Unavailable::from_name(name).ok_or(ConfigError::new(
            "on_unavailable",
            "\"local\", \"allow\", \"deny\" or \"raise\"",
        ))?,
    };
    policy.check(share, true)?;
    Ok(policy)
}

/// What a fleet limiter answers when Redis cannot decide: its `on_unavailable` policy and,
/// for `local`, the stand-in bucket holding `local_share` of the fleet's rate.
#[napi]
pub struct NativeFleetFallback {
    policy: Unavailable,
    local: Option<TokenBucket>,
    retry_after: code::LastRetryAfter,
}

/// `decide` and `peek`: the store's error goes to the caller.
const RAISE: f64 = 1.0;

#[napi]
impl NativeFleetFallback {
    /// The policy `onUnavailable` (default the core's) for the fleet bucket `bucket`, or an
    /// error naming `on_unavailable`, `local_share` or a bucket field.
    #[napi(constructor)]
    pub fn new(
        bucket: NativeBucketConfig,
        on_unavailable: Option<String>,
        local_share: Option<f64>,
    ) -> napi::Result<Self> {
        let policy = policy(on_unavailable.as_deref(), local_share).map_err(code::config_error)?;
        let local = match (policy, local_share) {
            (Unavailable::Local, Some(share)) => {
                let config = fleet::local_share(crate::token_bucket::config(&bucket), share)
                    .map_err(code::config_error)?;
                Some(TokenBucket::new(config).map_err(code::config_error)?)
            }
            _ => None,
        };
        Ok(NativeFleetFallback {
            policy,
            local,
            retry_after: code::LastRetryAfter::new(),
        })
    }

    /// The policy's name.
    #[napi(getter)]
    pub fn policy(&self) -> String {
        self.policy.as_str().to_string()
    }

    /// The stand-in bucket of `local` (null for the other policies).
    #[napi(getter)]
    pub fn local_bucket(&self) -> Option<NativeFleetBucket> {
        self.local.as_ref().map(|bucket| {
            let c = bucket.config();
            NativeFleetBucket {
                capacity: c.capacity,
                refill_amount: c.refill_amount,
                refill_every: bigint(c.refill_every),
            }
        })
    }

    /// Decides `n` tokens at `now` by the policy (`fleet::fallback`): 0 admitted, 1 raise,
    /// else a refusal code (see `code.rs`) whose `retry_after` the getters read.
    #[napi]
    pub fn decide(&self, n: u32, now: Either<f64, BigInt>) -> f64 {
        let answer = fleet::fallback(
            self.policy,
            Reason::RateLimited,
            self.local.as_ref(),
            n,
            instant(&now),
        );
        self.code(answer)
    }

    /// `decide` for a peek, which takes nothing (`fleet::fallback_peek`): under `local` the
    /// stand-in is asked whether it holds `n` tokens now, and a refusal carries no
    /// `retry_after`.
    #[napi]
    pub fn peek(&self, n: u32, now: Either<f64, BigInt>) -> f64 {
        let answer = fleet::fallback_peek(
            self.policy,
            Reason::RateLimited,
            self.local.as_ref(),
            n,
            instant(&now),
        );
        self.code(answer)
    }

    fn code(&self, answer: Fallback) -> f64 {
        match answer {
            Fallback::Admit => 0.0,
            Fallback::Raise => RAISE,
            Fallback::Refuse(rejected) => code::refused(&rejected, None, &self.retry_after),
        }
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
