//! `NativeRetryBudget`: the core's `RetryBudget`.

use std::cell::RefCell;
use std::rc::Rc;

use napi::bindgen_prelude::{BigInt, Either};
use napi_derive::napi;
use stanchion::{Nanos, RetryBudget, RetryBudgetConfig, RetryBudgetSnapshot};

use crate::code;
use crate::fast::{self, Registry};
use crate::time::instant;

/// A retry budget's config.
#[napi(object)]
pub struct NativeRetryBudgetConfig {
    /// Tokens each first attempt deposits, in [0, 1000].
    pub ratio: f64,
    /// The floor's refill rate (default 10; 0 turns it off).
    pub min_retries_per_sec: Option<u32>,
    /// The most deposited tokens kept (default 100).
    pub max_balance: Option<u32>,
}

/// A budget at one moment.
#[napi(object)]
pub struct NativeRetryBudgetSnapshot {
    /// Deposited tokens, in millionths of a token.
    pub balance: f64,
    /// Whole tokens the floor holds now.
    pub floor_tokens: f64,
    /// Retries that would pass in a row now.
    pub retries_available: f64,
    /// Retries allowed, ever.
    pub retries_allowed: f64,
    /// Retries refused, ever.
    pub retries_refused: f64,
}

impl From<RetryBudgetSnapshot> for NativeRetryBudgetSnapshot {
    fn from(s: RetryBudgetSnapshot) -> Self {
        NativeRetryBudgetSnapshot {
            balance: s.balance as f64,
            floor_tokens: s.floor_tokens as f64,
            retries_available: s.retries_available() as f64,
            retries_allowed: s.retries_allowed as f64,
            retries_refused: s.retries_refused as f64,
        }
    }
}

/// A budget and the `retry_after` of its last refusal.
pub(crate) struct Budget {
    budget: RetryBudget,
    retry_after: code::LastRetryAfter,
}

thread_local! {
    static BUDGETS: RefCell<Registry<Budget>> = const { RefCell::new(Registry::new()) };
}

impl Budget {
    /// The core's budget.
    pub(crate) fn core(&self) -> &RetryBudget {
        &self.budget
    }

    fn try_retry(&self, now: Nanos) -> f64 {
        match self.budget.try_retry(now) {
            Ok(()) => 0.0,
            Err(refusal) => code::refused(&refusal, None, &self.retry_after),
        }
    }
}

/// `deposit` over the registers: handle.
#[napi]
pub fn fast_budget_deposit() {
    fast::with(&BUDGETS, (), |b| b.budget.deposit());
}

/// `tryRetry` over the registers: handle, now (NaN: native clock). A refusal's
/// `retry_after` goes to register 7.
#[napi]
pub fn fast_budget_try_retry() -> f64 {
    fast::with(&BUDGETS, f64::NAN, |b| {
        let answer = b.try_retry(fast::instant_reg(1));
        fast::set_reg(7, b.retry_after.ms());
        answer
    })
}

/// The core's `RetryBudget` with its answers packed as numbers (see `code.rs`).
#[napi]
pub struct NativeRetryBudget {
    inner: Rc<Budget>,
    handle: u32,
}

impl Drop for NativeRetryBudget {
    fn drop(&mut self) {
        let handle = self.handle;
        let _ = BUDGETS.try_with(|table| table.borrow_mut().remove(handle));
    }
}

#[napi]
impl NativeRetryBudget {
    /// An empty budget with a full floor, or an error naming the invalid field.
    #[napi(constructor)]
    pub fn new(config: NativeRetryBudgetConfig) -> napi::Result<Self> {
        let mut c = RetryBudgetConfig::new(config.ratio);
        if let Some(rate) = config.min_retries_per_sec {
            c = c.min_retries_per_sec(rate);
        }
        if let Some(max) = config.max_balance {
            c = c.max_balance(max);
        }
        let inner = Rc::new(Budget {
            budget: RetryBudget::new(c).map_err(code::config_error)?,
            retry_after: code::LastRetryAfter::new(),
        });
        let handle = BUDGETS.with(|table| table.borrow_mut().insert(Rc::clone(&inner)));
        Ok(NativeRetryBudget { inner, handle })
    }

    /// The budget, shared with a retry loop that uses it.
    pub(crate) fn shared(&self) -> Rc<Budget> {
        Rc::clone(&self.inner)
    }

    /// The handle the `fastBudget*` functions take in register 0.
    #[napi(getter)]
    pub fn handle(&self) -> u32 {
        self.handle
    }

    /// A first attempt: deposits `ratio` tokens.
    #[napi]
    pub fn deposit(&self) {
        self.inner.budget.deposit();
    }

    /// Asks for a retry: 0 when allowed, else a refusal code.
    #[napi]
    pub fn try_retry(&self, now: Either<f64, BigInt>) -> f64 {
        self.inner.try_retry(instant(&now))
    }

    /// The budget now.
    #[napi]
    pub fn snapshot(&self, now: Either<f64, BigInt>) -> NativeRetryBudgetSnapshot {
        self.inner.budget.snapshot(instant(&now)).into()
    }

    /// The `retry_after` of the last refusal, in milliseconds; NaN when waiting cannot help.
    #[napi(getter)]
    pub fn retry_after(&self) -> f64 {
        self.inner.retry_after.ms()
    }

    /// The `retry_after` of the last refusal, in exact nanoseconds; null when waiting cannot
    /// help.
    #[napi(getter)]
    pub fn retry_after_ns(&self) -> Option<BigInt> {
        self.inner.retry_after.ns()
    }
}
