//! `Bulkhead`: the core's bulkhead with a table of 1024 waiters, its permits, and the waiting
//! future driven from asyncio and from a parked thread (`waiting`).

use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::task::{Context, Poll, Waker};

use pyo3::prelude::*;
use stanchion::bulkhead::{Acquire, RawPermit};
use stanchion::BulkheadConfig;

use crate::args::{self, core_config_error, Config};
use crate::errors;
use crate::waiting::{self, PyWake};

/// The waiter table's size: at most this many calls wait at once.
pub const WAITERS: usize = 1024;
type Core = stanchion::Bulkhead<WAITERS>;

/// What `max_concurrent` accepts: the core's range, `1..=bulkhead::MAX_CONCURRENT`.
static MAX_CONCURRENT: LazyLock<String> =
    LazyLock::new(|| format!("an int from 1 to {}", stanchion::bulkhead::MAX_CONCURRENT));

/// What each of `lanes` accepts: the same range.
static LANE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "a list of ints from 1 to {}",
        stanchion::bulkhead::MAX_CONCURRENT
    )
});

/// The core's bulkhead fields as Python parameters, with their allowed values.
fn describe(field: &str) -> Option<(&'static str, &'static str)> {
    Some(match field {
        "max_concurrent" => ("max_concurrent", MAX_CONCURRENT.as_str()),
        "lane_ceilings" => (
            "lanes",
            "a list of ceilings that starts at max_concurrent and never rises, each ≥ 1",
        ),
        "lanes" => ("lanes", "a list of 1 to 8 ceilings, or None"),
        _ => return None,
    })
}

fn config_of(obj: &Bound<'_, PyAny>) -> PyResult<BulkheadConfig> {
    let c = Config::new(obj)?;
    let max = c.required("max_concurrent", &MAX_CONCURRENT)?;
    let max = args::core_count(&max, "max_concurrent", &MAX_CONCURRENT)?;
    // Left out (`None`), `max_waiting` is the core's default, which the core bounds by the
    // waiter table: as many as `WAITERS` wait. A value past the table would be cut to it, so
    // it is refused instead.
    let mut config = BulkheadConfig::new(max);
    if let Some(waiting) = c.get("max_waiting")? {
        config = config.max_waiting(args::count(&waiting, "max_waiting", 0, WAITERS as u32)?);
    }
    if let Some(lanes) = c.get("lanes")? {
        let mut ceilings = Vec::new();
        for lane in lanes.try_iter()? {
            ceilings.push(args::core_count(&lane?, "lanes", &LANE)?);
        }
        config = config.lanes(&ceilings);
    }
    config
        .validate()
        .map_err(|e| core_config_error(obj, e, describe))?;
    Ok(config)
}

/// A concurrency limit over the core's bulkhead.
#[pyclass(frozen, module = "stanchion._stanchion")]
pub struct Bulkhead {
    core: Arc<Core>,
}

/// One held slot of a bulkhead; `release` gives it back once (later calls do nothing). A
/// permit dropped while held (garbage-collected, never released) gives its slot back, as the
/// core's `Permit` does when dropped.
#[pyclass(frozen, module = "stanchion._stanchion")]
pub struct BulkheadPermit {
    bulkhead: Arc<Core>,
    raw: RawPermit,
    held: AtomicBool,
}

impl BulkheadPermit {
    fn new(bulkhead: &Arc<Core>, raw: RawPermit) -> Self {
        BulkheadPermit {
            bulkhead: Arc::clone(bulkhead),
            raw,
            held: AtomicBool::new(true),
        }
    }
}

impl Drop for BulkheadPermit {
    fn drop(&mut self) {
        if std::mem::replace(self.held.get_mut(), false) {
            let mut raw = self.raw;
            self.bulkhead.release(&mut raw);
        }
    }
}

#[pymethods]
impl BulkheadPermit {
    /// Gives the slot back: `True` the first time, `False` after.
    #[inline]
    fn release(&self) -> bool {
        if !self.held.swap(false, Ordering::AcqRel) {
            return false;
        }
        let mut raw = self.raw;
        self.bulkhead.release(&mut raw)
    }

    /// The lane the permit was taken in.
    #[getter]
    fn lane(&self) -> usize {
        self.raw.lane()
    }

    /// Whether the permit is still held.
    #[getter]
    fn held(&self) -> bool {
        self.held.load(Ordering::Acquire)
    }
}

/// A place in a bulkhead's wait queue (the core's `acquire` future).
#[pyclass(frozen, module = "stanchion._stanchion")]
pub struct BulkheadWaiter {
    // Declared before `bulkhead`, so it drops first: it borrows the bulkhead the Arc keeps.
    future: Mutex<Option<Acquire<'static, WAITERS>>>,
    waker: Waker,
    bulkhead: Arc<Core>,
}

#[pymethods]
impl BulkheadWaiter {
    /// Polls the future: the permit once served, `None` while waiting (or after it resolved
    /// or was cancelled), `BulkheadFullError` (`queue_full`) if it could not wait.
    fn poll(&self, py: Python<'_>) -> PyResult<Option<BulkheadPermit>> {
        let mut guard = self
            .future
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(future) = guard.as_mut() else {
            return Ok(None);
        };
        let mut cx = Context::from_waker(&self.waker);
        match Pin::new(future).poll(&mut cx) {
            Poll::Pending => Ok(None),
            Poll::Ready(answer) => {
                *guard = None;
                drop(guard);
                match answer {
                    Ok(permit) => Ok(Some(BulkheadPermit::new(&self.bulkhead, permit.into_raw()))),
                    Err(rejected) => Err(errors::refused(py, rejected)),
                }
            }
        }
    }

    /// Leaves the queue; a permit already handed to this waiter passes on.
    fn cancel(&self) {
        let future = self
            .future
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        drop(future);
    }
}

#[pymethods]
impl Bulkhead {
    #[new]
    fn new(config: &Bound<'_, PyAny>) -> PyResult<Self> {
        let parsed = config_of(config)?;
        let core = Core::new(parsed).map_err(|e| core_config_error(config, e, describe))?;
        Ok(Bulkhead {
            core: Arc::new(core),
        })
    }

    /// A permit in `lane` now, or `BulkheadFullError`.
    #[pyo3(signature = (lane = 0))]
    #[inline]
    fn try_acquire(&self, py: Python<'_>, lane: usize) -> PyResult<BulkheadPermit> {
        match self.core.try_acquire(lane) {
            Ok(permit) => Ok(BulkheadPermit::new(&self.core, permit.into_raw())),
            Err(rejected) => Err(errors::refused(py, rejected)),
        }
    }

    /// A permit in `lane` if one is free now and nobody waits for it; else `None`, with
    /// nothing counted (unlike `try_acquire`, a miss is not a refusal: the caller will wait).
    /// It is the core's `acquire` future polled once and dropped if it would have to wait,
    /// which leaves the queue as it was.
    #[pyo3(signature = (lane = 0))]
    fn try_enter(&self, py: Python<'_>, lane: usize) -> PyResult<Option<BulkheadPermit>> {
        match waiting::poll_once(pin!(self.core.acquire(lane))) {
            Some(Ok(permit)) => Ok(Some(BulkheadPermit::new(&self.core, permit.into_raw()))),
            Some(Err(rejected)) => Err(errors::refused(py, rejected)),
            None => Ok(None),
        }
    }

    /// A permit in `lane`, waiting for it in the queue if need be: the core's `acquire` future
    /// driven from this thread, which parks without the GIL between polls. `None` when
    /// `timeout_ns` passed first (the future is dropped, which leaves the queue clean and
    /// passes on a permit handed to it meanwhile); `BulkheadFullError` (`queue_full`) when it
    /// could not wait. A signal handler that raises (`KeyboardInterrupt`) ends the wait the
    /// same way, with its exception.
    #[pyo3(signature = (lane = 0, timeout_ns = None))]
    fn wait(
        &self,
        py: Python<'_>,
        lane: usize,
        timeout_ns: Option<u64>,
    ) -> PyResult<Option<BulkheadPermit>> {
        let future = pin!(self.core.acquire(lane));
        match waiting::block_on(py, future, timeout_ns)? {
            Some(Ok(permit)) => Ok(Some(BulkheadPermit::new(&self.core, permit.into_raw()))),
            Some(Err(rejected)) => Err(errors::refused(py, rejected)),
            None => Ok(None),
        }
    }

    /// A place in the wait queue for `lane`; `wake` is called (from any thread) when the
    /// waiter should be polled again.
    fn enqueue(&self, lane: usize, wake: Bound<'_, PyAny>) -> BulkheadWaiter {
        let future: Acquire<'_, WAITERS> = self.core.acquire(lane);
        // SAFETY: only the lifetime changes. The future borrows the bulkhead inside the Arc
        // that the waiter also holds, and the waiter's field order drops the future first, so
        // the borrow never outlives the bulkhead.
        let future: Acquire<'static, WAITERS> = unsafe { std::mem::transmute(future) };
        BulkheadWaiter {
            future: Mutex::new(Some(future)),
            waker: PyWake::waker(wake),
            bulkhead: Arc::clone(&self.core),
        }
    }

    /// The counters now.
    fn snapshot(&self) -> BulkheadSnapshot {
        let s = self.core.snapshot();
        BulkheadSnapshot {
            in_flight: s.in_flight,
            peak: s.peak,
            waiting: s.waiting,
            rejected: s.rejected,
            max_concurrent: s.max_concurrent,
        }
    }

    /// Checks a config without building a bulkhead.
    #[staticmethod]
    fn validate(config: &Bound<'_, PyAny>) -> PyResult<()> {
        config_of(config).map(drop)
    }
}

/// A bulkhead's counters at one moment (read-only).
#[pyclass(frozen, get_all, module = "stanchion._stanchion")]
pub struct BulkheadSnapshot {
    in_flight: u32,
    peak: u32,
    waiting: u32,
    rejected: u64,
    max_concurrent: u32,
}

#[pymethods]
impl BulkheadSnapshot {
    fn __repr__(&self) -> String {
        format!(
            "BulkheadSnapshot(in_flight={}, peak={}, waiting={}, rejected={})",
            self.in_flight, self.peak, self.waiting, self.rejected
        )
    }
}
