//! Keyed limiters: a fixed table of token buckets keyed by `uint64_t`, in two fixed sizes
//! (C has no const generics): `stanchion_keyed_limiter` with 1, 2, 4, 8 or 16 slots, and
//! `stanchion_keyed_limiter_1024` with 1024 slots (the Python and Node default).

use stanchion_core::keyed_limiter::KeyedTable;
use stanchion_core::{
    key_of_bytes, KeyedLimiter, Nanos, Rejected, TableFullPolicy, TokenBucketConfig,
    TokenBucketSnapshot,
};

use crate::config_errors::Config;
use crate::ffi::{self, boundary};
use crate::status::{
    stanchion_config_error, stanchion_rejection, stanchion_status, STANCHION_INVALID_CONFIG,
    STANCHION_OK,
};
use crate::token_bucket::{self, stanchion_token_bucket_config, stanchion_token_bucket_snapshot};

/// Storage for a keyed limiter of up to 16 slots. Opaque.
///
/// ```c
/// static stanchion_keyed_limiter per_client;
/// stanchion_keyed_limiter_config c;
/// stanchion_keyed_limiter_config_default(&c);
/// stanchion_keyed_limiter_init(&per_client, &c);
/// ```
#[repr(C, align(8))]
pub struct stanchion_keyed_limiter {
    _opaque: [u64; 54],
}

/// Storage for a keyed limiter of 1024 slots (about 24 KiB). Opaque.
///
/// ```c
/// static stanchion_keyed_limiter_1024 per_tenant;
/// stanchion_keyed_limiter_config c;
/// stanchion_keyed_limiter_config_default(&c);
/// c.slots = 1024;
/// stanchion_keyed_limiter_1024_init(&per_tenant, &c);
/// ```
#[repr(C, align(8))]
pub struct stanchion_keyed_limiter_1024 {
    _opaque: [u64; 3080],
}

/// `sizeof(stanchion_keyed_limiter)` in bytes.
pub const STANCHION_KEYED_LIMITER_SIZE: usize = 432;
/// `_Alignof(stanchion_keyed_limiter)` in bytes.
pub const STANCHION_KEYED_LIMITER_ALIGN: usize = 8;
/// `sizeof(stanchion_keyed_limiter_1024)` in bytes.
pub const STANCHION_KEYED_LIMITER_1024_SIZE: usize = 24_640;
/// `_Alignof(stanchion_keyed_limiter_1024)` in bytes.
pub const STANCHION_KEYED_LIMITER_1024_ALIGN: usize = 8;

/// What a new key gets when every slot holds an active key: `STANCHION_TABLE_FULL_REJECT`
/// (refused, `STANCHION_TABLE_FULL`) or `STANCHION_TABLE_FULL_ADMIT` (admitted untracked).
///
/// ```c
/// config.policy = STANCHION_TABLE_FULL_ADMIT;
/// ```
pub type stanchion_table_full_policy = u32;
/// Refuse a new key when the table is full.
pub const STANCHION_TABLE_FULL_REJECT: stanchion_table_full_policy = 0;
/// Admit a new key untracked when the table is full.
pub const STANCHION_TABLE_FULL_ADMIT: stanchion_table_full_policy = 1;

/// A keyed limiter's config: every key's bucket, the table size and the full-table policy.
///
/// ```c
/// stanchion_keyed_limiter_config c;
/// stanchion_keyed_limiter_config_default(&c); /* 16 slots, 1 token/s each, reject */
/// c.bucket.capacity = 10;
/// ```
#[repr(C)]
#[derive(Clone, Copy)]
pub struct stanchion_keyed_limiter_config {
    /// Every key's bucket.
    pub bucket: stanchion_token_bucket_config,
    /// Table size: 1, 2, 4, 8 or 16 for `stanchion_keyed_limiter`, 1024 for
    /// `stanchion_keyed_limiter_1024` [16].
    pub slots: u32,
    /// `STANCHION_TABLE_FULL_REJECT` or `STANCHION_TABLE_FULL_ADMIT` [reject].
    pub policy: stanchion_table_full_policy,
}

/// The small table, monomorphised at each size it accepts.
enum Small {
    One(KeyedLimiter<1>),
    Two(KeyedLimiter<2>),
    Four(KeyedLimiter<4>),
    Eight(KeyedLimiter<8>),
    Sixteen(KeyedLimiter<16>),
}

type Large = KeyedLimiter<1024>;

const SMALL_TAG: u64 = ffi::tag(3);
const LARGE_TAG: u64 = ffi::tag(4);
const _: () = assert!(ffi::fits::<Small, stanchion_keyed_limiter>());
const _: () = assert!(ffi::fits::<Large, stanchion_keyed_limiter_1024>());
const _: () =
    assert!(core::mem::size_of::<stanchion_keyed_limiter>() == STANCHION_KEYED_LIMITER_SIZE);
const _: () = assert!(
    core::mem::size_of::<stanchion_keyed_limiter_1024>() == STANCHION_KEYED_LIMITER_1024_SIZE
);
const _: () =
    assert!(core::mem::align_of::<stanchion_keyed_limiter>() == STANCHION_KEYED_LIMITER_ALIGN);
const _: () = assert!(
    core::mem::align_of::<stanchion_keyed_limiter_1024>() == STANCHION_KEYED_LIMITER_1024_ALIGN
);

const SLOTS_ALLOWED: &str = "1, 2, 4, 8, 16 (stanchion_keyed_limiter) or 1024";

macro_rules! dispatch {
    ($self:expr, $table:ident => $body:expr) => {
        match $self {
            Small::One($table) => $body,
            Small::Two($table) => $body,
            Small::Four($table) => $body,
            Small::Eight($table) => $body,
            Small::Sixteen($table) => $body,
        }
    };
}

impl KeyedTable for Small {
    fn try_acquire(&self, key: u64, n: u32, now: Nanos) -> Result<(), Rejected> {
        dispatch!(self, t => t.try_acquire(key, n, now))
    }
    fn reserve(&self, key: u64, n: u32, now: Nanos, max_wait: Nanos) -> Result<Nanos, Rejected> {
        dispatch!(self, t => t.reserve(key, n, now, max_wait))
    }
    fn available(&self, key: u64, now: Nanos) -> u64 {
        dispatch!(self, t => t.available(key, now))
    }
    fn snapshot(&self, key: u64, now: Nanos) -> TokenBucketSnapshot {
        dispatch!(self, t => t.snapshot(key, now))
    }
    fn active_keys(&self, now: Nanos) -> usize {
        dispatch!(self, t => t.active_keys(now))
    }
}

fn parts(
    c: &stanchion_keyed_limiter_config,
) -> Result<(TokenBucketConfig, TableFullPolicy), stanchion_core::ConfigError> {
    let bucket = token_bucket::to_core(&c.bucket);
    bucket.validate()?;
    if !matches!(c.slots, 1 | 2 | 4 | 8 | 16 | 1024) {
        return Err(stanchion_core::ConfigError::new("slots", SLOTS_ALLOWED));
    }
    let policy = match c.policy {
        STANCHION_TABLE_FULL_REJECT => TableFullPolicy::Reject,
        STANCHION_TABLE_FULL_ADMIT => TableFullPolicy::Admit,
        _ => {
            return Err(stanchion_core::ConfigError::new(
                "policy",
                "STANCHION_TABLE_FULL_REJECT (0) or STANCHION_TABLE_FULL_ADMIT (1)",
            ))
        }
    };
    Ok((bucket, policy))
}

fn build_small(c: &stanchion_keyed_limiter_config) -> Result<Small, stanchion_status> {
    let (bucket, policy) = parts(c).map_err(|_| STANCHION_INVALID_CONFIG)?;
    let table = match c.slots {
        1 => KeyedLimiter::new(bucket, policy).map(Small::One),
        2 => KeyedLimiter::new(bucket, policy).map(Small::Two),
        4 => KeyedLimiter::new(bucket, policy).map(Small::Four),
        8 => KeyedLimiter::new(bucket, policy).map(Small::Eight),
        16 => KeyedLimiter::new(bucket, policy).map(Small::Sixteen),
        _ => return Err(STANCHION_INVALID_CONFIG),
    };
    table.map_err(|_| STANCHION_INVALID_CONFIG)
}

fn build_large(c: &stanchion_keyed_limiter_config) -> Result<Large, stanchion_status> {
    let (bucket, policy) = parts(c).map_err(|_| STANCHION_INVALID_CONFIG)?;
    if c.slots != 1024 {
        return Err(STANCHION_INVALID_CONFIG);
    }
    Large::new(bucket, policy).map_err(|_| STANCHION_INVALID_CONFIG)
}

/// Writes the defaults into `out`: 16 slots, each key's bucket as
/// `stanchion_token_bucket_config_default`, reject when full.
///
/// Thread- and interrupt-safe.
///
/// # Safety
/// `out` is NULL or writable.
///
/// ```c
/// stanchion_keyed_limiter_config c;
/// stanchion_keyed_limiter_config_default(&c);
/// ```
#[no_mangle]
pub unsafe extern "C" fn stanchion_keyed_limiter_config_default(
    out: *mut stanchion_keyed_limiter_config,
) -> stanchion_status {
    boundary(|| {
        ffi::non_null(out)?;
        let config = stanchion_keyed_limiter_config {
            bucket: token_bucket::from_core(&TokenBucketConfig::new(1)),
            slots: 16,
            policy: STANCHION_TABLE_FULL_REJECT,
        };
        // SAFETY: checked; writable.
        unsafe { ffi::write(out, config) };
        Ok(STANCHION_OK)
    })
}

/// Checks a config (`slots` may be any size either type takes): `STANCHION_OK`, or
/// `STANCHION_INVALID_CONFIG` with the field and range written to `error` (may be NULL).
///
/// Thread- and interrupt-safe.
///
/// # Safety
/// `config` is NULL or readable; `error` is NULL or writable.
///
/// ```c
/// c.slots = 3;
/// stanchion_keyed_limiter_config_validate(&c, &e); /* e.field: "slots" */
/// ```
#[no_mangle]
pub unsafe extern "C" fn stanchion_keyed_limiter_config_validate(
    config: *const stanchion_keyed_limiter_config,
    error: *mut stanchion_config_error,
) -> stanchion_status {
    // SAFETY: forwarded from the caller.
    boundary(|| unsafe { ffi::validate(Config::KeyedLimiter, config, error, parts) })
}

/// Key of a byte string: 64-bit FNV-1a, the same hash every stanchion binding uses, so one
/// string names one bucket in every language. `bytes` may be NULL when `len` is 0.
///
/// Thread- and interrupt-safe.
///
/// # Safety
/// `bytes` points to `len` readable bytes (or is NULL with `len` 0).
///
/// ```c
/// uint64_t key;
/// stanchion_key_of_bytes((const uint8_t *)"alice", 5, &key);
/// ```
#[no_mangle]
pub unsafe extern "C" fn stanchion_key_of_bytes(
    bytes: *const u8,
    len: usize,
    key: *mut u64,
) -> stanchion_status {
    boundary(|| {
        ffi::non_null(key)?;
        let data: &[u8] = if len == 0 {
            &[]
        } else {
            ffi::non_null(bytes)?;
            // SAFETY: not NULL; the caller promises `len` readable bytes.
            unsafe { core::slice::from_raw_parts(bytes, len) }
        };
        // SAFETY: checked; writable.
        unsafe { ffi::write(key, key_of_bytes(data)) };
        Ok(STANCHION_OK)
    })
}

// The operations, once for both table types.

/// # Safety
/// `storage` is NULL or valid; `out` NULL or writable.
unsafe fn try_acquire<T: KeyedTable, S>(
    storage: *const S,
    tag: u64,
    key: u64,
    n: u32,
    now_ns: u64,
    out: *mut stanchion_rejection,
) -> stanchion_status {
    boundary(|| {
        // SAFETY: forwarded from the caller.
        let table: &T = unsafe { ffi::object(storage, tag) }?;
        match table.try_acquire(key, n, Nanos::new(now_ns)) {
            Ok(()) => Ok(STANCHION_OK),
            // SAFETY: optional output.
            Err(refused) => unsafe { token_bucket::refuse(refused, out) },
        }
    })
}

/// # Safety
/// Pointers NULL or valid.
unsafe fn reserve<T: KeyedTable, S>(
    storage: *const S,
    tag: u64,
    (key, n, now_ns, max_wait_ns): (u64, u32, u64, u64),
    ready_at_ns: *mut u64,
    out: *mut stanchion_rejection,
) -> stanchion_status {
    boundary(|| {
        // SAFETY: forwarded from the caller.
        let table: &T = unsafe { ffi::object(storage, tag) }?;
        ffi::non_null(ready_at_ns)?;
        match table.reserve(key, n, Nanos::new(now_ns), Nanos::new(max_wait_ns)) {
            Ok(ready) => {
                // SAFETY: checked; writable.
                unsafe { ffi::write(ready_at_ns, ready.as_nanos()) };
                Ok(STANCHION_OK)
            }
            // SAFETY: optional output.
            Err(refused) => unsafe { token_bucket::refuse(refused, out) },
        }
    })
}

/// # Safety
/// Pointers NULL or valid.
unsafe fn read_out<T: KeyedTable, S, V>(
    storage: *const S,
    tag: u64,
    out: *mut V,
    value: impl FnOnce(&T) -> V,
) -> stanchion_status {
    boundary(|| {
        // SAFETY: forwarded from the caller.
        let table: &T = unsafe { ffi::object(storage, tag) }?;
        ffi::non_null(out)?;
        // SAFETY: checked; writable.
        unsafe { ffi::write(out, value(table)) };
        Ok(STANCHION_OK)
    })
}

/// Initialises an empty table of `config->slots` (1, 2, 4, 8 or 16) slots.
///
/// Not thread-safe for that object: initialise before sharing it.
///
/// # Safety
/// `limiter` is NULL or writable storage no other thread uses during the call; `config` is
/// NULL or readable.
///
/// ```c
/// stanchion_keyed_limiter_init(&per_client, &c);
/// ```
#[no_mangle]
pub unsafe extern "C" fn stanchion_keyed_limiter_init(
    limiter: *mut stanchion_keyed_limiter,
    config: *const stanchion_keyed_limiter_config,
) -> stanchion_status {
    boundary(|| {
        ffi::check_storage::<Small, _>(limiter)?;
        // SAFETY: forwarded from the caller.
        let config = unsafe { ffi::read(config) }?;
        let built = build_small(&config)?;
        // SAFETY: checked storage; exclusive by the caller's promise.
        unsafe { ffi::put(limiter, SMALL_TAG, built) };
        Ok(STANCHION_OK)
    })
}

/// Takes `n` tokens from `key`'s bucket at `now_ns`: `STANCHION_OK`, or
/// `STANCHION_RATE_LIMITED`, `STANCHION_INSUFFICIENT_CAPACITY` or `STANCHION_TABLE_FULL`
/// (every slot holds an active key; `retry_after`: when the first frees up). `rejection` may
/// be NULL.
///
/// Thread- and interrupt-safe, lock-free.
///
/// # Safety
/// Pointers are NULL or valid for their type.
///
/// ```c
/// stanchion_keyed_limiter_try_acquire(&per_client, client_id, 1, now, NULL);
/// ```
#[no_mangle]
pub unsafe extern "C" fn stanchion_keyed_limiter_try_acquire(
    limiter: *mut stanchion_keyed_limiter,
    key: u64,
    n: u32,
    now_ns: u64,
    rejection_out: *mut stanchion_rejection,
) -> stanchion_status {
    // SAFETY: forwarded from the caller.
    unsafe { try_acquire::<Small, _>(limiter, SMALL_TAG, key, n, now_ns, rejection_out) }
}

/// Reserves `n` tokens of `key`'s bucket, as `stanchion_token_bucket_reserve`.
///
/// Thread- and interrupt-safe, lock-free.
///
/// # Safety
/// Pointers are NULL or valid for their type.
///
/// ```c
/// uint64_t ready_at;
/// stanchion_keyed_limiter_reserve(&per_client, id, 1, now, 1000000, &ready_at, NULL);
/// ```
#[no_mangle]
pub unsafe extern "C" fn stanchion_keyed_limiter_reserve(
    limiter: *mut stanchion_keyed_limiter,
    key: u64,
    n: u32,
    now_ns: u64,
    max_wait_ns: u64,
    ready_at_ns: *mut u64,
    rejection_out: *mut stanchion_rejection,
) -> stanchion_status {
    let args = (key, n, now_ns, max_wait_ns);
    // SAFETY: forwarded from the caller.
    unsafe { reserve::<Small, _>(limiter, SMALL_TAG, args, ready_at_ns, rejection_out) }
}

/// Whole tokens in `key`'s bucket at `now_ns` (a key without a slot reads as a full bucket).
///
/// Thread- and interrupt-safe, lock-free.
///
/// # Safety
/// Pointers are NULL or valid for their type.
///
/// ```c
/// uint64_t left;
/// stanchion_keyed_limiter_available(&per_client, id, now, &left);
/// ```
#[no_mangle]
pub unsafe extern "C" fn stanchion_keyed_limiter_available(
    limiter: *const stanchion_keyed_limiter,
    key: u64,
    now_ns: u64,
    available: *mut u64,
) -> stanchion_status {
    // SAFETY: forwarded from the caller.
    unsafe {
        read_out(limiter, SMALL_TAG, available, |t: &Small| {
            t.available(key, Nanos::new(now_ns))
        })
    }
}

/// `key`'s bucket at `now_ns`.
///
/// Thread- and interrupt-safe, lock-free.
///
/// # Safety
/// Pointers are NULL or valid for their type.
///
/// ```c
/// stanchion_token_bucket_snapshot s;
/// stanchion_keyed_limiter_snapshot_get(&per_client, id, now, &s);
/// ```
#[no_mangle]
pub unsafe extern "C" fn stanchion_keyed_limiter_snapshot_get(
    limiter: *const stanchion_keyed_limiter,
    key: u64,
    now_ns: u64,
    out: *mut stanchion_token_bucket_snapshot,
) -> stanchion_status {
    // SAFETY: forwarded from the caller.
    unsafe {
        read_out(limiter, SMALL_TAG, out, |t: &Small| {
            token_bucket::snapshot(t.snapshot(key, Nanos::new(now_ns)))
        })
    }
}

/// Slots whose bucket is not full at `now_ns`.
///
/// Thread- and interrupt-safe, lock-free.
///
/// # Safety
/// Pointers are NULL or valid for their type.
///
/// ```c
/// uint32_t active;
/// stanchion_keyed_limiter_active_keys(&per_client, now, &active);
/// ```
#[no_mangle]
pub unsafe extern "C" fn stanchion_keyed_limiter_active_keys(
    limiter: *const stanchion_keyed_limiter,
    now_ns: u64,
    active: *mut u32,
) -> stanchion_status {
    // SAFETY: forwarded from the caller.
    unsafe {
        read_out(limiter, SMALL_TAG, active, |t: &Small| {
            // At most 16 slots.
            t.active_keys(Nanos::new(now_ns)) as u32
        })
    }
}

/// Initialises an empty table of 1024 slots (`config->slots` must be 1024).
///
/// Not thread-safe for that object: initialise before sharing it.
///
/// # Safety
/// `limiter` is NULL or writable storage no other thread uses during the call; `config` is
/// NULL or readable.
///
/// ```c
/// c.slots = 1024;
/// stanchion_keyed_limiter_1024_init(&per_tenant, &c);
/// ```
#[no_mangle]
pub unsafe extern "C" fn stanchion_keyed_limiter_1024_init(
    limiter: *mut stanchion_keyed_limiter_1024,
    config: *const stanchion_keyed_limiter_config,
) -> stanchion_status {
    boundary(|| {
        ffi::check_storage::<Large, _>(limiter)?;
        // SAFETY: forwarded from the caller.
        let config = unsafe { ffi::read(config) }?;
        let built = build_large(&config)?;
        // SAFETY: checked storage; exclusive by the caller's promise.
        unsafe { ffi::put(limiter, LARGE_TAG, built) };
        Ok(STANCHION_OK)
    })
}

/// As `stanchion_keyed_limiter_try_acquire`, for the 1024-slot table.
///
/// Thread- and interrupt-safe, lock-free.
///
/// # Safety
/// Pointers are NULL or valid for their type.
///
/// ```c
/// stanchion_keyed_limiter_1024_try_acquire(&per_tenant, tenant, 1, now, NULL);
/// ```
#[no_mangle]
pub unsafe extern "C" fn stanchion_keyed_limiter_1024_try_acquire(
    limiter: *mut stanchion_keyed_limiter_1024,
    key: u64,
    n: u32,
    now_ns: u64,
    rejection_out: *mut stanchion_rejection,
) -> stanchion_status {
    // SAFETY: forwarded from the caller.
    unsafe { try_acquire::<Large, _>(limiter, LARGE_TAG, key, n, now_ns, rejection_out) }
}

/// As `stanchion_keyed_limiter_reserve`, for the 1024-slot table.
///
/// Thread- and interrupt-safe, lock-free.
///
/// # Safety
/// Pointers are NULL or valid for their type.
///
/// ```c
/// stanchion_keyed_limiter_1024_reserve(&per_tenant, tenant, 1, now, 0, &ready_at, NULL);
/// ```
#[no_mangle]
pub unsafe extern "C" fn stanchion_keyed_limiter_1024_reserve(
    limiter: *mut stanchion_keyed_limiter_1024,
    key: u64,
    n: u32,
    now_ns: u64,
    max_wait_ns: u64,
    ready_at_ns: *mut u64,
    rejection_out: *mut stanchion_rejection,
) -> stanchion_status {
    let args = (key, n, now_ns, max_wait_ns);
    // SAFETY: forwarded from the caller.
    unsafe { reserve::<Large, _>(limiter, LARGE_TAG, args, ready_at_ns, rejection_out) }
}

/// As `stanchion_keyed_limiter_available`, for the 1024-slot table.
///
/// Thread- and interrupt-safe, lock-free.
///
/// # Safety
/// Pointers are NULL or valid for their type.
///
/// ```c
/// stanchion_keyed_limiter_1024_available(&per_tenant, tenant, now, &left);
/// ```
#[no_mangle]
pub unsafe extern "C" fn stanchion_keyed_limiter_1024_available(
    limiter: *const stanchion_keyed_limiter_1024,
    key: u64,
    now_ns: u64,
    available: *mut u64,
) -> stanchion_status {
    // SAFETY: forwarded from the caller.
    unsafe {
        read_out(limiter, LARGE_TAG, available, |t: &Large| {
            KeyedTable::available(t, key, Nanos::new(now_ns))
        })
    }
}

/// As `stanchion_keyed_limiter_snapshot_get`, for the 1024-slot table.
///
/// Thread- and interrupt-safe, lock-free.
///
/// # Safety
/// Pointers are NULL or valid for their type.
///
/// ```c
/// stanchion_keyed_limiter_1024_snapshot_get(&per_tenant, tenant, now, &s);
/// ```
#[no_mangle]
pub unsafe extern "C" fn stanchion_keyed_limiter_1024_snapshot_get(
    limiter: *const stanchion_keyed_limiter_1024,
    key: u64,
    now_ns: u64,
    out: *mut stanchion_token_bucket_snapshot,
) -> stanchion_status {
    // SAFETY: forwarded from the caller.
    unsafe {
        read_out(limiter, LARGE_TAG, out, |t: &Large| {
            token_bucket::snapshot(KeyedTable::snapshot(t, key, Nanos::new(now_ns)))
        })
    }
}

/// As `stanchion_keyed_limiter_active_keys`, for the 1024-slot table.
///
/// Thread- and interrupt-safe, lock-free.
///
/// # Safety
/// Pointers are NULL or valid for their type.
///
/// ```c
/// stanchion_keyed_limiter_1024_active_keys(&per_tenant, now, &active);
/// ```
#[no_mangle]
pub unsafe extern "C" fn stanchion_keyed_limiter_1024_active_keys(
    limiter: *const stanchion_keyed_limiter_1024,
    now_ns: u64,
    active: *mut u32,
) -> stanchion_status {
    // SAFETY: forwarded from the caller.
    unsafe {
        read_out(limiter, LARGE_TAG, active, |t: &Large| {
            // At most 1024 slots.
            KeyedTable::active_keys(t, Nanos::new(now_ns)) as u32
        })
    }
}
