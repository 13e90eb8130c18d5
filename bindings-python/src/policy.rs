//! The core's policy rules (`stanchion::policy`) for the Python `Policy`: the range of
//! `attempt_timeout`, each attempt's limit, and what an attempt's ending tells the breaker,
//! the adaptive limiter and the retry loop.
//!
//! The Python package observes how an attempt ended (its timer fired, its task was cancelled)
//! and asks here what follows; it decides none of it itself, so a timeout is judged as the
//! core's own policy judges it.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyString;
use stanchion::policy::{self, Ending, LoopStep, Verdict};
use stanchion::retry::{Failure, Retryable};
use stanchion::{Nanos, Outcome};

use crate::deadline::Deadline;
use crate::{args, errors};

const ATTEMPT_TIMEOUT: &str = "attempt_timeout";
const POSITIVE: &str = "a number of seconds > 0";

/// `attempt_timeout` seconds as nanoseconds, checked (`policy::check_attempt_timeout`): a
/// `TypeError` for a value that is no number, a `ConfigError` naming `attempt_timeout` for one
/// out of range.
#[pyfunction]
pub fn attempt_timeout_ns(seconds: &Bound<'_, PyAny>) -> PyResult<u64> {
    let py = seconds.py();
    let out_of_range = || errors::config(py, ATTEMPT_TIMEOUT, POSITIVE, Some(seconds));
    let ns = args::seconds(seconds, ATTEMPT_TIMEOUT).map_err(|err| {
        if err.is_instance_of::<PyTypeError>(py) {
            err
        } else {
            out_of_range()
        }
    })?;
    policy::check_attempt_timeout(ns)
        .map(Nanos::as_nanos)
        .map_err(|_| out_of_range())
}

/// How long an attempt's call starting at `now_ns` may run (`policy::attempt_limit`): the
/// shorter of `attempt_timeout_ns` and what remains of `deadline`, as `(limit_ns, bound)` where
/// `bound` names the limit it runs up against and so the ending when it does
/// (`"attempt_timeout"` or `"deadline"`); `None` with neither.
#[pyfunction]
#[pyo3(signature = (attempt_timeout_ns, deadline, now_ns))]
pub fn attempt_limit(
    attempt_timeout_ns: Option<u64>,
    deadline: Option<PyRef<'_, Deadline>>,
    now_ns: u64,
) -> Option<(u64, &'static str)> {
    policy::attempt_limit(
        attempt_timeout_ns.map(Nanos::new),
        deadline.map(|d| d.core),
        Nanos::new(now_ns),
    )
    .map(|limit| (limit.within.as_nanos(), limit.bound.as_str()))
}

/// How a failure reads to `RetryLoop.after_failure`: its `error` argument.
fn kind(failure: Failure) -> &'static str {
    match failure {
        Failure::Error(Retryable::No) => "final",
        Failure::Error(Retryable::Yes | Retryable::After(_)) => "retryable",
        Failure::Refused(_) => "refused",
    }
}

/// What an attempt that ended as `ending` tells the breaker, the adaptive limiter and the
/// retry loop (`policy::Ending::decide`), for the endings the package observes itself
/// (`policy::Ending::OBSERVED`: `"attempt_timeout"`, `"deadline"`, `"deadline_before_call"`,
/// `"cancelled"`).
///
/// Returns `(report, sample, step, detail)`: `report` is the breaker permit's method to call
/// (`"success"`, `"failure"`, `"ignored"` or `"release"`); `sample` is the outcome the adaptive
/// limiter's permit records (`"success"`, `"failure"`, `"ignored"` or `"dropped"`); `step` is
/// `"return"`, `"ask"` (ask the retry loop, `detail` being the failure's kind as
/// `after_failure` takes it), `"stop"` (end the call, `detail` being the stop reason) or
/// `"abandon"` (the call ends with the caller's cancellation).
#[pyfunction]
pub fn attempt_ended(
    py: Python<'_>,
    ending: &str,
) -> PyResult<(
    &'static str,
    &'static str,
    &'static str,
    Option<&'static str>,
)> {
    let Some(found) = Ending::OBSERVED.into_iter().find(|e| e.as_str() == ending) else {
        let names: Vec<String> = Ending::OBSERVED
            .iter()
            .map(|e| format!("\"{}\"", e.as_str()))
            .collect();
        let got = PyString::new(py, ending)
            .repr()
            .map_or_else(|_| format!("{ending:?}"), |r| r.to_string());
        return Err(PyValueError::new_err(format!(
            "ending must be one of {}, got {got}",
            names.join(", ")
        )));
    };
    let decision = found.decide();
    let detail = match decision.retry {
        LoopStep::Ask(failure) => Some(kind(failure)),
        LoopStep::Stop(stop) => Some(stop.as_str()),
        LoopStep::Return | LoopStep::Abandon => None,
    };
    Ok((
        decision.breaker.as_str(),
        decision.adaptive.as_str(),
        decision.retry.as_str(),
        detail,
    ))
}

/// What the adaptive limiter's permit records for an attempt whose call answered, as the
/// caller judged it: `outcome` is the breaker's outcome of that judgement (0 success, 1
/// failure, 2 ignored; a policy without a breaker judges an error a failure, as
/// `Verdict::failure`), and `overload` says the error was a refusal for overload (the adaptive
/// limiter's `drop_on` matched it: `Verdict::overload`). A success is `Ending::Succeeded`,
/// anything else `Ending::Failed` with that verdict; the answer is `Ending::decide`'s
/// (`"success"`, `"failure"`, `"ignored"` or `"dropped"`).
#[pyfunction]
#[pyo3(signature = (outcome, overload = false))]
pub fn attempt_judged(outcome: u8, overload: bool) -> PyResult<&'static str> {
    let ending = match outcome {
        0 => Ending::Succeeded,
        1 | 2 => Ending::Failed(Verdict {
            outcome: if outcome == 1 {
                Outcome::Failure
            } else {
                Outcome::Ignored
            },
            // What the retry loop is told plays no part in the sample.
            retry: Retryable::Yes,
            overload,
        }),
        _ => {
            return Err(PyValueError::new_err(format!(
                "outcome must be 0 (SUCCESS), 1 (FAILURE) or 2 (IGNORED), got {outcome}"
            )))
        }
    };
    Ok(ending.decide().adaptive.as_str())
}
