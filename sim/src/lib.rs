//! A failure simulator: a topology of services in simulated time, calling each other through
//! stanchion's real primitives, to show what the resilience patterns change.
//!
//! A [`scenario::Scenario`] (a TOML file) names the services, the load, the failure windows
//! and the runs to compare; [`engine::simulate`] runs one of them; [`summary`], [`report`] and
//! [`plot`] turn the [`metrics::Metrics`] into a table and SVG timelines.
//!
//! ```
//! use stanchion_sim::{builtin, engine::simulate, scenario::Scenario, summary::summarize};
//! let s = Scenario::parse("drill.toml", builtin::DRILL).unwrap();
//! let bare = summarize(&s, "bare", &simulate(&s, &s.runs[0], s.seed, &mut |_| {}));
//! let guarded = summarize(&s, "guarded", &simulate(&s, &s.runs[1], s.seed, &mut |_| {}));
//! assert!(guarded.success_rate() > bare.success_rate());
//! ```

pub mod adapt;
pub mod builtin;
pub mod distribution;
pub mod engine;
pub mod metrics;
pub mod output;
pub mod plot;
pub mod policies;
pub mod queue;
pub mod report;
pub mod scenario;
pub mod summary;
pub mod topology;
