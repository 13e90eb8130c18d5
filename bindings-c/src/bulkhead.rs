//! The bulkhead: a cap on calls in flight, with priority lanes. C gets `try_acquire` and
//! `release` with plain permits; the core's async queue (`acquire`) is for Rust futures and is
//! not part of the C API.

use stanchion_core::bulkhead::{RawPermit, MAX_LANES};
use stanchion_core::{Bulkhead, BulkheadConfig};

use crate::config_errors::Config;
use crate::ffi::{self, boundary};
use crate::status::{
    stanchion_config_error, stanchion_rejection, stanchion_status, STANCHION_INVALID_ARGUMENT,
    STANCHION_INVALID_CONFIG, STANCHION_OK,
};
use crate::token_bucket::refuse;

/// Storage for a bulkhead. Opaque.
///
/// ```c
/// static stanchion_bulkhead db_pool;
/// stanchion_bulkhead_config c;
/// stanchion_bulkhead_config_default(&c);
/// stanchion_bulkhead_init(&db_pool, &c);
/// ```
#[repr(C, align(8))]
pub struct stanchion_bulkhead {
    _opaque: [u64; 10],
}

/// `sizeof(stanchion_bulkhead)` in bytes.
pub const STANCHION_BULKHEAD_SIZE: usize = 80;
/// `_Alignof(stanchion_bulkhead)` in bytes.
pub const STANCHION_BULKHEAD_ALIGN: usize = 8;
/// The most priority lanes.
pub const STANCHION_BULKHEAD_MAX_LANES: u32 = 8;

const TAG: u64 = ffi::tag(5);
const _: () = assert!(ffi::fits::<Bulkhead<0>, stanchion_bulkhead>());
const _: () = assert!(core::mem::size_of::<stanchion_bulkhead>() == STANCHION_BULKHEAD_SIZE);
const _: () = assert!(core::mem::align_of::<stanchion_bulkhead>() == STANCHION_BULKHEAD_ALIGN);
const _: () = assert!(STANCHION_BULKHEAD_MAX_LANES as usize == MAX_LANES);

/// A bulkhead permit. Give it back once with `stanchion_bulkhead_release`; releasing it again
/// is a no-op (`released` false).
///
/// A permit belongs where `stanchion_bulkhead_try_acquire` wrote it: it records its own
/// address, and a release through a copy at another address is refused
/// (`STANCHION_INVALID_ARGUMENT`), so that one slot is never given back twice. To keep a permit
/// elsewhere, move it with `stanchion_bulkhead_permit_move`, or acquire it where it will live.
///
/// ```c
/// stanchion_bulkhead_permit p;
/// if (stanchion_bulkhead_try_acquire(&db_pool, 0, &p, NULL) == STANCHION_OK) {
///     query();
///     stanchion_bulkhead_release(&db_pool, &p, NULL);
/// }
/// ```
#[repr(C, align(8))]
#[derive(Clone, Copy)]
pub struct stanchion_bulkhead_permit {
    _opaque: [u64; 2],
}

/// A permit's bytes: the address it was written to, a mark that tells a permit from garbage,
/// then the core's permit.
#[repr(C)]
#[derive(Clone, Copy)]
struct PermitParts {
    home: u64,
    mark: u32,
    lane: u8,
    held: u8,
    reserved: u16,
}

const PERMIT_MARK: u32 = 0x6275_6c6b;
const _: () = assert!(
    core::mem::size_of::<PermitParts>() == core::mem::size_of::<stanchion_bulkhead_permit>()
);

/// The address a permit at `permit` records: a copy elsewhere records another.
fn home(permit: *const stanchion_bulkhead_permit) -> u64 {
    permit as usize as u64
}

/// Reads the permit at `permit`: `STANCHION_INVALID_ARGUMENT` unless it is a permit this
/// library wrote there (garbage, a copy, or a permit moved away from there is not).
///
/// # Safety
/// `permit` is NULL or readable.
unsafe fn read_permit(
    permit: *const stanchion_bulkhead_permit,
) -> Result<PermitParts, stanchion_status> {
    // SAFETY: forwarded from the caller.
    let parts: PermitParts = unsafe { ffi::read(permit.cast::<PermitParts>()) }?;
    if parts.mark != PERMIT_MARK || parts.held > 1 || parts.home != home(permit) {
        return Err(STANCHION_INVALID_ARGUMENT);
    }
    Ok(parts)
}

/// A bulkhead's config.
///
/// ```c
/// stanchion_bulkhead_config c;
/// stanchion_bulkhead_config_default(&c);
/// c.max_concurrent = 10;
/// c.lanes = 3; c.lane_ceilings[1] = 6; c.lane_ceilings[2] = 2; /* lane 2 gets at most 2 */
/// ```
#[repr(C)]
#[derive(Clone, Copy)]
pub struct stanchion_bulkhead_config {
    /// Permits out at once, at most: 1..=16777215 [10].
    pub max_concurrent: u32,
    /// Priority lanes in use, 1..=STANCHION_BULKHEAD_MAX_LANES [1].
    pub lanes: u32,
    /// Lane `k` is admitted only while fewer than `lane_ceilings[k]` permits are out. Lane 0,
    /// the highest priority, has `max_concurrent` (entry 0 must be that or 0, which means
    /// that); the others must not rise and be at least 1. Entries past `lanes` are ignored
    /// [all 0].
    pub lane_ceilings: [u32; 8],
}

/// A bulkhead's counters.
///
/// ```c
/// stanchion_bulkhead_snapshot s;
/// stanchion_bulkhead_snapshot_get(&db_pool, &s);
/// ```
#[repr(C)]
#[derive(Clone, Copy)]
pub struct stanchion_bulkhead_snapshot {
    /// Permits out now.
    pub in_flight: u32,
    /// The most permits ever out at once.
    pub peak: u32,
    /// The configured cap.
    pub max_concurrent: u32,
    /// Calls refused so far.
    pub rejected: u64,
}

/// The core's config; `Bulkhead::new` checks it.
fn to_core(c: &stanchion_bulkhead_config) -> BulkheadConfig {
    let mut lane_ceilings = c.lane_ceilings;
    for (lane, ceiling) in lane_ceilings.iter_mut().enumerate() {
        if lane == 0 && *ceiling == 0 {
            *ceiling = c.max_concurrent;
        } else if lane >= c.lanes as usize {
            *ceiling = 0;
        }
    }
    BulkheadConfig {
        max_concurrent: c.max_concurrent,
        max_waiting: 0,
        lanes: u8::try_from(c.lanes).unwrap_or(u8::MAX),
        lane_ceilings,
    }
}

/// Writes the defaults into `out`: 10 permits, one lane. (The core has no default cap.)
///
/// Thread- and interrupt-safe.
///
/// # Safety
/// `out` is NULL or writable.
///
/// ```c
/// stanchion_bulkhead_config c;
/// stanchion_bulkhead_config_default(&c);
/// ```
#[no_mangle]
pub unsafe extern "C" fn stanchion_bulkhead_config_default(
    out: *mut stanchion_bulkhead_config,
) -> stanchion_status {
    boundary(|| {
        ffi::non_null(out)?;
        let config = stanchion_bulkhead_config {
            max_concurrent: 10,
            lanes: 1,
            lane_ceilings: [0; 8],
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
/// c.max_concurrent = 0;
/// stanchion_bulkhead_config_validate(&c, &e); /* e.field: "max_concurrent" */
/// ```
#[no_mangle]
pub unsafe extern "C" fn stanchion_bulkhead_config_validate(
    config: *const stanchion_bulkhead_config,
    error: *mut stanchion_config_error,
) -> stanchion_status {
    // SAFETY: forwarded from the caller.
    boundary(|| unsafe {
        ffi::validate(Config::Bulkhead, config, error, |c| to_core(c).validate())
    })
}

/// Initialises a bulkhead with no permit out.
///
/// Not thread-safe for that object: initialise before sharing it.
///
/// # Safety
/// `bulkhead` is NULL or writable storage no other thread uses during the call; `config` is
/// NULL or readable.
///
/// ```c
/// stanchion_bulkhead_init(&db_pool, &c);
/// ```
#[no_mangle]
pub unsafe extern "C" fn stanchion_bulkhead_init(
    bulkhead: *mut stanchion_bulkhead,
    config: *const stanchion_bulkhead_config,
) -> stanchion_status {
    boundary(|| {
        ffi::check_storage::<Bulkhead<0>, _>(bulkhead)?;
        // SAFETY: forwarded from the caller.
        let config = unsafe { ffi::read(config) }?;
        let built = Bulkhead::<0>::new(to_core(&config)).map_err(|_| STANCHION_INVALID_CONFIG)?;
        // SAFETY: checked storage; exclusive by the caller's promise.
        unsafe { ffi::put(bulkhead, TAG, built) };
        Ok(STANCHION_OK)
    })
}

/// # Safety
/// `bulkhead` is NULL or points to storage that outlives the call.
unsafe fn get<'a>(
    bulkhead: *const stanchion_bulkhead,
) -> Result<&'a Bulkhead<0>, stanchion_status> {
    // SAFETY: forwarded from the caller.
    unsafe { ffi::object(bulkhead, TAG) }
}

/// A permit now if `lane` is admitted (lane 0 is the highest priority; a lane past the
/// configured ones counts as the lowest), else `STANCHION_BULKHEAD_FULL` (no `retry_after`:
/// only a release helps). `rejection` may be NULL.
///
/// Thread- and interrupt-safe, lock-free.
///
/// # Safety
/// Pointers are NULL or valid for their type.
///
/// ```c
/// stanchion_bulkhead_try_acquire(&db_pool, 0, &p, NULL);
/// ```
#[no_mangle]
pub unsafe extern "C" fn stanchion_bulkhead_try_acquire(
    bulkhead: *mut stanchion_bulkhead,
    lane: u32,
    permit: *mut stanchion_bulkhead_permit,
    rejection_out: *mut stanchion_rejection,
) -> stanchion_status {
    boundary(|| {
        // SAFETY: forwarded from the caller.
        let b = unsafe { get(bulkhead) }?;
        ffi::non_null(permit)?;
        // Lanes past the configured ones are the lowest lane: any u32 maps there.
        let lane = usize::try_from(lane).unwrap_or(usize::MAX);
        match b.try_acquire(lane) {
            Ok(held) => {
                let raw = held.into_raw();
                let parts = PermitParts {
                    home: home(permit),
                    mark: PERMIT_MARK,
                    // The lane fits: at most MAX_LANES - 1.
                    lane: raw.lane() as u8,
                    held: u8::from(raw.is_held()),
                    reserved: 0,
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

/// Gives a permit back. `released` (may be NULL) is false when this permit was already
/// released, which changes nothing. A permit must go back to the bulkhead it came from.
/// `STANCHION_INVALID_ARGUMENT` for anything but a permit at the address it was acquired or
/// moved to: garbage, a copy (`copy = p;`, `memcpy`), or a permit moved away with
/// `stanchion_bulkhead_permit_move`. So a slot comes back once, however many copies are
/// released. (What cannot be told from the permit: its own old bytes written back over it after
/// its release. Do not keep copies.)
///
/// Thread- and interrupt-safe, lock-free (the permit itself belongs to one caller).
///
/// # Safety
/// Pointers are NULL or valid for their type.
///
/// ```c
/// bool released;
/// stanchion_bulkhead_release(&db_pool, &p, &released);
/// ```
#[no_mangle]
pub unsafe extern "C" fn stanchion_bulkhead_release(
    bulkhead: *mut stanchion_bulkhead,
    permit: *mut stanchion_bulkhead_permit,
    released: *mut bool,
) -> stanchion_status {
    boundary(|| {
        // SAFETY: forwarded from the caller.
        let b = unsafe { get(bulkhead) }?;
        // SAFETY: forwarded from the caller.
        let mut parts = unsafe { read_permit(permit) }?;
        let mut raw = RawPermit::from_parts(usize::from(parts.lane), parts.held == 1)
            .ok_or(STANCHION_INVALID_ARGUMENT)?;
        let done = b.release(&mut raw);
        parts.held = u8::from(raw.is_held());
        // SAFETY: read above, so not NULL; writable by the caller's promise.
        unsafe {
            ffi::write(permit.cast::<PermitParts>(), parts);
            ffi::write_optional(released, done);
        }
        Ok(STANCHION_OK)
    })
}

/// Moves the permit at `from` to `to` (a struct of another object, a queue's slot): `to` is
/// then the permit, and `from` no longer is (releasing it answers
/// `STANCHION_INVALID_ARGUMENT`). `STANCHION_INVALID_ARGUMENT` if `from` is not a permit at its
/// address (as `stanchion_bulkhead_release` judges) or the two overlap; `from == to` changes
/// nothing. Plain assignment makes a copy that cannot be released; this is how a permit
/// changes place.
///
/// Thread- and interrupt-safe: touches only the two permits, which belong to the caller.
///
/// # Safety
/// Pointers are NULL or valid for their type.
///
/// ```c
/// struct job { stanchion_bulkhead_permit permit; int id; } job;
/// stanchion_bulkhead_permit_move(&p, &job.permit);
/// stanchion_bulkhead_release(&db_pool, &job.permit, NULL);
/// ```
#[no_mangle]
pub unsafe extern "C" fn stanchion_bulkhead_permit_move(
    from: *mut stanchion_bulkhead_permit,
    to: *mut stanchion_bulkhead_permit,
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

/// The lane a permit was taken in (a lane past the configured ones reads as the lowest
/// configured lane). Reads any permit, a copy included.
///
/// Thread- and interrupt-safe: reads only the permit.
///
/// # Safety
/// Pointers are NULL or valid for their type.
///
/// ```c
/// uint32_t lane;
/// stanchion_bulkhead_permit_lane(&p, &lane);
/// ```
#[no_mangle]
pub unsafe extern "C" fn stanchion_bulkhead_permit_lane(
    permit: *const stanchion_bulkhead_permit,
    lane: *mut u32,
) -> stanchion_status {
    boundary(|| {
        // SAFETY: forwarded from the caller.
        let parts: PermitParts = unsafe { ffi::read(permit.cast::<PermitParts>()) }?;
        if parts.mark != PERMIT_MARK {
            return Err(STANCHION_INVALID_ARGUMENT);
        }
        ffi::non_null(lane)?;
        // SAFETY: checked; writable.
        unsafe { ffi::write(lane, u32::from(parts.lane)) };
        Ok(STANCHION_OK)
    })
}

/// The counters now.
///
/// Thread- and interrupt-safe, lock-free.
///
/// # Safety
/// Pointers are NULL or valid for their type.
///
/// ```c
/// stanchion_bulkhead_snapshot s;
/// stanchion_bulkhead_snapshot_get(&db_pool, &s);
/// ```
#[no_mangle]
pub unsafe extern "C" fn stanchion_bulkhead_snapshot_get(
    bulkhead: *const stanchion_bulkhead,
    out: *mut stanchion_bulkhead_snapshot,
) -> stanchion_status {
    boundary(|| {
        // SAFETY: forwarded from the caller.
        let b = unsafe { get(bulkhead) }?;
        ffi::non_null(out)?;
        let s = b.snapshot();
        let snapshot = stanchion_bulkhead_snapshot {
            in_flight: s.in_flight,
            peak: s.peak,
            max_concurrent: s.max_concurrent,
            rejected: s.rejected,
        };
        // SAFETY: checked; writable.
        unsafe { ffi::write(out, snapshot) };
        Ok(STANCHION_OK)
    })
}
