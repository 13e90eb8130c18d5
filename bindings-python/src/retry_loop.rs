//! `RetryLoop`: the core's retry step function (`stanchion::retry::RetryLoop`), one call of the
//! Python package at a time.
//!
//! Every Python retry loop (`Retry`'s decorators, `run`, `run_async`, `attempts()`, and so
//! `Policy`'s) only calls, classifies a failure and sleeps; each decision is one method here,
//! which is one step of the core's loop: whether the first attempt may start (the deadline) and
//! the first deposit into the budget, then after each failure whether to retry and after how
//! long (the backoff, a hint or a refusal's `retry_after`, `max_attempts`, `max_elapsed`, the
//! deadline, the budget, refusals), and after each wait whether the next attempt may start.

use std::sync::{Mutex, PoisonError};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyString;
use stanchion::retry::{Failure, Next, RetryLoop as Core, RetryPolicy, Retryable, StopReason};
use stanchion::{Nanos, Reason, Rejected};

use crate::backoff::{random_seed, Backoff};
use crate::budget::RetryBudget;
use crate::deadline::Deadline;
use crate::errors;

/// A str as Python shows it: `'breaker_open'`.
fn repr(py: Python<'_>, text: &str) -> String {
    PyString::new(py, text)
        .repr()
        .map_or_else(|_| format!("{text:?}"), |r| r.to_string())
}

fn reason_of(py: Python<'_>, name: &str) -> PyResult<Reason> {
    Reason::ALL
        .into_iter()
        .find(|reason| reason.as_str() == name)
        .ok_or_else(|| {
            let names: Vec<String> = Reason::ALL
                .iter()
                .map(|reason| format!("\"{}\"", reason.as_str()))
                .collect();
            PyValueError::new_err(format!(
                "reason must be a refusal's reason ({}), got {}",
                names.join(", "),
                repr(py, name)
            ))
        })
}

/// The failure of an attempt, from the arguments of `after_failure`.
fn failure_of(
    py: Python<'_>,
    error: &str,
    hint_ns: Option<u64>,
    reason: Option<&str>,
) -> PyResult<Failure> {
    let hint = hint_ns.map(Nanos::new);
    Ok(match (error, reason) {
        ("retryable", None) => Failure::Error(hint.map_or(Retryable::Yes, Retryable::After)),
        ("final", None) if hint.is_none() => Failure::Error(Retryable::No),
        ("refused", Some(reason)) => Failure::Refused(Rejected::new(reason_of(py, reason)?, hint)),
        _ => {
            let hint = hint_ns.map_or_else(|| "None".to_owned(), |ns| ns.to_string());
            let reason = reason.map_or_else(|| "None".to_owned(), |r| repr(py, r));
            return Err(PyValueError::new_err(format!(
                "error must be \"retryable\" (with an optional hint_ns), \"final\" (with no \
                 hint_ns), or \"refused\" (with its reason, and its retry_after as hint_ns), \
                 got error={}, hint_ns={hint}, reason={reason}",
                repr(py, error)
            )));
        }
    })
}

/// The retry loop of one call: the core's `RetryLoop` and the policy it is stepped with.
#[pyclass(frozen, freelist = 16, module = "stanchion._stanchion")]
pub struct RetryLoop {
    backoff: Py<Backoff>,
    budget: Option<Py<RetryBudget>>,
    deadline: Option<stanchion::Deadline>,
    seed: u64,
    retry_refusals: bool,
    state: Mutex<State>,
}

struct State {
    /// The core's loop; `None` when `start` refused (the deadline had passed).
    call: Option<Core>,
    /// Why the last step stopped, if it did.
    stop: Option<StopReason>,
}

impl RetryLoop {
    /// The core's policy for one step, borrowing the backoff and the budget.
    fn policy(&self) -> RetryPolicy<'_> {
        let mut policy = RetryPolicy::new(&self.backoff.get().core, self.seed)
            .retry_refusals(self.retry_refusals);
        if let Some(budget) = &self.budget {
            policy = policy.budget(&budget.get().core);
        }
        if let Some(deadline) = self.deadline {
            policy = policy.deadline(deadline);
        }
        policy
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[pymethods]
impl RetryLoop {
    /// Starts a call at `now_ns` (`RetryLoop::start`): unless `deadline` has passed (then
    /// `stop` is `"deadline"` and no attempt may be made), the first attempt may go ahead and
    /// is deposited into `budget`. `seed` is the backoff's jitter seed (`None`: a fresh one).
    ///
    /// `deposited`: the caller already made the core's deposit for the first attempt
    /// (`RetryBudget.deposit`, which is all `start` does with a budget besides the deadline
    /// check), so that a decorator can defer the loop to the first failure.
    #[new]
    #[pyo3(signature = (backoff, now_ns, budget = None, deadline = None, seed = None, retry_refusals = false, deposited = false))]
    fn new(
        backoff: Py<Backoff>,
        now_ns: u64,
        budget: Option<Py<RetryBudget>>,
        deadline: Option<PyRef<'_, Deadline>>,
        seed: Option<u64>,
        retry_refusals: bool,
        deposited: bool,
    ) -> RetryLoop {
        let mut this = RetryLoop {
            backoff,
            budget,
            deadline: deadline.map(|d| d.core),
            seed: seed.unwrap_or_else(random_seed),
            retry_refusals,
            state: Mutex::new(State {
                call: None,
                stop: None,
            }),
        };
        let mut policy = this.policy();
        if deposited {
            policy.budget = None;
        }
        let started = Core::start(&policy, Nanos::new(now_ns));
        let state = this.state.get_mut().unwrap_or_else(PoisonError::into_inner);
        match started {
            Ok(call) => state.call = Some(call),
            Err(stop) => state.stop = Some(stop),
        }
        this
    }

    /// The attempt failed at `now_ns` (`RetryLoop::after_failure`): the wait in nanoseconds
    /// before the next attempt (the budget has paid for it), or `None` to stop (see `stop`).
    ///
    /// `error` is `"retryable"` (`hint_ns`: a server's Retry-After, if any), `"final"`, or
    /// `"refused"` for a guard's refusal (`reason`: its stable name, `hint_ns`: its
    /// `retry_after`). A loop that did not start answers `None`.
    #[pyo3(signature = (now_ns, error = "retryable", hint_ns = None, reason = None))]
    fn after_failure(
        &self,
        py: Python<'_>,
        now_ns: u64,
        error: &str,
        hint_ns: Option<u64>,
        reason: Option<&str>,
    ) -> PyResult<Option<u64>> {
        let failure = failure_of(py, error, hint_ns, reason)?;
        let policy = self.policy();
        let mut state = self.state();
        let Some(call) = state.call.as_mut() else {
            return Ok(None);
        };
        match call.after_failure(&policy, Nanos::new(now_ns), failure) {
            Next::Retry(wait) => {
                state.stop = None;
                Ok(Some(wait.as_nanos()))
            }
            Next::Stop(stop) => {
                state.stop = Some(stop);
                Ok(None)
            }
        }
    }

    /// The wait ended at `now_ns` (`RetryLoop::resume`): the number of the attempt to make
    /// now, or `None` if the deadline passed meanwhile (`stop` is then `"deadline"`).
    fn resume(&self, now_ns: u64) -> Option<u32> {
        let policy = self.policy();
        let mut state = self.state();
        let call = state.call.as_mut()?;
        match call.resume(&policy, Nanos::new(now_ns)) {
            Ok(attempt) => Some(attempt),
            Err(stop) => {
                state.stop = Some(stop);
                None
            }
        }
    }

    /// Attempts made so far (or about to be made), the first included; 0 if the loop did not
    /// start.
    #[getter]
    fn attempts(&self) -> u32 {
        self.state().call.as_ref().map_or(0, Core::attempts)
    }

    /// Why the loop stopped (`StopReason::as_str`: `"not_retryable"`, `"max_attempts"`,
    /// `"max_elapsed"`, `"deadline"`, `"budget_exhausted"`, `"refused"`), or `None`.
    #[getter]
    fn stop(&self) -> Option<&'static str> {
        self.state().stop.as_ref().map(StopReason::as_str)
    }

    /// The refusal behind the stop, as its exception (`RetryBudgetExhaustedError` for
    /// `"budget_exhausted"`, the guard's for `"refused"`), or `None`.
    fn refusal(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        match self.state().stop {
            Some(StopReason::BudgetExhausted(rejected) | StopReason::Refused(rejected)) => {
                Some(errors::refused(py, rejected).into_value(py).into_any())
            }
            _ => None,
        }
    }
}
