//! Backoff schedules (`stanchion_backoff`, immutable once built) and the state of one retried
//! call (`stanchion_retrying`, owned by that call).

use stanchion_core::{
    Backoff, BackoffConfig, ConfigError, Exhausted, Jitter, Nanos, Retrying, Schedule,
};

use crate::config_errors::Config;
use crate::ffi::{self, boundary};
use crate::status::{
    stanchion_config_error, stanchion_status, STANCHION_INVALID_CONFIG, STANCHION_MAX_ATTEMPTS,
    STANCHION_MAX_ELAPSED, STANCHION_OK,
};

/// Storage for a backoff schedule. Opaque; immutable after init.
///
/// ```c
/// static stanchion_backoff reconnect;
/// stanchion_backoff_config c;
/// stanchion_backoff_config_default(&c);
/// stanchion_backoff_init(&reconnect, &c);
/// ```
#[repr(C, align(8))]
pub struct stanchion_backoff {
    _opaque: [u64; 20],
}

/// `sizeof(stanchion_backoff)` in bytes.
pub const STANCHION_BACKOFF_SIZE: usize = 160;
/// `_Alignof(stanchion_backoff)` in bytes.
pub const STANCHION_BACKOFF_ALIGN: usize = 8;

/// Storage for the state of one retried call. Opaque; owned by that call.
///
/// ```c
/// stanchion_retrying attempt;
/// stanchion_backoff_start(&reconnect, seed, now, &attempt);
/// ```
#[repr(C, align(8))]
pub struct stanchion_retrying {
    _opaque: [u64; 7],
}

/// `sizeof(stanchion_retrying)` in bytes.
pub const STANCHION_RETRYING_SIZE: usize = 56;
/// `_Alignof(stanchion_retrying)` in bytes.
pub const STANCHION_RETRYING_ALIGN: usize = 8;

const TAG: u64 = ffi::tag(6);
const RETRYING_TAG: u64 = ffi::tag(7);
const _: () = assert!(ffi::fits::<Backoff, stanchion_backoff>());
const _: () = assert!(ffi::fits::<Retrying, stanchion_retrying>());
const _: () = assert!(core::mem::size_of::<stanchion_backoff>() == STANCHION_BACKOFF_SIZE);
const _: () = assert!(core::mem::align_of::<stanchion_backoff>() == STANCHION_BACKOFF_ALIGN);
const _: () = assert!(core::mem::size_of::<stanchion_retrying>() == STANCHION_RETRYING_SIZE);
const _: () = assert!(core::mem::align_of::<stanchion_retrying>() == STANCHION_RETRYING_ALIGN);

/// The shape of the waits: `STANCHION_SCHEDULE_CONSTANT`, `_LINEAR`, `_EXPONENTIAL` or
/// `_DECORRELATED`.
///
/// ```c
/// config.schedule = STANCHION_SCHEDULE_LINEAR;
/// ```
pub type stanchion_schedule = u32;
/// `initial_ns` before every retry.
pub const STANCHION_SCHEDULE_CONSTANT: stanchion_schedule = 0;
/// `initial_ns + step_ns * n` before retry `n`.
pub const STANCHION_SCHEDULE_LINEAR: stanchion_schedule = 1;
/// `initial_ns * factor^n` before retry `n`.
pub const STANCHION_SCHEDULE_EXPONENTIAL: stanchion_schedule = 2;
/// AWS "decorrelated jitter": `min(cap, rand(initial_ns, prev * 3))`.
pub const STANCHION_SCHEDULE_DECORRELATED: stanchion_schedule = 3;

/// How the capped wait is randomised: `STANCHION_JITTER_NONE`, `_FULL`, `_EQUAL` or
/// `_PROPORTIONAL`.
///
/// ```c
/// config.jitter = STANCHION_JITTER_FULL;
/// ```
pub type stanchion_jitter = u32;
/// The capped wait itself.
pub const STANCHION_JITTER_NONE: stanchion_jitter = 0;
/// Uniform on `[0, d]`.
pub const STANCHION_JITTER_FULL: stanchion_jitter = 1;
/// `[ceil(d / 2), d]`.
pub const STANCHION_JITTER_EQUAL: stanchion_jitter = 2;
/// Uniform on `[d - p*d, min(cap, d + p*d)]` with `p = jitter_proportion`.
pub const STANCHION_JITTER_PROPORTIONAL: stanchion_jitter = 3;

/// A backoff's config. Defaults: exponential from 100 ms by 2, no jitter, no `max_delay`,
/// `max_attempts` 3 (the first call and two retries), no `max_elapsed`.
///
/// ```c
/// stanchion_backoff_config c;
/// stanchion_backoff_config_default(&c);
/// c.jitter = STANCHION_JITTER_FULL;
/// c.has_max_delay = 1; c.max_delay_ns = 10000000000; /* 10 s */
/// ```
#[repr(C)]
#[derive(Clone, Copy)]
pub struct stanchion_backoff_config {
    /// The schedule [exponential].
    pub schedule: stanchion_schedule,
    /// The jitter [none]; a decorrelated schedule takes none (its jitter is built in).
    pub jitter: stanchion_jitter,
    /// Constant: the wait; linear and exponential: the first wait; decorrelated: the base
    /// [100 ms].
    pub initial_ns: u64,
    /// Linear: added per retry [0].
    pub step_ns: u64,
    /// Exponential: growth per retry, in [1, 1024] [2].
    pub factor: f64,
    /// Proportional jitter's share, in [0, 1] [0].
    pub jitter_proportion: f64,
    /// Whether `max_delay_ns` caps every wait [no].
    pub has_max_delay: u32,
    /// Whether `max_attempts` limits the calls [yes].
    pub has_max_attempts: u32,
    /// See `has_max_delay`.
    pub max_delay_ns: u64,
    /// Calls in all, the first included, at least 1 [3].
    pub max_attempts: u32,
    /// Whether `max_elapsed_ns` bounds the whole retried call [no].
    pub has_max_elapsed: u32,
    /// See `has_max_elapsed`: a retry whose wait would end past it is not made.
    pub max_elapsed_ns: u64,
}

/// The core's config, or an error for an unknown schedule or jitter; `Backoff::new` checks
/// the rest.
fn to_core(c: &stanchion_backoff_config) -> Result<BackoffConfig, ConfigError> {
    let initial = Nanos::new(c.initial_ns);
    let schedule = match c.schedule {
        STANCHION_SCHEDULE_CONSTANT => Schedule::Constant { delay: initial },
        STANCHION_SCHEDULE_LINEAR => Schedule::Linear {
            initial,
            step: Nanos::new(c.step_ns),
        },
        STANCHION_SCHEDULE_EXPONENTIAL => Schedule::Exponential {
            initial,
            factor: c.factor,
        },
        STANCHION_SCHEDULE_DECORRELATED => Schedule::Decorrelated { base: initial },
        _ => return Err(ConfigError::new("schedule", "STANCHION_SCHEDULE_* (0..=3)")),
    };
    let jitter = match c.jitter {
        STANCHION_JITTER_NONE => Jitter::None,
        STANCHION_JITTER_FULL => Jitter::Full,
        STANCHION_JITTER_EQUAL => Jitter::Equal,
        STANCHION_JITTER_PROPORTIONAL => Jitter::Proportional(c.jitter_proportion),
        _ => return Err(ConfigError::new("jitter", "STANCHION_JITTER_* (0..=3)")),
    };
    let config = BackoffConfig {
        schedule,
        jitter,
        max_delay: (c.has_max_delay != 0).then_some(Nanos::new(c.max_delay_ns)),
        max_attempts: (c.has_max_attempts != 0).then_some(c.max_attempts),
        max_elapsed: (c.has_max_elapsed != 0).then_some(Nanos::new(c.max_elapsed_ns)),
    };
    Ok(config)
}

/// Writes the defaults into `out`.
///
/// Thread- and interrupt-safe.
///
/// # Safety
/// `out` is NULL or writable.
///
/// ```c
/// stanchion_backoff_config c;
/// stanchion_backoff_config_default(&c);
/// ```
#[no_mangle]
pub unsafe extern "C" fn stanchion_backoff_config_default(
    out: *mut stanchion_backoff_config,
) -> stanchion_status {
    boundary(|| {
        ffi::non_null(out)?;
        let config = stanchion_backoff_config {
            schedule: STANCHION_SCHEDULE_EXPONENTIAL,
            jitter: STANCHION_JITTER_NONE,
            initial_ns: 100_000_000,
            step_ns: 0,
            factor: 2.0,
            jitter_proportion: 0.0,
            has_max_delay: 0,
            has_max_attempts: 1,
            max_delay_ns: 0,
            max_attempts: 3,
            has_max_elapsed: 0,
            max_elapsed_ns: 0,
        };
        // SAFETY: checked; writable.
        unsafe { ffi::write(out, config) };
        Ok(STANCHION_OK)
    })
}

/// Checks a config: `STANCHION_OK`, or `STANCHION_INVALID_CONFIG` with the field and range
/// written to `error` (may be NULL).
///
/// Thread- and interrupt-safe.
///
/// # Safety
/// `config` is NULL or readable; `error` is NULL or writable.
///
/// ```c
/// c.factor = 0.5;
/// stanchion_backoff_config_validate(&c, &e); /* e.field: "factor" */
/// ```
#[no_mangle]
pub unsafe extern "C" fn stanchion_backoff_config_validate(
    config: *const stanchion_backoff_config,
    error: *mut stanchion_config_error,
) -> stanchion_status {
    // SAFETY: forwarded from the caller.
    boundary(|| unsafe {
        ffi::validate(Config::Backoff, config, error, |c| {
            to_core(c).and_then(|c| c.validate())
        })
    })
}

/// Builds a schedule in `backoff`'s storage.
///
/// Not thread-safe for that object: initialise before sharing it. Afterwards it never changes,
/// so any number of threads may use it at once.
///
/// # Safety
/// `backoff` is NULL or writable storage no other thread uses during the call; `config` is
/// NULL or readable.
///
/// ```c
/// stanchion_backoff_init(&reconnect, &c);
/// ```
#[no_mangle]
pub unsafe extern "C" fn stanchion_backoff_init(
    backoff: *mut stanchion_backoff,
    config: *const stanchion_backoff_config,
) -> stanchion_status {
    boundary(|| {
        ffi::check_storage::<Backoff, _>(backoff)?;
        // SAFETY: forwarded from the caller.
        let config = unsafe { ffi::read(config) }?;
        let config = to_core(&config).map_err(|_| STANCHION_INVALID_CONFIG)?;
        let built = Backoff::new(config).map_err(|_| STANCHION_INVALID_CONFIG)?;
        // SAFETY: checked storage; exclusive by the caller's promise.
        unsafe { ffi::put(backoff, TAG, built) };
        Ok(STANCHION_OK)
    })
}

/// # Safety
/// `backoff` is NULL or points to storage that outlives the call.
pub(crate) unsafe fn get<'a>(
    backoff: *const stanchion_backoff,
) -> Result<&'a Backoff, stanchion_status> {
    // SAFETY: forwarded from the caller.
    unsafe { ffi::object(backoff, TAG) }
}

/// The wait before retry `attempt` (0: before the second call) for `seed`, a pure function:
/// `STANCHION_OK` writes it, `STANCHION_MAX_ATTEMPTS` means stop. Ignores `max_elapsed`,
/// which needs a clock (use `stanchion_retrying_next_delay`).
///
/// Cost: constant and linear schedules O(1); exponential and decorrelated replay at most 4096
/// steps whatever `attempt` (about 15 us on a desktop core; see `docs/semantics.md` §5 for
/// the waits past that). In an interrupt handler or a tight loop, keep a `stanchion_retrying`
/// instead, whose next delay costs a few steps.
///
/// Thread- and interrupt-safe.
///
/// # Safety
/// Pointers are NULL or valid for their type.
///
/// ```c
/// uint64_t wait;
/// if (stanchion_backoff_delay(&reconnect, attempt, seed, &wait) == STANCHION_OK) sleep_ns(wait);
/// ```
#[no_mangle]
pub unsafe extern "C" fn stanchion_backoff_delay(
    backoff: *const stanchion_backoff,
    attempt: u32,
    seed: u64,
    delay_ns: *mut u64,
) -> stanchion_status {
    boundary(|| {
        // SAFETY: forwarded from the caller.
        let b = unsafe { get(backoff) }?;
        ffi::non_null(delay_ns)?;
        match b.delay(attempt, seed) {
            Some(wait) => {
                // SAFETY: checked; writable.
                unsafe { ffi::write(delay_ns, wait.as_nanos()) };
                Ok(STANCHION_OK)
            }
            None => Ok(STANCHION_MAX_ATTEMPTS),
        }
    })
}

/// Begins a retried call at `now_ns` with `seed`: writes its state to `retrying`.
///
/// Thread- and interrupt-safe for the backoff; `retrying` belongs to the caller.
///
/// # Safety
/// Pointers are NULL or valid for their type.
///
/// ```c
/// stanchion_retrying r;
/// uint64_t now;
/// stanchion_now_ns(&now);
/// stanchion_backoff_start(&reconnect, seed, now, &r);
/// ```
#[no_mangle]
pub unsafe extern "C" fn stanchion_backoff_start(
    backoff: *const stanchion_backoff,
    seed: u64,
    now_ns: u64,
    retrying: *mut stanchion_retrying,
) -> stanchion_status {
    boundary(|| {
        // SAFETY: forwarded from the caller.
        let b = unsafe { get(backoff) }?;
        ffi::check_storage::<Retrying, _>(retrying)?;
        let state = b.start(seed, Nanos::new(now_ns));
        // SAFETY: checked storage; the caller owns it.
        unsafe { ffi::put(retrying, RETRYING_TAG, state) };
        Ok(STANCHION_OK)
    })
}

/// The wait before the next retry of the call `retrying` tracks, at `now_ns`:
/// `STANCHION_OK` writes it to `delay`; `STANCHION_MAX_ATTEMPTS` or `STANCHION_MAX_ELAPSED`
/// mean stop (and stay so). `hint_ns` (may be NULL) is a server's Retry-After: the wait is at
/// least that, within `max_delay`. Pass the backoff the call was started with.
///
/// Not thread-safe for `retrying` (one call owns it); thread-safe for the backoff.
///
/// # Safety
/// Pointers are NULL or valid for their type.
///
/// ```c
/// uint64_t now, wait;
/// while (call() != 0 && stanchion_now_ns(&now) == STANCHION_OK &&
///        stanchion_retrying_next_delay(&r, &reconnect, now, NULL, &wait) == STANCHION_OK)
///     sleep_ns(wait);
/// ```
#[no_mangle]
pub unsafe extern "C" fn stanchion_retrying_next_delay(
    retrying: *mut stanchion_retrying,
    backoff: *const stanchion_backoff,
    now_ns: u64,
    hint_ns: *const u64,
    delay_ns: *mut u64,
) -> stanchion_status {
    boundary(|| {
        // SAFETY: forwarded from the caller.
        let b = unsafe { get(backoff) }?;
        // SAFETY: forwarded from the caller; the caller owns the state.
        let state: &mut Retrying = unsafe { ffi::object_mut(retrying, RETRYING_TAG) }?;
        ffi::non_null(delay_ns)?;
        let hint = if hint_ns.is_null() {
            None
        } else {
            // SAFETY: not NULL; readable by the caller's promise.
            Some(Nanos::new(unsafe { ffi::read(hint_ns) }?))
        };
        match state.next_delay(b, Nanos::new(now_ns), hint) {
            Ok(wait) => {
                // SAFETY: checked; writable.
                unsafe { ffi::write(delay_ns, wait.as_nanos()) };
                Ok(STANCHION_OK)
            }
            Err(Exhausted::MaxAttempts) => Ok(STANCHION_MAX_ATTEMPTS),
            Err(Exhausted::MaxElapsed) => Ok(STANCHION_MAX_ELAPSED),
        }
    })
}

/// The waits handed out so far.
///
/// Not thread-safe for `retrying` (one call owns it).
///
/// # Safety
/// Pointers are NULL or valid for their type.
///
/// ```c
/// uint32_t n;
/// stanchion_retrying_retries_get(&r, &n);
/// ```
#[no_mangle]
pub unsafe extern "C" fn stanchion_retrying_retries_get(
    retrying: *const stanchion_retrying,
    retries: *mut u32,
) -> stanchion_status {
    boundary(|| {
        // SAFETY: forwarded from the caller.
        let state: &Retrying = unsafe { ffi::object(retrying, RETRYING_TAG) }?;
        ffi::non_null(retries)?;
        // SAFETY: checked; writable.
        unsafe { ffi::write(retries, state.retries()) };
        Ok(STANCHION_OK)
    })
}
