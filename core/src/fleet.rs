//! The rules every binding of the fleet tier shares (`docs/semantics.md` §9).
//!
//! A fleet primitive (a rate limiter, quota or bulkhead kept in Redis) is decided by a script on
//! the server; what stays with the client is decided here, once for every language: which names
//! and prefixes are accepted, which token-bucket configs the limiter script computes exactly,
//! how a call is guarded (its timeout and the circuit breaker around the connection), and what
//! a primitive answers when the server cannot: the [`Unavailable`] policy.
//!
//! ```
//! use stanchion::fleet::{self, Fallback, Unavailable};
//! use stanchion::{Nanos, Reason, TokenBucket, TokenBucketConfig};
//!
//! // 100/s across the fleet; this process keeps a quarter of it while Redis is down.
//! let fleet_rate = TokenBucketConfig::new(100).refill(100, Nanos::from_secs(1));
//! let local = TokenBucket::new(fleet::local_share(fleet_rate, 0.25).unwrap()).unwrap();
//! let now = Nanos::from_secs(1);
//! let answer = fleet::fallback(Unavailable::Local, Reason::RateLimited, Some(&local), 1, now);
//! assert_eq!(answer, Fallback::Admit);
//! // `raise` (the default) hands the store's error to the caller.
//! let answer = fleet::fallback(Unavailable::DEFAULT, Reason::RateLimited, None, 1, now);
//! assert_eq!(answer, Fallback::Raise);
//! ```

use crate::{
    BackoffConfig, BreakerConfig, ConfigError, Jitter, Nanos, Reason, Rejected, TokenBucket,
    TokenBucketConfig,
};

pub mod quota;

/// The longest time a script keeps anything for (a lease, a request id), in milliseconds:
/// 2^40 ms, about 34 years.
///
/// ```
/// assert_eq!(stanchion::fleet::MAX_MILLIS, 1 << 40);
/// ```
pub const MAX_MILLIS: u64 = 1 << 40;

/// The prefix of every key a fleet primitive writes unless configured otherwise.
pub const DEFAULT_PREFIX: &str = "stanchion:";

/// The longest name (a limiter key, a quota or bulkhead name) accepted, in bytes.
pub const MAX_NAME_LEN: usize = 1024;

/// The longest key prefix accepted, in bytes.
pub const MAX_PREFIX_LEN: usize = 256;

/// The largest burst the limiter script computes exactly: `capacity × refill_every`, with the
/// rate in lowest terms, in units of `1 / refill_amount` ns. Every number the script handles
/// then stays an integer a double holds exactly (below 2^53).
pub const MAX_BURST_UNITS: u64 = 1 << 52;

/// How long one call to the store may take before it counts as failed: 250 ms. Loopback
/// answers in about 0.1 ms and a healthy network in a few; a call still pending after a
/// quarter second is better answered by the [`Unavailable`] policy.
pub const DEFAULT_CALL_TIMEOUT: Nanos = Nanos::from_millis(250);

/// The circuit breaker that guards the connection to the store, so that a store that is down
/// costs a refusal from memory rather than a timeout per call: [`connection_breaker_for`] the
/// default call timeout.
///
/// ```
/// let config = stanchion::fleet::connection_breaker();
/// assert_eq!(config.consecutive_failures, Some(3));
/// assert!(config.validate().is_ok());
/// ```
pub const fn connection_breaker() -> BreakerConfig {
    connection_breaker_for(DEFAULT_CALL_TIMEOUT)
}

/// The breaker guarding calls bounded by `timeout`. Three failures in a row (errors or
/// timeouts; the store's answers, refusals included, are successes) open it for 1 s, growing
/// ×2 per failed probe up to 30 s with 20 % jitter so a fleet does not probe in step; one probe
/// at a time, which must report within twice the call timeout.
///
/// Its seed is 0: give each process its own (the bindings draw one from the operating
/// system), or every process of a fleet jitters alike and probes in step.
///
/// ```
/// use stanchion::{fleet, Nanos};
/// let config = fleet::connection_breaker_for(Nanos::from_secs(2));
/// assert_eq!(config.probe_timeout, Some(Nanos::from_secs(4)));
/// ```
pub const fn connection_breaker_for(timeout: Nanos) -> BreakerConfig {
    BreakerConfig::new()
        .failure_count(None)
        .consecutive_failures(Some(3))
        .open_for(Nanos::from_secs(1))
        .open_for_growth(Nanos::from_secs(30), 2.0, 0.2)
        .half_open(1, Some(1))
        .probe_timeout(Some(Nanos::new(timeout.as_nanos().saturating_mul(2))))
}

/// The error replies that mean the server cannot decide now but may soon (loading its data,
/// busy with a script, a replica after a failover, a cluster without a quorum, out of memory,
/// refusing writes): a call answered with one is a failure for the connection's breaker and
/// answered by the `on_unavailable` policy, like a timeout. Any other error reply (`ERR`,
/// `WRONGTYPE`: a key holding something else, a script's own error) is an answer waiting
/// will not change: it reaches the caller as it is, and the breaker counts it a success.
pub const UNAVAILABLE_REPLIES: [&str; 9] = [
    "LOADING",
    "BUSY",
    "READONLY",
    "MASTERDOWN",
    "CLUSTERDOWN",
    "TRYAGAIN",
    "OOM",
    "MISCONF",
    "NOREPLICAS",
];

/// Whether an error reply with this code (its first word) is one of
/// [`UNAVAILABLE_REPLIES`].
///
/// ```
/// use stanchion::fleet::is_unavailable_reply;
/// assert!(is_unavailable_reply("LOADING"));
/// assert!(!is_unavailable_reply("WRONGTYPE"));
/// ```
pub fn is_unavailable_reply(code: &str) -> bool {
    UNAVAILABLE_REPLIES.contains(&code)
}

/// Checks a key prefix: at most [`MAX_PREFIX_LEN`] bytes, without `{` or `}` (the braces
/// around the name are the key's cluster hash tag, and a brace in the prefix would move it).
///
/// ```
/// use stanchion::fleet::check_prefix;
/// assert!(check_prefix("app:login:").is_ok());
/// assert_eq!(check_prefix("a{b}:").unwrap_err().field, "prefix");
/// ```
pub fn check_prefix(prefix: &str) -> Result<(), ConfigError> {
    if prefix.len() > MAX_PREFIX_LEN || prefix.contains(['{', '}']) {
        return Err(ConfigError::new(
            "prefix",
            "at most 256 bytes, without `{` or `}`",
        ));
    }
    Ok(())
}

/// Checks a name that goes between the braces of a key (`prefix{name}:…`): 1 to
/// [`MAX_NAME_LEN`] bytes, without `{` or `}`. `field` names it in the error (`"key"`,
/// `"name"`).
///
/// ```
/// use stanchion::fleet::check_name;
/// assert!(check_name("key", "tenant-7").is_ok());
/// assert_eq!(check_name("key", "").unwrap_err().allowed, "1..=1024 bytes, without `{` or `}`");
/// assert_eq!(check_name("name", "a}b").unwrap_err().field, "name");
/// ```
pub fn check_name(field: &'static str, name: &str) -> Result<(), ConfigError> {
    if name.is_empty() || name.len() > MAX_NAME_LEN || name.contains(['{', '}']) {
        return Err(ConfigError::new(
            field,
            "1..=1024 bytes, without `{` or `}`",
        ));
    }
    Ok(())
}

/// Checks a fleet limiter's bucket: the core's token-bucket checks, then the bound that keeps
/// the limiter script exact, `capacity × refill_every / gcd(refill_amount, refill_every) ≤
/// 2^52` ([`MAX_BURST_UNITS`]): a burst of whole-nanosecond tokens refills within 52 days.
///
/// ```
/// use stanchion::{fleet, Nanos, TokenBucketConfig};
/// assert!(fleet::check_bucket(TokenBucketConfig::new(100).refill(10, Nanos::from_secs(1))).is_ok());
/// // 10^7 tokens at one per second refill in 116 days: too long to be exact.
/// assert_eq!(fleet::check_bucket(TokenBucketConfig::new(10_000_000)).unwrap_err().field, "capacity");
/// ```
pub fn check_bucket(bucket: TokenBucketConfig) -> Result<(), ConfigError> {
    let reduced = TokenBucket::new(bucket)?.config();
    let every = reduced.refill_every.as_nanos();
    if every > MAX_BURST_UNITS {
        return Err(ConfigError::new(
            "refill_every",
            "at most 2^52 ns once the rate is in lowest terms (refill_every / gcd(refill_amount, refill_every))",
        ));
    }
    if u64::from(reduced.capacity).saturating_mul(every) > MAX_BURST_UNITS {
        return Err(ConfigError::new(
            "capacity",
            "1..=2^52 / refill_every, with the rate in lowest terms (capacity × refill_every / gcd(refill_amount, refill_every) ≤ 2^52 ns)",
        ));
    }
    Ok(())
}

/// Checks a call timeout: 1 ns to 1 hour.
///
/// ```
/// use stanchion::{fleet, Nanos};
/// assert!(fleet::check_timeout(fleet::DEFAULT_CALL_TIMEOUT).is_ok());
/// assert_eq!(fleet::check_timeout(Nanos::ZERO).unwrap_err().field, "timeout");
/// ```
pub const fn check_timeout(timeout: Nanos) -> Result<(), ConfigError> {
    if timeout.as_nanos() == 0 || timeout.as_nanos() > Nanos::from_secs(3600).as_nanos() {
        return Err(ConfigError::new("timeout", "1 ns to 1 hour"));
    }
    Ok(())
}

/// The local bucket that stands in for a fleet limiter while the store cannot answer: `share`
/// of the fleet's burst (rounded up, at least one token) and of its rate (the refill period
/// stretched by `1 / share`, rounded up to the nanosecond). A share of `1 / processes` keeps
/// the fleet near its limit while every process is cut off.
///
/// ```
/// use stanchion::{fleet, Nanos, TokenBucketConfig};
/// let fleet_rate = TokenBucketConfig::new(10).refill(100, Nanos::from_secs(1));
/// let local = fleet::local_share(fleet_rate, 0.25).unwrap();
/// assert_eq!(local.capacity, 3);
/// assert_eq!((local.refill_amount, local.refill_every), (100, Nanos::from_secs(4)));
/// assert_eq!(fleet::local_share(fleet_rate, 0.0).unwrap_err().field, "local_share");
/// ```
pub fn local_share(
    bucket: TokenBucketConfig,
    share: f64,
) -> Result<TokenBucketConfig, ConfigError> {
    // `!(share > 0.0)` also refuses NaN.
    if !(share > 0.0 && share <= 1.0) {
        return Err(ConfigError::new("local_share", "(0, 1]"));
    }
    bucket.validate()?;
    let capacity = ceil(f64::from(bucket.capacity) * share).max(1.0) as u32;
    // Float-to-int `as` saturates, so a stretched period past u64 stays the longest one.
    let every = ceil(bucket.refill_every.as_nanos() as f64 / share) as u64;
    Ok(TokenBucketConfig::new(capacity).refill(bucket.refill_amount, Nanos::new(every)))
}

/// `f64::ceil` without `std`, for values in `[0, 2^64]`.
fn ceil(value: f64) -> f64 {
    let whole = value as u64 as f64;
    if whole < value {
        whole + 1.0
    } else {
        whole
    }
}

/// What a fleet primitive answers when the store cannot: it timed out, the connection failed,
/// or the breaker guarding the connection is open.
///
/// The default is [`Raise`](Unavailable::Raise): the caller sees the store's error and
/// chooses. Quotas and locks always raise: no local answer can keep their promise.
///
/// ```
/// use stanchion::fleet::Unavailable;
/// assert_eq!(Unavailable::DEFAULT, Unavailable::Raise);
/// assert_eq!(Unavailable::from_name("local"), Some(Unavailable::Local));
/// assert_eq!(Unavailable::Deny.as_str(), "deny");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Unavailable {
    /// Decide with a local primitive holding a share of the fleet limit (limiters only; see
    /// [`local_share`]).
    Local = 1,
    /// Admit every call (fail open).
    Allow = 2,
    /// Refuse every call with the primitive's own refusal and no `retry_after` (fail closed).
    Deny = 3,
    /// Hand the store's error to the caller.
    Raise = 4,
}

impl Unavailable {
    /// The policy when none is configured: [`Raise`](Unavailable::Raise).
    pub const DEFAULT: Unavailable = Unavailable::Raise;

    /// Every policy, in the order of their numbers.
    ///
    /// ```
    /// use stanchion::fleet::Unavailable;
    /// assert!(Unavailable::ALL.iter().all(|p| Unavailable::from_name(p.as_str()) == Some(*p)));
    /// ```
    pub const ALL: [Unavailable; 4] = [
        Unavailable::Local,
        Unavailable::Allow,
        Unavailable::Deny,
        Unavailable::Raise,
    ];

    /// The policy's name, as every binding spells it: `"local"`, `"allow"`, `"deny"`,
    /// `"raise"`.
    ///
    /// ```
    /// assert_eq!(stanchion::fleet::Unavailable::Local.as_str(), "local");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            Unavailable::Local => "local",
            Unavailable::Allow => "allow",
            Unavailable::Deny => "deny",
            Unavailable::Raise => "raise",
        }
    }

    /// The policy named `name`, if any.
    ///
    /// ```
    /// assert_eq!(stanchion::fleet::Unavailable::from_name("open"), None);
    /// ```
    pub fn from_name(name: &str) -> Option<Unavailable> {
        Unavailable::ALL.into_iter().find(|p| p.as_str() == name)
    }

    /// Checks the policy with the share it needs: `local` needs a `local_share` in (0, 1] and
    /// a primitive that has a local stand-in (`has_local`: the limiter does, a fleet
    /// bulkhead does not); the others take no share.
    ///
    /// ```
    /// use stanchion::fleet::Unavailable;
    /// assert!(Unavailable::Local.check(Some(0.5), true).is_ok());
    /// assert_eq!(Unavailable::Local.check(None, true).unwrap_err().field, "local_share");
    /// assert_eq!(Unavailable::Local.check(Some(0.5), false).unwrap_err().field, "on_unavailable");
    /// assert_eq!(Unavailable::Allow.check(Some(0.5), true).unwrap_err().field, "local_share");
    /// ```
    pub fn check(self, local_share: Option<f64>, has_local: bool) -> Result<(), ConfigError> {
        match (self, local_share) {
            (Unavailable::Local, _) if !has_local => Err(ConfigError::new(
                "on_unavailable",
                "\"allow\", \"deny\" or \"raise\" (this primitive has no local stand-in)",
            )),
            (Unavailable::Local, Some(share)) if share > 0.0 && share <= 1.0 => Ok(()),
            (Unavailable::Local, _) => Err(ConfigError::new(
                "local_share",
                "(0, 1], required when on_unavailable is \"local\"",
            )),
            (_, Some(_)) => Err(ConfigError::new(
                "local_share",
                "unset unless on_unavailable is \"local\"",
            )),
            (_, None) => Ok(()),
        }
    }
}

impl Default for Unavailable {
    fn default() -> Unavailable {
        Unavailable::DEFAULT
    }
}

/// The answer of [`fallback`]: what the caller of a fleet primitive gets while the store cannot
/// answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fallback {
    /// Go ahead.
    Admit,
    /// Refused: by the local stand-in (with its `retry_after`), or by `deny` (no
    /// `retry_after`: nobody knows when the store is back).
    Refuse(Rejected),
    /// Hand the store's error to the caller.
    Raise,
}

/// Decides a call the store could not answer, by `policy`: `local` asks the local stand-in for
/// `n` tokens at `now` (with no stand-in it raises), `allow` admits, `deny` refuses with
/// `refusal` (the primitive's own reason: `RateLimited` for a limiter, `BulkheadFull` for a
/// bulkhead), `raise` raises.
///
/// ```
/// use stanchion::fleet::{fallback, local_share, Fallback, Unavailable};
/// use stanchion::{Nanos, Reason, Rejected, TokenBucket, TokenBucketConfig};
/// let local = TokenBucket::new(local_share(TokenBucketConfig::new(4), 0.5).unwrap()).unwrap();
/// let now = Nanos::ZERO;
/// let take = || fallback(Unavailable::Local, Reason::RateLimited, Some(&local), 1, now);
/// assert_eq!((take(), take()), (Fallback::Admit, Fallback::Admit));
/// assert!(matches!(take(), Fallback::Refuse(r) if r.reason == Reason::RateLimited));
/// assert_eq!(
///     fallback(Unavailable::Deny, Reason::BulkheadFull, None, 1, now),
///     Fallback::Refuse(Rejected::new(Reason::BulkheadFull, None)),
/// );
/// ```
pub fn fallback(
    policy: Unavailable,
    refusal: Reason,
    local: Option<&TokenBucket>,
    n: u32,
    now: Nanos,
) -> Fallback {
    match (policy, local) {
        (Unavailable::Local, Some(bucket)) => match bucket.try_acquire(n, now) {
            Ok(()) => Fallback::Admit,
            Err(rejected) => Fallback::Refuse(rejected),
        },
        (Unavailable::Local, None) | (Unavailable::Raise, _) => Fallback::Raise,
        (Unavailable::Allow, _) => Fallback::Admit,
        (Unavailable::Deny, _) => Fallback::Refuse(Rejected::new(refusal, None)),
    }
}

/// [`fallback`] for a peek: the same answer, but the local stand-in is only asked whether it
/// holds `n` tokens now and gives none (a refusal then carries no `retry_after`).
///
/// ```
/// use stanchion::fleet::{fallback_peek, Fallback, Unavailable};
/// use stanchion::{Nanos, Reason, TokenBucket, TokenBucketConfig};
/// let local = TokenBucket::new(TokenBucketConfig::new(2)).unwrap();
/// let peek = |n| fallback_peek(Unavailable::Local, Reason::RateLimited, Some(&local), n, Nanos::ZERO);
/// assert_eq!((peek(2), peek(2)), (Fallback::Admit, Fallback::Admit));
/// assert!(matches!(peek(3), Fallback::Refuse(r) if r.reason == Reason::InsufficientCapacity));
/// ```
pub fn fallback_peek(
    policy: Unavailable,
    refusal: Reason,
    local: Option<&TokenBucket>,
    n: u32,
    now: Nanos,
) -> Fallback {
    match (policy, local) {
        (Unavailable::Local, Some(bucket)) if n > bucket.config().capacity => {
            Fallback::Refuse(Rejected::new(Reason::InsufficientCapacity, None))
        }
        (Unavailable::Local, Some(bucket)) if u64::from(n) > bucket.available(now) => {
            Fallback::Refuse(Rejected::new(refusal, None))
        }
        (Unavailable::Local, Some(_)) => Fallback::Admit,
        _ => fallback(policy, refusal, None, n, now),
    }
}

/// A lease's time when none is given: 30 s. Renewed every 10 s by a keeper, it outlives a
/// stalled holder by at most 30 s.
pub const DEFAULT_LEASE: Nanos = Nanos::from_secs(30);

/// The longest lease: 2^40 ms (about 35 years), what the lock script accepts.
pub const MAX_LEASE: Nanos = Nanos::from_millis(MAX_MILLIS);

/// Checks a lease time: whole milliseconds (the unit Redis keeps expiries in), 1 ms to
/// [`MAX_LEASE`]. `field` names it in the error (`"ttl"`).
///
/// ```
/// use stanchion::{fleet, Nanos};
/// assert!(fleet::check_lease("ttl", Nanos::from_millis(1)).is_ok());
/// assert_eq!(fleet::check_lease("ttl", Nanos::new(1_500_000)).unwrap_err().allowed, "1 ms to 2^40 ms, in whole milliseconds");
/// ```
pub const fn check_lease(field: &'static str, ttl: Nanos) -> Result<(), ConfigError> {
    let ns = ttl.as_nanos();
    if ns == 0 || ns % 1_000_000 != 0 || ns > MAX_LEASE.as_nanos() {
        return Err(ConfigError::new(
            field,
            "1 ms to 2^40 ms, in whole milliseconds",
        ));
    }
    Ok(())
}

/// How often a keeper renews a lease of `ttl`: every third of it, so two renewals can fail
/// before the lease runs out.
///
/// ```
/// use stanchion::{fleet, Nanos};
/// assert_eq!(fleet::renew_every(Nanos::from_secs(30)), Nanos::from_secs(10));
/// ```
pub const fn renew_every(ttl: Nanos) -> Nanos {
    Nanos::new(ttl.as_nanos() / 3)
}

/// The waits between attempts to take a lock someone else holds: exponential from 10 ms,
/// doubling up to 200 ms, with full jitter so waiters do not retry in step. The waiter's
/// patience is added as `max_elapsed`; a wait never runs past the holder's remaining lease.
///
/// ```
/// let config = stanchion::fleet::lock_backoff();
/// assert!(config.validate().is_ok());
/// ```
pub const fn lock_backoff() -> BackoffConfig {
    BackoffConfig::exponential(Nanos::from_millis(10), 2.0)
        .max_delay(Nanos::from_millis(200))
        .jitter(Jitter::Full)
        .unlimited_attempts()
}

/// The servers that must grant a RedLock acquisition out of `servers`: a majority,
/// ⌊servers / 2⌋ + 1.
///
/// ```
/// assert_eq!(stanchion::fleet::quorum(5), 3);
/// assert_eq!(stanchion::fleet::quorum(4), 3);
/// ```
pub const fn quorum(servers: u32) -> u32 {
    (servers / 2).saturating_add(1)
}

/// How long a RedLock lease of `ttl` is still valid after its acquisition took `elapsed`:
/// `ttl − elapsed − drift`, where the drift allowance is 1 % of `ttl` plus 2 ms for the
/// servers' clocks running at different rates. `None` when nothing is left: the acquisition
/// failed and must be released everywhere.
///
/// ```
/// use stanchion::{fleet, Nanos};
/// let ttl = Nanos::from_secs(10);
/// assert_eq!(fleet::redlock_validity(ttl, Nanos::from_millis(50)), Some(Nanos::from_millis(9_848)));
/// assert_eq!(fleet::redlock_validity(ttl, Nanos::from_secs(10)), None);
/// ```
pub const fn redlock_validity(ttl: Nanos, elapsed: Nanos) -> Option<Nanos> {
    let drift = (ttl.as_nanos() / 100).saturating_add(Nanos::from_millis(2).as_nanos());
    match ttl.as_nanos().checked_sub(elapsed.as_nanos()) {
        Some(left) => match left.checked_sub(drift) {
            Some(valid) if valid > 0 => Some(Nanos::new(valid)),
            _ => None,
        },
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_share_keeps_at_least_one_token_and_saturates_the_period() {
        let tiny = local_share(TokenBucketConfig::new(1), 1e-9).unwrap();
        assert_eq!(tiny.capacity, 1);
        assert_eq!(tiny.refill_every, Nanos::from_secs(1_000_000_000));
        let longest = TokenBucketConfig::new(1).refill(1, Nanos::new(u64::MAX));
        let stretched = local_share(longest, 0.5).unwrap();
        assert_eq!(stretched.refill_every, Nanos::new(u64::MAX));
        assert!(stretched.validate().is_ok());
    }

    #[test]
    fn local_share_refuses_shares_outside_its_range_and_bad_buckets() {
        for share in [f64::NAN, -0.5, 0.0, 1.000_001, f64::INFINITY] {
            assert_eq!(
                local_share(TokenBucketConfig::new(1), share)
                    .unwrap_err()
                    .field,
                "local_share"
            );
        }
        let bad = TokenBucketConfig::new(0);
        assert_eq!(local_share(bad, 0.5).unwrap_err().field, "capacity");
        let whole = local_share(TokenBucketConfig::new(7), 1.0).unwrap();
        assert_eq!(whole, TokenBucketConfig::new(7));
    }

    #[test]
    fn a_share_of_the_rate_refills_that_share() {
        let fleet = TokenBucketConfig::new(3).refill(3, Nanos::from_secs(1));
        let bucket = TokenBucket::new(local_share(fleet, 1.0 / 3.0).unwrap()).unwrap();
        let start = Nanos::ZERO;
        assert_eq!(bucket.try_acquire(1, start), Ok(()));
        let refused = bucket.try_acquire(1, start).unwrap_err();
        // One token per second, a third of three per second.
        assert_eq!(refused.retry_after, Some(Nanos::from_secs(1)));
    }

    #[test]
    fn local_without_a_stand_in_raises() {
        assert_eq!(
            fallback(
                Unavailable::Local,
                Reason::RateLimited,
                None,
                1,
                Nanos::ZERO
            ),
            Fallback::Raise
        );
    }

    #[test]
    fn names_with_braces_or_out_of_range_lengths_are_refused() {
        let long = [b'k'; MAX_NAME_LEN + 1];
        let long = core::str::from_utf8(&long).unwrap();
        for name in ["", "{", "a}", long] {
            assert_eq!(check_name("key", name).unwrap_err().field, "key");
        }
        assert!(check_name("key", &long[..MAX_NAME_LEN]).is_ok());
        let prefix = [b'p'; MAX_PREFIX_LEN + 1];
        let prefix = core::str::from_utf8(&prefix).unwrap();
        assert!(check_prefix(prefix).is_err());
        assert!(check_prefix(&prefix[..MAX_PREFIX_LEN]).is_ok());
    }

    #[test]
    fn the_connection_breaker_opens_after_three_failures() {
        let breaker: crate::CircuitBreaker =
            crate::CircuitBreaker::new(connection_breaker()).unwrap();
        let now = Nanos::from_secs(1);
        for _ in 0..3 {
            let permit = breaker.try_acquire(now).unwrap();
            permit.record(crate::Outcome::Failure, now);
        }
        assert!(breaker.try_acquire(now).is_err());
        assert!(breaker.try_acquire(now + Nanos::from_millis(1_300)).is_ok());
    }
}
