//! The harness's own checks, run before the cases on every target: the atomics are the
//! interrupt-safe implementation this target is meant to get, and they work from a real
//! interrupt handler. Without these, the cases could pass on a spinlock fallback that an
//! interrupt would deadlock on in firmware.
//!
//! | target                        | 32-bit atomics         | 64-bit atomics                   |
//! |-------------------------------|------------------------|----------------------------------|
//! | no CAS (thumbv6m, riscv32imc) | critical section       | critical section                 |
//! | 32-bit CAS (thumbv7m, 7em)    | native (ldrex/strex)   | interrupts masked around each op |

use core::hint::black_box;

use portable_atomic::{AtomicU32, AtomicU64, Ordering};

use crate::interrupts;

/// Whether this target has compare-and-swap at its pointer width.
const HAS_CAS: bool = cfg!(target_has_atomic = "ptr");

static FROM_HANDLER: AtomicU64 = AtomicU64::new(0);

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
}
