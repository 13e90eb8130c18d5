//! The harness's own checks, run before the cases on every target: the atomics are the
//! interrupt-safe implementation this target is meant to get, and they, and the primitives
//! built on them, work from a real interrupt handler. Without these, the cases could pass on a
//! spinlock fallback that an interrupt would deadlock on in firmware.
//!
//! The handler cases need the harness's interrupts, so they live here rather than in `cases/`
//! (which also runs on the host). The last one is the pattern of an interrupt-driven executor:
//! a waker that pends an interrupt whose handler polls the future. The bulkhead wakes from
//! inside a release, so the handler re-enters the bulkhead in the middle of that operation.
//! The adaptive limiter's handler call closes a window and changes the limit there.
//!
//! | target                        | 32-bit atomics         | 64-bit atomics                   |
//! |-------------------------------|------------------------|----------------------------------|
//! | no CAS (thumbv6m, riscv32imc) | critical section       | critical section                 |
//! | 32-bit CAS (thumbv7m, 7em)    | native (ldrex/strex)   | interrupts masked around each op |

use core::cell::RefCell;
use core::future::Future;
use core::hint::black_box;
use core::pin::Pin;
use core::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

use critical_section::Mutex;
use portable_atomic::{AtomicU32, AtomicU64, Ordering};
use stanchion::adaptive::{AdaptiveConfig, AdaptiveLimiter, LimitChange, Outcome as Report};
use stanchion::breaker::{BreakerConfig, CircuitBreaker, Outcome, State, Transition};
use stanchion::bulkhead::Acquire;
use stanchion::{
    Bulkhead, BulkheadConfig, KeyedLimiter, Nanos, Reason, RetryBudget, RetryBudgetConfig,
    TableFullPolicy, TokenBucket, TokenBucketConfig,
};

use crate::interrupts;

/// Whether this target has compare-and-swap at its pointer width.
const HAS_CAS: bool = cfg!(target_has_atomic = "ptr");

static FROM_HANDLER: AtomicU64 = AtomicU64::new(0);

/// Primitives shared between thread mode and an interrupt handler, as firmware shares them.
static BUCKET: TokenBucket = match TokenBucket::new(TokenBucketConfig::new(4)) {
    Ok(bucket) => bucket,
    Err(_) => panic!(),
};
static BREAKER: CircuitBreaker =
    match CircuitBreaker::new(BreakerConfig::new().failure_count(Some(2))) {
        Ok(breaker) => breaker,
        Err(_) => panic!(),
    };
static BUDGET: RetryBudget =
    match RetryBudget::new(RetryBudgetConfig::new(0.5).min_retries_per_sec(0)) {
        Ok(budget) => budget,
        Err(_) => panic!(),
    };
static PEERS: KeyedLimiter<4> =
    match KeyedLimiter::new(TokenBucketConfig::new(1), TableFullPolicy::Reject) {
        Ok(limiter) => limiter,
        Err(_) => panic!(),
    };
static LINK: Bulkhead = match Bulkhead::new(BulkheadConfig::new(2)) {
    Ok(bulkhead) => bulkhead,
    Err(_) => panic!(),
};
/// Every report closes a window; a limit of 2.
static BACKEND: AdaptiveLimiter = match AdaptiveLimiter::new(
    AdaptiveConfig::new()
        .limits(1, 2, 10)
        .window(Nanos::ZERO, 1),
) {
    Ok(limiter) => limiter,
    Err(_) => panic!(),
};

/// The bulkhead whose waiter an interrupt-driven executor polls, and that waiter.
static POOL: Bulkhead<2> = match Bulkhead::new(BulkheadConfig::new(1)) {
    Ok(bulkhead) => bulkhead,
    Err(_) => panic!(),
};
static WAITER: Mutex<RefCell<Option<Acquire<'static, 2>>>> = Mutex::new(RefCell::new(None));
/// Permits the executor's handler was granted, and the `in_flight` the waking release had
/// left when the handler ran.
static SERVED: AtomicU32 = AtomicU32::new(0);
static IN_FLIGHT_SEEN: AtomicU32 = AtomicU32::new(u32::MAX);

/// A waker like an interrupt-driven executor's: waking it pends the software interrupt, whose
/// handler polls the future. The wake runs inside the bulkhead release that granted the
/// permit, so the handler re-enters the bulkhead in the middle of that operation.
static PENDING: RawWakerVTable =
    RawWakerVTable::new(clone_pending, pend_executor, pend_executor, drop_pending);

fn clone_pending(data: *const ()) -> RawWaker {
    RawWaker::new(data, &PENDING)
}

fn pend_executor(_: *const ()) {
    interrupts::in_handler(run_executor);
}

fn drop_pending(_: *const ()) {}

fn pending_waker() -> Waker {
    // SAFETY: the vtable ignores the data pointer and every function is safe to call from any
    // context, any number of times.
    unsafe { Waker::from_raw(RawWaker::new(core::ptr::null(), &PENDING)) }
}

/// The executor: polls the waiting future once, and releases its permit from the handler.
fn run_executor() {
    critical_section::with(|cs| {
        let mut waiter = WAITER.borrow_ref_mut(cs);
        let Some(future) = waiter.as_mut() else {
            return;
        };
        if let Poll::Ready(granted) =
            Pin::new(future).poll(&mut Context::from_waker(&pending_waker()))
        {
            let permit = granted.expect("the waiter was refused");
            IN_FLIGHT_SEEN.store(POOL.snapshot().in_flight, Ordering::Relaxed);
            SERVED.fetch_add(1, Ordering::Relaxed);
            // Released here, nested inside the release that woke this handler.
            drop(permit);
            *waiter = None;
        }
    });
}

/// Critical sections taken by `operations`.
fn critical_sections_in(operations: impl FnOnce()) -> usize {
    let before = interrupts::critical_sections_entered();
    operations();
    interrupts::critical_sections_entered().wrapping_sub(before)
}

tests! {
    fn u64_atomics_take_the_interrupt_safe_path() {
        let word = AtomicU64::new(black_box(1 << 32));
        let taken = critical_sections_in(|| {
            assert_eq!(word.fetch_add(1, Ordering::AcqRel), 1 << 32);
            assert_eq!(word.compare_exchange(1 << 32 | 1, 7, Ordering::AcqRel, Ordering::Acquire), Ok(1 << 32 | 1));
            assert_eq!(word.fetch_max(u64::MAX, Ordering::AcqRel), 7);
        });
        if HAS_CAS {
            // portable-atomic masks interrupts itself (`unsafe-assume-single-core`) and reports
            // that as lock-free; its global-lock fallback would report `false`.
            assert!(AtomicU64::is_lock_free(), "AtomicU64 uses the global-lock fallback");
            assert_eq!(taken, 0);
        } else {
            // The critical-section path: exactly one critical section per operation.
            assert_eq!(taken, 3);
        }
    }

    fn u32_atomics_are_native_or_take_a_critical_section() {
        let word = AtomicU32::new(black_box(u32::MAX));
        let taken = critical_sections_in(|| {
            assert_eq!(word.fetch_add(1, Ordering::AcqRel), u32::MAX);
            assert_eq!(word.compare_exchange(0, 9, Ordering::AcqRel, Ordering::Acquire), Ok(0));
        });
        if HAS_CAS {
            assert!(AtomicU32::is_always_lock_free());
            assert_eq!(taken, 0);
        } else {
            assert_eq!(taken, 2);
        }
    }

    fn atomics_leave_the_interrupt_mask_as_they_found_it() {
        let word = AtomicU64::new(0);
        assert!(interrupts::enabled());
        word.fetch_add(1, Ordering::AcqRel);
        assert!(interrupts::enabled(), "an atomic left interrupts masked");
        critical_section::with(|_| {
            word.fetch_add(1, Ordering::AcqRel);
            assert!(!interrupts::enabled(), "an atomic unmasked interrupts inside a critical section");
        });
        assert!(interrupts::enabled());
        assert_eq!(word.load(Ordering::Acquire), 2);
    }

    fn atomics_work_inside_an_interrupt_handler() {
        FROM_HANDLER.store(1, Ordering::Release);
        interrupts::in_handler(|| {
            FROM_HANDLER.fetch_add(1 << 32, Ordering::AcqRel);
        });
        assert_eq!(FROM_HANDLER.load(Ordering::Acquire), 1 << 32 | 1);
    }

    fn a_cas_loop_interrupted_by_a_handler_retries_and_keeps_both_updates() {
        FROM_HANDLER.store(5, Ordering::Release);
        let mut seen = FROM_HANDLER.load(Ordering::Acquire);
        let mut attempts = 0;
        loop {
            attempts += 1;
            if attempts == 1 {
                // The handler's update lands between this loop's load and its CAS.
                interrupts::in_handler(|| {
                    FROM_HANDLER.fetch_add(1 << 40, Ordering::AcqRel);
                });
            }
            match FROM_HANDLER.compare_exchange_weak(seen, seen + 1, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => break,
                Err(actual) => seen = actual,
            }
        }
        assert!(attempts >= 2);
        assert_eq!(FROM_HANDLER.load(Ordering::Acquire), (1 << 40) + 6);
    }

    fn primitives_work_inside_an_interrupt_handler() {
        let now = Nanos::from_secs(black_box(1));
        assert_eq!(BUCKET.try_acquire(3, now), Ok(()));
        let breaker_failure = BREAKER.try_acquire(now).unwrap();
        assert_eq!(breaker_failure.record(Outcome::Failure, now), None);
        BUDGET.deposit();
        let held = LINK.try_acquire(0).unwrap();
        let mut call = BACKEND.try_acquire(now).unwrap().into_raw();
        interrupts::in_handler(|| {
            let now = Nanos::from_secs(1);
            // The handler sees what thread mode took, and thread mode then sees the handler's.
            assert_eq!(BUCKET.try_acquire(1, now), Ok(()));
            assert_eq!(BUCKET.try_acquire(1, now).map_err(|r| r.reason), Err(Reason::RateLimited));
            let permit = BREAKER.try_acquire(now).unwrap();
            let tripped = Some(Transition { from: State::Closed, to: State::Open });
            assert_eq!(permit.record(Outcome::Failure, now), tripped);
            BUDGET.deposit();
            assert_eq!(PEERS.try_acquire(7, 1, now), Ok(()));
            let in_handler = LINK.try_acquire(0).unwrap();
            let refused = LINK.try_acquire(0).map(drop).map_err(|r| r.reason);
            assert_eq!(refused, Err(Reason::BulkheadFull));
            drop(in_handler);
            // The handler's call sees thread mode's in flight; its report closes a window of
            // 2 in flight of 2 and raises the limit, which thread mode then sees.
            let permit = BACKEND.try_acquire(now).unwrap();
            assert_eq!(permit.in_flight(), 2);
            let raised = permit.record(Report::Success, now + Nanos::from_millis(1));
            assert_eq!(raised, Some(LimitChange { from: 2, to: 3 }));
        });
        assert_eq!(BUCKET.available(now), 0);
        let refused = BREAKER.try_acquire(now).map(drop).map_err(|r| r.reason);
        assert_eq!(refused, Err(Reason::BreakerOpen));
        assert_eq!(BUDGET.try_retry(now), Ok(()), "two deposits of half a token");
        assert_eq!(PEERS.try_acquire(7, 1, now).map_err(|r| r.reason), Err(Reason::RateLimited));
        drop(held);
        assert_eq!((LINK.snapshot().in_flight, LINK.snapshot().peak), (0, 2));
        assert_eq!(BACKEND.limit(), 3);
        let lowered = BACKEND.record_raw(&mut call, Report::Dropped, now);
        assert_eq!(lowered, Some(LimitChange { from: 3, to: 2 }));
        assert_eq!((BACKEND.snapshot().in_flight, BACKEND.snapshot().windows), (0, 2));
    }

    fn a_waiter_is_polled_in_the_interrupt_its_wake_pends_mid_release() {
        let held = POOL.try_acquire(0).unwrap();
        critical_section::with(|cs| {
            let mut waiter = WAITER.borrow_ref_mut(cs);
            let future = waiter.insert(POOL.acquire(0));
            let first = Pin::new(future).poll(&mut Context::from_waker(&pending_waker()));
            assert!(first.is_pending());
        });
        assert_eq!(POOL.snapshot().waiting, 1);
        // The release hands the permit over and wakes the waiter: the handler runs before
        // `drop` returns, takes the permit, and gives it back from inside the handler.
        drop(held);
        assert_eq!(SERVED.load(Ordering::Relaxed), 1);
        assert_eq!(IN_FLIGHT_SEEN.load(Ordering::Relaxed), 1, "the handler held the one permit");
        let snapshot = POOL.snapshot();
        assert_eq!((snapshot.in_flight, snapshot.waiting, snapshot.peak), (0, 0, 1));
        assert!(critical_section::with(|cs| WAITER.borrow_ref(cs).is_none()));
        assert!(POOL.try_acquire(0).is_ok());
    }
}
