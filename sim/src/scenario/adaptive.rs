//! From an `adaptive = { ... }` table to the core's `AdaptiveConfig`: the common keys, the
//! algorithm, and that algorithm's own parameters, which sit flat beside the common ones.

use stanchion::adaptive::{Aimd, Algorithm, Gradient2, Vegas};
use stanchion::AdaptiveConfig;

use super::locate::FieldPath;
use super::raw::RawAdaptive;
use super::Checker;
use super::ScenarioError;

impl Checker<'_> {
    /// The adaptive limit's config: the common keys, then the chosen algorithm's parameters.
    pub(super) fn adaptive(
        &self,
        raw: &RawAdaptive,
        at: &FieldPath,
    ) -> Result<AdaptiveConfig, ScenarioError> {
        let name = raw.algorithm.as_deref().unwrap_or("aimd");
        // Each parameter belongs to one algorithm (smoothing to two): naming another
        // algorithm's would silently do nothing.
        let owners: [(&str, bool, &[&str]); 10] = [
            ("backoff_ratio", raw.backoff_ratio.is_some(), &["aimd"]),
            ("timeout", raw.timeout.is_some(), &["aimd"]),
            ("alpha", raw.alpha.is_some(), &["vegas"]),
            ("beta", raw.beta.is_some(), &["vegas"]),
            (
                "probe_multiplier",
                raw.probe_multiplier.is_some(),
                &["vegas"],
            ),
            (
                "smoothing",
                raw.smoothing.is_some(),
                &["vegas", "gradient2"],
            ),
            ("queue_size", raw.queue_size.is_some(), &["gradient2"]),
            ("long_window", raw.long_window.is_some(), &["gradient2"]),
            ("rtt_tolerance", raw.rtt_tolerance.is_some(), &["gradient2"]),
            ("creep_guard", raw.creep_guard.is_some(), &["gradient2"]),
        ];
        let algorithm = match name {
            "aimd" => {
                let mut aimd = Aimd::new();
                if let Some(r) = raw.backoff_ratio {
                    aimd = aimd.backoff_ratio(r);
                }
                if let Some(t) = raw.timeout {
                    aimd = aimd.timeout(t.0);
                }
                Algorithm::Aimd(aimd)
            }
            "vegas" => {
                let mut vegas = Vegas::new();
                if let Some(n) = raw.alpha {
                    vegas = vegas.alpha(n);
                }
                if let Some(n) = raw.beta {
                    vegas = vegas.beta(n);
                }
                if let Some(n) = raw.probe_multiplier {
                    vegas = vegas.probe_multiplier(n);
                }
                if let Some(s) = raw.smoothing {
                    vegas = vegas.smoothing(s);
                }
                Algorithm::Vegas(vegas)
            }
            "gradient2" => {
                let mut g = Gradient2::new();
                if let Some(s) = raw.smoothing {
                    g = g.smoothing(s);
                }
                if let Some(n) = raw.queue_size {
                    g = g.queue_size(n);
                }
                if let Some(n) = raw.long_window {
                    g = g.long_window(n);
                }
                if let Some(t) = raw.rtt_tolerance {
                    g = g.rtt_tolerance(t);
                }
                if let Some(on) = raw.creep_guard {
                    g = g.creep_guard(on);
                }
                Algorithm::Gradient2(g)
            }
            other => {
                return Err(self.error(
                    &at.key("algorithm"),
                    format!("unknown algorithm `{other}`: use aimd, vegas or gradient2"),
                ))
            }
        };
        if let Some((key, _, algorithms)) = owners
            .iter()
            .find(|(_, given, algorithms)| *given && !algorithms.contains(&name))
        {
            return Err(self.error(
                &at.key(key),
                format!(
                    "not a parameter of `{name}` (it belongs to {})",
                    algorithms.join(" and ")
                ),
            ));
        }
        let defaults = AdaptiveConfig::new();
        let mut config = AdaptiveConfig::new().algorithm(algorithm).limits(
            raw.min_limit.unwrap_or(defaults.min_limit),
            raw.initial_limit.unwrap_or(defaults.initial_limit),
            raw.max_limit.unwrap_or(defaults.max_limit),
        );
        config = config.window(
            raw.window.map_or(defaults.window, |d| d.0),
            raw.min_samples.unwrap_or(defaults.min_samples),
        );
        Ok(config)
    }
}
