//! Bulkhead acquire + release against tokio's `Semaphore` and the floor.
//!
//! One operation is taking a permit and dropping it (which releases it): stanchion's
//! `Bulkhead::try_acquire(lane)` and tokio's `Semaphore::try_acquire`. Neither reads a clock.
//! Both have far more permits than threads, so every acquire succeeds. `stanchion` is the
//! default bulkhead (one lane, no wait queue); `stanchion_waiters` has a wait queue of 16
//! slots, as tokio's semaphore always has one, so its release checks for waiters too.

use core::hint::black_box;

use criterion::Criterion;
use stanchion::{Bulkhead, BulkheadConfig};
use stanchion_benches::{bench_threads, Floor, FLOOR, THREADS};
use tokio::sync::Semaphore;

const PERMITS: u32 = 1024;
const WAITERS: usize = 16;

fn acquire_release(c: &mut Criterion) {
    let mut group = c.benchmark_group("bulkhead");
    for threads in THREADS {
        let floor = Floor::default();
        bench_threads(&mut group, FLOOR, threads, |_, _| {
            black_box(floor.op());
        });

        let bulkhead: Bulkhead =
            Bulkhead::new(BulkheadConfig::new(PERMITS)).expect("valid bulkhead config");
        bench_threads(&mut group, "stanchion", threads, |_, _| {
            let permit = bulkhead.try_acquire(0);
            black_box(&permit);
            drop(permit);
        });

        let bulkhead: Bulkhead<WAITERS> =
            Bulkhead::new(BulkheadConfig::new(PERMITS).max_waiting(WAITERS as u32))
                .expect("valid bulkhead config");
        bench_threads(&mut group, "stanchion_waiters", threads, |_, _| {
            let permit = bulkhead.try_acquire(0);
            black_box(&permit);
            drop(permit);
        });

        let semaphore = Semaphore::new(PERMITS as usize);
        bench_threads(&mut group, "tokio_semaphore", threads, |_, _| {
            let permit = semaphore.try_acquire();
            black_box(&permit);
            drop(permit);
        });
    }
    group.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    acquire_release(&mut c);
    c.final_summary();
}
