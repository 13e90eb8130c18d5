//! The embedded test cases (`embedded/src/cases/`), run on the host as ordinary tests.
//!
//! The same files run on Cortex-M and RISC-V under QEMU (`scripts/embedded-test.sh`); here each
//! case becomes a `#[test]`, so a case that fails on a target can be debugged on the host.
//!
//! Not under loom: the cases build primitives in `static`s, which loom's atomics cannot do.
#![cfg(not(loom))]

/// Makes each `fn` of a `tests! { .. }` list a `#[test]`.
macro_rules! tests {
    ($($(#[$meta:meta])* fn $name:ident() $body:block)*) => {
        $($(#[$meta])* #[test] fn $name() $body)*
    };
}

/// Declares the case modules; the host needs no list of them, libtest finds the tests.
macro_rules! suites {
    ($($suite:ident),* $(,)?) => {
        $(mod $suite;)*
    };
}

#[path = "../../embedded/src/cases/mod.rs"]
mod cases;
