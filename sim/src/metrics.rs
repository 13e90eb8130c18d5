//! What a run measures: per-bucket counts and latencies of user requests, calls reaching each
//! service, retries, time-weighted occupancy of pools and bulkheads, and the breakers' states.

use stanchion::breaker::State;
use stanchion::Nanos;

/// How a user request, or a call, ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// Served in full.
    Ok,
    /// Served, with a fallback standing in for a failed dependency.
    Degraded,
    /// An error.
    Error,
}

/// One slice of the timeline.
#[derive(Clone, Debug, Default)]
pub struct Bucket {
    /// User requests that arrived.
    pub offered: u64,
    /// User requests served in full (by completion time).
    pub ok: u64,
    /// User requests served by a fallback.
    pub degraded: u64,
    /// User requests that got an error.
    pub errors: u64,
    /// Attempts that reached the entry service (retries included).
    pub entry_calls: u64,
    /// Latencies of the user requests that completed in this bucket, in nanoseconds.
    pub latencies: Vec<u64>,
}

/// A level over time (busy workers, calls in flight), integrated per bucket.
///
/// ```
/// use stanchion::Nanos;
/// use stanchion_sim::metrics::Occupancy;
/// let second = Nanos::from_secs(1);
/// let mut o = Occupancy::new(Some(4));
/// o.set(Nanos::from_millis(500), 4, second); // full from 0.5 s
/// o.set(Nanos::from_millis(1500), 2, second); // half from 1.5 s
/// o.advance(Nanos::from_secs(2), second);
/// assert_eq!(o.mean(0, second), 2.0);
/// assert_eq!(o.mean(1, second), 3.0);
/// assert_eq!(o.saturated, second);
/// ```
#[derive(Clone, Debug)]
pub struct Occupancy {
    /// The level at which it is full, if any.
    pub cap: Option<u32>,
    level: u32,
    since: Nanos,
    /// Level × time per bucket, in level·nanoseconds.
    pub area: Vec<f64>,
    /// The highest level seen in each bucket.
    pub peak: Vec<u32>,
    /// Time spent at the cap.
    pub saturated: Nanos,
}

impl Occupancy {
    /// Starts at level 0.
    pub fn new(cap: Option<u32>) -> Occupancy {
        Occupancy {
            cap,
            level: 0,
            since: Nanos::ZERO,
            area: Vec::new(),
            peak: Vec::new(),
            saturated: Nanos::ZERO,
        }
    }

    /// The level changes to `level` at `now`.
    pub fn set(&mut self, now: Nanos, level: u32, bucket: Nanos) {
        self.advance(now, bucket);
        self.level = level;
        let b = (now.as_nanos() / bucket.as_nanos()) as usize;
        grow(&mut self.peak, b);
        self.peak[b] = self.peak[b].max(level);
    }

    /// The cap changes to `cap` at `now` (a service's workers, in a window that changes them).
    pub fn set_cap(&mut self, now: Nanos, cap: Option<u32>, bucket: Nanos) {
        self.advance(now, bucket);
        self.cap = cap;
    }

    /// Accounts the current level up to `now`.
    pub fn advance(&mut self, now: Nanos, bucket: Nanos) {
        if now <= self.since {
            return;
        }
        if self.cap.is_some_and(|cap| self.level >= cap) {
            self.saturated = self.saturated + (now - self.since);
        }
        if self.level > 0 {
            let width = bucket.as_nanos();
            let mut t = self.since.as_nanos();
            while t < now.as_nanos() {
                let b = (t / width) as usize;
                let end = ((b as u64 + 1) * width).min(now.as_nanos());
                grow(&mut self.area, b);
                self.area[b] += f64::from(self.level) * (end - t) as f64;
                t = end;
            }
        }
        self.since = now;
    }

    /// The mean level in bucket `b`.
    pub fn mean(&self, b: usize, bucket: Nanos) -> f64 {
        self.area.get(b).copied().unwrap_or(0.0) / bucket.as_nanos() as f64
    }
}

fn grow<T: Default + Clone>(v: &mut Vec<T>, index: usize) {
    if v.len() <= index {
        v.resize(index + 1, T::default());
    }
}

/// Everything one run measured.
#[derive(Clone, Debug)]
pub struct Metrics {
    /// The width of a bucket.
    pub bucket: Nanos,
    /// The timeline.
    pub buckets: Vec<Bucket>,
    /// Attempts that reached each service (indexed like the scenario's services).
    pub reaching: Vec<u64>,
    /// Requests each service refused because its workers and queue were full.
    pub pool_rejected: Vec<u64>,
    /// Busy workers of each service.
    pub pools: Vec<Occupancy>,
    /// Requests waiting for a worker at each service.
    pub queues: Vec<Occupancy>,
    /// Calls in flight through each service's bulkhead, where callers have one.
    pub bulkheads: Vec<Option<Occupancy>>,
    /// Each breaker's state changes, as (time, new state), starting closed at zero.
    pub breakers: Vec<Option<Vec<(Nanos, State)>>>,
    /// Each adaptive limit's changes, as (time, new limit), starting with its initial limit
    /// at zero.
    pub limits: Vec<Option<Vec<(Nanos, u32)>>>,
    /// The most retries sent to the entry service within one millisecond: how well jitter
    /// spread them.
    pub peak_per_ms: u64,
    /// The millisecond being counted for `peak_per_ms`, and its count so far.
    ms_count: (u64, u64),
    /// Retries sent (attempts after the first).
    pub retries: u64,
    /// Retries the budget refused.
    pub budget_refused: u64,
    /// Attempts a breaker, bulkhead or rate limiter refused.
    pub refused: u64,
    /// Attempts abandoned at their timeout.
    pub timeouts: u64,
    /// When the last user request completed.
    pub last_answer: Nanos,
    /// When the last event happened.
    pub end: Nanos,
}

impl Metrics {
    /// Empty metrics for `services` services.
    pub fn new(bucket: Nanos, caps: &[Option<u32>]) -> Metrics {
        Metrics {
            bucket,
            buckets: Vec::new(),
            reaching: vec![0; caps.len()],
            pool_rejected: vec![0; caps.len()],
            pools: caps.iter().map(|&cap| Occupancy::new(cap)).collect(),
            queues: caps.iter().map(|_| Occupancy::new(None)).collect(),
            bulkheads: vec![None; caps.len()],
            breakers: vec![None; caps.len()],
            limits: vec![None; caps.len()],
            peak_per_ms: 0,
            ms_count: (u64::MAX, 0),
            retries: 0,
            budget_refused: 0,
            refused: 0,
            timeouts: 0,
            last_answer: Nanos::ZERO,
            end: Nanos::ZERO,
        }
    }

    /// The bucket holding `now`.
    pub fn at(&mut self, now: Nanos) -> &mut Bucket {
        let b = (now.as_nanos() / self.bucket.as_nanos()) as usize;
        grow(&mut self.buckets, b);
        &mut self.buckets[b]
    }

    /// A retry was sent to the entry service at `now` (events come in time order).
    pub fn entry_retry(&mut self, now: Nanos) {
        let ms = now.as_nanos() / 1_000_000;
        self.ms_count = if self.ms_count.0 == ms {
            (ms, self.ms_count.1 + 1)
        } else {
            (ms, 1)
        };
        self.peak_per_ms = self.peak_per_ms.max(self.ms_count.1);
    }

    /// A user request that arrived at `arrived` got `answer` at `now`.
    ///
    /// ```
    /// use stanchion::Nanos;
    /// use stanchion_sim::metrics::{Answer, Metrics};
    /// let mut m = Metrics::new(Nanos::from_secs(1), &[None]);
    /// m.answered(Nanos::from_millis(900), Nanos::from_millis(1100), Answer::Degraded);
    /// assert_eq!(m.buckets[1].degraded, 1);
    /// assert_eq!(m.buckets[1].latencies, [200_000_000]);
    /// ```
    pub fn answered(&mut self, arrived: Nanos, now: Nanos, answer: Answer) {
        self.last_answer = self.last_answer.max(now);
        let bucket = self.at(now);
        match answer {
            Answer::Ok => bucket.ok += 1,
            Answer::Degraded => bucket.degraded += 1,
            Answer::Error => bucket.errors += 1,
        }
        bucket.latencies.push((now - arrived).as_nanos());
    }

    /// Logs a breaker's state if it changed.
    pub fn breaker_state(&mut self, service: usize, now: Nanos, state: State) {
        let log = self.breakers[service].get_or_insert_with(|| vec![(Nanos::ZERO, State::Closed)]);
        if log.last().map(|&(_, s)| s) != Some(state) {
            log.push((now, state));
        }
    }

    /// Logs an adaptive limit if it changed (the first call logs the initial limit at zero).
    ///
    /// ```
    /// use stanchion::Nanos;
    /// use stanchion_sim::metrics::Metrics;
    /// let mut m = Metrics::new(Nanos::from_secs(1), &[None]);
    /// m.limit(0, Nanos::ZERO, 20);
    /// m.limit(0, Nanos::from_millis(5), 20);
    /// m.limit(0, Nanos::from_millis(9), 18);
    /// assert_eq!(m.limits[0].as_deref(), Some(&[(Nanos::ZERO, 20), (Nanos::from_millis(9), 18)][..]));
    /// ```
    pub fn limit(&mut self, service: usize, now: Nanos, limit: u32) {
        let log = self.limits[service].get_or_insert_with(|| vec![(Nanos::ZERO, limit)]);
        if log.last().map(|&(_, l)| l) != Some(limit) {
            log.push((now, limit));
        }
    }

    /// Closes the occupancy integrals at the end of the run.
    pub fn close(&mut self, end: Nanos) {
        self.end = end;
        let bucket = self.bucket;
        for o in self
            .pools
            .iter_mut()
            .chain(self.queues.iter_mut())
            .chain(self.bulkheads.iter_mut().flatten())
        {
            o.advance(end, bucket);
        }
        // Every bucket up to the end exists, so timelines have no holes.
        let last = (end.as_nanos() / bucket.as_nanos()) as usize;
        grow(&mut self.buckets, last);
    }
}
