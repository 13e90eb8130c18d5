//! A whole scenario: every run simulated, the table, and one SVG timeline per run. Pure
//! functions of the scenario and the seed, so the same seed gives the same bytes.

use std::time::{Duration, Instant};

use stanchion::Nanos;

use crate::engine::simulate;
use crate::plot::{limits, timeline};
use crate::report::{heading, table};
use crate::scenario::Scenario;
use crate::summary::{summarize_run, Summary};

/// What a scenario produced.
pub struct Output {
    /// The heading and the side-by-side table.
    pub text: String,
    /// `(file name, SVG text)` for each run, when pictures were asked for, then one of the
    /// adaptive limits against the capacity, when runs have them.
    pub pictures: Vec<(String, String)>,
    /// Each run's figures, in the scenario's order.
    pub summaries: Vec<Summary>,
    /// The wall-clock time each simulation took (for `--timing`; never part of the text).
    pub timings: Vec<Duration>,
}

/// A file-name-safe form of a run's name: `"no patterns"` → `"no-patterns"`.
///
/// ```
/// assert_eq!(stanchion_sim::output::slug("No patterns!"), "no-patterns");
/// ```
pub fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_owned()
}

/// Runs every run of `scenario` with `seed`; `progress(run, now)` hears how far each got.
///
/// ```
/// use stanchion_sim::{builtin, output::run_scenario, scenario::Scenario};
/// let s = Scenario::parse("jitter", builtin::JITTER).unwrap();
/// let out = run_scenario(&s, 1, true, &mut |_, _| {}).unwrap();
/// assert_eq!(out.pictures.len(), 4);
/// assert_eq!(out.pictures[0].0, "jitter-no-jitter.svg");
/// ```
pub fn run_scenario(
    scenario: &Scenario,
    seed: u64,
    pictures: bool,
    progress: &mut dyn FnMut(usize, Nanos),
) -> Result<Output, Box<dyn std::error::Error>> {
    let mut metrics = Vec::new();
    let mut timings = Vec::new();
    for (i, run) in scenario.runs.iter().enumerate() {
        let started = Instant::now();
        metrics.push(simulate(scenario, run, seed, &mut |now| progress(i, now)));
        timings.push(started.elapsed());
    }
    let summaries: Vec<Summary> = scenario
        .runs
        .iter()
        .zip(&metrics)
        .map(|(run, m)| summarize_run(scenario, run, m))
        .collect();
    let mut text = heading(scenario, seed);
    text.push('\n');
    text.push_str(&table(scenario, &summaries));
    let mut svgs = Vec::new();
    if pictures {
        let x_max = metrics
            .iter()
            .map(|m| m.end.as_nanos() as f64 / 1e9)
            .fold(0.0, f64::max);
        for (run, m) in scenario.runs.iter().zip(&metrics) {
            let name = format!("{}-{}.svg", slug(&scenario.name), slug(&run.name));
            svgs.push((name, timeline(scenario, &run.name, m, x_max)?));
        }
        let runs: Vec<_> = scenario.runs.iter().zip(&metrics).collect();
        if let Some(svg) = limits(scenario, &runs, x_max)? {
            svgs.push((format!("{}-limits.svg", slug(&scenario.name)), svg));
        }
    }
    Ok(Output {
        text,
        pictures: svgs,
        summaries,
        timings,
    })
}
