//! The built-in scenarios, shipped as files in `scenarios/` and compiled in, so the program
//! runs them from anywhere.

/// The classic drill (`scenarios/drill.toml`).
pub const DRILL: &str = include_str!("../scenarios/drill.toml");

/// Contending clients and jitter (`scenarios/jitter.toml`).
pub const JITTER: &str = include_str!("../scenarios/jitter.toml");

/// Every built-in: (name, file text).
///
/// ```
/// assert_eq!(stanchion_sim::builtin::ALL[0].0, "drill");
/// ```
pub const ALL: [(&str, &str); 2] = [("drill", DRILL), ("jitter", JITTER)];

/// The built-in called `name`.
pub fn find(name: &str) -> Option<&'static str> {
    ALL.iter().find(|(n, _)| *n == name).map(|(_, text)| *text)
}
