//! `Backoff` and `Retrying`: the core's schedules, jitter and caps, in nanoseconds.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use pyo3::prelude::*;
use stanchion::backoff::Exhausted;
use stanchion::{BackoffConfig, Jitter, Nanos};

use crate::args::{self, core_config_error, Config};
use crate::errors;

const SCHEDULES: &str = "\"constant\", \"linear\", \"exponential\" or \"decorrelated\"";
const JITTERS: &str = "\"none\", \"full\", \"equal\" or a number in [0, 1]";
const MAX_ATTEMPTS: &str = "an int from 1 to 4294967295, or None for no limit";

/// The core's backoff fields as Python parameters, with their allowed values.
fn describe(field: &str) -> Option<(&'static str, &'static str)> {
    Some(match field {
        "schedule.factor" => ("factor", "a number in [1, 1024]"),
        "jitter.proportional" => ("jitter", JITTERS),
        "jitter" => (
            "jitter",
            "\"none\" with a decorrelated schedule (its jitter is built in)",
        ),
        "max_attempts" => ("max_attempts", MAX_ATTEMPTS),
        _ => return None,
    })
}

fn config_of(py: Python<'_>, obj: &Bound<'_, PyAny>) -> PyResult<BackoffConfig> {
    let c = Config::new(obj)?;
    let given = c.get("schedule")?;
    let schedule: String = match &given {
        Some(s) => s
            .extract()
            .map_err(|_| errors::config(py, "schedule", SCHEDULES, Some(s)))?,
        None => "exponential".to_owned(),
    };
    let mut config = match schedule.as_str() {
        "constant" => BackoffConfig::constant(c.seconds("delay", Nanos::from_millis(100))?),
        "linear" => BackoffConfig::linear(
            c.seconds("initial", Nanos::from_millis(100))?,
            c.seconds("step", Nanos::from_millis(100))?,
        ),
        "exponential" => BackoffConfig::exponential(
            c.seconds("initial", Nanos::from_millis(100))?,
            c.real("factor", 2.0)?,
        ),
        "decorrelated" => BackoffConfig::decorrelated(c.seconds("base", Nanos::from_millis(100))?),
        _ => return Err(errors::config(py, "schedule", SCHEDULES, given.as_ref())),
    };
    let jitter = match c.get("jitter")? {
        None => Jitter::None,
        Some(j) => match j.extract::<String>().ok().as_deref() {
            Some("none") => Jitter::None,
            Some("full") => Jitter::Full,
            Some("equal") => Jitter::Equal,
            Some(_) => return Err(errors::config(py, "jitter", JITTERS, Some(&j))),
            None => Jitter::Proportional(args::real(&j, "jitter")?),
        },
    };
    config = config.jitter(jitter);
    if let Some(cap) = c.opt_seconds("max_delay")? {
        config = config.max_delay(cap);
    }
    config = match c.core_opt_count("max_attempts", MAX_ATTEMPTS, Some(3))? {
        Some(n) => config.max_attempts(n),
        None => config.unlimited_attempts(),
    };
    if let Some(limit) = c.opt_seconds("max_elapsed")? {
        config = config.max_elapsed(limit);
    }
    Ok(config)
}

/// A validated backoff.
#[pyclass(frozen, module = "stanchion._stanchion")]
pub struct Backoff {
    pub(crate) core: stanchion::Backoff,
}

#[pymethods]
impl Backoff {
    #[new]
    fn new(py: Python<'_>, config: &Bound<'_, PyAny>) -> PyResult<Self> {
        let parsed = config_of(py, config)?;
        let core =
            stanchion::Backoff::new(parsed).map_err(|e| core_config_error(config, e, describe))?;
        Ok(Backoff { core })
    }

    /// The wait in nanoseconds before retry `attempt` (0: before the second call), or `None`.
    fn delay(&self, attempt: u32, seed: u64) -> Option<u64> {
        self.core.delay(attempt, seed).map(Nanos::as_nanos)
    }

    /// Up to `limit` waits for `seed`, assuming the attempts take no time.
    fn delays(&self, seed: u64, limit: usize) -> Vec<u64> {
        self.core
            .iter(seed)
            .take(limit)
            .map(Nanos::as_nanos)
            .collect()
    }

    /// Starts the waits of one call whose first attempt started at `now_ns`.
    fn start(&self, seed: u64, now_ns: u64) -> Retrying {
        Retrying {
            backoff: self.core,
            state: Mutex::new(self.core.start(seed, Nanos::new(now_ns))),
        }
    }

    /// `max_attempts`, or `None` for no limit.
    #[getter]
    fn max_attempts(&self) -> Option<u32> {
        self.core.config().max_attempts
    }
}

/// The waits of one retried call.
#[pyclass(frozen, module = "stanchion._stanchion")]
pub struct Retrying {
    backoff: stanchion::Backoff,
    state: Mutex<stanchion::Retrying>,
}

#[pymethods]
impl Retrying {
    /// The wait in nanoseconds before the next retry, `now_ns` being when the last attempt
    /// failed and `hint_ns` a server's Retry-After; `None` when the backoff stopped.
    #[pyo3(signature = (now_ns, hint_ns = None))]
    fn next_delay(&self, now_ns: u64, hint_ns: Option<u64>) -> Option<u64> {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        state
            .next_delay(&self.backoff, Nanos::new(now_ns), hint_ns.map(Nanos::new))
            .ok()
            .map(Nanos::as_nanos)
    }

    /// Why the backoff stopped (`"max_attempts"`, `"max_elapsed"`), or `None`.
    #[getter]
    fn exhausted(&self) -> Option<&'static str> {
        let state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        state.stopped().map(|e| match e {
            Exhausted::MaxAttempts => "max_attempts",
            Exhausted::MaxElapsed => "max_elapsed",
        })
    }

    /// Waits handed out so far.
    #[getter]
    fn retries(&self) -> u32 {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .retries()
    }
}

static SEEDS: AtomicU64 = AtomicU64::new(0);
static BASE: OnceLock<u64> = OnceLock::new();

fn wall_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// A fresh jitter seed, different on every call and in every process: the core's mix of a
/// counter, the time, and a base drawn once per process from the time and the process id (a
/// forked child shares the base and the counter, but not the time of its calls). Reading the
/// process id on every call cost more than the rest together.
#[pyfunction]
pub fn random_seed() -> u64 {
    let base = *BASE.get_or_init(|| {
        stanchion::rng::mix(wall_nanos() ^ u64::from(std::process::id()).rotate_left(32))
    });
    let count = SEEDS.fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed);
    stanchion::rng::mix(base ^ count ^ wall_nanos().rotate_left(17))
}
