//! Retry budget behaviour: deposits, the floor, the order between them, refusals and config.

use stanchion::retry_budget::MICRO_TOKENS;
use stanchion::{
    ConfigError, Nanos, Reason, Rejected, RetryBudget, RetryBudgetConfig, RetryBudgetSnapshot,
};

fn ms(n: u64) -> Nanos {
    Nanos::from_millis(n)
}

fn budget(config: RetryBudgetConfig) -> RetryBudget {
    RetryBudget::new(config).unwrap()
}

/// A budget with no floor: only deposits fund retries.
fn deposits_only(ratio: f64) -> RetryBudget {
    budget(RetryBudgetConfig::new(ratio).min_retries_per_sec(0))
}

fn exhausted(retry_after: Option<Nanos>) -> Result<(), Rejected> {
    Err(Rejected::new(Reason::RetryBudgetExhausted, retry_after))
}

#[test]
fn ten_first_attempts_at_ratio_a_tenth_fund_exactly_one_retry() {
    let b = deposits_only(0.1);
    for _ in 0..9 {
        b.deposit();
    }
    assert_eq!(b.try_retry(Nanos::ZERO), exhausted(None));
    b.deposit();
    assert_eq!(b.try_retry(Nanos::ZERO), Ok(()));
    assert_eq!(b.try_retry(Nanos::ZERO), exhausted(None));
}

#[test]
fn each_retry_withdraws_one_whole_token() {
    let b = deposits_only(0.5);
    for _ in 0..5 {
        b.deposit();
    }
    assert_eq!(b.snapshot(Nanos::ZERO).balance, 2_500_000);
    assert!(b.try_retry(Nanos::ZERO).is_ok());
    assert!(b.try_retry(Nanos::ZERO).is_ok());
    assert_eq!(b.snapshot(Nanos::ZERO).balance, 500_000);
    assert!(b.try_retry(Nanos::ZERO).is_err());
}

#[test]
fn deposits_accumulate_up_to_max_balance() {
    let b = budget(
        RetryBudgetConfig::new(3.0)
            .max_balance(10)
            .min_retries_per_sec(0),
    );
    for _ in 0..100 {
        b.deposit();
    }
    assert_eq!(b.snapshot(Nanos::ZERO).balance, 10 * MICRO_TOKENS);
    for _ in 0..10 {
        assert!(b.try_retry(Nanos::ZERO).is_ok());
    }
    assert!(b.try_retry(Nanos::ZERO).is_err());
}

#[test]
fn default_max_balance_is_a_hundred_tokens() {
    let b = budget(RetryBudgetConfig::new(1000.0));
    b.deposit();
    assert_eq!(b.snapshot(Nanos::ZERO).balance, 100 * MICRO_TOKENS);
}

#[test]
fn deposits_do_not_expire() {
    let b = deposits_only(1.0);
    b.deposit();
    assert!(b.try_retry(Nanos::from_secs(1_000_000)).is_ok());
}

#[test]
fn max_balance_zero_keeps_no_deposits() {
    let b = budget(
        RetryBudgetConfig::new(1.0)
            .max_balance(0)
            .min_retries_per_sec(0),
    );
    b.deposit();
    assert_eq!(b.try_retry(Nanos::ZERO), exhausted(None));
}

#[test]
fn ratio_zero_leaves_only_the_floor() {
    let b = budget(RetryBudgetConfig::new(0.0).min_retries_per_sec(1));
    for _ in 0..1000 {
        b.deposit();
    }
    assert!(b.try_retry(Nanos::ZERO).is_ok());
    assert!(b.try_retry(Nanos::ZERO).is_err());
}

#[test]
fn the_floor_starts_full_with_one_seconds_worth() {
    let b = budget(RetryBudgetConfig::new(0.1));
    for _ in 0..10 {
        assert!(b.try_retry(ms(3)).is_ok());
    }
    assert!(b.try_retry(ms(3)).is_err());
}

#[test]
fn the_floor_refills_at_min_retries_per_sec() {
    let b = budget(RetryBudgetConfig::new(0.1).min_retries_per_sec(10));
    for _ in 0..10 {
        assert!(b.try_retry(Nanos::ZERO).is_ok());
    }
    assert_eq!(b.try_retry(Nanos::ZERO), exhausted(Some(ms(100))));
    assert_eq!(b.try_retry(ms(99)), exhausted(Some(ms(1))));
    assert!(b.try_retry(ms(100)).is_ok());
    assert!(b.try_retry(ms(100)).is_err());
    // Over the next second, ten more.
    let allowed = (101..=1100).filter(|&t| b.try_retry(ms(t)).is_ok()).count();
    assert_eq!(allowed, 10);
}

#[test]
fn the_floor_holds_at_most_one_seconds_worth() {
    let b = budget(RetryBudgetConfig::new(0.1).min_retries_per_sec(4));
    for _ in 0..4 {
        assert!(b.try_retry(Nanos::ZERO).is_ok());
    }
    // After an hour of quiet, still only four.
    let later = Nanos::from_secs(3600);
    assert_eq!(b.snapshot(later).floor_tokens, 4);
    for _ in 0..4 {
        assert!(b.try_retry(later).is_ok());
    }
    assert!(b.try_retry(later).is_err());
}

#[test]
fn a_rate_that_does_not_divide_a_second_refills_no_slower_than_asked() {
    // 3 per second: one token every 333_333_333 ns (rounded down).
    let b = budget(RetryBudgetConfig::new(0.0).min_retries_per_sec(3));
    for _ in 0..3 {
        assert!(b.try_retry(Nanos::ZERO).is_ok());
    }
    assert_eq!(
        b.try_retry(Nanos::ZERO),
        exhausted(Some(Nanos::new(333_333_333)))
    );
    let allowed = (1..=10_000u64)
        .filter(|&t| b.try_retry(Nanos::from_millis(t)).is_ok())
        .count();
    assert!(allowed >= 30, "{allowed}");
}

#[test]
fn deposits_are_spent_before_the_floor() {
    let b = budget(RetryBudgetConfig::new(1.0).min_retries_per_sec(1));
    b.deposit();
    b.deposit();
    assert!(b.try_retry(Nanos::ZERO).is_ok());
    let s = b.snapshot(Nanos::ZERO);
    assert_eq!((s.balance, s.floor_tokens), (MICRO_TOKENS, 1));
    assert!(b.try_retry(Nanos::ZERO).is_ok());
    assert!(b.try_retry(Nanos::ZERO).is_ok()); // now the floor
    let s = b.snapshot(Nanos::ZERO);
    assert_eq!((s.balance, s.floor_tokens), (0, 0));
    assert!(b.try_retry(Nanos::ZERO).is_err());
}

#[test]
fn a_fractional_balance_is_not_spent_and_the_floor_is_used() {
    let b = budget(RetryBudgetConfig::new(0.7).min_retries_per_sec(1));
    b.deposit();
    assert!(b.try_retry(Nanos::ZERO).is_ok());
    assert_eq!(b.snapshot(Nanos::ZERO).balance, 700_000);
}

#[test]
fn without_a_floor_waiting_cannot_help() {
    let b = deposits_only(0.1);
    assert_eq!(b.try_retry(Nanos::ZERO), exhausted(None));
    assert_eq!(b.try_retry(Nanos::MAX), exhausted(None));
}

#[test]
fn advancing_by_retry_after_makes_the_same_call_pass() {
    for rate in [1u32, 3, 7, 10, 1000, 65_537] {
        let b = budget(RetryBudgetConfig::new(0.1).min_retries_per_sec(rate));
        let mut now = Nanos::new(12_345);
        let mut refusals = 0;
        for _ in 0..3 * rate + 10 {
            match b.try_retry(now) {
                Ok(()) => {}
                Err(rejected) => {
                    refusals += 1;
                    let after = rejected.retry_after.unwrap();
                    assert!(after > Nanos::ZERO);
                    // Not a nanosecond earlier...
                    let before = now + after - Nanos::new(1);
                    assert_eq!(b.snapshot(before).floor_tokens, 0, "rate {rate}");
                    // ...but exactly then.
                    now = now + after;
                    assert_eq!(b.try_retry(now), Ok(()), "rate {rate}");
                }
            }
        }
        assert!(refusals > 0);
    }
}

#[test]
fn snapshot_counts_allowed_and_refused_retries() {
    let b = budget(RetryBudgetConfig::new(0.5).min_retries_per_sec(2));
    b.deposit();
    b.deposit();
    for _ in 0..5 {
        let _ = b.try_retry(Nanos::ZERO);
    }
    let s = b.snapshot(Nanos::ZERO);
    assert_eq!(
        s,
        RetryBudgetSnapshot {
            balance: 0,
            floor_tokens: 0,
            retries_allowed: 3,
            retries_refused: 2,
        }
    );
    assert_eq!(s.retries_available(), 0);
}

#[test]
fn an_older_now_sees_the_floor_as_at_the_newest_grant() {
    // A floor of 10 per second: one token every 100 ms, at most 10.
    let b = budget(RetryBudgetConfig::new(0.0));
    assert!(b.try_retry(Nanos::from_secs(10)).is_ok());
    assert_eq!(b.snapshot(Nanos::from_secs(5)).floor_tokens, 9);
    assert!(b.try_retry(Nanos::from_secs(5)).is_ok());
    assert_eq!(b.snapshot(Nanos::from_secs(10)).floor_tokens, 8);
    for _ in 0..8 {
        assert!(b.try_retry(Nanos::ZERO).is_ok());
    }
    assert_eq!(b.snapshot(Nanos::from_secs(10)).floor_tokens, 0);
    // Spent: the next token comes 100 ms after 10 s, counted from the now given.
    assert_eq!(b.try_retry(Nanos::ZERO), exhausted(Some(ms(10_100))));
    assert_eq!(b.try_retry(ms(10_099)), exhausted(Some(ms(1))));
    assert!(b.try_retry(ms(10_100)).is_ok());
}

#[test]
fn only_floor_grants_move_the_time_an_older_now_is_taken_as() {
    let b = budget(RetryBudgetConfig::new(1.0).min_retries_per_sec(2));
    assert!(b.try_retry(Nanos::from_secs(10)).is_ok());
    assert!(b.try_retry(Nanos::from_secs(10)).is_ok());
    // A refusal and a retry paid from deposits leave the floor's time at 10 s.
    assert!(b.try_retry(ms(10_400)).is_err());
    b.deposit();
    assert!(b.try_retry(ms(10_800)).is_ok());
    assert_eq!(b.snapshot(ms(10_800)).floor_tokens, 1);
    assert_eq!(b.snapshot(ms(10_400)).floor_tokens, 0);
    // A floor grant at 11.5 s does move it.
    assert!(b.try_retry(ms(11_500)).is_ok());
    assert_eq!(b.snapshot(ms(10_400)).floor_tokens, 1);
    assert_eq!(b.snapshot(ms(12_000)).floor_tokens, 2);
}

#[test]
fn now_zero_and_the_end_of_time_do_not_wrap() {
    let b = budget(RetryBudgetConfig::new(0.0).min_retries_per_sec(10));
    assert!(b.try_retry(Nanos::ZERO).is_ok());
    let b = budget(RetryBudgetConfig::new(0.0).min_retries_per_sec(10));
    // 100 ms before the end of time the floor can store one grant, no more.
    let near_end = Nanos::new(u64::MAX - 100_000_000);
    assert_eq!(b.snapshot(near_end).floor_tokens, 1);
    assert!(b.try_retry(near_end).is_ok());
    assert_eq!(b.try_retry(near_end), exhausted(None));
    assert_eq!(b.try_retry(Nanos::MAX), exhausted(None));
    assert_eq!(b.snapshot(Nanos::MAX).floor_tokens, 0);
    // Deposits still fund retries there.
    let b = budget(RetryBudgetConfig::new(1.0).min_retries_per_sec(10));
    b.deposit();
    assert!(b.try_retry(Nanos::MAX).is_ok());
}

#[test]
fn decimal_ratios_are_exact() {
    for (ratio, micro) in [
        (0.1, 100_000),
        (0.2, 200_000),
        (0.3, 300_000),
        (0.000_001, 1),
        (1000.0, 1_000_000_000),
    ] {
        let b = budget(RetryBudgetConfig::new(ratio).max_balance(u32::MAX));
        b.deposit();
        assert_eq!(b.snapshot(Nanos::ZERO).balance, micro, "{ratio}");
    }
}

static STATIC_BUDGET: RetryBudget = match RetryBudget::new(RetryBudgetConfig::new(0.2)) {
    Ok(b) => b,
    Err(_) => panic!("invalid retry budget"),
};

#[test]
fn a_budget_can_be_a_static() {
    STATIC_BUDGET.deposit();
    assert_eq!(STATIC_BUDGET.snapshot(Nanos::ZERO).balance, 200_000);
}

#[test]
fn size_is_as_documented() {
    assert_eq!(core::mem::size_of::<RetryBudget>(), 80);
}

#[test]
fn ratio_must_be_finite_and_within_zero_and_a_thousand() {
    let err = Err(ConfigError::new("ratio", "[0, 1000]"));
    for ratio in [-0.000_1, 1000.1, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        assert_eq!(RetryBudgetConfig::new(ratio).validate(), err, "{ratio}");
        assert_eq!(
            RetryBudget::new(RetryBudgetConfig::new(ratio)).err(),
            err.err()
        );
    }
    for ratio in [0.0, 0.1, 1000.0] {
        assert!(RetryBudgetConfig::new(ratio).validate().is_ok());
    }
}

#[test]
fn min_retries_per_sec_must_be_at_most_a_billion() {
    let err = Err(ConfigError::new("min_retries_per_sec", "0..=1000000000"));
    for rate in [1_000_000_001, u32::MAX] {
        let config = RetryBudgetConfig::new(0.1).min_retries_per_sec(rate);
        assert_eq!(config.validate(), err);
    }
    for rate in [0, 1, 1_000_000_000] {
        let config = RetryBudgetConfig::new(0.1).min_retries_per_sec(rate);
        assert!(config.validate().is_ok());
    }
}

#[test]
fn a_billion_per_second_grants_one_per_nanosecond() {
    let b = budget(RetryBudgetConfig::new(0.0).min_retries_per_sec(1_000_000_000));
    assert_eq!(b.snapshot(Nanos::ZERO).floor_tokens, 1_000_000_000);
}
