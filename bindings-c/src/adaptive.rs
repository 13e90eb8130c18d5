//! The adaptive concurrency limiter: a bulkhead whose limit follows the latency it measures
//! (AIMD, Vegas or Gradient2). C gets `try_acquire`, `record` and `release` with plain permits;
//! the core's async queue (`acquire`) is for Rust futures and is not part of the C API.

use stanchion_core::adaptive::{
    AdaptiveConfig, AdaptiveLimiter, Aimd, Algorithm, Gradient2, LimitChange, Outcome, RawPermit,
    Vegas,
};
use stanchion_core::{ConfigError, Nanos};

use crate::breaker::{
    stanchion_outcome, STANCHION_OUTCOME_FAILURE, STANCHION_OUTCOME_IGNORED,
    STANCHION_OUTCOME_SUCCESS,
};
use crate::config_errors::Config;
use crate::ffi::{self, boundary};
use crate::status::{
    stanchion_config_error, stanchion_rejection, stanchion_status, STANCHION_INVALID_ARGUMENT,
    STANCHION_INVALID_CONFIG, STANCHION_OK,
};
use crate::token_bucket::refuse;

/// Storage for an adaptive limiter. Opaque.
///
/// ```c
/// static stanchion_adaptive backend;
/// stanchion_adaptive_config c;
/// stanchion_adaptive_config_default(&c);
/// stanchion_adaptive_init(&backend, &c);
/// ```
#[repr(C, align(8))]
pub struct stanchion_adaptive {
    _opaque: [u64; 22],
}

/// `sizeof(stanchion_adaptive)` in bytes.
pub const STANCHION_ADAPTIVE_SIZE: usize = 176;
/// `_Alignof(stanchion_adaptive)` in bytes.
pub const STANCHION_ADAPTIVE_ALIGN: usize = 8;
/// The highest `max_limit`: the limit shares the core's counting word, 16 bits of it.
pub const STANCHION_ADAPTIVE_MAX_LIMIT: u32 = 65_535;

const TAG: u64 = ffi::tag(10);
const _: () = assert!(ffi::fits::<AdaptiveLimiter<0>, stanchion_adaptive>());
const _: () = assert!(core::mem::size_of::<stanchion_adaptive>() == STANCHION_ADAPTIVE_SIZE);
const _: () = assert!(core::mem::align_of::<stanchion_adaptive>() == STANCHION_ADAPTIVE_ALIGN);
const _: () = assert!(STANCHION_ADAPTIVE_MAX_LIMIT == stanchion_core::adaptive::MAX_LIMIT);

/// The call timed out, or a dependency refused it for overload: a drop, which lowers the
/// limit. The adaptive limiter's own outcome: a breaker answers `STANCHION_INVALID_ARGUMENT`.
pub const STANCHION_OUTCOME_DROPPED: stanchion_outcome = 3;

/// How the limit follows the latency: `STANCHION_ADAPTIVE_AIMD`, `_VEGAS` or `_GRADIENT2`.
///
/// ```c
/// c.algorithm = STANCHION_ADAPTIVE_VEGAS;
/// c.vegas.alpha = 2;
/// ```
pub type stanchion_adaptive_algorithm = u32;
/// Additive increase, multiplicative decrease: +1 after a window that used half the limit,
/// `× aimd.backoff_ratio` after a drop (concurrency-limits' `AIMDLimit`).
pub const STANCHION_ADAPTIVE_AIMD: stanchion_adaptive_algorithm = 0;
/// The queue the latency implies over a no-load baseline (concurrency-limits' `VegasLimit`).
pub const STANCHION_ADAPTIVE_VEGAS: stanchion_adaptive_algorithm = 1;
/// The latency against its long-term average (concurrency-limits' `Gradient2Limit`).
pub const STANCHION_ADAPTIVE_GRADIENT2: stanchion_adaptive_algorithm = 2;

/// AIMD's parameters, read when `algorithm` is `STANCHION_ADAPTIVE_AIMD`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct stanchion_adaptive_aimd {
    /// The factor a drop multiplies the limit by, in [0.5, 1), kept to a millionth [0.9].
    pub backoff_ratio: f64,
    /// A window whose mean latency is above this counts as a drop; at least 1 ns [5 s].
    pub timeout_ns: u64,
}

/// Vegas's parameters, read when `algorithm` is `STANCHION_ADAPTIVE_VEGAS`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct stanchion_adaptive_vegas {
    /// Below `alpha × log10(limit)` queued calls the limit grows; 0..=65535 [3].
    pub alpha: u32,
    /// Above `beta × log10(limit)` queued calls the limit shrinks; 0..=65535 [6].
    pub beta: u32,
    /// The baseline is measured afresh every `probe_multiplier × limit` windows (jittered);
    /// 1..=65535 [30].
    pub probe_multiplier: u32,
    /// Reserved, always 0.
    pub reserved: u32,
    /// How far each update moves the limit, in (0, 1], kept to a millionth [1: all the way].
    pub smoothing: f64,
}

/// Gradient2's parameters, read when `algorithm` is `STANCHION_ADAPTIVE_GRADIENT2`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct stanchion_adaptive_gradient2 {
    /// How far each update moves the limit, in (0, 1], kept to a millionth [0.2].
    pub smoothing: f64,
    /// Calls allowed to queue on top of `limit × gradient`; 0..=65535 [4].
    pub queue_size: u32,
    /// The long average's span in windows; 1..=65535 [600].
    pub long_window: u32,
    /// How much slower than the long average a window may be before the limit shrinks, in
    /// [1, 1000], kept to a millionth [1.5].
    pub rtt_tolerance: f64,
    /// Adds `queue_size` only when no queueing is seen (0 = off, anything else = on), so the
    /// limit cannot creep up under moderate overload [off, as concurrency-limits].
    pub creep_guard: u32,
    /// Reserved, always 0.
    pub reserved: u32,
}

/// An adaptive limiter's config. Defaults: AIMD, a limit of 20 between 1 and 1000, windows of
/// at least 10 samples and 1 s. Only the parameters of the chosen algorithm are read.
///
/// ```c
/// stanchion_adaptive_config c;
/// stanchion_adaptive_config_default(&c);
/// c.initial_limit = 8; c.max_limit = 64;
/// c.window_ns = 100000000; /* 100 ms */
/// c.algorithm = STANCHION_ADAPTIVE_GRADIENT2;
/// c.gradient2.creep_guard = 1;
/// ```
#[repr(C)]
#[derive(Clone, Copy)]
pub struct stanchion_adaptive_config {
    /// The update rule [`STANCHION_ADAPTIVE_AIMD`].
    pub algorithm: stanchion_adaptive_algorithm,
    /// The limit before the first update, in [min_limit, max_limit] [20].
    pub initial_limit: u32,
    /// The lowest the limit goes, at least 1 [1].
    pub min_limit: u32,
    /// The highest the limit goes, at most `STANCHION_ADAPTIVE_MAX_LIMIT` [1000].
    pub max_limit: u32,
    /// The fewest samples that close a window, at least 1 [10].
    pub min_samples: u32,
    /// Reserved, always 0.
    pub reserved: u32,
    /// The shortest a window lasts, from its first sample [1 s].
    pub window_ns: u64,
    /// Seed of the Vegas probe jitter, so a run can be replayed [0].
    pub seed: u64,
    /// AIMD's parameters.
    pub aimd: stanchion_adaptive_aimd,
    /// Vegas's parameters.
    pub vegas: stanchion_adaptive_vegas,
    /// Gradient2's parameters.
    pub gradient2: stanchion_adaptive_gradient2,
}

/// A permit of an adaptive limiter. Report how its call ended once with
/// `stanchion_adaptive_record`, or give it back without a sample with
/// `stanchion_adaptive_release`; either again is a no-op.
///
/// A permit belongs where `stanchion_adaptive_try_acquire` wrote it: it records its own
/// address, and a report through a copy at another address is refused
/// (`STANCHION_INVALID_ARGUMENT`), so that one call is never counted twice. To keep a permit
/// elsewhere, move it with `stanchion_adaptive_permit_move`.
///
/// ```c
/// stanchion_adaptive_permit p;
/// if (stanchion_adaptive_try_acquire(&backend, now, &p, NULL) == STANCHION_OK) {
///     bool timed_out = !send_request();
///     stanchion_adaptive_record(&backend, &p,
///                               timed_out ? STANCHION_OUTCOME_DROPPED : STANCHION_OUTCOME_SUCCESS,
///                               later, NULL);
/// }
/// ```
#[repr(C, align(8))]
#[derive(Clone, Copy)]
pub struct stanchion_adaptive_permit {
    _opaque: [u64; 3],
}

/// A permit's bytes: the address it was written to, the core's permit (when its call began and
/// the calls in flight at its admission), and a mark that tells a held permit, a reported one
/// and garbage apart.
#[repr(C)]
#[derive(Clone, Copy)]
struct PermitParts {
    home: u64,
    issued_at: u64,
    in_flight: u32,
    mark: u32,
}

/// The mark of a permit still held, and of one recorded or released.
const MARK_HELD: u32 = 0x6164_6170;
const MARK_SPENT: u32 = 0x6164_6178;
const _: () = assert!(
    core::mem::size_of::<PermitParts>() == core::mem::size_of::<stanchion_adaptive_permit>()
);

/// The address a permit at `permit` records: a copy elsewhere records another.
fn home(permit: *const stanchion_adaptive_permit) -> u64 {
    permit as usize as u64
}

/// Reads the permit at `permit`, held or spent: `STANCHION_INVALID_ARGUMENT` unless it is a
/// permit this library wrote there (garbage, a copy, or a permit moved away is not).
///
/// # Safety
/// `permit` is NULL or readable.
unsafe fn read_permit(
    permit: *const stanchion_adaptive_permit,
) -> Result<PermitParts, stanchion_status> {
    // SAFETY: forwarded from the caller.
    let parts: PermitParts = unsafe { ffi::read(permit.cast::<PermitParts>()) }?;
    if (parts.mark != MARK_HELD && parts.mark != MARK_SPENT) || parts.home != home(permit) {
        return Err(STANCHION_INVALID_ARGUMENT);
    }
    Ok(parts)
}

fn raw(parts: &PermitParts) -> RawPermit {
    RawPermit::from_parts(
        Nanos::new(parts.issued_at),
        parts.in_flight,
        parts.mark == MARK_HELD,
    )
}

/// Writes back the permit at `permit` as the core left it (spent once reported).
///
/// # Safety
/// `permit` passed `read_permit` and is writable.
unsafe fn write_back(
    permit: *mut stanchion_adaptive_permit,
    mut parts: PermitParts,
    raw: RawPermit,
) {
    parts.mark = if raw.is_held() { MARK_HELD } else { MARK_SPENT };
    // SAFETY: forwarded from the caller.
    unsafe { ffi::write(permit.cast::<PermitParts>(), parts) };
}

/// The change of limit a report caused: the limit before and after the update of the window it
/// closed.
///
/// ```c
/// stanchion_adaptive_change change;
/// stanchion_adaptive_record(&backend, &p, STANCHION_OUTCOME_DROPPED, now, &change);
/// if (change.occurred) printf("limit %u -> %u\n", change.from, change.to);
/// ```
#[repr(C)]
#[derive(Clone, Copy)]
pub struct stanchion_adaptive_change {
    /// Whether the report closed a window whose update changed the limit; when false, `from`
    /// and `to` are both 0.
    pub occurred: bool,
    /// The limit before.
    pub from: u32,
    /// The limit after.
    pub to: u32,
}

fn change(c: Option<LimitChange>) -> stanchion_adaptive_change {
    match c {
        Some(c) => stanchion_adaptive_change {
            occurred: true,
            from: c.from,
            to: c.to,
        },
        None => stanchion_adaptive_change {
            occurred: false,
            from: 0,
            to: 0,
        },
    }
}

/// An adaptive limiter's state.
///
/// ```c
/// stanchion_adaptive_snapshot s;
/// stanchion_adaptive_snapshot_get(&backend, &s);
/// ```
#[repr(C)]
#[derive(Clone, Copy)]
pub struct stanchion_adaptive_snapshot {
    /// The limit in force.
    pub limit: u32,
    /// Permits out now (above `limit` just after it was lowered, while they drain).
    pub in_flight: u32,
    /// Calls queued: always 0 through the C API, which has no queue.
    pub waiting: u32,
    /// The most permits ever out at once.
    pub peak: u32,
    /// Calls refused so far.
    pub rejected: u64,
    /// Whether `baseline_ns` is set: Vegas's no-load latency or Gradient2's long average, once
    /// a window has closed (AIMD keeps none).
    pub has_baseline: bool,
    /// See `has_baseline`; whole nanoseconds, rounded down.
    pub baseline_ns: u64,
    /// Whether `last_update_ns` is set (a window has closed).
    pub has_last_update: bool,
    /// The `now_ns` of the report that closed the last window.
    pub last_update_ns: u64,
    /// Windows closed so far.
    pub windows: u64,
}

const fn flag(value: u32) -> bool {
    value != 0
}

/// The core's config, or an error for an unknown algorithm; `AdaptiveConfig::validate` checks
/// the rest.
fn to_core(c: &stanchion_adaptive_config) -> Result<AdaptiveConfig, ConfigError> {
    let algorithm = match c.algorithm {
        STANCHION_ADAPTIVE_AIMD => Algorithm::Aimd(Aimd {
            backoff_ratio: c.aimd.backoff_ratio,
            timeout: Nanos::new(c.aimd.timeout_ns),
        }),
        STANCHION_ADAPTIVE_VEGAS => Algorithm::Vegas(Vegas {
            alpha: c.vegas.alpha,
            beta: c.vegas.beta,
            probe_multiplier: c.vegas.probe_multiplier,
            smoothing: c.vegas.smoothing,
        }),
        STANCHION_ADAPTIVE_GRADIENT2 => Algorithm::Gradient2(Gradient2 {
            smoothing: c.gradient2.smoothing,
            queue_size: c.gradient2.queue_size,
            long_window: c.gradient2.long_window,
            rtt_tolerance: c.gradient2.rtt_tolerance,
            creep_guard: flag(c.gradient2.creep_guard),
        }),
        _ => {
            return Err(ConfigError::new(
                "algorithm",
                "STANCHION_ADAPTIVE_AIMD (0) to _GRADIENT2 (2)",
            ))
        }
    };
    Ok(AdaptiveConfig {
        algorithm,
        initial_limit: c.initial_limit,
        min_limit: c.min_limit,
        max_limit: c.max_limit,
        min_samples: c.min_samples,
        window: Nanos::new(c.window_ns),
        // The C API has no queue.
        max_waiting: 0,
        seed: c.seed,
    })
}

/// The core names an algorithm's parameter `algorithm.<name>` whichever algorithm it is; in C
/// it is a field of that algorithm's struct (`vegas.smoothing`, `gradient2.smoothing`).
fn in_c_struct(error: ConfigError, algorithm: stanchion_adaptive_algorithm) -> ConfigError {
    let field = match (algorithm, error.field) {
        (STANCHION_ADAPTIVE_AIMD, "algorithm.backoff_ratio") => "aimd.backoff_ratio",
        (STANCHION_ADAPTIVE_AIMD, "algorithm.timeout") => "aimd.timeout",
        (STANCHION_ADAPTIVE_VEGAS, "algorithm.alpha") => "vegas.alpha",
        (STANCHION_ADAPTIVE_VEGAS, "algorithm.beta") => "vegas.beta",
        (STANCHION_ADAPTIVE_VEGAS, "algorithm.probe_multiplier") => "vegas.probe_multiplier",
        (STANCHION_ADAPTIVE_VEGAS, "algorithm.smoothing") => "vegas.smoothing",
        (STANCHION_ADAPTIVE_GRADIENT2, "algorithm.smoothing") => "gradient2.smoothing",
        (STANCHION_ADAPTIVE_GRADIENT2, "algorithm.queue_size") => "gradient2.queue_size",
        (STANCHION_ADAPTIVE_GRADIENT2, "algorithm.long_window") => "gradient2.long_window",
        (STANCHION_ADAPTIVE_GRADIENT2, "algorithm.rtt_tolerance") => "gradient2.rtt_tolerance",
        _ => return error,
    };
    ConfigError::new(field, error.allowed)
}

/// Builds the limiter, or the first invalid field.
fn build(c: &stanchion_adaptive_config) -> Result<AdaptiveLimiter<0>, ConfigError> {
    AdaptiveLimiter::new(to_core(c)?).map_err(|e| in_c_struct(e, c.algorithm))
}

/// Writes the core's defaults into `out`, those of every algorithm's parameters included.
///
/// Thread- and interrupt-safe (touches only `out`).
///
/// # Safety
/// `out` is NULL or writable.
///
/// ```c
/// stanchion_adaptive_config c;
/// stanchion_adaptive_config_default(&c); /* c.initial_limit == 20, c.vegas.alpha == 3 */
/// ```
#[no_mangle]
pub unsafe extern "C" fn stanchion_adaptive_config_default(
    out: *mut stanchion_adaptive_config,
) -> stanchion_status {
    boundary(|| {
        ffi::non_null(out)?;
        let d = AdaptiveConfig::new();
        let (aimd, vegas, gradient) = (Aimd::new(), Vegas::new(), Gradient2::new());
        let config = stanchion_adaptive_config {
            algorithm: STANCHION_ADAPTIVE_AIMD,
            initial_limit: d.initial_limit,
            min_limit: d.min_limit,
            max_limit: d.max_limit,
            min_samples: d.min_samples,
            reserved: 0,
            window_ns: d.window.as_nanos(),
            seed: d.seed,
            aimd: stanchion_adaptive_aimd {
                backoff_ratio: aimd.backoff_ratio,
                timeout_ns: aimd.timeout.as_nanos(),
            },
            vegas: stanchion_adaptive_vegas {
                alpha: vegas.alpha,
                beta: vegas.beta,
                probe_multiplier: vegas.probe_multiplier,
                reserved: 0,
                smoothing: vegas.smoothing,
            },
            gradient2: stanchion_adaptive_gradient2 {
                smoothing: gradient.smoothing,
                queue_size: gradient.queue_size,
                long_window: gradient.long_window,
                rtt_tolerance: gradient.rtt_tolerance,
                creep_guard: u32::from(gradient.creep_guard),
                reserved: 0,
            },
        };
        // SAFETY: checked; writable.
        unsafe { ffi::write(out, config) };
        Ok(STANCHION_OK)
    })
}

/// Checks a config as `stanchion_adaptive_init` would: `STANCHION_OK`, or
/// `STANCHION_INVALID_CONFIG` with the first bad field and its range written to `error` (may
/// be NULL).
///
/// Thread- and interrupt-safe.
///
/// # Safety
/// `config` is NULL or readable; `error` is NULL or writable.
///
/// ```c
/// c.min_limit = 0;
/// stanchion_adaptive_config_validate(&c, &e); /* e.field: "min_limit" */
/// ```
#[no_mangle]
pub unsafe extern "C" fn stanchion_adaptive_config_validate(
    config: *const stanchion_adaptive_config,
    error: *mut stanchion_config_error,
) -> stanchion_status {
    // SAFETY: forwarded from the caller.
    boundary(|| unsafe {
        ffi::validate(Config::Adaptive, config, error, |c| {
            to_core(c)?
                .validate()
                .map_err(|e| in_c_struct(e, c.algorithm))
        })
    })
}

/// Initialises a limiter at `initial_limit` with no permit out. Re-initialising an object
/// resets it.
///
/// Not thread-safe for that object: initialise before sharing it.
///
/// # Safety
/// `limiter` is NULL or writable storage no other thread uses during the call; `config` is
/// NULL or readable.
///
/// ```c
/// stanchion_adaptive_init(&backend, &c);
/// ```
#[no_mangle]
pub unsafe extern "C" fn stanchion_adaptive_init(
    limiter: *mut stanchion_adaptive,
    config: *const stanchion_adaptive_config,
) -> stanchion_status {
    boundary(|| {
        ffi::check_storage::<AdaptiveLimiter<0>, _>(limiter)?;
        // SAFETY: forwarded from the caller.
        let config = unsafe { ffi::read(config) }?;
        let built = build(&config).map_err(|_| STANCHION_INVALID_CONFIG)?;
        // SAFETY: checked storage; exclusive by the caller's promise.
        unsafe { ffi::put(limiter, TAG, built) };
        Ok(STANCHION_OK)
    })
}

/// # Safety
/// `limiter` is NULL or points to storage that outlives the call.
unsafe fn get<'a>(
    limiter: *const stanchion_adaptive,
) -> Result<&'a AdaptiveLimiter<0>, stanchion_status> {
    // SAFETY: forwarded from the caller.
    unsafe { ffi::object(limiter, TAG) }
}

/// A permit issued at `now_ns` while fewer than the limit are out, else
/// `STANCHION_BULKHEAD_FULL` (no `retry_after`: only a report or a release helps).
/// `rejection` may be NULL. The call's latency is measured from `now_ns`.
///
/// Thread- and interrupt-safe, lock-free.
///
/// # Safety
/// Pointers are NULL or valid for their type.
///
/// ```c
/// stanchion_adaptive_try_acquire(&backend, now, &p, NULL);
/// ```
#[no_mangle]
pub unsafe extern "C" fn stanchion_adaptive_try_acquire(
    limiter: *mut stanchion_adaptive,
    now_ns: u64,
    permit: *mut stanchion_adaptive_permit,
    rejection_out: *mut stanchion_rejection,
) -> stanchion_status {
    boundary(|| {
        // SAFETY: forwarded from the caller.
        let l = unsafe { get(limiter) }?;
        ffi::non_null(permit)?;
        match l.try_acquire(Nanos::new(now_ns)) {
            Ok(held) => {
                let raw = held.into_raw();
                let parts = PermitParts {
                    home: home(permit),
                    issued_at: raw.issued_at().as_nanos(),
                    in_flight: raw.in_flight(),
                    mark: MARK_HELD,
                };
                // SAFETY: checked; writable.
                unsafe { ffi::write(permit.cast::<PermitParts>(), parts) };
                Ok(STANCHION_OK)
            }
            // SAFETY: optional output.
            Err(refused) => unsafe { refuse(refused, rejection_out) },
        }
    })
}

fn outcome(value: stanchion_outcome) -> Result<Outcome, stanchion_status> {
    match value {
        STANCHION_OUTCOME_SUCCESS => Ok(Outcome::Success),
        STANCHION_OUTCOME_FAILURE => Ok(Outcome::Failure),
        STANCHION_OUTCOME_IGNORED => Ok(Outcome::Ignored),
        STANCHION_OUTCOME_DROPPED => Ok(Outcome::Dropped),
        _ => Err(STANCHION_INVALID_ARGUMENT),
    }
}

/// Reports how the call of `permit` ended, at `now_ns`, and gives the permit back. Its latency
/// (`now_ns` less the admission's, at least 1 ns) is a sample for `SUCCESS` and `FAILURE`, a
/// drop for `STANCHION_OUTCOME_DROPPED` (a timeout, or a refusal for overload further down);
/// `IGNORED` samples nothing. `change` (may be NULL) is the change of limit when this report
/// closed a window whose update changed it.
///
/// A permit already recorded or released does nothing (`change.occurred` false).
/// `STANCHION_INVALID_ARGUMENT` for an unknown outcome (the permit stays held), garbage, a copy
/// of a permit (`copy = p;`, `memcpy`) or one moved away with `stanchion_adaptive_permit_move`.
/// A permit must go back to the limiter it came from.
///
/// Thread- and interrupt-safe, lock-free (the permit itself belongs to one caller).
///
/// # Safety
/// Pointers are NULL or valid for their type.
///
/// ```c
/// stanchion_adaptive_change change;
/// stanchion_outcome outcome = ok ? STANCHION_OUTCOME_SUCCESS : STANCHION_OUTCOME_DROPPED;
/// stanchion_adaptive_record(&backend, &p, outcome, now, &change);
/// ```
#[no_mangle]
pub unsafe extern "C" fn stanchion_adaptive_record(
    limiter: *mut stanchion_adaptive,
    permit: *mut stanchion_adaptive_permit,
    outcome_value: stanchion_outcome,
    now_ns: u64,
    change_out: *mut stanchion_adaptive_change,
) -> stanchion_status {
    boundary(|| {
        // SAFETY: forwarded from the caller.
        let l = unsafe { get(limiter) }?;
        // SAFETY: forwarded from the caller.
        let parts = unsafe { read_permit(permit) }?;
        let outcome = outcome(outcome_value)?;
        let mut raw = raw(&parts);
        let c = l.record_raw(&mut raw, outcome, Nanos::new(now_ns));
        // SAFETY: checked by `read_permit`, writable by the caller's promise; optional output.
        unsafe {
            write_back(permit, parts, raw);
            ffi::write_optional(change_out, change(c));
        }
        Ok(STANCHION_OK)
    })
}

/// Gives a permit back without a sample (the call was abandoned). `released` (may be NULL) is
/// false when the permit was already recorded or released, which changes nothing. The permit
/// is checked as by `stanchion_adaptive_record`.
///
/// Thread- and interrupt-safe, lock-free.
///
/// # Safety
/// Pointers are NULL or valid for their type.
///
/// ```c
/// bool released;
/// stanchion_adaptive_release(&backend, &p, &released);
/// ```
#[no_mangle]
pub unsafe extern "C" fn stanchion_adaptive_release(
    limiter: *mut stanchion_adaptive,
    permit: *mut stanchion_adaptive_permit,
    released: *mut bool,
) -> stanchion_status {
    boundary(|| {
        // SAFETY: forwarded from the caller.
        let l = unsafe { get(limiter) }?;
        // SAFETY: forwarded from the caller.
        let parts = unsafe { read_permit(permit) }?;
        let mut raw = raw(&parts);
        let done = l.release(&mut raw);
        // SAFETY: checked by `read_permit`, writable by the caller's promise; optional output.
        unsafe {
            write_back(permit, parts, raw);
            ffi::write_optional(released, done);
        }
        Ok(STANCHION_OK)
    })
}

/// Moves the permit at `from` to `to` (a request's struct, a queue's slot): `to` is then the
/// permit, and `from` no longer is (reporting it answers `STANCHION_INVALID_ARGUMENT`).
/// `STANCHION_INVALID_ARGUMENT` if `from` is not a permit at its address or the two overlap;
/// `from == to` changes nothing. Plain assignment makes a copy that cannot be reported; this is
/// how a permit changes place.
///
/// Thread- and interrupt-safe: touches only the two permits, which belong to the caller.
///
/// # Safety
/// Pointers are NULL or valid for their type.
///
/// ```c
/// struct request { stanchion_adaptive_permit permit; int fd; } req;
/// stanchion_adaptive_permit_move(&p, &req.permit);
/// stanchion_adaptive_record(&backend, &req.permit, STANCHION_OUTCOME_SUCCESS, now, NULL);
/// ```
#[no_mangle]
pub unsafe extern "C" fn stanchion_adaptive_permit_move(
    from: *mut stanchion_adaptive_permit,
    to: *mut stanchion_adaptive_permit,
) -> stanchion_status {
    boundary(|| {
        // SAFETY: forwarded from the caller.
        let mut parts = unsafe { read_permit(from) }?;
        ffi::non_null(to)?;
        if from == to {
            return Ok(STANCHION_OK);
        }
        ffi::disjoint(from, to)?;
        let mut stale = parts;
        stale.home = 0;
        parts.home = home(to);
        // SAFETY: both checked not NULL, disjoint, and writable by the caller's promise.
        unsafe {
            ffi::write(to.cast::<PermitParts>(), parts);
            ffi::write(from.cast::<PermitParts>(), stale);
        }
        Ok(STANCHION_OK)
    })
}

/// The calls in flight when the permit was admitted, itself included (its window's in-flight
/// figure is the highest of these). Reads any permit, a copy or a reported one included.
///
/// Thread- and interrupt-safe: reads only the permit.
///
/// # Safety
/// Pointers are NULL or valid for their type.
///
/// ```c
/// uint32_t in_flight;
/// stanchion_adaptive_permit_in_flight(&p, &in_flight);
/// ```
#[no_mangle]
pub unsafe extern "C" fn stanchion_adaptive_permit_in_flight(
    permit: *const stanchion_adaptive_permit,
    in_flight: *mut u32,
) -> stanchion_status {
    boundary(|| {
        // SAFETY: forwarded from the caller.
        let parts: PermitParts = unsafe { ffi::read(permit.cast::<PermitParts>()) }?;
        if parts.mark != MARK_HELD && parts.mark != MARK_SPENT {
            return Err(STANCHION_INVALID_ARGUMENT);
        }
        ffi::non_null(in_flight)?;
        // SAFETY: checked; writable.
        unsafe { ffi::write(in_flight, parts.in_flight) };
        Ok(STANCHION_OK)
    })
}

/// The limit in force.
///
/// Thread- and interrupt-safe, lock-free.
///
/// # Safety
/// Pointers are NULL or valid for their type.
///
/// ```c
/// uint32_t limit;
/// stanchion_adaptive_limit_get(&backend, &limit);
/// ```
#[no_mangle]
pub unsafe extern "C" fn stanchion_adaptive_limit_get(
    limiter: *const stanchion_adaptive,
    limit: *mut u32,
) -> stanchion_status {
    boundary(|| {
        // SAFETY: forwarded from the caller.
        let l = unsafe { get(limiter) }?;
        ffi::non_null(limit)?;
        // SAFETY: checked; writable.
        unsafe { ffi::write(limit, l.limit()) };
        Ok(STANCHION_OK)
    })
}

/// The state now. Fields are read one by one and may disagree by the calls racing the read.
///
/// Thread- and interrupt-safe, lock-free.
///
/// # Safety
/// Pointers are NULL or valid for their type.
///
/// ```c
/// stanchion_adaptive_snapshot s;
/// stanchion_adaptive_snapshot_get(&backend, &s);
/// if (s.has_baseline) printf("no-load latency %llu ns\n", (unsigned long long)s.baseline_ns);
/// ```
#[no_mangle]
pub unsafe extern "C" fn stanchion_adaptive_snapshot_get(
    limiter: *const stanchion_adaptive,
    out: *mut stanchion_adaptive_snapshot,
) -> stanchion_status {
    boundary(|| {
        // SAFETY: forwarded from the caller.
        let l = unsafe { get(limiter) }?;
        ffi::non_null(out)?;
        let s = l.snapshot();
        let snapshot = stanchion_adaptive_snapshot {
            limit: s.limit,
            in_flight: s.in_flight,
            waiting: s.waiting,
            peak: s.peak,
            rejected: s.rejected,
            has_baseline: s.baseline.is_some(),
            baseline_ns: s.baseline.map_or(0, Nanos::as_nanos),
            has_last_update: s.last_update.is_some(),
            last_update_ns: s.last_update.map_or(0, Nanos::as_nanos),
            windows: s.windows,
        };
        // SAFETY: checked; writable.
        unsafe { ffi::write(out, snapshot) };
        Ok(STANCHION_OK)
    })
}
