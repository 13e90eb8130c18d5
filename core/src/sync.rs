//! The atomics shim: portable-atomic normally, loom's model-checked atomics under `cfg(loom)`.
//!
//! Every primitive takes its atomics from here and nowhere else, so one `RUSTFLAGS="--cfg loom"`
//! puts the whole crate under the model checker. loom's constructors are not `const`, so
//! functions that build atomics are declared through [`const_fn!`], `const` except under loom.

#[allow(unused_imports)]
#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU32, AtomicU64, Ordering};
// Not every primitive needs every width.
#[allow(unused_imports)]
#[cfg(not(loom))]
pub(crate) use portable_atomic::{AtomicU32, AtomicU64, Ordering};

/// Declares a function `const` normally and plain under loom, whose atomics cannot be built in
/// a const context.
macro_rules! const_fn {
    ($(#[$meta:meta])* $vis:vis fn $name:ident $($rest:tt)*) => {
        #[cfg(not(loom))]
        $(#[$meta])* $vis const fn $name $($rest)*
        #[cfg(loom)]
        $(#[$meta])* $vis fn $name $($rest)*
    };
}
#[allow(unused_imports)]
pub(crate) use const_fn;
