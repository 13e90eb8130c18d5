//! The core's primitives guarding calls to one service, built from a [`PolicySpec`]. The
//! simulator asks them every question and never decides in their place: admission, the
//! breaker's verdict on each outcome, the adaptive limit's changes, and every retry decision
//! (the core's `RetryLoop`: the backoff's waits, the deadline, the budget's yes or no).

use stanchion::adaptive::{Outcome as LimitOutcome, RawPermit as LimitPermit};
use stanchion::breaker::{CircuitBreaker, Outcome, RawPermit as BreakerPermit, State};
use stanchion::bulkhead::RawPermit as BulkheadPermit;
use stanchion::retry::RetryPolicy;
use stanchion::{AdaptiveLimiter, Backoff, Bulkhead, Deadline, Reason, RetryBudget, TokenBucket};

use crate::scenario::PolicySpec;

/// The live primitives of one policy, shared by every caller of one service.
///
/// ```
/// use stanchion::Nanos;
/// use stanchion_sim::policies::{Ending, Guard};
/// use stanchion_sim::scenario::PolicySpec;
/// let guard = Guard::new(&PolicySpec::default(), 1);
/// let permits = guard.admit(Nanos::ZERO).unwrap(); // nothing configured: always admitted
/// guard.finish(permits, Ending::Answered, Nanos::new(5));
/// ```
pub struct Guard {
    /// The spec it was built from (timeouts and fallback are applied by the caller).
    pub spec: PolicySpec,
    /// Waits between attempts.
    pub backoff: Option<Backoff>,
    /// Caps retries at a share of first attempts.
    pub budget: Option<RetryBudget>,
    /// Fails fast while the service is failing.
    pub breaker: Option<CircuitBreaker>,
    /// Caps calls in flight.
    pub bulkhead: Option<Bulkhead>,
    /// Caps the call rate.
    pub limiter: Option<TokenBucket>,
    /// Caps calls in flight at a limit that follows their latency.
    pub adaptive: Option<AdaptiveLimiter>,
}

/// The permits an admitted attempt holds until it ends.
#[derive(Clone, Copy, Debug, Default)]
pub struct Permits {
    breaker: Option<BreakerPermit>,
    bulkhead: Option<BulkheadPermit>,
    adaptive: Option<LimitPermit>,
}

/// How an attempt ended, as its caller saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// An answer that was not an error (a fallback's included).
    Answered,
    /// An error answer: a failure, but its latency still says how loaded the callee is.
    Failed,
    /// A timeout, or a refusal by the callee's full workers and queue: the overload signal
    /// (the adaptive limit's `Dropped`; a failure to the breaker).
    Dropped,
}

impl Guard {
    /// Builds the primitives; `seed` drives the breaker's open-period jitter. The spec was
    /// validated when the scenario was read.
    pub fn new(spec: &PolicySpec, seed: u64) -> Guard {
        const CHECKED: &str = "validated when the scenario was read";
        Guard {
            spec: *spec,
            backoff: spec.retry.map(|c| Backoff::new(c).expect(CHECKED)),
            budget: spec.budget.map(|c| RetryBudget::new(c).expect(CHECKED)),
            breaker: spec
                .breaker
                .map(|c| CircuitBreaker::new(c.seed(seed)).expect(CHECKED)),
            bulkhead: spec.bulkhead.map(|c| Bulkhead::new(c).expect(CHECKED)),
            limiter: spec.rate_limit.map(|c| TokenBucket::new(c).expect(CHECKED)),
            adaptive: spec
                .adaptive
                .map(|c| AdaptiveLimiter::new(c.seed(seed)).expect(CHECKED)),
        }
    }

    /// The retry rules of one call, if the policy retries: the core's `RetryLoop` decides
    /// every retry with them. `seed` matters only when the loop starts.
    pub fn retry_policy(&self, seed: u64, deadline: Deadline) -> Option<RetryPolicy<'_>> {
        let backoff = self.backoff.as_ref()?;
        let policy = RetryPolicy::new(backoff, seed).deadline(deadline);
        Some(match &self.budget {
            Some(budget) => policy.budget(budget),
            None => policy,
        })
    }

    /// Asks breaker, bulkhead, adaptive limit and rate limiter, in that order, to admit one
    /// attempt. A refusal hands back every permit already taken and returns the core's reason.
    pub fn admit(&self, now: stanchion::Nanos) -> Result<Permits, Reason> {
        let mut permits = Permits::default();
        if let Some(breaker) = &self.breaker {
            permits.breaker = Some(breaker.try_acquire_raw(now).0.map_err(|r| r.reason)?);
        }
        if let Some(bulkhead) = &self.bulkhead {
            match bulkhead.try_acquire(0) {
                Ok(p) => permits.bulkhead = Some(p.into_raw()),
                Err(refused) => {
                    self.abandon(permits, now);
                    return Err(refused.reason);
                }
            }
        }
        if let Some(adaptive) = &self.adaptive {
            match adaptive.try_acquire(now) {
                Ok(p) => permits.adaptive = Some(p.into_raw()),
                Err(refused) => {
                    self.abandon(permits, now);
                    return Err(refused.reason);
                }
            }
        }
        if let Some(limiter) = &self.limiter {
            if let Err(refused) = limiter.try_acquire(1, now) {
                self.abandon(permits, now);
                return Err(refused.reason);
            }
        }
        Ok(permits)
    }

    /// The attempt ended: the breaker records the outcome, the bulkhead slot is freed, the
    /// adaptive limit takes the attempt's latency (from its admission) or its drop.
    pub fn finish(&self, permits: Permits, ending: Ending, now: stanchion::Nanos) {
        if let (Some(breaker), Some(permit)) = (&self.breaker, permits.breaker) {
            let outcome = if ending == Ending::Answered {
                Outcome::Success
            } else {
                Outcome::Failure
            };
            breaker.record_raw(permit, outcome, now);
        }
        if let (Some(adaptive), Some(mut permit)) = (&self.adaptive, permits.adaptive) {
            let outcome = match ending {
                Ending::Answered => LimitOutcome::Success,
                Ending::Failed => LimitOutcome::Failure,
                Ending::Dropped => LimitOutcome::Dropped,
            };
            adaptive.record_raw(&mut permit, outcome, now);
        }
        if let (Some(bulkhead), Some(mut permit)) = (&self.bulkhead, permits.bulkhead) {
            bulkhead.release(&mut permit);
        }
    }

    /// The attempt never ran: free what it held, record nothing.
    fn abandon(&self, permits: Permits, now: stanchion::Nanos) {
        if let (Some(breaker), Some(permit)) = (&self.breaker, permits.breaker) {
            breaker.release_raw(permit, now);
        }
        if let (Some(bulkhead), Some(mut permit)) = (&self.bulkhead, permits.bulkhead) {
            bulkhead.release(&mut permit);
        }
        if let (Some(adaptive), Some(mut permit)) = (&self.adaptive, permits.adaptive) {
            adaptive.release(&mut permit);
        }
    }

    /// The breaker's state, if there is a breaker.
    pub fn breaker_state(&self) -> Option<State> {
        self.breaker.as_ref().map(CircuitBreaker::state)
    }

    /// The adaptive limit in force, if there is one.
    pub fn adaptive_limit(&self) -> Option<u32> {
        self.adaptive.as_ref().map(AdaptiveLimiter::limit)
    }

    /// Calls in flight through the bulkhead, if there is one.
    pub fn bulkhead_in_flight(&self) -> Option<u32> {
        self.bulkhead.as_ref().map(|b| b.snapshot().in_flight)
    }
}
