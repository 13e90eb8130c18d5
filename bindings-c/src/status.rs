//! `stanchion_status`: what every function returns, and the refusal details that go with it.

use core::ffi::c_char;

use stanchion_core::{Reason, Rejected};

/// What a function did. The values are fixed: a value never changes meaning in a later version.
///
/// - `STANCHION_OK` (0): done; the outputs are written.
/// - 1..=99: errors. Nothing was written and no object changed.
/// - 101..=109: refusals, one per reason (`100 + reason`); only the `rejection` and
///   `transition` outputs are written.
/// - 201..=206: stop retrying: a retry schedule is exhausted (201, 202), or a retry loop stops
///   for another reason (203..=206, from `stanchion_retry_loop_*`). The names are the core's
///   `StopReason::as_str`.
///
/// ```c
/// stanchion_status s = stanchion_token_bucket_try_acquire(&bucket, 1, now, &rejection);
/// if (s == STANCHION_RATE_LIMITED) sleep_ns(rejection.retry_after_ns);
/// ```
pub type stanchion_status = u32;

/// Done: every output was written.
pub const STANCHION_OK: stanchion_status = 0;
/// A required pointer was NULL.
pub const STANCHION_NULL_POINTER: stanchion_status = 1;
/// An argument was out of range (an unknown outcome, a misaligned object, ...).
pub const STANCHION_INVALID_ARGUMENT: stanchion_status = 2;
/// A config was invalid; `*_config_validate` names the field and the allowed range.
pub const STANCHION_INVALID_CONFIG: stanchion_status = 3;
/// The object was never initialised by its `*_init` function (or its storage was overwritten).
pub const STANCHION_NOT_INITIALIZED: stanchion_status = 4;
/// A bug inside the library was caught at the boundary (hosted builds only).
pub const STANCHION_PANIC: stanchion_status = 5;
/// Refused: the breaker is open. `retry_after_ns` is when its open period ends.
pub const STANCHION_BREAKER_OPEN: stanchion_status = 101;
/// Refused: the half-open breaker has all its probes in flight.
pub const STANCHION_HALF_OPEN_FULL: stanchion_status = 102;
/// Refused: the breaker was forced open by an operator; waiting does not help.
pub const STANCHION_FORCED_OPEN: stanchion_status = 103;
/// Refused: not enough tokens now.
pub const STANCHION_RATE_LIMITED: stanchion_status = 104;
/// Refused: more tokens than the bucket holds, or more than fit within `max_wait`.
pub const STANCHION_INSUFFICIENT_CAPACITY: stanchion_status = 105;
/// Refused: every bulkhead permit of the lane is out, or as many adaptive limiter permits as its
/// limit.
pub const STANCHION_BULKHEAD_FULL: stanchion_status = 106;
/// Refused: a bulkhead queue is full (not returned by the C API, which has no queue).
pub const STANCHION_QUEUE_FULL: stanchion_status = 107;
/// Refused: the retry budget is spent.
pub const STANCHION_RETRY_BUDGET_EXHAUSTED: stanchion_status = 108;
/// Refused: every slot of a keyed limiter holds an active key.
pub const STANCHION_TABLE_FULL: stanchion_status = 109;
/// Stop retrying: the schedule's `max_attempts` is reached.
pub const STANCHION_MAX_ATTEMPTS: stanchion_status = 201;
/// Stop retrying: the next wait would end past `max_elapsed`.
pub const STANCHION_MAX_ELAPSED: stanchion_status = 202;
/// Stop retrying: the attempt failed with an error that is not retryable
/// (`STANCHION_FAILURE_FINAL`).
pub const STANCHION_NOT_RETRYABLE: stanchion_status = 203;
/// Stop retrying: the deadline has passed, or the next wait would end at or past it.
pub const STANCHION_DEADLINE: stanchion_status = 204;
/// Stop retrying: the retry budget refused the retry. (A retry loop's stop; the budget's own
/// refusal, from `stanchion_retry_budget_try_retry`, is `STANCHION_RETRY_BUDGET_EXHAUSTED`.)
pub const STANCHION_BUDGET_EXHAUSTED: stanchion_status = 205;
/// Stop retrying: a guard refused the attempt (`STANCHION_FAILURE_REFUSED`), and refusals are
/// not retried (or no wait can help).
pub const STANCHION_REFUSED: stanchion_status = 206;

/// Why a call was refused and when to try again.
///
/// ```c
/// stanchion_rejection r;
/// if (stanchion_breaker_try_acquire(&b, now, &permit, &r, NULL) == STANCHION_BREAKER_OPEN)
///     printf("retry in %llu ns\n", (unsigned long long)r.retry_after_ns);
/// ```
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct stanchion_rejection {
    /// The refusal, the same value as the status returned.
    pub reason: stanchion_status,
    /// Whether waiting can help: when false, `retry_after_ns` is 0 and meaningless.
    pub has_retry_after: bool,
    /// Wait this long (ns), all else equal, and the same call passes.
    pub retry_after_ns: u64,
}

/// Why a config was refused, as NUL-terminated text.
///
/// ```c
/// stanchion_config_error e;
/// if (stanchion_breaker_config_validate(&config, &e) == STANCHION_INVALID_CONFIG)
///     fprintf(stderr, "invalid %s: allowed %s\n", e.field, e.allowed);
/// ```
#[repr(C)]
#[derive(Clone, Copy)]
pub struct stanchion_config_error {
    /// The field, as C code names it in the config struct (`"failure_rate"`,
    /// `"window_count"`, `"bucket.refill_every_ns"`).
    pub field: [c_char; 48],
    /// Every value the field takes (`"(0, 1]"`, `"1..=320 (STANCHION_BREAKER_MAX_WINDOW_COUNT)"`),
    /// whole: no text is cut short.
    pub allowed: [c_char; 80],
}

pub(crate) const fn status_of(reason: Reason) -> stanchion_status {
    100 + reason as stanchion_status
}

/// The reason a refusal status stands for (`status_of` undone); `None` for any other status.
pub(crate) const fn reason_of(status: stanchion_status) -> Option<Reason> {
    Some(match status {
        STANCHION_BREAKER_OPEN => Reason::BreakerOpen,
        STANCHION_HALF_OPEN_FULL => Reason::HalfOpenFull,
        STANCHION_FORCED_OPEN => Reason::ForcedOpen,
        STANCHION_RATE_LIMITED => Reason::RateLimited,
        STANCHION_INSUFFICIENT_CAPACITY => Reason::InsufficientCapacity,
        STANCHION_BULKHEAD_FULL => Reason::BulkheadFull,
        STANCHION_QUEUE_FULL => Reason::QueueFull,
        STANCHION_RETRY_BUDGET_EXHAUSTED => Reason::RetryBudgetExhausted,
        STANCHION_TABLE_FULL => Reason::TableFull,
        _ => return None,
    })
}

pub(crate) fn rejection(rejected: Rejected) -> (stanchion_status, stanchion_rejection) {
    let status = status_of(rejected.reason);
    let details = stanchion_rejection {
        reason: status,
        has_retry_after: rejected.retry_after.is_some(),
        retry_after_ns: rejected.retry_after.map_or(0, |after| after.as_nanos()),
    };
    (status, details)
}

/// Each status's stable name, NUL-terminated.
const NAMES: &[(stanchion_status, &str)] = &[
    (STANCHION_OK, "ok\0"),
    (STANCHION_NULL_POINTER, "null_pointer\0"),
    (STANCHION_INVALID_ARGUMENT, "invalid_argument\0"),
    (STANCHION_INVALID_CONFIG, "invalid_config\0"),
    (STANCHION_NOT_INITIALIZED, "not_initialized\0"),
    (STANCHION_PANIC, "panic\0"),
    (STANCHION_BREAKER_OPEN, "breaker_open\0"),
    (STANCHION_HALF_OPEN_FULL, "half_open_full\0"),
    (STANCHION_FORCED_OPEN, "forced_open\0"),
    (STANCHION_RATE_LIMITED, "rate_limited\0"),
    (STANCHION_INSUFFICIENT_CAPACITY, "insufficient_capacity\0"),
    (STANCHION_BULKHEAD_FULL, "bulkhead_full\0"),
    (STANCHION_QUEUE_FULL, "queue_full\0"),
    (STANCHION_RETRY_BUDGET_EXHAUSTED, "retry_budget_exhausted\0"),
    (STANCHION_TABLE_FULL, "table_full\0"),
    (STANCHION_MAX_ATTEMPTS, "max_attempts\0"),
    (STANCHION_MAX_ELAPSED, "max_elapsed\0"),
    (STANCHION_NOT_RETRYABLE, "not_retryable\0"),
    (STANCHION_DEADLINE, "deadline\0"),
    (STANCHION_BUDGET_EXHAUSTED, "budget_exhausted\0"),
    (STANCHION_REFUSED, "refused\0"),
];

/// The stable lower-case name of a status (`"breaker_open"`), or `"unknown"`; refusals use the
/// core's reason names. The string is static and NUL-terminated; never free it.
///
/// Thread- and interrupt-safe: a pure function.
///
/// ```c
/// puts(stanchion_status_str(STANCHION_RATE_LIMITED)); /* rate_limited */
/// ```
#[no_mangle]
pub extern "C" fn stanchion_status_str(status: stanchion_status) -> *const c_char {
    let name = NAMES
        .iter()
        .find(|(value, _)| *value == status)
        .map_or("unknown\0", |(_, name)| name);
    name.as_ptr().cast()
}

/// Whether `status` is a refusal (101..=109): the call was valid and the primitive said no.
///
/// Thread- and interrupt-safe: a pure function.
///
/// ```c
/// if (stanchion_status_is_refusal(s)) back_off(rejection.retry_after_ns);
/// ```
#[no_mangle]
pub extern "C" fn stanchion_status_is_refusal(status: stanchion_status) -> bool {
    (STANCHION_BREAKER_OPEN..=STANCHION_TABLE_FULL).contains(&status)
}

#[cfg(test)]
mod tests {
    use super::*;
    use stanchion_core::retry::StopReason;

    fn name(status: stanchion_status) -> &'static str {
        let name = NAMES.iter().find(|(value, _)| *value == status).unwrap().1;
        name.strip_suffix('\0').unwrap()
    }

    #[test]
    fn every_refusal_maps_back_to_its_reason_with_the_core_name() {
        for status in 0..=1000 {
            match reason_of(status) {
                Some(reason) => {
                    assert_eq!(status_of(reason), status);
                    assert_eq!(name(status), reason.as_str());
                    assert!(stanchion_status_is_refusal(status));
                }
                None => assert!(!stanchion_status_is_refusal(status)),
            }
        }
    }

    #[test]
    fn the_stop_statuses_are_named_as_the_core_names_stop_reasons() {
        let rejected = Rejected::new(Reason::BreakerOpen, None);
        let stops = [
            (STANCHION_NOT_RETRYABLE, StopReason::NotRetryable),
            (STANCHION_MAX_ATTEMPTS, StopReason::MaxAttempts),
            (STANCHION_MAX_ELAPSED, StopReason::MaxElapsed),
            (STANCHION_DEADLINE, StopReason::Deadline),
            (
                STANCHION_BUDGET_EXHAUSTED,
                StopReason::BudgetExhausted(rejected),
            ),
            (STANCHION_REFUSED, StopReason::Refused(rejected)),
        ];
        for (status, stop) in stops {
            assert_eq!(name(status), stop.as_str());
            assert!(!stanchion_status_is_refusal(status));
        }
    }

    #[test]
    fn names_are_unique_and_nul_terminated() {
        for (i, (value, text)) in NAMES.iter().enumerate() {
            assert!(text.ends_with('\0') && !text[..text.len() - 1].contains('\0'));
            assert!(NAMES[i + 1..].iter().all(|(v, t)| v != value && t != text));
        }
    }
}
