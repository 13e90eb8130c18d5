//! `AdaptiveLimiter`: the core's adaptive concurrency limit with a table of 1024 waiters (the
//! bulkhead's size), its permits, the waiting future (driven as the bulkhead's, `waiting`),
//! snapshots and the report of each change of the limit.

use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyInt, PyString};
use stanchion::adaptive::{
    Acquire, AdaptiveConfig, Aimd, Algorithm, Gradient2, LimitChange, Outcome, RawPermit, Vegas,
    MAX_LIMIT,
};
use stanchion::Nanos;

use crate::args::{self, core_config_error, Config};
use crate::clock::Clock;
use crate::errors;
use crate::waiting::{self, PyWake};

/// The waiter table's size, the bulkhead's: at most this many calls wait at once.
pub const WAITERS: usize = crate::bulkhead::WAITERS;
type Core = stanchion::AdaptiveLimiter<WAITERS>;

/// The clock of the core's `acquire` future. A Python clock can raise, which a core clock
/// cannot report, so the future stamps nothing and a permit it hands over is stamped with
/// this binding's clock right after (`AdaptiveLimiter::stamped`).
type Unstamped = fn() -> Nanos;
static UNSTAMPED: Unstamped = || Nanos::ZERO;
type Waiting = Acquire<'static, Unstamped, WAITERS>;

/// The algorithms by name, with the Python parameters of each.
const ALGORITHMS: [(&str, &[&str]); 3] = [
    ("aimd", &["backoff_ratio", "aimd_timeout"]),
    ("vegas", &["alpha", "beta", "probe_multiplier", "smoothing"]),
    (
        "gradient2",
        &[
            "smoothing",
            "queue_size",
            "long_window",
            "rtt_tolerance",
            "creep_guard",
        ],
    ),
];
const ALGORITHM: &str = "\"aimd\", \"vegas\" or \"gradient2\"";
const PARAMETER: &str = "an int from 0 to 65535";
const POSITIVE_PARAMETER: &str = "an int from 1 to 65535";

static MAX_LIMIT_RANGE: LazyLock<String> =
    LazyLock::new(|| format!("an int from min_limit to {MAX_LIMIT}"));
static MIN_SAMPLES: LazyLock<String> = LazyLock::new(|| format!("an int from 1 to {}", u32::MAX));

/// The core's adaptive limiter fields as `(core field, Python parameter, allowed values)`.
fn fields() -> [(&'static str, &'static str, &'static str); 13] {
    [
        ("max_limit", "max_limit", MAX_LIMIT_RANGE.as_str()),
        ("min_limit", "min_limit", "an int from 1 to max_limit"),
        (
            "initial_limit",
            "initial_limit",
            "an int from min_limit to max_limit",
        ),
        ("min_samples", "min_samples", MIN_SAMPLES.as_str()),
        (
            "algorithm.backoff_ratio",
            "backoff_ratio",
            "a number in [0.5, 1)",
        ),
        (
            "algorithm.timeout",
            "aimd_timeout",
            "a number of seconds > 0",
        ),
        ("algorithm.alpha", "alpha", PARAMETER),
        ("algorithm.beta", "beta", PARAMETER),
        (
            "algorithm.probe_multiplier",
            "probe_multiplier",
            POSITIVE_PARAMETER,
        ),
        ("algorithm.smoothing", "smoothing", "a number in (0, 1]"),
        ("algorithm.queue_size", "queue_size", PARAMETER),
        ("algorithm.long_window", "long_window", POSITIVE_PARAMETER),
        (
            "algorithm.rtt_tolerance",
            "rtt_tolerance",
            "a number in [1, 1000]",
        ),
    ]
}

/// The Python parameter of a core field and its allowed values.
fn describe(field: &str) -> Option<(&'static str, &'static str)> {
    fields()
        .into_iter()
        .find(|(f, _, _)| *f == field)
        .map(|(_, parameter, allowed)| (parameter, allowed))
}

/// A count the core validates, `default` when absent. A value past `u32` is refused at once,
/// in the words and under the core field name the core would use.
fn count(c: &Config<'_>, key: &str, default: u32) -> PyResult<u32> {
    let Some(value) = c.get(key)? else {
        return Ok(default);
    };
    let (field, allowed) = fields()
        .into_iter()
        .find(|(_, parameter, _)| *parameter == key)
        .map_or((key, "an int"), |(field, _, allowed)| (field, allowed));
    if !value.is_instance_of::<PyInt>() || value.is_instance_of::<PyBool>() {
        return Err(args::type_error(key, "an int", &value));
    }
    value
        .extract::<u32>()
        .map_err(|_| errors::config_of_field(value.py(), key, allowed, field, Some(&value)))
}

/// The algorithm named by `algorithm`, with its parameters (the ones left out, or `None`, at
/// the core's defaults). A parameter of another algorithm is refused rather than ignored.
fn algorithm_of(c: &Config<'_>) -> PyResult<Algorithm> {
    let name = match c.get("algorithm")? {
        None => "aimd".to_owned(),
        Some(value) => {
            if !value.is_instance_of::<PyString>() {
                return Err(args::type_error("algorithm", ALGORITHM, &value));
            }
            value.extract::<String>()?
        }
    };
    let Some((name, own)) = ALGORITHMS.into_iter().find(|(n, _)| *n == name) else {
        let got = c.get("algorithm")?;
        return Err(errors::config(c.py(), "algorithm", ALGORITHM, got.as_ref()));
    };
    for (other, parameters) in ALGORITHMS {
        for parameter in parameters.iter().filter(|p| !own.contains(p)) {
            if let Some(got) = c.get(parameter)? {
                let allowed =
                    format!("None with algorithm=\"{name}\" (it is a parameter of \"{other}\")");
                return Err(errors::config(c.py(), parameter, &allowed, Some(&got)));
            }
        }
    }
    Ok(match name {
        "vegas" => {
            let d = Vegas::new();
            Algorithm::Vegas(Vegas {
                alpha: count(c, "alpha", d.alpha)?,
                beta: count(c, "beta", d.beta)?,
                probe_multiplier: count(c, "probe_multiplier", d.probe_multiplier)?,
                smoothing: c.real("smoothing", d.smoothing)?,
            })
        }
        "gradient2" => {
            let d = Gradient2::new();
            Algorithm::Gradient2(Gradient2 {
                smoothing: c.real("smoothing", d.smoothing)?,
                queue_size: count(c, "queue_size", d.queue_size)?,
                long_window: count(c, "long_window", d.long_window)?,
                rtt_tolerance: c.real("rtt_tolerance", d.rtt_tolerance)?,
                creep_guard: match c.get("creep_guard")? {
                    None => d.creep_guard,
                    Some(on) if on.is_instance_of::<PyBool>() => on.extract()?,
                    Some(other) => return Err(args::type_error("creep_guard", "a bool", &other)),
                },
            })
        }
        _ => {
            let d = Aimd::new();
            Algorithm::Aimd(Aimd {
                backoff_ratio: c.real("backoff_ratio", d.backoff_ratio)?,
                timeout: c.seconds("aimd_timeout", d.timeout)?,
            })
        }
    })
}

/// An `AdaptiveConfig` from the Python parameters (missing keys take the core's defaults),
/// checked by the core.
fn config_of(obj: &Bound<'_, PyAny>) -> PyResult<AdaptiveConfig> {
    let c = Config::new(obj)?;
    let d = AdaptiveConfig::new();
    let mut config = d
        .algorithm(algorithm_of(&c)?)
        .limits(
            count(&c, "min_limit", d.min_limit)?,
            count(&c, "initial_limit", d.initial_limit)?,
            count(&c, "max_limit", d.max_limit)?,
        )
        .window(
            c.seconds("window", d.window)?,
            count(&c, "min_samples", d.min_samples)?,
        )
        .seed(
            c.get("seed")?
                .map_or(Ok(d.seed), |s| args::integer(&s, "seed", 0, u64::MAX))?,
        );
    // As the bulkhead's: left out, the core's default, which the waiter table bounds; a
    // value past the table would be cut to it, so it is refused instead.
    if let Some(waiting) = c.get("max_waiting")? {
        config = config.max_waiting(args::count(&waiting, "max_waiting", 0, WAITERS as u32)?);
    }
    config
        .validate()
        .map_err(|e| core_config_error(obj, e, describe))?;
    Ok(config)
}

/// A report's outcome by its name (`adaptive::Outcome::as_str`).
fn outcome_of(name: &str) -> PyResult<Outcome> {
    [
        Outcome::Success,
        Outcome::Failure,
        Outcome::Ignored,
        Outcome::Dropped,
    ]
    .into_iter()
    .find(|o| o.as_str() == name)
    .ok_or_else(|| {
        PyValueError::new_err(format!(
            "outcome must be \"success\", \"failure\", \"ignored\" or \"dropped\", got {name:?}"
        ))
    })
}

/// A concurrency limit that follows the measured latency, over the core's.
#[pyclass(frozen, module = "stanchion._stanchion")]
pub struct AdaptiveLimiter {
    core: Arc<Core>,
    clock: Clock,
    on_limit_change: Option<Py<PyAny>>,
}

impl AdaptiveLimiter {
    /// A permit for `raw`, issued at the clock's time now. If the clock raises, the permit is
    /// given back (no sample) and the error returned.
    fn stamped(slf: &Bound<'_, Self>, raw: RawPermit) -> PyResult<AdaptivePermit> {
        let this = slf.get();
        match this.clock.now(slf.py()) {
            Ok(now) => Ok(AdaptivePermit::new(
                slf,
                RawPermit::from_parts(now, raw.in_flight(), true),
            )),
            Err(err) => {
                let mut raw = raw;
                this.core.release(&mut raw);
                Err(err)
            }
        }
    }
}

#[pymethods]
impl AdaptiveLimiter {
    #[new]
    #[pyo3(signature = (config, clock = None, on_limit_change = None))]
    fn new(
        config: &Bound<'_, PyAny>,
        clock: Option<Bound<'_, PyAny>>,
        on_limit_change: Option<Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let parsed = config_of(config)?;
        let core = Core::new(parsed).map_err(|e| core_config_error(config, e, describe))?;
        Ok(AdaptiveLimiter {
            core: Arc::new(core),
            clock: Clock::from_arg(clock)?,
            on_limit_change: on_limit_change.filter(|c| !c.is_none()).map(Bound::unbind),
        })
    }

    /// A permit issued now while fewer than the limit are out, or `BulkheadFullError`
    /// (`bulkhead_full`, no `retry_after`: only a release can help). Never waits.
    fn try_acquire(slf: &Bound<'_, Self>) -> PyResult<AdaptivePermit> {
        let py = slf.py();
        let this = slf.get();
        let now = this.clock.now(py)?;
        match this.core.try_acquire(now) {
            Ok(permit) => Ok(AdaptivePermit::new(slf, permit.into_raw())),
            Err(rejected) => Err(errors::refused(py, rejected)),
        }
    }

    /// A permit if one is free now and nobody waits for it; else `None`, with nothing counted
    /// (a miss is not a refusal: the caller will wait). The core's `acquire` future polled
    /// once and dropped if it would have to wait, which leaves the queue as it was.
    fn try_enter(slf: &Bound<'_, Self>) -> PyResult<Option<AdaptivePermit>> {
        let this = slf.get();
        match waiting::poll_once(pin!(this.core.acquire(&UNSTAMPED))) {
            Some(Ok(permit)) => Self::stamped(slf, permit.into_raw()).map(Some),
            Some(Err(rejected)) => Err(errors::refused(slf.py(), rejected)),
            None => Ok(None),
        }
    }

    /// A permit, waiting for it in the queue if need be: the core's `acquire` future driven
    /// from this thread, which parks without the GIL between polls; the permit is issued when
    /// it is handed over, so time spent queued is not the call's latency. `None` when
    /// `timeout_ns` passed first (the queue is left clean); `BulkheadFullError` (`queue_full`)
    /// when it could not wait.
    #[pyo3(signature = (timeout_ns = None))]
    fn wait(slf: &Bound<'_, Self>, timeout_ns: Option<u64>) -> PyResult<Option<AdaptivePermit>> {
        let py = slf.py();
        let this = slf.get();
        let future = pin!(this.core.acquire(&UNSTAMPED));
        match waiting::block_on(py, future, timeout_ns)? {
            Some(Ok(permit)) => Self::stamped(slf, permit.into_raw()).map(Some),
            Some(Err(rejected)) => Err(errors::refused(py, rejected)),
            None => Ok(None),
        }
    }

    /// A place in the wait queue; `wake` is called (from any thread) when the waiter should be
    /// polled again.
    fn enqueue(slf: &Bound<'_, Self>, wake: Bound<'_, PyAny>) -> AdaptiveWaiter {
        let core = Arc::clone(&slf.get().core);
        let future = core.acquire(&UNSTAMPED);
        // SAFETY: only the lifetime changes. The future borrows the limiter inside the Arc
        // that the waiter also holds (and a `'static` clock), and the waiter's field order
        // drops the future first, so the borrow never outlives the limiter.
        let future: Waiting = unsafe { std::mem::transmute(future) };
        AdaptiveWaiter {
            future: Mutex::new(Some(future)),
            waker: PyWake::waker(wake),
            limiter: slf.clone().unbind(),
            _core: core,
        }
    }

    /// The limit in force.
    #[getter]
    fn limit(&self) -> u32 {
        self.core.limit()
    }

    /// The state now.
    fn snapshot(&self) -> AdaptiveSnapshot {
        let s = self.core.snapshot();
        AdaptiveSnapshot {
            limit: s.limit,
            in_flight: s.in_flight,
            waiting: s.waiting,
            peak: s.peak,
            rejected: s.rejected,
            baseline_ns: s.baseline.map(Nanos::as_nanos),
            last_update_ns: s.last_update.map(Nanos::as_nanos),
            windows: s.windows,
        }
    }

    /// Checks a config without building a limiter.
    #[staticmethod]
    fn validate(config: &Bound<'_, PyAny>) -> PyResult<()> {
        config_of(config).map(drop)
    }
}

/// One call admitted by an adaptive limiter: report how it ended once, with `record(outcome)`
/// or `release()` (later reports do nothing). A permit dropped unreported (garbage-collected)
/// is given back with no sample, as the core's `Permit` is when dropped.
#[pyclass(frozen, module = "stanchion._stanchion")]
pub struct AdaptivePermit {
    limiter: Py<AdaptiveLimiter>,
    raw: RawPermit,
    held: AtomicBool,
}

impl AdaptivePermit {
    fn new(limiter: &Bound<'_, AdaptiveLimiter>, raw: RawPermit) -> Self {
        AdaptivePermit {
            limiter: limiter.clone().unbind(),
            raw,
            held: AtomicBool::new(true),
        }
    }

    /// Claims the permit's one report: `true` the first time.
    fn claim(&self) -> bool {
        self.held.swap(false, Ordering::AcqRel)
    }
}

impl Drop for AdaptivePermit {
    fn drop(&mut self) {
        if std::mem::replace(self.held.get_mut(), false) {
            let mut raw = self.raw;
            self.limiter.get().core.release(&mut raw);
        }
    }
}

#[pymethods]
impl AdaptivePermit {
    /// Reports how the call ended, now: `"success"` or `"failure"` (its latency is a sample),
    /// `"dropped"` (a timeout, or a refusal for overload from further down) or `"ignored"`
    /// (no sample). Gives the permit back; returns `(from, to)` when this report closed a
    /// window whose update changed the limit (after calling the limiter's `on_limit_change`),
    /// else `None`, as it does for a permit already reported.
    fn record(&self, py: Python<'_>, outcome: &str) -> PyResult<Option<(u32, u32)>> {
        let outcome = outcome_of(outcome)?;
        if !self.claim() {
            return Ok(None);
        }
        let limiter = self.limiter.get();
        let mut raw = self.raw;
        let now = match limiter.clock.now(py) {
            Ok(now) => now,
            Err(err) => {
                // Nobody knows when the call ended: given back, no sample.
                limiter.core.release(&mut raw);
                return Err(err);
            }
        };
        let change = limiter.core.record_raw(&mut raw, outcome, now);
        if let (Some(LimitChange { from, to }), Some(callback)) = (change, &limiter.on_limit_change)
        {
            callback.call1(py, (from, to))?;
        }
        Ok(change.map(|c| (c.from, c.to)))
    }

    /// Gives the permit back with no sample: `True` the first time, `False` after (or after a
    /// `record`).
    fn release(&self) -> bool {
        if !self.claim() {
            return false;
        }
        let mut raw = self.raw;
        self.limiter.get().core.release(&mut raw)
    }

    /// Whether the permit is still held (neither recorded nor released).
    #[getter]
    fn held(&self) -> bool {
        self.held.load(Ordering::Acquire)
    }

    /// When the call began, in clock nanoseconds: its latency is measured from here.
    #[getter]
    fn issued_at_ns(&self) -> u64 {
        self.raw.issued_at().as_nanos()
    }

    /// The calls in flight when this one was admitted, itself included.
    #[getter]
    fn in_flight(&self) -> u32 {
        self.raw.in_flight()
    }
}

/// A place in an adaptive limiter's wait queue (the core's `acquire` future).
#[pyclass(frozen, module = "stanchion._stanchion")]
pub struct AdaptiveWaiter {
    // Declared before `_core`, so it drops first: it borrows the limiter the Arc keeps.
    future: Mutex<Option<Waiting>>,
    waker: Waker,
    limiter: Py<AdaptiveLimiter>,
    /// Keeps alive the limiter the future borrows.
    _core: Arc<Core>,
}

#[pymethods]
impl AdaptiveWaiter {
    /// Polls the future: the permit once served (issued now), `None` while waiting (or after
    /// it resolved or was cancelled), `BulkheadFullError` (`queue_full`) if it could not wait.
    fn poll(&self, py: Python<'_>) -> PyResult<Option<AdaptivePermit>> {
        let mut guard = self.future.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(future) = guard.as_mut() else {
            return Ok(None);
        };
        let mut cx = Context::from_waker(&self.waker);
        match Pin::new(future).poll(&mut cx) {
            Poll::Pending => Ok(None),
            Poll::Ready(answer) => {
                *guard = None;
                drop(guard);
                match answer {
                    Ok(permit) => {
                        AdaptiveLimiter::stamped(self.limiter.bind(py), permit.into_raw()).map(Some)
                    }
                    Err(rejected) => Err(errors::refused(py, rejected)),
                }
            }
        }
    }

    /// Leaves the queue; a permit already handed to this waiter passes on.
    fn cancel(&self) {
        let future = self
            .future
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        drop(future);
    }
}

/// An adaptive limiter's state at one moment (read-only). Instants and latencies are
/// nanoseconds of the limiter's clock.
#[pyclass(frozen, get_all, module = "stanchion._stanchion")]
pub struct AdaptiveSnapshot {
    limit: u32,
    in_flight: u32,
    waiting: u32,
    peak: u32,
    rejected: u64,
    baseline_ns: Option<u64>,
    last_update_ns: Option<u64>,
    windows: u64,
}

#[pymethods]
impl AdaptiveSnapshot {
    fn __repr__(&self) -> String {
        format!(
            "AdaptiveSnapshot(limit={}, in_flight={}, waiting={}, peak={}, rejected={}, windows={})",
            self.limit, self.in_flight, self.waiting, self.peak, self.rejected, self.windows
        )
    }
}
