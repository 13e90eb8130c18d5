//! `KeyedRateLimiter`: the core's `KeyedLimiter<N>` for a few table sizes, boxed.

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyInt, PyString};
use stanchion::{key_of_bytes, KeyedLimiter, Nanos, Rejected, TableFullPolicy};
use stanchion::{TokenBucketConfig, TokenBucketSnapshot};

use crate::args::{self, core_config_error, Config};
use crate::clock::Clock;
use crate::errors;
use crate::limiter::{self, LimiterSnapshot};

macro_rules! tables {
    ($($variant:ident = $n:literal),* $(,)?) => {
        /// The table sizes `max_keys` rounds up to; 1 to 8 serve the conformance files.
        pub const SIZES: &[usize] = &[$($n),*];

        enum Table {
            $($variant(Box<KeyedLimiter<$n>>),)*
        }

        impl Table {
            fn new(slots: usize, config: TokenBucketConfig, policy: TableFullPolicy)
                -> Option<Result<Table, stanchion::ConfigError>> {
                match slots {
                    $($n => Some(KeyedLimiter::<$n>::new(config, policy)
                        .map(|t| Table::$variant(Box::new(t)))),)*
                    _ => None,
                }
            }

            #[inline]
            fn try_acquire(&self, key: u64, n: u32, now: Nanos) -> Result<(), Rejected> {
                match self { $(Table::$variant(t) => t.try_acquire(key, n, now),)* }
            }

            fn reserve(&self, key: u64, n: u32, now: Nanos, max_wait: Nanos)
                -> Result<Nanos, Rejected> {
                match self { $(Table::$variant(t) => t.reserve(key, n, now, max_wait),)* }
            }

            fn available(&self, key: u64, now: Nanos) -> u64 {
                match self { $(Table::$variant(t) => t.available(key, now),)* }
            }

            fn snapshot(&self, key: u64, now: Nanos) -> TokenBucketSnapshot {
                match self { $(Table::$variant(t) => t.snapshot(key, now),)* }
            }

            fn active_keys(&self, now: Nanos) -> usize {
                match self { $(Table::$variant(t) => t.active_keys(now),)* }
            }
        }
    };
}

tables!(
    S1 = 1,
    S2 = 2,
    S4 = 4,
    S8 = 8,
    S16 = 16,
    S32 = 32,
    S64 = 64,
    S128 = 128,
    S256 = 256,
    S512 = 512,
    S1k = 1024,
    S2k = 2048,
    S4k = 4096,
    S8k = 8192,
    S16k = 16384,
    S32k = 32768,
    S64k = 65536,
);

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

/// What `max_keys` accepts, and what the table does with it (the README says the same).
pub const MAX_KEYS: &str =
    "an int from 1 to 65536 (the table rounds it up to a power of two, at least 16)";

/// A `max_keys` out of range says how the table rounds; a wrong type stays a `TypeError`.
fn max_keys_error(py: Python<'_>, err: PyErr, keys: &Bound<'_, PyAny>) -> PyErr {
    if err.is_instance_of::<PyTypeError>(py) {
        err
    } else {
        errors::config(py, "max_keys", MAX_KEYS, Some(keys))
    }
}

/// A rate limiter per key, in a fixed table.
#[pyclass(frozen, module = "stanchion._stanchion")]
pub struct KeyedRateLimiter {
    table: Table,
    clock: Clock,
    slots: usize,
}

#[pymethods]
impl KeyedRateLimiter {
    /// `config` holds the bucket (`capacity`, `refill_amount`, `refill_every`), `max_keys`
    /// (1 to 65536, rounded up to a power of two, at least 16; default 1024), `slots` (an
    /// exact table size from `KEYED_SIZES`, overriding `max_keys`) and `on_full`
    /// (`"reject"`/`"admit"`).
    #[new]
    #[pyo3(signature = (config, clock = None))]
    fn new(
        py: Python<'_>,
        config: &Bound<'_, PyAny>,
        clock: Option<Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        const SLOTS: &str = "a power of two from 1 to 65536";
        let bucket = limiter::config_of(config)?;
        let c = Config::new(config)?;
        let slots = match c.get("slots")? {
            Some(s) => {
                let n = usize::try_from(args::integer(&s, "slots", 1, 65536)?).unwrap_or(0);
                if !SIZES.contains(&n) {
                    return Err(errors::config(py, "slots", SLOTS, Some(&s)));
                }
                n
            }
            None => match c.get("max_keys")? {
                None => 1024,
                Some(keys) => {
                    let keys = args::integer(&keys, "max_keys", 1, 65536)
                        .map_err(|e| max_keys_error(py, e, &keys))?;
                    usize::try_from(keys.next_power_of_two().max(16)).unwrap_or(65536)
                }
            },
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
        let table = Table::new(slots, bucket, policy)
            .ok_or_else(|| errors::config(py, "slots", SLOTS, None))?
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
