//! Deadline: an instant after which no call starts; saturating, never negative, `const`.

use core::hint::black_box;

use stanchion::{Deadline, Nanos};

/// A deadline computed at compile time, as firmware may fix one in a `static`.
static BOOT_WINDOW: Deadline = Deadline::after(Nanos::from_secs(1), Nanos::from_millis(500));

tests! {
    fn a_static_deadline_counts_down_to_zero() {
        assert_eq!(BOOT_WINDOW.expires_at(), Nanos::from_millis(1_500));
        assert_eq!(
            BOOT_WINDOW.remaining(Nanos::from_millis(black_box(1_200))),
            Nanos::from_millis(300)
        );
        assert!(!BOOT_WINDOW.is_expired(Nanos::from_millis(1_500) - Nanos::new(1)));
        // Expired from the instant itself on: no time remains.
        assert!(BOOT_WINDOW.is_expired(Nanos::from_millis(1_500)));
        assert_eq!(
            BOOT_WINDOW.remaining(Nanos::from_millis(1_500)),
            Nanos::ZERO
        );
        assert_eq!(
            BOOT_WINDOW.remaining(Nanos::MAX),
            Nanos::ZERO,
            "never negative"
        );
    }

    fn deadlines_saturate_and_combine() {
        let now = Nanos::new(black_box(u64::MAX - 5));
        assert_eq!(Deadline::after(now, Nanos::new(10)), Deadline::NEVER);
        assert_eq!(Deadline::NEVER.expires_at(), Nanos::MAX);
        assert!(!Deadline::NEVER.is_expired(now));
        assert_eq!(Deadline::NEVER.remaining(Nanos::ZERO), Nanos::MAX);
        let outer = Deadline::at(Nanos::new(black_box(100)));
        let inner = Deadline::after(Nanos::new(50), Nanos::new(80));
        assert_eq!(outer.min(inner), outer);
        assert_eq!(inner.min(outer), outer);
        assert_eq!(Deadline::from(Nanos::new(100)), outer);
        assert!(Deadline::at(Nanos::ZERO).is_expired(Nanos::ZERO));
        assert!(outer < inner);
        assert_eq!(core::mem::size_of::<Deadline>(), 8);
    }
}
