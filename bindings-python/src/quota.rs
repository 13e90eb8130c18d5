//! The fleet quota's client side for `stanchion.redis.FleetQuota`: its checked config, the
//! keys and arguments of each call of `quota.lua` (`redis/scripts/quota.lua`, whose header is
//! the call contract), and the reading of its replies.
//!
//! The rules are the Rust reference's (`stanchion-redis`: `FleetQuotaConfig`, `FleetQuota`,
//! `names`), so that every binding names the same keys, starts a take at the same bucket and
//! refuses the same arguments: buckets `<prefix>{<name>:<i>}:quota` each on its own hash tag,
//! a take with a request id starting at the FNV-1a hash of the id modulo the bucket count
//! (the core's `key_of_bytes`), one without at a random bucket, a restock spread evenly from
//! a starting bucket. The Python layer makes the calls, one per bucket visited, through the
//! guard it shares with the limiter; this layer decides what each call is and what its
//! answer means.

use std::sync::atomic::{AtomicU64, Ordering};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyInt, PyList, PyTuple};
use stanchion::{key_of_bytes, rng, Nanos};

use crate::args::{self, Config};
use crate::{backoff, errors, fleet};
use stanchion::fleet::{quota, MAX_MILLIS};

// The bounds and defaults are the core's (`stanchion::fleet::quota`), shared by every language.
pub use stanchion::fleet::quota::{
    DEFAULT_BATCH, DEFAULT_ID_MEMORY, MAX_BUCKETS, MAX_REQUEST_ID_LEN, MAX_UNITS,
};
const NANOS_PER_MILLI: u64 = 1_000_000;

/// What `n` and `batch` accept.
const UNITS: &str = "an int from 1 to 9007199254740991 (2^53 - 1)";
/// What `id_memory` accepts.
const ID_MEMORY: &str = "a number of seconds from 1 ms to 2^40 ms (1099511627.776 s), kept in \
                         whole milliseconds (rounded down)";
/// What `request_id` accepts.
const REQUEST_ID: &str = "a str of 1 to 256 bytes in UTF-8, or None";
/// What a request id must be when the script remembers it for a take of another `n`.
const REUSED_ID: &str = "an id not used within its memory (id_memory) for a take of another n";

/// A count of units in `1..=MAX_UNITS`, named `parameter`.
fn units(obj: &Bound<'_, PyAny>, parameter: &str) -> PyResult<u64> {
    if !obj.is_instance_of::<PyInt>() {
        return Err(args::type_error(parameter, "an int", obj));
    }
    match obj.extract::<u64>() {
        Ok(n) if quota::check_units("n", n).is_ok() => Ok(n),
        _ => Err(errors::config(obj.py(), parameter, UNITS, Some(obj))),
    }
}

/// A request id: `None`, or a str of 1 to 256 bytes of UTF-8.
fn request_id_of(id: Option<&Bound<'_, PyAny>>) -> PyResult<Option<String>> {
    let Some(id) = id.filter(|id| !id.is_none()) else {
        return Ok(None);
    };
    let text = fleet::text(id, "request_id", REQUEST_ID)?;
    if quota::check_request_id_len(text.len()).is_err() {
        return Err(errors::config(id.py(), "request_id", REQUEST_ID, Some(id)));
    }
    Ok(Some(text))
}

/// A number of the script's reply: an int (RESP2 and RESP3 both give ints here).
fn reply_int(item: &Bound<'_, PyAny>, what: &str) -> PyResult<i64> {
    if item.is_instance_of::<PyInt>() && !item.is_instance_of::<PyBool>() {
        if let Ok(value) = item.extract::<i64>() {
            return Ok(value);
        }
    }
    Err(PyValueError::new_err(format!(
        "the quota script answered {what} = {}, not an integer",
        args::described(item)
    )))
}

/// The items of a reply of `len` items, or a `ValueError` naming what was expected.
fn reply_items<'py>(
    reply: &Bound<'py, PyAny>,
    len: usize,
    expected: &str,
) -> PyResult<Vec<Bound<'py, PyAny>>> {
    match (reply.cast::<PyList>(), reply.cast::<PyTuple>()) {
        (Ok(list), _) if list.len() == len => Ok(list.iter().collect()),
        (_, Ok(tuple)) if tuple.len() == len => Ok(tuple.iter().collect()),
        _ => Err(PyValueError::new_err(format!(
            "the quota script answered {}, not {expected}",
            args::described(reply)
        ))),
    }
}

/// A count the script reports: `0..=MAX_UNITS`.
fn reply_count(item: &Bound<'_, PyAny>, what: &str) -> PyResult<u64> {
    let value = reply_int(item, what)?;
    u64::try_from(value)
        .ok()
        .filter(|count| *count <= MAX_UNITS)
        .ok_or_else(|| {
            PyValueError::new_err(format!(
                "the quota script answered {what} = {value}, not a count from 0 to 2^53 - 1"
            ))
        })
}

/// One call of the script: its keys and its arguments.
type Call = (Vec<String>, Vec<String>);

/// A fleet quota's client side: the checked config, the keys and arguments of each call, and
/// the reading of the replies. Random starting buckets come from the core's generator.
#[pyclass(frozen, module = "stanchion._stanchion")]
pub struct FleetQuota {
    prefix: String,
    buckets: u32,
    id_memory_ms: u64,
    /// The script's id memory argument, formatted once.
    memory_arg: String,
    batch: u64,
    timeout: Nanos,
    seed: u64,
    draws: AtomicU64,
}

impl FleetQuota {
    fn key(&self, name: &str, bucket: u32) -> String {
        format!("{}{{{name}:{bucket}}}:quota", self.prefix)
    }

    fn check_bucket(&self, bucket: &Bound<'_, PyAny>) -> PyResult<u32> {
        let allowed = format!(
            "an int from 0 to {} (below the quota's bucket count)",
            self.buckets - 1
        );
        if !bucket.is_instance_of::<PyInt>() {
            return Err(args::type_error("bucket", "an int", bucket));
        }
        match bucket.extract::<u32>() {
            Ok(index) if index < self.buckets => Ok(index),
            _ => Err(errors::config(
                bucket.py(),
                "bucket",
                &allowed,
                Some(bucket),
            )),
        }
    }

    /// A starting bucket: the one given (checked), else a random one.
    fn start_of(&self, start: Option<&Bound<'_, PyAny>>) -> PyResult<u32> {
        match start.filter(|s| !s.is_none()) {
            Some(start) => self.check_bucket(start),
            None => Ok(self.random()),
        }
    }

    fn random(&self) -> u32 {
        let index = self.draws.fetch_add(1, Ordering::Relaxed);
        let bits = rng::draw(self.seed, index);
        rng::uniform(bits, 0, u64::from(self.buckets) - 1) as u32
    }

    fn start_of_id(&self, id: &str) -> u32 {
        (key_of_bytes(id.as_bytes()) % u64::from(self.buckets)) as u32
    }
}

#[pymethods]
impl FleetQuota {
    /// A fleet quota from a dict of the Python parameters: `prefix`, `buckets`, `id_memory`
    /// (seconds), `batch`, `timeout` (seconds); a missing or `None` value takes the default.
    #[new]
    fn new(config: &Bound<'_, PyAny>) -> PyResult<Self> {
        let c = Config::new(config)?;
        let prefix = c
            .get("prefix")?
            .map_or(Ok(stanchion::fleet::DEFAULT_PREFIX.to_owned()), |p| {
                fleet::prefix_of(&p)
            })?;
        let buckets = match c.get("buckets")? {
            Some(b) => args::integer(&b, "buckets", 1, u64::from(MAX_BUCKETS))? as u32,
            None => 1,
        };
        let id_memory_ms = match c.get("id_memory")? {
            Some(memory) => quota::id_memory_millis(args::seconds(&memory, "id_memory")?)
                .map_err(|_| errors::config(config.py(), "id_memory", ID_MEMORY, Some(&memory)))?,
            None => DEFAULT_ID_MEMORY.as_nanos() / NANOS_PER_MILLI,
        };
        let batch = c
            .get("batch")?
            .map_or(Ok(DEFAULT_BATCH), |b| units(&b, "batch"))?;
        let timeout = c
            .get("timeout")?
            .map_or(Ok(stanchion::fleet::DEFAULT_CALL_TIMEOUT), |t| {
                fleet::timeout_of(&t)
            })?;
        Ok(FleetQuota {
            prefix,
            buckets,
            id_memory_ms,
            memory_arg: id_memory_ms.to_string(),
            batch,
            timeout,
            seed: backoff::random_seed(),
            draws: AtomicU64::new(0),
        })
    }

    /// The Redis key of bucket `bucket` (0 when `None`) of quota `name`:
    /// `<prefix>{<name>:<bucket>}:quota`.
    #[pyo3(signature = (name, bucket = None))]
    fn redis_key(
        &self,
        name: &Bound<'_, PyAny>,
        bucket: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<String> {
        let name = fleet::name_of("name", name)?;
        let bucket = match bucket.filter(|b| !b.is_none()) {
            Some(bucket) => self.check_bucket(bucket)?,
            None => 0,
        };
        Ok(self.key(&name, bucket))
    }

    /// The bucket where a take with `request_id` starts: the 64-bit FNV-1a hash of the id's
    /// UTF-8 bytes (the core's `key_of_bytes`), modulo the bucket count.
    fn start_bucket(&self, request_id: &Bound<'_, PyAny>) -> PyResult<u32> {
        match request_id_of(Some(request_id))? {
            Some(id) => Ok(self.start_of_id(&id)),
            None => Err(args::type_error("request_id", "a str", request_id)),
        }
    }

    /// A random bucket, where a take without an id and a give-back start.
    fn random_bucket(&self) -> u32 {
        self.random()
    }

    /// The plan of a take of `n` units: `(start, most, args)`, every argument checked (`n`,
    /// then `request_id`, `start`, `name`). `args` are the script's, the same for every
    /// bucket visited; `most` is `n`, or for a local pool's refill (`batch`) the larger of
    /// `n` and the batch. `start` is where the sweep begins: the id's bucket, else `start`,
    /// else a random one. `now_ns` replaces the server's `TIME` (conformance tests only).
    #[pyo3(signature = (name, n, request_id = None, start = None, now_ns = None, batch = false))]
    fn take_plan(
        &self,
        name: &Bound<'_, PyAny>,
        n: &Bound<'_, PyAny>,
        request_id: Option<&Bound<'_, PyAny>>,
        start: Option<&Bound<'_, PyAny>>,
        now_ns: Option<u64>,
        batch: bool,
    ) -> PyResult<(u32, u64, Vec<String>)> {
        let least = units(n, "n")?;
        let id = request_id_of(request_id)?;
        let first = match &id {
            Some(id) => self.start_of_id(id),
            None => self.start_of(start)?,
        };
        fleet::name_of("name", name)?;
        let most = if batch { least.max(self.batch) } else { least };
        let mut argv = vec![
            "take".to_owned(),
            least.to_string(),
            most.to_string(),
            self.memory_arg.clone(),
        ];
        if let Some(now) = now_ns {
            argv.push(now.to_string());
        }
        Ok((first, most, argv))
    }

    /// The keys of a take at bucket `bucket`: the bucket's count, and with a request id the
    /// key where that bucket remembers it (same hash tag). `name` and `request_id` are those
    /// `take_plan` checked.
    #[pyo3(signature = (name, bucket, request_id = None))]
    fn take_keys(&self, name: &str, bucket: u32, request_id: Option<&str>) -> Vec<String> {
        let key = self.key(name, bucket);
        match request_id {
            Some(id) => {
                let remembered = format!("{key}:id:{id}");
                vec![key, remembered]
            }
            None => vec![key],
        }
    }

    /// The reply `[taken, remaining, replayed]` to a take of `least..=most` units, read as
    /// `(taken, remaining, replayed)`: `taken` is 0 when this bucket could not serve it. An id
    /// remembered for another `n` is a `ConfigError` on `request_id`; a reply the script
    /// never gives is a `ValueError`.
    #[pyo3(signature = (reply, least, most, request_id = None))]
    fn take_answer(
        &self,
        reply: &Bound<'_, PyAny>,
        least: u64,
        most: u64,
        request_id: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<(u64, u64, bool)> {
        let items = reply_items(reply, 3, "[taken, remaining, replayed]")?;
        let taken = reply_int(&items[0], "taken")?;
        let remaining = reply_count(&items[1], "remaining")?;
        let replayed = match reply_int(&items[2], "replayed")? {
            0 => false,
            1 => true,
            other => {
                return Err(PyValueError::new_err(format!(
                    "the quota script answered replayed = {other}, neither 1 nor 0"
                )))
            }
        };
        match u64::try_from(taken) {
            Ok(0) => Ok((0, remaining, replayed)),
            Ok(units) if units >= least && units <= most => Ok((units, remaining, replayed)),
            _ if taken == -1 => Err(errors::config(
                reply.py(),
                "request_id",
                REUSED_ID,
                request_id,
            )),
            _ => Err(PyValueError::new_err(format!(
                "the quota script took {taken} units, outside the {least} to {most} asked for"
            ))),
        }
    }

    /// The calls of a restock of `n` units: one per bucket, `(keys, args)`, from bucket
    /// `start` (random when `None`) round the ring; each bucket gets `n / buckets` and the
    /// first `n % buckets` one more; a bucket that gets none is read instead.
    #[pyo3(signature = (name, n, start = None))]
    fn restock_plan(
        &self,
        name: &Bound<'_, PyAny>,
        n: &Bound<'_, PyAny>,
        start: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Vec<Call>> {
        let name = fleet::name_of("name", name)?;
        let n = units(n, "n")?;
        let first = self.start_of(start)?;
        let buckets = u64::from(self.buckets);
        let (share, extra) = (n / buckets, n % buckets);
        Ok((0..self.buckets)
            .map(|step| {
                let bucket = (first + step) % self.buckets;
                let units = share + u64::from(u64::from(step) < extra);
                let argv = if units == 0 {
                    vec!["remaining".to_owned()]
                } else {
                    vec!["restock".to_owned(), units.to_string()]
                };
                (vec![self.key(&name, bucket)], argv)
            })
            .collect())
    }

    /// The call that gives `n` units back to one random bucket (a local pool's leftovers).
    fn give_back_call(&self, name: &Bound<'_, PyAny>, n: &Bound<'_, PyAny>) -> PyResult<Call> {
        let name = fleet::name_of("name", name)?;
        let n = units(n, "n")?;
        let bucket = self.random();
        Ok((
            vec![self.key(&name, bucket)],
            vec!["restock".to_owned(), n.to_string()],
        ))
    }

    /// The calls that read quota `name`: bucket `bucket`, or every bucket when `None`.
    #[pyo3(signature = (name, bucket = None))]
    fn remaining_plan(
        &self,
        name: &Bound<'_, PyAny>,
        bucket: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Vec<Call>> {
        let name = fleet::name_of("name", name)?;
        let read = |bucket: u32| (vec![self.key(&name, bucket)], vec!["remaining".to_owned()]);
        match bucket.filter(|b| !b.is_none()) {
            Some(bucket) => Ok(vec![read(self.check_bucket(bucket)?)]),
            None => Ok((0..self.buckets).map(read).collect()),
        }
    }

    /// The reply `[remaining]` to a restock or a read, as the count.
    fn count_answer(&self, reply: &Bound<'_, PyAny>) -> PyResult<u64> {
        let items = reply_items(reply, 1, "[remaining]")?;
        reply_count(&items[0], "remaining")
    }

    /// The key prefix.
    #[getter]
    fn prefix(&self) -> &str {
        &self.prefix
    }

    /// How many buckets the stock is split over.
    #[getter]
    fn buckets(&self) -> u32 {
        self.buckets
    }

    /// How long a bucket remembers a request id, in nanoseconds (whole milliseconds).
    #[getter]
    fn id_memory_ns(&self) -> u64 {
        self.id_memory_ms * NANOS_PER_MILLI
    }

    /// How many units a local pool takes at once.
    #[getter]
    fn batch(&self) -> u64 {
        self.batch
    }

    /// How long one call may take, in nanoseconds.
    #[getter]
    fn timeout_ns(&self) -> u64 {
        self.timeout.as_nanos()
    }
}

/// The quota's defaults and limits. Durations are nanoseconds.
#[pyfunction]
pub fn fleet_quota_defaults(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("default_id_memory_ns", DEFAULT_ID_MEMORY.as_nanos())?;
    d.set_item("default_batch", DEFAULT_BATCH)?;
    d.set_item("max_buckets", MAX_BUCKETS)?;
    d.set_item("max_units", MAX_UNITS)?;
    d.set_item("max_request_id_len", MAX_REQUEST_ID_LEN)?;
    d.set_item("max_id_memory_ns", MAX_MILLIS * NANOS_PER_MILLI)?;
    Ok(d)
}
