//! The lease rules of the fleet tier (`stanchion::fleet`) for the fleet bulkhead and the lock
//! of `stanchion/redis`: the lease time's range and default, how often a keeper renews, the
//! lock's waits between attempts, RedLock's quorum and validity. The scripts decide on the
//! server; what the client decides about a lease is decided here by the core, so Node renews,
//! waits and counts a quorum as Rust and Python do.

use napi::bindgen_prelude::{BigInt, Either};
use napi_derive::napi;
use stanchion::{fleet, Backoff, Nanos, Retrying};

use crate::code;
use crate::time::{bigint, instant, millis, nanos_of_bigint};

/// The lease defaults and limits, as the core states them.
#[napi(object)]
pub struct FleetLeaseDefaults {
    /// `fleet::DEFAULT_LEASE`, ns.
    pub lease: BigInt,
    /// `fleet::MAX_LEASE`, ns.
    pub max_lease: BigInt,
}

/// The lease defaults and limits.
#[napi]
pub fn fleet_lease_defaults() -> FleetLeaseDefaults {
    FleetLeaseDefaults {
        lease: bigint(fleet::DEFAULT_LEASE),
        max_lease: bigint(fleet::MAX_LEASE),
    }
}

/// Checks a lease time in `bigint` nanoseconds (`fleet::check_lease`): whole milliseconds,
/// 1 ms to 2^40 ms. `field` is `"ttl"` or `"wait_replicas.timeout"`, the field its error names.
#[napi]
pub fn fleet_check_lease(field: String, ttl: BigInt) -> napi::Result<()> {
    let field = match field.as_str() {
        "ttl" => "ttl",
        "wait_replicas.timeout" => "wait_replicas.timeout",
        _ => {
            return Err(napi::Error::new(
                napi::Status::InvalidArg,
                format!("no lease field `{field}`"),
            ))
        }
    };
    fleet::check_lease(field, Nanos::new(nanos_of_bigint(&ttl))).map_err(code::config_error)
}

/// How often a keeper renews a lease of `ttl` (`fleet::renew_every`), both `bigint` ns.
#[napi]
pub fn fleet_renew_every(ttl: BigInt) -> BigInt {
    bigint(fleet::renew_every(Nanos::new(nanos_of_bigint(&ttl))))
}

/// The servers out of `servers` that must grant a RedLock lease (`fleet::quorum`).
#[napi]
pub fn fleet_quorum(servers: u32) -> u32 {
    fleet::quorum(servers)
}

/// How long a RedLock lease of `ttl` stays valid once its acquisition took `elapsed`
/// (`fleet::redlock_validity`), all `bigint` ns; null when nothing is left.
#[napi]
pub fn fleet_redlock_validity(ttl: BigInt, elapsed: BigInt) -> Option<BigInt> {
    fleet::redlock_validity(
        Nanos::new(nanos_of_bigint(&ttl)),
        Nanos::new(nanos_of_bigint(&elapsed)),
    )
    .map(bigint)
}

/// The waits of one lock acquisition while another holder has the lock: the core's
/// `fleet::lock_backoff`, bounded by the caller's patience (`max_elapsed`) and by the holder's
/// remaining lease, as the Rust crate's lock waits.
#[napi]
pub struct NativeLockWaiter {
    backoff: Backoff,
    retrying: Retrying,
    start: Nanos,
}

#[napi]
impl NativeLockWaiter {
    /// A waiter starting at `now` that waits at most `wait` (`bigint` ns; 0: one attempt and no
    /// wait; null: no limit), its jitter drawn from `seed`.
    #[napi(constructor)]
    pub fn new(wait: Option<BigInt>, seed: BigInt, now: Either<f64, BigInt>) -> napi::Result<Self> {
        let config = match wait.as_ref().map(nanos_of_bigint) {
            None => fleet::lock_backoff(),
            Some(0) => fleet::lock_backoff().max_attempts(1),
            Some(wait) => fleet::lock_backoff().max_elapsed(Nanos::new(wait)),
        };
        let backoff = Backoff::new(config).map_err(code::config_error)?;
        let start = instant(&now);
        Ok(NativeLockWaiter {
            retrying: backoff.start(nanos_of_bigint(&seed), start),
            backoff,
            start,
        })
    }

    /// The wait before the next attempt at `now`, in milliseconds: the backoff's, cut to the
    /// holder's remaining lease `retry_after` (`bigint` ns; null when unknown) and at least
    /// 1 ms of it. -1 when the caller has waited long enough.
    #[napi]
    pub fn pause(&mut self, now: Either<f64, BigInt>, retry_after: Option<BigInt>) -> f64 {
        let Ok(pause) = self.retrying.next_delay(&self.backoff, instant(&now), None) else {
            return -1.0;
        };
        let lease = retry_after.map_or(Nanos::MAX, |ns| Nanos::new(nanos_of_bigint(&ns)));
        millis(pause.min(lease.max(Nanos::from_millis(1))))
    }

    /// Milliseconds since the waiter started, at `now`.
    #[napi]
    pub fn waited(&self, now: Either<f64, BigInt>) -> f64 {
        millis(instant(&now).saturating_sub(self.start))
    }
}
