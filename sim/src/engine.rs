//! The simulation: users' requests enter the topology, each service serves them with its
//! workers and calls its dependencies through the run's policies, all in simulated time driven
//! by the event queue.

use stanchion::retry::{Failure, Next, RetryLoop, Retryable, StopReason};
use stanchion::rng::{mix, SplitMix64, GOLDEN_GAMMA};
use stanchion::{Deadline, Nanos};

use crate::distribution::unit;
use crate::metrics::{Answer, Metrics, Occupancy};
use crate::policies::{Ending, Guard, Permits};
use crate::queue::EventQueue;
use crate::scenario::{RunSpec, Scenario};
use crate::topology::{work, Entry, Pool};

/// How often, in events, the progress callback is told the simulated time.
const PROGRESS_EVERY: u64 = 1 << 16;

#[derive(Clone, Copy, Debug)]
enum Event {
    /// A user request arrives; `next` schedules the one after it.
    Arrival { next: bool },
    /// A job finished its own work.
    WorkDone { job: u32 },
    /// An attempt's time is up.
    Timeout { call: u32, token: u64 },
    /// A call's backoff wait is over.
    Retry { call: u32 },
    /// A window that changes a service's workers starts or ends.
    Capacity { service: usize },
}

/// Who waits for a call's answer.
#[derive(Clone, Copy, Debug)]
enum Origin {
    User { arrived: Nanos },
    Job(u32),
}

/// A call from a caller to a service, across its attempts.
#[derive(Clone, Copy, Debug)]
struct Call {
    callee: usize,
    origin: Origin,
    deadline: Deadline,
    /// The core's retry loop, when the policy retries: it makes every retry decision.
    retry: Option<RetryLoop>,
    /// The attempt in flight (0: none), so late answers and stale timeouts are ignored.
    token: u64,
    attempts: u32,
    permits: Permits,
}

/// A request being served by one service.
#[derive(Clone, Copy, Debug)]
struct Job {
    service: usize,
    call: u32,
    token: u64,
    step: usize,
    failed: bool,
    degraded: bool,
}

/// Slots reused through a free list, so memory follows what is in flight, not the run length.
struct Slab<T> {
    items: Vec<Option<T>>,
    free: Vec<u32>,
}

impl<T: Copy> Slab<T> {
    fn new() -> Self {
        Slab {
            items: Vec::new(),
            free: Vec::new(),
        }
    }
    fn insert(&mut self, item: T) -> u32 {
        match self.free.pop() {
            Some(i) => {
                self.items[i as usize] = Some(item);
                i
            }
            None => {
                self.items.push(Some(item));
                (self.items.len() - 1) as u32
            }
        }
    }
    fn get(&self, i: u32) -> Option<T> {
        self.items[i as usize]
    }
    fn set(&mut self, i: u32, item: T) {
        self.items[i as usize] = Some(item);
    }
    fn remove(&mut self, i: u32) -> T {
        self.free.push(i);
        self.items[i as usize].take().expect("a live slot")
    }
}

/// One run of a scenario.
pub struct Sim<'a> {
    scenario: &'a Scenario,
    guards: Vec<Option<Guard>>,
    queue: EventQueue<Event>,
    calls: Slab<Call>,
    jobs: Slab<Job>,
    pools: Vec<Pool>,
    arrivals: SplitMix64,
    service_rng: Vec<SplitMix64>,
    seed: u64,
    next_token: u64,
    call_serial: u64,
    arrived: u64,
    metrics: Metrics,
}

/// Runs `run` of `scenario`; `progress` hears the simulated time now and then.
///
/// ```
/// use stanchion_sim::engine::simulate;
/// use stanchion_sim::scenario::Scenario;
/// let s = Scenario::parse("drill", stanchion_sim::builtin::DRILL).unwrap();
/// let m = simulate(&s, &s.runs[1], s.seed, &mut |_| {});
/// assert!(m.buckets.iter().map(|b| b.offered).sum::<u64>() > 10_000);
/// ```
pub fn simulate(
    scenario: &Scenario,
    run: &RunSpec,
    seed: u64,
    progress: &mut dyn FnMut(Nanos),
) -> Metrics {
    let mut sim = Sim::new(scenario, run, seed);
    sim.run(progress);
    sim.metrics
}

impl<'a> Sim<'a> {
    fn new(scenario: &'a Scenario, run: &RunSpec, seed: u64) -> Sim<'a> {
        let caps: Vec<Option<u32>> = scenario.services.iter().map(|s| s.workers).collect();
        let mut metrics = Metrics::new(scenario.bucket, &caps);
        let guards: Vec<Option<Guard>> = run
            .policies
            .iter()
            .enumerate()
            .map(|(i, p)| {
                p.as_ref()
                    .map(|p| Guard::new(p, mix(seed ^ (i as u64 + 1).wrapping_mul(GOLDEN_GAMMA))))
            })
            .collect();
        for (i, guard) in guards.iter().enumerate() {
            if let Some(g) = guard {
                if let Some(b) = &g.bulkhead {
                    metrics.bulkheads[i] = Some(Occupancy::new(Some(b.snapshot().max_concurrent)));
                }
                if let Some(state) = g.breaker_state() {
                    metrics.breaker_state(i, Nanos::ZERO, state);
                }
                if let Some(limit) = g.adaptive_limit() {
                    metrics.limit(i, Nanos::ZERO, limit);
                }
            }
        }
        let stream = |k: u64| SplitMix64::new(mix(seed.wrapping_add(k.wrapping_mul(GOLDEN_GAMMA))));
        Sim {
            scenario,
            guards,
            queue: EventQueue::new(),
            calls: Slab::new(),
            jobs: Slab::new(),
            pools: scenario.services.iter().map(|_| Pool::default()).collect(),
            arrivals: stream(0),
            service_rng: (0..scenario.services.len() as u64)
                .map(|k| stream(k + 1))
                .collect(),
            seed,
            next_token: 1,
            call_serial: 0,
            arrived: 0,
            metrics,
        }
    }

    fn run(&mut self, progress: &mut dyn FnMut(Nanos)) {
        let load = self.scenario.load;
        for (service, s) in self.scenario.services.iter().enumerate() {
            for edge in s.capacity_edges() {
                self.queue.push(edge, Event::Capacity { service });
            }
        }
        for _ in 0..load.burst {
            self.queue.push(Nanos::ZERO, Event::Arrival { next: false });
        }
        if load.rate > 0.0 {
            self.queue.push(Nanos::ZERO, Event::Arrival { next: true });
        }
        let mut now = Nanos::ZERO;
        let mut events = 0u64;
        while let Some((at, event)) = self.queue.pop() {
            now = at;
            events += 1;
            if events % PROGRESS_EVERY == 0 {
                progress(now);
            }
            match event {
                Event::Arrival { next } => self.arrival(now, next),
                Event::WorkDone { job } => self.work_done(job, now),
                Event::Timeout { call, token } => {
                    if self.calls.get(call).is_some_and(|c| c.token == token) {
                        self.metrics.timeouts += 1;
                        self.attempt_end(call, Answer::Error, true, now);
                    }
                }
                Event::Retry { call } => self.retry(call, now),
                Event::Capacity { service } => self.capacity(service, now),
            }
        }
        progress(now);
        self.metrics.close(now);
    }

    fn arrival(&mut self, now: Nanos, next: bool) {
        self.arrived += 1;
        self.metrics.at(now).offered += 1;
        let load = self.scenario.load;
        if next {
            let more = match load.requests {
                Some(n) => self.arrived < n,
                None => true,
            };
            let mean = 1e9 / load.rate;
            let gap = if load.poisson {
                -unit(&mut self.arrivals).ln() * mean
            } else {
                mean
            };
            let at = now + Nanos::new(gap.round().max(1.0) as u64);
            if more && (load.requests.is_some() || at < self.scenario.duration) {
                self.queue.push(at, Event::Arrival { next: true });
            }
        }
        self.start_call(Origin::User { arrived: now }, load.target, now);
    }

    fn start_call(&mut self, origin: Origin, callee: usize, now: Nanos) {
        self.call_serial += 1;
        let call_seed = mix(self.seed ^ self.call_serial);
        let mut call = Call {
            callee,
            origin,
            deadline: Deadline::NEVER,
            retry: None,
            token: 0,
            attempts: 0,
            permits: Permits::default(),
        };
        if let Some(guard) = &self.guards[callee] {
            if let Some(timeout) = guard.spec.timeout {
                call.deadline = Deadline::after(now, timeout);
            }
            // The loop's start deposits the first attempt into the budget; a budget with no
            // retries to pay for is still fed, as every caller feeds a shared one.
            call.retry = guard
                .retry_policy(call_seed, call.deadline)
                .and_then(|policy| RetryLoop::start(&policy, now).ok());
            if let (None, Some(budget)) = (call.retry, &guard.budget) {
                budget.deposit();
            }
        }
        let id = self.calls.insert(call);
        self.attempt(id, now);
    }

    /// A backoff wait is over: the loop says whether the attempt may still start.
    fn retry(&mut self, id: u32, now: Nanos) {
        let mut call = self.calls.get(id).expect("a live call");
        let resumed = match (&self.guards[call.callee], call.retry.as_mut()) {
            (Some(guard), Some(retry)) => guard
                .retry_policy(0, call.deadline)
                .map(|policy| retry.resume(&policy, now).is_ok()),
            _ => None,
        };
        self.calls.set(id, call);
        match resumed {
            Some(false) => self.end_call(id, Answer::Error, now),
            _ => self.attempt(id, now),
        }
    }

    fn attempt(&mut self, id: u32, now: Nanos) {
        let mut call = self.calls.get(id).expect("a live call");
        if call.deadline.is_expired(now) {
            self.end_call(id, Answer::Error, now);
            return;
        }
        let callee = call.callee;
        let mut limit = call.deadline.expires_at();
        if let Some(guard) = &self.guards[callee] {
            if let Some(t) = guard.spec.attempt_timeout {
                limit = limit.min(now + t);
            }
            let admitted = guard.admit(now);
            self.observe(callee, now);
            match admitted {
                Ok(permits) => call.permits = permits,
                Err(_) => {
                    // Refused without calling: fail fast, no retry against a closed door.
                    self.metrics.refused += 1;
                    self.end_call(id, Answer::Error, now);
                    return;
                }
            }
        }
        if call.attempts > 0 {
            self.metrics.retries += 1;
            if callee == self.scenario.load.target {
                self.metrics.entry_retry(now);
            }
        }
        call.attempts += 1;
        call.token = self.next_token;
        self.next_token += 1;
        self.calls.set(id, call);
        if limit != Nanos::MAX {
            self.queue.push(
                limit,
                Event::Timeout {
                    call: id,
                    token: call.token,
                },
            );
        }
        self.arrive(callee, id, call.token, now);
    }

    fn arrive(&mut self, service: usize, call: u32, token: u64, now: Nanos) {
        self.metrics.reaching[service] += 1;
        if service == self.scenario.load.target {
            self.metrics.at(now).entry_calls += 1;
        }
        let spec = &self.scenario.services[service];
        let entry = self.pools[service].enter(spec.workers_at(now), spec.queue);
        if entry == Entry::Refused {
            self.metrics.pool_rejected[service] += 1;
            // A refusal for overload: to the caller's adaptive limit, a drop.
            self.reply(call, token, Answer::Error, true, now);
            return;
        }
        let job = self.jobs.insert(Job {
            service,
            call,
            token,
            step: 0,
            failed: false,
            degraded: false,
        });
        if entry == Entry::Queued {
            self.pools[service].waiting.push_back(job);
            self.queue_changed(service, now);
        } else {
            self.pool_changed(service, now);
            self.start_work(job, now);
        }
    }

    /// A service's workers change: new ones take waiting jobs at once; when there are fewer,
    /// the busy ones finish their work and retire (see [`Pool::leave`]).
    fn capacity(&mut self, service: usize, now: Nanos) {
        let workers = self.scenario.services[service].workers_at(now);
        self.metrics.pools[service].set_cap(now, workers, self.scenario.bucket);
        let mut started = Vec::new();
        let pool = &mut self.pools[service];
        while workers.is_none_or(|w| pool.busy < w) {
            let Some(job) = pool.waiting.pop_front() else {
                break;
            };
            pool.busy += 1;
            started.push(job);
        }
        if !started.is_empty() {
            self.pool_changed(service, now);
            self.queue_changed(service, now);
        }
        for job in started {
            self.start_work(job, now);
        }
    }

    fn pool_changed(&mut self, service: usize, now: Nanos) {
        let busy = self.pools[service].busy;
        self.metrics.pools[service].set(now, busy, self.scenario.bucket);
    }

    fn queue_changed(&mut self, service: usize, now: Nanos) {
        let waiting = self.pools[service].waiting.len() as u32;
        self.metrics.queues[service].set(now, waiting, self.scenario.bucket);
    }

    fn start_work(&mut self, id: u32, now: Nanos) {
        let mut job = self.jobs.get(id).expect("a live job");
        let spec = &self.scenario.services[job.service];
        let (took, failed) = work(spec, now, &mut self.service_rng[job.service]);
        job.failed = failed;
        self.jobs.set(id, job);
        self.queue.push(now + took, Event::WorkDone { job: id });
    }

    fn work_done(&mut self, id: u32, now: Nanos) {
        let job = self.jobs.get(id).expect("a live job");
        if job.failed {
            self.finish_job(id, Answer::Error, now);
        } else {
            self.next_step(id, now);
        }
    }

    fn next_step(&mut self, id: u32, now: Nanos) {
        let mut job = self.jobs.get(id).expect("a live job");
        let calls = &self.scenario.services[job.service].calls;
        match calls.get(job.step) {
            Some(&callee) => {
                job.step += 1;
                self.jobs.set(id, job);
                self.start_call(Origin::Job(id), callee, now);
            }
            None => {
                let answer = if job.degraded {
                    Answer::Degraded
                } else {
                    Answer::Ok
                };
                self.finish_job(id, answer, now);
            }
        }
    }

    fn finish_job(&mut self, id: u32, answer: Answer, now: Nanos) {
        let job = self.jobs.remove(id);
        let workers = self.scenario.services[job.service].workers_at(now);
        if let Some(next) = self.pools[job.service].leave(workers) {
            self.queue_changed(job.service, now);
            self.start_work(next, now);
        } else {
            self.pool_changed(job.service, now);
        }
        self.reply(job.call, job.token, answer, false, now);
    }

    /// A service answers an attempt (`refused`: at once, for want of workers and queue); a
    /// call that stopped waiting for it ignores it.
    fn reply(&mut self, id: u32, token: u64, answer: Answer, refused: bool, now: Nanos) {
        if self.calls.get(id).is_some_and(|c| c.token == token) {
            self.attempt_end(id, answer, refused, now);
        }
    }

    /// An attempt ended with `answer`; `dropped` when it timed out or was refused for overload.
    fn attempt_end(&mut self, id: u32, answer: Answer, dropped: bool, now: Nanos) {
        let ok = answer != Answer::Error;
        let ending = match (ok, dropped) {
            (true, _) => Ending::Answered,
            (false, true) => Ending::Dropped,
            (false, false) => Ending::Failed,
        };
        let mut call = self.calls.get(id).expect("a live call");
        call.token = 0;
        let callee = call.callee;
        let Some(guard) = &self.guards[callee] else {
            self.calls.set(id, call);
            self.end_call(id, answer, now);
            return;
        };
        guard.finish(call.permits, ending, now);
        call.permits = Permits::default();
        // The simulated dependency's errors are all worth retrying; refusals never got here
        // (they end the call in `attempt`).
        let next = match (guard.retry_policy(0, call.deadline), call.retry.as_mut()) {
            (Some(policy), Some(retry)) if !ok => {
                Some(retry.after_failure(&policy, now, Failure::Error(Retryable::Yes)))
            }
            _ => None,
        };
        self.calls.set(id, call);
        self.observe(callee, now);
        match next {
            Some(Next::Retry(wait)) => self.queue.push(now + wait, Event::Retry { call: id }),
            Some(Next::Stop(stop)) => {
                if matches!(stop, StopReason::BudgetExhausted(_)) {
                    self.metrics.budget_refused += 1;
                }
                self.end_call(id, answer, now);
            }
            None => self.end_call(id, answer, now),
        }
    }

    /// Logs the breaker's state and the bulkhead's occupancy after the core changed them.
    fn observe(&mut self, service: usize, now: Nanos) {
        let Some(guard) = &self.guards[service] else {
            return;
        };
        if let Some(state) = guard.breaker_state() {
            self.metrics.breaker_state(service, now, state);
        }
        if let (Some(level), Some(o)) = (
            guard.bulkhead_in_flight(),
            &mut self.metrics.bulkheads[service],
        ) {
            o.set(now, level, self.scenario.bucket);
        }
        if let Some(limit) = guard.adaptive_limit() {
            self.metrics.limit(service, now, limit);
        }
    }

    fn end_call(&mut self, id: u32, answer: Answer, now: Nanos) {
        let call = self.calls.remove(id);
        let fallback = self.guards[call.callee]
            .as_ref()
            .is_some_and(|g| g.spec.fallback);
        let answer = match answer {
            Answer::Error if fallback => Answer::Degraded,
            other => other,
        };
        match call.origin {
            Origin::User { arrived } => self.metrics.answered(arrived, now, answer),
            Origin::Job(job_id) => match answer {
                Answer::Error => self.finish_job(job_id, Answer::Error, now),
                Answer::Degraded | Answer::Ok => {
                    if answer == Answer::Degraded {
                        let mut job = self.jobs.get(job_id).expect("a live job");
                        job.degraded = true;
                        self.jobs.set(job_id, job);
                    }
                    self.next_step(job_id, now);
                }
            },
        }
    }
}
