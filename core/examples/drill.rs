//! The drill: a service calls a payments dependency that goes bad for 20 seconds, once with no
//! protection and once behind a rate limiter, a bulkhead, a circuit breaker and retries with a
//! budget. Everything runs in simulated time, so the run takes milliseconds and the same seed
//! prints the same table.
//!
//! Run: `cargo run --release -p stanchion --example drill`

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use stanchion::breaker::{
    BreakerConfig, CircuitBreaker, Outcome, RawPermit as BreakerPermit, State, Window,
};
use stanchion::bulkhead::RawPermit as BulkheadPermit;
use stanchion::rng::SplitMix64;
use stanchion::{
    Backoff, BackoffConfig, Bulkhead, BulkheadConfig, Jitter, Nanos, RetryBudget,
    RetryBudgetConfig, Retrying, TokenBucket, TokenBucketConfig,
};

const RUN: Nanos = Nanos::from_secs(60);
const ARRIVAL_EVERY: Nanos = Nanos::from_millis(5); // 200 requests per second
const OUTAGE: (Nanos, Nanos) = (Nanos::from_secs(15), Nanos::from_secs(35));
const BUCKET: Nanos = Nanos::from_secs(5);

/// The dependency: 20 ms and healthy, except during the outage, when 90 % of calls fail after
/// 2 s (a hung connection that finally errors).
fn payments(now: Nanos, rng: &mut SplitMix64) -> (Nanos, bool) {
    let sick = now >= OUTAGE.0 && now < OUTAGE.1;
    if sick && rng.next_u64() % 10 != 0 {
        (Nanos::from_secs(2), false)
    } else {
        (Nanos::from_millis(20), true)
    }
}

struct Protection {
    limiter: TokenBucket,
    bulkhead: Bulkhead,
    breaker: CircuitBreaker,
    budget: RetryBudget,
}

impl Protection {
    fn new() -> Protection {
        Protection {
            // Stay under what payments is provisioned for: 250/s, bursts of 50.
            limiter: TokenBucket::new(TokenBucketConfig::new(50).refill(1, Nanos::from_millis(4)))
                .expect("valid limiter"),
            // At most 40 calls in flight: the rest of the service keeps its workers.
            bulkhead: Bulkhead::new(BulkheadConfig::new(40)).expect("valid bulkhead"),
            breaker: CircuitBreaker::new(
                BreakerConfig::new()
                    .failure_count(None)
                    .failure_rate(Some(0.5))
                    .slow_call(Nanos::from_secs(1), 0.5)
                    .minimum_calls(20)
                    .window(Window::Count(50))
                    .open_for(Nanos::from_secs(2))
                    .open_for_growth(Nanos::from_secs(4), 2.0, 0.2),
            )
            .expect("valid breaker"),
            budget: RetryBudget::new(RetryBudgetConfig::new(0.1)).expect("valid budget"),
        }
    }
}

#[derive(Default, Clone, Copy)]
struct Row {
    offered: u64,
    succeeded: u64,
    failed: u64,
    refused: u64,
    calls: u64,
    retries: u64,
    peak_in_flight: u64,
    open_ms: u64,
    slowest_ms: u64,
}

enum Event {
    Attempt {
        id: u64,
        retrying: Retrying,
    },
    Done {
        id: u64,
        retrying: Retrying,
        ok: bool,
        breaker: Option<BreakerPermit>,
        bulkhead: Option<BulkheadPermit>,
    },
}

fn run(protected: bool, seed: u64) -> Vec<Row> {
    let guard = Protection::new();
    let backoff = Backoff::new(
        BackoffConfig::exponential(Nanos::from_millis(100), 2.0)
            .jitter(Jitter::Full)
            .max_attempts(3),
    )
    .expect("valid backoff");
    let mut rng = SplitMix64::new(seed);
    let mut rows = vec![Row::default(); (RUN.as_nanos() / BUCKET.as_nanos()) as usize];
    let mut queue: BinaryHeap<Reverse<(Nanos, u64)>> = BinaryHeap::new();
    let mut events: Vec<Option<Event>> = Vec::new();
    let mut in_flight = 0u64;
    let schedule = |queue: &mut BinaryHeap<_>, events: &mut Vec<Option<Event>>, at, e| {
        events.push(Some(e));
        queue.push(Reverse((at, events.len() as u64 - 1)));
    };
    let mut t = Nanos::ZERO;
    let mut id = 0;
    while t < RUN {
        let retrying = backoff.start(id, t);
        schedule(&mut queue, &mut events, t, Event::Attempt { id, retrying });
        id += 1;
        t = t + ARRIVAL_EVERY;
    }
    let mut last_state = (Nanos::ZERO, State::Closed);
    while let Some(Reverse((now, index))) = queue.pop() {
        let row_index = ((now.as_nanos() / BUCKET.as_nanos()) as usize).min(rows.len() - 1);
        let Some(event) = events[index as usize].take() else {
            continue;
        };
        match event {
            Event::Attempt { id, retrying } => {
                if retrying.retries() == 0 {
                    rows[row_index].offered += 1;
                    if protected {
                        guard.budget.deposit();
                    }
                } else {
                    rows[row_index].retries += 1;
                }
                let (mut breaker, mut bulkhead) = (None, None);
                if protected {
                    let admitted = guard.limiter.try_acquire(1, now).and_then(|()| {
                        let b = guard.bulkhead.try_acquire(0)?.into_raw();
                        bulkhead = Some(b);
                        let (permit, _) = guard.breaker.try_acquire_raw(now);
                        breaker = Some(permit?);
                        Ok(())
                    });
                    if admitted.is_err() {
                        if let Some(mut b) = bulkhead {
                            guard.bulkhead.release(&mut b);
                        }
                        // Failed fast: no thread, no socket held for it.
                        let waited = (now - retrying.started()).as_nanos() / 1_000_000;
                        rows[row_index].refused += 1;
                        rows[row_index].slowest_ms = rows[row_index].slowest_ms.max(waited);
                        continue;
                    }
                }
                in_flight += 1;
                rows[row_index].calls += 1;
                rows[row_index].peak_in_flight = rows[row_index].peak_in_flight.max(in_flight);
                let (latency, ok) = payments(now, &mut rng);
                schedule(
                    &mut queue,
                    &mut events,
                    now + latency,
                    Event::Done {
                        id,
                        retrying,
                        ok,
                        breaker,
                        bulkhead,
                    },
                );
            }
            Event::Done {
                id,
                mut retrying,
                ok,
                breaker,
                bulkhead,
            } => {
                in_flight -= 1;
                if let Some(permit) = breaker {
                    let outcome = if ok {
                        Outcome::Success
                    } else {
                        Outcome::Failure
                    };
                    guard.breaker.record_raw(permit, outcome, now);
                }
                if let Some(mut permit) = bulkhead {
                    guard.bulkhead.release(&mut permit);
                }
                let waited = (now - retrying.started()).as_nanos() / 1_000_000;
                if ok {
                    rows[row_index].succeeded += 1;
                    rows[row_index].slowest_ms = rows[row_index].slowest_ms.max(waited);
                    continue;
                }
                let retry = retrying
                    .next_delay(&backoff, now, None)
                    .ok()
                    .filter(|_| !protected || guard.budget.try_retry(now).is_ok());
                match retry {
                    Some(wait) => schedule(
                        &mut queue,
                        &mut events,
                        now + wait,
                        Event::Attempt { id, retrying },
                    ),
                    None => {
                        rows[row_index].failed += 1;
                        rows[row_index].slowest_ms = rows[row_index].slowest_ms.max(waited);
                    }
                }
            }
        }
        if protected {
            let state = guard.breaker.state();
            if last_state.1 != State::Closed {
                not_closed(&mut rows, last_state.0, now);
            }
            last_state = (now, state);
        }
    }
    rows
}

/// Adds the time from `from` to `to` to the "not closed" column of the rows it spans.
fn not_closed(rows: &mut [Row], from: Nanos, to: Nanos) {
    let mut t = from;
    while t < to {
        let index = (t.as_nanos() / BUCKET.as_nanos()) as usize;
        let Some(row) = rows.get_mut(index) else {
            return;
        };
        let end = to.min(Nanos::new((index as u64 + 1) * BUCKET.as_nanos()));
        row.open_ms += (end - t).as_nanos() / 1_000_000;
        t = end;
    }
}

fn line(label: &str, r: &Row) {
    println!(
        "{label:>6} {:>8} {:>9} {:>7} {:>8} {:>7} {:>8} {:>10} {:>9}ms {:>6}ms",
        r.offered,
        r.succeeded,
        r.failed,
        r.refused,
        r.calls,
        r.retries,
        r.peak_in_flight,
        r.open_ms,
        r.slowest_ms
    );
}

fn print(title: &str, rows: &[Row]) {
    println!("\n{title}");
    println!(
        "{:>6} {:>8} {:>9} {:>7} {:>8} {:>7} {:>8} {:>10} {:>11} {:>8}",
        "time",
        "offered",
        "succeeded",
        "failed",
        "refused",
        "calls",
        "retries",
        "in flight",
        "not closed",
        "slowest"
    );
    for (i, r) in rows.iter().enumerate() {
        line(
            &format!("{}s", i as u64 * BUCKET.as_nanos() / 1_000_000_000),
            r,
        );
    }
    let total = rows.iter().fold(Row::default(), |a, r| Row {
        offered: a.offered + r.offered,
        succeeded: a.succeeded + r.succeeded,
        failed: a.failed + r.failed,
        refused: a.refused + r.refused,
        calls: a.calls + r.calls,
        retries: a.retries + r.retries,
        peak_in_flight: a.peak_in_flight.max(r.peak_in_flight),
        open_ms: a.open_ms + r.open_ms,
        slowest_ms: a.slowest_ms.max(r.slowest_ms),
    });
    line("total", &total);
}

fn main() {
    let seed = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(7);
    println!(
        "Payments fails 90 % of calls after 2 s from {} to {}; 200 requests/s arrive for {} (seed {seed}).",
        OUTAGE.0, OUTAGE.1, RUN
    );
    let bare = run(false, seed);
    print(
        "Without protection: every request waits on payments, and retries pile on.",
        &bare,
    );
    let guarded = run(true, seed);
    print(
        "With limiter + bulkhead + breaker + retries on a budget: bad calls fail fast.",
        &guarded,
    );
    let peak = |rows: &[Row]| rows.iter().map(|r| r.peak_in_flight).max().unwrap_or(0);
    let calls = |rows: &[Row]| rows.iter().map(|r| r.calls).sum::<u64>();
    println!(
        "\nPeak calls in flight: {} without protection, {} with. Calls sent to payments: {} vs {}.",
        peak(&bare),
        peak(&guarded),
        calls(&bare),
        calls(&guarded)
    );
}
