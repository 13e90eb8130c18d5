//! `stanchion-sim`: runs a scenario in simulated time and prints the side-by-side table of its
//! runs; writes one SVG timeline per run.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use stanchion_sim::builtin;
use stanchion_sim::output::run_scenario;
use stanchion_sim::scenario::Scenario;

/// Simulate a service topology with and without resilience patterns.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// A built-in scenario (drill, jitter, overload) or the path of a scenario file.
    #[arg(default_value = "drill")]
    scenario: String,
    /// The seed of every random draw (default: the scenario's own).
    #[arg(long)]
    seed: Option<u64>,
    /// Where the SVG timelines go.
    #[arg(long, default_value = "sim-out")]
    out: PathBuf,
    /// Write no pictures.
    #[arg(long)]
    no_svg: bool,
    /// Send this many user requests, however long that takes (overrides the load's length).
    #[arg(long)]
    requests: Option<u64>,
    /// Print each run's wall-clock time and request rate to stderr.
    #[arg(long)]
    timing: bool,
    /// List the built-in scenarios and exit.
    #[arg(long)]
    list: bool,
    /// Print a built-in scenario's file and exit (a start for your own).
    #[arg(long)]
    show: bool,
}

fn load(name: &str) -> Result<(String, String), String> {
    if let Some(text) = builtin::find(name) {
        return Ok((format!("{name}.toml"), text.to_owned()));
    }
    let text = std::fs::read_to_string(name).map_err(|e| {
        let known: Vec<&str> = builtin::ALL.iter().map(|(n, _)| *n).collect();
        format!("{name}: {e} (built-in scenarios: {})", known.join(", "))
    })?;
    Ok((name.to_owned(), text))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli) -> Result<(), String> {
    if cli.list {
        for (name, text) in builtin::ALL {
            let s = Scenario::parse(name, text).map_err(|e| e.to_string())?;
            emit(&format!("{name}: {}\n", s.description.replace('\n', " ")))?;
        }
        return Ok(());
    }
    let (file, text) = load(&cli.scenario)?;
    if cli.show {
        return emit(&text);
    }
    let mut scenario = Scenario::parse(&file, &text).map_err(|e| e.to_string())?;
    if let Some(n) = cli.requests {
        if scenario.load.rate <= 0.0 {
            return Err("--requests needs a scenario whose load has a `rate`".into());
        }
        scenario.load.requests = Some(n);
    }
    let seed = cli.seed.unwrap_or(scenario.seed);
    let expected = match scenario.load.requests {
        Some(n) => n,
        None => (scenario.load.rate * scenario.duration.as_nanos() as f64 / 1e9) as u64,
    } + u64::from(scenario.load.burst);
    let load_ms = match scenario.load.requests {
        Some(n) => (n as f64 / scenario.load.rate * 1e3) as u64,
        None => scenario.duration.as_nanos() / 1_000_000,
    };
    // Only long runs get a bar; indicatif draws nothing when stderr is not a terminal.
    let bar = (expected >= 200_000).then(|| {
        let bar = ProgressBar::new(load_ms * scenario.runs.len() as u64);
        bar.set_style(
            ProgressStyle::with_template("{msg:>12} [{bar:40}] {percent:>3}% simulated, {elapsed}")
                .expect("a valid template")
                .progress_chars("=> "),
        );
        bar
    });
    let started = Instant::now();
    let runs = scenario.runs.clone();
    let output = run_scenario(&scenario, seed, !cli.no_svg, &mut |run, now| {
        if let Some(bar) = &bar {
            bar.set_message(runs[run].name.clone());
            bar.set_position(run as u64 * load_ms + (now.as_nanos() / 1_000_000).min(load_ms));
        }
    })
    .map_err(|e| format!("drawing the timelines: {e}"))?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    if cli.timing {
        for (s, t) in output.summaries.iter().zip(&output.timings) {
            eprintln!("{}: {} simulated requests in {t:.2?}", s.name, s.offered);
        }
        let wall = started.elapsed();
        let total: u64 = output.summaries.iter().map(|s| s.offered).sum();
        eprintln!(
            "in all, {} runs and their table{}: {total} simulated requests in {wall:.2?} ({:.0} per second)",
            output.summaries.len(),
            if output.pictures.is_empty() { "" } else { " and pictures" },
            total as f64 / wall.as_secs_f64()
        );
    }
    let mut text = output.text;
    if !output.pictures.is_empty() {
        std::fs::create_dir_all(&cli.out).map_err(|e| format!("{}: {e}", cli.out.display()))?;
        text.push('\n');
        for (name, svg) in &output.pictures {
            let path = cli.out.join(name);
            std::fs::write(&path, svg).map_err(|e| format!("{}: {e}", path.display()))?;
            text.push_str(&format!("timeline: {}\n", path.display()));
        }
    }
    emit(&text)
}

/// Prints to stdout; a reader that went away (`| head`) is not an error.
fn emit(text: &str) -> Result<(), String> {
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(format!("stdout: {e}")),
        _ => Ok(()),
    }
}
