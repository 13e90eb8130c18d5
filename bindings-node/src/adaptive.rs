//! `NativeAdaptiveLimiter`: the core's `AdaptiveLimiter`, its permits held in a table by id,
//! and its wait queue driven through the core's own `acquire` future, as the bulkhead's is
//! (`bulkhead.rs` says how a waiting JavaScript caller is one core future).
//!
//! The core stamps a queued permit with its clock's time when the future resolves. Here that
//! clock is a cell the JS half sets to its own clock's reading before each poll (`Stamp`), so
//! an injected clock stamps queued permits as it stamps the others. The waiter table is sized
//! as the bulkhead's, from `maxWaiting` (`bulkhead::TABLES`, `bulkhead::DEFAULT_TABLE`).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use napi::bindgen_prelude::{BigInt, Either, Either3, Null};
use napi_derive::napi;
use stanchion::adaptive::{
    Acquire, AdaptiveConfig, AdaptiveLimiter, AdaptiveSnapshot, Aimd, Algorithm, Gradient2,
    LimitChange, Outcome, RawPermit, Vegas, MAX_WAITERS,
};
use stanchion::retry::Clock;
use stanchion::{ConfigError, Nanos, Rejected};

use crate::bulkhead::{DEFAULT_TABLE, TABLES};
use crate::code;
use crate::fast::{self, Registry};
use crate::time::{bigint, duration, instant, millis, nanos_of_bigint};

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

/// The clock of the queued futures: the instant the JS half read before it polled them.
struct Stamp(Cell<Nanos>);

impl Clock for Stamp {
    fn now(&self) -> Nanos {
        self.0.get()
    }
}

/// How a wait began.
enum Entered {
    Permit(RawPermit),
    Waiting,
    Refused(Rejected),
}

/// What the native class needs from a limiter of any waiter-table size.
trait Queue {
    fn try_acquire(&self, now: Nanos) -> Result<RawPermit, Rejected>;
    fn enter(&mut self, id: u32, now: Nanos, waker: &dyn Fn() -> Waker) -> Entered;
    fn poll(&mut self, id: u32, now: Nanos) -> Option<RawPermit>;
    fn cancel(&mut self, id: u32);
    fn record(&self, permit: &mut RawPermit, outcome: Outcome, now: Nanos) -> Option<LimitChange>;
    fn release(&self, permit: &mut RawPermit) -> bool;
    fn snapshot(&self) -> AdaptiveSnapshot;
}

/// A limiter and its waiting futures. Field order matters: the futures borrow the limiter and
/// the stamp, so they are declared (and dropped) first.
struct Table<const WAITERS: usize> {
    waiting: HashMap<u32, (Acquire<'static, Stamp, WAITERS>, Waker)>,
    limiter: Box<AdaptiveLimiter<WAITERS>>,
    stamp: Box<Stamp>,
}

impl<const WAITERS: usize> Table<WAITERS> {
    fn poll_one(
        future: &mut Acquire<'static, Stamp, WAITERS>,
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
    fn try_acquire(&self, now: Nanos) -> Result<RawPermit, Rejected> {
        self.limiter
            .try_acquire(now)
            .map(|permit| permit.into_raw())
    }

    fn enter(&mut self, id: u32, now: Nanos, waker: &dyn Fn() -> Waker) -> Entered {
        self.stamp.0.set(now);
        let future = self.limiter.acquire(&*self.stamp);
        // SAFETY: the future borrows the boxed limiter and the boxed stamp, which never move
        // and are dropped only after every future in `waiting` (field order), so the borrows
        // cannot dangle.
        let mut future: Acquire<'static, Stamp, WAITERS> = unsafe { std::mem::transmute(future) };
        // As the bulkhead's: a second poll with a real waker only if the future must wait.
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

    fn poll(&mut self, id: u32, now: Nanos) -> Option<RawPermit> {
        self.stamp.0.set(now);
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

    fn record(&self, permit: &mut RawPermit, outcome: Outcome, now: Nanos) -> Option<LimitChange> {
        self.limiter.record_raw(permit, outcome, now)
    }

    fn release(&self, permit: &mut RawPermit) -> bool {
        self.limiter.release(permit)
    }

    fn snapshot(&self) -> AdaptiveSnapshot {
        self.limiter.snapshot()
    }
}

fn table<const WAITERS: usize>(config: AdaptiveConfig) -> Result<Box<dyn Queue>, ConfigError> {
    Ok(Box::new(Table::<WAITERS> {
        waiting: HashMap::new(),
        limiter: Box::new(AdaptiveLimiter::new(config)?),
        stamp: Box::new(Stamp(Cell::new(Nanos::ZERO))),
    }))
}

/// An adaptive limiter's config; fields left out keep the core's defaults
/// (`AdaptiveConfig::new()`, and each algorithm's `new()`).
#[napi(object)]
pub struct NativeAdaptiveConfig {
    /// `'aimd'` (the default), `'vegas'` or `'gradient2'`.
    pub algorithm: Option<String>,
    /// AIMD: the factor a drop multiplies the limit by.
    pub backoff_ratio: Option<f64>,
    /// AIMD: a window whose mean latency is above this (ns) counts as a drop.
    pub timeout: Option<BigInt>,
    /// Vegas: grow by `log` below `alpha × log` queued calls.
    pub alpha: Option<u32>,
    /// Vegas: shrink by `log` above `beta × log` queued calls.
    pub beta: Option<u32>,
    /// Vegas: windows per unit of limit between baseline probes.
    pub probe_multiplier: Option<u32>,
    /// Vegas and Gradient2: how far each update moves the limit.
    pub smoothing: Option<f64>,
    /// Gradient2: calls allowed to queue on top of `L × gradient`.
    pub queue_size: Option<u32>,
    /// Gradient2: the long average's span, in windows.
    pub long_window: Option<u32>,
    /// Gradient2: how much slower than the long average a window may be.
    pub rtt_tolerance: Option<f64>,
    /// Gradient2: add the queue allowance only at a gradient of 1.
    pub creep_guard: Option<bool>,
    /// The limit before the first update.
    pub initial_limit: Option<u32>,
    /// The lowest the limit goes.
    pub min_limit: Option<u32>,
    /// The highest the limit goes.
    pub max_limit: Option<u32>,
    /// The fewest samples that close a window.
    pub min_samples: Option<u32>,
    /// The shortest a window lasts, ns.
    pub window: Option<BigInt>,
    /// Callers that may wait at once (0: never wait), at most the core's `MAX_WAITERS`; left
    /// out, the core's default (as many as a table of `DEFAULT_TABLE` holds).
    pub max_waiting: Option<u32>,
    /// Seed of the Vegas probe jitter.
    pub seed: Option<BigInt>,
}

/// The core's algorithm for `name` with the parameters given, each left out at its default.
fn algorithm(c: &NativeAdaptiveConfig) -> napi::Result<Algorithm> {
    Ok(match c.algorithm.as_deref().unwrap_or("aimd") {
        "aimd" => {
            let mut a = Aimd::new();
            a.backoff_ratio = c.backoff_ratio.unwrap_or(a.backoff_ratio);
            a.timeout = duration(&c.timeout).unwrap_or(a.timeout);
            Algorithm::Aimd(a)
        }
        "vegas" => {
            let mut v = Vegas::new();
            v.alpha = c.alpha.unwrap_or(v.alpha);
            v.beta = c.beta.unwrap_or(v.beta);
            v.probe_multiplier = c.probe_multiplier.unwrap_or(v.probe_multiplier);
            v.smoothing = c.smoothing.unwrap_or(v.smoothing);
            Algorithm::Vegas(v)
        }
        "gradient2" => {
            let mut g = Gradient2::new();
            g.smoothing = c.smoothing.unwrap_or(g.smoothing);
            g.queue_size = c.queue_size.unwrap_or(g.queue_size);
            g.long_window = c.long_window.unwrap_or(g.long_window);
            g.rtt_tolerance = c.rtt_tolerance.unwrap_or(g.rtt_tolerance);
            g.creep_guard = c.creep_guard.unwrap_or(g.creep_guard);
            Algorithm::Gradient2(g)
        }
        other => {
            return Err(napi::Error::from_reason(format!(
                "unknown adaptive algorithm {other:?}"
            )))
        }
    })
}

fn config(c: &NativeAdaptiveConfig) -> napi::Result<AdaptiveConfig> {
    let d = AdaptiveConfig::new();
    let mut config = AdaptiveConfig::new().algorithm(algorithm(c)?).limits(
        c.min_limit.unwrap_or(d.min_limit),
        c.initial_limit.unwrap_or(d.initial_limit),
        c.max_limit.unwrap_or(d.max_limit),
    );
    config = config.window(
        duration(&c.window).unwrap_or(d.window),
        c.min_samples.unwrap_or(d.min_samples),
    );
    if let Some(max_waiting) = c.max_waiting {
        config = config.max_waiting(max_waiting);
    }
    if let Some(seed) = &c.seed {
        config = config.seed(nanos_of_bigint(seed));
    }
    Ok(config)
}

/// An adaptive limiter's state: instants and durations in ms (numbers), or exact ns (bigints)
/// for `snapshot(true)`.
#[napi(object)]
pub struct NativeAdaptiveSnapshot {
    /// The limit in force.
    pub limit: u32,
    /// Permits out (may exceed `limit` just after it was lowered, while they drain).
    pub in_flight: u32,
    /// Callers waiting.
    pub waiting: u32,
    /// The most permits ever out at once.
    pub peak: u32,
    /// Refusals, `bulkhead_full` and `queue_full` alike.
    pub rejected: f64,
    /// Vegas's no-load latency or Gradient2's long average; null for AIMD and before the
    /// first window.
    pub baseline: Either3<f64, BigInt, Null>,
    /// The instant of the report that closed the last window; null before the first.
    pub last_update: Either3<f64, BigInt, Null>,
    /// Windows closed so far.
    pub windows: f64,
}

fn time_of(n: Option<Nanos>, ns: bool) -> Either3<f64, BigInt, Null> {
    match n {
        None => Either3::C(Null),
        Some(n) if ns => Either3::B(bigint(n)),
        Some(n) => Either3::A(millis(n)),
    }
}

/// Outcomes by their stable numbers (`adaptive::Outcome as u8`); anything else is `Ignored`,
/// which gives the permit back and samples nothing.
fn outcome_of(code: u32) -> Outcome {
    match code {
        0 => Outcome::Success,
        1 => Outcome::Failure,
        3 => Outcome::Dropped,
        _ => Outcome::Ignored,
    }
}

/// The code of a report: -1 when the permit was already given back, 0 when the limit did not
/// change, else `1 + 65536·from + to` (both limits are at most `MAX_LIMIT`, 65535).
fn change_code(change: Option<LimitChange>) -> f64 {
    change.map_or(0.0, |c| 1.0 + 65536.0 * f64::from(c.from) + f64::from(c.to))
}

/// A limiter with its permits by id and its waiting callers.
struct State {
    queue: Box<dyn Queue>,
    permits: Vec<Option<RawPermit>>,
    free: Vec<u32>,
    woken: Woken,
    next_waiter: u32,
    retry_after: code::LastRetryAfter,
}

thread_local! {
    static LIMITERS: RefCell<Registry<RefCell<State>>> = const { RefCell::new(Registry::new()) };
}

/// A pending wait's code: below every refusal code, `-(64·(16 + id))`, as the bulkhead's.
const FIRST_WAITER: f64 = 16.0;

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

    fn try_acquire(&mut self, now: Nanos) -> f64 {
        match self.queue.try_acquire(now) {
            Ok(permit) => self.hold(permit),
            Err(refusal) => code::refused(&refusal, None, &self.retry_after),
        }
    }

    fn acquire(&mut self, now: Nanos) -> f64 {
        let id = self.next_waiter;
        self.next_waiter = self.next_waiter.wrapping_add(1) % (1 << 24);
        let woken = &self.woken;
        let waker = || {
            Waker::from(Arc::new(WakeWaiter {
                id,
                woken: Arc::clone(woken),
            }))
        };
        match self.queue.enter(id, now, &waker) {
            Entered::Permit(permit) => self.hold(permit),
            Entered::Refused(refusal) => code::refused(&refusal, None, &self.retry_after),
            Entered::Waiting => -64.0 * (FIRST_WAITER + f64::from(id)),
        }
    }

    fn take(&mut self, permit: u32) -> Option<RawPermit> {
        let held = self
            .permits
            .get_mut(permit as usize)
            .and_then(Option::take)?;
        self.free.push(permit);
        Some(held)
    }

    fn record(&mut self, permit: u32, outcome: u32, now: Nanos) -> f64 {
        let Some(mut held) = self.take(permit) else {
            return -1.0;
        };
        change_code(self.queue.record(&mut held, outcome_of(outcome), now))
    }

    fn release(&mut self, permit: u32) -> bool {
        match self.take(permit) {
            Some(mut held) => self.queue.release(&mut held),
            None => false,
        }
    }
}

/// `tryAcquire` over the registers: handle, now (ms; NaN reads the native clock).
#[napi]
pub fn fast_adaptive_acquire() -> f64 {
    fast::with(&LIMITERS, f64::NAN, |state| {
        state.borrow_mut().try_acquire(fast::instant_reg(1))
    })
}

/// `acquire` over the registers: handle, now. Codes as `NativeAdaptiveLimiter.acquire`.
#[napi]
pub fn fast_adaptive_enter() -> f64 {
    fast::with(&LIMITERS, f64::NAN, |state| {
        state.borrow_mut().acquire(fast::instant_reg(1))
    })
}

/// `record` over the registers: handle, permit id, outcome, now. Codes as
/// `NativeAdaptiveLimiter.record`.
#[napi]
pub fn fast_adaptive_record() -> f64 {
    fast::with(&LIMITERS, -1.0, |state| {
        state
            .borrow_mut()
            .record(fast::u32_reg(1), fast::u32_reg(2), fast::instant_reg(3))
    })
}

/// `release` over the registers: handle, permit id. 1 if a permit was given back, else 0.
#[napi]
pub fn fast_adaptive_release() -> f64 {
    fast::with(&LIMITERS, 0.0, |state| {
        f64::from(u8::from(state.borrow_mut().release(fast::u32_reg(1))))
    })
}

/// The core's `AdaptiveLimiter` with permits by id and answers packed as numbers (see
/// `code.rs`).
#[napi]
pub struct NativeAdaptiveLimiter {
    state: Rc<RefCell<State>>,
    handle: u32,
}

impl Drop for NativeAdaptiveLimiter {
    fn drop(&mut self) {
        let handle = self.handle;
        let _ = LIMITERS.try_with(|table| table.borrow_mut().remove(handle));
    }
}

#[napi]
impl NativeAdaptiveLimiter {
    /// A limiter, or an error naming the invalid field.
    #[napi(constructor)]
    pub fn new(config: NativeAdaptiveConfig) -> napi::Result<Self> {
        let c = self::config(&config)?;
        let size = match config.max_waiting {
            None => DEFAULT_TABLE,
            Some(max_waiting) => TABLES
                .into_iter()
                .find(|&size| max_waiting as usize <= size)
                .unwrap_or(usize::MAX),
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
        let handle = LIMITERS.with(|table| table.borrow_mut().insert(Rc::clone(&state)));
        Ok(NativeAdaptiveLimiter { state, handle })
    }

    /// The handle the `fastAdaptive*` functions take in register 0.
    #[napi(getter)]
    pub fn handle(&self) -> u32 {
        self.handle
    }

    /// Takes a permit issued at `now`: its id (>= 0), or a refusal code.
    #[napi]
    pub fn try_acquire(&self, now: Either<f64, BigInt>) -> f64 {
        self.state.borrow_mut().try_acquire(instant(&now))
    }

    /// Takes a permit issued at `now`, or queues for one: a permit id (>= 0), a refusal code,
    /// or a waiter code `-(64·(16 + waiter id))` when it must wait.
    #[napi]
    pub fn acquire(&self, now: Either<f64, BigInt>) -> f64 {
        self.state.borrow_mut().acquire(instant(&now))
    }

    /// The waiters served since the last call, their permits issued at `now`, as pairs
    /// `[waiter id, permit id, ...]` in the order their wakers fired.
    #[napi]
    pub fn take_granted(&self, now: Either<f64, BigInt>) -> Vec<f64> {
        let now = instant(&now);
        let mut state = self.state.borrow_mut();
        let woken = match state.woken.lock() {
            Ok(mut woken) => std::mem::take(&mut *woken),
            Err(_) => Vec::new(),
        };
        let mut granted = Vec::with_capacity(woken.len() * 2);
        for id in woken {
            if let Some(permit) = state.queue.poll(id, now) {
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
        state.woken.lock().map_or(0, |woken| woken.len() as u32)
    }

    /// Reports how a permit's call ended at `now` (outcome by its number: 0 success,
    /// 1 failure, 2 ignored, 3 dropped) and gives the permit back: -1 if it was already given
    /// back, 0 if the limit did not change, else `1 + 65536·from + to`.
    #[napi]
    pub fn record(&self, permit: u32, outcome: u32, now: Either<f64, BigInt>) -> f64 {
        self.state
            .borrow_mut()
            .record(permit, outcome, instant(&now))
    }

    /// Gives a permit back without a sample; false if it was already given back.
    #[napi]
    pub fn release(&self, permit: u32) -> bool {
        self.state.borrow_mut().release(permit)
    }

    /// The calls in flight when a held permit was admitted, itself included; null once it was
    /// given back.
    #[napi]
    pub fn in_flight_of(&self, permit: u32) -> Option<u32> {
        self.state
            .borrow()
            .permits
            .get(permit as usize)
            .copied()
            .flatten()
            .map(|p| p.in_flight())
    }

    /// The limit in force.
    #[napi(getter)]
    pub fn limit(&self) -> u32 {
        self.state.borrow().queue.snapshot().limit
    }

    /// The state now; times as exact ns (bigints) when `ns`, else ms.
    #[napi]
    pub fn snapshot(&self, ns: bool) -> NativeAdaptiveSnapshot {
        let s = self.state.borrow().queue.snapshot();
        NativeAdaptiveSnapshot {
            limit: s.limit,
            in_flight: s.in_flight,
            waiting: s.waiting,
            peak: s.peak,
            rejected: s.rejected as f64,
            baseline: time_of(s.baseline, ns),
            last_update: time_of(s.last_update, ns),
            windows: s.windows as f64,
        }
    }
}
