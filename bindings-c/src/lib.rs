//! # The C ABI of stanchion
//!
//! This crate is the library C programs link: `libstanchion.a` and `libstanchion.so`, with the
//! header `include/stanchion.h` generated from these declarations by cbindgen. Every function
//! translates: the decisions are the core's (`stanchion`), this crate only checks pointers,
//! converts configs and maps answers to `stanchion_status` codes. The conventions every function
//! follows are specified in `README.md` ("API conventions").
//!
//! Hosted builds (the default `std` feature) wrap every function in a panic boundary that
//! returns `STANCHION_PANIC` and offer `stanchion_now_ns`. Firmware builds
//! (`--no-default-features`, `panic = "abort"`) are `#![no_std]`: there a panic halts the chip,
//! and the library relies on the core's promise that no operation panics.
//!
//! ```
//! use stanchion::*;
//! let mut config = core::mem::MaybeUninit::uninit();
//! // SAFETY: a valid pointer to writable storage.
//! assert_eq!(unsafe { stanchion_token_bucket_config_default(config.as_mut_ptr()) }, STANCHION_OK);
//! ```
#![cfg_attr(not(feature = "std"), no_std)]
#![allow(non_camel_case_types)]

mod adaptive;
mod backoff;
mod breaker;
mod bulkhead;
#[cfg(feature = "std")]
mod clock;
mod config_errors;
mod deadline;
mod ffi;
mod keyed_limiter;
mod retry_budget;
mod retry_loop;
mod status;
mod token_bucket;

pub use adaptive::*;
pub use backoff::*;
pub use breaker::*;
pub use bulkhead::*;
#[cfg(feature = "std")]
pub use clock::*;
pub use deadline::*;
pub use keyed_limiter::*;
pub use retry_budget::*;
pub use retry_loop::*;
pub use status::*;
pub use token_bucket::*;

// Chips without CAS: cortex-m provides the critical section (interrupts masked) that every
// atomic operation runs in; naming the crate links it.
#[cfg(all(
    target_os = "none",
    target_arch = "arm",
    not(target_has_atomic = "ptr")
))]
use cortex_m as _;

/// Firmware builds abort on panic; the core promises none, so reaching this is a bug. It stops
/// the core with a fault the debugger shows, rather than spinning.
#[cfg(all(not(feature = "std"), not(test), target_os = "none"))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    loop {
        #[cfg(target_arch = "arm")]
        // SAFETY: `udf` raises an undefined-instruction fault; it touches no memory.
        unsafe {
            core::arch::asm!("udf #0", options(nomem, nostack));
        }
    }
}
