//! Deadlines: an instant after which no call starts. Plain values: copy them freely.

use stanchion_core::{Deadline, Nanos};

use crate::ffi::{self, boundary};
use crate::status::{stanchion_status, STANCHION_OK};

/// A deadline: expired from `expires_at_ns` on (`now >= expires_at_ns`). Plain data; fill it
/// with `stanchion_deadline_after` or `stanchion_deadline_at`.
///
/// ```c
/// stanchion_deadline d;
/// stanchion_deadline_after(now, 2000000000, &d); /* 2 s from now */
/// ```
#[repr(C)]
#[derive(Clone, Copy)]
pub struct stanchion_deadline {
    /// The instant the deadline expires at.
    pub expires_at_ns: u64,
}

fn core_of(d: stanchion_deadline) -> Deadline {
    Deadline::at(Nanos::new(d.expires_at_ns))
}

fn of_core(d: Deadline) -> stanchion_deadline {
    stanchion_deadline {
        expires_at_ns: d.expires_at().as_nanos(),
    }
}

/// Writes the deadline `timeout_ns` after `now_ns` (saturating at the end of time).
///
/// Thread- and interrupt-safe.
///
/// # Safety
/// `out` is NULL or writable.
///
/// ```c
/// stanchion_deadline_after(now, 500000000, &d);
/// ```
#[no_mangle]
pub unsafe extern "C" fn stanchion_deadline_after(
    now_ns: u64,
    timeout_ns: u64,
    out: *mut stanchion_deadline,
) -> stanchion_status {
    boundary(|| {
        ffi::non_null(out)?;
        let d = Deadline::after(Nanos::new(now_ns), Nanos::new(timeout_ns));
        // SAFETY: checked; writable.
        unsafe { ffi::write(out, of_core(d)) };
        Ok(STANCHION_OK)
    })
}

/// Writes the deadline at instant `at_ns`.
///
/// Thread- and interrupt-safe.
///
/// # Safety
/// `out` is NULL or writable.
///
/// ```c
/// stanchion_deadline_at(end_of_frame, &d);
/// ```
#[no_mangle]
pub unsafe extern "C" fn stanchion_deadline_at(
    at_ns: u64,
    out: *mut stanchion_deadline,
) -> stanchion_status {
    boundary(|| {
        ffi::non_null(out)?;
        // SAFETY: checked; writable.
        unsafe { ffi::write(out, of_core(Deadline::at(Nanos::new(at_ns)))) };
        Ok(STANCHION_OK)
    })
}

/// Time left at `now_ns` (0 once expired).
///
/// Thread- and interrupt-safe.
///
/// # Safety
/// Pointers are NULL or valid for their type.
///
/// ```c
/// uint64_t left;
/// stanchion_deadline_remaining(&d, now, &left);
/// ```
#[no_mangle]
pub unsafe extern "C" fn stanchion_deadline_remaining(
    deadline: *const stanchion_deadline,
    now_ns: u64,
    remaining_ns: *mut u64,
) -> stanchion_status {
    boundary(|| {
        // SAFETY: forwarded from the caller.
        let d = core_of(unsafe { ffi::read(deadline) }?);
        ffi::non_null(remaining_ns)?;
        // SAFETY: checked; writable.
        unsafe { ffi::write(remaining_ns, d.remaining(Nanos::new(now_ns)).as_nanos()) };
        Ok(STANCHION_OK)
    })
}

/// Whether the deadline has expired at `now_ns`: a call must not start.
///
/// Thread- and interrupt-safe.
///
/// # Safety
/// Pointers are NULL or valid for their type.
///
/// ```c
/// bool expired;
/// stanchion_deadline_is_expired(&d, now, &expired);
/// ```
#[no_mangle]
pub unsafe extern "C" fn stanchion_deadline_is_expired(
    deadline: *const stanchion_deadline,
    now_ns: u64,
    expired: *mut bool,
) -> stanchion_status {
    boundary(|| {
        // SAFETY: forwarded from the caller.
        let d = core_of(unsafe { ffi::read(deadline) }?);
        ffi::non_null(expired)?;
        // SAFETY: checked; writable.
        unsafe { ffi::write(expired, d.is_expired(Nanos::new(now_ns))) };
        Ok(STANCHION_OK)
    })
}

/// Writes the earlier of two deadlines (`out` may be `a` or `b`).
///
/// Thread- and interrupt-safe.
///
/// # Safety
/// Pointers are NULL or valid for their type.
///
/// ```c
/// stanchion_deadline_min(&whole_call, &this_attempt, &this_attempt);
/// ```
#[no_mangle]
pub unsafe extern "C" fn stanchion_deadline_min(
    a: *const stanchion_deadline,
    b: *const stanchion_deadline,
    out: *mut stanchion_deadline,
) -> stanchion_status {
    boundary(|| {
        // SAFETY: forwarded from the caller.
        let (a, b) = unsafe { (ffi::read(a)?, ffi::read(b)?) };
        ffi::non_null(out)?;
        // SAFETY: checked; writable.
        unsafe { ffi::write(out, of_core(core_of(a).min(core_of(b)))) };
        Ok(STANCHION_OK)
    })
}
