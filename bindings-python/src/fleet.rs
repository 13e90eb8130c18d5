//! The fleet tier's client-side rules (`stanchion::fleet`) for `stanchion.redis`.
//!
//! Redis decides each call by a script; what stays in the client is decided by the core, here,
//! as in every other binding: which keys, prefixes, buckets and timeouts are accepted, the
//! breaker that guards the connection, and the answer when Redis cannot give one. This layer
//! only converts (seconds to nanoseconds, Python values to the script's arguments and back)
//! and names the Python parameter in each error.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyInt, PyList, PyString, PyTuple};
use stanchion::fleet::{self, Fallback, Unavailable};
use stanchion::{ConfigError, Nanos, Reason, TokenBucket, TokenBucketConfig};

use crate::args::{self, Config};
use crate::breaker::CircuitBreaker;
use crate::clock::Clock;
use crate::{errors, limiter};

/// A name between the braces of a key, in Python's words (`fleet::check_name`).
const NAME: &str = "a str of 1 to 1024 bytes in UTF-8, without `{` or `}`";
/// A key prefix (`fleet::check_prefix`).
const PREFIX: &str = "a str of at most 256 bytes in UTF-8, without `{` or `}`";
/// A call timeout (`fleet::check_timeout`).
const TIMEOUT: &str = "a number of seconds from 1 ns to 1 hour";
/// The `on_unavailable` policies (`fleet::Unavailable`).
const UNAVAILABLE: &str = "\"local\", \"allow\", \"deny\" or \"raise\"";
/// The capacity of a fleet limiter (`fleet::check_bucket`).
const CAPACITY: &str = "an int from 1 to 4294967295, with capacity × refill_every at most 2^52 ns \
                        once the rate is in lowest terms (a full burst refills within about 52 \
                        days)";
/// The refill period of a fleet limiter (`fleet::check_bucket`).
const REFILL_EVERY: &str = "a number of seconds > 0, at most 2^52 ns once the rate is in lowest \
                            terms (refill_every / gcd(refill_amount, refill_every), in ns)";
/// The refill amount, as for the local limiter.
const REFILL_AMOUNT: &str = "an int from 1 to 4294967295, and at most one token per nanosecond \
                             of refill_every (10^9 tokens per second)";

/// The Python parameter of a core fleet field and its allowed values in Python's words.
fn describe(err: &ConfigError) -> (&'static str, &'static str) {
    match err.field {
        "capacity" => ("capacity", CAPACITY),
        "refill_every" => ("refill_every", REFILL_EVERY),
        "refill_amount" => {
            limiter::describe("refill_amount").unwrap_or(("refill_amount", REFILL_AMOUNT))
        }
        "prefix" => ("prefix", PREFIX),
        "timeout" => ("timeout", TIMEOUT),
        "key" => ("key", NAME),
        "name" => ("name", NAME),
        "local_share" if err.allowed.starts_with("unset") => {
            ("local_share", "None unless on_unavailable is \"local\"")
        }
        "local_share" if err.allowed.contains("required") => (
            "local_share",
            "a number in (0, 1] when on_unavailable is \"local\"",
        ),
        "local_share" => ("local_share", "a number in (0, 1]"),
        other => (other, err.allowed),
    }
}

/// A core error as `ConfigError`, with the value received looked up in `config` (the dict of
/// Python parameters) under the Python name.
fn config_error(config: &Bound<'_, PyAny>, err: ConfigError) -> PyErr {
    let (name, allowed) = describe(&err);
    let got = config.get_item(name).ok();
    errors::config_of_field(config.py(), name, allowed, err.field, got.as_ref())
}

/// A core error as `ConfigError` for a value passed on its own.
fn value_error(got: &Bound<'_, PyAny>, err: ConfigError) -> PyErr {
    let (name, allowed) = describe(&err);
    errors::config_of_field(got.py(), name, allowed, err.field, Some(got))
}

/// A `str`'s UTF-8 text; a lone surrogate (no UTF-8 form) is a `ConfigError` in `allowed`'s
/// words.
fn text(obj: &Bound<'_, PyAny>, parameter: &str, allowed: &str) -> PyResult<String> {
    let s = obj
        .cast::<PyString>()
        .map_err(|_| args::type_error(parameter, "a str", obj))?;
    s.to_cow()
        .map(std::borrow::Cow::into_owned)
        .map_err(|_| errors::config(obj.py(), parameter, allowed, Some(obj)))
}

/// A checked name (`"key"` or `"name"`).
pub(crate) fn name_of(parameter: &'static str, name: &Bound<'_, PyAny>) -> PyResult<String> {
    let name_text = text(name, parameter, NAME)?;
    fleet::check_name(parameter, &name_text).map_err(|e| value_error(name, e))?;
    Ok(name_text)
}

/// A checked prefix.
pub(crate) fn prefix_of(prefix: &Bound<'_, PyAny>) -> PyResult<String> {
    let prefix_text = text(prefix, "prefix", PREFIX)?;
    fleet::check_prefix(&prefix_text).map_err(|e| value_error(prefix, e))?;
    Ok(prefix_text)
}

/// A checked timeout in seconds, as nanoseconds.
pub(crate) fn timeout_of(timeout: &Bound<'_, PyAny>) -> PyResult<Nanos> {
    let nanos = args::seconds(timeout, "timeout")?;
    fleet::check_timeout(nanos).map_err(|e| value_error(timeout, e))?;
    Ok(nanos)
}

/// An `on_unavailable` name.
fn policy_of(policy: &Bound<'_, PyAny>) -> PyResult<Unavailable> {
    let name = policy
        .cast::<PyString>()
        .map_err(|_| args::type_error("on_unavailable", UNAVAILABLE, policy))?;
    Unavailable::from_name(&name.to_cow()?)
        .ok_or_else(|| errors::config(policy.py(), "on_unavailable", UNAVAILABLE, Some(policy)))
}

/// A fleet limiter's bucket from `capacity`, `refill_amount` and `refill_every` (seconds),
/// checked by `fleet::check_bucket` and with its rate in lowest terms, as the core keeps it.
fn bucket_of(c: &Config<'_>, config: &Bound<'_, PyAny>) -> PyResult<TokenBucketConfig> {
    let capacity = c.required("capacity", CAPACITY)?;
    let bucket = TokenBucketConfig::new(args::core_count(&capacity, "capacity", CAPACITY)?).refill(
        c.core_count("refill_amount", REFILL_AMOUNT, 1)?,
        c.seconds("refill_every", Nanos::from_secs(1))?,
    );
    fleet::check_bucket(bucket).map_err(|e| config_error(config, e))?;
    TokenBucket::new(bucket)
        .map(|b| b.config())
        .map_err(|e| config_error(config, e))
}

/// A bucket as `(capacity, refill_amount, refill_every_ns)`.
fn triple(bucket: TokenBucketConfig) -> (u32, u32, u64) {
    (
        bucket.capacity,
        bucket.refill_amount,
        bucket.refill_every.as_nanos(),
    )
}

/// Checks a name that goes between a key's braces: `parameter` is `"key"` or `"name"`, the
/// Python parameter the error names.
#[pyfunction]
pub fn fleet_check_name(parameter: &str, name: &Bound<'_, PyAny>) -> PyResult<()> {
    let parameter = match parameter {
        "key" => "key",
        "name" => "name",
        other => {
            return Err(PyValueError::new_err(format!(
                "parameter must be \"key\" or \"name\", got {other:?}"
            )))
        }
    };
    name_of(parameter, name).map(drop)
}

/// Checks a key prefix.
#[pyfunction]
pub fn fleet_check_prefix(prefix: &Bound<'_, PyAny>) -> PyResult<()> {
    prefix_of(prefix).map(drop)
}

/// Checks a call timeout in seconds and returns it in nanoseconds.
#[pyfunction]
pub fn fleet_check_timeout(timeout: &Bound<'_, PyAny>) -> PyResult<u64> {
    timeout_of(timeout).map(Nanos::as_nanos)
}

/// Checks a fleet limiter's bucket (a dict of `capacity`, `refill_amount`, `refill_every`)
/// and returns it with the rate in lowest terms: `(capacity, refill_amount, refill_every_ns)`.
#[pyfunction]
pub fn fleet_check_bucket(config: &Bound<'_, PyAny>) -> PyResult<(u32, u32, u64)> {
    let c = Config::new(config)?;
    bucket_of(&c, config).map(triple)
}

/// The local stand-in's bucket for `share` of a fleet bucket: `(capacity, refill_amount,
/// refill_every_ns)`.
#[pyfunction]
pub fn fleet_local_share(
    config: &Bound<'_, PyAny>,
    share: &Bound<'_, PyAny>,
) -> PyResult<(u32, u32, u64)> {
    let c = Config::new(config)?;
    let bucket = bucket_of(&c, config)?;
    let fraction = args::real(share, "local_share")?;
    fleet::local_share(bucket, fraction)
        .map(triple)
        .map_err(|e| value_error(share, e))
}

/// Checks an `on_unavailable` policy with its `local_share` (`None` or a number) for a
/// primitive that has (`has_local`) or has not a local stand-in; returns the policy's name.
#[pyfunction]
#[pyo3(signature = (on_unavailable, local_share = None, has_local = true))]
pub fn fleet_check_unavailable(
    py: Python<'_>,
    on_unavailable: &Bound<'_, PyAny>,
    local_share: Option<&Bound<'_, PyAny>>,
    has_local: bool,
) -> PyResult<&'static str> {
    let policy = policy_of(on_unavailable)?;
    let share = local_share
        .filter(|s| !s.is_none())
        .map(|s| args::real(s, "local_share"))
        .transpose()?;
    policy.check(share, has_local).map_err(|e| {
        let (name, allowed) = describe(&e);
        let got = if e.field == "on_unavailable" {
            Some(on_unavailable)
        } else {
            local_share
        };
        errors::config_of_field(py, name, allowed, e.field, got)
    })?;
    Ok(policy.as_str())
}

/// A circuit breaker configured as `fleet::connection_breaker()`: the one that guards a
/// connection to the store.
#[pyfunction]
#[pyo3(signature = (clock = None, on_transition = None))]
pub fn fleet_connection_breaker(
    clock: Option<Bound<'_, PyAny>>,
    on_transition: Option<Bound<'_, PyAny>>,
) -> PyResult<CircuitBreaker> {
    CircuitBreaker::from_core(fleet::connection_breaker(), clock, on_transition)
}

/// The fleet tier's defaults and limits, as the core states them. Durations are nanoseconds.
#[pyfunction]
pub fn fleet_defaults(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("default_prefix", fleet::DEFAULT_PREFIX)?;
    d.set_item("max_name_len", fleet::MAX_NAME_LEN)?;
    d.set_item("max_prefix_len", fleet::MAX_PREFIX_LEN)?;
    d.set_item("max_burst_units", fleet::MAX_BURST_UNITS)?;
    d.set_item(
        "default_call_timeout_ns",
        fleet::DEFAULT_CALL_TIMEOUT.as_nanos(),
    )?;
    d.set_item("default_on_unavailable", Unavailable::DEFAULT.as_str())?;
    let names: Vec<&str> = Unavailable::ALL.iter().map(|p| p.as_str()).collect();
    d.set_item("on_unavailable", names)?;
    Ok(d)
}

/// One answer of a fleet limiter, as the Python layer builds its result from it:
/// `(allowed, reason, retry_after_ns, remaining, reset_after_ns, source)`.
type Answer = (
    bool,
    Option<&'static str>,
    Option<u64>,
    Option<u64>,
    Option<u64>,
    &'static str,
);

/// A number in the script's reply: an integer, or a decimal string (bytes or str) for the
/// durations, which may exceed what a Lua double holds.
fn reply_number(item: &Bound<'_, PyAny>, what: &str) -> PyResult<u64> {
    let parsed = if item.is_instance_of::<PyBool>() {
        None
    } else if item.is_instance_of::<PyInt>() {
        item.extract::<u64>().ok()
    } else if let Ok(bytes) = item.cast::<PyBytes>() {
        std::str::from_utf8(bytes.as_bytes()).ok().and_then(decimal)
    } else if let Ok(s) = item.cast::<PyString>() {
        decimal(&s.to_cow()?)
    } else {
        None
    };
    parsed.ok_or_else(|| {
        PyValueError::new_err(format!(
            "the limiter script answered {what} = {}, not an integer from 0 to 2^64 - 1",
            args::described(item)
        ))
    })
}

/// Digits only: `str::parse` would also take a leading `+`.
fn decimal(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// The fleet limiter's client side: its checked config, the script's arguments and keys,
/// the reading of its answers, and the local answer when Redis cannot give one.
#[pyclass(frozen, module = "stanchion._stanchion")]
pub struct FleetLimiter {
    bucket: TokenBucketConfig,
    /// The script's first three arguments, formatted once.
    capacity_arg: String,
    amount_arg: String,
    every_arg: String,
    prefix: String,
    timeout: Nanos,
    policy: Unavailable,
    share: Option<f64>,
    /// The stand-in of `on_unavailable="local"`.
    local: Option<TokenBucket>,
    clock: Clock,
}

#[pymethods]
impl FleetLimiter {
    /// A fleet limiter from a dict of the Python parameters: `capacity`, `refill_amount`,
    /// `refill_every` (seconds), `prefix`, `timeout` (seconds), `on_unavailable`,
    /// `local_share`; a missing or `None` value takes the core's default.
    #[new]
    #[pyo3(signature = (config, clock = None))]
    fn new(config: &Bound<'_, PyAny>, clock: Option<Bound<'_, PyAny>>) -> PyResult<Self> {
        let c = Config::new(config)?;
        let bucket = bucket_of(&c, config)?;
        let prefix = c
            .get("prefix")?
            .map_or(Ok(fleet::DEFAULT_PREFIX.to_owned()), |p| prefix_of(&p))?;
        let timeout = c
            .get("timeout")?
            .map_or(Ok(fleet::DEFAULT_CALL_TIMEOUT), |t| timeout_of(&t))?;
        let policy = c
            .get("on_unavailable")?
            .map_or(Ok(Unavailable::DEFAULT), |p| policy_of(&p))?;
        let share = c.opt_real("local_share")?;
        policy
            .check(share, true)
            .map_err(|e| config_error(config, e))?;
        let local = match (policy, share) {
            (Unavailable::Local, Some(share)) => {
                let stand_in =
                    fleet::local_share(bucket, share).map_err(|e| config_error(config, e))?;
                Some(TokenBucket::new(stand_in).map_err(|e| config_error(config, e))?)
            }
            _ => None,
        };
        Ok(FleetLimiter {
            bucket,
            capacity_arg: bucket.capacity.to_string(),
            amount_arg: bucket.refill_amount.to_string(),
            every_arg: bucket.refill_every.as_nanos().to_string(),
            prefix,
            timeout,
            policy,
            share,
            local,
            clock: Clock::from_arg(clock)?,
        })
    }

    /// The Redis key of `key`'s bucket: `<prefix>{<key>}:limiter`.
    fn redis_key(&self, key: &Bound<'_, PyAny>) -> PyResult<String> {
        let key = name_of("key", key)?;
        Ok(format!("{}{{{key}}}:limiter", self.prefix))
    }

    /// The script call for `n` tokens of `key`: `(redis_key, args)`, `n` checked. `now_ns`
    /// replaces the server's `TIME` (conformance tests only).
    #[pyo3(signature = (key, n, peek, now_ns = None))]
    fn request(
        &self,
        key: &Bound<'_, PyAny>,
        n: &Bound<'_, PyAny>,
        peek: bool,
        now_ns: Option<u64>,
    ) -> PyResult<(String, Vec<String>)> {
        let redis_key = self.redis_key(key)?;
        let n = limiter::tokens(n)?;
        let mut argv = vec![
            self.capacity_arg.clone(),
            self.amount_arg.clone(),
            self.every_arg.clone(),
            n.to_string(),
            if peek { "1" } else { "0" }.to_owned(),
        ];
        if let Some(now) = now_ns {
            argv.push(now.to_string());
        }
        Ok((redis_key, argv))
    }

    /// The script's reply `[allowed, remaining, retry_after, reset_after]` to a request of
    /// `n` tokens, read as an answer; a reply the script never gives is a `ValueError`.
    fn answer(&self, reply: &Bound<'_, PyAny>, n: u32) -> PyResult<Answer> {
        let items = match (reply.cast::<PyList>(), reply.cast::<PyTuple>()) {
            (Ok(list), _) if list.len() == 4 => list.iter().collect::<Vec<_>>(),
            (_, Ok(tuple)) if tuple.len() == 4 => tuple.iter().collect::<Vec<_>>(),
            _ => {
                return Err(PyValueError::new_err(format!(
                    "the limiter script answered {}, not [allowed, remaining, retry_after, \
                     reset_after]",
                    args::described(reply)
                )))
            }
        };
        let allowed = match reply_number(&items[0], "allowed")? {
            1 => true,
            0 => false,
            other => {
                return Err(PyValueError::new_err(format!(
                    "the limiter script answered allowed = {other}, neither 1 nor 0"
                )))
            }
        };
        let remaining = reply_number(&items[1], "remaining")?;
        // RESP2 turns the script's `false` into nil (None); RESP3 keeps it a boolean.
        let retry_after = &items[2];
        let retry_after = if retry_after.is_none()
            || (retry_after.is_instance_of::<PyBool>() && !retry_after.is_truthy()?)
        {
            None
        } else {
            Some(reply_number(retry_after, "retry_after")?)
        };
        let reset_after = reply_number(&items[3], "reset_after")?;
        let reason = match (allowed, n > self.bucket.capacity) {
            (true, _) => None,
            (false, true) => Some(Reason::InsufficientCapacity.as_str()),
            (false, false) => Some(Reason::RateLimited.as_str()),
        };
        Ok((
            allowed,
            reason,
            retry_after,
            Some(remaining),
            Some(reset_after),
            "redis",
        ))
    }

    /// The answer for `n` tokens while Redis cannot decide, by `on_unavailable` (the core's
    /// `fleet::fallback`), or `None` when the caller must raise.
    fn fallback(&self, py: Python<'_>, n: u32) -> PyResult<Option<Answer>> {
        let now = self.clock.now(py)?;
        let local = self.local.as_ref();
        let state = |bucket: Option<&TokenBucket>| match bucket {
            Some(bucket) => (
                Some(bucket.available(now)),
                Some(bucket.snapshot(now).full_at.saturating_sub(now).as_nanos()),
            ),
            None => (None, None),
        };
        let source = self.policy.as_str();
        Ok(
            match fleet::fallback(self.policy, Reason::RateLimited, local, n, now) {
                Fallback::Admit => {
                    let (remaining, reset_after) = state(local);
                    Some((true, None, None, remaining, reset_after, source))
                }
                Fallback::Refuse(rejected) => {
                    let (remaining, reset_after) = state(local);
                    let retry_after = rejected.retry_after.map(Nanos::as_nanos);
                    let reason = Some(rejected.reason.as_str());
                    Some((false, reason, retry_after, remaining, reset_after, source))
                }
                Fallback::Raise => None,
            },
        )
    }

    /// The burst, as the core keeps it.
    #[getter]
    fn capacity(&self) -> u32 {
        self.bucket.capacity
    }

    /// Tokens per refill period, with the rate in lowest terms.
    #[getter]
    fn refill_amount(&self) -> u32 {
        self.bucket.refill_amount
    }

    /// The refill period in nanoseconds, with the rate in lowest terms.
    #[getter]
    fn refill_every_ns(&self) -> u64 {
        self.bucket.refill_every.as_nanos()
    }

    /// The key prefix.
    #[getter]
    fn prefix(&self) -> &str {
        &self.prefix
    }

    /// How long one call may take, in nanoseconds.
    #[getter]
    fn timeout_ns(&self) -> u64 {
        self.timeout.as_nanos()
    }

    /// The `on_unavailable` policy's name.
    #[getter]
    fn on_unavailable(&self) -> &'static str {
        self.policy.as_str()
    }

    /// The share of the fleet's limit the local stand-in holds, when there is one.
    #[getter]
    fn local_share(&self) -> Option<f64> {
        self.share
    }

    /// The local stand-in's bucket as `(capacity, refill_amount, refill_every_ns)`.
    #[getter]
    fn local_bucket(&self) -> Option<(u32, u32, u64)> {
        self.local.as_ref().map(|bucket| triple(bucket.config()))
    }
}
