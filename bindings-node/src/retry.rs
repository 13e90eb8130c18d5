//! `NativeRetry` and `NativeRetryCall`: the core's retry loop (`stanchion::retry::RetryLoop`),
//! one step per call. Every decision of a retried call is made here, by the core: whether the
//! first attempt may start (the deadline) and the budget's deposit, and after a failed attempt
//! whether to retry (the failure's kind, refusals, `max_attempts`, `max_elapsed`, the deadline,
//! the budget), the wait, and why the loop stops. The JS half only sleeps and calls.
//!
//! **A cheap first attempt.** A call whose first attempt succeeds must cost no more crossings
//! than it did before the loop moved here, so the per-call state (`RetryLoop`, 48 bytes) is
//! not kept natively until an attempt fails. `fastRetryStart` runs `RetryLoop::start` over the
//! register file (the deadline check and the budget's deposit) and hands back the start
//! instant; only when an attempt fails does `begin` make the call's state, as
//! `RetryLoop::start` at that same instant and seed would (without the budget, which was
//! paid into already). A call that needs neither a deposit nor a start instant (no budget, no
//! `max_elapsed`, no deadline) skips `fastRetryStart`: its start can decide nothing.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use napi::bindgen_prelude::{BigInt, Either};
use napi_derive::napi;
use stanchion::retry::{Failure, Next, RetryLoop, RetryPolicy, Retryable, StopReason};
use stanchion::{Backoff, Deadline, Nanos, Reason, Rejected};

use crate::backoff::NativeBackoff;
use crate::fast::{self, Registry};
use crate::retry_budget::{Budget, NativeRetryBudget};
use crate::time::{bigint, instant, millis, nanos_of_bigint, of_millis, Now};

/// What every call of one `Retry` shares: the backoff, the budget, whether refusals are
/// retried.
pub(crate) struct Shared {
    backoff: Backoff,
    budget: Option<Rc<Budget>>,
    retry_refusals: bool,
}

impl Shared {
    fn policy(&self, seed: u64, deadline: Option<Deadline>, budget: bool) -> RetryPolicy<'_> {
        let mut policy = RetryPolicy::new(&self.backoff, seed).retry_refusals(self.retry_refusals);
        if let (true, Some(shared)) = (budget, &self.budget) {
            policy = policy.budget(shared.core());
        }
        if let Some(deadline) = deadline {
            policy = policy.deadline(deadline);
        }
        policy
    }

    /// `RetryLoop::start` at `now`: the instant the call started at, or why no attempt may be
    /// made. The seed matters to no decision of `start`; `begin` sets the call's own.
    fn start(&self, now: Nanos, deadline: Option<Deadline>) -> Result<Nanos, StopReason> {
        RetryLoop::start(&self.policy(0, deadline, true), now).map(|_| now)
    }
}

thread_local! {
    static RETRIES: RefCell<Registry<Shared>> = const { RefCell::new(Registry::new()) };
}

/// The stop reasons by code (`code - 1` indexes this list), as the core names them.
fn stop_reasons() -> [StopReason; 6] {
    let refused = Rejected::new(Reason::BreakerOpen, None);
    let exhausted = Rejected::new(Reason::RetryBudgetExhausted, None);
    [
        StopReason::NotRetryable,
        StopReason::MaxAttempts,
        StopReason::MaxElapsed,
        StopReason::Deadline,
        StopReason::BudgetExhausted(exhausted),
        StopReason::Refused(refused),
    ]
}

/// A stop reason's code, from 1 (see `retryStopReasons`); 0 for one the addon does not know.
fn stop_code(stop: &StopReason) -> f64 {
    stop_reasons()
        .iter()
        .position(|known| known.as_str() == stop.as_str())
        .map_or(0.0, |i| (i + 1) as f64)
}

/// The core's names of the stop reasons (`StopReason::as_str`), by code: code `c` is entry
/// `c - 1`.
#[napi]
pub fn retry_stop_reasons() -> Vec<String> {
    stop_reasons()
        .iter()
        .map(|stop| stop.as_str().to_owned())
        .collect()
}

/// A refusal's reason by its stable number (`Reason as u8`).
fn reason(code: u32) -> Option<Reason> {
    Reason::ALL
        .into_iter()
        .find(|r| u32::from(*r as u8) == code)
}

/// Writes a start instant to registers 5 (the high 32 bits) and 6 (the low 32 bits), so that
/// it stays exact in two doubles.
fn set_started(started: Nanos) {
    let ns = started.as_nanos();
    fast::set_reg(5, (ns >> 32) as f64);
    fast::set_reg(6, (ns & 0xffff_ffff) as f64);
}

/// A deadline from an instant (ms or `bigint` ns), if there is one.
fn deadline_of(at: &Option<Now>) -> Option<Deadline> {
    at.as_ref().map(|at| Deadline::at(instant(at)))
}

/// `RetryLoop::start` over the registers: the handle in 0, now in 1 (ms; NaN: the native
/// clock), the deadline in 2 (ms; NaN: none). Returns 0 when the first attempt may go ahead
/// (the start instant in ns, split in registers 5 and 6: `high · 2^32 + low`), else minus the
/// stop code.
#[napi]
pub fn fast_retry_start() -> f64 {
    fast::with(&RETRIES, f64::NAN, |shared| {
        let now = fast::instant_reg(1);
        let at = fast::reg(2);
        let deadline = (!at.is_nan()).then(|| Deadline::at(of_millis(at)));
        match shared.start(now, deadline) {
            Ok(started) => {
                set_started(started);
                0.0
            }
            Err(stop) => -stop_code(&stop),
        }
    })
}

/// A `Retry`'s backoff, budget and refusal rule, shared by its calls.
#[napi]
pub struct NativeRetry {
    inner: Rc<Shared>,
    handle: u32,
}

impl Drop for NativeRetry {
    fn drop(&mut self) {
        let handle = self.handle;
        let _ = RETRIES.try_with(|table| table.borrow_mut().remove(handle));
    }
}

#[napi]
impl NativeRetry {
    /// A retry loop over `backoff`, with `budget` if given; `retryRefusals` retries a guard's
    /// refusals (after at least their `retry_after`) instead of stopping.
    #[napi(constructor)]
    pub fn new(
        backoff: &NativeBackoff,
        budget: Option<&NativeRetryBudget>,
        retry_refusals: bool,
    ) -> Self {
        let inner = Rc::new(Shared {
            backoff: backoff.core(),
            budget: budget.map(NativeRetryBudget::shared),
            retry_refusals,
        });
        let handle = RETRIES.with(|table| table.borrow_mut().insert(Rc::clone(&inner)));
        NativeRetry { inner, handle }
    }

    /// The handle `fastRetryStart` takes in register 0.
    #[napi(getter)]
    pub fn handle(&self) -> u32 {
        self.handle
    }

    /// `RetryLoop::start` at `now`, before `deadline` (an instant, if any): the start instant
    /// in exact nanoseconds when the first attempt may go ahead, else null (the deadline has
    /// passed: make no attempt).
    #[napi]
    pub fn start(
        &self,
        now: Either<f64, BigInt>,
        deadline: Option<Either<f64, BigInt>>,
    ) -> Option<BigInt> {
        self.inner
            .start(instant(&now), deadline_of(&deadline))
            .ok()
            .map(bigint)
    }

    /// The state of a call whose first attempt failed: `RetryLoop::start` at the instant the
    /// call started (as `start` or `fastRetryStart` gave it; ms or exact ns), with the call's
    /// `seed` and `deadline`, without paying into the budget again.
    #[napi]
    pub fn begin(
        &self,
        seed: BigInt,
        started: Either<f64, BigInt>,
        deadline: Option<Either<f64, BigInt>>,
    ) -> NativeRetryCall {
        let seed = nanos_of_bigint(&seed);
        let deadline = deadline_of(&deadline);
        let state = RetryLoop::start(&self.inner.policy(seed, deadline, false), instant(&started));
        NativeRetryCall {
            shared: Rc::clone(&self.inner),
            seed,
            deadline,
            state,
            wait: Cell::new(Nanos::ZERO),
            stop: Cell::new(None),
        }
    }
}

/// One retried call after its first failure: the core's `RetryLoop`, stepped by the JS loop.
#[napi]
pub struct NativeRetryCall {
    shared: Rc<Shared>,
    seed: u64,
    deadline: Option<Deadline>,
    /// The loop, or why it stopped before any step (the deadline had passed at the start).
    state: Result<RetryLoop, StopReason>,
    wait: Cell<Nanos>,
    stop: Cell<Option<StopReason>>,
}

/// How a failed attempt failed: `kind` 0 final, 1 retryable, 2 retryable with a hint, 3 a
/// guard's refusal (`reason` its stable number, `hint` its `retry_after`).
fn failure(kind: u32, hint: &Option<Now>, reason_code: u32) -> Option<Failure> {
    let hint = hint.as_ref().map(instant);
    Some(match kind {
        0 => Failure::Error(Retryable::No),
        1 => Failure::Error(Retryable::Yes),
        2 => Failure::Error(hint.map_or(Retryable::Yes, Retryable::After)),
        3 => Failure::Refused(Rejected::new(reason(reason_code)?, hint)),
        _ => return None,
    })
}

#[napi]
impl NativeRetryCall {
    /// `RetryLoop::after_failure` at `now`: the wait in milliseconds (`waitNs` has it exact)
    /// when the loop retries, else minus the stop code (`stop`, `stopRetryAfter` say more).
    #[napi]
    pub fn after_failure(
        &mut self,
        now: Either<f64, BigInt>,
        kind: u32,
        hint: Option<Either<f64, BigInt>>,
        reason: u32,
    ) -> napi::Result<f64> {
        let failure = failure(kind, &hint, reason)
            .ok_or_else(|| napi::Error::from_reason("unknown failure kind or reason"))?;
        let policy = self.shared.policy(self.seed, self.deadline, true);
        let next = match &mut self.state {
            Ok(call) => call.after_failure(&policy, instant(&now), failure),
            Err(stop) => Next::Stop(*stop),
        };
        Ok(match next {
            Next::Retry(wait) => {
                self.wait.set(wait);
                millis(wait)
            }
            Next::Stop(stop) => {
                self.stop.set(Some(stop));
                -stop_code(&stop)
            }
        })
    }

    /// `RetryLoop::resume` at `now`, when the wait is over: the number of the attempt to make
    /// (from 2), else minus the stop code.
    #[napi]
    pub fn resume(&mut self, now: Either<f64, BigInt>) -> f64 {
        let policy = self.shared.policy(self.seed, self.deadline, true);
        let answer = match &mut self.state {
            Ok(call) => call.resume(&policy, instant(&now)),
            Err(stop) => Err(*stop),
        };
        match answer {
            Ok(attempt) => f64::from(attempt),
            Err(stop) => {
                self.stop.set(Some(stop));
                -stop_code(&stop)
            }
        }
    }

    /// Attempts made so far, the first included.
    #[napi(getter)]
    pub fn attempts(&self) -> u32 {
        self.state.as_ref().map_or(0, RetryLoop::attempts)
    }

    /// The last wait, in exact nanoseconds.
    #[napi(getter)]
    pub fn wait_ns(&self) -> BigInt {
        bigint(self.wait.get())
    }

    /// Why the loop stopped, as the core names it (`StopReason::as_str`); null while it runs.
    #[napi(getter)]
    pub fn stop(&self) -> Option<String> {
        self.stop.get().map(|stop| stop.as_str().to_owned())
    }

    /// The refusal a stop carries (the budget's, or a guard's): its stable reason number, or 0.
    #[napi(getter)]
    pub fn stop_reason(&self) -> u32 {
        match self.stop.get() {
            Some(StopReason::BudgetExhausted(r) | StopReason::Refused(r)) => {
                u32::from(r.reason as u8)
            }
            _ => 0,
        }
    }

    /// That refusal's `retry_after` in milliseconds; NaN when there is none.
    #[napi(getter)]
    pub fn stop_retry_after(&self) -> f64 {
        self.refusal_retry_after().map_or(f64::NAN, millis)
    }

    /// That refusal's `retry_after` in exact nanoseconds; null when there is none.
    #[napi(getter)]
    pub fn stop_retry_after_ns(&self) -> Option<BigInt> {
        self.refusal_retry_after().map(bigint)
    }
}

impl NativeRetryCall {
    fn refusal_retry_after(&self) -> Option<Nanos> {
        match self.stop.get() {
            Some(StopReason::BudgetExhausted(r) | StopReason::Refused(r)) => r.retry_after,
            _ => None,
        }
    }
}
