//! The built-in scenarios, shipped as files in `scenarios/` and compiled in, so the program
//! runs them from anywhere.

/// The classic drill (`scenarios/drill.toml`).
pub const DRILL: &str = include_str!("../scenarios/drill.toml");

/// Contending clients and jitter (`scenarios/jitter.toml`).
pub const JITTER: &str = include_str!("../scenarios/jitter.toml");

/// A dependency that loses half its capacity for a while, against fixed and adaptive
/// concurrency limits (`scenarios/overload.toml`).
pub const OVERLOAD: &str = include_str!("../scenarios/overload.toml");

/// Every built-in: (name, file text).
///
/// ```
/// assert_eq!(stanchion_sim::builtin::ALL[0].0, "drill");
/// ```
pub const ALL: [(&str, &str); 3] = [("drill", DRILL), ("jitter", JITTER), ("overload", OVERLOAD)];

/// The built-in called `name`.
pub fn find(name: &str) -> Option<&'static str> {
    ALL.iter().find(|(n, _)| *n == name).map(|(_, text)| *text)
}
