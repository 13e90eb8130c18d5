//! `KeyedRateLimiter`: the core's `KeyedLimiter<N>` for each table size the binding offers
//! (`KEYED_SIZES`), boxed behind the core's `KeyedTable`.

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyInt, PyString};
use stanchion::keyed_limiter::KeyedTable;
use stanchion::TokenBucketConfig;
use stanchion::{key_of_bytes, KeyedLimiter, TableFullPolicy};

use crate::args::{self, core_config_error, Config};
use crate::clock::Clock;
use crate::errors;
use crate::limiter::{self, LimiterSnapshot};

/// The table sizes offered, smallest first: every size from 1 to 16, which covers the core's
/// probe window (`keyed_limiter::MAX_PROBE`, the largest table a conformance file uses) so that
/// a small table is exactly the size asked for, then every power of two up to 65536. Each is one
/// monomorphised `KeyedLimiter<N>`, reached through the core's `KeyedTable`. The Node binding
/// offers the same sizes.
macro_rules! sizes {
    ($($n:literal)*) => {
        pub const SIZES: &[usize] = &[$($n),*];

        /// A table of exactly `slots` buckets, `None` for a size not offered.
        fn table(
            slots: usize,
            config: TokenBucketConfig,
            policy: TableFullPolicy,
        ) -> Option<Result<Box<dyn KeyedTable + Send + Sync>, stanchion::ConfigError>> {
            match slots {
                $($n => Some(KeyedLimiter::<$n>::new(config, policy)
                    .map(|t| Box::new(t) as Box<dyn KeyedTable + Send + Sync>)),)*
                _ => None,
            }
        }
    };
}

sizes!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 32 64 128 256 512 1024 2048 4096 8192 16384 32768 65536);

const _: () = assert!(stanchion::keyed_limiter::MAX_PROBE <= 16);

/// The table size when `max_keys` is left out. The core has no default size (its
/// `KeyedLimiter<N>` takes `N` from the caller), so this is the binding's choice, the same in
/// the Node binding.
pub const DEFAULT_MAX_KEYS: usize = 1024;

/// The table key of a Python key: an int in `0..2**64` as is; a str (as UTF-8) or bytes
/// through the core's `key_of_bytes` (FNV-1a 64), as every binding does.
#[pyfunction]
pub fn key_of(key: &Bound<'_, PyAny>) -> PyResult<u64> {
    if let Ok(s) = key.cast::<PyString>() {
        return Ok(key_of_bytes(s.to_cow()?.as_bytes()));
    }
    if let Ok(b) = key.cast::<PyBytes>() {
        return Ok(key_of_bytes(b.as_bytes()));
    }
    if key.is_instance_of::<PyInt>() {
        return key.extract::<u64>().map_err(|_| {
            errors::config(
                key.py(),
                "key",
                "a str, bytes, or an int from 0 to 18446744073709551615",
                Some(key),
            )
        });
    }
    Err(args::type_error("key", "a str, bytes or int", key))
}

/// What `max_keys` accepts: exactly the sizes of `SIZES` (the README says the same).
pub const MAX_KEYS: &str = "an int from 1 to 16, or a power of two up to 65536";

/// A rate limiter per key, in a fixed table.
#[pyclass(frozen, module = "stanchion._stanchion")]
pub struct KeyedRateLimiter {
    table: Box<dyn KeyedTable + Send + Sync>,
    clock: Clock,
    slots: usize,
}

#[pymethods]
impl KeyedRateLimiter {
    /// `config` holds the bucket (`capacity`, `refill_amount`, `refill_every`), `max_keys`
    /// (exactly the table size: one of `KEYED_SIZES`, default `DEFAULT_MAX_KEYS`) and
    /// `on_full` (`"reject"`/`"admit"`).
    #[new]
    #[pyo3(signature = (config, clock = None))]
    fn new(
        py: Python<'_>,
        config: &Bound<'_, PyAny>,
        clock: Option<Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let bucket = limiter::config_of(config)?;
        let c = Config::new(config)?;
        let max_keys = c.get("max_keys")?;
        let slots = match &max_keys {
            None => DEFAULT_MAX_KEYS,
            Some(keys) => {
                // A wrong type is a `TypeError`; any int not offered, one `ConfigError`.
                if !keys.is_instance_of::<PyInt>() {
                    return Err(args::type_error("max_keys", "an int", keys));
                }
                keys.extract::<usize>()
                    .ok()
                    .filter(|keys| SIZES.contains(keys))
                    .ok_or_else(|| errors::config(py, "max_keys", MAX_KEYS, Some(keys)))?
            }
        };
        let policy = match c.get("on_full")? {
            None => TableFullPolicy::Reject,
            Some(p) => match p.extract::<String>().ok().as_deref() {
                Some("reject") => TableFullPolicy::Reject,
                Some("admit") => TableFullPolicy::Admit,
                _ => {
                    return Err(errors::config(
                        py,
                        "on_full",
                        "\"reject\" or \"admit\"",
                        Some(&p),
                    ))
                }
            },
        };
        let table = table(slots, bucket, policy)
            .ok_or_else(|| errors::config(py, "max_keys", MAX_KEYS, max_keys.as_ref()))?
            .map_err(|e| core_config_error(config, e, limiter::describe))?;
        Ok(KeyedRateLimiter {
            table,
            clock: Clock::from_arg(clock)?,
            slots,
        })
    }

    /// Takes one token of `key` if there is one now: `True`, else `False`.
    #[inline]
    fn try_acquire(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<bool> {
        let key = key_of(key)?;
        let now = self.clock.now(py)?;
        Ok(self.table.try_acquire(key, 1, now).is_ok())
    }

    /// Takes `n` tokens of `key` now, or raises `RateLimitedError`.
    fn acquire_nowait(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        n: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let key = key_of(key)?;
        let n = limiter::tokens(n)?;
        let now = self.clock.now(py)?;
        self.table
            .try_acquire(key, n, now)
            .map_err(|r| errors::refused(py, r))
    }

    /// Reserves `n` tokens of `key` within `max_wait` seconds: nanoseconds to wait.
    fn reserve(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        n: &Bound<'_, PyAny>,
        max_wait: &Bound<'_, PyAny>,
    ) -> PyResult<u64> {
        let key = key_of(key)?;
        let n = limiter::tokens(n)?;
        let max_wait = args::seconds(max_wait, "timeout")?;
        let now = self.clock.now(py)?;
        limiter::waited(py, now, self.table.reserve(key, n, now, max_wait))
    }

    /// Whole tokens `key` has now.
    fn available(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<u64> {
        let key = key_of(key)?;
        Ok(self.table.available(key, self.clock.now(py)?))
    }

    /// `key`'s bucket now.
    fn snapshot(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<LimiterSnapshot> {
        let key = key_of(key)?;
        Ok(self.table.snapshot(key, self.clock.now(py)?).into())
    }

    /// Keys whose bucket is not full now.
    fn active_keys(&self, py: Python<'_>) -> PyResult<usize> {
        Ok(self.table.active_keys(self.clock.now(py)?))
    }

    /// The table size.
    #[getter]
    fn slots(&self) -> usize {
        self.slots
    }
}
