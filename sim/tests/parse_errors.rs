//! An invalid scenario file gets an error naming its line and its field.

use stanchion_sim::builtin;
use stanchion_sim::scenario::{Scenario, ScenarioError};

/// The drill with `from` replaced by `to` (which must occur in it once).
fn drill_with(from: &str, to: &str) -> String {
    assert_eq!(builtin::DRILL.matches(from).count(), 1, "{from}");
    builtin::DRILL.replace(from, to)
}

fn line_of(text: &str, needle: &str) -> usize {
    text.lines().position(|l| l.contains(needle)).unwrap() + 1
}

fn error(text: &str) -> ScenarioError {
    Scenario::parse("mine.toml", text).unwrap_err()
}

#[track_caller]
fn expect(from: &str, to: &str, field: &str, says: &str) {
    expect_in(builtin::DRILL, from, to, field, says);
}

/// `base` with `from` (which must occur in it once) replaced by `to` is refused at `to`'s line,
/// naming `field` and saying `says`.
#[track_caller]
fn expect_in(base: &str, from: &str, to: &str, field: &str, says: &str) {
    assert_eq!(base.matches(from).count(), 1, "{from}");
    let text = base.replace(from, to);
    let err = error(&text);
    let shown = err.to_string();
    println!("{shown}");
    assert_eq!(
        err.line,
        line_of(&text, to.lines().next().unwrap()),
        "{shown}"
    );
    assert_eq!(err.field, field, "{shown}");
    assert!(err.message.contains(says), "{shown}");
    assert!(shown.starts_with(&format!("mine.toml:{}: field `{field}`: ", err.line)));
}

#[test]
fn a_misspelt_key_is_named() {
    expect(
        "workers = 40",
        "wokers = 40",
        "services.orders.wokers",
        "unknown field `wokers`",
    );
}

#[test]
fn a_duration_without_unit_is_refused_at_its_line() {
    expect(
        "open_for = \"1s\"",
        "open_for = \"1\"",
        "run[1].policies.payments.breaker.open_for",
        "no unit",
    );
}

#[test]
fn a_share_out_of_range_is_refused() {
    expect(
        "error_rate = 1.0",
        "error_rate = 1.5",
        "services.payments.failures[0].error_rate",
        "[0, 1]",
    );
}

#[test]
fn a_wrong_type_is_refused() {
    expect(
        "queue = 200",
        "queue = \"lots\"",
        "services.orders.queue",
        "invalid type",
    );
}

#[test]
fn an_unknown_service_is_named() {
    expect(
        "calls = [\"payments\", \"inventory\"]",
        "calls = [\"payments\", \"inventry\"]",
        "services.orders.calls[1]",
        "no service `inventry`",
    );
}

#[test]
fn the_core_judges_its_own_configs() {
    // The breaker's failure rate must be in (0, 1]: the core's validate() says so.
    expect(
        "failure_rate = 0.5",
        "failure_rate = 1.5",
        "run[1].policies.payments.breaker.failure_rate",
        "(0, 1]",
    );
    expect(
        "bulkhead = { max_concurrent = 25 }",
        "bulkhead = { max_concurrent = 0 }",
        "run[1].policies.payments.bulkhead.max_concurrent",
        "must be in",
    );
}

#[test]
fn an_unknown_choice_lists_the_allowed_ones() {
    expect(
        "jitter = \"full\"",
        "jitter = \"fuzzy\"",
        "run[1].policies.payments.retry.jitter",
        "none, full, equal or proportional",
    );
    expect(
        "dist = \"uniform\"",
        "dist = \"gaussian\"",
        "services.payments.failures[0].latency.dist",
        "constant, uniform, exponential or lognormal",
    );
}

#[test]
fn a_window_that_ends_before_it_starts_is_refused() {
    expect(
        "until = \"60s\"",
        "until = \"20s\"",
        "services.payments.failures[0].until",
        "later than `from`",
    );
}

#[test]
fn a_missing_field_is_named() {
    let text = drill_with("rate = 200\n", "");
    let err = error(&text);
    assert_eq!(err.field, "load");
    assert_eq!(err.line, line_of(&text, "[load]"));
    assert!(err.message.contains("`rate`"), "{err}");

    let text = "name = \"x\"\nduration = \"1s\"\n[load]\ntarget = \"a\"\nrate = 1\n[[run]]\nname = \"r\"\n";
    let err = error(text);
    assert!(err.message.contains("missing field `services`"), "{err}");
}

#[test]
fn broken_toml_is_placed_too() {
    let text = drill_with("seed = 7", "seed = = 7");
    let err = error(&text);
    assert_eq!(err.line, line_of(&text, "seed = = 7"));
}

#[test]
fn the_adaptive_limit_names_its_keys() {
    let o = builtin::OVERLOAD;
    expect_in(
        o,
        "algorithm = \"vegas\", min_limit = 5",
        "algorithm = \"vegas\", min_limt = 5",
        "run[3].policies.backend.adaptive.min_limt",
        "unknown field `min_limt`",
    );
    expect_in(
        o,
        "algorithm = \"vegas\"",
        "algorithm = \"reno\"",
        "run[3].policies.backend.adaptive.algorithm",
        "use aimd, vegas or gradient2",
    );
    expect_in(
        o,
        "timeout = \"105ms\"",
        "alpha = 2",
        "run[2].policies.backend.adaptive.alpha",
        "not a parameter of `aimd` (it belongs to vegas)",
    );
    expect_in(
        o,
        "window = \"500ms\", min_samples = 50 }",
        "window = \"500\", min_samples = 50 }",
        "run[3].policies.backend.adaptive.window",
        "no unit",
    );
}

#[test]
fn the_core_judges_the_adaptive_limit() {
    let o = builtin::OVERLOAD;
    expect_in(
        o,
        "rtt_tolerance = 1.0",
        "rtt_tolerance = 0.5",
        "run[4].policies.backend.adaptive.rtt_tolerance",
        "must be in [1, 1000] (core field `algorithm.rtt_tolerance`)",
    );
    expect_in(
        o,
        "algorithm = \"vegas\", min_limit = 5",
        "algorithm = \"vegas\", min_limit = 0",
        "run[3].policies.backend.adaptive.min_limit",
        "(core field `min_limit`)",
    );
    // The initial limit is left at its default (20), below the minimum given.
    expect_in(
        o,
        "algorithm = \"vegas\", min_limit = 5, initial_limit = 80,",
        "algorithm = \"vegas\", min_limit = 30,",
        "run[3].policies.backend.adaptive",
        "(core field `initial_limit`)",
    );
}

#[test]
fn a_capacity_change_needs_a_worker() {
    expect_in(
        builtin::OVERLOAD,
        "workers = 40",
        "workers = 0",
        "services.backend.failures[0].workers",
        "at least 1",
    );
}
