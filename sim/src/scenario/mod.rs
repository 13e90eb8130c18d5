//! Scenario files: a topology of services, the load on it, failure windows, and the runs to
//! compare, each with the policies its callers use. The format is documented in the crate's
//! README; [`Scenario::parse`] reads and checks a file, and every error names the line and the
//! field.

mod adaptive;
mod error;
mod locate;
mod policy;
mod raw;
mod units;

use stanchion::Nanos;
use toml::de::{DeTable, DeValue};

use crate::distribution::Latency;
pub use error::ScenarioError;
pub use locate::{field_at, line_of_field, line_of_offset, FieldPath, Seg};
pub use policy::PolicySpec;
use raw::{RawLatency, RawScenario};
pub use units::{Dur, Share};

/// A checked scenario, ready to run.
///
/// ```
/// use stanchion_sim::scenario::Scenario;
/// let s = Scenario::parse("drill.toml", stanchion_sim::builtin::DRILL).unwrap();
/// assert_eq!(s.runs.len(), 2);
/// ```
#[derive(Clone, Debug)]
pub struct Scenario {
    /// A short name, used in file names of the pictures.
    pub name: String,
    /// One paragraph saying what the scenario shows.
    pub description: String,
    /// The seed of every random draw.
    pub seed: u64,
    /// How long load arrives.
    pub duration: Nanos,
    /// The resolution of the timelines.
    pub bucket: Nanos,
    /// Who calls the entry service.
    pub load: Load,
    /// The services, in the file's (alphabetical) order.
    pub services: Vec<Service>,
    /// The variants to compare.
    pub runs: Vec<RunSpec>,
}

/// The load: requests from outside to one service.
#[derive(Clone, Copy, Debug)]
pub struct Load {
    /// The service users call.
    pub target: usize,
    /// Requests per second (0 with a burst only).
    pub rate: f64,
    /// Exponential gaps between requests (`poisson`) rather than even ones (`uniform`).
    pub poisson: bool,
    /// Requests that all arrive at time zero.
    pub burst: u32,
    /// Stop after this many requests (the run then lasts as long as that takes).
    pub requests: Option<u64>,
}

/// A service: a pool of workers, its own latency and errors, and the services it calls.
#[derive(Clone, Debug)]
pub struct Service {
    /// Its name.
    pub name: String,
    /// Requests it serves at once; `None` is unbounded.
    pub workers: Option<u32>,
    /// Requests that may wait for a worker; more are refused at once.
    pub queue: u32,
    /// Its own work, before it calls anything.
    pub latency: Latency,
    /// The share of requests it answers with an error.
    pub error_rate: f64,
    /// The services it calls, one after the other, for every request.
    pub calls: Vec<usize>,
    /// When it misbehaves.
    pub failures: Vec<Failure>,
}

/// A window in which a service answers with other latency and errors.
#[derive(Clone, Copy, Debug)]
pub struct Failure {
    /// Start (inclusive).
    pub from: Nanos,
    /// End (exclusive): the service is healed from here on.
    pub until: Nanos,
    /// Latency inside the window.
    pub latency: Latency,
    /// Error share inside the window.
    pub error_rate: f64,
    /// Workers inside the window, when it changes the service's capacity (`None`: the
    /// service's own).
    pub workers: Option<u32>,
}

impl Service {
    /// Its workers at `now`: those of the first failure window covering `now` that sets them,
    /// else its own.
    ///
    /// ```
    /// use stanchion::Nanos;
    /// use stanchion_sim::{builtin, scenario::Scenario};
    /// let s = Scenario::parse("overload", builtin::OVERLOAD).unwrap();
    /// let backend = &s.services[s.service("backend").unwrap()];
    /// assert_eq!(backend.workers_at(Nanos::ZERO), Some(80));
    /// assert_eq!(backend.workers_at(Nanos::from_secs(50)), Some(40));
    /// ```
    pub fn workers_at(&self, now: Nanos) -> Option<u32> {
        self.failures
            .iter()
            .find(|f| f.workers.is_some() && f.from <= now && now < f.until)
            .map_or(self.workers, |f| f.workers)
    }

    /// The moments its capacity may change: the edges of windows that set `workers`.
    pub fn capacity_edges(&self) -> Vec<Nanos> {
        let mut edges: Vec<Nanos> = self
            .failures
            .iter()
            .filter(|f| f.workers.is_some())
            .flat_map(|f| [f.from, f.until])
            .collect();
        edges.sort_unstable();
        edges.dedup();
        edges
    }
}

/// One variant: a name and, for each service, the policy its callers use.
#[derive(Clone, Debug)]
pub struct RunSpec {
    /// Its name, shown as a column of the table.
    pub name: String,
    /// Indexed like [`Scenario::services`]; `None` calls bare.
    pub policies: Vec<Option<PolicySpec>>,
}

impl Scenario {
    /// Reads and checks a scenario; `file` names it in errors.
    pub fn parse(file: &str, source: &str) -> Result<Scenario, ScenarioError> {
        let raw: RawScenario =
            toml::from_str(source).map_err(|e| ScenarioError::from_toml(file, source, &e))?;
        Checker { file, source }.scenario(raw)
    }

    /// The service called `name`.
    pub fn service(&self, name: &str) -> Option<usize> {
        self.services.iter().position(|s| s.name == name)
    }

    /// When the last failure window ends, if there is one: when the system was healed.
    ///
    /// ```
    /// use stanchion::Nanos;
    /// use stanchion_sim::{builtin, scenario::Scenario};
    /// let s = Scenario::parse("drill", builtin::DRILL).unwrap();
    /// assert_eq!(s.healed_at(), Some(Nanos::from_secs(60)));
    /// assert_eq!(s.failing_from(), Some(Nanos::from_secs(30)));
    /// ```
    pub fn healed_at(&self) -> Option<Nanos> {
        self.services
            .iter()
            .flat_map(|s| &s.failures)
            .map(|f| f.until)
            .max()
    }

    /// When the first failure window starts.
    pub fn failing_from(&self) -> Option<Nanos> {
        self.services
            .iter()
            .flat_map(|s| &s.failures)
            .map(|f| f.from)
            .min()
    }
}

/// Checks a read file against rules the types cannot express, with the source at hand to
/// place each error.
pub(crate) struct Checker<'a> {
    file: &'a str,
    source: &'a str,
}

impl Checker<'_> {
    fn error(&self, path: &FieldPath, message: impl Into<String>) -> ScenarioError {
        ScenarioError::at(self.file, self.source, path, message)
    }

    /// Whether the file spells out `path`.
    fn has(&self, path: &FieldPath) -> bool {
        let Ok(root) = DeTable::parse(self.source) else {
            return false;
        };
        let mut value: Option<&DeValue<'_>> = None;
        let mut table = Some(root.get_ref());
        for seg in &path.0 {
            value = match seg {
                Seg::Key(key) => table.and_then(|t| t.get(key.as_str())).map(|v| v.get_ref()),
                Seg::Index(i) => match value {
                    Some(DeValue::Array(a)) => a.get(*i).map(|v| v.get_ref()),
                    _ => None,
                },
            };
            table = match value {
                Some(DeValue::Table(t)) => Some(t),
                _ => None,
            };
            if value.is_none() {
                return false;
            }
        }
        true
    }

    fn scenario(&self, raw: RawScenario) -> Result<Scenario, ScenarioError> {
        let root = FieldPath::default();
        let names: Vec<String> = raw.services.keys().cloned().collect();
        let find = |name: &str, at: &FieldPath| {
            names.iter().position(|n| n == name).ok_or_else(|| {
                self.error(
                    at,
                    format!("no service `{name}`: the services are {}", names.join(", ")),
                )
            })
        };
        if raw.services.is_empty() {
            return Err(self.error(&root.key("services"), "at least one service is needed"));
        }
        let bucket = raw.bucket.map_or(Nanos::from_secs(1), |d| d.0);
        if bucket == Nanos::ZERO {
            return Err(self.error(&root.key("bucket"), "must be more than 0s"));
        }
        if raw.duration.0 == Nanos::ZERO {
            return Err(self.error(&root.key("duration"), "must be more than 0s"));
        }
        let mut services = Vec::new();
        for (name, s) in &raw.services {
            let at = root.key("services").key(name);
            let mut calls = Vec::new();
            for (i, callee) in s.calls.iter().enumerate() {
                let callee_index = find(callee, &at.key("calls").index(i))?;
                if callee == name {
                    return Err(self.error(&at.key("calls"), "a service cannot call itself"));
                }
                calls.push(callee_index);
            }
            let mut failures = Vec::new();
            for (i, f) in s.failures.iter().enumerate() {
                let fat = at.key("failures").index(i);
                if f.until.0 <= f.from.0 {
                    return Err(self.error(&fat.key("until"), "must be later than `from`"));
                }
                let latency = match &f.latency {
                    Some(l) => self.latency(l, &fat.key("latency"))?,
                    None => self.latency(&s.latency, &at.key("latency"))?,
                };
                failures.push(Failure {
                    from: f.from.0,
                    until: f.until.0,
                    latency,
                    error_rate: f.error_rate.map_or(0.0, |r| r.0),
                    workers: f.workers,
                });
                if f.workers == Some(0) {
                    return Err(self.error(&fat.key("workers"), "must be at least 1"));
                }
            }
            if s.workers == Some(0) {
                return Err(self.error(
                    &at.key("workers"),
                    "must be at least 1 (leave it out for no limit)",
                ));
            }
            services.push(Service {
                name: name.clone(),
                workers: s.workers,
                queue: s.queue.unwrap_or(0),
                latency: self.latency(&s.latency, &at.key("latency"))?,
                error_rate: s.error_rate.map_or(0.0, |r| r.0),
                calls,
                failures,
            });
        }
        self.acyclic(&services)?;
        let load_at = root.key("load");
        let target = find(&raw.load.target, &load_at.key("target"))?;
        let rate = raw.load.rate.unwrap_or(0.0);
        if !(rate.is_finite() && (0.0..=1e9).contains(&rate)) {
            return Err(self.error(
                &load_at.key("rate"),
                "must be in [0, 1e9] requests per second",
            ));
        }
        let burst = raw.load.burst.unwrap_or(0);
        if rate == 0.0 && burst == 0 {
            return Err(self.error(&load_at, "give a `rate` (requests per second) or a `burst`"));
        }
        let poisson = match raw.load.arrival.as_deref().unwrap_or("poisson") {
            "poisson" => true,
            "uniform" => false,
            other => {
                return Err(self.error(
                    &load_at.key("arrival"),
                    format!("unknown arrival `{other}`: use poisson or uniform"),
                ))
            }
        };
        if raw.run.is_empty() {
            return Err(self.error(&root, "at least one [[run]] is needed"));
        }
        let mut runs = Vec::new();
        for (i, run) in raw.run.iter().enumerate() {
            let at = root.key("run").index(i);
            let mut policies = vec![None; services.len()];
            for (callee, policy) in &run.policies {
                let pat = at.key("policies").key(callee);
                let index = find(callee, &pat)?;
                policies[index] = Some(self.policy(policy, &pat)?);
            }
            runs.push(RunSpec {
                name: run.name.clone(),
                policies,
            });
        }
        Ok(Scenario {
            name: raw.name,
            description: raw.description.trim().to_owned(),
            seed: raw.seed.unwrap_or(1),
            duration: raw.duration.0,
            bucket,
            load: Load {
                target,
                rate,
                poisson,
                burst,
                requests: raw.load.requests,
            },
            services,
            runs,
        })
    }

    fn latency(&self, raw: &RawLatency, at: &FieldPath) -> Result<Latency, ScenarioError> {
        let need = |value: Option<Dur>, key: &str| {
            value.map(|d| d.0).ok_or_else(|| {
                self.error(
                    at,
                    format!("missing field `{key}` for dist = \"{}\"", raw.dist),
                )
            })
        };
        let latency = match raw.dist.as_str() {
            "constant" => Latency::Constant(need(raw.value, "value")?),
            "uniform" => {
                let (min, max) = (need(raw.min, "min")?, need(raw.max, "max")?);
                if max < min {
                    return Err(self.error(&at.key("max"), "must be at least `min`"));
                }
                Latency::Uniform(min, max)
            }
            "exponential" => Latency::Exponential(need(raw.mean, "mean")?),
            "lognormal" => {
                let (p50, p99) = (need(raw.p50, "p50")?, need(raw.p99, "p99")?);
                if p99 < p50 {
                    return Err(self.error(&at.key("p99"), "must be at least `p50`"));
                }
                Latency::LogNormal { p50, p99 }
            }
            other => {
                return Err(self.error(
                    &at.key("dist"),
                    format!("unknown distribution `{other}`: use constant, uniform, exponential or lognormal"),
                ))
            }
        };
        Ok(latency)
    }

    /// Calls must form a tree or a DAG: a cycle would recurse for ever.
    fn acyclic(&self, services: &[Service]) -> Result<(), ScenarioError> {
        fn visit(s: usize, services: &[Service], path: &mut Vec<usize>) -> Option<usize> {
            if path.contains(&s) {
                return Some(s);
            }
            path.push(s);
            for &c in &services[s].calls {
                if let Some(hit) = visit(c, services, path) {
                    return Some(hit);
                }
            }
            path.pop();
            None
        }
        for s in 0..services.len() {
            if let Some(hit) = visit(s, services, &mut Vec::new()) {
                let name = &services[hit].name;
                let at = FieldPath::default().key("services").key(name).key("calls");
                return Err(self.error(&at, format!("`{name}` calls itself through others")));
            }
        }
        Ok(())
    }
}
