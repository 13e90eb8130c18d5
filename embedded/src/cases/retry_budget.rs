//! Retry budget: deposits in millionths of a token (the `f64` ratio converted on the target),
//! withdrawals from the deposits first, then from the floor, a GCRA with an exact `retry_after`.

use core::hint::black_box;

use stanchion::{Nanos, Reason, Rejected, RetryBudget, RetryBudgetConfig, RetryBudgetSnapshot};

/// One retry per ten first attempts, no floor; built by the `const fn` constructor.
static BUDGET: RetryBudget =
    match RetryBudget::new(RetryBudgetConfig::new(0.1).min_retries_per_sec(0)) {
        Ok(budget) => budget,
        Err(_) => panic!("invalid retry budget config"),
    };

/// A budget built at run time, so the ratio is converted on the target.
fn budget(config: RetryBudgetConfig) -> RetryBudget {
    match RetryBudget::new(black_box(config)) {
        Ok(budget) => budget,
        Err(error) => panic!("invalid config: {error}"),
    }
}

fn exhausted(after: Option<u64>) -> Result<(), Rejected> {
    Err(Rejected::new(
        Reason::RetryBudgetExhausted,
        after.map(Nanos::new),
    ))
}

tests! {
    fn ten_first_attempts_fund_exactly_one_retry() {
        let now = Nanos::ZERO;
        for _ in 0..9 {
            BUDGET.deposit();
        }
        assert_eq!(BUDGET.snapshot(now).balance, 900_000);
        assert_eq!(
            BUDGET.try_retry(now),
            exhausted(None),
            "no floor: waiting cannot help"
        );
        BUDGET.deposit();
        assert_eq!(BUDGET.try_retry(now), Ok(()));
        assert_eq!(BUDGET.try_retry(now), exhausted(None));
        assert_eq!(
            BUDGET.snapshot(now),
            RetryBudgetSnapshot {
                balance: 0,
                floor_tokens: 0,
                retries_allowed: 1,
                retries_refused: 2
            }
        );
    }

    fn ratios_are_kept_to_a_millionth_and_capped_at_max_balance() {
        let b = budget(RetryBudgetConfig::new(0.123_456_789));
        b.deposit();
        assert_eq!(b.snapshot(Nanos::ZERO).balance, 123_457);
        let b = budget(
            RetryBudgetConfig::new(0.3)
                .min_retries_per_sec(0)
                .max_balance(1),
        );
        for _ in 0..7 {
            b.deposit();
        }
        assert_eq!(b.snapshot(Nanos::ZERO).balance, 1_000_000);
        let b = budget(
            RetryBudgetConfig::new(1000.0)
                .min_retries_per_sec(1_000_000_000)
                .max_balance(u32::MAX),
        );
        b.deposit();
        let snapshot = b.snapshot(Nanos::ZERO);
        assert_eq!(
            (snapshot.balance, snapshot.floor_tokens),
            (1_000_000_000, 1_000_000_000)
        );
    }

    fn deposits_are_spent_first_then_the_floor() {
        let b = budget(RetryBudgetConfig::new(0.5).min_retries_per_sec(2));
        b.deposit();
        b.deposit();
        let now = Nanos::from_secs(black_box(50));
        assert_eq!(b.snapshot(now).retries_available(), 3);
        assert_eq!(b.try_retry(now), Ok(()));
        assert_eq!(b.snapshot(now).floor_tokens, 2, "the deposit went first");
        assert_eq!(b.try_retry(now), Ok(()));
        assert_eq!(b.try_retry(now), Ok(()));
        // The floor refills one token every 500 ms.
        assert_eq!(b.try_retry(now), exhausted(Some(500_000_000)));
        assert_eq!(
            b.try_retry(now + Nanos::from_millis(500) - Nanos::new(1)),
            exhausted(Some(1))
        );
        assert_eq!(b.try_retry(now + Nanos::from_millis(500)), Ok(()));
        let snapshot = b.snapshot(now + Nanos::from_secs(10));
        assert_eq!(
            (
                snapshot.floor_tokens,
                snapshot.retries_allowed,
                snapshot.retries_refused
            ),
            (2, 4, 2)
        );
    }

    fn a_floor_of_three_a_second_says_exactly_when() {
        // 10^9 / 3 ns per token, rounded down so the floor is never below the configured rate.
        let b = budget(RetryBudgetConfig::new(0.1).min_retries_per_sec(3));
        for _ in 0..3 {
            assert_eq!(b.try_retry(Nanos::ZERO), Ok(()));
        }
        let refused = b.try_retry(Nanos::ZERO);
        assert_eq!(refused, exhausted(Some(333_333_333)));
        assert_eq!(b.snapshot(Nanos::from_millis(500)).floor_tokens, 1);
        assert_eq!(b.try_retry(Nanos::new(333_333_333)), Ok(()));
    }

    fn the_end_of_time_and_time_going_backwards() {
        let b = budget(RetryBudgetConfig::new(0.1).min_retries_per_sec(1));
        assert_eq!(b.try_retry(Nanos::from_secs(10)), Ok(()));
        // An older `now` counts as no time passed, and retry_after counts from it: the next
        // token comes at 11 s.
        assert_eq!(
            b.try_retry(Nanos::from_secs(5)),
            exhausted(Some(6_000_000_000))
        );
        assert_eq!(b.try_retry(Nanos::from_secs(11)), Ok(()));
        let b = budget(RetryBudgetConfig::new(0.1).min_retries_per_sec(1));
        // A grant at the end of time could not be stored: refused, and waiting cannot help.
        assert_eq!(b.try_retry(Nanos::MAX), exhausted(None));
        assert_eq!(b.try_retry(Nanos::MAX - Nanos::from_secs(1)), Ok(()));
    }

    fn invalid_configs_name_the_field() {
        let field = |config: RetryBudgetConfig| {
            RetryBudget::new(black_box(config))
                .err()
                .map(|error| error.field)
        };
        assert_eq!(field(RetryBudgetConfig::new(-0.1)), Some("ratio"));
        assert_eq!(field(RetryBudgetConfig::new(f64::NAN)), Some("ratio"));
        assert_eq!(field(RetryBudgetConfig::new(1000.5)), Some("ratio"));
        assert_eq!(
            field(RetryBudgetConfig::new(0.1).min_retries_per_sec(1_000_000_001)),
            Some("min_retries_per_sec")
        );
        assert_eq!(
            field(
                RetryBudgetConfig::new(0.0)
                    .min_retries_per_sec(0)
                    .max_balance(0)
            ),
            None
        );
        assert_eq!(core::mem::size_of::<RetryBudget>(), 80);
    }
}
