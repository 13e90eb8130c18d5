//! The error of a scenario file: where (file, line, field) and what is wrong.

use std::fmt;

use super::locate::{field_at, line_of_field, line_of_offset, FieldPath};

/// An invalid scenario: the file, the 1-based line, the field's dotted name and the problem.
///
/// ```
/// use stanchion_sim::scenario::Scenario;
/// let err = Scenario::parse("s.toml", "name = 3\n").unwrap_err();
/// assert_eq!(err.line, 1);
/// assert_eq!(err.field, "name");
/// assert!(err.to_string().starts_with("s.toml:1: field `name`:"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioError {
    /// The file's name as given to the parser.
    pub file: String,
    /// The line of the field (1-based); 0 when the problem has no line.
    pub line: usize,
    /// The field's dotted name, such as `services.payments.latency.p99`.
    pub field: String,
    /// What is wrong and what is allowed.
    pub message: String,
}

impl ScenarioError {
    /// An error from the TOML reader, placed by the span it carries.
    pub(crate) fn from_toml(file: &str, source: &str, err: &toml::de::Error) -> ScenarioError {
        let (line, field) = match err.span() {
            Some(span) => (
                line_of_offset(source, span.start),
                field_at(source, span.start).to_string(),
            ),
            None => (0, String::new()),
        };
        ScenarioError {
            file: file.to_owned(),
            line,
            field,
            message: err.message().trim().to_owned(),
        }
    }

    /// An error found after reading, placed by the field's name.
    pub(crate) fn at(
        file: &str,
        source: &str,
        path: &FieldPath,
        message: impl Into<String>,
    ) -> ScenarioError {
        ScenarioError {
            file: file.to_owned(),
            line: line_of_field(source, path).unwrap_or(0),
            field: path.to_string(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: ", self.file, self.line)?;
        if !self.field.is_empty() {
            write!(f, "field `{}`: ", self.field)?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ScenarioError {}
