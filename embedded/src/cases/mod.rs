//! The test cases: one module per part of the core, each a `tests! { fn name() { .. } }` list.
//!
//! The same files run on every embedded target (`embedded/src/main.rs`) and on the host as
//! plain `#[test]`s (`core/tests/embedded_cases.rs`); each includer defines `tests!` and
//! `suites!` its own way. To add a primitive's cases, write `<primitive>.rs` beside this file
//! and add its name to the list below.
//!
//! Case bodies use only `core`, the `stanchion` crate and `portable_atomic`. Put a `#[cfg]`
//! inside a body, never on a `fn` item: the runner lists every function by name.

use core::fmt;

suites! {
    atomics,
    errors,
    nanos,
    rng,
    breaker,
    token_bucket,
    keyed_limiter,
    bulkhead,
    adaptive,
    backoff,
    retry_budget,
    deadline,
}

/// Text formatted into a fixed array, as firmware without a heap formats a `Display` value.
/// A write that does not fit is refused whole with `fmt::Error`; it never panics.
pub(crate) struct FixedBuf<const N: usize> {
    bytes: [u8; N],
    len: usize,
}

impl<const N: usize> FixedBuf<N> {
    pub(crate) const fn new() -> Self {
        FixedBuf {
            bytes: [0; N],
            len: 0,
        }
    }

    /// What has been written so far.
    pub(crate) fn as_str(&self) -> &str {
        // Only whole `&str`s are ever copied in, so the bytes are always valid UTF-8.
        self.bytes
            .get(..self.len)
            .and_then(|bytes| core::str::from_utf8(bytes).ok())
            .unwrap_or("")
    }
}

impl<const N: usize> fmt::Write for FixedBuf<N> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let end = self.len.checked_add(text.len()).ok_or(fmt::Error)?;
        let free = self.bytes.get_mut(self.len..end).ok_or(fmt::Error)?;
        free.copy_from_slice(text.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Formats `value` with `Display` into a `FixedBuf` of `N` bytes.
pub(crate) fn display<const N: usize>(value: impl fmt::Display) -> Result<FixedBuf<N>, fmt::Error> {
    let mut buf = FixedBuf::new();
    fmt::Write::write_fmt(&mut buf, format_args!("{}", value))?;
    Ok(buf)
}
