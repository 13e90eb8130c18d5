//! The native module `stanchion._stanchion`: thin classes over the core's primitives.
//!
//! Every decision about state is the core's; this layer converts arguments (seconds to
//! nanoseconds, strings to keys), reads the clock, turns refusals into exceptions and reports
//! breaker transitions and adaptive limit changes to a callback. The Python package (`python/stanchion`) adds decorators,
//! context managers and asyncio on top. No method here waits or takes a lock that a protected
//! call could be holding: the protected call itself always runs in Python, outside this module.

use pyo3::prelude::*;

mod adaptive;
mod args;
mod backoff;
mod breaker;
mod budget;
mod bulkhead;
mod clock;
mod deadline;
mod defaults;
mod errors;
mod fleet;
mod fleet_lease;
mod keyed;
mod limiter;
mod policy;
mod quota;
mod retry_loop;
mod stock;
mod waiting;

/// The module's table of classes and functions.
#[pymodule]
fn _stanchion(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<breaker::CircuitBreaker>()?;
    m.add_class::<breaker::BreakerPermit>()?;
    m.add_class::<breaker::BreakerSnapshot>()?;
    m.add_class::<limiter::RateLimiter>()?;
    m.add_class::<limiter::LimiterSnapshot>()?;
    m.add_class::<keyed::KeyedRateLimiter>()?;
    m.add_class::<bulkhead::Bulkhead>()?;
    m.add_class::<bulkhead::BulkheadPermit>()?;
    m.add_class::<bulkhead::BulkheadWaiter>()?;
    m.add_class::<bulkhead::BulkheadSnapshot>()?;
    m.add_class::<adaptive::AdaptiveLimiter>()?;
    m.add_class::<adaptive::AdaptivePermit>()?;
    m.add_class::<adaptive::AdaptiveWaiter>()?;
    m.add_class::<adaptive::AdaptiveSnapshot>()?;
    m.add_class::<backoff::Backoff>()?;
    m.add_class::<backoff::Retrying>()?;
    m.add_class::<budget::RetryBudget>()?;
    m.add_class::<budget::RetryBudgetSnapshot>()?;
    m.add_class::<deadline::Deadline>()?;
    m.add_class::<retry_loop::RetryLoop>()?;
    m.add_class::<fleet::FleetLimiter>()?;
    m.add_function(wrap_pyfunction!(clock::monotonic_ns, m)?)?;
    m.add_function(wrap_pyfunction!(clock::check_clock, m)?)?;
    m.add_function(wrap_pyfunction!(keyed::key_of, m)?)?;
    m.add_function(wrap_pyfunction!(backoff::random_seed, m)?)?;
    m.add_function(wrap_pyfunction!(defaults::defaults, m)?)?;
    m.add_function(wrap_pyfunction!(policy::attempt_timeout_ns, m)?)?;
    m.add_function(wrap_pyfunction!(policy::attempt_limit, m)?)?;
    m.add_function(wrap_pyfunction!(policy::attempt_ended, m)?)?;
    m.add_function(wrap_pyfunction!(policy::attempt_judged, m)?)?;
    m.add_function(wrap_pyfunction!(fleet::fleet_check_name, m)?)?;
    m.add_function(wrap_pyfunction!(fleet::fleet_check_prefix, m)?)?;
    m.add_function(wrap_pyfunction!(fleet::fleet_check_timeout, m)?)?;
    m.add_function(wrap_pyfunction!(fleet::fleet_check_bucket, m)?)?;
    m.add_function(wrap_pyfunction!(fleet::fleet_local_share, m)?)?;
    m.add_function(wrap_pyfunction!(fleet::fleet_check_unavailable, m)?)?;
    m.add_function(wrap_pyfunction!(fleet::fleet_connection_breaker, m)?)?;
    m.add_function(wrap_pyfunction!(fleet::fleet_defaults, m)?)?;
    m.add_function(wrap_pyfunction!(fleet::fleet_is_unavailable_reply, m)?)?;
    m.add_class::<stock::Stock>()?;
    m.add_class::<quota::FleetQuota>()?;
    m.add_function(wrap_pyfunction!(quota::fleet_quota_defaults, m)?)?;
    m.add_class::<fleet_lease::FleetSemaphore>()?;
    m.add_class::<fleet_lease::FleetLock>()?;
    m.add_class::<fleet_lease::LockWaiter>()?;
    m.add_function(wrap_pyfunction!(fleet_lease::fleet_lease_defaults, m)?)?;
    m.add_function(wrap_pyfunction!(fleet_lease::fleet_renew_every, m)?)?;
    m.add_function(wrap_pyfunction!(fleet_lease::fleet_quorum, m)?)?;
    m.add_function(wrap_pyfunction!(fleet_lease::fleet_redlock_validity, m)?)?;
    m.add("KEYED_SIZES", keyed::SIZES.to_vec())?;
    Ok(())
}
