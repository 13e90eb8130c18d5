//! The core's policy rules (`stanchion::policy`) for the JS `Policy`: the range of
//! `attemptTimeout`, each attempt's limit, and what an attempt's ending tells the breaker, the
//! adaptive limiter and the retry loop.
//!
//! The JS half observes how an attempt ended (its timer fired, the caller aborted) and asks
//! here what follows; it decides none of it itself, so a timeout is judged as the core's own
//! policy judges it. These run once per attempt at most, and only when a limit is set or an
//! attempt ends that way, so they take plain arguments rather than the register file.

use napi::bindgen_prelude::{BigInt, Either};
use napi_derive::napi;
use stanchion::policy::{self, Decision, Ending, LoopStep, Verdict};
use stanchion::retry::{Failure, Retryable};
use stanchion::{Deadline, Nanos, Outcome, Reason, Rejected};

use crate::code::config_error;
use crate::time::{instant, millis, nanos_of_bigint, of_millis};

/// Checks an `attemptTimeout` in nanoseconds (`policy::check_attempt_timeout`: at least 1 ns);
/// throws the core's config error otherwise.
#[napi]
pub fn policy_check_attempt_timeout(timeout: BigInt) -> napi::Result<()> {
    policy::check_attempt_timeout(Nanos::new(nanos_of_bigint(&timeout)))
        .map(|_| ())
        .map_err(config_error)
}

/// An attempt's limit: how long its call may run, and what it runs up against.
#[napi(object)]
pub struct AttemptLimit {
    /// Milliseconds from now.
    pub limit: f64,
    /// `'attempt_timeout'` or `'deadline'`: the limit's name, and the ending's when it passes.
    pub bound: String,
}

/// How long an attempt's call starting at `now` may run (`policy::attempt_limit`): the shorter
/// of `attemptTimeout` (nanoseconds) and what remains of `deadline` (an instant in ms on the
/// clock's scale); null with neither.
#[napi]
pub fn policy_attempt_limit(
    attempt_timeout: Option<BigInt>,
    deadline: Option<f64>,
    now: Either<f64, BigInt>,
) -> Option<AttemptLimit> {
    policy::attempt_limit(
        attempt_timeout.map(|ns| Nanos::new(nanos_of_bigint(&ns))),
        deadline.map(|at| Deadline::at(of_millis(at))),
        instant(&now),
    )
    .map(|limit| AttemptLimit {
        limit: millis(limit.within),
        bound: limit.bound.as_str().to_owned(),
    })
}

/// What an attempt's ending tells the breaker, the adaptive limiter and the retry loop.
#[napi(object)]
pub struct AttemptDecision {
    /// The breaker's report: `'success'`, `'failure'`, `'ignored'` or `'release'`.
    pub breaker: String,
    /// What the adaptive limiter's permit records: `'success'` or `'failure'` (a latency
    /// sample), `'dropped'`, or `'ignored'` (given back, no sample).
    pub adaptive: String,
    /// The retry loop's step: `'return'`, `'ask'` (ask it, `detail` being the failure's kind:
    /// `'retryable'`, `'final'` or `'refused'`), `'stop'` (end the call, `detail` being the stop
    /// reason) or `'abandon'` (the call ends with the caller's abort).
    pub step: String,
    /// See `step`.
    pub detail: Option<String>,
}

/// The core's decision (`policy::Ending::decide`) on an attempt that ended as `ending`, one of
/// the endings a policy observes itself (`policy::Ending::OBSERVED`: `'attempt_timeout'`,
/// `'deadline'`, `'deadline_before_call'`, `'cancelled'`).
#[napi]
pub fn policy_attempt_ended(ending: String) -> napi::Result<AttemptDecision> {
    let found = Ending::OBSERVED
        .into_iter()
        .find(|e| e.as_str() == ending)
        .ok_or_else(|| napi::Error::from_reason(format!("unknown attempt ending {ending:?}")))?;
    Ok(answer(found.decide()))
}

/// The core's decision on an attempt whose call answered or that a guard inside the breaker
/// refused: `'succeeded'`, `'failed'` (judged by the caller as `outcome`: `'success'`,
/// `'failure'` or `'ignored'`, retryable, and a refusal for overload when `overload`) or
/// `'refused'` (the decision does not depend on which guard refused). The JS half asks once
/// per kind, at load, and keeps the answers.
#[napi]
pub fn policy_attempt_answered(
    ending: String,
    outcome: Option<String>,
    overload: Option<bool>,
) -> napi::Result<AttemptDecision> {
    let judged = match outcome.as_deref() {
        None => None,
        Some("success") => Some(Outcome::Success),
        Some("failure") => Some(Outcome::Failure),
        Some("ignored") => Some(Outcome::Ignored),
        Some(other) => {
            return Err(napi::Error::from_reason(format!(
                "unknown outcome {other:?}"
            )))
        }
    };
    let found = match (ending.as_str(), judged) {
        ("succeeded", None) => Ending::Succeeded,
        ("failed", Some(outcome)) => Ending::Failed(Verdict {
            outcome,
            retry: Retryable::Yes,
            overload: overload.unwrap_or(false),
        }),
        ("refused", None) => Ending::Refused(Rejected::new(Reason::RateLimited, None)),
        _ => {
            return Err(napi::Error::from_reason(format!(
                "unknown attempt ending {ending:?} (outcome {outcome:?})"
            )))
        }
    };
    Ok(answer(found.decide()))
}

fn answer(decision: Decision) -> AttemptDecision {
    let detail = match decision.retry {
        LoopStep::Ask(Failure::Error(Retryable::No)) => Some("final"),
        LoopStep::Ask(Failure::Error(_)) => Some("retryable"),
        LoopStep::Ask(Failure::Refused(_)) => Some("refused"),
        LoopStep::Stop(stop) => Some(stop.as_str()),
        LoopStep::Return | LoopStep::Abandon => None,
    };
    AttemptDecision {
        breaker: decision.breaker.as_str().to_owned(),
        adaptive: decision.adaptive.as_str().to_owned(),
        step: decision.retry.as_str().to_owned(),
        detail: detail.map(str::to_owned),
    }
}
