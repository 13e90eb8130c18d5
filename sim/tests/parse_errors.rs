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
    let text = drill_with(from, to);
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
