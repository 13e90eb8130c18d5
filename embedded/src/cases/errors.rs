//! Refusals and config errors, formatted into fixed buffers as firmware without a heap would.

use core::hint::black_box;

use stanchion::{ConfigError, Nanos, Reason, Rejected};

use super::{display, FixedBuf};

tests! {
    fn reasons_keep_their_numbers_and_names() {
        let all = [
            (Reason::BreakerOpen, 1, "breaker_open"),
            (Reason::HalfOpenFull, 2, "half_open_full"),
            (Reason::ForcedOpen, 3, "forced_open"),
            (Reason::RateLimited, 4, "rate_limited"),
            (Reason::InsufficientCapacity, 5, "insufficient_capacity"),
            (Reason::BulkheadFull, 6, "bulkhead_full"),
            (Reason::QueueFull, 7, "queue_full"),
            (Reason::RetryBudgetExhausted, 8, "retry_budget_exhausted"),
            (Reason::TableFull, 9, "table_full"),
        ];
        for (reason, number, name) in all {
            assert_eq!(black_box(reason) as u8, number);
            assert_eq!(reason.as_str(), name);
            assert_eq!(display::<32>(reason).unwrap().as_str(), name);
        }
    }

    fn a_refusal_says_when_to_retry() {
        let refusal = Rejected::new(Reason::RateLimited, Some(Nanos::from_millis(black_box(20))));
        assert_eq!(display::<64>(refusal).unwrap().as_str(), "rate_limited (retry after 20ms)");
        let long = Rejected::new(Reason::BreakerOpen, Some(Nanos::from_secs(black_box(90)) + Nanos::new(1)));
        assert_eq!(display::<64>(long).unwrap().as_str(), "breaker_open (retry after 90.000000001s)");
        let hopeless = Rejected::new(Reason::QueueFull, black_box(None));
        assert_eq!(display::<64>(hopeless).unwrap().as_str(), "queue_full");
    }

    fn a_config_error_names_the_field_and_the_range() {
        let error = ConfigError::new(black_box("capacity"), "1..=4294967295");
        assert_eq!(display::<64>(error).unwrap().as_str(), "invalid `capacity`: must be in 1..=4294967295");
        assert_eq!(error.field, "capacity");
        assert_eq!(error.allowed, "1..=4294967295");
    }

    fn a_buffer_too_small_refuses_without_panicking() {
        let refusal = Rejected::new(Reason::RateLimited, Some(Nanos::from_millis(black_box(20))));
        assert!(display::<8>(refusal).is_err());
        assert!(display::<0>(Reason::TableFull).is_err());
        // What fitted before the refusal stays readable.
        let mut buf = FixedBuf::<16>::new();
        let result = core::fmt::Write::write_fmt(&mut buf, format_args!("{}", refusal));
        assert!(result.is_err());
        assert_eq!(buf.as_str(), "rate_limited");
    }
}
