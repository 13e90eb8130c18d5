//! The scenario file as written: serde structs that mirror the TOML tables one to one.
//! Unknown keys are refused, so a misspelt field is reported rather than ignored.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::units::{Dur, Share};

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScenario {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub seed: Option<u64>,
    pub duration: Dur,
    pub bucket: Option<Dur>,
    pub load: RawLoad,
    pub services: BTreeMap<String, RawService>,
    pub run: Vec<RawRun>,
}

/// `[load]`: who calls the entry service, and how often.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLoad {
    pub target: String,
    pub rate: Option<f64>,
    pub arrival: Option<String>,
    pub burst: Option<u32>,
    pub requests: Option<u64>,
}

/// `[services.NAME]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawService {
    pub workers: Option<u32>,
    pub queue: Option<u32>,
    pub latency: RawLatency,
    pub error_rate: Option<Share>,
    #[serde(default)]
    pub calls: Vec<String>,
    #[serde(default)]
    pub failures: Vec<RawFailure>,
}

/// A latency distribution: `dist` names it, the other keys are its parameters.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLatency {
    pub dist: String,
    pub value: Option<Dur>,
    pub min: Option<Dur>,
    pub max: Option<Dur>,
    pub mean: Option<Dur>,
    pub p50: Option<Dur>,
    pub p99: Option<Dur>,
}

/// `[[services.NAME.failures]]`: a window in which the service answers differently.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFailure {
    pub from: Dur,
    pub until: Dur,
    pub latency: Option<RawLatency>,
    pub error_rate: Option<Share>,
    pub workers: Option<u32>,
}

/// `[[run]]`: one variant of the scenario, with the policies its callers use.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRun {
    pub name: String,
    #[serde(default)]
    pub policies: BTreeMap<String, RawPolicy>,
}

/// `[run.policies.CALLEE]`: what every caller of CALLEE wraps its calls in.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPolicy {
    pub timeout: Option<Dur>,
    pub attempt_timeout: Option<Dur>,
    pub retry: Option<RawRetry>,
    pub budget: Option<RawBudget>,
    pub breaker: Option<RawBreaker>,
    pub bulkhead: Option<RawBulkhead>,
    pub rate_limit: Option<RawRateLimit>,
    pub adaptive: Option<RawAdaptive>,
    #[serde(default)]
    pub fallback: bool,
}

/// `retry = { ... }`: a backoff schedule.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRetry {
    pub schedule: String,
    pub delay: Option<Dur>,
    pub initial: Option<Dur>,
    pub step: Option<Dur>,
    pub factor: Option<f64>,
    pub base: Option<Dur>,
    pub jitter: Option<String>,
    pub proportion: Option<f64>,
    pub max_attempts: Option<u32>,
    pub max_delay: Option<Dur>,
    pub max_elapsed: Option<Dur>,
}

/// `budget = { ... }`: a retry budget.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBudget {
    pub ratio: f64,
    pub min_retries_per_sec: Option<u32>,
    pub max_balance: Option<u32>,
}

/// `breaker = { ... }`: a circuit breaker.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBreaker {
    pub failure_count: Option<u32>,
    pub consecutive_failures: Option<u32>,
    pub failure_rate: Option<f32>,
    pub minimum_calls: Option<u32>,
    pub slow_call: Option<Dur>,
    pub slow_call_rate: Option<f32>,
    pub window: Option<u32>,
    pub window_span: Option<Dur>,
    pub window_buckets: Option<u32>,
    pub open_for: Option<Dur>,
    pub open_for_max: Option<Dur>,
    pub open_for_factor: Option<f32>,
    pub open_for_jitter: Option<f32>,
    pub half_open_probes: Option<u32>,
    pub half_open_successes: Option<u32>,
    pub probe_timeout: Option<Dur>,
}

/// `bulkhead = { ... }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBulkhead {
    pub max_concurrent: u32,
}

/// `rate_limit = { ... }`: a token bucket.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRateLimit {
    pub capacity: u32,
    pub refill: Option<u32>,
    pub every: Dur,
}

/// `adaptive = { ... }`: an adaptive concurrency limit; the algorithm's own parameters sit
/// beside the common ones, and only those of the chosen algorithm are allowed.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAdaptive {
    pub algorithm: Option<String>,
    pub min_limit: Option<u32>,
    pub initial_limit: Option<u32>,
    pub max_limit: Option<u32>,
    pub window: Option<Dur>,
    pub min_samples: Option<u32>,
    // AIMD
    pub backoff_ratio: Option<f64>,
    pub timeout: Option<Dur>,
    // Vegas
    pub alpha: Option<u32>,
    pub beta: Option<u32>,
    pub probe_multiplier: Option<u32>,
    // Vegas and Gradient2
    pub smoothing: Option<f64>,
    // Gradient2
    pub queue_size: Option<u32>,
    pub long_window: Option<u32>,
    pub rtt_tolerance: Option<f64>,
    pub creep_guard: Option<bool>,
}
