//! `NativeBulkhead`: the core's `Bulkhead`, its permits held in a table by id, and its wait
//! queue driven through the core's own `acquire` future.
//!
//! A waiting JavaScript caller is one core `Acquire` future, polled once when it is made and
//! again when its waker fires. The waker only notes the waiter's id; the JS half asks for the
//! granted permits after each release or cancellation (`takeGranted`), so the order of service
//! is the core's. The waiter table holds up to `WAITERS` futures, one monomorphised size per
//! range of `maxWaiting` (`TABLES`: 0, 16, 256, 1024, 4096, and the core's largest,
//! `bulkhead::MAX_WAITERS`). `maxWaiting` left out keeps the core's default
//! (`BulkheadConfig::new`: no limit of its own, so as many as the table holds) with a table of
//! `DEFAULT_TABLE` waiters: the core has no default table size (its `Bulkhead` type has none at
//! all), so this one is the binding's choice, the same as the Python binding's.

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use napi_derive::napi;
use stanchion::bulkhead::{Acquire, RawPermit, MAX_WAITERS};
use stanchion::{Bulkhead, BulkheadConfig, BulkheadSnapshot, ConfigError, Rejected};

use crate::code;
use crate::fast::{self, Registry};

/// The ids of waiters whose wakers fired since the JS half last asked.
type Woken = Arc<Mutex<Vec<u32>>>;

struct WakeWaiter {
    id: u32,
    woken: Woken,
}

impl Wake for WakeWaiter {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if let Ok(mut woken) = self.woken.lock() {
            woken.push(self.id);
        }
    }
}

/// How a wait began.
enum Entered {
    Permit(RawPermit),
    Waiting,
    Refused(Rejected),
}

/// What the native class needs from a bulkhead of any waiter-table size.
trait Queue {
    fn try_acquire(&self, lane: usize) -> Result<RawPermit, Rejected>;
    fn enter(&mut self, id: u32, lane: usize, waker: &dyn Fn() -> Waker) -> Entered;
    fn poll(&mut self, id: u32) -> Option<RawPermit>;
    fn cancel(&mut self, id: u32);
    fn release(&self, permit: &mut RawPermit) -> bool;
    fn snapshot(&self) -> BulkheadSnapshot;
}

/// A bulkhead and its waiting futures. Field order matters: the futures borrow the bulkhead,
/// so they are declared (and dropped) first.
struct Table<const WAITERS: usize> {
    waiting: HashMap<u32, (Acquire<'static, WAITERS>, Waker)>,
    bulkhead: Box<Bulkhead<WAITERS>>,
}

impl<const WAITERS: usize> Table<WAITERS> {
    fn poll_one(
        future: &mut Acquire<'static, WAITERS>,
        waker: &Waker,
    ) -> Option<Result<RawPermit, Rejected>> {
        let mut cx = Context::from_waker(waker);
        match Pin::new(future).poll(&mut cx) {
            Poll::Ready(answer) => Some(answer.map(|permit| permit.into_raw())),
            Poll::Pending => None,
        }
    }
}

impl<const WAITERS: usize> Queue for Table<WAITERS> {
    fn try_acquire(&self, lane: usize) -> Result<RawPermit, Rejected> {
        self.bulkhead
            .try_acquire(lane)
            .map(|permit| permit.into_raw())
    }

    fn enter(&mut self, id: u32, lane: usize, waker: &dyn Fn() -> Waker) -> Entered {
        let future = self.bulkhead.acquire(lane);
        // SAFETY: the future borrows the boxed bulkhead, which never moves and is dropped
        // only after every future in `waiting` (field order), so the borrow cannot dangle.
        let mut future: Acquire<'static, WAITERS> = unsafe { std::mem::transmute(future) };
        // The first poll needs no waker of its own unless the future must wait; then a second
        // poll registers the real one (nothing else runs in between on this thread).
        let answer = match Self::poll_one(&mut future, Waker::noop()) {
            Some(answer) => answer,
            None => {
                let waker = waker();
                match Self::poll_one(&mut future, &waker) {
                    Some(answer) => answer,
                    None => {
                        self.waiting.insert(id, (future, waker));
                        return Entered::Waiting;
                    }
                }
            }
        };
        match answer {
            Ok(permit) => Entered::Permit(permit),
            Err(refusal) => Entered::Refused(refusal),
        }
    }

    fn poll(&mut self, id: u32) -> Option<RawPermit> {
        let (future, waker) = self.waiting.get_mut(&id)?;
        match Self::poll_one(future, waker)? {
            Ok(permit) => {
                self.waiting.remove(&id);
                Some(permit)
            }
            // A queued future resolves only to a permit; drop it if that ever changes.
            Err(_) => {
                self.waiting.remove(&id);
                None
            }
        }
    }

    fn cancel(&mut self, id: u32) {
        // Dropping the future leaves the queue and passes on a permit already handed to it.
        self.waiting.remove(&id);
    }

    fn release(&self, permit: &mut RawPermit) -> bool {
        self.bulkhead.release(permit)
    }

    fn snapshot(&self) -> BulkheadSnapshot {
        self.bulkhead.snapshot()
    }
}

fn table<const WAITERS: usize>(config: BulkheadConfig) -> Result<Box<dyn Queue>, ConfigError> {
    Ok(Box::new(Table::<WAITERS> {
        waiting: HashMap::new(),
        bulkhead: Box::new(Bulkhead::new(config)?),
    }))
}

/// The waiter table sizes, smallest first: a bulkhead gets the smallest that holds its
/// `maxWaiting`.
pub(crate) const TABLES: [usize; 6] = [0, 16, 256, 1024, 4096, MAX_WAITERS];

/// The table of a bulkhead whose `maxWaiting` is left out (see the module docs).
pub(crate) const DEFAULT_TABLE: usize = 1024;

/// The waiter table sizes the addon offers, smallest first (the last is the core's
/// `bulkhead::MAX_WAITERS`), and the table used when `maxWaiting` is left out.
#[napi(object)]
pub struct NativeBulkheadTables {
    /// Every table size, smallest first.
    pub sizes: Vec<u32>,
    /// The table of a bulkhead whose `maxWaiting` is left out.
    pub default_table: u32,
}

/// The waiter tables (see `NativeBulkheadTables`).
#[napi]
pub fn bulkhead_tables() -> NativeBulkheadTables {
    NativeBulkheadTables {
        sizes: TABLES.iter().map(|&n| n as u32).collect(),
        default_table: DEFAULT_TABLE as u32,
    }
}

/// A bulkhead's config.
#[napi(object)]
pub struct NativeBulkheadConfig {
    /// Calls admitted at once.
    pub max_concurrent: u32,
    /// Lane ceilings, highest priority (lane 0) first; default one lane.
    pub lanes: Option<Vec<u32>>,
    /// Callers that may wait at once (0: never wait), at most the core's `MAX_WAITERS`; left
    /// out, the core's default (as many as a table of `DEFAULT_TABLE` holds).
    pub max_waiting: Option<u32>,
}

/// A bulkhead's counters.
#[napi(object)]
pub struct NativeBulkheadSnapshot {
    /// Permits out.
    pub in_flight: u32,
    /// The most permits ever out at once.
    pub peak: u32,
    /// Callers waiting.
    pub waiting: u32,
    /// Refusals, `bulkhead_full` and `queue_full` alike.
    pub rejected: f64,
    /// The cap.
    pub max_concurrent: u32,
}

/// A bulkhead with its permits by id and its waiting callers.
struct State {
    queue: Box<dyn Queue>,
    permits: Vec<Option<RawPermit>>,
    free: Vec<u32>,
    woken: Woken,
    next_waiter: u32,
    retry_after: code::LastRetryAfter,
}

thread_local! {
    static BULKHEADS: RefCell<Registry<RefCell<State>>> = const { RefCell::new(Registry::new()) };
}

impl State {
    fn hold(&mut self, permit: RawPermit) -> f64 {
        match self.free.pop() {
            Some(id) => {
                if let Some(slot) = self.permits.get_mut(id as usize) {
                    *slot = Some(permit);
                }
                f64::from(id)
            }
            None => {
                self.permits.push(Some(permit));
                (self.permits.len() - 1) as f64
            }
        }
    }

    fn try_acquire(&mut self, lane: u32) -> f64 {
        match self.queue.try_acquire(lane as usize) {
            Ok(permit) => self.hold(permit),
            Err(refusal) => code::refused(&refusal, None, &self.retry_after),
        }
    }

    fn acquire(&mut self, lane: u32) -> f64 {
        let id = self.next_waiter;
        self.next_waiter = self.next_waiter.wrapping_add(1) % (1 << 24);
        let woken = &self.woken;
        let waker = || {
            Waker::from(Arc::new(WakeWaiter {
                id,
                woken: Arc::clone(woken),
            }))
        };
        match self.queue.enter(id, lane as usize, &waker) {
            Entered::Permit(permit) => self.hold(permit),
            Entered::Refused(refusal) => code::refused(&refusal, None, &self.retry_after),
            Entered::Waiting => -64.0 * (FIRST_WAITER + f64::from(id)),
        }
    }

    fn release(&mut self, permit: u32) -> f64 {
        let Some(mut held) = self.permits.get_mut(permit as usize).and_then(Option::take) else {
            return -1.0;
        };
        self.free.push(permit);
        if !self.queue.release(&mut held) {
            return -1.0;
        }
        f64::from(self.pending_wakeups())
    }

    fn pending_wakeups(&self) -> u32 {
        self.woken.lock().map_or(0, |woken| woken.len() as u32)
    }
}

/// `tryAcquire` over the registers: handle, lane. A refusal's `retry_after` goes to
/// register 7.
#[napi]
pub fn fast_bulkhead_acquire() -> f64 {
    fast::with(&BULKHEADS, f64::NAN, |state| {
        let mut state = state.borrow_mut();
        let answer = state.try_acquire(fast::u32_reg(1));
        fast::set_reg(7, state.retry_after.ms());
        answer
    })
}

/// `acquire` over the registers: handle, lane. Codes as `NativeBulkhead.acquire`; a
/// refusal's `retry_after` goes to register 7.
#[napi]
pub fn fast_bulkhead_enter() -> f64 {
    fast::with(&BULKHEADS, f64::NAN, |state| {
        let mut state = state.borrow_mut();
        let answer = state.acquire(fast::u32_reg(1));
        fast::set_reg(7, state.retry_after.ms());
        answer
    })
}

/// `release` over the registers: handle, permit id.
#[napi]
pub fn fast_bulkhead_release() -> f64 {
    fast::with(&BULKHEADS, -1.0, |state| {
        state.borrow_mut().release(fast::u32_reg(1))
    })
}

/// The core's `Bulkhead` with permits by id and answers packed as numbers (see `code.rs`).
#[napi]
pub struct NativeBulkhead {
    state: Rc<RefCell<State>>,
    handle: u32,
}

impl Drop for NativeBulkhead {
    fn drop(&mut self) {
        let handle = self.handle;
        let _ = BULKHEADS.try_with(|table| table.borrow_mut().remove(handle));
    }
}

/// A pending wait's code: below every refusal code, `-(64·(16 + id))`.
const FIRST_WAITER: f64 = 16.0;

#[napi]
impl NativeBulkhead {
    /// A bulkhead, or an error naming the invalid field.
    #[napi(constructor)]
    pub fn new(config: NativeBulkheadConfig) -> napi::Result<Self> {
        let mut c = BulkheadConfig::new(config.max_concurrent);
        if let Some(lanes) = &config.lanes {
            c = c.lanes(lanes);
        }
        let size = match config.max_waiting {
            None => DEFAULT_TABLE,
            Some(max_waiting) => {
                c = c.max_waiting(max_waiting);
                TABLES
                    .into_iter()
                    .find(|&size| max_waiting as usize <= size)
                    .unwrap_or(usize::MAX)
            }
        };
        let queue = match size {
            0 => table::<0>(c),
            16 => table::<16>(c),
            256 => table::<256>(c),
            1024 => table::<1024>(c),
            4096 => table::<4096>(c),
            MAX_WAITERS => table::<MAX_WAITERS>(c),
            _ => Err(ConfigError::new("max_waiting", "0..=65535")),
        }
        .map_err(code::config_error)?;
        let state = Rc::new(RefCell::new(State {
            queue,
            permits: Vec::new(),
            free: Vec::new(),
            woken: Arc::default(),
            next_waiter: 0,
            retry_after: code::LastRetryAfter::new(),
        }));
        let handle = BULKHEADS.with(|table| table.borrow_mut().insert(Rc::clone(&state)));
        Ok(NativeBulkhead { state, handle })
    }

    /// The handle the `fastBulkhead*` functions take in register 0.
    #[napi(getter)]
    pub fn handle(&self) -> u32 {
        self.handle
    }

    /// Takes a permit in `lane` now: its id (>= 0), or a refusal code.
    #[napi]
    pub fn try_acquire(&self, lane: u32) -> f64 {
        self.state.borrow_mut().try_acquire(lane)
    }

    /// Takes a permit in `lane`, or queues for one: a permit id (>= 0), a refusal code, or a
    /// waiter code `-(64·(16 + waiter id))` when it must wait.
    #[napi]
    pub fn acquire(&self, lane: u32) -> f64 {
        self.state.borrow_mut().acquire(lane)
    }

    /// The waiters served since the last call, as pairs `[waiter id, permit id, ...]`, in the
    /// order their wakers fired.
    #[napi]
    pub fn take_granted(&self) -> Vec<f64> {
        let mut state = self.state.borrow_mut();
        let woken = match state.woken.lock() {
            Ok(mut woken) => std::mem::take(&mut *woken),
            Err(_) => Vec::new(),
        };
        let mut granted = Vec::with_capacity(woken.len() * 2);
        for id in woken {
            if let Some(permit) = state.queue.poll(id) {
                granted.push(f64::from(id));
                granted.push(state.hold(permit));
            }
        }
        granted
    }

    /// Leaves the queue (an aborted wait). Returns how many wake-ups wait to be taken.
    #[napi]
    pub fn cancel(&self, waiter: u32) -> u32 {
        let mut state = self.state.borrow_mut();
        state.queue.cancel(waiter);
        state.pending_wakeups()
    }

    /// Gives a permit back. Returns -1 if it was already given back, else how many wake-ups
    /// wait to be taken with `takeGranted`.
    #[napi]
    pub fn release(&self, permit: u32) -> f64 {
        self.state.borrow_mut().release(permit)
    }

    /// The counters now.
    #[napi]
    pub fn snapshot(&self) -> NativeBulkheadSnapshot {
        let s = self.state.borrow().queue.snapshot();
        NativeBulkheadSnapshot {
            in_flight: s.in_flight,
            peak: s.peak,
            waiting: s.waiting,
            rejected: s.rejected as f64,
            max_concurrent: s.max_concurrent,
        }
    }

    /// The lane a permit was taken in.
    #[napi]
    pub fn lane_of(&self, permit: u32) -> Option<u32> {
        self.state
            .borrow()
            .permits
            .get(permit as usize)
            .copied()
            .flatten()
            .map(|p| p.lane() as u32)
    }

    /// The `retry_after` of the last refusal, in milliseconds; NaN when waiting cannot help.
    #[napi(getter)]
    pub fn retry_after(&self) -> f64 {
        self.state.borrow().retry_after.ms()
    }
}
