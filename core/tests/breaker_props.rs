//! The circuit breaker against a plain sequential model, and "no input panics".
//!
//! The model restates the rules of docs/semantics.md as directly as possible: a list of recorded
//! calls for the window, plain fields for the state. Driven from one thread, the breaker must
//! give the model's answer to every operation.

use proptest::prelude::*;
use stanchion::breaker::{
    BreakerConfig, CircuitBreaker, Outcome, RawPermit, State, Transition, Window,
};
use stanchion::{Nanos, Reason, Rejected};

#[derive(Clone, Debug)]
enum Op {
    Acquire,
    Record(usize, Outcome),
    Release(usize),
    Advance(u64),
    Rewind(u64),
    ForceOpen,
    Disable,
    Reset,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => Just(Op::Acquire),
        6 => (any::<usize>(), prop_oneof![
            3 => Just(Outcome::Failure),
            2 => Just(Outcome::Success),
            1 => Just(Outcome::Ignored),
        ]).prop_map(|(i, o)| Op::Record(i, o)),
        1 => any::<usize>().prop_map(Op::Release),
        4 => prop_oneof![0..2_000u64, 0..40_000u64].prop_map(Op::Advance),
        1 => (0..5_000u64).prop_map(Op::Rewind),
        1 => Just(Op::ForceOpen),
        1 => Just(Op::Disable),
        1 => Just(Op::Reset),
    ]
}

fn config() -> impl Strategy<Value = BreakerConfig> {
    (
        (
            prop::option::of(1..6u32),
            prop::option::of(1..5u32),
            prop::option::of(prop_oneof![Just(0.1f32), Just(0.5), Just(0.75), Just(1.0)]),
            1..8u32,
            prop::option::of((1..3_000u64, prop_oneof![Just(0.5f32), Just(1.0)])),
        ),
        (
            prop_oneof![
                (1..64u32).prop_map(Window::Count),
                (1..8u32, 1..4_000u64).prop_map(|(buckets, per)| Window::Time {
                    span: Nanos::new(u64::from(buckets) * per),
                    buckets,
                }),
            ],
            0..5_000u64,
            0..4u64,
            prop_oneof![Just(1.0f32), Just(1.5), Just(2.0)],
            // Leases are exact per probe with up to two probes out (the core keeps one
            // deadline); the no-panic property below goes higher.
            1..3u32,
            prop::option::of(1..4u32),
            prop::option::of(1..10_000u64),
        ),
    )
        .prop_map(
            |(
                (count, consecutive, rate, minimum, slow),
                (window, open_for, growth, factor, probes, successes, probe_timeout),
            )| {
                let mut c = BreakerConfig::new()
                    .failure_count(count)
                    .consecutive_failures(consecutive)
                    .failure_rate(rate)
                    .minimum_calls(minimum)
                    .window(window)
                    .open_for(Nanos::new(open_for))
                    .open_for_growth(Nanos::new(open_for * (1 + growth * 3)), factor, 0.0)
                    .half_open(probes, successes)
                    .probe_timeout(probe_timeout.map(Nanos::new));
                if let Some((duration, rate)) = slow {
                    c = c.slow_call(Nanos::new(duration), rate);
                }
                // A breaker needs a trigger: without one, the count trigger stands in.
                if (count, consecutive, rate, slow) == (None, None, None, None) {
                    c = c.failure_count(Some(3));
                }
                c
            },
        )
}

/// The rules, restated plainly.
struct Model {
    c: BreakerConfig,
    state: State,
    generation: u32,
    until: u64,
    probes: u32,
    successes: u32,
    streak: u32,
    trips: u32,
    /// Lease deadlines of the probes out in this half-open period, one per probe.
    leases: Vec<u64>,
    /// Window records: (epoch or sequence, failure, slow).
    records: Vec<(u64, bool, bool)>,
    newest_epoch: u64,
    calls: u64,
    failures: u64,
    slow_calls: u64,
}

impl Model {
    fn new(c: BreakerConfig) -> Model {
        Model {
            c,
            state: State::Closed,
            generation: 0,
            until: 0,
            probes: 0,
            successes: 0,
            streak: 0,
            trips: 0,
            leases: Vec::new(),
            records: Vec::new(),
            newest_epoch: 0,
            calls: 0,
            failures: 0,
            slow_calls: 0,
        }
    }

    fn bucket_span(&self) -> Option<(u64, u64)> {
        match self.c.window {
            Window::Count(_) => None,
            Window::Time { span, buckets } => {
                Some((span.as_nanos() / u64::from(buckets), u64::from(buckets)))
            }
        }
    }

    /// (calls, failures, slow) in the window as of `now`.
    fn window(&self, now: u64) -> (u64, u64, u64) {
        let live: Vec<&(u64, bool, bool)> = match (self.c.window, self.bucket_span()) {
            (Window::Count(n), _) => self.records.iter().rev().take(n as usize).collect(),
            (_, Some((span, buckets))) => {
                let view = self.newest_epoch.max(now / span);
                self.records
                    .iter()
                    .filter(|(e, _, _)| e + buckets > view)
                    .collect()
            }
            _ => unreachable!(),
        };
        let failures = live.iter().filter(|r| r.1).count() as u64;
        let slow = live.iter().filter(|r| r.2).count() as u64;
        (live.len() as u64, failures, slow)
    }

    fn open_period(&self) -> u64 {
        let max = self.c.open_for_max.as_nanos();
        let mut p = self.c.open_for.as_nanos().min(max);
        let factor_q16 = (self.c.open_for_factor * 65_536.0) as u128;
        for _ in 1..self.trips + 1 {
            if p >= max || factor_q16 <= 1 << 16 {
                break;
            }
            p = (((p as u128 * factor_q16) >> 16) as u64).min(max);
        }
        p
    }

    fn next_generation(&mut self, state: State) -> Transition {
        self.leases.clear();
        let from = self.state;
        self.state = state;
        self.generation = (self.generation + 1) & ((1 << 29) - 1);
        self.probes = 0;
        self.successes = 0;
        Transition { from, to: state }
    }

    fn open(&mut self, now: u64) -> Transition {
        let t = self.next_generation(State::Open);
        self.until = now.saturating_add(self.open_period());
        self.trips += 1;
        t
    }

    fn clear_window(&mut self) {
        self.records.clear();
    }

    fn earliest_lease(&self) -> u64 {
        self.leases.iter().copied().min().unwrap_or(u64::MAX)
    }

    /// A lease that saturated at the end of time never ends.
    fn lease_expired(&self, now: u64) -> bool {
        let earliest = self.earliest_lease();
        self.probes > 0 && now >= earliest && earliest != u64::MAX
    }

    fn probe_timeout(&self) -> u64 {
        self.c.effective_probe_timeout().as_nanos()
    }

    fn acquire(&mut self, now: u64) -> (Result<u32, Rejected>, Option<Transition>) {
        match self.state {
            State::Closed | State::Disabled => (Ok(self.generation), None),
            State::ForcedOpen => (Err(Rejected::new(Reason::ForcedOpen, None)), None),
            State::Open if now >= self.until => {
                let t = self.next_generation(State::HalfOpen);
                self.probes = 1;
                self.leases.push(now.saturating_add(self.probe_timeout()));
                (Ok(self.generation), Some(t))
            }
            State::Open => (
                Err(Rejected::new(
                    Reason::BreakerOpen,
                    Some(Nanos::new(self.until - now)),
                )),
                None,
            ),
            State::HalfOpen if self.lease_expired(now) => {
                let t = self.open(now);
                let after = self.until.saturating_sub(now);
                (
                    Err(Rejected::new(Reason::BreakerOpen, Some(Nanos::new(after)))),
                    Some(t),
                )
            }
            State::HalfOpen if self.probes < self.c.half_open_probes => {
                self.leases.push(now.saturating_add(self.probe_timeout()));
                self.probes += 1;
                (Ok(self.generation), None)
            }
            State::HalfOpen => (
                Err(Rejected::new(
                    Reason::HalfOpenFull,
                    Some(Nanos::new(self.earliest_lease().saturating_sub(now))),
                )),
                None,
            ),
        }
    }

    fn record(&mut self, p: RawPermit, outcome: Option<Outcome>, now: u64) -> Option<Transition> {
        if p.generation() != self.generation {
            return None;
        }
        let slow = self
            .c
            .slow_call
            .is_some_and(|s| now.saturating_sub(p.issued_at().as_nanos()) >= s.duration.as_nanos());
        match (self.state, outcome) {
            (State::Closed | State::Disabled, Some(Outcome::Success | Outcome::Failure)) => {
                let failure = outcome == Some(Outcome::Failure);
                let key = match self.bucket_span() {
                    Some((span, _)) => {
                        self.newest_epoch = self.newest_epoch.max(now / span);
                        self.newest_epoch
                    }
                    None => 0,
                };
                self.records.push((key, failure, slow));
                self.calls += 1;
                self.failures += u64::from(failure);
                self.slow_calls += u64::from(slow);
                self.streak = if failure { self.streak + 1 } else { 0 };
                if self.state == State::Disabled {
                    return None;
                }
                let (calls, failures, slows) = self.window(now);
                let rate = |part: u64, r: f32| {
                    let ppm = (r * 1_000_000.0 + 0.5) as u64;
                    part * 1_000_000 >= ppm * calls
                };
                let c = self.c;
                let trip = c.failure_count.is_some_and(|n| failures >= u64::from(n))
                    || c.consecutive_failures.is_some_and(|n| self.streak >= n)
                    || (calls >= u64::from(c.minimum_calls)
                        && (c.failure_rate.is_some_and(|r| rate(failures, r))
                            || c.slow_call.is_some_and(|s| rate(slows, s.rate))));
                trip.then(|| self.open(now))
            }
            (State::HalfOpen, _) => {
                if self.lease_expired(now) {
                    return Some(self.open(now));
                }
                // Each probe holds its own lease (docs/semantics.md §2): this one's ends.
                let own = p
                    .issued_at()
                    .as_nanos()
                    .saturating_add(self.probe_timeout());
                if let Some(i) = self.leases.iter().position(|d| *d == own) {
                    self.leases.swap_remove(i);
                }
                if matches!(outcome, Some(Outcome::Success | Outcome::Failure)) {
                    self.calls += 1;
                    self.failures += u64::from(outcome == Some(Outcome::Failure));
                    self.slow_calls += u64::from(slow);
                }
                match outcome {
                    Some(Outcome::Failure) => Some(self.open(now)),
                    Some(Outcome::Success)
                        if self.successes + 1 >= self.c.effective_half_open_successes() =>
                    {
                        let t = self.next_generation(State::Closed);
                        self.clear_window();
                        self.streak = 0;
                        self.trips = 0;
                        Some(t)
                    }
                    Some(Outcome::Success) => {
                        self.successes += 1;
                        self.probes -= 1;
                        None
                    }
                    _ => {
                        self.probes -= 1;
                        None
                    }
                }
            }
            _ => None,
        }
    }

    fn override_to(&mut self, to: State) -> Option<Transition> {
        if self.state == to && to != State::Closed {
            return None;
        }
        let from = self.state;
        let t = self.next_generation(to);
        if to == State::Closed || to == State::Disabled || from == State::Disabled {
            self.clear_window();
        }
        if to == State::Closed {
            self.streak = 0;
            self.trips = 0;
        }
        (from != to).then_some(t)
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn breaker_matches_the_sequential_model(
        config in config(),
        start in prop_oneof![Just(0u64), 0..u64::MAX / 2],
        ops in prop::collection::vec(op(), 1..120),
    ) {
        let b: CircuitBreaker<8> = match CircuitBreaker::new(config) {
            Ok(b) => b,
            // The strategy keeps windows within 8 words.
            Err(e) => return Err(TestCaseError::fail(format!("{e}"))),
        };
        let mut model = Model::new(config);
        let mut now = start;
        let mut permits: Vec<RawPermit> = Vec::new();
        for op in ops {
            match op {
                Op::Acquire => {
                    let (got, got_t) = b.try_acquire_raw(Nanos::new(now));
                    let (want, want_t) = model.acquire(now);
                    prop_assert_eq!(got.map(|p| p.generation()), want);
                    prop_assert_eq!(got_t, want_t);
                    if let Ok(p) = got {
                        permits.push(p);
                    }
                }
                Op::Record(i, outcome) if !permits.is_empty() => {
                    let p = permits.swap_remove(i % permits.len());
                    let got = b.record_raw(p, outcome, Nanos::new(now));
                    prop_assert_eq!(got, model.record(p, Some(outcome), now));
                }
                Op::Release(i) if !permits.is_empty() => {
                    let p = permits.swap_remove(i % permits.len());
                    let got = b.release_raw(p, Nanos::new(now));
                    prop_assert_eq!(got, model.record(p, None, now));
                }
                Op::Record(..) | Op::Release(_) => {}
                Op::Advance(d) => now = now.saturating_add(d),
                Op::Rewind(d) => now = now.saturating_sub(d),
                Op::ForceOpen => prop_assert_eq!(b.force_open(Nanos::new(now)), model.override_to(State::ForcedOpen)),
                Op::Disable => prop_assert_eq!(b.disable(Nanos::new(now)), model.override_to(State::Disabled)),
                Op::Reset => prop_assert_eq!(b.reset(Nanos::new(now)), model.override_to(State::Closed)),
            }
            let snap = b.snapshot(Nanos::new(now));
            prop_assert_eq!(snap.state, model.state);
            prop_assert_eq!(snap.generation, model.generation);
            prop_assert_eq!(snap.probes_in_flight, model.probes);
            prop_assert!(snap.probes_in_flight <= config.half_open_probes);
            let (calls, failures, slow) = model.window(now);
            prop_assert_eq!((snap.window_calls, snap.window_failures, snap.window_slow_calls), (calls, failures, slow));
            prop_assert_eq!((snap.calls, snap.failures, snap.slow_calls), (model.calls, model.failures, model.slow_calls));
        }
    }

    #[test]
    fn no_config_time_or_call_order_panics(
        count in any::<Option<u32>>(),
        consecutive in any::<Option<u32>>(),
        rate in any::<Option<f32>>(),
        minimum in any::<u32>(),
        slow in any::<Option<(u64, f32)>>(),
        window in prop_oneof![
            any::<u32>().prop_map(Window::Count),
            (any::<u64>(), any::<u32>()).prop_map(|(s, b)| Window::Time { span: Nanos::new(s), buckets: b }),
        ],
        durations in any::<(u64, u64, f32, f32)>(),
        probes in any::<(u32, Option<u32>, Option<u64>, u64)>(),
        ops in prop::collection::vec((op(), any::<u64>()), 0..60),
    ) {
        let (open_for, open_max, factor, jitter) = durations;
        let (probes, successes, timeout, seed) = probes;
        let mut c = BreakerConfig::new()
            .failure_count(count)
            .consecutive_failures(consecutive)
            .failure_rate(rate)
            .minimum_calls(minimum)
            .window(window)
            .open_for(Nanos::new(open_for))
            .open_for_growth(Nanos::new(open_max), factor, jitter)
            .half_open(probes, successes)
            .probe_timeout(timeout.map(Nanos::new))
            .seed(seed);
        if let Some((d, r)) = slow {
            c = c.slow_call(Nanos::new(d), r);
        }
        let Ok(b) = CircuitBreaker::<4>::new(c) else { return Ok(()); };
        let mut permits: Vec<RawPermit> = Vec::new();
        for (op, t) in ops {
            let now = Nanos::new(t);
            match op {
                Op::Acquire => if let Ok(p) = b.try_acquire_raw(now).0 { permits.push(p) },
                Op::Record(i, o) if !permits.is_empty() => { let p = permits[i % permits.len()]; b.record_raw(p, o, now); }
                Op::Release(i) if !permits.is_empty() => { let p = permits[i % permits.len()]; b.release_raw(p, now); }
                Op::ForceOpen => { b.force_open(now); }
                Op::Disable => { b.disable(now); }
                Op::Reset => { b.reset(now); }
                _ => {}
            }
            let snap = b.snapshot(now);
            prop_assert!(snap.probes_in_flight <= probes);
        }
    }
}
