//! The hot paths allocate nothing: a counting global allocator watches every primitive's
//! operations, and any allocation inside the measured region fails the test.
//!
//! The crate is `no_std` without `alloc`, so this is a guard against a dependency or a future
//! change sneaking one in, measured rather than assumed.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use stanchion::breaker::{BreakerConfig, CircuitBreaker, Outcome, Window};
use stanchion::{Backoff, BackoffConfig, Jitter, Nanos, RetryBudget, RetryBudgetConfig};

struct Counting;

thread_local! {
    // Per thread: the test harness's own threads may allocate while a test runs.
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged; it only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Runs `f` and returns how many allocations this thread made in it. Tests in this file run
/// one at a time (a mutex), since they share the counter.
fn allocations_in(f: impl FnOnce()) -> usize {
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    ALLOCATIONS.store(0, Ordering::SeqCst);
    COUNTING.with(|c| c.set(true));
    f();
    COUNTING.with(|c| c.set(false));
    ALLOCATIONS.load(Ordering::SeqCst)
}

#[test]
fn the_counter_sees_an_allocation() {
    // Proves the harness can fail: a Box is counted.
    let n = allocations_in(|| {
        std::hint::black_box(Box::new(7u64));
    });
    assert!(n >= 1);
}

#[test]
fn breaker_paths_allocate_nothing() {
    let time = CircuitBreaker::<10>::new(
        BreakerConfig::new()
            .failure_rate(Some(0.5))
            .slow_call(Nanos::from_secs(1), 0.5)
            .open_for(Nanos::from_millis(1)),
    )
    .unwrap();
    let count = CircuitBreaker::<10>::new(
        BreakerConfig::new()
            .window(Window::Count(100))
            .open_for(Nanos::from_millis(1)),
    )
    .unwrap();
    let n = allocations_in(|| {
        for b in [&time, &count] {
            for i in 0..2_000u64 {
                let now = Nanos::from_micros(i * 100);
                if let Ok(p) = b.try_acquire(now) {
                    let outcome = if i % 3 == 0 {
                        Outcome::Failure
                    } else {
                        Outcome::Success
                    };
                    p.record(outcome, now);
                }
                let _ = b.snapshot(now);
            }
            b.force_open(Nanos::ZERO);
            let _ = b.try_acquire(Nanos::ZERO);
            b.disable(Nanos::ZERO);
            b.reset(Nanos::ZERO);
        }
    });
    assert_eq!(n, 0);
}

#[test]
fn backoff_and_retry_budget_paths_allocate_nothing() {
    let backoff = Backoff::new(
        BackoffConfig::exponential(Nanos::from_millis(10), 2.0)
            .jitter(Jitter::Full)
            .max_delay(Nanos::from_secs(5))
            .max_attempts(20),
    )
    .unwrap();
    let budget = RetryBudget::new(RetryBudgetConfig::new(0.1)).unwrap();
    let n = allocations_in(|| {
        for attempt in 0..20 {
            std::hint::black_box(backoff.delay(attempt, 42));
        }
        let mut retrying = backoff.start(7, Nanos::ZERO);
        while retrying
            .next_delay(&backoff, Nanos::from_secs(1), None)
            .is_ok()
        {}
        for i in 0..1_000u64 {
            budget.deposit();
            let _ = budget.try_retry(Nanos::from_millis(i));
        }
        let _ = budget.snapshot(Nanos::ZERO);
    });
    assert_eq!(n, 0);
}

#[test]
fn limiter_paths_allocate_nothing() {
    use stanchion::{KeyedLimiter, TableFullPolicy, TokenBucket, TokenBucketConfig};
    let config = TokenBucketConfig::new(10).refill(7, Nanos::new(10));
    let bucket = TokenBucket::new(config).unwrap();
    let keyed = KeyedLimiter::<16>::new(config, TableFullPolicy::Reject).unwrap();
    let n = allocations_in(|| {
        for i in 0..2_000u64 {
            let now = Nanos::new(i * 3);
            let _ = bucket.try_acquire(1, now);
            let _ = bucket.reserve(2, now, Nanos::new(50));
            let _ = bucket.available(now);
            let _ = keyed.try_acquire(i % 40, 1, now);
            let _ = keyed.reserve(i % 7, 1, now, Nanos::new(20));
        }
        let _ = bucket.snapshot(Nanos::ZERO);
        let _ = keyed.snapshot(3, Nanos::ZERO);
    });
    assert_eq!(n, 0);
}

#[test]
fn bulkhead_paths_allocate_nothing() {
    use core::future::Future;
    use core::pin::pin;
    use core::task::{Context, Waker};
    use stanchion::{Bulkhead, BulkheadConfig};
    let bulkhead = Bulkhead::<4>::new(BulkheadConfig::new(2).lanes(&[2, 1])).unwrap();
    let mut cx = Context::from_waker(Waker::noop());
    let n = allocations_in(|| {
        for i in 0..1_000usize {
            let a = bulkhead.try_acquire(i % 2);
            let b = bulkhead.try_acquire(0);
            {
                let mut waiting = pin!(bulkhead.acquire(0));
                let _ = waiting.as_mut().poll(&mut cx);
                drop(a);
                let _ = waiting.as_mut().poll(&mut cx);
            }
            if let Ok(permit) = b {
                let mut raw = permit.into_raw();
                bulkhead.release(&mut raw);
            }
        }
        let _ = bulkhead.snapshot();
    });
    assert_eq!(n, 0);
}

#[test]
fn adaptive_limiter_paths_allocate_nothing() {
    use core::future::Future;
    use core::pin::pin;
    use core::task::{Context, Waker};
    use stanchion::adaptive::{Algorithm, Gradient2, Outcome, Vegas};
    use stanchion::{AdaptiveConfig, AdaptiveLimiter};
    let mut cx = Context::from_waker(Waker::noop());
    for algorithm in [
        Algorithm::default(),
        Algorithm::Vegas(Vegas::new()),
        Algorithm::Gradient2(Gradient2::new()),
    ] {
        // Windows of two samples, so records open, add to and close windows in turn.
        let config = AdaptiveConfig::new()
            .algorithm(algorithm)
            .limits(1, 2, 8)
            .window(Nanos::new(5), 2);
        let limiter = AdaptiveLimiter::<4>::new(config).unwrap();
        let clock = || Nanos::new(1);
        let n = allocations_in(|| {
            for i in 0..1_000u64 {
                let now = Nanos::new(i * 3);
                let a = limiter.try_acquire(now);
                let b = limiter.try_acquire(now);
                {
                    let mut waiting = pin!(limiter.acquire(&clock));
                    let _ = waiting.as_mut().poll(&mut cx);
                    if let Ok(permit) = a {
                        let outcome = if i % 7 == 0 {
                            Outcome::Dropped
                        } else {
                            Outcome::Success
                        };
                        permit.record(outcome, now + Nanos::new(i % 5));
                    }
                    let _ = waiting.as_mut().poll(&mut cx);
                }
                if let Ok(permit) = b {
                    let mut raw = permit.into_raw();
                    limiter.record_raw(&mut raw, Outcome::Failure, now + Nanos::new(2));
                }
            }
            let _ = limiter.snapshot();
        });
        assert_eq!(n, 0, "{algorithm:?}");
        assert!(limiter.snapshot().windows > 100, "{algorithm:?}");
    }
}
