//! `RetryBudget`: retries earn a share of first attempts, with a per-second floor.

use pyo3::prelude::*;
use stanchion::RetryBudgetConfig;

use crate::args::{self, core_config_error, Config};
use crate::clock::Clock;
use crate::errors;

const PER_SEC: &str = "an int from 0 to 1000000000";

/// The core's retry budget fields as Python parameters, with their allowed values.
fn describe(field: &str) -> Option<(&'static str, &'static str)> {
    Some(match field {
        "ratio" => ("ratio", "a number in [0, 1000]"),
        "min_retries_per_sec" => ("min_retries_per_sec", PER_SEC),
        _ => return None,
    })
}

fn config_of(obj: &Bound<'_, PyAny>) -> PyResult<RetryBudgetConfig> {
    let c = Config::new(obj)?;
    let ratio = match c.get("ratio")? {
        Some(r) => args::real(&r, "ratio")?,
        None => 0.1,
    };
    let config = RetryBudgetConfig::new(ratio)
        .min_retries_per_sec(c.core_count("min_retries_per_sec", PER_SEC, 10)?)
        .max_balance(c.core_count("max_balance", "an int from 0 to 4294967295", 100)?);
    config
        .validate()
        .map_err(|e| core_config_error(obj, e, describe))?;
    Ok(config)
}

/// A retry budget over the core's.
#[pyclass(frozen, module = "stanchion._stanchion")]
pub struct RetryBudget {
    pub(crate) core: stanchion::RetryBudget,
    clock: Clock,
}

#[pymethods]
impl RetryBudget {
    #[new]
    #[pyo3(signature = (config, clock = None))]
    fn new(config: &Bound<'_, PyAny>, clock: Option<Bound<'_, PyAny>>) -> PyResult<Self> {
        let parsed = config_of(config)?;
        let core = stanchion::RetryBudget::new(parsed)
            .map_err(|e| core_config_error(config, e, describe))?;
        Ok(RetryBudget {
            core,
            clock: Clock::from_arg(clock)?,
        })
    }

    /// Counts a first attempt: deposits `ratio` tokens.
    fn deposit(&self) {
        self.core.deposit();
    }

    /// Whether a retry may be made now (and spends for it): `True` or `False`.
    fn try_retry(&self, py: Python<'_>) -> PyResult<bool> {
        Ok(self.core.try_retry(self.clock.now(py)?).is_ok())
    }

    /// Spends for a retry now, or raises `RetryBudgetExhaustedError`.
    fn check_retry(&self, py: Python<'_>) -> PyResult<()> {
        self.core
            .try_retry(self.clock.now(py)?)
            .map_err(|r| errors::refused(py, r))
    }

    /// The balance and counters now.
    fn snapshot(&self, py: Python<'_>) -> PyResult<RetryBudgetSnapshot> {
        let s = self.core.snapshot(self.clock.now(py)?);
        Ok(RetryBudgetSnapshot {
            balance: s.balance,
            floor_tokens: s.floor_tokens,
            retries_available: s.retries_available(),
            retries_allowed: s.retries_allowed,
            retries_refused: s.retries_refused,
        })
    }

    /// Checks a config without building a budget.
    #[staticmethod]
    fn validate(config: &Bound<'_, PyAny>) -> PyResult<()> {
        config_of(config).map(drop)
    }
}

/// A retry budget at one moment (read-only). `balance` is in millionths of a token.
#[pyclass(frozen, get_all, module = "stanchion._stanchion")]
pub struct RetryBudgetSnapshot {
    balance: u64,
    floor_tokens: u64,
    retries_available: u64,
    retries_allowed: u64,
    retries_refused: u64,
}

#[pymethods]
impl RetryBudgetSnapshot {
    fn __repr__(&self) -> String {
        format!(
            "RetryBudgetSnapshot(retries_available={}, retries_allowed={}, retries_refused={})",
            self.retries_available, self.retries_allowed, self.retries_refused
        )
    }
}
