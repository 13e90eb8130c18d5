//! The hosted clock: a `now` for callers that do not want to pick an origin.

use crate::ffi::{self, boundary};
use crate::status::{stanchion_status, STANCHION_OK};

/// Writes a monotonic `now`: nanoseconds since the first call in this process. Hosted builds
/// only (firmware passes its own timer's ticks). Every other function takes time as a
/// parameter and never reads a clock.
///
/// Thread-safe.
///
/// # Safety
/// `now_ns` is NULL or writable.
///
/// ```c
/// uint64_t now;
/// stanchion_now_ns(&now);
/// ```
#[no_mangle]
pub unsafe extern "C" fn stanchion_now_ns(now_ns: *mut u64) -> stanchion_status {
    boundary(|| {
        ffi::non_null(now_ns)?;
        // SAFETY: checked; writable.
        unsafe { ffi::write(now_ns, stanchion_core::monotonic_now().as_nanos()) };
        Ok(STANCHION_OK)
    })
}
