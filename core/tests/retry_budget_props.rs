//! Retry budget properties: exact agreement with a plain sequential model, the never-overdrawn
//! guarantee under any order of times, the `retry_after` promise, and no panic on any input.

use proptest::prelude::*;
use stanchion::retry_budget::MICRO_TOKENS;
use stanchion::{Nanos, Reason, Rejected, RetryBudget, RetryBudgetConfig};

/// The budget restated: a balance of millionths of a token, and the floor as a classic token
/// bucket whose level is kept as nanoseconds of refill ("credit"), capped at one second's
/// worth, as at `seen`, the time of the floor's newest grant. A retry whose `now` is older than
/// `seen` is taken as at `seen` (no time passed); its `retry_after` counts from its own `now`.
struct Model {
    balance: u128,
    credit: u128,
    seen: u128,
    deposit: u128,
    max_balance: u128,
    interval: u128,
    window: u128,
}

impl Model {
    fn new(config: RetryBudgetConfig) -> Model {
        let rate = u128::from(config.min_retries_per_sec);
        let interval = 1_000_000_000u128.checked_div(rate).unwrap_or(0);
        Model {
            balance: 0,
            credit: interval * rate,
            seen: 0,
            deposit: (config.ratio * 1e6).round() as u128,
            max_balance: u128::from(config.max_balance) * u128::from(MICRO_TOKENS),
            interval,
            window: interval * rate,
        }
    }

    fn deposit(&mut self) {
        self.balance = (self.balance + self.deposit).min(self.max_balance);
    }

    /// The time a floor decision at `now` is taken as, and the floor's credit then.
    fn at(&self, now: u64) -> (u128, u128) {
        let at = u128::from(now).max(self.seen);
        (at, (self.credit + (at - self.seen)).min(self.window))
    }

    fn try_retry(&mut self, now: u64) -> Result<(), Rejected> {
        let refused = |after: Option<u128>| {
            Err(Rejected::new(
                Reason::RetryBudgetExhausted,
                after.map(|a| Nanos::new(a as u64)),
            ))
        };
        if self.balance >= u128::from(MICRO_TOKENS) {
            self.balance -= u128::from(MICRO_TOKENS);
            return Ok(());
        }
        if self.interval == 0 {
            return refused(None);
        }
        let (at, credit) = self.at(now);
        // The instant the floor has handed out up to, after this grant, must be a u64.
        let granted_up_to = at + (self.window - credit) + self.interval;
        if granted_up_to > u128::from(u64::MAX) {
            return refused(None);
        }
        if credit >= self.interval {
            self.credit = credit - self.interval;
            self.seen = at;
            Ok(())
        } else {
            refused(Some(self.interval - credit + (at - u128::from(now))))
        }
    }

    /// Whole floor tokens at `now`, as far as grants can be stored below `u64::MAX`.
    fn floor_tokens(&self, now: u64) -> u128 {
        if self.interval == 0 {
            return 0;
        }
        let (at, credit) = self.at(now);
        let storable = u128::from(u64::MAX) - (at + (self.window - credit));
        credit.min(storable) / self.interval
    }
}

#[derive(Clone, Debug)]
enum Op {
    Deposit,
    /// Advance the clock, then ask for a retry.
    Retry(u64),
    /// Step the clock back, then ask for a retry.
    Back(u64),
}

fn config() -> impl Strategy<Value = RetryBudgetConfig> {
    (
        prop_oneof![
            Just(0.0),
            Just(0.1),
            Just(0.25),
            Just(1.0),
            Just(1000.0),
            0.0f64..3.0
        ],
        prop_oneof![Just(0u32), 1u32..20, Just(1000), Just(1_000_000_000)],
        prop_oneof![Just(0u32), 1u32..10, Just(100), Just(u32::MAX)],
    )
        .prop_map(|(ratio, rate, max_balance)| {
            RetryBudgetConfig::new(ratio)
                .min_retries_per_sec(rate)
                .max_balance(max_balance)
        })
}

fn step() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        0u64..1_000,
        0u64..200_000_000,
        0u64..5_000_000_000,
    ]
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    proptest::collection::vec(
        prop_oneof![
            2 => Just(Op::Deposit),
            3 => step().prop_map(Op::Retry),
            1 => step().prop_map(Op::Back),
        ],
        0..200,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn agrees_with_the_model_on_a_clock_that_steps_back(
        config in config(),
        start in prop_oneof![Just(0u64), any::<u64>(), Just(u64::MAX - 2_000_000_000)],
        ops in ops(),
    ) {
        let budget = RetryBudget::new(config).unwrap();
        let mut model = Model::new(config);
        let mut now = start;
        let (mut allowed, mut refused) = (0, 0);
        for op in ops {
            match op {
                Op::Deposit => {
                    budget.deposit();
                    model.deposit();
                }
                Op::Retry(step) | Op::Back(step) => {
                    now = match op {
                        Op::Back(_) => now.saturating_sub(step),
                        _ => now.saturating_add(step),
                    };
                    let got = budget.try_retry(Nanos::new(now));
                    prop_assert_eq!(got, model.try_retry(now));
                    if got.is_ok() { allowed += 1 } else { refused += 1 }
                }
            }
            let snapshot = budget.snapshot(Nanos::new(now));
            prop_assert_eq!(u128::from(snapshot.balance), model.balance);
            prop_assert_eq!(u128::from(snapshot.floor_tokens), model.floor_tokens(now));
            prop_assert!(model.balance <= model.max_balance);
        }
        let snapshot = budget.snapshot(Nanos::new(now));
        prop_assert_eq!((snapshot.retries_allowed, snapshot.retries_refused), (allowed, refused));
    }

    #[test]
    fn never_overdrawn_whatever_the_order_of_times(
        config in config(),
        ops in proptest::collection::vec(
            prop_oneof![Just(None), prop_oneof![0u64..3_000_000_000, any::<u64>()].prop_map(Some)],
            0..300,
        ),
    ) {
        let budget = RetryBudget::new(config).unwrap();
        let model = Model::new(config);
        let (mut deposits, mut granted) = (0u128, 0u128);
        let (mut earliest, mut latest) = (u64::MAX, 0u64);
        for op in ops {
            match op {
                None => {
                    budget.deposit();
                    deposits += 1;
                }
                Some(now) => {
                    if budget.try_retry(Nanos::new(now)).is_ok() {
                        granted += 1;
                    }
                    earliest = earliest.min(now);
                    latest = latest.max(now);
                }
            }
        }
        // Deposits fund at most what was deposited; the floor at most its burst plus its rate
        // over the span of times it was asked at, which holds the time each grant was decided
        // at (its own now, or an earlier grant's).
        let from_deposits = (deposits * model.deposit) / u128::from(MICRO_TOKENS);
        let from_floor = if model.interval == 0 || earliest > latest {
            0
        } else {
            u128::from(config.min_retries_per_sec)
                + u128::from(latest - earliest) / model.interval
        };
        prop_assert!(granted <= from_deposits + from_floor,
            "granted {} > {} + {}", granted, from_deposits, from_floor);
    }

    #[test]
    fn retry_after_is_exactly_when_the_same_call_passes(config in config(), ops in ops()) {
        let budget = RetryBudget::new(config).unwrap();
        let mut now = 0u64;
        for op in ops {
            match op {
                Op::Deposit => budget.deposit(),
                Op::Retry(step) | Op::Back(step) => {
                    now = match op {
                        Op::Back(_) => now.saturating_sub(step),
                        _ => now.saturating_add(step),
                    };
                    if let Err(rejected) = budget.try_retry(Nanos::new(now)) {
                        prop_assert_eq!(rejected.reason, Reason::RetryBudgetExhausted);
                        if let Some(after) = rejected.retry_after {
                            prop_assert!(after > Nanos::ZERO);
                            // Not a nanosecond sooner...
                            let sooner = Nanos::new(now + after.as_nanos() - 1);
                            prop_assert!(budget.try_retry(sooner).is_err());
                            // ...but then.
                            now += after.as_nanos();
                            prop_assert_eq!(budget.try_retry(Nanos::new(now)), Ok(()));
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn any_config_and_any_times_never_panic(
        ratio in any::<f64>(),
        rate in any::<u32>(),
        max_balance in any::<u32>(),
        ops in proptest::collection::vec(proptest::option::of(any::<u64>()), 0..100),
    ) {
        let config = RetryBudgetConfig::new(ratio).min_retries_per_sec(rate).max_balance(max_balance);
        let Ok(budget) = RetryBudget::new(config) else {
            prop_assert!(config.validate().is_err());
            return Ok(());
        };
        for op in ops {
            match op {
                None => budget.deposit(),
                Some(now) => {
                    let _ = budget.try_retry(Nanos::new(now));
                    let _ = budget.snapshot(Nanos::new(now)).retries_available();
                }
            }
        }
    }
}
