//! The same seed gives the same bytes: the table and every SVG.

use stanchion_sim::builtin;
use stanchion_sim::output::run_scenario;
use stanchion_sim::scenario::Scenario;

#[test]
fn same_seed_same_table_and_pictures() {
    for (name, text) in builtin::ALL {
        let s = Scenario::parse(name, text).unwrap();
        let a = run_scenario(&s, 11, true, &mut |_, _| {}).unwrap();
        let b = run_scenario(&s, 11, true, &mut |_, _| {}).unwrap();
        assert_eq!(a.text, b.text, "{name}");
        // One timeline per run, and one picture of the adaptive limits where there are some.
        let adaptive = s
            .runs
            .iter()
            .any(|r| r.policies.iter().flatten().any(|p| p.adaptive.is_some()));
        assert_eq!(
            a.pictures.len(),
            s.runs.len() + usize::from(adaptive),
            "{name}"
        );
        assert_eq!(a.pictures, b.pictures, "{name}");
        let c = run_scenario(&s, 12, true, &mut |_, _| {}).unwrap();
        assert_ne!(a.text, c.text, "{name}: another seed, another run");
    }
}

#[test]
fn the_pictures_hold_every_panel() {
    let s = Scenario::parse("drill", builtin::DRILL).unwrap();
    let out = run_scenario(&s, 7, true, &mut |_, _| {}).unwrap();
    let (name, svg) = &out.pictures[1];
    assert_eq!(name, "drill-patterns.svg");
    for caption in [
        "user requests per second",
        "latency of user requests",
        "circuit breakers: green closed",
        "calls in flight to payments (bulkhead of 25)",
        "orders busy workers (of 40)",
    ] {
        assert!(svg.contains(caption), "missing {caption}");
    }
    assert!(out.pictures[0]
        .1
        .contains("circuit breakers: none in this run"));
}

#[test]
fn the_readme_shows_what_the_program_prints_and_draws() {
    let readme = include_str!("../README.md");
    for (name, text) in builtin::ALL {
        let s = Scenario::parse(name, text).unwrap();
        let out = run_scenario(&s, s.seed, true, &mut |_, _| {}).unwrap();
        assert!(
            readme.contains(out.text.trim_end()),
            "README's {name} table is stale: run `scripts/sim.sh {name}` and paste it"
        );
        for (file, svg) in &out.pictures {
            let path = format!("{}/docs/{file}", env!("CARGO_MANIFEST_DIR"));
            if let Ok(shipped) = std::fs::read_to_string(&path) {
                assert!(
                    shipped == *svg,
                    "{path} is stale: `scripts/sim.sh {name} --out sim/docs`"
                );
            }
        }
    }
}
