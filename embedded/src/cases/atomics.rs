//! portable-atomic's `AtomicU64`/`AtomicU32`, with the features the core is built with here:
//! the operations every primitive's CAS loop is made of, on values that cross 32-bit halves.

use core::hint::black_box;

use portable_atomic::{AtomicU32, AtomicU64, Ordering};

/// Built in a `static` by a `const fn`, as firmware places a primitive.
static SHARED: AtomicU64 = AtomicU64::new(0);

tests! {
    fn u64_fetch_add_carries_across_halves_and_wraps() {
        let word = AtomicU64::new(black_box(0xFFFF_FFFF));
        assert_eq!(word.fetch_add(1, Ordering::AcqRel), 0xFFFF_FFFF);
        assert_eq!(word.load(Ordering::Acquire), 1 << 32);
        word.store(u64::MAX - 1, Ordering::Release);
        assert_eq!(word.fetch_add(2, Ordering::AcqRel), u64::MAX - 1);
        assert_eq!(word.load(Ordering::Acquire), 0);
        assert_eq!(word.fetch_sub(1, Ordering::AcqRel), 0);
        assert_eq!(word.load(Ordering::Acquire), u64::MAX);
    }

    fn u64_compare_exchange_compares_all_64_bits() {
        let word = AtomicU64::new(black_box(1 << 40 | 5));
        // Same low half, different high half: must fail.
        assert_eq!(word.compare_exchange(5, 0, Ordering::AcqRel, Ordering::Acquire), Err(1 << 40 | 5));
        assert_eq!(word.compare_exchange(1 << 40 | 5, 7, Ordering::AcqRel, Ordering::Acquire), Ok(1 << 40 | 5));
        assert_eq!(word.compare_exchange(1 << 40 | 5, 0, Ordering::AcqRel, Ordering::Acquire), Err(7));
        assert_eq!(word.swap(u64::MAX, Ordering::AcqRel), 7);
        assert_eq!(word.load(Ordering::Acquire), u64::MAX);
    }

    fn u64_cas_loop_applies_a_pure_update() {
        let word = AtomicU64::new(black_box(3));
        let mut seen = word.load(Ordering::Acquire);
        loop {
            // The shape of every primitive: compute the next state from the one seen, publish it.
            let next = seen.saturating_mul(1 << 33);
            match word.compare_exchange_weak(seen, next, Ordering::AcqRel, Ordering::Acquire) {
                Ok(previous) => break assert_eq!(previous, 3),
                Err(actual) => seen = actual,
            }
        }
        assert_eq!(word.load(Ordering::Acquire), 3 << 33);
        assert_eq!(word.fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| v.checked_add(1)), Ok(3 << 33));
        assert_eq!(word.load(Ordering::Acquire), (3 << 33) + 1);
    }

    fn u64_fetch_max_and_min_compare_unsigned() {
        let word = AtomicU64::new(black_box(7));
        assert_eq!(word.fetch_max(1 << 50, Ordering::AcqRel), 7);
        assert_eq!(word.fetch_max(1 << 49, Ordering::AcqRel), 1 << 50);
        assert_eq!(word.load(Ordering::Acquire), 1 << 50);
        assert_eq!(word.fetch_min(1 << 63, Ordering::AcqRel), 1 << 50);
        assert_eq!(word.fetch_min(2, Ordering::AcqRel), 1 << 50);
        assert_eq!(word.load(Ordering::Acquire), 2);
    }

    fn u64_in_a_static_is_shared() {
        SHARED.store(0, Ordering::Release);
        assert_eq!(SHARED.fetch_add(black_box(1 << 33), Ordering::AcqRel), 0);
        assert_eq!(SHARED.fetch_or(1, Ordering::AcqRel), 1 << 33);
        assert_eq!(SHARED.fetch_and(!(1 << 33), Ordering::AcqRel), 1 << 33 | 1);
        assert_eq!(SHARED.load(Ordering::Acquire), 1);
    }

    fn u32_operations_wrap_and_compare() {
        let word = AtomicU32::new(black_box(u32::MAX));
        assert_eq!(word.fetch_add(1, Ordering::AcqRel), u32::MAX);
        assert_eq!(word.load(Ordering::Acquire), 0);
        assert_eq!(word.compare_exchange(1, 2, Ordering::AcqRel, Ordering::Acquire), Err(0));
        assert_eq!(word.compare_exchange(0, 9, Ordering::AcqRel, Ordering::Acquire), Ok(0));
        assert_eq!(word.fetch_max(1 << 31, Ordering::AcqRel), 9);
        assert_eq!(word.fetch_min(4, Ordering::AcqRel), 1 << 31);
        assert_eq!(word.load(Ordering::Acquire), 4);
    }
}
