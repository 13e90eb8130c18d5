//! The lease rules of the fleet tier (`stanchion::fleet`) for the fleet bulkhead and the lock
//! of `stanchion.redis`.
//!
//! The scripts (`semaphore.lua`, `lock.lua`) decide; what stays in the client is the core's,
//! as in every binding: lease times (`check_lease`), how often a keeper renews
//! (`renew_every`), the waits between attempts on a held lock (`lock_backoff`), RedLock's
//! quorum and validity. This layer converts (seconds to milliseconds, Python values to the
//! scripts' arguments and their replies back) and names the Python parameter in each error.

use std::sync::Mutex;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyInt, PyList, PyTuple};
use stanchion::fleet;
use stanchion::{ConfigError, Nanos};

use crate::args::{self, Config};
use crate::{backoff, errors, fleet as names};

const NANOS_PER_MILLI: u64 = 1_000_000;

/// A lease time of the semaphore (`fleet::check_lease` once rounded down to the millisecond,
/// as `semaphore.lua` keeps it).
const SEMAPHORE_TTL: &str = "a number of seconds from 0.001 to 1099511627.776 (2^40 ms), kept \
                             in whole milliseconds (rounded down)";
/// A lease time of the lock (`fleet::check_lease`).
const LOCK_TTL: &str = "a number of seconds from 0.001 to 1099511627.776 (2^40 ms), in whole \
                        milliseconds";
/// The semaphore's limit.
const LIMIT: &str = "an int from 1 to 4294967295";
/// `wait_replicas`.
const WAIT_REPLICAS: &str = "None or a pair (replicas, timeout): an int from 1 to 4294967295 \
                             and a number of seconds from 0.001 to 1099511627.776 (2^40 ms), \
                             in whole milliseconds";

/// A lease time in seconds, checked by `fleet::check_lease` under the Python name
/// `parameter` and the core's `field`; `round_down` first keeps whole milliseconds, as the
/// semaphore does.
fn lease_of(
    obj: &Bound<'_, PyAny>,
    parameter: &str,
    field: &'static str,
    allowed: &str,
    round_down: bool,
) -> PyResult<Nanos> {
    let mut ttl = args::seconds(obj, parameter)?;
    if round_down {
        ttl = Nanos::new(ttl.as_nanos() / NANOS_PER_MILLI * NANOS_PER_MILLI);
    }
    fleet::check_lease(field, ttl)
        .map_err(|e| errors::config_of_field(obj.py(), parameter, allowed, e.field, Some(obj)))?;
    Ok(ttl)
}

fn millis(ttl: Nanos) -> u64 {
    ttl.as_nanos() / NANOS_PER_MILLI
}

/// A reply item that is an integer (an `int`, not a `bool`).
fn reply_int(item: &Bound<'_, PyAny>, script: &str, what: &str) -> PyResult<i64> {
    if item.is_instance_of::<PyInt>() && !item.is_instance_of::<PyBool>() {
        if let Ok(value) = item.extract::<i64>() {
            return Ok(value);
        }
    }
    Err(PyValueError::new_err(format!(
        "the {script} script answered {what} = {}, not an integer",
        args::described(item)
    )))
}

/// A reply that is an array, as a list of its items.
fn reply_items<'py>(reply: &Bound<'py, PyAny>) -> Option<Vec<Bound<'py, PyAny>>> {
    match (reply.cast::<PyList>(), reply.cast::<PyTuple>()) {
        (Ok(list), _) => Some(list.iter().collect()),
        (_, Ok(tuple)) => Some(tuple.iter().collect()),
        _ => None,
    }
}

/// Whether a reply item is the script's `false`: nil (`None`) in RESP2, `False` in RESP3.
fn is_nil(item: &Bound<'_, PyAny>) -> PyResult<bool> {
    Ok(item.is_none() || (item.is_instance_of::<PyBool>() && !item.is_truthy()?))
}

/// The core's lease defaults: `default_lease_ns` (30 s), `max_lease_ns` (2^40 ms).
#[pyfunction]
pub fn fleet_lease_defaults(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("default_lease_ns", fleet::DEFAULT_LEASE.as_nanos())?;
    d.set_item("max_lease_ns", fleet::MAX_LEASE.as_nanos())?;
    Ok(d)
}

/// How often a keeper renews a lease of `ttl_ns`: `fleet::renew_every`, a third of it.
#[pyfunction]
pub fn fleet_renew_every(ttl_ns: u64) -> u64 {
    fleet::renew_every(Nanos::new(ttl_ns)).as_nanos()
}

/// The servers of a RedLock over `servers` that must agree: `fleet::quorum`, a majority.
#[pyfunction]
pub fn fleet_quorum(servers: u32) -> u32 {
    fleet::quorum(servers)
}

/// How long a RedLock lease of `ttl_ns` stays valid after an acquisition that took
/// `elapsed_ns`: `fleet::redlock_validity`, or `None` when nothing is left.
#[pyfunction]
pub fn fleet_redlock_validity(ttl_ns: u64, elapsed_ns: u64) -> Option<u64> {
    fleet::redlock_validity(Nanos::new(ttl_ns), Nanos::new(elapsed_ns)).map(Nanos::as_nanos)
}

/// The prefix and the call timeout every lease primitive takes, from its config dict.
fn common(c: &Config<'_>) -> PyResult<(String, Nanos)> {
    let prefix = c
        .get("prefix")?
        .map_or(Ok(fleet::DEFAULT_PREFIX.to_owned()), |p| {
            names::prefix_of(&p)
        })?;
    let timeout = c
        .get("timeout")?
        .map_or(Ok(fleet::DEFAULT_CALL_TIMEOUT), |t| names::timeout_of(&t))?;
    Ok((prefix, timeout))
}

/// The fleet bulkhead's client side: its checked config, the arguments of `semaphore.lua`
/// and the reading of its replies.
#[pyclass(frozen, module = "stanchion._stanchion")]
pub struct FleetSemaphore {
    limit: u32,
    limit_arg: String,
    ttl: Nanos,
    ttl_arg: String,
    prefix: String,
    timeout: Nanos,
}

#[pymethods]
impl FleetSemaphore {
    /// A semaphore from a dict of the Python parameters: `limit`, `ttl` (seconds, `None` for
    /// the core's 30 s), `prefix`, `timeout` (seconds).
    #[new]
    fn new(config: &Bound<'_, PyAny>) -> PyResult<Self> {
        let c = Config::new(config)?;
        let limit = c.required("limit", LIMIT)?;
        let limit = args::count(&limit, "limit", 1, u32::MAX)?;
        let ttl = match c.get("ttl")? {
            Some(ttl) => lease_of(&ttl, "ttl", "ttl", SEMAPHORE_TTL, true)?,
            None => fleet::DEFAULT_LEASE,
        };
        let (prefix, timeout) = common(&c)?;
        Ok(FleetSemaphore {
            limit,
            limit_arg: limit.to_string(),
            ttl,
            ttl_arg: millis(ttl).to_string(),
            prefix,
            timeout,
        })
    }

    /// The Redis key of semaphore `name`: `<prefix>{<name>}:semaphore`.
    fn redis_key(&self, name: &Bound<'_, PyAny>) -> PyResult<String> {
        let name = names::name_of("name", name)?;
        Ok(format!("{}{{{name}}}:semaphore", self.prefix))
    }

    /// The script call of `op` (`"acquire"`, `"renew"`, `"release"`, `"holders"`) on
    /// semaphore `name` for the lease `token`: `(redis_key, args)`. `now_ns` replaces the
    /// server's `TIME` (conformance tests only).
    #[pyo3(signature = (op, name, token, now_ns = None))]
    fn request(
        &self,
        op: &str,
        name: &Bound<'_, PyAny>,
        token: &str,
        now_ns: Option<u64>,
    ) -> PyResult<(String, Vec<String>)> {
        let key = self.redis_key(name)?;
        let (token, limit, ttl) = match op {
            "acquire" => (token, self.limit_arg.as_str(), self.ttl_arg.as_str()),
            "renew" => (token, "0", self.ttl_arg.as_str()),
            "release" => (token, "0", "0"),
            "holders" => ("", "0", "0"),
            other => {
                return Err(PyValueError::new_err(format!(
                    "op must be \"acquire\", \"renew\", \"release\" or \"holders\", got {other:?}"
                )))
            }
        };
        let mut argv = vec![
            op.to_owned(),
            token.to_owned(),
            limit.to_owned(),
            ttl.to_owned(),
        ];
        if let Some(now) = now_ns {
            argv.push(now.to_string());
        }
        Ok((key, argv))
    }

    /// The script's reply `[ok, holders, next_expiry]` as `(ok, holders, next_expiry_ns)`; a
    /// reply the script never gives is a `ValueError`.
    fn answer(&self, reply: &Bound<'_, PyAny>) -> PyResult<(bool, u32, Option<u64>)> {
        let bad = || {
            PyValueError::new_err(format!(
                "the semaphore script answered {}, not [ok, holders, next_expiry]",
                args::described(reply)
            ))
        };
        let items = reply_items(reply)
            .filter(|i| i.len() == 3)
            .ok_or_else(bad)?;
        let ok = match reply_int(&items[0], "semaphore", "ok")? {
            1 => true,
            0 => false,
            _ => return Err(bad()),
        };
        let holders =
            u32::try_from(reply_int(&items[1], "semaphore", "holders")?).map_err(|_| bad())?;
        let next_expiry = if is_nil(&items[2])? {
            None
        } else {
            let ms = u64::try_from(reply_int(&items[2], "semaphore", "next_expiry")?)
                .map_err(|_| bad())?;
            Some(ms.saturating_mul(NANOS_PER_MILLI))
        };
        // A refusal or a held lease always leaves a lease to expire.
        if (holders == 0) != next_expiry.is_none() {
            return Err(bad());
        }
        Ok((ok, holders, next_expiry))
    }

    /// The most leases held at once.
    #[getter]
    fn limit(&self) -> u32 {
        self.limit
    }

    /// The lease time in nanoseconds, a whole number of milliseconds.
    #[getter]
    fn ttl_ns(&self) -> u64 {
        self.ttl.as_nanos()
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
}

/// The lock's client side: its checked config, the arguments of `lock.lua`, the reading of its
/// replies, and the waits of an acquisition while another holds the lock.
#[pyclass(frozen, module = "stanchion._stanchion")]
pub struct FleetLock {
    ttl: Nanos,
    wait: Nanos,
    wait_replicas: Option<(u32, Nanos)>,
    prefix: String,
    timeout: Nanos,
}

#[pymethods]
impl FleetLock {
    /// A lock from a dict of the Python parameters: `ttl` (seconds, `None` for the core's
    /// 30 s), `wait` (seconds), `wait_replicas` (`None` or `(replicas, timeout)`), `prefix`,
    /// `timeout` (seconds).
    #[new]
    fn new(config: &Bound<'_, PyAny>) -> PyResult<Self> {
        let c = Config::new(config)?;
        let ttl = match c.get("ttl")? {
            Some(ttl) => lease_of(&ttl, "ttl", "ttl", LOCK_TTL, false)?,
            None => fleet::DEFAULT_LEASE,
        };
        let wait = c.seconds("wait", Nanos::ZERO)?;
        let wait_replicas = match c.get("wait_replicas")? {
            None => None,
            Some(pair) => Some(wait_replicas_of(&pair)?),
        };
        let (prefix, timeout) = common(&c)?;
        Ok(FleetLock {
            ttl,
            wait,
            wait_replicas,
            prefix,
            timeout,
        })
    }

    /// The Redis keys of lock `name`: the lease, `<prefix>{<name>}:lock`, and the fence
    /// counter, `<prefix>{<name>}:fence`, one hash tag.
    fn redis_keys(&self, name: &Bound<'_, PyAny>) -> PyResult<(String, String)> {
        let name = names::name_of("name", name)?;
        let prefix = &self.prefix;
        Ok((
            format!("{prefix}{{{name}}}:lock"),
            format!("{prefix}{{{name}}}:fence"),
        ))
    }

    /// The arguments of an acquisition with `token`; `now_us` replaces the server's `TIME`
    /// as the fence's floor (tests only).
    #[pyo3(signature = (token, now_us = None))]
    fn acquire_args(&self, token: &str, now_us: Option<u64>) -> Vec<String> {
        let mut argv = vec![
            "acquire".to_owned(),
            token.to_owned(),
            millis(self.ttl).to_string(),
        ];
        if let Some(now) = now_us {
            argv.push(now.to_string());
        }
        argv
    }

    /// The arguments of a release of `token`.
    fn release_args(&self, token: &str) -> Vec<String> {
        vec!["release".to_owned(), token.to_owned()]
    }

    /// The arguments of an extension of `token` to `ttl` seconds (checked as the lock's
    /// `ttl`), and that time in nanoseconds.
    fn extend_args(&self, token: &str, ttl: &Bound<'_, PyAny>) -> PyResult<(Vec<String>, u64)> {
        let ttl = lease_of(ttl, "ttl", "ttl", LOCK_TTL, false)?;
        let argv = vec![
            "extend".to_owned(),
            token.to_owned(),
            millis(ttl).to_string(),
        ];
        Ok((argv, ttl.as_nanos()))
    }

    /// An acquisition's reply: `(True, fence)` when the lease was taken, `(False,
    /// retry_after_ns)` when another holder has it (`retry_after_ns` its remaining lease,
    /// `None` for a key someone set without an expiry); a reply the script never gives is a
    /// `ValueError`.
    fn acquired(&self, reply: &Bound<'_, PyAny>) -> PyResult<(bool, Option<u64>)> {
        let bad = || {
            PyValueError::new_err(format!(
                "the lock script answered {}, neither [1, fence, ttl] nor [0, pttl]",
                args::described(reply)
            ))
        };
        let items = reply_items(reply).ok_or_else(bad)?;
        let ints = items
            .iter()
            .map(|item| reply_int(item, "lock", "an item"))
            .collect::<PyResult<Vec<i64>>>()
            .map_err(|_| bad())?;
        match ints.as_slice() {
            [1, fence, _] if *fence > 0 => Ok((true, Some(*fence as u64))),
            [0, pttl] if *pttl >= 0 => Ok((false, Some((*pttl as u64) * NANOS_PER_MILLI))),
            [0, -1] => Ok((false, None)),
            _ => Err(bad()),
        }
    }

    /// A release's or an extension's reply: whether the lease was still held.
    fn done(&self, reply: &Bound<'_, PyAny>) -> PyResult<bool> {
        match reply_int(reply, "lock", "the reply")? {
            1 => Ok(true),
            0 => Ok(false),
            other => Err(PyValueError::new_err(format!(
                "the lock script answered {other}, neither 1 nor 0"
            ))),
        }
    }

    /// The waits of one acquisition that started at `now_ns` and waits up to `wait` seconds
    /// (`None`: the lock's `wait`) while another holder has the lock: the core's
    /// `fleet::lock_backoff` bounded by the wait.
    #[pyo3(signature = (now_ns, wait = None))]
    fn waiter(&self, now_ns: u64, wait: Option<&Bound<'_, PyAny>>) -> PyResult<LockWaiter> {
        let wait = match wait.filter(|w| !w.is_none()) {
            Some(w) => args::seconds(w, "wait")?,
            None => self.wait,
        };
        LockWaiter::start(wait, Nanos::new(now_ns))
    }

    /// The lease time in nanoseconds.
    #[getter]
    fn ttl_ns(&self) -> u64 {
        self.ttl.as_nanos()
    }

    /// How long an acquisition waits by default, in nanoseconds.
    #[getter]
    fn wait_ns(&self) -> u64 {
        self.wait.as_nanos()
    }

    /// `(replicas, timeout_ns)`, or `None`.
    #[getter]
    fn wait_replicas(&self) -> Option<(u32, u64)> {
        self.wait_replicas.map(|(n, t)| (n, t.as_nanos()))
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
}

/// `wait_replicas`: a pair of replicas (at least one) and a timeout in whole milliseconds.
fn wait_replicas_of(pair: &Bound<'_, PyAny>) -> PyResult<(u32, Nanos)> {
    let py = pair.py();
    let items = match pair.cast::<PyTuple>() {
        Ok(tuple) if tuple.len() == 2 => tuple.iter().collect::<Vec<_>>(),
        _ => return Err(args::type_error("wait_replicas", WAIT_REPLICAS, pair)),
    };
    let refused = |field: &str| {
        errors::config_of_field(py, "wait_replicas", WAIT_REPLICAS, field, Some(pair))
    };
    let replicas = &items[0];
    if !replicas.is_instance_of::<PyInt>() || replicas.is_instance_of::<PyBool>() {
        return Err(args::type_error("wait_replicas", WAIT_REPLICAS, pair));
    }
    let replicas = replicas
        .extract::<u32>()
        .ok()
        .filter(|n| *n >= 1)
        .ok_or_else(|| refused("wait_replicas.replicas"))?;
    let timeout = args::seconds(&items[1], "wait_replicas")?;
    fleet::check_lease("wait_replicas.timeout", timeout).map_err(|e| refused(e.field))?;
    Ok((replicas, timeout))
}

/// The waits of one acquisition of a held lock: the core's `fleet::lock_backoff` (from 10 ms,
/// ×2 up to 200 ms, full jitter), stopped by the caller's patience, each wait cut to the
/// holder's remaining lease.
#[pyclass(frozen, module = "stanchion._stanchion")]
pub struct LockWaiter {
    backoff: stanchion::Backoff,
    retrying: Mutex<stanchion::Retrying>,
    start: Nanos,
    wait: Nanos,
}

impl LockWaiter {
    fn start(wait: Nanos, now: Nanos) -> PyResult<LockWaiter> {
        // With no patience, one attempt and no wait.
        let config = match wait {
            Nanos::ZERO => fleet::lock_backoff().max_attempts(1),
            _ => fleet::lock_backoff().max_elapsed(wait),
        };
        let backoff = stanchion::Backoff::new(config)
            .map_err(|e: ConfigError| PyValueError::new_err(format!("the lock's backoff: {e}")))?;
        let retrying = backoff.start(backoff::random_seed(), now);
        Ok(LockWaiter {
            backoff,
            retrying: Mutex::new(retrying),
            start: now,
            wait,
        })
    }
}

#[pymethods]
impl LockWaiter {
    /// The wait in nanoseconds before the next attempt, the last having found the lock held
    /// at `now_ns` with `retry_after_ns` of its lease left (`None`: no expiry): the backoff's
    /// wait, cut to the remaining lease (at least 1 ms) since the lock may free sooner.
    /// `None` when the next attempt would start past the caller's patience.
    #[pyo3(signature = (now_ns, retry_after_ns = None))]
    fn pause(&self, now_ns: u64, retry_after_ns: Option<u64>) -> Option<u64> {
        let mut retrying = self
            .retrying
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let pause = retrying
            .next_delay(&self.backoff, Nanos::new(now_ns), None)
            .ok()?;
        let pause = match retry_after_ns {
            Some(left) => pause.min(Nanos::new(left).max(Nanos::from_millis(1))),
            None => pause,
        };
        Some(pause.as_nanos())
    }

    /// How long the acquisition waits at most, in nanoseconds (0: one attempt).
    #[getter]
    fn wait_ns(&self) -> u64 {
        self.wait.as_nanos()
    }

    /// Nanoseconds from the start of the acquisition to `now_ns`.
    fn waited_ns(&self, now_ns: u64) -> u64 {
        Nanos::new(now_ns).saturating_sub(self.start).as_nanos()
    }
}
