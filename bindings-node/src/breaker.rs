//! `NativeBreaker`: the core's default `CircuitBreaker` (W = 10: a count window of up to 320
//! calls, a time window of up to 10 buckets).

use std::cell::RefCell;
use std::rc::Rc;

use napi::bindgen_prelude::{BigInt, Either, Null};
use napi_derive::napi;
use stanchion::breaker::{BreakerConfig, BreakerSnapshot, RawPermit, SlowCall, Window};
use stanchion::{CircuitBreaker, Nanos, Outcome};

use crate::code;
use crate::fast::{self, Registry};
use crate::time::{duration, instant, millis};

/// A breaker config, every field optional (the core's defaults apply). Durations are `bigint`
/// nanoseconds; the JS half converts the public milliseconds.
#[napi(object)]
pub struct NativeBreakerConfig {
    /// Trip when the window holds this many failures (default 5).
    pub failure_count: Option<u32>,
    /// Turn the failure-count trigger off.
    pub failure_count_off: Option<bool>,
    /// Trip after this many failures in a row.
    pub consecutive_failures: Option<u32>,
    /// Trip at this failure share of the window, in (0, 1].
    pub failure_rate: Option<f64>,
    /// The fewest calls in the window before a rate trigger may trip (default 10).
    pub minimum_calls: Option<u32>,
    /// A call at least this long is slow.
    pub slow_call_duration: Option<BigInt>,
    /// Trip at this slow share of the window, in (0, 1].
    pub slow_call_rate: Option<f64>,
    /// A count window of the last `n` calls.
    pub window_count: Option<u32>,
    /// A time window of this span.
    pub window_span: Option<BigInt>,
    /// The time window's buckets.
    pub window_buckets: Option<u32>,
    /// How long a trip keeps the breaker open (default 30 s).
    pub open_for: Option<BigInt>,
    /// The longest open period when trips repeat (default `openFor`).
    pub open_for_max: Option<BigInt>,
    /// Growth of the open period per trip in a row (default 2).
    pub open_for_factor: Option<f64>,
    /// Proportional jitter of the open period, in [0, 1].
    pub open_for_jitter: Option<f64>,
    /// Probes admitted at once while half-open (default 1).
    pub half_open_probes: Option<u32>,
    /// Successful probes that close the breaker (default `halfOpenProbes`).
    pub half_open_successes: Option<u32>,
    /// How long a probe may run before its slot is taken back as a failed probe.
    pub probe_timeout: Option<BigInt>,
    /// Seed of the open-period jitter.
    pub seed: Option<BigInt>,
}

fn config(o: &NativeBreakerConfig) -> BreakerConfig {
    let d = BreakerConfig::new();
    let open_for = duration(&o.open_for).unwrap_or(d.open_for);
    let window = match (o.window_count, duration(&o.window_span)) {
        (Some(n), _) => Window::Count(n),
        (None, Some(span)) => Window::Time {
            span,
            buckets: o.window_buckets.unwrap_or(10),
        },
        (None, None) => match (d.window, o.window_buckets) {
            (Window::Time { span, .. }, Some(buckets)) => Window::Time { span, buckets },
            (window, _) => window,
        },
    };
    let slow_call = duration(&o.slow_call_duration).map(|duration| SlowCall {
        duration,
        rate: o.slow_call_rate.unwrap_or(1.0) as f32,
    });
    BreakerConfig {
        failure_count: if o.failure_count_off == Some(true) {
            None
        } else {
            o.failure_count.or(d.failure_count)
        },
        consecutive_failures: o.consecutive_failures,
        failure_rate: o.failure_rate.map(|r| r as f32),
        minimum_calls: o.minimum_calls.unwrap_or(d.minimum_calls),
        slow_call,
        window,
        open_for,
        open_for_max: duration(&o.open_for_max).unwrap_or(open_for),
        open_for_factor: o.open_for_factor.map_or(d.open_for_factor, |f| f as f32),
        open_for_jitter: o.open_for_jitter.map_or(d.open_for_jitter, |j| j as f32),
        half_open_probes: o.half_open_probes.unwrap_or(d.half_open_probes),
        half_open_successes: o.half_open_successes,
        probe_timeout: duration(&o.probe_timeout),
        seed: o.seed.as_ref().map_or(0, crate::time::nanos_of_bigint),
    }
}

/// A breaker's state and counters at one moment. Instants are milliseconds.
#[napi(object)]
pub struct NativeBreakerSnapshot {
    /// `closed`, `open`, `half_open`, `forced_open` or `disabled`.
    pub state: String,
    /// Changes on every transition and reset.
    pub generation: u32,
    /// When an open breaker lets the next call probe; null unless open.
    pub open_until: Either<f64, Null>,
    /// Probes in flight while half-open.
    pub probes_in_flight: u32,
    /// Successful probes in this half-open period.
    pub half_open_successes: u32,
    /// Calls in the window.
    pub window_calls: f64,
    /// Failures in the window.
    pub window_failures: f64,
    /// Slow calls in the window.
    pub window_slow_calls: f64,
    /// Failures in a row.
    pub consecutive_failures: u32,
    /// Trips in a row without a full recovery.
    pub consecutive_trips: u32,
    /// Calls recorded as a success or a failure, ever.
    pub calls: f64,
    /// Successes, ever.
    pub successes: f64,
    /// Failures, ever.
    pub failures: f64,
    /// Slow calls, ever.
    pub slow_calls: f64,
    /// Refusals while open.
    pub rejected_open: f64,
    /// Refusals while half-open with every probe slot taken.
    pub rejected_half_open_full: f64,
    /// Refusals while forced open.
    pub rejected_forced_open: f64,
    /// All refusals.
    pub rejected: f64,
    /// Transitions, ever.
    pub transitions: f64,
    /// The window's failure share.
    pub failure_rate: f64,
    /// The window's slow-call share.
    pub slow_call_rate: f64,
}

impl From<BreakerSnapshot> for NativeBreakerSnapshot {
    fn from(s: BreakerSnapshot) -> Self {
        NativeBreakerSnapshot {
            state: s.state.as_str().to_owned(),
            generation: s.generation,
            open_until: crate::time::nullable(s.open_until),
            probes_in_flight: s.probes_in_flight,
            half_open_successes: s.half_open_successes,
            window_calls: s.window_calls as f64,
            window_failures: s.window_failures as f64,
            window_slow_calls: s.window_slow_calls as f64,
            consecutive_failures: s.consecutive_failures,
            consecutive_trips: s.consecutive_trips,
            calls: s.calls as f64,
            successes: s.successes as f64,
            failures: s.failures as f64,
            slow_calls: s.slow_calls as f64,
            rejected_open: s.rejected_open as f64,
            rejected_half_open_full: s.rejected_half_open_full as f64,
            rejected_forced_open: s.rejected_forced_open as f64,
            rejected: s.rejected() as f64,
            transitions: s.transitions as f64,
            failure_rate: f64::from(s.failure_rate()),
            slow_call_rate: f64::from(s.slow_call_rate()),
        }
    }
}

/// A breaker and the `retry_after` of its last refusal.
pub(crate) struct Breaker {
    breaker: CircuitBreaker,
    retry_after: code::LastRetryAfter,
}

thread_local! {
    static BREAKERS: RefCell<Registry<Breaker>> = const { RefCell::new(Registry::new()) };
}

impl Breaker {
    fn acquire(&self, now: Nanos) -> f64 {
        match self.breaker.try_acquire_raw(now) {
            (Ok(permit), t) => code::admitted(f64::from(permit.generation()), t),
            (Err(refusal), t) => code::refused(&refusal, t, &self.retry_after),
        }
    }

    fn record(&self, generation: u32, issued_at: Nanos, outcome: u32, now: Nanos) -> f64 {
        let permit = RawPermit::from_parts(generation, issued_at);
        code::transition(self.breaker.record_raw(permit, self::outcome(outcome), now))
    }

    fn release(&self, generation: u32, issued_at: Nanos, now: Nanos) -> f64 {
        let permit = RawPermit::from_parts(generation, issued_at);
        code::transition(self.breaker.release_raw(permit, now))
    }
}

/// `tryAcquire` over the registers: handle in 0, the instant in 1 (ms; NaN: native clock).
/// Writes the instant used to register 6 and a refusal's `retry_after` to register 7.
#[napi]
pub fn fast_breaker_acquire() -> f64 {
    fast::with(&BREAKERS, f64::NAN, |b| {
        let now = fast::instant_reg(1);
        fast::set_reg(6, millis(now));
        let answer = b.acquire(now);
        fast::set_reg(7, b.retry_after.ms());
        answer
    })
}

/// `record` over the registers: handle, generation, issued at, outcome, now (NaN: native).
#[napi]
pub fn fast_breaker_record() -> f64 {
    fast::with(&BREAKERS, 0.0, |b| {
        b.record(
            fast::u32_reg(1),
            fast::instant_reg(2),
            fast::u32_reg(3),
            fast::instant_reg(4),
        )
    })
}

/// `release` over the registers: handle, generation, issued at, (unused), now (NaN: native).
#[napi]
pub fn fast_breaker_release() -> f64 {
    fast::with(&BREAKERS, 0.0, |b| {
        b.release(fast::u32_reg(1), fast::instant_reg(2), fast::instant_reg(4))
    })
}

/// The core's `CircuitBreaker` with its answers packed as numbers (see `code.rs`).
#[napi]
pub struct NativeBreaker {
    inner: Rc<Breaker>,
    handle: u32,
}

impl Drop for NativeBreaker {
    fn drop(&mut self) {
        let handle = self.handle;
        let _ = BREAKERS.try_with(|table| table.borrow_mut().remove(handle));
    }
}

fn outcome(code: u32) -> Outcome {
    match code {
        0 => Outcome::Success,
        1 => Outcome::Failure,
        _ => Outcome::Ignored,
    }
}

#[napi]
impl NativeBreaker {
    /// A closed breaker, or an error naming the invalid field.
    #[napi(constructor)]
    pub fn new(config: NativeBreakerConfig) -> napi::Result<Self> {
        let breaker = CircuitBreaker::new(self::config(&config)).map_err(code::config_error)?;
        let inner = Rc::new(Breaker {
            breaker,
            retry_after: code::LastRetryAfter::new(),
        });
        let handle = BREAKERS.with(|table| table.borrow_mut().insert(Rc::clone(&inner)));
        Ok(NativeBreaker { inner, handle })
    }

    /// The handle the `fastBreaker*` functions take in register 0.
    #[napi(getter)]
    pub fn handle(&self) -> u32 {
        self.handle
    }

    /// Checks a config without building a breaker.
    #[napi]
    pub fn validate(config: NativeBreakerConfig) -> napi::Result<()> {
        CircuitBreaker::<10>::new(self::config(&config))
            .map(drop)
            .map_err(code::config_error)
    }

    /// Asks to make a call: `64·generation + transition` when admitted, else a refusal code.
    #[napi]
    pub fn try_acquire(&self, now: Either<f64, BigInt>) -> f64 {
        self.inner.acquire(instant(&now))
    }

    /// Records how a call ended (0 success, 1 failure, 2 ignored); returns a transition code.
    #[napi]
    pub fn record(
        &self,
        generation: u32,
        issued_at: Either<f64, BigInt>,
        outcome: u32,
        now: Either<f64, BigInt>,
    ) -> f64 {
        self.inner
            .record(generation, instant(&issued_at), outcome, instant(&now))
    }

    /// Abandons a call: frees its probe slot, records nothing; returns a transition code.
    #[napi]
    pub fn release(
        &self,
        generation: u32,
        issued_at: Either<f64, BigInt>,
        now: Either<f64, BigInt>,
    ) -> f64 {
        self.inner
            .release(generation, instant(&issued_at), instant(&now))
    }

    /// Refuses every call until `reset`; returns a transition code.
    #[napi]
    pub fn force_open(&self, now: Either<f64, BigInt>) -> f64 {
        code::transition(self.inner.breaker.force_open(instant(&now)))
    }

    /// Admits every call and never trips until `reset`; returns a transition code.
    #[napi]
    pub fn disable(&self, now: Either<f64, BigInt>) -> f64 {
        code::transition(self.inner.breaker.disable(instant(&now)))
    }

    /// Closes the breaker with a fresh window; returns a transition code.
    #[napi]
    pub fn reset(&self, now: Either<f64, BigInt>) -> f64 {
        code::transition(self.inner.breaker.reset(instant(&now)))
    }

    /// Changes thresholds and durations in place.
    #[napi]
    pub fn reconfigure(
        &self,
        config: NativeBreakerConfig,
        now: Either<f64, BigInt>,
    ) -> napi::Result<()> {
        self.inner
            .breaker
            .reconfigure(self::config(&config), instant(&now))
            .map_err(code::config_error)
    }

    /// The state's stable number (0 closed, 1 open, 2 half-open, 3 forced open, 4 disabled).
    #[napi]
    pub fn state(&self) -> u32 {
        self.inner.breaker.state() as u32
    }

    /// The state and counters now.
    #[napi]
    pub fn snapshot(&self, now: Either<f64, BigInt>) -> NativeBreakerSnapshot {
        self.inner.breaker.snapshot(instant(&now)).into()
    }

    /// When an open breaker lets the next call probe, in exact nanoseconds; null unless open.
    #[napi]
    pub fn open_until_ns(&self, now: Either<f64, BigInt>) -> Option<BigInt> {
        self.inner
            .breaker
            .snapshot(instant(&now))
            .open_until
            .map(crate::time::bigint)
    }

    /// The `retry_after` of the last refusal, in milliseconds; NaN when waiting cannot help.
    #[napi(getter)]
    pub fn retry_after(&self) -> f64 {
        self.inner.retry_after.ms()
    }

    /// The `retry_after` of the last refusal, in exact nanoseconds; null when waiting cannot
    /// help.
    #[napi(getter)]
    pub fn retry_after_ns(&self) -> Option<BigInt> {
        self.inner.retry_after.ns()
    }
}
