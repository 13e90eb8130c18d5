//! Prints a summary table of the latest criterion run: time per operation of every benchmark,
//! its ratio to the floor (`floor_fetch_add` of the same group and thread count) and, for
//! stanchion's entries, how many times faster it is than the named peer, checked against the
//! targets of the performance issue. Figures are reported, never asserted.
//!
//! ```text
//! cargo bench -p stanchion-benches
//! cargo run -p stanchion-benches --bin bench-summary [CRITERION_DIR]
//! ```
//!
//! `CRITERION_DIR` defaults to `$CARGO_TARGET_DIR/criterion`, else the nearest
//! `target/criterion` above the current directory. Each benchmark's time is criterion's slope
//! estimate where it has one (its headline figure), else the mean, read from
//! `<bench>/new/estimates.json`; its name from `<bench>/new/benchmark.json`.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde_json::Value;
use stanchion_benches::FLOOR;

/// Groups in the order they are printed; groups not listed follow, by name.
const GROUPS: &[&str] = &[
    "breaker_closed",
    "breaker_open",
    "limiter_direct",
    "limiter_keyed",
    "bulkhead",
    "backoff_delay",
    "backoff_schedule",
];

/// `(group, stanchion entry, peer entry)`: the peer each stanchion entry is compared with.
/// Entries that read the same clock as their peer are paired with it; `*_now_given` entries
/// are paired with the peer as its users run it.
const PEERS: &[(&str, &str, &str)] = &[
    ("breaker_closed", "stanchion_now_given", "failsafe_default"),
    (
        "breaker_closed",
        "stanchion_raw_now_given",
        "failsafe_default",
    ),
    ("breaker_closed", "stanchion_instant", "failsafe_default"),
    (
        "breaker_closed",
        "stanchion_consecutive_now_given",
        "failsafe_consecutive",
    ),
    ("breaker_open", "stanchion_now_given", "failsafe"),
    ("breaker_open", "stanchion_instant", "failsafe"),
    ("limiter_direct", "stanchion_now_given", "governor"),
    ("limiter_direct", "stanchion_quanta", "governor"),
    ("limiter_direct", "stanchion_instant", "governor"),
    ("limiter_keyed", "stanchion_now_given", "governor_keyed"),
    ("limiter_keyed", "stanchion_quanta", "governor_keyed"),
    ("limiter_keyed", "stanchion_instant", "governor_keyed"),
    ("bulkhead", "stanchion", "tokio_semaphore"),
    ("bulkhead", "stanchion_waiters", "tokio_semaphore"),
    ("adaptive", "adaptive", "bulkhead"),
    ("adaptive", "adaptive_window_10", "bulkhead"),
    ("adaptive", "adaptive_gradient2_window_10", "bulkhead"),
    ("backoff_delay", "stanchion_retrying_now_given", "backon"),
    ("backoff_delay", "stanchion_delay_pure", "backon"),
    (
        "backoff_delay",
        "stanchion_retrying_instant",
        "backoff_crate",
    ),
    ("backoff_schedule", "stanchion_now_given", "backon"),
    ("backoff_schedule", "stanchion_delay_pure", "backon"),
    ("backoff_schedule", "stanchion_instant", "backoff_crate"),
];

/// What the performance issue asks of one stanchion entry.
#[derive(Clone, Copy, Debug)]
enum Goal {
    /// At most this many times the floor.
    MaxFloor(f64),
    /// At least this many times faster than its peer (`peer time / our time`).
    MinSpeedup(f64),
}

/// `(group, stanchion entry, thread count or None for all, goal)`.
const TARGETS: &[(&str, &str, Option<&str>, Goal)] = &[
    (
        "breaker_closed",
        "stanchion_now_given",
        None,
        Goal::MaxFloor(2.0),
    ),
    (
        "breaker_closed",
        "stanchion_now_given",
        None,
        Goal::MinSpeedup(10.0),
    ),
    (
        "breaker_open",
        "stanchion_now_given",
        None,
        Goal::MaxFloor(1.5),
    ),
    (
        "limiter_direct",
        "stanchion_quanta",
        None,
        Goal::MinSpeedup(1.0),
    ),
    (
        "limiter_keyed",
        "stanchion_quanta",
        Some("1t"),
        Goal::MinSpeedup(3.0),
    ),
    (
        "limiter_keyed",
        "stanchion_quanta",
        Some("2t"),
        Goal::MinSpeedup(1.5),
    ),
    ("bulkhead", "stanchion", None, Goal::MinSpeedup(1.0)),
    // Within 1.5 times the bulkhead's acquire + release: at least 1 / 1.5 of its speed.
    ("adaptive", "adaptive", None, Goal::MinSpeedup(0.67)),
    (
        "backoff_delay",
        "stanchion_retrying_now_given",
        None,
        Goal::MinSpeedup(4.0),
    ),
];

/// One benchmark's result.
#[derive(Clone, Debug)]
struct Entry {
    group: String,
    function: String,
    threads: String,
    nanos: f64,
}

fn main() -> ExitCode {
    let dir = match std::env::args_os().nth(1) {
        Some(dir) => PathBuf::from(dir),
        None => default_dir(),
    };
    let mut entries = Vec::new();
    if let Err(e) = collect(&dir, &mut entries) {
        eprintln!("cannot read {}: {e}", dir.display());
        return ExitCode::FAILURE;
    }
    if entries.is_empty() {
        eprintln!(
            "no criterion results under {} (run `cargo bench -p stanchion-benches` first)",
            dir.display()
        );
        return ExitCode::FAILURE;
    }
    print!("{}", render(&entries));
    ExitCode::SUCCESS
}

fn default_dir() -> PathBuf {
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        return Path::new(&target).join("criterion");
    }
    let mut here = std::env::current_dir().unwrap_or_default();
    loop {
        let candidate = here.join("target").join("criterion");
        if candidate.is_dir() {
            return candidate;
        }
        if !here.pop() {
            return PathBuf::from("target/criterion");
        }
    }
}

/// Every `new/` result under `dir`.
fn collect(dir: &Path, out: &mut Vec<Entry>) -> std::io::Result<()> {
    for item in fs::read_dir(dir)? {
        let path = item?.path();
        if !path.is_dir() {
            continue;
        }
        if path.file_name().is_some_and(|name| name == "new") {
            if let Some(entry) = read_entry(&path) {
                out.push(entry);
            }
        } else if path.file_name().is_some_and(|name| name != "report") {
            collect(&path, out)?;
        }
    }
    Ok(())
}

fn read_json(path: &Path) -> Option<Value> {
    serde_json::from_str(&fs::read_to_string(path).ok()?).ok()
}

fn read_entry(new: &Path) -> Option<Entry> {
    let id = read_json(&new.join("benchmark.json"))?;
    let estimates = read_json(&new.join("estimates.json"))?;
    let point = |name: &str| estimates.get(name)?.get("point_estimate")?.as_f64();
    let text = |name: &str| id.get(name)?.as_str().map(str::to_owned);
    Some(Entry {
        group: text("group_id")?,
        function: text("function_id").unwrap_or_default(),
        threads: text("value_str").unwrap_or_default(),
        nanos: point("slope").or_else(|| point("mean"))?,
    })
}

/// Floor first, then stanchion's entries, then the peers.
fn rank(function: &str) -> (u8, &str) {
    if function == FLOOR {
        (0, function)
    } else if function.starts_with("stanchion") {
        (1, function)
    } else {
        (2, function)
    }
}

fn group_rank(group: &str) -> (usize, &str) {
    let position = GROUPS.iter().position(|g| *g == group);
    (position.unwrap_or(GROUPS.len()), group)
}

fn render(entries: &[Entry]) -> String {
    let mut by_key: BTreeMap<(&str, &str, &str), f64> = BTreeMap::new();
    for e in entries {
        by_key.insert((&e.group, &e.function, &e.threads), e.nanos);
    }
    let mut sorted: Vec<&Entry> = entries.iter().collect();
    sorted.sort_by(|a, b| {
        (group_rank(&a.group), &a.threads, rank(&a.function)).cmp(&(
            group_rank(&b.group),
            &b.threads,
            rank(&b.function),
        ))
    });

    let mut rows = vec![[
        "group".to_owned(),
        "bench".to_owned(),
        "thr".to_owned(),
        "ns/op".to_owned(),
        "x floor".to_owned(),
        "peer".to_owned(),
        "faster than peer".to_owned(),
        "target".to_owned(),
    ]];
    for e in sorted {
        let key = |function: &'static str| (e.group.as_str(), function, e.threads.as_str());
        let floor = by_key.get(&key(FLOOR)).copied();
        let x_floor = floor.map(|f| e.nanos / f);
        let peer = PEERS
            .iter()
            .find(|(g, ours, _)| *g == e.group && *ours == e.function)
            .map(|(_, _, peer)| *peer);
        let speedup = peer
            .and_then(|p| by_key.get(&key(p)).copied())
            .map(|p| p / e.nanos);
        let targets: Vec<String> = TARGETS
            .iter()
            .filter(|(g, ours, threads, _)| {
                *g == e.group
                    && *ours == e.function
                    && threads.is_none_or(|t| t == e.threads.as_str())
            })
            .map(|(_, _, _, goal)| verdict(*goal, x_floor, speedup))
            .collect();
        rows.push([
            e.group.clone(),
            e.function.clone(),
            e.threads.clone(),
            format!("{:.2}", e.nanos),
            x_floor.map_or_else(String::new, |x| format!("{x:.2}")),
            peer.unwrap_or_default().to_owned(),
            speedup.map_or_else(String::new, |s| format!("{s:.2}x")),
            targets.join("; "),
        ]);
    }
    table(&rows)
}

fn verdict(goal: Goal, x_floor: Option<f64>, speedup: Option<f64>) -> String {
    let (wanted, seen, met) = match goal {
        Goal::MaxFloor(max) => (
            format!("<= {max}x floor"),
            x_floor,
            x_floor.map(|x| x <= max),
        ),
        Goal::MinSpeedup(min) => (
            format!(">= {min}x peer"),
            speedup,
            speedup.map(|s| s >= min),
        ),
    };
    match (seen, met) {
        (Some(_), Some(true)) => format!("{wanted}: met"),
        (Some(_), Some(false)) => format!("{wanted}: MISSED"),
        _ => format!("{wanted}: no data"),
    }
}

/// Left-aligned text columns, right-aligned figures, as a Markdown table.
fn table<const N: usize>(rows: &[[String; N]]) -> String {
    let mut widths = [0usize; N];
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let numeric = |column: usize| (3..=4).contains(&column) || column == 6;
    let mut out = String::new();
    for (index, row) in rows.iter().enumerate() {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .enumerate()
            .map(|(column, (cell, width))| {
                if numeric(column) && index > 0 {
                    format!("{cell:>width$}")
                } else {
                    format!("{cell:<width$}")
                }
            })
            .collect();
        out.push_str(&format!("| {} |\n", cells.join(" | ").trim_end()));
        if index == 0 {
            let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
            out.push_str(&format!("|-{}-|\n", rule.join("-|-")));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(group: &str, function: &str, threads: &str, nanos: f64) -> Entry {
        Entry {
            group: group.to_owned(),
            function: function.to_owned(),
            threads: threads.to_owned(),
            nanos,
        }
    }

    #[test]
    fn ratios_are_against_the_floor_and_the_named_peer() {
        let entries = [
            entry("breaker_closed", "failsafe_default", "1t", 100.0),
            entry("breaker_closed", "stanchion_now_given", "1t", 4.0),
            entry("breaker_closed", FLOOR, "1t", 2.0),
        ];
        let out = render(&entries);
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[2].contains(FLOOR), "floor first: {out}");
        assert!(lines[3].contains("stanchion_now_given"));
        assert!(lines[3].contains("2.00"), "x floor: {out}");
        assert!(lines[3].contains("25.00x"), "speedup: {out}");
        assert!(lines[3].contains("<= 2x floor: met"));
        assert!(lines[3].contains(">= 10x peer: met"));
    }

    #[test]
    fn missing_peer_is_reported_as_no_data() {
        let entries = [entry("bulkhead", "stanchion", "2t", 4.0)];
        assert!(render(&entries).contains(">= 1x peer: no data"));
    }
}
