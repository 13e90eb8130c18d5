//! From a `[run.policies.CALLEE]` table to the core's configs. Each config is validated by the
//! core itself; its error names the core's field, reported at the table's line.

use stanchion::breaker::{BreakerConfig, Window};
use stanchion::{
    AdaptiveConfig, BackoffConfig, BulkheadConfig, ConfigError, Jitter, Nanos, RetryBudgetConfig,
    TokenBucketConfig,
};

use super::locate::FieldPath;
use super::raw::{RawBreaker, RawPolicy, RawRetry};
use super::Checker;
use super::ScenarioError;

/// What every caller of one service wraps its calls in, outermost first: fallback, timeout
/// (one deadline for the whole call), retry with budget, breaker, bulkhead, adaptive limit, rate
/// limiter.
///
/// ```
/// use stanchion_sim::scenario::PolicySpec;
/// let none = PolicySpec::default();
/// assert!(none.retry.is_none() && !none.fallback);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct PolicySpec {
    /// The deadline of the whole call, retries and waits included.
    pub timeout: Option<Nanos>,
    /// The longest one attempt may take.
    pub attempt_timeout: Option<Nanos>,
    /// Retries: the backoff schedule.
    pub retry: Option<BackoffConfig>,
    /// Retries beyond this budget are not made.
    pub budget: Option<RetryBudgetConfig>,
    /// The circuit breaker on this dependency.
    pub breaker: Option<BreakerConfig>,
    /// The cap on calls in flight to this dependency.
    pub bulkhead: Option<BulkheadConfig>,
    /// The rate limit on calls to this dependency.
    pub rate_limit: Option<TokenBucketConfig>,
    /// The adaptive concurrency limit on calls to this dependency.
    pub adaptive: Option<AdaptiveConfig>,
    /// A failed call answers with a degraded default instead of an error.
    pub fallback: bool,
}

impl Checker<'_> {
    pub(super) fn policy(
        &self,
        raw: &RawPolicy,
        path: &FieldPath,
    ) -> Result<PolicySpec, ScenarioError> {
        let mut spec = PolicySpec {
            timeout: raw.timeout.map(|d| d.0),
            attempt_timeout: raw.attempt_timeout.map(|d| d.0),
            fallback: raw.fallback,
            ..PolicySpec::default()
        };
        if let Some(retry) = &raw.retry {
            let at = path.key("retry");
            let config = self.retry(retry, &at)?;
            self.core(config.validate(), &at)?;
            spec.retry = Some(config);
        }
        if let Some(budget) = &raw.budget {
            let at = path.key("budget");
            let mut config = RetryBudgetConfig::new(budget.ratio);
            if let Some(n) = budget.min_retries_per_sec {
                config = config.min_retries_per_sec(n);
            }
            if let Some(n) = budget.max_balance {
                config = config.max_balance(n);
            }
            self.core(config.validate(), &at)?;
            spec.budget = Some(config);
        }
        if let Some(breaker) = &raw.breaker {
            let at = path.key("breaker");
            let config = self.breaker(breaker, &at)?;
            self.core(config.validate(), &at)?;
            spec.breaker = Some(config);
        }
        if let Some(bulkhead) = &raw.bulkhead {
            let config = BulkheadConfig::new(bulkhead.max_concurrent);
            self.core(config.validate(), &path.key("bulkhead"))?;
            spec.bulkhead = Some(config);
        }
        if let Some(limit) = &raw.rate_limit {
            let config = TokenBucketConfig::new(limit.capacity)
                .refill(limit.refill.unwrap_or(1), limit.every.0);
            self.core(config.validate(), &path.key("rate_limit"))?;
            spec.rate_limit = Some(config);
        }
        if let Some(adaptive) = &raw.adaptive {
            let at = path.key("adaptive");
            let config = self.adaptive(adaptive, &at)?;
            self.core(config.validate(), &at)?;
            spec.adaptive = Some(config);
        }
        Ok(spec)
    }

    /// The core's verdict on a config, reported at the offending key when the file has one.
    fn core(
        &self,
        verdict: Result<(), ConfigError>,
        table: &FieldPath,
    ) -> Result<(), ScenarioError> {
        verdict.map_err(|e| {
            // The adaptive limiter's core names a parameter `algorithm.NAME`; the file spells
            // it `NAME`, beside the common keys.
            let field = e.field.strip_prefix("algorithm.").unwrap_or(e.field);
            let key = field.split('.').next().unwrap_or(field);
            let at = if self.has(&table.key(key)) {
                table.key(key)
            } else {
                table.clone()
            };
            self.error(
                &at,
                format!("must be in {} (core field `{}`)", e.allowed, e.field),
            )
        })
    }

    fn need<T: Copy>(
        &self,
        value: Option<T>,
        at: &FieldPath,
        what: &str,
    ) -> Result<T, ScenarioError> {
        value.ok_or_else(|| self.error(at, format!("missing: {what}")))
    }

    fn retry(&self, raw: &RawRetry, at: &FieldPath) -> Result<BackoffConfig, ScenarioError> {
        let initial = || self.need(raw.initial, at, "`initial` (the first wait)");
        let mut config = match raw.schedule.as_str() {
            "constant" => BackoffConfig::constant(self.need(raw.delay, at, "`delay`")?.0),
            "linear" => BackoffConfig::linear(initial()?.0, self.need(raw.step, at, "`step`")?.0),
            "exponential" => BackoffConfig::exponential(initial()?.0, raw.factor.unwrap_or(2.0)),
            "decorrelated" => BackoffConfig::decorrelated(self.need(raw.base, at, "`base`")?.0),
            other => {
                return Err(self.error(
                    &at.key("schedule"),
                    format!(
                    "unknown schedule `{other}`: use constant, linear, exponential or decorrelated"
                ),
                ))
            }
        };
        config = config.jitter(match raw.jitter.as_deref().unwrap_or("none") {
            "none" => Jitter::None,
            "full" => Jitter::Full,
            "equal" => Jitter::Equal,
            "proportional" => {
                Jitter::Proportional(self.need(raw.proportion, at, "`proportion`")?)
            }
            other => {
                return Err(self.error(
                    &at.key("jitter"),
                    format!("unknown jitter `{other}`: use none, full, equal or proportional"),
                ))
            }
        });
        if let Some(n) = raw.max_attempts {
            config = config.max_attempts(n);
        }
        if let Some(d) = raw.max_delay {
            config = config.max_delay(d.0);
        }
        if let Some(d) = raw.max_elapsed {
            config = config.max_elapsed(d.0);
        }
        Ok(config)
    }

    fn breaker(&self, raw: &RawBreaker, at: &FieldPath) -> Result<BreakerConfig, ScenarioError> {
        let mut config = BreakerConfig::new();
        // Naming any trigger replaces the default "5 failures in the window".
        if raw.failure_count.is_some()
            || raw.consecutive_failures.is_some()
            || raw.failure_rate.is_some()
        {
            config = config
                .failure_count(raw.failure_count)
                .consecutive_failures(raw.consecutive_failures)
                .failure_rate(raw.failure_rate);
        }
        if let Some(n) = raw.minimum_calls {
            config = config.minimum_calls(n);
        }
        match (raw.slow_call, raw.slow_call_rate) {
            (Some(d), Some(rate)) => config = config.slow_call(d.0, rate),
            (None, None) => {}
            (Some(_), None) => {
                return Err(self.error(&at.key("slow_call"), "needs `slow_call_rate` too"))
            }
            (None, Some(_)) => {
                return Err(self.error(&at.key("slow_call_rate"), "needs `slow_call` too"))
            }
        }
        match (raw.window, raw.window_span) {
            (Some(_), Some(_)) => {
                return Err(self.error(
                    &at.key("window_span"),
                    "give `window` (a count) or `window_span`, not both",
                ))
            }
            (Some(n), None) => config = config.window(Window::Count(n)),
            (None, Some(span)) => {
                config = config.window(Window::Time {
                    span: span.0,
                    buckets: raw.window_buckets.unwrap_or(10),
                })
            }
            (None, None) => {}
        }
        if let Some(d) = raw.open_for {
            config = config.open_for(d.0);
        }
        if let Some(max) = raw.open_for_max {
            config = config.open_for_growth(
                max.0,
                raw.open_for_factor.unwrap_or(2.0),
                raw.open_for_jitter.unwrap_or(0.0),
            );
        }
        if raw.half_open_probes.is_some() || raw.half_open_successes.is_some() {
            config = config.half_open(raw.half_open_probes.unwrap_or(1), raw.half_open_successes);
        }
        if let Some(d) = raw.probe_timeout {
            config = config.probe_timeout(Some(d.0));
        }
        Ok(config)
    }
}
