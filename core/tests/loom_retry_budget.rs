//! loom models of the retry budget: the never-overdrawn guarantee under every interleaving.
#![cfg(loom)]

use loom::sync::Arc;
use loom::thread;
use stanchion::retry_budget::MICRO_TOKENS;
use stanchion::{Nanos, RetryBudget, RetryBudgetConfig};

/// Two threads each try `tries` retries at `now`; returns how many passed in all.
fn race(budget: &Arc<RetryBudget>, tries: usize, now: Nanos) -> u64 {
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let budget = Arc::clone(budget);
            thread::spawn(move || {
                (0..tries).filter(|_| budget.try_retry(now).is_ok()).count() as u64
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).sum()
}

#[test]
fn racing_retries_never_overdraw_the_deposits() {
    loom::model(|| {
        // Three deposits of half a token: one whole token, so exactly one retry passes.
        let config = RetryBudgetConfig::new(0.5).min_retries_per_sec(0);
        let budget = Arc::new(RetryBudget::new(config).unwrap());
        for _ in 0..3 {
            budget.deposit();
        }
        assert_eq!(race(&budget, 2, Nanos::ZERO), 1);
        let s = budget.snapshot(Nanos::ZERO);
        assert_eq!(s.balance, MICRO_TOKENS / 2);
        assert_eq!((s.retries_allowed, s.retries_refused), (1, 3));
    });
}

#[test]
fn racing_retries_never_overdraw_deposits_and_floor_together() {
    loom::model(|| {
        // One deposited token and a floor holding one: exactly two retries pass.
        let config = RetryBudgetConfig::new(1.0).min_retries_per_sec(1);
        let budget = Arc::new(RetryBudget::new(config).unwrap());
        budget.deposit();
        let now = Nanos::from_secs(5);
        assert_eq!(race(&budget, 2, now), 2);
        let s = budget.snapshot(now);
        assert_eq!((s.balance, s.floor_tokens), (0, 0));
    });
}

#[test]
fn a_deposit_racing_retries_is_spent_at_most_once() {
    loom::model(|| {
        let config = RetryBudgetConfig::new(1.0).min_retries_per_sec(0);
        let budget = Arc::new(RetryBudget::new(config).unwrap());
        let depositor = {
            let budget = Arc::clone(&budget);
            thread::spawn(move || {
                budget.deposit();
                u64::from(budget.try_retry(Nanos::ZERO).is_ok())
            })
        };
        let retrier = {
            let budget = Arc::clone(&budget);
            thread::spawn(move || {
                (0..2)
                    .filter(|_| budget.try_retry(Nanos::ZERO).is_ok())
                    .count() as u64
            })
        };
        let granted = depositor.join().unwrap() + retrier.join().unwrap();
        // Tokens are conserved: what was deposited is either still there or was granted once.
        let balance = budget.snapshot(Nanos::ZERO).balance;
        assert!(granted <= 1);
        assert_eq!(granted * MICRO_TOKENS + balance, MICRO_TOKENS);
    });
}

#[test]
fn a_floor_grant_at_an_older_now_racing_another_draws_on_the_same_floor() {
    loom::model(|| {
        // A floor of three: one thread retries at 10 s and then with its clock stepped back to
        // 5 s, the other at 10 s. The older now is taken as 10 s, so all three pass, whatever
        // the order, and a fourth does not.
        let config = RetryBudgetConfig::new(0.0).min_retries_per_sec(3);
        let budget = Arc::new(RetryBudget::new(config).unwrap());
        let other = {
            let budget = Arc::clone(&budget);
            thread::spawn(move || budget.try_retry(Nanos::from_secs(10)))
        };
        assert_eq!(budget.try_retry(Nanos::from_secs(10)), Ok(()));
        assert_eq!(budget.try_retry(Nanos::from_secs(5)), Ok(()));
        assert_eq!(other.join().unwrap(), Ok(()));
        assert!(budget.try_retry(Nanos::from_secs(5)).is_err());
        assert_eq!(budget.snapshot(Nanos::from_secs(10)).floor_tokens, 0);
    });
}
