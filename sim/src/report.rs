//! The side-by-side table of a scenario's runs, as plain text.

use std::fmt::Write as _;

use stanchion::Nanos;

use crate::adapt::Adaptation;
use crate::scenario::Scenario;
use crate::summary::Summary;

/// A duration for people: `0.42 ms`, `87 ms`, `10.05 s`.
///
/// ```
/// use stanchion::Nanos;
/// use stanchion_sim::report::human;
/// assert_eq!(human(Nanos::from_millis(87)), "87 ms");
/// assert_eq!(human(Nanos::from_millis(10_050)), "10.05 s");
/// ```
pub fn human(d: Nanos) -> String {
    let ns = d.as_nanos();
    if ns == 0 {
        "0 s".to_owned()
    } else if ns < 1_000_000 {
        format!("{:.2} ms", ns as f64 / 1e6)
    } else if ns < 1_000_000_000 {
        format!("{} ms", (ns as f64 / 1e6).round() as u64)
    } else {
        format!("{:.2} s", ns as f64 / 1e9)
    }
}

/// A count in groups of three: `1 234 567`.
///
/// ```
/// assert_eq!(stanchion_sim::report::count(1234567), "1 234 567");
/// ```
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

fn percent(x: f64) -> String {
    format!("{:.2} %", 100.0 * x)
}

/// The table: one row per figure, one column per run.
///
/// ```
/// use stanchion_sim::{engine::simulate, report::table, scenario::Scenario, summary::summarize};
/// let s = Scenario::parse("jitter", stanchion_sim::builtin::JITTER).unwrap();
/// let runs: Vec<_> = s.runs.iter()
///     .map(|r| summarize(&s, &r.name, &simulate(&s, r, s.seed, &mut |_| {})))
///     .collect();
/// assert!(table(&s, &runs).contains("calls reaching resource"));
/// ```
pub fn table(scenario: &Scenario, runs: &[Summary]) -> String {
    let mut rows: Vec<(String, Vec<String>)> = Vec::new();
    let mut row = |label: &str, f: &dyn Fn(&Summary) -> String| {
        rows.push((label.to_owned(), runs.iter().map(f).collect()));
    };
    row("requests", &|s| count(s.offered));
    row("success rate (fallbacks count)", &|s| {
        percent(s.success_rate())
    });
    if runs.iter().any(|s| s.degraded > 0) {
        row("  served by fallback", &|s| count(s.degraded));
    }
    row("  user-visible errors", &|s| count(s.errors));
    let adaptive = runs.iter().find_map(|s| s.adapt.clone());
    if adaptive.is_some() {
        row("goodput (served in full per second)", &|s| {
            format!("{:.1}", s.goodput)
        });
    }
    row("latency p50", &|s| human(s.p50));
    row("latency p99", &|s| human(s.p99));
    row("latency max", &|s| human(s.max));
    for (i, (name, _, _)) in runs[0].saturated.iter().enumerate() {
        row(&format!("{name} workers all busy"), &|s| {
            let t = s.saturated[i].1;
            let run = s.last_answer.as_nanos().max(1) as f64;
            format!("{} ({:.0} %)", human(t), 100.0 * t.as_nanos() as f64 / run)
        });
        row(&format!("{name} peak busy workers"), &|s| {
            count(u64::from(s.saturated[i].2))
        });
    }
    if runs.iter().any(|s| s.pool_rejected > 0) {
        row("refused: workers and queue full", &|s| {
            count(s.pool_rejected)
        });
    }
    for (i, (name, _)) in runs[0].reaching.iter().enumerate() {
        row(&format!("calls reaching {name}"), &|s| {
            count(s.reaching[i].1)
        });
    }
    row("retries sent", &|s| count(s.retries));
    if runs.iter().any(|s| s.budget_refused > 0) {
        row("  retries refused by the budget", &|s| {
            count(s.budget_refused)
        });
    }
    if runs.iter().any(|s| s.timeouts > 0) {
        row("attempts timed out", &|s| count(s.timeouts));
    }
    if runs.iter().any(|s| s.refused > 0) {
        row("fast refusals (breaker, bulkhead, limit)", &|s| {
            count(s.refused)
        });
    }
    if runs.iter().any(|s| s.breaker_trips > 0) {
        row("breaker trips", &|s| count(s.breaker_trips));
    }
    let entry = &scenario.services[scenario.load.target].name;
    if runs.iter().any(|s| s.peak_per_ms > 0) {
        row(&format!("most retries to {entry} in 1 ms"), &|s| {
            count(s.peak_per_ms)
        });
    }
    if let Some(a) = &adaptive {
        adapt_rows(&mut row, a);
    }
    if let Some(heal) = scenario.healed_at() {
        row(
            &format!("time to recover after {}", human(heal)),
            &|s| match s.recovery {
                Some(Some(t)) => human(t),
                _ => "not in the run".to_owned(),
            },
        );
    }
    row("time to finish (last answer)", &|s| human(s.last_answer));

    let label_width = rows
        .iter()
        .map(|(l, _)| l.chars().count())
        .max()
        .unwrap_or(0);
    let widths: Vec<usize> = (0..runs.len())
        .map(|c| {
            rows.iter()
                .map(|(_, v)| v[c].chars().count())
                .chain([runs[c].name.chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    let _ = write!(out, "{:label_width$}", "");
    for (s, w) in runs.iter().zip(&widths) {
        let _ = write!(out, "  {:>w$}", s.name);
    }
    out.push('\n');
    for (label, values) in &rows {
        let _ = write!(out, "{label:label_width$}");
        for (v, w) in values.iter().zip(&widths) {
            let _ = write!(out, "  {v:>w$}");
        }
        out.push('\n');
    }
    out
}

/// Adds one row of the table: its label, and how to show each run's figure.
type AddRow<'a> = dyn FnMut(&str, &dyn Fn(&Summary) -> String) + 'a;

/// The adaptive limit's rows; runs without one show a dash.
fn adapt_rows(row: &mut AddRow<'_>, a: &Adaptation) {
    const NONE: &str = "—";
    let time = |t: Option<Nanos>| t.map_or_else(|| "not in the run".to_owned(), human);
    let span = |(lo, hi): (u32, u32)| {
        if lo == hi {
            lo.to_string()
        } else {
            format!("{lo}–{hi}")
        }
    };
    let half = |a: Nanos, b: Nanos| a + Nanos::new((b.as_nanos().saturating_sub(a.as_nanos())) / 2);
    row(
        &format!(
            "L: time to adapt to the drop at {} (to {})",
            human(a.dropped_at),
            a.reduced
        ),
        &|s| s.adapt.as_ref().map_or(NONE.to_owned(), |x| time(x.down)),
    );
    row(
        &format!(
            "L in {}–{} (capacity-equivalent {})",
            human(half(a.dropped_at, a.recovered_at)),
            human(a.recovered_at),
            a.reduced
        ),
        &|s| {
            s.adapt
                .as_ref()
                .map_or(NONE.to_owned(), |x| span(x.settled_reduced))
        },
    );
    row(
        &format!(
            "L: time to adapt to the recovery at {} (to {})",
            human(a.recovered_at),
            a.healthy
        ),
        &|s| s.adapt.as_ref().map_or(NONE.to_owned(), |x| time(x.up)),
    );
    row(
        &format!(
            "L in {}–{} (capacity-equivalent {})",
            human(half(a.recovered_at, a.load_end)),
            human(a.load_end),
            a.healthy
        ),
        &|s| {
            s.adapt
                .as_ref()
                .map_or(NONE.to_owned(), |x| span(x.settled_healthy))
        },
    );
}

/// The heading above the table: the scenario, its load and its seed.
///
/// ```
/// use stanchion_sim::{builtin, report::heading, scenario::Scenario};
/// let s = Scenario::parse("jitter", builtin::JITTER).unwrap();
/// assert!(heading(&s, 7).starts_with("jitter: 100 clients at once to resource (seed 7)"));
/// ```
pub fn heading(scenario: &Scenario, seed: u64) -> String {
    let load = &scenario.load;
    let target = &scenario.services[load.target].name;
    let mut what = Vec::new();
    if load.burst > 0 {
        what.push(format!("{} clients at once", load.burst));
    }
    if load.rate > 0.0 {
        what.push(match load.requests {
            Some(n) => format!("{} requests at {} per second", count(n), load.rate),
            None => format!(
                "{} requests per second for {}",
                load.rate,
                human(scenario.duration)
            ),
        });
    }
    format!(
        "{}: {} to {target} (seed {seed})\n{}\n",
        scenario.name,
        what.join(" and "),
        scenario.description
    )
}
