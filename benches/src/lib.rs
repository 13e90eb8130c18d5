//! Helpers shared by the benchmarks in `benches/` and by the `bench-summary` report.
//!
//! Every benchmark measures one operation on one shared instance, on one thread and on
//! [`THREADS`]` = [1, 2]` threads at once, next to the floor: a bare `AtomicU64::fetch_add`
//! on one shared word ([`Floor`]), the cheapest thing a shared, thread-safe primitive can do.
//!
//! **What a multi-threaded figure means.** [`run_threads`] starts the threads together (a
//! barrier, outside the timed part) and each runs the operation `iters` times; the time
//! reported is that of the slowest thread. So a figure is the time one operation takes a
//! thread while the other threads hammer the same instance: with 2 threads, twice the
//! operations complete in that time. Floor and peers are measured the same way, so the
//! ratios compare like with like.

use core::sync::atomic::{AtomicU64, Ordering};
use core::time::Duration;
use std::sync::Barrier;
use std::time::Instant;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId};
use stanchion::Nanos;

/// Thread counts every shared-instance benchmark runs with.
pub const THREADS: [usize; 2] = [1, 2];

/// The criterion parameter naming a thread count: `"1t"`, `"2t"`.
pub fn threads_label(threads: usize) -> String {
    format!("{threads}t")
}

/// The id of the floor in every benchmark group.
pub const FLOOR: &str = "floor_fetch_add";

/// The floor: one `fetch_add` on one shared word (`Relaxed`, as a counter would use).
#[derive(Debug, Default)]
pub struct Floor(AtomicU64);

impl Floor {
    /// One operation of the floor.
    #[inline]
    pub fn op(&self) -> u64 {
        self.0.fetch_add(1, Ordering::Relaxed)
    }
}

/// Runs `op(thread, i)` for `i` in `0..iters` on each of `threads` threads, all started
/// together, and returns the slowest thread's time: the time per operation is that divided by
/// `iters` (see the crate docs). One thread runs inline, without spawning.
///
/// `op` is generic, not a trait object, so the call is inlined into each thread's loop and
/// adds nothing to what is measured.
pub fn run_threads<F>(threads: usize, iters: u64, op: F) -> Duration
where
    F: Fn(usize, u64) + Sync,
{
    if threads <= 1 {
        let start = Instant::now();
        for i in 0..iters {
            op(0, i);
        }
        return start.elapsed();
    }
    let barrier = Barrier::new(threads);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|thread| {
                let (op, barrier) = (&op, &barrier);
                scope.spawn(move || {
                    barrier.wait();
                    let start = Instant::now();
                    for i in 0..iters {
                        op(thread, i);
                    }
                    start.elapsed()
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|worker| worker.join().unwrap_or_default())
            .max()
            .unwrap_or_default()
    })
}

/// Benchmarks `op` in `group` as `id/<threads>t`: criterion's `iter_custom` over
/// [`run_threads`], so the reported time is per operation per thread.
pub fn bench_threads<F>(group: &mut BenchmarkGroup<'_, WallTime>, id: &str, threads: usize, op: F)
where
    F: Fn(usize, u64) + Sync,
{
    group.bench_function(BenchmarkId::new(id, threads_label(threads)), |b| {
        b.iter_custom(|iters| run_threads(threads, iters, &op))
    });
}

/// Benchmarks `op(i)` on one thread, as `id/1t`, for operations with per-thread mutable state.
/// `setup` runs once per criterion sample, outside the timed part, and makes that state.
pub fn bench_single<S, Setup, Op>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    id: &str,
    mut setup: Setup,
    mut op: Op,
) where
    Setup: FnMut() -> S,
    Op: FnMut(&mut S, u64),
{
    group.bench_function(BenchmarkId::new(id, threads_label(1)), |b| {
        b.iter_custom(|iters| {
            let mut state = setup();
            let start = Instant::now();
            for i in 0..iters {
                op(&mut state, i);
            }
            start.elapsed()
        })
    });
}

/// A monotonic clock read as a caller of stanchion would do it: `Instant` elapsed since an
/// origin, as [`Nanos`]. One `clock_gettime` (vDSO) per read, like `Instant::now`.
#[derive(Clone, Copy, Debug)]
pub struct InstantClock {
    origin: Instant,
}

impl InstantClock {
    /// A clock whose origin is now.
    pub fn new() -> InstantClock {
        InstantClock {
            origin: Instant::now(),
        }
    }

    /// Time since the origin.
    #[inline]
    pub fn now(&self) -> Nanos {
        Nanos::from_duration(self.origin.elapsed())
    }
}

impl Default for InstantClock {
    fn default() -> Self {
        InstantClock::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_thread_runs_every_iteration() {
        let floor = Floor::default();
        for threads in THREADS {
            run_threads(threads, 1000, |_, _| {
                floor.op();
            });
        }
        assert_eq!(floor.op(), 3000);
    }

    #[test]
    fn thread_labels_are_the_criterion_parameters() {
        assert_eq!(threads_label(2), "2t");
    }
}
