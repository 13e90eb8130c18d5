//! The boundary every function goes through: the panic guard, pointer checks, and objects in
//! caller-provided storage.

use core::mem::{align_of, size_of, MaybeUninit};

use crate::config_errors::{c_error, Config};
#[cfg(feature = "std")]
use crate::status::STANCHION_PANIC;
use crate::status::{
    stanchion_config_error, stanchion_status, STANCHION_INVALID_ARGUMENT, STANCHION_INVALID_CONFIG,
    STANCHION_NOT_INITIALIZED, STANCHION_NULL_POINTER, STANCHION_OK,
};
use stanchion_core::ConfigError;

/// An early return carries its status as the error, so `?` works for checks.
pub(crate) type Answer = Result<stanchion_status, stanchion_status>;

/// Runs a function's body. Hosted builds catch a panic and answer `STANCHION_PANIC`, so no
/// unwind crosses into C; firmware builds abort on panic and rely on the core's promise that
/// no operation panics.
#[inline(always)]
pub(crate) fn boundary(body: impl FnOnce() -> Answer) -> stanchion_status {
    #[cfg(feature = "std")]
    {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)) {
            Ok(Ok(status) | Err(status)) => status,
            Err(_) => STANCHION_PANIC,
        }
    }
    #[cfg(not(feature = "std"))]
    {
        match body() {
            Ok(status) | Err(status) => status,
        }
    }
}

/// The body of every `*_config_validate`: reads the config, asks the core's `check`, and on
/// an invalid config answers `STANCHION_INVALID_CONFIG` and writes the error, in the C
/// struct's names (`kind` says which struct), where `error` is not NULL.
///
/// # Safety
/// `config` is NULL or readable; `error` is NULL or writable.
pub(crate) unsafe fn validate<T: Copy, U>(
    kind: Config,
    config: *const T,
    error: *mut stanchion_config_error,
    check: impl FnOnce(&T) -> Result<U, ConfigError>,
) -> Answer {
    // SAFETY: forwarded from the caller.
    let config = unsafe { read(config) }?;
    match check(&config) {
        Ok(_) => Ok(STANCHION_OK),
        Err(e) => {
            // SAFETY: forwarded from the caller.
            unsafe { write_optional(error, c_error(kind, e)) };
            Ok(STANCHION_INVALID_CONFIG)
        }
    }
}

/// `STANCHION_NULL_POINTER` if `ptr` is NULL.
#[inline(always)]
pub(crate) fn non_null<T>(ptr: *const T) -> Result<(), stanchion_status> {
    if ptr.is_null() {
        Err(STANCHION_NULL_POINTER)
    } else {
        Ok(())
    }
}

/// `STANCHION_INVALID_ARGUMENT` if the two `T`s at `a` and `b` share a byte.
pub(crate) fn disjoint<T>(a: *const T, b: *const T) -> Result<(), stanchion_status> {
    let (a, b) = (a as usize, b as usize);
    if a.abs_diff(b) < size_of::<T>() {
        Err(STANCHION_INVALID_ARGUMENT)
    } else {
        Ok(())
    }
}

/// Reads a caller's value, aligned or not.
///
/// # Safety
/// `ptr` is NULL or points to a readable `T`.
#[inline(always)]
pub(crate) unsafe fn read<T: Copy>(ptr: *const T) -> Result<T, stanchion_status> {
    non_null(ptr)?;
    // SAFETY: not NULL, and the caller promises a readable `T`; no alignment is assumed.
    Ok(unsafe { ptr.read_unaligned() })
}

/// Writes an output the caller checked for NULL before the operation ran.
///
/// # Safety
/// `ptr` is not NULL and points to a writable `T`.
#[inline(always)]
pub(crate) unsafe fn write<T>(ptr: *mut T, value: T) {
    // SAFETY: the caller checked NULL and promises a writable `T`; no alignment is assumed.
    unsafe { ptr.write_unaligned(value) }
}

/// Writes an optional output: nothing when the caller passed NULL.
///
/// # Safety
/// `ptr` is NULL or points to a writable `T`.
#[inline(always)]
pub(crate) unsafe fn write_optional<T>(ptr: *mut T, value: T) {
    if !ptr.is_null() {
        // SAFETY: not NULL; the caller promises a writable `T`.
        unsafe { write(ptr, value) }
    }
}

/// How an object sits in its caller-provided storage: a tag that `*_init` writes last, then the
/// core's value. The tag tells an initialised object from zeroed or foreign bytes.
#[repr(C)]
pub(crate) struct Slot<T> {
    tag: u64,
    value: MaybeUninit<T>,
}

/// The tags, one per object type: "stanch" then a number.
pub(crate) const fn tag(kind: u16) -> u64 {
    0x7374_616e_6368_0000 | kind as u64
}

/// Whether storage of type `S` holds a `Slot<T>`: checked at compile time where used.
pub(crate) const fn fits<T, S>() -> bool {
    size_of::<Slot<T>>() <= size_of::<S>() && align_of::<Slot<T>>() <= align_of::<S>()
}

/// Checks that `storage` is usable for a `T`: not NULL and aligned.
fn slot_ptr<T, S>(storage: *const S) -> Result<*const Slot<T>, stanchion_status> {
    const {
        assert!(
            fits::<T, S>(),
            "the storage type is too small for the object"
        )
    };
    non_null(storage)?;
    if storage.align_offset(align_of::<Slot<T>>()) != 0 {
        return Err(STANCHION_INVALID_ARGUMENT);
    }
    Ok(storage.cast())
}

/// The object in `storage`, if `*_init` put one there.
///
/// # Safety
/// `storage` is NULL or points to storage of type `S` that lives as long as `'a`, and which C
/// code changes only through this library while a reference is out.
pub(crate) unsafe fn object<'a, T, S>(
    storage: *const S,
    kind: u64,
) -> Result<&'a T, stanchion_status> {
    let slot = slot_ptr::<T, S>(storage)?;
    // SAFETY: aligned and not NULL; the tag is plain data, written once by init.
    let slot = unsafe { &*slot };
    if slot.tag != kind {
        return Err(STANCHION_NOT_INITIALIZED);
    }
    // SAFETY: init wrote the value before the tag.
    Ok(unsafe { slot.value.assume_init_ref() })
}

/// The object in `storage`, for the few objects that change through `&mut` (a retry schedule).
///
/// # Safety
/// As [`object`], and no other reference to the object is in use.
pub(crate) unsafe fn object_mut<'a, T, S>(
    storage: *mut S,
    kind: u64,
) -> Result<&'a mut T, stanchion_status> {
    let slot = slot_ptr::<T, S>(storage)?.cast_mut();
    // SAFETY: aligned and not NULL; the caller promises exclusive access.
    let slot = unsafe { &mut *slot };
    if slot.tag != kind {
        return Err(STANCHION_NOT_INITIALIZED);
    }
    // SAFETY: init wrote the value before the tag.
    Ok(unsafe { slot.value.assume_init_mut() })
}

/// Checks `storage` for `*_init` before the value is built.
pub(crate) fn check_storage<T, S>(storage: *mut S) -> Result<(), stanchion_status> {
    slot_ptr::<T, S>(storage).map(|_| ())
}

/// Puts `value` into `storage` (already checked by [`check_storage`]), overwriting what was
/// there without dropping it: the core's objects own nothing.
///
/// # Safety
/// `storage` passed `check_storage::<T, S>`, points to writable storage of type `S`, and no
/// other thread uses it during the call.
pub(crate) unsafe fn put<T, S>(storage: *mut S, kind: u64, value: T) {
    let slot: *mut Slot<T> = storage.cast();
    // SAFETY: checked aligned and large enough; the caller promises exclusive access. The value
    // goes in before the tag, so a tagged slot always holds a value.
    unsafe {
        core::ptr::addr_of_mut!((*slot).value).write(MaybeUninit::new(value));
        core::ptr::addr_of_mut!((*slot).tag).write(kind);
    }
}
