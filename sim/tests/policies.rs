//! Each pattern in a small topology of its own: what reaches the callee is what the core's
//! primitive allowed.

use stanchion::Nanos;
use stanchion_sim::engine::simulate;
use stanchion_sim::output::run_scenario;
use stanchion_sim::scenario::Scenario;
use stanchion_sim::summary::Summary;

fn scenario(policy: &str) -> Scenario {
    let text = format!(
        r#"
name = "api"
duration = "10s"
[load]
target = "api"
rate = 100
arrival = "uniform"
[services.api]
latency = {{ dist = "constant", value = "1ms" }}
calls = ["db"]
[services.db]
latency = {{ dist = "constant", value = "100ms" }}
[[run]]
name = "guarded"
[run.policies.db]
{policy}
"#
    );
    Scenario::parse("api.toml", &text).unwrap()
}

fn run(policy: &str) -> Summary {
    let mut out = run_scenario(&scenario(policy), 3, false, &mut |_, _| {}).unwrap();
    out.summaries.pop().unwrap()
}

/// The adaptive limit's changes in the single run of `policy`.
fn limits(policy: &str) -> Vec<(Nanos, u32)> {
    let s = scenario(policy);
    let m = simulate(&s, &s.runs[0], 3, &mut |_| {});
    m.limits.into_iter().flatten().next().unwrap()
}

fn db(s: &Summary) -> u64 {
    s.reaching.iter().find(|(n, _)| n == "db").unwrap().1
}

#[test]
fn a_rate_limit_lets_through_its_burst_and_its_rate() {
    // 5 at once, then one per 50 ms: at most 5 + 20/s · 10 s.
    let s = run("rate_limit = { capacity = 5, refill = 1, every = \"50ms\" }");
    assert_eq!(s.offered, 1000);
    assert!((195..=205).contains(&db(&s)), "{}", db(&s));
    assert_eq!(s.refused, 1000 - db(&s));
    assert_eq!(s.errors, s.refused);
}

#[test]
fn a_bulkhead_caps_calls_in_flight() {
    // 100/s for 100 ms each is 10 in flight; a bulkhead of 4 admits 4 of every 10.
    let s = run("bulkhead = { max_concurrent = 4 }\nfallback = true");
    assert_eq!(s.errors, 0);
    assert!((380..=420).contains(&db(&s)), "{}", db(&s));
    assert_eq!(s.degraded, 1000 - db(&s));
}

#[test]
fn a_timeout_ends_the_call_and_the_callee_keeps_working() {
    let s = run("timeout = \"50ms\"");
    assert_eq!(s.errors, 1000);
    assert_eq!(s.timeouts, 1000);
    assert_eq!(db(&s), 1000);
    assert!(s.max.as_nanos() <= 51_000_000, "{}", s.max);
}

#[test]
fn retries_stop_at_max_attempts() {
    let s = run(
        "attempt_timeout = \"10ms\"\nretry = { schedule = \"constant\", delay = \"5ms\", max_attempts = 3 }",
    );
    assert_eq!(db(&s), 3000);
    assert_eq!(s.retries, 2000);
}

#[test]
fn a_budget_caps_retries() {
    // Every attempt times out; 10 % of 1000 first calls plus a floor of 1/s (10 s) is the most.
    let s = run(
        "attempt_timeout = \"10ms\"\nretry = { schedule = \"constant\", delay = \"5ms\", max_attempts = 3 }\nbudget = { ratio = 0.1, min_retries_per_sec = 1 }",
    );
    assert!(s.retries <= 100 + 11, "{}", s.retries);
    assert!(s.retries >= 100, "{}", s.retries);
    assert!(s.budget_refused > 800);
}

#[test]
fn an_adaptive_limit_caps_calls_in_flight() {
    // Held at 4 (its bounds allow nothing else), it admits like a bulkhead of 4.
    let s = run("adaptive = { min_limit = 4, initial_limit = 4, max_limit = 4 }\nfallback = true");
    assert_eq!(s.errors, 0);
    assert!((380..=420).contains(&db(&s)), "{}", db(&s));
    assert_eq!(s.refused, 1000 - db(&s));
}

#[test]
fn timeouts_are_drops_and_answers_are_samples() {
    // Every call times out: each window of 10 is a dropped one and cuts L by a tenth, to 1.
    let policy =
        "timeout = \"50ms\"\nadaptive = { initial_limit = 20, window = \"0s\", min_samples = 10 }";
    let log = limits(policy);
    assert_eq!(log.first(), Some(&(Nanos::ZERO, 20)));
    assert_eq!(log.last().unwrap().1, 1);
    assert!(log.windows(2).all(|w| w[1].1 < w[0].1), "{log:?}");
    // Answered in 100 ms with 10 in flight: AIMD grows while that is half of L, to 21, then
    // the windows are application-limited and L holds.
    let log = limits("adaptive = { initial_limit = 20, window = \"0s\", min_samples = 10 }");
    let held: Vec<u32> = log.iter().map(|&(_, l)| l).collect();
    assert_eq!(held, [20, 21]);
}
