//! The token bucket (GCRA): `capacity` tokens of burst, `refill_amount` more every
//! `refill_every_ns`.

use stanchion_core::{Nanos, TokenBucket, TokenBucketConfig, TokenBucketSnapshot};

use crate::config_errors::Config;
use crate::ffi::{self, boundary, Answer};
use crate::status::{
    rejection, stanchion_config_error, stanchion_rejection, stanchion_status,
    STANCHION_INVALID_CONFIG, STANCHION_OK,
};

/// Storage for a token bucket. Opaque; see `stanchion_breaker` for how storage works.
///
/// ```c
/// static stanchion_token_bucket uplink;
/// stanchion_token_bucket_config c;
/// stanchion_token_bucket_config_default(&c);
/// stanchion_token_bucket_init(&uplink, &c);
/// ```
#[repr(C, align(8))]
pub struct stanchion_token_bucket {
    _opaque: [u64; 6],
}

/// `sizeof(stanchion_token_bucket)` in bytes.
pub const STANCHION_TOKEN_BUCKET_SIZE: usize = 48;
/// `_Alignof(stanchion_token_bucket)` in bytes.
pub const STANCHION_TOKEN_BUCKET_ALIGN: usize = 8;

const TAG: u64 = ffi::tag(2);
const _: () = assert!(ffi::fits::<TokenBucket, stanchion_token_bucket>());
const _: () =
    assert!(core::mem::size_of::<stanchion_token_bucket>() == STANCHION_TOKEN_BUCKET_SIZE);
const _: () =
    assert!(core::mem::align_of::<stanchion_token_bucket>() == STANCHION_TOKEN_BUCKET_ALIGN);

/// A token bucket's config: the rate is `refill_amount` tokens per `refill_every_ns`, exact
/// however it divides (1 per 3 s and 10^9 per second alike). A new bucket is full.
///
/// ```c
/// stanchion_token_bucket_config c;
/// stanchion_token_bucket_config_default(&c);
/// c.capacity = 100; c.refill_amount = 50; c.refill_every_ns = 1000000000; /* 50/s, burst 100 */
/// ```
#[repr(C)]
#[derive(Clone, Copy)]
pub struct stanchion_token_bucket_config {
    /// The burst: tokens a full bucket holds, at least 1 [1].
    pub capacity: u32,
    /// Tokens added every `refill_every_ns`, at least 1 [1].
    pub refill_amount: u32,
    /// The refill period, at least 1 ns [1 s].
    pub refill_every_ns: u64,
}

/// A bucket at one instant.
///
/// ```c
/// stanchion_token_bucket_snapshot s;
/// stanchion_token_bucket_snapshot_get(&uplink, now, &s);
/// ```
#[repr(C)]
#[derive(Clone, Copy)]
pub struct stanchion_token_bucket_snapshot {
    /// Whole tokens available now (never negative).
    pub available: u64,
    /// The configured capacity.
    pub capacity: u32,
    /// Whether `next_token_at_ns` is set (false when the bucket is full).
    pub has_next_token_at: bool,
    /// When `available` next grows.
    pub next_token_at_ns: u64,
    /// When the bucket is full again if nothing more is taken (`now` when full).
    pub full_at_ns: u64,
}

pub(crate) fn to_core(c: &stanchion_token_bucket_config) -> TokenBucketConfig {
    TokenBucketConfig::new(c.capacity).refill(c.refill_amount, Nanos::new(c.refill_every_ns))
}

pub(crate) fn from_core(c: &TokenBucketConfig) -> stanchion_token_bucket_config {
    stanchion_token_bucket_config {
        capacity: c.capacity,
        refill_amount: c.refill_amount,
        refill_every_ns: c.refill_every.as_nanos(),
    }
}

pub(crate) fn snapshot(s: TokenBucketSnapshot) -> stanchion_token_bucket_snapshot {
    stanchion_token_bucket_snapshot {
        available: s.available,
        capacity: s.capacity,
        has_next_token_at: s.next_token_at.is_some(),
        next_token_at_ns: s.next_token_at.map_or(0, Nanos::as_nanos),
        full_at_ns: s.full_at.as_nanos(),
    }
}

/// Maps a refusal to its status and writes its details (the caller checked nothing: the
/// output is optional).
///
/// # Safety
/// `out` is NULL or writable.
pub(crate) unsafe fn refuse(
    refused: stanchion_core::Rejected,
    out: *mut stanchion_rejection,
) -> Answer {
    let (status, details) = rejection(refused);
    // SAFETY: forwarded from the caller.
    unsafe { ffi::write_optional(out, details) };
    Ok(status)
}

/// Writes the defaults into `out`: capacity 1, one token per second. (The core has no default
/// capacity; pick yours.)
///
/// Thread- and interrupt-safe (touches only `out`).
///
/// # Safety
/// `out` is NULL or writable.
///
/// ```c
/// stanchion_token_bucket_config c;
/// stanchion_token_bucket_config_default(&c);
/// ```
#[no_mangle]
pub unsafe extern "C" fn stanchion_token_bucket_config_default(
    out: *mut stanchion_token_bucket_config,
) -> stanchion_status {
    boundary(|| {
        ffi::non_null(out)?;
        // SAFETY: checked; writable by the caller's promise.
        unsafe { ffi::write(out, from_core(&TokenBucketConfig::new(1))) };
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
/// c.capacity = 0;
/// stanchion_token_bucket_config_validate(&c, &e); /* e.field: "capacity" */
/// ```
#[no_mangle]
pub unsafe extern "C" fn stanchion_token_bucket_config_validate(
    config: *const stanchion_token_bucket_config,
    error: *mut stanchion_config_error,
) -> stanchion_status {
    // SAFETY: forwarded from the caller.
    boundary(|| unsafe {
        ffi::validate(Config::TokenBucket, config, error, |c| {
            to_core(c).validate()
        })
    })
}

/// Initialises a full bucket in `bucket`'s storage.
///
/// Not thread-safe for that object: initialise before sharing it.
///
/// # Safety
/// `bucket` is NULL or writable storage no other thread uses during the call; `config` is
/// NULL or readable.
///
/// ```c
/// stanchion_token_bucket_init(&uplink, &c);
/// ```
#[no_mangle]
pub unsafe extern "C" fn stanchion_token_bucket_init(
    bucket: *mut stanchion_token_bucket,
    config: *const stanchion_token_bucket_config,
) -> stanchion_status {
    boundary(|| {
        ffi::check_storage::<TokenBucket, _>(bucket)?;
        // SAFETY: forwarded from the caller.
        let config = unsafe { ffi::read(config) }?;
        let built = TokenBucket::new(to_core(&config)).map_err(|_| STANCHION_INVALID_CONFIG)?;
        // SAFETY: checked storage; exclusive by the caller's promise.
        unsafe { ffi::put(bucket, TAG, built) };
        Ok(STANCHION_OK)
    })
}

/// # Safety
/// `bucket` is NULL or points to storage that outlives the call.
unsafe fn get<'a>(
    bucket: *const stanchion_token_bucket,
) -> Result<&'a TokenBucket, stanchion_status> {
    // SAFETY: forwarded from the caller.
    unsafe { ffi::object(bucket, TAG) }
}

/// Takes `n` tokens at `now_ns`: `STANCHION_OK`, or `STANCHION_RATE_LIMITED` (with when they
/// will be there) or `STANCHION_INSUFFICIENT_CAPACITY` (`n` above the capacity: never; no
/// `retry_after`). `rejection` may be NULL.
///
/// Thread- and interrupt-safe, lock-free.
///
/// # Safety
/// Pointers are NULL or valid for their type.
///
/// ```c
/// if (stanchion_token_bucket_try_acquire(&uplink, 1, now, NULL) == STANCHION_OK) send();
/// ```
#[no_mangle]
pub unsafe extern "C" fn stanchion_token_bucket_try_acquire(
    bucket: *mut stanchion_token_bucket,
    n: u32,
    now_ns: u64,
    rejection_out: *mut stanchion_rejection,
) -> stanchion_status {
    boundary(|| {
        // SAFETY: forwarded from the caller.
        let b = unsafe { get(bucket) }?;
        match b.try_acquire(n, Nanos::new(now_ns)) {
            Ok(()) => Ok(STANCHION_OK),
            // SAFETY: optional output.
            Err(refused) => unsafe { refuse(refused, rejection_out) },
        }
    })
}

/// Reserves `n` tokens now and says when to proceed (`ready_at`, written on `STANCHION_OK`).
/// Reservations are served in the order made. One that would wait more than `max_wait_ns`
/// is refused and takes nothing (`retry_after`: how much later it would fit).
///
/// Thread- and interrupt-safe, lock-free.
///
/// # Safety
/// Pointers are NULL or valid for their type.
///
/// ```c
/// uint64_t ready_at;
/// if (stanchion_token_bucket_reserve(&uplink, 1, now, 5000000, &ready_at, NULL) == STANCHION_OK)
///     sleep_until(ready_at);
/// ```
#[no_mangle]
pub unsafe extern "C" fn stanchion_token_bucket_reserve(
    bucket: *mut stanchion_token_bucket,
    n: u32,
    now_ns: u64,
    max_wait_ns: u64,
    ready_at_ns: *mut u64,
    rejection_out: *mut stanchion_rejection,
) -> stanchion_status {
    boundary(|| {
        // SAFETY: forwarded from the caller.
        let b = unsafe { get(bucket) }?;
        ffi::non_null(ready_at_ns)?;
        match b.reserve(n, Nanos::new(now_ns), Nanos::new(max_wait_ns)) {
            Ok(ready) => {
                // SAFETY: checked; writable by the caller's promise.
                unsafe { ffi::write(ready_at_ns, ready.as_nanos()) };
                Ok(STANCHION_OK)
            }
            // SAFETY: optional output.
            Err(refused) => unsafe { refuse(refused, rejection_out) },
        }
    })
}

/// Whole tokens available at `now_ns` (never negative).
///
/// Thread- and interrupt-safe, lock-free.
///
/// # Safety
/// Pointers are NULL or valid for their type.
///
/// ```c
/// uint64_t left;
/// stanchion_token_bucket_available(&uplink, now, &left);
/// ```
#[no_mangle]
pub unsafe extern "C" fn stanchion_token_bucket_available(
    bucket: *const stanchion_token_bucket,
    now_ns: u64,
    available: *mut u64,
) -> stanchion_status {
    boundary(|| {
        // SAFETY: forwarded from the caller.
        let b = unsafe { get(bucket) }?;
        ffi::non_null(available)?;
        // SAFETY: checked; writable.
        unsafe { ffi::write(available, b.available(Nanos::new(now_ns))) };
        Ok(STANCHION_OK)
    })
}

/// The bucket at `now_ns`.
///
/// Thread- and interrupt-safe, lock-free.
///
/// # Safety
/// Pointers are NULL or valid for their type.
///
/// ```c
/// stanchion_token_bucket_snapshot s;
/// stanchion_token_bucket_snapshot_get(&uplink, now, &s);
/// ```
#[no_mangle]
pub unsafe extern "C" fn stanchion_token_bucket_snapshot_get(
    bucket: *const stanchion_token_bucket,
    now_ns: u64,
    out: *mut stanchion_token_bucket_snapshot,
) -> stanchion_status {
    boundary(|| {
        // SAFETY: forwarded from the caller.
        let b = unsafe { get(bucket) }?;
        ffi::non_null(out)?;
        // SAFETY: checked; writable.
        unsafe { ffi::write(out, snapshot(b.snapshot(Nanos::new(now_ns)))) };
        Ok(STANCHION_OK)
    })
}
