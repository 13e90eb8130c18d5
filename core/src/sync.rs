//! The atomics shim: portable-atomic normally, a checker's atomics under `cfg(loom)` (loom's
//! model-checked ones) or `cfg(shuttle)` (shuttle's randomly scheduled ones).
//!
//! Every primitive takes its atomics from here and nowhere else, so one `RUSTFLAGS="--cfg loom"`
//! or `"--cfg shuttle"` puts the whole crate under that checker. Their constructors are not
//! `const` (shuttle's are, but a checker's atomics live in one execution and never in a
//! `static`), so functions that build atomics are declared through [`const_fn!`], `const` only
//! outside the checkers.

#[cfg(all(loom, shuttle))]
compile_error!("`--cfg loom` and `--cfg shuttle` each replace the atomics: use one at a time");

#[allow(unused_imports)]
#[cfg(loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};
#[allow(unused_imports)]
#[cfg(all(shuttle, not(loom)))]
pub(crate) use shuttle::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};
// Not every primitive needs every width.
#[allow(unused_imports)]
#[cfg(not(any(loom, shuttle)))]
pub(crate) use portable_atomic::{fence, AtomicU32, AtomicU64, Ordering};

// Where the target has a 32-bit compare-and-swap but no 64-bit atomics (thumbv7m, thumbv7em,
// thumbv8m, riscv32imac), portable-atomic's `AtomicU64` is, unless the firmware chose
// otherwise, a table of global spinlocks: not lock-free, and an interrupt handler that touches
// a primitive whose lock the code it interrupted holds spins forever. Refuse to build on it.
// `is_always_lock_free` is true for the interrupt-masking implementation of
// `unsafe-assume-single-core` and false for the locks. Targets without a CAS (thumbv6m,
// riscv32imc) are left alone: there the critical-section path is the interrupt-safe one.
#[cfg(all(
    not(any(loom, shuttle)),
    target_has_atomic = "ptr",
    not(target_has_atomic = "64"),
    not(stanchion_allow_lock_fallback)
))]
const _: () = assert!(
    AtomicU64::is_always_lock_free(),
    "stanchion: AtomicU64 would be portable-atomic's global-lock fallback here, which an \
     interrupt handler can deadlock on. On a single-core chip, give the firmware a \
     portable-atomic dependency with features [\"fallback\", \"unsafe-assume-single-core\"]. \
     If the locks are acceptable (`unsafe-assume-privileged` on a multi-core chip, or no \
     interrupt handler uses stanchion), build with `--cfg stanchion_allow_lock_fallback`. \
     See \"Embedded targets\" in the stanchion crate docs."
);

/// Declares a function `const` normally and plain under the checkers, whose atomics are not
/// built in a const context.
macro_rules! const_fn {
    ($(#[$meta:meta])* $vis:vis fn $name:ident $($rest:tt)*) => {
        #[cfg(not(any(loom, shuttle)))]
        $(#[$meta])* $vis const fn $name $($rest)*
        #[cfg(any(loom, shuttle))]
        $(#[$meta])* $vis fn $name $($rest)*
    };
}
#[allow(unused_imports)]
pub(crate) use const_fn;
