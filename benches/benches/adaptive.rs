//! Adaptive limiter acquire + record against the bulkhead's acquire + release and the floor.
//!
//! One operation is taking a permit and reporting it: `AdaptiveLimiter::try_acquire(now)` and
//! `Permit::record(Success, now)`, next to the fixed `Bulkhead::try_acquire(0)` and a drop of
//! its permit. The caller already has `now`, which advances 1 ns per call. Every limiter has
//! far more room than threads (a limit of 1000), so every acquire succeeds.
//!
//! - `adaptive`: the default config (AIMD, windows of 10 samples and 1 s). With `now` moving
//!   1 ns per call no window reaches 1 s within a run, so each record only folds its sample.
//! - `adaptive_window_10`: windows of 10 samples and no minimum age, so every tenth record
//!   closes a window and runs the AIMD update: the update's cost, amortized.
//! - `adaptive_gradient2_window_10`: the same with Gradient2, the heaviest update.
//!
//! The target from the issue: acquire + record within 1.5× the bulkhead's acquire + release.

use core::hint::black_box;

use criterion::Criterion;
use stanchion::adaptive::{AdaptiveConfig, AdaptiveLimiter, Algorithm, Gradient2, Outcome};
use stanchion::{Bulkhead, BulkheadConfig, Nanos};
use stanchion_benches::{bench_threads, Floor, FLOOR, THREADS};

const LIMIT: u32 = 1000;

fn limiter(config: AdaptiveConfig) -> AdaptiveLimiter {
    AdaptiveLimiter::new(config.limits(1, LIMIT, LIMIT)).expect("valid adaptive config")
}

fn acquire_record(c: &mut Criterion) {
    let mut group = c.benchmark_group("adaptive");
    for threads in THREADS {
        let floor = Floor::default();
        bench_threads(&mut group, FLOOR, threads, |_, _| {
            black_box(floor.op());
        });

        let bulkhead: Bulkhead =
            Bulkhead::new(BulkheadConfig::new(LIMIT)).expect("valid bulkhead config");
        bench_threads(&mut group, "bulkhead", threads, |_, _| {
            let permit = bulkhead.try_acquire(0);
            black_box(&permit);
            drop(permit);
        });

        let adaptive = limiter(AdaptiveConfig::new());
        bench_threads(&mut group, "adaptive", threads, |_, i| {
            let now = Nanos::new(i);
            let permit = adaptive.try_acquire(now).unwrap();
            black_box(permit.record(Outcome::Success, now));
        });

        let adaptive = limiter(AdaptiveConfig::new().window(Nanos::ZERO, 10));
        bench_threads(&mut group, "adaptive_window_10", threads, |_, i| {
            let now = Nanos::new(i);
            let permit = adaptive.try_acquire(now).unwrap();
            black_box(permit.record(Outcome::Success, now));
        });

        let config = AdaptiveConfig::new()
            .algorithm(Algorithm::Gradient2(Gradient2::new()))
            .window(Nanos::ZERO, 10);
        let adaptive = limiter(config);
        bench_threads(
            &mut group,
            "adaptive_gradient2_window_10",
            threads,
            |_, i| {
                let now = Nanos::new(i);
                let permit = adaptive.try_acquire(now).unwrap();
                black_box(permit.record(Outcome::Success, now));
            },
        );
    }
    group.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    acquire_record(&mut c);
    c.final_summary();
}
