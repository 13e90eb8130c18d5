//! The retry loop: every decision of a retried call, as the core's `RetryLoop` makes it. C code
//! makes the attempts and sleeps; `stanchion_retry_loop_after_failure` says whether to retry
//! and after how long, and `stanchion_retry_loop_resume` whether the next attempt may start.

use core::mem::{offset_of, size_of, MaybeUninit};

use stanchion_core::retry::{Failure, Next, RetryLoop, RetryPolicy, Retryable, StopReason};
use stanchion_core::{Deadline, Nanos, Rejected};

use crate::backoff::stanchion_backoff;
use crate::ffi::{self, boundary, Answer};
use crate::retry_budget::stanchion_retry_budget;
use crate::status::{
    reason_of, stanchion_rejection, stanchion_status, STANCHION_BUDGET_EXHAUSTED,
    STANCHION_DEADLINE, STANCHION_INVALID_ARGUMENT, STANCHION_MAX_ATTEMPTS, STANCHION_MAX_ELAPSED,
    STANCHION_NOT_RETRYABLE, STANCHION_OK, STANCHION_PANIC, STANCHION_REFUSED,
};

/// Storage for one retried call's loop. Opaque; owned by that call. Fill it with
/// `stanchion_retry_loop_start`.
///
/// ```c
/// stanchion_retry_loop call;
/// uint32_t attempt;
/// if (stanchion_retry_loop_start(&call, &policy, now, &attempt) == STANCHION_OK) try_once(attempt);
/// ```
#[repr(C, align(8))]
pub struct stanchion_retry_loop {
    _opaque: [u64; 8],
}

/// `sizeof(stanchion_retry_loop)` in bytes.
pub const STANCHION_RETRY_LOOP_SIZE: usize = 64;
/// `_Alignof(stanchion_retry_loop)` in bytes.
pub const STANCHION_RETRY_LOOP_ALIGN: usize = 8;

const TAG: u64 = ffi::tag(9);
const _: () = assert!(ffi::fits::<RetryLoop, stanchion_retry_loop>());
const _: () = assert!(size_of::<stanchion_retry_loop>() == STANCHION_RETRY_LOOP_SIZE);
const _: () = assert!(core::mem::align_of::<stanchion_retry_loop>() == STANCHION_RETRY_LOOP_ALIGN);

/// What a retried call follows: plain data the caller fills and passes to every
/// `stanchion_retry_loop_*` call of that call. Zeroed fields mean no budget, no deadline, seed
/// 0, refusals not retried, so a designated initialiser names only what it uses.
///
/// ```c
/// stanchion_retry_policy policy = {
///     .backoff = &reconnect,         /* the schedule: required */
///     .budget = &upstream_retries,   /* or NULL: no budget */
///     .has_deadline = 1,
///     .deadline_ns = now + 2000000000, /* no attempt starts 2 s from now or later */
///     .seed = 42,                    /* the jitter's seed, for this call */
/// };
/// stanchion_retry_loop_start(&call, &policy, now, NULL);
/// ```
#[repr(C)]
#[derive(Clone, Copy)]
pub struct stanchion_retry_policy {
    /// The backoff schedule (required): the waits, `max_attempts`, `max_elapsed`, `max_delay`.
    /// Shared, read only.
    pub backoff: *const stanchion_backoff,
    /// A retry budget that pays for every retry and takes a deposit at every start, or NULL for
    /// none. Shared: many calls may use one budget at once.
    pub budget: *mut stanchion_retry_budget,
    /// The seed of the backoff's jitter for this call.
    pub seed: u64,
    /// See `has_deadline`: the instant from which no attempt starts.
    pub deadline_ns: u64,
    /// Whether `deadline_ns` applies (0: no deadline).
    pub has_deadline: u32,
    /// Whether a refusal (`STANCHION_FAILURE_REFUSED`) is retried (0: it ends the call, the
    /// default). When retried, the wait is at least the refusal's `retry_after_ns`.
    pub retry_refusals: u32,
}

/// How an attempt failed: `STANCHION_FAILURE_RETRYABLE`, `_FINAL` or `_REFUSED`.
///
/// ```c
/// stanchion_failure failure = timed_out ? STANCHION_FAILURE_RETRYABLE : STANCHION_FAILURE_FINAL;
/// stanchion_retry_loop_after_failure(&call, &policy, now, failure, NULL, NULL, &wait);
/// ```
pub type stanchion_failure = u32;
/// The call failed and may succeed if tried again (a timeout, a 503), with an optional hint.
pub const STANCHION_FAILURE_RETRYABLE: stanchion_failure = 0;
/// The call failed for good (a 400, a parse error): retrying cannot help.
pub const STANCHION_FAILURE_FINAL: stanchion_failure = 1;
/// A guard refused the attempt (breaker, bulkhead, rate limiter): pass its `stanchion_rejection`.
pub const STANCHION_FAILURE_REFUSED: stanchion_failure = 2;

/// `stanchion_rejection` as bytes, so that a flag holding any byte is read without undefined
/// behaviour (0 is no, anything else yes) and the padding is never read as a value.
#[repr(C)]
#[derive(Clone, Copy)]
struct RejectionBytes {
    reason: u32,
    has_retry_after: u8,
    _padding: [MaybeUninit<u8>; 3],
    retry_after_ns: u64,
}

const _: () = assert!(size_of::<RejectionBytes>() == size_of::<stanchion_rejection>());
const _: () =
    assert!(offset_of!(RejectionBytes, reason) == offset_of!(stanchion_rejection, reason));
const _: () = assert!(
    offset_of!(RejectionBytes, has_retry_after) == offset_of!(stanchion_rejection, has_retry_after)
);
const _: () = assert!(
    offset_of!(RejectionBytes, retry_after_ns) == offset_of!(stanchion_rejection, retry_after_ns)
);

/// The status a stop answers. The core's `StopReason` may grow (`#[non_exhaustive]`): a reason
/// this table does not know yet is a bug of this library, answered as one.
fn stop_status(stop: StopReason) -> stanchion_status {
    match stop {
        StopReason::NotRetryable => STANCHION_NOT_RETRYABLE,
        StopReason::MaxAttempts => STANCHION_MAX_ATTEMPTS,
        StopReason::MaxElapsed => STANCHION_MAX_ELAPSED,
        StopReason::Deadline => STANCHION_DEADLINE,
        StopReason::BudgetExhausted(_) => STANCHION_BUDGET_EXHAUSTED,
        StopReason::Refused(_) => STANCHION_REFUSED,
        _ => STANCHION_PANIC,
    }
}

/// Reads the caller's policy and the objects it points to.
///
/// # Safety
/// `policy` is NULL or readable, and its pointers are NULL or point to storage of their type
/// that outlives `'a`.
unsafe fn policy_of<'a>(
    policy: *const stanchion_retry_policy,
) -> Result<RetryPolicy<'a>, stanchion_status> {
    // SAFETY: forwarded from the caller.
    let p = unsafe { ffi::read(policy) }?;
    // SAFETY: forwarded from the caller.
    let backoff = unsafe { crate::backoff::get(p.backoff) }?;
    let mut built = RetryPolicy::new(backoff, p.seed).retry_refusals(p.retry_refusals != 0);
    if !p.budget.is_null() {
        // SAFETY: forwarded from the caller.
        built = built.budget(unsafe { crate::retry_budget::get(p.budget) }?);
    }
    if p.has_deadline != 0 {
        built = built.deadline(Deadline::at(Nanos::new(p.deadline_ns)));
    }
    Ok(built)
}

/// The failure the caller describes.
///
/// # Safety
/// `hint_ns` and `refusal` are NULL or readable.
unsafe fn failure_of(
    kind: stanchion_failure,
    hint_ns: *const u64,
    refusal: *const stanchion_rejection,
) -> Result<Failure, stanchion_status> {
    match kind {
        STANCHION_FAILURE_RETRYABLE if hint_ns.is_null() => Ok(Failure::Error(Retryable::Yes)),
        STANCHION_FAILURE_RETRYABLE => {
            // SAFETY: not NULL; readable by the caller's promise.
            let hint = unsafe { ffi::read(hint_ns) }?;
            Ok(Failure::Error(Retryable::After(Nanos::new(hint))))
        }
        STANCHION_FAILURE_FINAL => Ok(Failure::Error(Retryable::No)),
        STANCHION_FAILURE_REFUSED => {
            // SAFETY: forwarded from the caller; the bytes are read as plain integers.
            let r = unsafe { ffi::read(refusal.cast::<RejectionBytes>()) }?;
            let reason = reason_of(r.reason).ok_or(STANCHION_INVALID_ARGUMENT)?;
            let retry_after = (r.has_retry_after != 0).then_some(Nanos::new(r.retry_after_ns));
            Ok(Failure::Refused(Rejected::new(reason, retry_after)))
        }
        _ => Err(STANCHION_INVALID_ARGUMENT),
    }
}

/// # Safety
/// `call` is NULL or points to storage that outlives the call, used by no one else meanwhile.
unsafe fn get_mut<'a>(
    call: *mut stanchion_retry_loop,
) -> Result<&'a mut RetryLoop, stanchion_status> {
    // SAFETY: forwarded from the caller.
    unsafe { ffi::object_mut(call, TAG) }
}

/// Writes an attempt number to an optional output and answers OK.
///
/// # Safety
/// `out` is NULL or writable.
unsafe fn attempt(out: *mut u32, attempt: u32) -> Answer {
    // SAFETY: forwarded from the caller.
    unsafe { ffi::write_optional(out, attempt) };
    Ok(STANCHION_OK)
}

/// Starts a retried call at `now_ns`: `STANCHION_OK` writes the loop to `call` and 1 to
/// `attempt` (may be NULL), and deposits the first attempt into the policy's budget;
/// `STANCHION_DEADLINE` if the deadline has already passed (make no attempt at all; `call`
/// is not written).
///
/// Not thread-safe for `call`, which belongs to the one retried call; thread- and
/// interrupt-safe for the policy's backoff (read only) and budget (lock-free), which any number
/// of calls share.
///
/// # Safety
/// Pointers are NULL or valid for their type, the policy's included.
///
/// ```c
/// stanchion_retry_loop call;
/// uint32_t attempt;
/// stanchion_status s = stanchion_retry_loop_start(&call, &policy, now, &attempt);
/// if (s == STANCHION_DEADLINE) give_up(); /* too late to try at all */
/// ```
#[no_mangle]
pub unsafe extern "C" fn stanchion_retry_loop_start(
    call: *mut stanchion_retry_loop,
    policy: *const stanchion_retry_policy,
    now_ns: u64,
    attempt_out: *mut u32,
) -> stanchion_status {
    boundary(|| {
        ffi::check_storage::<RetryLoop, _>(call)?;
        // SAFETY: forwarded from the caller.
        let policy = unsafe { policy_of(policy) }?;
        match RetryLoop::start(&policy, Nanos::new(now_ns)) {
            Ok(started) => {
                let first = started.attempts();
                // SAFETY: checked storage; the caller owns it. Optional output.
                unsafe {
                    ffi::put(call, TAG, started);
                    attempt(attempt_out, first)
                }
            }
            Err(stop) => Ok(stop_status(stop)),
        }
    })
}

/// The attempt failed at `now_ns`: `STANCHION_OK` writes the wait before the next attempt to
/// `wait_ns` (sleep that long, then call `stanchion_retry_loop_resume`; the budget has already
/// paid for the retry); any other answer from 201 on is a stop, final for the call:
/// `STANCHION_NOT_RETRYABLE`, `_MAX_ATTEMPTS`, `_MAX_ELAPSED`, `_DEADLINE` (the wait would end
/// at or past it), `_BUDGET_EXHAUSTED`, `_REFUSED`.
///
/// `failure` says how the attempt failed. For `STANCHION_FAILURE_RETRYABLE`, `hint_ns` (may be
/// NULL) is a server's Retry-After: the wait is at least that, within `max_delay`. For
/// `STANCHION_FAILURE_REFUSED`, `refusal` is the `stanchion_rejection` the guard wrote (its
/// `reason` a refusal status, else `STANCHION_INVALID_ARGUMENT`): it ends the call unless the
/// policy's `retry_refusals` is set, and always when the reason is
/// `STANCHION_INSUFFICIENT_CAPACITY`. Each is read only for its kind, so the other may be NULL.
/// The checks run in the core's order and stop at the first that fails, so a retry that will
/// not be made never spends the budget. Pass the policy the call was started with.
///
/// Not thread-safe for `call`; thread- and interrupt-safe for the backoff and the budget.
///
/// # Safety
/// Pointers are NULL or valid for their type, the policy's included.
///
/// ```c
/// uint64_t wait;
/// stanchion_status s = stanchion_retry_loop_after_failure(
///     &call, &policy, now, STANCHION_FAILURE_RETRYABLE, NULL, NULL, &wait);
/// if (s == STANCHION_OK) sleep_ns(wait);
/// else fprintf(stderr, "giving up: %s\n", stanchion_status_str(s));
/// ```
///
/// ```c
/// /* The breaker refused the attempt: retried (after at least r.retry_after_ns) only if the
///    policy says retry_refusals. */
/// stanchion_rejection r;
/// stanchion_breaker_permit permit;
/// uint64_t wait;
/// if (stanchion_breaker_try_acquire(&b, now, &permit, &r, NULL) != STANCHION_OK &&
///     stanchion_retry_loop_after_failure(&call, &policy, now, STANCHION_FAILURE_REFUSED, NULL,
///                                        &r, &wait) == STANCHION_OK)
///     sleep_ns(wait);
/// ```
#[no_mangle]
pub unsafe extern "C" fn stanchion_retry_loop_after_failure(
    call: *mut stanchion_retry_loop,
    policy: *const stanchion_retry_policy,
    now_ns: u64,
    failure: stanchion_failure,
    hint_ns: *const u64,
    refusal: *const stanchion_rejection,
    wait_ns: *mut u64,
) -> stanchion_status {
    boundary(|| {
        // SAFETY: forwarded from the caller; the caller owns the loop.
        let state = unsafe { get_mut(call) }?;
        // SAFETY: forwarded from the caller.
        let policy = unsafe { policy_of(policy) }?;
        // SAFETY: forwarded from the caller.
        let failure = unsafe { failure_of(failure, hint_ns, refusal) }?;
        ffi::non_null(wait_ns)?;
        match state.after_failure(&policy, Nanos::new(now_ns), failure) {
            Next::Retry(wait) => {
                // SAFETY: checked; writable.
                unsafe { ffi::write(wait_ns, wait.as_nanos()) };
                Ok(STANCHION_OK)
            }
            Next::Stop(stop) => Ok(stop_status(stop)),
        }
    })
}

/// The wait is over at `now_ns`: `STANCHION_OK` writes the number of the attempt to make now
/// to `attempt` (may be NULL), or `STANCHION_DEADLINE` if the deadline passed meanwhile (a
/// sleep may overshoot; no attempt starts at or past the deadline).
///
/// Not thread-safe for `call`.
///
/// # Safety
/// Pointers are NULL or valid for their type, the policy's included.
///
/// ```c
/// uint32_t attempt;
/// sleep_ns(wait);
/// stanchion_now_ns(&now);
/// if (stanchion_retry_loop_resume(&call, &policy, now, &attempt) == STANCHION_OK) try_once(attempt);
/// ```
#[no_mangle]
pub unsafe extern "C" fn stanchion_retry_loop_resume(
    call: *mut stanchion_retry_loop,
    policy: *const stanchion_retry_policy,
    now_ns: u64,
    attempt_out: *mut u32,
) -> stanchion_status {
    boundary(|| {
        // SAFETY: forwarded from the caller; the caller owns the loop.
        let state = unsafe { get_mut(call) }?;
        // SAFETY: forwarded from the caller.
        let policy = unsafe { policy_of(policy) }?;
        match state.resume(&policy, Nanos::new(now_ns)) {
            // SAFETY: optional output.
            Ok(next) => unsafe { attempt(attempt_out, next) },
            Err(stop) => Ok(stop_status(stop)),
        }
    })
}

/// The attempts made so far (the one in progress included), counting from 1.
///
/// Not thread-safe for `call`.
///
/// # Safety
/// Pointers are NULL or valid for their type.
///
/// ```c
/// uint32_t attempts;
/// stanchion_retry_loop_attempts_get(&call, &attempts);
/// ```
#[no_mangle]
pub unsafe extern "C" fn stanchion_retry_loop_attempts_get(
    call: *const stanchion_retry_loop,
    attempts: *mut u32,
) -> stanchion_status {
    boundary(|| {
        // SAFETY: forwarded from the caller.
        let state: &RetryLoop = unsafe { ffi::object(call, TAG) }?;
        ffi::non_null(attempts)?;
        // SAFETY: checked; writable.
        unsafe { ffi::write(attempts, state.attempts()) };
        Ok(STANCHION_OK)
    })
}
