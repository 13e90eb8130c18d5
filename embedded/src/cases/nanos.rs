//! `Nanos`: u64 nanoseconds whose arithmetic saturates, so 32-bit targets do the same u64 maths.

use core::hint::black_box;
use core::time::Duration;

use stanchion::Nanos;

use super::display;

tests! {
    fn units_convert_exactly() {
        assert_eq!(Nanos::from_micros(black_box(3)).as_nanos(), 3_000);
        assert_eq!(Nanos::from_millis(black_box(1_500)), Nanos::from_secs(1) + Nanos::from_millis(500));
        assert_eq!(Nanos::from_secs(black_box(18_446_744_073)).as_nanos(), 18_446_744_073_000_000_000);
        assert_eq!(u64::from(Nanos::from(black_box(7u64))), 7);
    }

    fn constructors_saturate_at_max() {
        assert_eq!(Nanos::from_secs(black_box(18_446_744_074)), Nanos::MAX);
        assert_eq!(Nanos::from_millis(black_box(u64::MAX)), Nanos::MAX);
        assert_eq!(Nanos::from_micros(black_box(u64::MAX / 999)), Nanos::MAX);
    }

    fn addition_and_subtraction_saturate() {
        let max = black_box(Nanos::MAX);
        assert_eq!(max + Nanos::new(1), Nanos::MAX);
        assert_eq!(max.saturating_add(max), Nanos::MAX);
        assert_eq!(black_box(Nanos::ZERO) - Nanos::new(1), Nanos::ZERO);
        assert_eq!(Nanos::new(black_box(3)).saturating_sub(Nanos::new(5)), Nanos::ZERO);
        assert_eq!(max - Nanos::new(1), Nanos::new(u64::MAX - 1));
        // Carries across the 32-bit halves that a 32-bit core adds separately.
        assert_eq!(Nanos::new(black_box(0xFFFF_FFFF)) + Nanos::new(1), Nanos::new(1 << 32));
        assert_eq!(Nanos::new(black_box(1 << 32)) - Nanos::new(1), Nanos::new(0xFFFF_FFFF));
    }

    fn multiplication_saturates() {
        assert_eq!(Nanos::from_secs(black_box(2)).saturating_mul(3), Nanos::from_secs(6));
        assert_eq!(Nanos::new(black_box(1 << 32)).saturating_mul(1 << 31), Nanos::new(1 << 63));
        assert_eq!(Nanos::new(black_box(1 << 32)).saturating_mul(1 << 32), Nanos::MAX);
        assert_eq!(Nanos::MAX.saturating_mul(black_box(0)), Nanos::ZERO);
    }

    fn max_and_min_pick_by_value() {
        let (early, late) = (Nanos::new(black_box(3)), Nanos::new(black_box(1 << 40)));
        assert_eq!(early.max(late), late);
        assert_eq!(late.max(early), late);
        assert_eq!(early.min(late), early);
        assert!(early < late);
    }

    fn durations_convert_both_ways_and_saturate() {
        assert_eq!(Nanos::from_duration(black_box(Duration::new(1, 500))).as_nanos(), 1_000_000_500);
        assert_eq!(Nanos::from_duration(black_box(Duration::MAX)), Nanos::MAX);
        assert_eq!(Nanos::MAX.as_duration(), Duration::new(18_446_744_073, 709_551_615));
        assert_eq!(Duration::from(Nanos::from_millis(black_box(5))), Duration::from_millis(5));
    }

    fn display_and_debug_read_as_durations() {
        assert_eq!(display::<32>(Nanos::from_millis(black_box(1_500))).unwrap().as_str(), "1.5s");
        assert_eq!(display::<32>(Nanos::new(black_box(20))).unwrap().as_str(), "20ns");
        assert_eq!(display::<32>(Nanos::MAX).unwrap().as_str(), "18446744073.709551615s");
        let mut buf = super::FixedBuf::<16>::new();
        core::fmt::Write::write_fmt(&mut buf, format_args!("{:?}", Nanos::new(black_box(7)))).unwrap();
        assert_eq!(buf.as_str(), "7ns");
    }
}
