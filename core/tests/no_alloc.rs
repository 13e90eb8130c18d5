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
