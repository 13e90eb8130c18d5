//! The operations of `footprint.c`, on the core itself: each `footprint_*` function builds its
//! object at run time from a config the compiler cannot see (as the C API's `*_init` does;
//! with a constant config the checks would fold away) and calls the same operations.
#![no_std]

use core::cell::UnsafeCell;
use core::hint::black_box;
use core::mem::MaybeUninit;

use stanchion::adaptive::{AdaptiveConfig, AdaptiveLimiter, Outcome as AdaptiveOutcome};
use stanchion::breaker::{BreakerConfig, CircuitBreaker, Outcome};
use stanchion::{Bulkhead, BulkheadConfig, Nanos, RetryBudget, RetryBudgetConfig, TokenBucket, TokenBucketConfig};

#[cfg(all(target_arch = "arm", not(target_has_atomic = "ptr")))]
use cortex_m as _;

/// Static storage filled at run time, like the C objects.
struct Storage<T>(UnsafeCell<MaybeUninit<T>>);
// SAFETY: the firmware calls each function from one context, once.
unsafe impl<T> Sync for Storage<T> {}
impl<T> Storage<T> {
    const fn new() -> Self {
        Storage(UnsafeCell::new(MaybeUninit::uninit()))
    }
    fn put(&self, value: T) -> &T {
        // SAFETY: one caller at a time (see the Sync impl).
        unsafe { (*self.0.get()).write(value) }
    }
}

static BREAKER: Storage<CircuitBreaker> = Storage::new();
static BUCKET: Storage<TokenBucket> = Storage::new();
static BULKHEAD: Storage<Bulkhead> = Storage::new();
static BUDGET: Storage<RetryBudget> = Storage::new();
static ADAPTIVE: Storage<AdaptiveLimiter> = Storage::new();

/// Breaker: init, try_acquire, record, release.
#[no_mangle]
pub extern "C" fn footprint_breaker(now: u64, outcome: u32) -> u32 {
    let Ok(built) = CircuitBreaker::new(black_box(BreakerConfig::new())) else { return 1 };
    let b = BREAKER.put(built);
    let (admitted, _) = b.try_acquire_raw(Nanos::new(now));
    let Ok(permit) = admitted else { return 2 };
    let outcome = if outcome == 0 { Outcome::Success } else { Outcome::Failure };
    u32::from(b.record_raw(permit, outcome, Nanos::new(now)).is_some())
        + u32::from(b.release_raw(permit, Nanos::new(now)).is_some())
}

/// Token bucket: init, try_acquire, reserve.
#[no_mangle]
pub extern "C" fn footprint_bucket(now: u64, n: u32) -> u32 {
    let Ok(built) = TokenBucket::new(black_box(TokenBucketConfig::new(1))) else { return 1 };
    let b = BUCKET.put(built);
    u32::from(b.try_acquire(n, Nanos::new(now)).is_ok())
        + u32::from(b.reserve(n, Nanos::new(now), Nanos::new(now)).is_ok())
}

/// Bulkhead: init, try_acquire, release.
#[no_mangle]
pub extern "C" fn footprint_bulkhead(lane: u32) -> u32 {
    let Ok(built) = Bulkhead::new(black_box(BulkheadConfig::new(10))) else { return 1 };
    let b = BULKHEAD.put(built);
    match b.try_acquire(lane as usize) {
        Ok(permit) => {
            let mut raw = permit.into_raw();
            u32::from(b.release(&mut raw))
        }
        Err(_) => 2,
    }
}

/// Retry budget: init, deposit, try_retry.
#[no_mangle]
pub extern "C" fn footprint_retry_budget(now: u64) -> u32 {
    let Ok(built) = RetryBudget::new(black_box(RetryBudgetConfig::new(0.1))) else { return 1 };
    let b = BUDGET.put(built);
    b.deposit();
    u32::from(b.try_retry(Nanos::new(now)).is_ok())
}

/// Adaptive limiter: init, try_acquire, record, release.
#[no_mangle]
pub extern "C" fn footprint_adaptive(now: u64, outcome: u32) -> u32 {
    let Ok(built) = AdaptiveLimiter::new(black_box(AdaptiveConfig::new())) else { return 1 };
    let l = ADAPTIVE.put(built);
    let Ok(permit) = l.try_acquire(Nanos::new(now)) else { return 2 };
    let mut raw = permit.into_raw();
    let outcome = match outcome {
        0 => AdaptiveOutcome::Success,
        1 => AdaptiveOutcome::Failure,
        2 => AdaptiveOutcome::Ignored,
        _ => AdaptiveOutcome::Dropped,
    };
    u32::from(l.record_raw(&mut raw, outcome, Nanos::new(now)).is_some())
        + u32::from(l.release(&mut raw))
}

#[cfg(target_os = "none")]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    loop {}
}
