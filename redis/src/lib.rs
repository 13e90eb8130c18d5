//! # stanchion-redis
//!
//! stanchion's fleet tier (`docs/semantics.md` §9 in the repository): limits that one process
//! cannot keep alone, kept in Redis 7 (or a server that speaks its protocol) and decided by one
//! script call each. This release has four:
//!
//! - [`FleetLimiter`], the fleet rate limiter: the core's token bucket (§3), shared by every
//!   process that names the same key;
//! - [`FleetQuota`], a stock of units (hot-item inventory, seats, credits) that a take never
//!   drives below zero, charged once per request id however often a take is retried, spread
//!   over buckets on different cluster slots for hot items, with local batches
//!   ([`QuotaPool`]) that hand units out with no round trip;
//! - [`FleetSemaphore`], the fleet bulkhead: at most `limit` holders across the fleet, each
//!   holding a lease (a random 128-bit token with an expiry), kept alive by a
//!   [`LeaseKeeper`] for work longer than the lease time;
//! - [`FleetLock`], the distributed lock (and [`Redlock`] over several servers): leases with
//!   fencing tokens, renewed while the work runs (the README walks through its six levels).
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use stanchion::{Nanos, Reason, TokenBucketConfig};
//! use stanchion_redis::{Error, FleetLimiter, FleetLimiterConfig};
//!
//! // 100 requests per second per tenant across the fleet, in bursts of up to 200.
//! let limiter = FleetLimiter::new(
//!     FleetLimiterConfig::new(TokenBucketConfig::new(200).refill(100, Nanos::from_secs(1)))
//!         .prefix("myapp:tenants:"),
//! )?;
//! let client = redis::Client::open("redis://127.0.0.1/")?;
//! let mut conn = client.get_multiplexed_async_connection().await?;
//! match limiter.try_acquire(&mut conn, "tenant-7", 1).await {
//!     Ok(admitted) => println!("admitted; {} left", admitted.remaining),
//!     Err(Error::Refused(refused)) => {
//!         assert_eq!(refused.rejected.reason, Reason::RateLimited);
//!         println!("retry in {:?}", refused.rejected.retry_after);
//!     }
//!     Err(error) => eprintln!("Redis could not decide: {error}"),
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # How the limiter decides
//!
//! Every decision is one call of `scripts/gcra.lua`, the file every binding ships: `EVALSHA`,
//! and when the server answers `NOSCRIPT`, `SCRIPT LOAD` and `EVALSHA` again (redis-rs's
//! [`redis::Script`]). The script reads one key, `<prefix>{<key>}:limiter`, and writes it on a
//! grant; the braces make the key its own cluster hash tag, so keys spread over a cluster's
//! slots and no call ever spans two (no `CROSSSLOT`). It answers
//! `{allowed, remaining, retry_after, reset_after}`, which the limiter returns as the core
//! does: [`Admitted`], or [`Error::Refused`] holding the core's [`stanchion::Rejected`]
//! (`RateLimited` with the exact `retry_after`, or `InsufficientCapacity` for `n > capacity`).
//!
//! **Time** is the Redis server's `TIME` (microseconds), so clients' clocks never matter and
//! the answers are the core's for a timeline of whole microseconds. An older `now` follows the
//! core's rule (§1): the bucket keeps the newest grant's time, and a request made before it
//! is decided as at that time, with `retry_after` counted from the `now` given.
//!
//! **Expiry.** A grant sets the key to expire when the bucket would be full again (`PXAT`,
//! rounded up to the millisecond): an idle key leaves nothing behind, and a key never
//! vanishes while its bucket still owes tokens. Refusals and peeks write nothing.
//!
//! # Exactness
//!
//! Lua numbers are doubles, which hold integers exactly only below 2^53, while the core keeps
//! its theoretical arrival time (TAT) in units of `1 / refill_amount` ns with the rate in
//! lowest terms, so that no emission interval is rounded (1 per 3 s, 7 per 10 ns). The script
//! keeps the same units and stays exact by two rules:
//!
//! - no absolute time is ever one number: an instant is a pair (seconds, nanoseconds);
//! - the TAT is stored relative to the newest grant's time, in the core's units, and a grant
//!   leaves it at most one burst ahead: `capacity × refill_every` units, with the rate in
//!   lowest terms. [`FleetLimiterConfig::validate`] refuses a burst above 2^52 units
//!   ([`MAX_BURST_UNITS`]), so every sum, difference and product the script forms is an
//!   integer of at most 2^53, and each division is checked and corrected.
//!
//! So the accepted rates are those with `capacity × refill_every / gcd(refill_amount,
//! refill_every) ≤ 2^52` (and, as in the core, at most one token per nanosecond). Where a
//! token takes whole nanoseconds that reads: a full burst refills within 2^52 ns, about 52
//! days. The largest capacity is 4 503 599 at one or three tokens per second (both reduce to
//! a period of 10⁹ ns), 1 501 199 at one per 3 s, 75 059 at one per minute, 1 250 at one per
//! hour and 52 at one per day; when the period in lowest terms is at most 2^20 ns (1 000 or
//! 10⁶ tokens per second, say), every `u32` capacity fits.
//! The answers then equal the core `TokenBucket`'s for the same timeline, to the nanosecond:
//! the conformance scenarios in `redis/conformance/` and a randomized side-by-side test check
//! it against a live server.
//!
//! The one place the fleet limiter differs: an expired key has forgotten its newest grant's
//! time, so a server clock that steps back past the last grant of a key that has since
//! expired finds a full bucket, where the core would decide at that grant's time. A changed
//! config (a deploy) takes over the bucket's TAT, read in whole nanoseconds (rounded up) when
//! the units change. What Redis itself cannot promise (asynchronous replication, eviction)
//! is listed in the README's "Honest limits".
//!
//! # When Redis cannot decide
//!
//! Every call is bounded by the limiter's `timeout` (250 ms by default,
//! [`stanchion::fleet::DEFAULT_CALL_TIMEOUT`]), raced against a sleep of the runtime the
//! `tokio-comp` (default) or `smol-comp` feature picks ([`TokioTimer`], `SmolTimer`, or any
//! [`Timer`] through [`FleetLimiter::with_timer`]); the connection's own response timeout
//! still applies, whichever runs out first. A core [`stanchion::CircuitBreaker`]
//! ([`stanchion::fleet::connection_breaker`]: three failures in a row open it for 1 s, growing
//! to 30 s) guards the calls: while it is open no call is made, so a Redis that is down costs
//! a refusal from memory, not a timeout per call. Any answer of the script, refusals included,
//! is a success for it; an error or a timeout is a failure.
//!
//! What a call then answers is the limiter's `on_unavailable` policy
//! ([`stanchion::fleet::Unavailable`], decided by [`stanchion::fleet::fallback`]):
//!
//! | policy | the call |
//! | --- | --- |
//! | `Raise` (default) | returns [`Error::Redis`] (the Redis error is its [`source`](std::error::Error::source)), [`Error::TimedOut`] or [`Error::BreakerOpen`] |
//! | `Local` | asks an in-process core `TokenBucket` holding `local_share` of the fleet's burst and rate |
//! | `Allow` | admits |
//! | `Deny` | refuses (`RateLimited`, no `retry_after`) |
//!
//! An answer the policy gave has `fallback: true` ([`Admitted::fallback`],
//! [`Refused::fallback`]).
//!
//! ```
//! use stanchion::TokenBucketConfig;
//! use stanchion_redis::{FleetLimiter, FleetLimiterConfig};
//! // 1 000/s across 8 processes: each keeps an eighth while Redis is away.
//! let config = FleetLimiterConfig::new(TokenBucketConfig::new(1_000).refill(1_000, stanchion::Nanos::from_secs(1)))
//!     .local(1.0 / 8.0);
//! assert!(FleetLimiter::new(config).is_ok());
//! ```
//!
//! # Quota
//!
//! A [`FleetQuota`] keeps its stock in `scripts/quota.lua`'s keys, `<prefix>{<name>:<i>}:quota`
//! for each bucket `i`. A take visits the buckets, one script call each, from a starting
//! bucket round the ring until one holds the units asked for, and is [`Error::SoldOut`] only
//! when every bucket it visited held fewer; a take is served whole by one bucket. With a
//! request id ([`FleetQuota::take_with_id`]) the starting bucket comes from the id and each
//! bucket visited remembers the id's outcome for the config's `id_memory` (10 minutes by
//! default), so a retry after a timeout is charged once. A [`QuotaPool`] takes a batch in one
//! call and hands the units out from the core's [`Stock`](stanchion::Stock). A quota never
//! guesses: when Redis cannot answer, every call returns [`Error::Redis`].
//!
//! ```no_run
//! # async fn run(mut conn: redis::aio::MultiplexedConnection) -> Result<(), stanchion_redis::Error> {
//! use stanchion_redis::{Error, FleetQuota, FleetQuotaConfig};
//! let quota = FleetQuota::new(FleetQuotaConfig::new().prefix("shop:").buckets(8)).unwrap();
//! quota.restock(&mut conn, "sku-42", 500).await?;
//! match quota.take_with_id(&mut conn, "sku-42", 1, "order-7781").await {
//!     Ok(taken) => println!("reserved (a retry: {})", taken.replayed),
//!     Err(Error::SoldOut(_)) => println!("sold out"),
//!     Err(error) => return Err(error),
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # Fleet bulkhead and leases
//!
//! A [`FleetSemaphore`] keeps the leases of one name in a sorted set,
//! `<prefix>{<name>}:semaphore`, scored by expiry on the server's clock (`scripts/semaphore.lua`).
//! Every call reclaims the leases that expired; [`try_acquire`](FleetSemaphore::try_acquire)
//! then adds the lease if fewer than `limit` are held, and refuses with [`Error::Full`] (the
//! core's `BulkheadFull`) otherwise. Renewing and releasing check the lease's token first; a
//! renewal resets the expiry to the full lease time. A [`LeaseKeeper`] renews every third of
//! the lease time and reports at once when a renewal fails or finds the lease gone; it is a
//! future the caller runs or spawns, generic over the renewal and the sleep, so it needs no
//! particular runtime (the `tokio-comp` feature adds `tokio::time::sleep` conveniences).
//!
//! ```no_run
//! # async fn run(conn: redis::aio::MultiplexedConnection) -> Result<(), stanchion_redis::Error> {
//! use stanchion_redis::{FleetSemaphore, FleetSemaphoreConfig};
//! let sem = FleetSemaphore::new(FleetSemaphoreConfig::new(3)).unwrap();
//! let lease = sem.lease("exports")?;
//! sem.try_acquire(&mut conn.clone(), &lease).await?;
//! let (keeper, handle) = sem.tokio_keeper(conn.clone(), &lease);
//! tokio::spawn(keeper.run());
//! // ... the work, watching handle.is_lost() ...
//! handle.stop().await; // no renewal runs after this returns
//! sem.release(&mut conn.clone(), &lease).await?;
//! # Ok(())
//! # }
//! ```
//!
//! # Planned
//!
//! The rest of §9 comes in later releases: the same scripts in the Python and Node bindings.
#![warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod error;
mod guard;
mod keeper;
mod limiter;
mod lock;
mod lost;
mod names;
mod pool;
mod quota;
mod redlock;
mod semaphore;
mod timer;

/// The README's example, compiled with the other doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

pub use error::{Error, Full, Refused, SoldOut};
#[cfg(feature = "tokio-comp")]
pub use keeper::TokioSleep;
pub use keeper::{KeeperHandle, KeeperStatus, LeaseKeeper, Lost};
pub use limiter::{
    Admitted, FleetLimiter, FleetLimiterConfig, DEFAULT_PREFIX, MAX_BURST_UNITS, MAX_KEY_LEN,
    MAX_PREFIX_LEN,
};
pub use lock::{Finished, FleetLock, FleetLockConfig, LockError, LockLease};
pub use lost::LeaseLost;
pub use names::{MAX_REQUEST_ID_LEN, MAX_UNITS};
pub use pool::QuotaPool;
pub use quota::{
    FleetQuota, FleetQuotaConfig, Taken, DEFAULT_BATCH, DEFAULT_ID_MEMORY, MAX_BUCKETS,
};
pub use redlock::Redlock;
pub use semaphore::{
    FleetSemaphore, FleetSemaphoreConfig, Lease, SemaphoreState, DEFAULT_LEASE_TTL,
};
#[cfg(feature = "smol-comp")]
pub use timer::SmolTimer;
pub use timer::Timer;
#[cfg(feature = "tokio-comp")]
pub use timer::TokioTimer;
