//! The retry budget: first attempts deposit `ratio` tokens, each retry withdraws one, with a
//! floor of `min_retries_per_sec`.

use stanchion_core::{Nanos, RetryBudget, RetryBudgetConfig};

use crate::config_errors::Config;
use crate::ffi::{self, boundary};
use crate::status::{
    stanchion_config_error, stanchion_rejection, stanchion_status, STANCHION_INVALID_CONFIG,
    STANCHION_OK,
};
use crate::token_bucket::refuse;

/// Storage for a retry budget. Opaque.
///
/// ```c
/// static stanchion_retry_budget upstream_retries;
/// stanchion_retry_budget_config c;
/// stanchion_retry_budget_config_default(&c);
/// stanchion_retry_budget_init(&upstream_retries, &c);
/// ```
#[repr(C, align(8))]
pub struct stanchion_retry_budget {
    _opaque: [u64; 12],
}

/// `sizeof(stanchion_retry_budget)` in bytes.
pub const STANCHION_RETRY_BUDGET_SIZE: usize = 96;
/// `_Alignof(stanchion_retry_budget)` in bytes.
pub const STANCHION_RETRY_BUDGET_ALIGN: usize = 8;

const TAG: u64 = ffi::tag(8);
const _: () = assert!(ffi::fits::<RetryBudget, stanchion_retry_budget>());
const _: () =
    assert!(core::mem::size_of::<stanchion_retry_budget>() == STANCHION_RETRY_BUDGET_SIZE);
const _: () =
    assert!(core::mem::align_of::<stanchion_retry_budget>() == STANCHION_RETRY_BUDGET_ALIGN);

/// A retry budget's config.
///
/// ```c
/// stanchion_retry_budget_config c;
/// stanchion_retry_budget_config_default(&c); /* ratio 0.1, 10 retries/s floor, 100 tokens */
/// ```
#[repr(C)]
#[derive(Clone, Copy)]
pub struct stanchion_retry_budget_config {
    /// Tokens each first attempt deposits, in [0, 1000] [0.1].
    pub ratio: f64,
    /// The floor: retries per second allowed whatever the deposits (0: none) [10].
    pub min_retries_per_sec: u32,
    /// The most tokens deposits accumulate [100].
    pub max_balance: u32,
}

/// A budget at one instant.
///
/// ```c
/// stanchion_retry_budget_snapshot s;
/// stanchion_retry_budget_snapshot_get(&upstream_retries, now, &s);
/// ```
#[repr(C)]
#[derive(Clone, Copy)]
pub struct stanchion_retry_budget_snapshot {
    /// Deposited tokens, in millionths of a token.
    pub balance: u64,
    /// Whole tokens in the floor's bucket.
    pub floor_tokens: u64,
    /// Retries that would be allowed now: whole deposited tokens plus the floor's.
    pub retries_available: u64,
    /// Retries allowed so far.
    pub retries_allowed: u64,
    /// Retries refused so far.
    pub retries_refused: u64,
}

fn to_core(c: &stanchion_retry_budget_config) -> RetryBudgetConfig {
    RetryBudgetConfig::new(c.ratio)
        .min_retries_per_sec(c.min_retries_per_sec)
        .max_balance(c.max_balance)
}

/// Writes the defaults into `out`: ratio 0.1 (the core's other defaults).
///
/// Thread- and interrupt-safe.
///
/// # Safety
/// `out` is NULL or writable.
///
/// ```c
/// stanchion_retry_budget_config c;
/// stanchion_retry_budget_config_default(&c);
/// ```
#[no_mangle]
pub unsafe extern "C" fn stanchion_retry_budget_config_default(
    out: *mut stanchion_retry_budget_config,
) -> stanchion_status {
    boundary(|| {
        ffi::non_null(out)?;
        let c = RetryBudgetConfig::new(0.1);
        let config = stanchion_retry_budget_config {
            ratio: c.ratio,
            min_retries_per_sec: c.min_retries_per_sec,
            max_balance: c.max_balance,
        };
        // SAFETY: checked; writable.
        unsafe { ffi::write(out, config) };
        Ok(STANCHION_OK)
    })
}

/// Checks a config: `STANCHION_OK`, or `STANCHION_INVALID_CONFIG` with the field and range
/// written to `error` (may be NULL).
///
/// Thread- and interrupt-safe.
///
/// # Safety
/// `config` is NULL or readable; `error` is NULL or writable.
///
/// ```c
/// c.ratio = -1.0;
/// stanchion_retry_budget_config_validate(&c, &e); /* e.field: "ratio" */
/// ```
#[no_mangle]
pub unsafe extern "C" fn stanchion_retry_budget_config_validate(
    config: *const stanchion_retry_budget_config,
    error: *mut stanchion_config_error,
) -> stanchion_status {
    // SAFETY: forwarded from the caller.
    boundary(|| unsafe {
        ffi::validate(Config::RetryBudget, config, error, |c| {
            to_core(c).validate()
        })
    })
}

/// Initialises an empty budget (the floor's bucket full).
///
/// Not thread-safe for that object: initialise before sharing it.
///
/// # Safety
/// `budget` is NULL or writable storage no other thread uses during the call; `config` is
/// NULL or readable.
///
/// ```c
/// stanchion_retry_budget_init(&upstream_retries, &c);
/// ```
#[no_mangle]
pub unsafe extern "C" fn stanchion_retry_budget_init(
    budget: *mut stanchion_retry_budget,
    config: *const stanchion_retry_budget_config,
) -> stanchion_status {
    boundary(|| {
        ffi::check_storage::<RetryBudget, _>(budget)?;
        // SAFETY: forwarded from the caller.
        let config = unsafe { ffi::read(config) }?;
        let built = RetryBudget::new(to_core(&config)).map_err(|_| STANCHION_INVALID_CONFIG)?;
        // SAFETY: checked storage; exclusive by the caller's promise.
        unsafe { ffi::put(budget, TAG, built) };
        Ok(STANCHION_OK)
    })
}

/// # Safety
/// `budget` is NULL or points to storage that outlives the call.
pub(crate) unsafe fn get<'a>(
    budget: *const stanchion_retry_budget,
) -> Result<&'a RetryBudget, stanchion_status> {
    // SAFETY: forwarded from the caller.
    unsafe { ffi::object(budget, TAG) }
}

/// Records a first attempt: deposits `ratio` tokens, up to `max_balance`.
///
/// Thread- and interrupt-safe, lock-free.
///
/// # Safety
/// `budget` is NULL or valid.
///
/// ```c
/// stanchion_retry_budget_deposit(&upstream_retries);
/// ```
#[no_mangle]
pub unsafe extern "C" fn stanchion_retry_budget_deposit(
    budget: *mut stanchion_retry_budget,
) -> stanchion_status {
    boundary(|| {
        // SAFETY: forwarded from the caller.
        unsafe { get(budget) }?.deposit();
        Ok(STANCHION_OK)
    })
}

/// Asks to retry at `now_ns`: `STANCHION_OK` spends a token (deposits first, then the floor),
/// or `STANCHION_RETRY_BUDGET_EXHAUSTED` (with when the floor has a token, if it has a rate).
/// `rejection` may be NULL.
///
/// Thread- and interrupt-safe, lock-free.
///
/// # Safety
/// Pointers are NULL or valid for their type.
///
/// ```c
/// if (stanchion_retry_budget_try_retry(&upstream_retries, now, NULL) == STANCHION_OK) retry();
/// ```
#[no_mangle]
pub unsafe extern "C" fn stanchion_retry_budget_try_retry(
    budget: *mut stanchion_retry_budget,
    now_ns: u64,
    rejection_out: *mut stanchion_rejection,
) -> stanchion_status {
    boundary(|| {
        // SAFETY: forwarded from the caller.
        let b = unsafe { get(budget) }?;
        match b.try_retry(Nanos::new(now_ns)) {
            Ok(()) => Ok(STANCHION_OK),
            // SAFETY: optional output.
            Err(refused) => unsafe { refuse(refused, rejection_out) },
        }
    })
}

/// The budget at `now_ns`.
///
/// Thread- and interrupt-safe, lock-free.
///
/// # Safety
/// Pointers are NULL or valid for their type.
///
/// ```c
/// stanchion_retry_budget_snapshot s;
/// stanchion_retry_budget_snapshot_get(&upstream_retries, now, &s);
/// ```
#[no_mangle]
pub unsafe extern "C" fn stanchion_retry_budget_snapshot_get(
    budget: *const stanchion_retry_budget,
    now_ns: u64,
    out: *mut stanchion_retry_budget_snapshot,
) -> stanchion_status {
    boundary(|| {
        // SAFETY: forwarded from the caller.
        let b = unsafe { get(budget) }?;
        ffi::non_null(out)?;
        let s = b.snapshot(Nanos::new(now_ns));
        let snapshot = stanchion_retry_budget_snapshot {
            balance: s.balance,
            floor_tokens: s.floor_tokens,
            retries_available: s.retries_available(),
            retries_allowed: s.retries_allowed,
            retries_refused: s.retries_refused,
        };
        // SAFETY: checked; writable.
        unsafe { ffi::write(out, snapshot) };
        Ok(STANCHION_OK)
    })
}
