//! Driving the core's queue futures (the bulkhead's and the adaptive limiter's `acquire`) from
//! Python: from asyncio through a waker that calls back into Python, and from a thread that
//! parks (without the GIL) until a waker wakes it.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use pyo3::prelude::*;

/// Calls a Python callable when the core hands the waiter a permit.
pub struct PyWake {
    callback: Py<PyAny>,
}

impl PyWake {
    /// A waker that calls `wake` (from any thread) when the waiter should be polled again.
    pub fn waker(wake: Bound<'_, PyAny>) -> Waker {
        Waker::from(Arc::new(PyWake {
            callback: wake.unbind(),
        }))
    }
}

impl Wake for PyWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        Python::attach(|py| {
            if let Err(err) = self.callback.call0(py) {
                err.write_unraisable(py, None);
            }
        });
    }
}

/// Wakes a thread parked in a wait: a flag and a condition variable, so a wake that comes
/// before the thread parks is not lost. Waking needs no GIL.
#[derive(Default)]
struct Parker {
    woken: Mutex<bool>,
    ready: Condvar,
}

impl Parker {
    /// Blocks until woken or `limit` has passed, then clears the flag.
    fn park(&self, limit: Duration) {
        let woken = self.woken.lock().unwrap_or_else(PoisonError::into_inner);
        let (mut woken, _) = self
            .ready
            .wait_timeout_while(woken, limit, |woken| !*woken)
            .unwrap_or_else(PoisonError::into_inner);
        *woken = false;
    }
}

impl Wake for Parker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        *self.woken.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.ready.notify_one();
    }
}

/// The longest a parked thread waits before it takes the GIL back to run signal handlers
/// (`KeyboardInterrupt`), then parks again.
const SIGNAL_CHECK: Duration = Duration::from_millis(100);

/// Drives `future` from this thread, parking without the GIL between polls: its output, or
/// `None` when `timeout_ns` passed first (the caller then drops the future, which leaves the
/// queue clean and passes on a permit handed to it meanwhile). A signal handler that raises
/// (`KeyboardInterrupt`) ends the wait the same way, with its exception.
pub fn block_on<F: Future>(
    py: Python<'_>,
    mut future: Pin<&mut F>,
    timeout_ns: Option<u64>,
) -> PyResult<Option<F::Output>> {
    // The first poll needs no waker of its own: a free slot costs no allocation.
    if let Poll::Ready(output) = future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        return Ok(Some(output));
    }
    let started = Instant::now();
    // `None` inside: a timeout past what `Instant` can hold, which is never.
    let deadline = timeout_ns.map(|ns| started.checked_add(Duration::from_nanos(ns)));
    let parker = Arc::new(Parker::default());
    let waker = Waker::from(Arc::clone(&parker));
    let mut cx = Context::from_waker(&waker);
    loop {
        // Polling again registers this thread's waker and sees a permit handed over since
        // the last poll.
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return Ok(Some(output));
        }
        let limit = match deadline {
            Some(Some(deadline)) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Ok(None);
                }
                left.min(SIGNAL_CHECK)
            }
            _ => SIGNAL_CHECK,
        };
        py.detach(|| parker.park(limit));
        py.check_signals()?;
    }
}

/// Polls `future` once with a waker that does nothing: its output if it is ready now.
pub fn poll_once<F: Future>(future: Pin<&mut F>) -> Option<F::Output> {
    match future.poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => Some(output),
        Poll::Pending => None,
    }
}
