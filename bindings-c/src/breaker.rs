//! The circuit breaker: the core's default `CircuitBreaker` (W = 10: a count window of up to 320
//! calls, a time window of up to 10 buckets).

use stanchion_core::breaker::{
    BreakerConfig, BreakerSnapshot, CircuitBreaker, Outcome, RawPermit, SlowCall, State,
    Transition, Window,
};
use stanchion_core::{ConfigError, Nanos};

use crate::config_errors::Config;
use crate::ffi::{self, boundary};
use crate::status::{
    rejection, stanchion_config_error, stanchion_rejection, stanchion_status,
    STANCHION_INVALID_ARGUMENT, STANCHION_INVALID_CONFIG, STANCHION_OK,
};

/// Storage for a circuit breaker. Opaque: only `stanchion_breaker_*` functions touch it.
/// Put it anywhere (a `static`, the stack, a struct), then `stanchion_breaker_init` it; nothing
/// is allocated and nothing needs freeing.
///
/// ```c
/// static stanchion_breaker payments;
/// stanchion_breaker_config config;
/// stanchion_breaker_config_default(&config);
/// stanchion_breaker_init(&payments, &config);
/// ```
#[repr(C, align(8))]
pub struct stanchion_breaker {
    _opaque: [u64; 44],
}

/// `sizeof(stanchion_breaker)` in bytes.
pub const STANCHION_BREAKER_SIZE: usize = 352;
/// `_Alignof(stanchion_breaker)` in bytes.
pub const STANCHION_BREAKER_ALIGN: usize = 8;
/// The longest count window (`window_count`) the breaker holds: 32 calls per word of its 10.
pub const STANCHION_BREAKER_MAX_WINDOW_COUNT: u32 = 320;
/// The most buckets of a time window (`window_buckets`).
pub const STANCHION_BREAKER_MAX_WINDOW_BUCKETS: u32 = 10;

type Breaker = CircuitBreaker<10>;
const TAG: u64 = ffi::tag(1);
const _: () = assert!(ffi::fits::<Breaker, stanchion_breaker>());
const _: () = assert!(core::mem::size_of::<stanchion_breaker>() == STANCHION_BREAKER_SIZE);
const _: () = assert!(core::mem::align_of::<stanchion_breaker>() == STANCHION_BREAKER_ALIGN);

/// A permit: proof that a call was admitted. Report it once, with `stanchion_breaker_record`
/// or `stanchion_breaker_release`; a permit already reported is refused
/// (`STANCHION_INVALID_ARGUMENT`).
///
/// A permit belongs where `stanchion_breaker_try_acquire` wrote it: it records its own
/// address, and a report through a copy at another address is refused
/// (`STANCHION_INVALID_ARGUMENT`), so that one call is never counted twice, nor frees two
/// half-open probe slots. To keep a permit elsewhere, move it with
/// `stanchion_breaker_permit_move`, or acquire it where it will live.
///
/// ```c
/// stanchion_breaker_permit permit;
/// if (stanchion_breaker_try_acquire(&b, now, &permit, NULL, NULL) == STANCHION_OK)
///     stanchion_breaker_record(&b, &permit, STANCHION_OUTCOME_SUCCESS, later, NULL);
/// ```
#[repr(C, align(8))]
#[derive(Clone, Copy)]
pub struct stanchion_breaker_permit {
    _opaque: [u64; 3],
}

/// A permit's bytes: the core's permit, and the address it was written to.
#[repr(C)]
#[derive(Clone, Copy)]
struct PermitParts {
    issued_at: u64,
    home: u64,
    generation: u32,
    held: u32,
}

/// The address a permit at `permit` records: a copy elsewhere records another.
fn home(permit: *const stanchion_breaker_permit) -> u64 {
    permit as usize as u64
}

/// The `held` word of a permit not yet reported.
const PERMIT_HELD: u32 = 0x7065_726d;
const _: () = assert!(
    core::mem::size_of::<PermitParts>() == core::mem::size_of::<stanchion_breaker_permit>()
);

/// How a call ended: `STANCHION_OUTCOME_SUCCESS`, `_FAILURE` or `_IGNORED`, and for an
/// adaptive limiter also `_DROPPED` (a breaker refuses it: `STANCHION_INVALID_ARGUMENT`).
///
/// ```c
/// stanchion_outcome outcome = ok ? STANCHION_OUTCOME_SUCCESS : STANCHION_OUTCOME_FAILURE;
/// stanchion_breaker_record(&b, &permit, outcome, now, NULL);
/// ```
pub type stanchion_outcome = u32;
/// The call worked.
pub const STANCHION_OUTCOME_SUCCESS: stanchion_outcome = 0;
/// The call failed in a way that counts against the dependency.
pub const STANCHION_OUTCOME_FAILURE: stanchion_outcome = 1;
/// Neither: not counted, does not break a failure streak, frees a probe slot.
pub const STANCHION_OUTCOME_IGNORED: stanchion_outcome = 2;

/// A breaker state: `STANCHION_STATE_CLOSED`, `_OPEN`, `_HALF_OPEN`, `_FORCED_OPEN`,
/// `_DISABLED` (the core's values).
///
/// ```c
/// stanchion_breaker_state state;
/// stanchion_breaker_state_get(&b, &state);
/// ```
pub type stanchion_breaker_state = u32;
/// Calls pass; outcomes are counted.
pub const STANCHION_STATE_CLOSED: stanchion_breaker_state = 0;
/// Calls are refused until the open period ends.
pub const STANCHION_STATE_OPEN: stanchion_breaker_state = 1;
/// A bounded number of probe calls test whether the dependency recovered.
pub const STANCHION_STATE_HALF_OPEN: stanchion_breaker_state = 2;
/// Refuses every call until `stanchion_breaker_reset`.
pub const STANCHION_STATE_FORCED_OPEN: stanchion_breaker_state = 3;
/// Admits every call and keeps counting, never trips, until `stanchion_breaker_reset`.
pub const STANCHION_STATE_DISABLED: stanchion_breaker_state = 4;

/// Which window a breaker counts over: `STANCHION_WINDOW_COUNT` or `STANCHION_WINDOW_TIME`.
///
/// ```c
/// config.window_kind = STANCHION_WINDOW_COUNT;
/// config.window_count = 20;
/// ```
pub type stanchion_window_kind = u32;
/// The last `window_count` recorded calls.
pub const STANCHION_WINDOW_COUNT: stanchion_window_kind = 0;
/// The calls of the last `window_span_ns`, counted in `window_buckets` slices.
pub const STANCHION_WINDOW_TIME: stanchion_window_kind = 1;

/// A change of state, reported exactly once, to the caller whose call caused it.
///
/// ```c
/// stanchion_breaker_transition t;
/// stanchion_breaker_record(&b, &permit, STANCHION_OUTCOME_FAILURE, now, &t);
/// if (t.occurred && t.to == STANCHION_STATE_OPEN) alert();
/// ```
#[repr(C)]
#[derive(Clone, Copy)]
pub struct stanchion_breaker_transition {
    /// Whether the call changed the state; when false, `from` and `to` are both 0.
    pub occurred: bool,
    /// The state before.
    pub from: stanchion_breaker_state,
    /// The state after.
    pub to: stanchion_breaker_state,
}

/// A breaker's config. Fill it with `stanchion_breaker_config_default`, then change fields.
/// Each `has_*` flag (0 = no, anything else = yes) says whether the optional field after it
/// is set; the defaults are the core's ("5 failures in 10 s, open for 30 s, one probe").
///
/// ```c
/// stanchion_breaker_config c;
/// stanchion_breaker_config_default(&c);
/// c.has_failure_count = 0;                 /* trip on the rate instead: */
/// c.has_failure_rate = 1; c.failure_rate = 0.5f;
/// ```
#[repr(C)]
#[derive(Clone, Copy)]
pub struct stanchion_breaker_config {
    /// Trip when the window holds `failure_count` failures [yes, 5].
    pub has_failure_count: u32,
    /// See `has_failure_count`; 1..=UINT32_MAX.
    pub failure_count: u32,
    /// Trip after `consecutive_failures` failures in a row [no].
    pub has_consecutive_failures: u32,
    /// See `has_consecutive_failures`; 1..=UINT32_MAX.
    pub consecutive_failures: u32,
    /// Trip when the window's failure share reaches `failure_rate` [no].
    pub has_failure_rate: u32,
    /// See `has_failure_rate`; in (0, 1].
    pub failure_rate: f32,
    /// The fewest calls in the window before a rate trigger may trip [10]; 1..=UINT32_MAX.
    pub minimum_calls: u32,
    /// Trip when the share of calls lasting `slow_call_duration_ns` or more reaches
    /// `slow_call_rate` [no].
    pub has_slow_call: u32,
    /// See `has_slow_call`; in (0, 1].
    pub slow_call_rate: f32,
    /// See `has_slow_call`; at least 1 ns.
    pub slow_call_duration_ns: u64,
    /// `STANCHION_WINDOW_COUNT` or `STANCHION_WINDOW_TIME` [time].
    pub window_kind: stanchion_window_kind,
    /// A count window's length, 1..=STANCHION_BREAKER_MAX_WINDOW_COUNT.
    pub window_count: u32,
    /// A time window's span [10 s], at least 1 ns per bucket.
    pub window_span_ns: u64,
    /// A time window's buckets [10], 1..=STANCHION_BREAKER_MAX_WINDOW_BUCKETS.
    pub window_buckets: u32,
    /// The open period's growth factor per trip in a row [2], in [1, 65535].
    pub open_for_factor: f32,
    /// How long the breaker stays open after a trip [30 s].
    pub open_for_ns: u64,
    /// The longest open period when trips repeat [= open_for_ns: no growth].
    pub open_for_max_ns: u64,
    /// Shortens each open period by a random share of up to this much [0], in [0, 1].
    pub open_for_jitter: f32,
    /// Probes admitted at once while half-open [1], 1..=65535.
    pub half_open_probes: u32,
    /// Successful probes that close the breaker [no: as many as `half_open_probes`].
    pub has_half_open_successes: u32,
    /// See `has_half_open_successes`; 1..=65535.
    pub half_open_successes: u32,
    /// A probe not reported within `probe_timeout_ns` counts as failed [no: the slow-call
    /// duration if set, else 60 s].
    pub has_probe_timeout: u32,
    /// Reserved, always 0.
    pub reserved: u32,
    /// See `has_probe_timeout`; at least 1 ns.
    pub probe_timeout_ns: u64,
    /// Seed of the open-period jitter [0].
    pub seed: u64,
}

/// Everything a breaker counts, at one instant.
///
/// ```c
/// stanchion_breaker_snapshot s;
/// stanchion_breaker_snapshot_get(&b, now, &s);
/// printf("%llu calls, %.0f%% failed\n", (unsigned long long)s.calls, 100.0 * s.failure_rate);
/// ```
#[repr(C)]
#[derive(Clone, Copy)]
pub struct stanchion_breaker_snapshot {
    /// The state.
    pub state: stanchion_breaker_state,
    /// Bumped by every transition; permits of older generations are stale.
    pub generation: u32,
    /// Whether `open_until_ns` is set (the breaker is open).
    pub has_open_until: bool,
    /// When the open period ends.
    pub open_until_ns: u64,
    /// Probes in flight (half-open).
    pub probes_in_flight: u32,
    /// Successful probes this half-open round.
    pub half_open_successes: u32,
    /// Calls in the window.
    pub window_calls: u64,
    /// Failures in the window.
    pub window_failures: u64,
    /// Slow calls in the window.
    pub window_slow_calls: u64,
    /// Failures in a row.
    pub consecutive_failures: u32,
    /// Trips in a row without a full recovery.
    pub consecutive_trips: u32,
    /// Calls recorded, ever.
    pub calls: u64,
    /// Successes recorded, ever.
    pub successes: u64,
    /// Failures recorded, ever.
    pub failures: u64,
    /// Slow calls recorded, ever.
    pub slow_calls: u64,
    /// Refusals while open.
    pub rejected_open: u64,
    /// Refusals while half-open with every probe out.
    pub rejected_half_open_full: u64,
    /// Refusals while forced open.
    pub rejected_forced_open: u64,
    /// The three refusal counters together.
    pub rejected: u64,
    /// Transitions, ever.
    pub transitions: u64,
    /// The window's failure share, 0 when it is empty.
    pub failure_rate: f32,
    /// The window's slow share, 0 when it is empty.
    pub slow_call_rate: f32,
}

const fn flag(value: u32) -> bool {
    value != 0
}

fn to_core(c: &stanchion_breaker_config) -> Result<BreakerConfig, ConfigError> {
    let window = match c.window_kind {
        STANCHION_WINDOW_COUNT => Window::Count(c.window_count),
        STANCHION_WINDOW_TIME => Window::Time {
            span: Nanos::new(c.window_span_ns),
            buckets: c.window_buckets,
        },
        _ => {
            return Err(ConfigError::new(
                "window_kind",
                "STANCHION_WINDOW_COUNT (0) or STANCHION_WINDOW_TIME (1)",
            ))
        }
    };
    let config = BreakerConfig {
        failure_count: flag(c.has_failure_count).then_some(c.failure_count),
        consecutive_failures: flag(c.has_consecutive_failures).then_some(c.consecutive_failures),
        failure_rate: flag(c.has_failure_rate).then_some(c.failure_rate),
        minimum_calls: c.minimum_calls,
        slow_call: flag(c.has_slow_call).then_some(SlowCall {
            duration: Nanos::new(c.slow_call_duration_ns),
            rate: c.slow_call_rate,
        }),
        window,
        open_for: Nanos::new(c.open_for_ns),
        open_for_max: Nanos::new(c.open_for_max_ns),
        open_for_factor: c.open_for_factor,
        open_for_jitter: c.open_for_jitter,
        half_open_probes: c.half_open_probes,
        half_open_successes: flag(c.has_half_open_successes).then_some(c.half_open_successes),
        probe_timeout: flag(c.has_probe_timeout).then_some(Nanos::new(c.probe_timeout_ns)),
        seed: c.seed,
    };
    Ok(config)
}

/// Builds the breaker, or the config error (the window's fit included). The core calls a
/// window too large for the breaker's words `window`; in C it is one field, `window_count` or
/// `window_buckets` by the kind, whose range (1..=320, 1..=10) is this breaker's.
fn build(c: &stanchion_breaker_config) -> Result<Breaker, ConfigError> {
    Breaker::new(to_core(c)?).map_err(|e| match (e.field, c.window_kind) {
        ("window", STANCHION_WINDOW_COUNT) => ConfigError::new("window.count", e.allowed),
        ("window", _) => ConfigError::new("window.buckets", e.allowed),
        _ => e,
    })
}

fn from_core(c: &BreakerConfig) -> stanchion_breaker_config {
    let (window_kind, window_count, window_span_ns, window_buckets) = match c.window {
        Window::Count(n) => (STANCHION_WINDOW_COUNT, n, 10_000_000_000, 10),
        Window::Time { span, buckets } => (STANCHION_WINDOW_TIME, 100, span.as_nanos(), buckets),
    };
    stanchion_breaker_config {
        has_failure_count: c.failure_count.is_some().into(),
        failure_count: c.failure_count.unwrap_or(0),
        has_consecutive_failures: c.consecutive_failures.is_some().into(),
        consecutive_failures: c.consecutive_failures.unwrap_or(0),
        has_failure_rate: c.failure_rate.is_some().into(),
        failure_rate: c.failure_rate.unwrap_or(0.0),
        minimum_calls: c.minimum_calls,
        has_slow_call: c.slow_call.is_some().into(),
        slow_call_rate: c.slow_call.map_or(0.0, |slow| slow.rate),
        slow_call_duration_ns: c.slow_call.map_or(0, |slow| slow.duration.as_nanos()),
        window_kind,
        window_count,
        window_span_ns,
        window_buckets,
        open_for_factor: c.open_for_factor,
        open_for_ns: c.open_for.as_nanos(),
        open_for_max_ns: c.open_for_max.as_nanos(),
        open_for_jitter: c.open_for_jitter,
        half_open_probes: c.half_open_probes,
        has_half_open_successes: c.half_open_successes.is_some().into(),
        half_open_successes: c.half_open_successes.unwrap_or(0),
        has_probe_timeout: c.probe_timeout.is_some().into(),
        reserved: 0,
        probe_timeout_ns: c.probe_timeout.map_or(0, Nanos::as_nanos),
        seed: c.seed,
    }
}

fn transition(t: Option<Transition>) -> stanchion_breaker_transition {
    match t {
        Some(t) => stanchion_breaker_transition {
            occurred: true,
            from: t.from as stanchion_breaker_state,
            to: t.to as stanchion_breaker_state,
        },
        None => stanchion_breaker_transition {
            occurred: false,
            from: 0,
            to: 0,
        },
    }
}

fn outcome(value: stanchion_outcome) -> Result<Outcome, u32> {
    match value {
        STANCHION_OUTCOME_SUCCESS => Ok(Outcome::Success),
        STANCHION_OUTCOME_FAILURE => Ok(Outcome::Failure),
        STANCHION_OUTCOME_IGNORED => Ok(Outcome::Ignored),
        _ => Err(STANCHION_INVALID_ARGUMENT),
    }
}

/// Reads a permit that has not been reported yet, at the address it was written to (not a
/// copy, nor a permit moved away from there).
///
/// # Safety
/// `permit` is NULL or points to a readable permit.
unsafe fn held_permit(
    permit: *const stanchion_breaker_permit,
) -> Result<RawPermit, stanchion_status> {
    // SAFETY: forwarded from the caller.
    let parts: PermitParts = unsafe { ffi::read(permit.cast::<PermitParts>()) }?;
    if parts.held != PERMIT_HELD || parts.home != home(permit) {
        return Err(STANCHION_INVALID_ARGUMENT);
    }
    Ok(RawPermit::from_parts(
        parts.generation,
        Nanos::new(parts.issued_at),
    ))
}

/// Marks a permit reported.
///
/// # Safety
/// `permit` passed `held_permit` and is writable.
unsafe fn spend(permit: *mut stanchion_breaker_permit) {
    let parts = permit.cast::<PermitParts>();
    // SAFETY: not NULL (checked by `held_permit`) and writable; unaligned write.
    unsafe { core::ptr::addr_of_mut!((*parts).held).write_unaligned(0) }
}

/// Writes the core's defaults into `out`.
///
/// Thread- and interrupt-safe (touches only `out`).
///
/// # Safety
/// `out` is NULL or points to writable storage for a config.
///
/// ```c
/// stanchion_breaker_config c;
/// stanchion_breaker_config_default(&c); /* c.failure_count == 5, c.open_for_ns == 30 s */
/// ```
#[no_mangle]
pub unsafe extern "C" fn stanchion_breaker_config_default(
    out: *mut stanchion_breaker_config,
) -> stanchion_status {
    boundary(|| {
        ffi::non_null(out)?;
        // SAFETY: checked; the caller promises writable storage.
        unsafe { ffi::write(out, from_core(&BreakerConfig::new())) };
        Ok(STANCHION_OK)
    })
}

/// Checks a config as `stanchion_breaker_init` would: `STANCHION_OK`, or
/// `STANCHION_INVALID_CONFIG` with the first bad field and its allowed range written to
/// `error` (which may be NULL). The one function whose output is written on an error.
///
/// Thread- and interrupt-safe (reads only `config`).
///
/// # Safety
/// `config` is NULL or readable; `error` is NULL or writable.
///
/// ```c
/// stanchion_config_error e;
/// config.failure_rate = 1.5f; config.has_failure_rate = 1;
/// stanchion_breaker_config_validate(&config, &e); /* e.field: "failure_rate", e.allowed: "(0, 1]" */
/// ```
#[no_mangle]
pub unsafe extern "C" fn stanchion_breaker_config_validate(
    config: *const stanchion_breaker_config,
    error: *mut stanchion_config_error,
) -> stanchion_status {
    // SAFETY: forwarded from the caller.
    boundary(|| unsafe { ffi::validate(Config::Breaker, config, error, build) })
}

/// Initialises a closed breaker in `breaker`'s storage. Re-initialising an object resets it.
///
/// Not thread-safe for that object: initialise before sharing it (before enabling the
/// interrupts that use it).
///
/// # Safety
/// `breaker` is NULL or writable storage no other thread uses during the call; `config` is
/// NULL or readable.
///
/// ```c
/// static stanchion_breaker b;
/// if (stanchion_breaker_init(&b, &config) != STANCHION_OK) abort();
/// ```
#[no_mangle]
pub unsafe extern "C" fn stanchion_breaker_init(
    breaker: *mut stanchion_breaker,
    config: *const stanchion_breaker_config,
) -> stanchion_status {
    boundary(|| {
        ffi::check_storage::<Breaker, _>(breaker)?;
        // SAFETY: forwarded from the caller.
        let config = unsafe { ffi::read(config) }?;
        let built = build(&config).map_err(|_| STANCHION_INVALID_CONFIG)?;
        // SAFETY: checked storage; the caller promises exclusive access.
        unsafe { ffi::put(breaker, TAG, built) };
        Ok(STANCHION_OK)
    })
}

/// # Safety
/// `breaker` is NULL or points to storage that outlives the call.
unsafe fn get<'a>(breaker: *const stanchion_breaker) -> Result<&'a Breaker, stanchion_status> {
    // SAFETY: forwarded from the caller.
    unsafe { ffi::object(breaker, TAG) }
}

/// Asks to make a call at `now_ns`. `STANCHION_OK` writes `permit`; a refusal
/// (`STANCHION_BREAKER_OPEN`, `_HALF_OPEN_FULL`, `_FORCED_OPEN`) writes `rejection`. Either way
/// `transition` says whether this call changed the state (open → half-open, or a lost probe
/// re-opening it). `rejection` and `transition` may be NULL.
///
/// Thread- and interrupt-safe, lock-free.
///
/// # Safety
/// Pointers are NULL or valid for their type.
///
/// ```c
/// stanchion_breaker_permit p;
/// stanchion_rejection r;
/// uint64_t now;
/// stanchion_now_ns(&now);
/// switch (stanchion_breaker_try_acquire(&b, now, &p, &r, NULL)) {
/// case STANCHION_OK: do_call(); break;
/// default: fail_fast(r.retry_after_ns);
/// }
/// ```
#[no_mangle]
pub unsafe extern "C" fn stanchion_breaker_try_acquire(
    breaker: *mut stanchion_breaker,
    now_ns: u64,
    permit: *mut stanchion_breaker_permit,
    rejection_out: *mut stanchion_rejection,
    transition_out: *mut stanchion_breaker_transition,
) -> stanchion_status {
    boundary(|| {
        // SAFETY: forwarded from the caller.
        let b = unsafe { get(breaker) }?;
        ffi::non_null(permit)?;
        let (admitted, t) = b.try_acquire_raw(Nanos::new(now_ns));
        // SAFETY: optional outputs, NULL or writable.
        unsafe { ffi::write_optional(transition_out, transition(t)) };
        match admitted {
            Ok(raw) => {
                let parts = PermitParts {
                    issued_at: raw.issued_at().as_nanos(),
                    home: home(permit),
                    generation: raw.generation(),
                    held: PERMIT_HELD,
                };
                // SAFETY: checked non-NULL above; writable by the caller's promise.
                unsafe { ffi::write(permit.cast::<PermitParts>(), parts) };
                Ok(STANCHION_OK)
            }
            Err(refused) => {
                let (status, details) = rejection(refused);
                // SAFETY: optional output.
                unsafe { ffi::write_optional(rejection_out, details) };
                Ok(status)
            }
        }
    })
}

/// Reports how the call of `permit` ended, at `now_ns` (the call's duration is measured from
/// the permit's admission). Marks the permit reported. `transition` (may be NULL) is the change
/// the report caused. A permit from before a transition is stale: it changes no counters.
/// `STANCHION_INVALID_ARGUMENT` for a permit already reported, garbage, a copy of a permit
/// (`copy = p;`, `memcpy`) or one moved away with `stanchion_breaker_permit_move`.
///
/// Thread- and interrupt-safe, lock-free (the permit itself belongs to one caller).
///
/// # Safety
/// Pointers are NULL or valid for their type.
///
/// ```c
/// uint64_t now;
/// stanchion_now_ns(&now);
/// stanchion_breaker_record(&b, &p, ok ? STANCHION_OUTCOME_SUCCESS : STANCHION_OUTCOME_FAILURE,
///                          now, NULL);
/// ```
#[no_mangle]
pub unsafe extern "C" fn stanchion_breaker_record(
    breaker: *mut stanchion_breaker,
    permit: *mut stanchion_breaker_permit,
    outcome_value: stanchion_outcome,
    now_ns: u64,
    transition_out: *mut stanchion_breaker_transition,
) -> stanchion_status {
    boundary(|| {
        // SAFETY: forwarded from the caller.
        let b = unsafe { get(breaker) }?;
        // SAFETY: forwarded from the caller.
        let raw = unsafe { held_permit(permit) }?;
        let outcome = outcome(outcome_value)?;
        let t = b.record_raw(raw, outcome, Nanos::new(now_ns));
        // SAFETY: checked by `held_permit`; optional output.
        unsafe {
            spend(permit);
            ffi::write_optional(transition_out, transition(t));
        }
        Ok(STANCHION_OK)
    })
}

/// Abandons the call of `permit` (cancelled, or timed out by the caller's choice): frees its
/// probe slot, records nothing. Marks the permit reported. The permit is checked as by
/// `stanchion_breaker_record`.
///
/// Thread- and interrupt-safe, lock-free.
///
/// # Safety
/// Pointers are NULL or valid for their type.
///
/// ```c
/// uint64_t now;
/// stanchion_now_ns(&now);
/// stanchion_breaker_release(&b, &p, now, NULL);
/// ```
#[no_mangle]
pub unsafe extern "C" fn stanchion_breaker_release(
    breaker: *mut stanchion_breaker,
    permit: *mut stanchion_breaker_permit,
    now_ns: u64,
    transition_out: *mut stanchion_breaker_transition,
) -> stanchion_status {
    boundary(|| {
        // SAFETY: forwarded from the caller.
        let b = unsafe { get(breaker) }?;
        // SAFETY: forwarded from the caller.
        let raw = unsafe { held_permit(permit) }?;
        let t = b.release_raw(raw, Nanos::new(now_ns));
        // SAFETY: checked by `held_permit`; optional output.
        unsafe {
            spend(permit);
            ffi::write_optional(transition_out, transition(t));
        }
        Ok(STANCHION_OK)
    })
}

/// Moves the permit at `from` to `to` (a struct of another object, a queue's slot): `to` is
/// then the permit, and `from` no longer is (reporting it answers
/// `STANCHION_INVALID_ARGUMENT`). `STANCHION_INVALID_ARGUMENT` if `from` is not an unreported
/// permit at its address or the two overlap; `from == to` changes nothing. Plain assignment
/// makes a copy that cannot be reported; this is how a permit changes place.
///
/// Thread- and interrupt-safe: touches only the two permits, which belong to the caller.
///
/// # Safety
/// Pointers are NULL or valid for their type.
///
/// ```c
/// struct request { stanchion_breaker_permit permit; int fd; } req;
/// stanchion_breaker_permit_move(&p, &req.permit);
/// stanchion_breaker_record(&b, &req.permit, STANCHION_OUTCOME_SUCCESS, now, NULL);
/// ```
#[no_mangle]
pub unsafe extern "C" fn stanchion_breaker_permit_move(
    from: *mut stanchion_breaker_permit,
    to: *mut stanchion_breaker_permit,
) -> stanchion_status {
    boundary(|| {
        // SAFETY: forwarded from the caller.
        unsafe { held_permit(from) }?;
        ffi::non_null(to)?;
        if from == to {
            return Ok(STANCHION_OK);
        }
        ffi::disjoint(from, to)?;
        // SAFETY: checked by `held_permit`: readable, not NULL.
        let mut parts: PermitParts = unsafe { ffi::read(from.cast::<PermitParts>()) }?;
        parts.home = home(to);
        // SAFETY: both checked not NULL, disjoint, and writable by the caller's promise.
        unsafe {
            ffi::write(to.cast::<PermitParts>(), parts);
            spend(from);
        }
        Ok(STANCHION_OK)
    })
}

/// Runs an operator override and reports its transition.
///
/// # Safety
/// Pointers are NULL or valid for their type.
unsafe fn override_with(
    breaker: *mut stanchion_breaker,
    transition_out: *mut stanchion_breaker_transition,
    op: impl FnOnce(&Breaker) -> Option<Transition>,
) -> stanchion_status {
    boundary(|| {
        // SAFETY: forwarded from the caller.
        let b = unsafe { get(breaker) }?;
        let t = op(b);
        // SAFETY: optional output.
        unsafe { ffi::write_optional(transition_out, transition(t)) };
        Ok(STANCHION_OK)
    })
}

/// Forces the breaker open: every call is refused (`STANCHION_FORCED_OPEN`) until
/// `stanchion_breaker_reset`. `transition` (may be NULL) is the change, if any.
///
/// Thread- and interrupt-safe, lock-free.
///
/// # Safety
/// Pointers are NULL or valid for their type.
///
/// ```c
/// stanchion_breaker_force_open(&b, now, NULL);
/// ```
#[no_mangle]
pub unsafe extern "C" fn stanchion_breaker_force_open(
    breaker: *mut stanchion_breaker,
    now_ns: u64,
    transition_out: *mut stanchion_breaker_transition,
) -> stanchion_status {
    // SAFETY: forwarded from the caller.
    unsafe {
        override_with(breaker, transition_out, |b| {
            b.force_open(Nanos::new(now_ns))
        })
    }
}

/// Disables the breaker: every call is admitted and counted, nothing trips, until
/// `stanchion_breaker_reset`. Clears the window.
///
/// Thread- and interrupt-safe, lock-free.
///
/// # Safety
/// Pointers are NULL or valid for their type.
///
/// ```c
/// stanchion_breaker_disable(&b, now, NULL);
/// ```
#[no_mangle]
pub unsafe extern "C" fn stanchion_breaker_disable(
    breaker: *mut stanchion_breaker,
    now_ns: u64,
    transition_out: *mut stanchion_breaker_transition,
) -> stanchion_status {
    // SAFETY: forwarded from the caller.
    unsafe { override_with(breaker, transition_out, |b| b.disable(Nanos::new(now_ns))) }
}

/// Back to a fresh closed breaker: clears the window and streaks, starts a new generation
/// (permits issued before are stale). Resetting a closed breaker reports no transition.
///
/// Thread- and interrupt-safe, lock-free.
///
/// # Safety
/// Pointers are NULL or valid for their type.
///
/// ```c
/// stanchion_breaker_reset(&b, now, NULL);
/// ```
#[no_mangle]
pub unsafe extern "C" fn stanchion_breaker_reset(
    breaker: *mut stanchion_breaker,
    now_ns: u64,
    transition_out: *mut stanchion_breaker_transition,
) -> stanchion_status {
    // SAFETY: forwarded from the caller.
    unsafe { override_with(breaker, transition_out, |b| b.reset(Nanos::new(now_ns))) }
}

/// Changes thresholds and durations in place, keeping the state and, where the window's shape
/// is unchanged, its counts. `STANCHION_INVALID_CONFIG` changes nothing.
///
/// Thread- and interrupt-safe, lock-free; calls racing a reconfigure see the old or the new
/// settings.
///
/// # Safety
/// Pointers are NULL or valid for their type.
///
/// ```c
/// config.failure_count = 2;
/// stanchion_breaker_reconfigure(&b, &config, now);
/// ```
#[no_mangle]
pub unsafe extern "C" fn stanchion_breaker_reconfigure(
    breaker: *mut stanchion_breaker,
    config: *const stanchion_breaker_config,
    now_ns: u64,
) -> stanchion_status {
    boundary(|| {
        // SAFETY: forwarded from the caller.
        let b = unsafe { get(breaker) }?;
        // SAFETY: forwarded from the caller.
        let config = unsafe { ffi::read(config) }?;
        let config = to_core(&config).map_err(|_| STANCHION_INVALID_CONFIG)?;
        b.reconfigure(config, Nanos::new(now_ns))
            .map_err(|_| STANCHION_INVALID_CONFIG)?;
        Ok(STANCHION_OK)
    })
}

/// The state as stored (an open breaker whose period has ended reads open until the next
/// call moves it half-open).
///
/// Thread- and interrupt-safe, lock-free.
///
/// # Safety
/// Pointers are NULL or valid for their type.
///
/// ```c
/// stanchion_breaker_state s;
/// stanchion_breaker_state_get(&b, &s);
/// ```
#[no_mangle]
pub unsafe extern "C" fn stanchion_breaker_state_get(
    breaker: *const stanchion_breaker,
    state: *mut stanchion_breaker_state,
) -> stanchion_status {
    boundary(|| {
        // SAFETY: forwarded from the caller.
        let b = unsafe { get(breaker) }?;
        ffi::non_null(state)?;
        // SAFETY: checked; writable by the caller's promise.
        unsafe { ffi::write(state, b.state() as stanchion_breaker_state) };
        Ok(STANCHION_OK)
    })
}

/// The counters at `now_ns`.
///
/// Thread- and interrupt-safe, lock-free (fields read one by one: racing calls may show
/// between two fields).
///
/// # Safety
/// Pointers are NULL or valid for their type.
///
/// ```c
/// stanchion_breaker_snapshot s;
/// stanchion_breaker_snapshot_get(&b, now, &s);
/// ```
#[no_mangle]
pub unsafe extern "C" fn stanchion_breaker_snapshot_get(
    breaker: *const stanchion_breaker,
    now_ns: u64,
    snapshot: *mut stanchion_breaker_snapshot,
) -> stanchion_status {
    boundary(|| {
        // SAFETY: forwarded from the caller.
        let b = unsafe { get(breaker) }?;
        ffi::non_null(snapshot)?;
        let s: BreakerSnapshot = b.snapshot(Nanos::new(now_ns));
        let out = stanchion_breaker_snapshot {
            state: s.state as stanchion_breaker_state,
            generation: s.generation,
            has_open_until: s.open_until.is_some(),
            open_until_ns: s.open_until.map_or(0, Nanos::as_nanos),
            probes_in_flight: s.probes_in_flight,
            half_open_successes: s.half_open_successes,
            window_calls: s.window_calls,
            window_failures: s.window_failures,
            window_slow_calls: s.window_slow_calls,
            consecutive_failures: s.consecutive_failures,
            consecutive_trips: s.consecutive_trips,
            calls: s.calls,
            successes: s.successes,
            failures: s.failures,
            slow_calls: s.slow_calls,
            rejected_open: s.rejected_open,
            rejected_half_open_full: s.rejected_half_open_full,
            rejected_forced_open: s.rejected_forced_open,
            rejected: s.rejected(),
            transitions: s.transitions,
            failure_rate: s.failure_rate(),
            slow_call_rate: s.slow_call_rate(),
        };
        // SAFETY: checked; writable by the caller's promise.
        unsafe { ffi::write(snapshot, out) };
        Ok(STANCHION_OK)
    })
}

const _: () = assert!(State::Closed as u32 == STANCHION_STATE_CLOSED);
const _: () = assert!(State::Open as u32 == STANCHION_STATE_OPEN);
const _: () = assert!(State::HalfOpen as u32 == STANCHION_STATE_HALF_OPEN);
const _: () = assert!(State::ForcedOpen as u32 == STANCHION_STATE_FORCED_OPEN);
const _: () = assert!(State::Disabled as u32 == STANCHION_STATE_DISABLED);
