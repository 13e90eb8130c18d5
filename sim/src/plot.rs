//! The timeline of one run as an SVG: load and answers, p99 latency, breaker states, and how
//! full the worker pools and bulkheads were; and, for scenarios with adaptive limits, their
//! limits over time against the capacity they follow.

use plotters::coord::Shift;
use plotters::prelude::*;
use stanchion::breaker::State;

use crate::metrics::Metrics;
use crate::scenario::{RunSpec, Scenario};
use crate::summary::percentile;

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
type PlotResult = Result<(), Box<dyn std::error::Error>>;
/// A named, coloured series of (seconds, value) points.
type Line = (String, RGBColor, Vec<(f64, f64)>);
/// A [`Line`] with its stroke width, as [`line_chart`] draws it.
type WideLine = (String, RGBColor, u32, Vec<(f64, f64)>);

const WIDTH: u32 = 1100;
const FONT: &str = "sans-serif";
const GREY: RGBColor = RGBColor(140, 140, 140);
const GREEN_: RGBColor = RGBColor(46, 139, 87);
const BLUE_: RGBColor = RGBColor(65, 105, 225);
const RED_: RGBColor = RGBColor(200, 40, 40);
const AMBER: RGBColor = RGBColor(230, 160, 20);
const PURPLE: RGBColor = RGBColor(128, 60, 160);
const PALETTE: [RGBColor; 4] = [BLUE_, PURPLE, AMBER, GREEN_];
/// The limits picture is smaller than a timeline: one panel.
const LIMITS_SIZE: (u32, u32) = (900, 380);

/// The SVG text of run `run` of `scenario`, with time from 0 to `x_max` seconds (the same for
/// every run of a scenario, so their pictures line up).
///
/// ```
/// use stanchion_sim::{engine::simulate, plot::timeline, scenario::Scenario};
/// let s = Scenario::parse("jitter", stanchion_sim::builtin::JITTER).unwrap();
/// let m = simulate(&s, &s.runs[0], s.seed, &mut |_| {});
/// let svg = timeline(&s, &s.runs[0].name, &m, 10.0).unwrap();
/// assert!(svg.starts_with("<svg"));
/// ```
pub fn timeline(
    scenario: &Scenario,
    run: &str,
    m: &Metrics,
    x_max: f64,
) -> Result<String, Box<dyn std::error::Error>> {
    let breakers: Vec<(usize, &Vec<_>)> = m
        .breakers
        .iter()
        .enumerate()
        .filter_map(|(i, b)| b.as_ref().map(|b| (i, b)))
        .collect();
    let band_height = 80 + 30 * breakers.len().max(1) as u32;
    let heights = [300, 240, band_height, 260];
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, heights.iter().sum::<u32>() + 40))
            .into_drawing_area();
        root.fill(&WHITE)?;
        let title = format!("{}: {run}", scenario.name);
        let root = root.titled(&title, (FONT, 22))?;
        let (load, rest) = root.split_vertically(heights[0]);
        let (latency, rest) = rest.split_vertically(heights[1]);
        let (bands, occupancy) = rest.split_vertically(heights[2]);
        let x_max = x_max.max(m.bucket.as_nanos() as f64 / 1e9);
        load_panel(scenario, m, &load, x_max)?;
        latency_panel(m, &latency, x_max)?;
        breaker_panel(scenario, m, &breakers, &bands, x_max)?;
        occupancy_panel(scenario, m, &occupancy, x_max)?;
        root.present()?;
    }
    Ok(svg)
}

/// The SVG text of the adaptive limits of `runs` over time, from 0 to `x_max` seconds, against
/// the capacity-equivalent limit (the workers) of the service they guard; `None` when no run
/// has an adaptive limit.
///
/// ```
/// use stanchion_sim::{builtin, engine::simulate, plot::limits, scenario::Scenario};
/// let s = Scenario::parse("overload", builtin::OVERLOAD).unwrap();
/// let m: Vec<_> = s.runs.iter().map(|r| simulate(&s, r, s.seed, &mut |_| {})).collect();
/// let runs: Vec<_> = s.runs.iter().zip(&m).collect();
/// let svg = limits(&s, &runs, 140.0).unwrap().unwrap();
/// assert!(svg.contains("capacity-equivalent limit"));
/// ```
pub fn limits(
    scenario: &Scenario,
    runs: &[(&RunSpec, &Metrics)],
    x_max: f64,
) -> Result<Option<String>, Box<dyn std::error::Error>> {
    let to_secs = |t: stanchion::Nanos| t.as_nanos() as f64 / 1e9;
    let mut lines: Vec<WideLine> = Vec::new();
    let mut guarded = None;
    for (run, m) in runs {
        let Some((service, log)) = m
            .limits
            .iter()
            .enumerate()
            .find_map(|(i, log)| log.as_ref().map(|log| (i, log)))
        else {
            continue;
        };
        guarded.get_or_insert(service);
        let color = PALETTE[lines.len() % PALETTE.len()];
        let steps = log.iter().map(|&(t, l)| (to_secs(t), f64::from(l)));
        lines.push((
            format!("L, {}", run.name),
            color,
            2,
            step_points(steps, x_max),
        ));
    }
    let Some(service) = guarded else {
        return Ok(None);
    };
    let s = &scenario.services[service];
    if let Some(w) = s.workers_at(stanchion::Nanos::ZERO) {
        let edges = s.capacity_edges();
        let changes = std::iter::once((0.0, f64::from(w))).chain(
            edges
                .iter()
                .filter_map(|&t| s.workers_at(t).map(|w| (to_secs(t), f64::from(w)))),
        );
        lines.insert(
            0,
            (
                format!("capacity-equivalent limit ({} workers)", s.name),
                GREY,
                4,
                step_points(changes, x_max),
            ),
        );
    }
    let y_max = lines
        .iter()
        .flat_map(|(_, _, _, v)| v.iter().map(|p| p.1))
        .fold(1.0, f64::max)
        * 1.15;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, LIMITS_SIZE).into_drawing_area();
        root.fill(&WHITE)?;
        line_chart(
            &root,
            &format!(
                "{}: adaptive limit L on calls to {} against its capacity",
                scenario.name, s.name
            ),
            "calls in flight",
            (x_max, y_max),
            lines,
        )?;
        root.present()?;
    }
    Ok(Some(svg))
}

/// A step function from its changes `(time, value)`, held until `end`.
fn step_points(changes: impl Iterator<Item = (f64, f64)>, end: f64) -> Vec<(f64, f64)> {
    let mut points: Vec<(f64, f64)> = Vec::new();
    for (t, v) in changes {
        if let Some(&(_, last)) = points.last() {
            points.push((t, last));
        }
        points.push((t, v));
    }
    if let Some(&(_, last)) = points.last() {
        points.push((end, last));
    }
    points
}

fn secs(m: &Metrics) -> f64 {
    m.bucket.as_nanos() as f64 / 1e9
}

/// Points at the middle of each bucket.
fn series(m: &Metrics, f: impl Fn(usize) -> f64) -> Vec<(f64, f64)> {
    let w = secs(m);
    (0..m.buckets.len())
        .map(|b| ((b as f64 + 0.5) * w, f(b)))
        .collect()
}

fn legend(color: RGBColor) -> impl Fn((i32, i32)) -> PathElement<(i32, i32)> {
    move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(3))
}

fn load_panel(scenario: &Scenario, m: &Metrics, area: &Area<'_>, x_max: f64) -> PlotResult {
    let w = secs(m);
    let per_sec = |v: u64| v as f64 / w;
    let entry = &scenario.services[scenario.load.target].name;
    let lines: [Line; 5] = [
        (
            "offered".into(),
            GREY,
            series(m, |b| per_sec(m.buckets[b].offered)),
        ),
        (
            format!("calls reaching {entry}"),
            PURPLE,
            series(m, |b| per_sec(m.buckets[b].entry_calls)),
        ),
        (
            "served".into(),
            GREEN_,
            series(m, |b| per_sec(m.buckets[b].ok)),
        ),
        (
            "served by fallback".into(),
            BLUE_,
            series(m, |b| per_sec(m.buckets[b].degraded)),
        ),
        (
            "errors".into(),
            RED_,
            series(m, |b| per_sec(m.buckets[b].errors)),
        ),
    ];
    let y_max = lines
        .iter()
        .flat_map(|(_, _, v)| v.iter().map(|p| p.1))
        .fold(1.0, f64::max)
        * 1.1;
    let widths = lines.map(|(name, color, points)| {
        let width = if name == "offered" { 3 } else { 2 };
        (name, color, width, points)
    });
    line_chart(
        area,
        "user requests per second (answers by completion time)",
        "per second",
        (x_max, y_max),
        widths,
    )
}

fn latency_panel(m: &Metrics, area: &Area<'_>, x_max: f64) -> PlotResult {
    // Only intervals in which requests completed: an empty one has no latency, not zero.
    let quantile = |q: f64| -> Vec<(f64, f64)> {
        let w = secs(m);
        m.buckets
            .iter()
            .enumerate()
            .filter(|(_, b)| !b.latencies.is_empty())
            .map(|(i, b)| {
                let mut v = b.latencies.clone();
                v.sort_unstable();
                ((i as f64 + 0.5) * w, percentile(&v, q) as f64 / 1e9)
            })
            .collect()
    };
    let (p99, p50) = (quantile(0.99), quantile(0.5));
    let y_max = p99.iter().map(|p| p.1).fold(0.01, f64::max) * 1.1;
    line_chart(
        area,
        "latency of user requests completed in each interval",
        "seconds",
        (x_max, y_max),
        [("p99".into(), RED_, 2, p99), ("p50".into(), GREY, 2, p50)],
    )
}

fn state_color(state: State) -> RGBColor {
    match state {
        State::Closed | State::Disabled => GREEN_,
        State::HalfOpen => AMBER,
        State::Open | State::ForcedOpen => RED_,
    }
}

type BreakerLog = Vec<(stanchion::Nanos, State)>;

fn breaker_panel(
    scenario: &Scenario,
    m: &Metrics,
    breakers: &[(usize, &BreakerLog)],
    area: &Area<'_>,
    x_max: f64,
) -> PlotResult {
    let rows = breakers.len().max(1) as f64;
    let caption = if breakers.is_empty() {
        "circuit breakers: none in this run"
    } else {
        "circuit breakers: green closed, red open, amber half-open"
    };
    let mut chart = ChartBuilder::on(area)
        .caption(caption, (FONT, 16))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..x_max, 0.0..rows)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .y_labels(0)
        .label_style((FONT, 12))
        .draw()?;
    let end = m.end.as_nanos() as f64 / 1e9;
    for (row, (service, log)) in breakers.iter().enumerate() {
        let y = rows - row as f64 - 1.0;
        let spans = log.iter().enumerate().map(|(i, &(from, state))| {
            let to = log
                .get(i + 1)
                .map_or(end, |next| next.0.as_nanos() as f64 / 1e9);
            let from = from.as_nanos() as f64 / 1e9;
            Rectangle::new(
                [(from, y + 0.15), (to, y + 0.85)],
                state_color(state).filled(),
            )
        });
        chart.draw_series(spans)?;
        let name = scenario.services[*service].name.clone();
        chart.draw_series(std::iter::once(Text::new(
            name,
            (x_max * 0.005, y + 0.62),
            (FONT, 14).into_font().color(&WHITE),
        )))?;
    }
    Ok(())
}

fn occupancy_panel(scenario: &Scenario, m: &Metrics, area: &Area<'_>, x_max: f64) -> PlotResult {
    let mut lines = Vec::new();
    for (i, s) in scenario.services.iter().enumerate() {
        if let Some(cap) = s.workers {
            let o = &m.pools[i];
            lines.push((
                format!("{} busy workers (of {cap})", s.name),
                series(m, |b| o.mean(b, m.bucket)),
            ));
            if s.queue > 0 {
                let q = &m.queues[i];
                lines.push((
                    format!("{} requests waiting (queue of {})", s.name, s.queue),
                    series(m, |b| q.mean(b, m.bucket)),
                ));
            }
        }
    }
    for (i, o) in m.bulkheads.iter().enumerate() {
        if let Some(o) = o {
            let cap = o.cap.unwrap_or(0);
            lines.push((
                format!(
                    "calls in flight to {} (bulkhead of {cap})",
                    scenario.services[i].name
                ),
                series(m, |b| o.mean(b, m.bucket)),
            ));
        }
    }
    let y_max = lines
        .iter()
        .flat_map(|(_, v)| v.iter().map(|p| p.1))
        .chain(
            scenario
                .services
                .iter()
                .filter_map(|s| s.workers.map(f64::from)),
        )
        .fold(1.0, f64::max)
        * 1.1;
    let colored = lines
        .into_iter()
        .enumerate()
        .map(|(k, (name, points))| (name, PALETTE[k % PALETTE.len()], 2, points));
    line_chart(
        area,
        "occupancy (mean over each interval)",
        "in use",
        (x_max, y_max),
        colored,
    )
}

/// A panel of lines over time: `(name, colour, stroke width, points)` each, drawn in order,
/// with a legend in the upper right; the axes run from 0 to `x_max` seconds and 0 to `y_max`.
fn line_chart(
    area: &Area<'_>,
    caption: &str,
    y_desc: &str,
    (x_max, y_max): (f64, f64),
    lines: impl IntoIterator<Item = WideLine>,
) -> PlotResult {
    let mut chart = ChartBuilder::on(area)
        .caption(caption, (FONT, 16))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..x_max, 0.0..y_max)?;
    chart
        .configure_mesh()
        .label_style((FONT, 12))
        .axis_desc_style((FONT, 13))
        .x_desc("time (s)")
        .y_desc(y_desc)
        .light_line_style(WHITE)
        .draw()?;
    for (name, color, width, points) in lines {
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(width)))?
            .label(name)
            .legend(legend(color));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}
