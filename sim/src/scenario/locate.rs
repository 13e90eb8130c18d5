//! Finding a field in the source text: from a byte offset to the dotted name of the field there,
//! and from a dotted name to its line. Both walk toml's span-keeping document tree, so they see
//! tables, inline tables and arrays of tables exactly as the reader did.

use std::fmt;
use std::ops::Range;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

/// One step of a field's name: a key, or an index into an array (`run[1]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seg {
    /// A table key.
    Key(String),
    /// An array element.
    Index(usize),
}

/// A field's full name, such as `run[1].policies.payments.breaker`.
///
/// ```
/// use stanchion_sim::scenario::FieldPath;
/// let p = FieldPath::default().key("run").index(1).key("name");
/// assert_eq!(p.to_string(), "run[1].name");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldPath(pub Vec<Seg>);

impl FieldPath {
    /// This path followed by `key`.
    pub fn key(&self, key: &str) -> FieldPath {
        let mut segs = self.0.clone();
        segs.push(Seg::Key(key.to_owned()));
        FieldPath(segs)
    }

    /// This path followed by `[index]`.
    pub fn index(&self, index: usize) -> FieldPath {
        let mut segs = self.0.clone();
        segs.push(Seg::Index(index));
        FieldPath(segs)
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Key(key) if i == 0 => write!(f, "{key}")?,
                Seg::Key(key) => write!(f, ".{key}")?,
                Seg::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

/// The 1-based line holding byte `offset`.
pub fn line_of_offset(source: &str, offset: usize) -> usize {
    let end = offset.min(source.len());
    source.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The innermost field whose key or value covers `offset`.
///
/// ```
/// use stanchion_sim::scenario::field_at;
/// let src = "[load]\ntarget = \"a\"\nrate = 5\n";
/// assert_eq!(field_at(src, src.find('5').unwrap()).to_string(), "load.rate");
/// ```
pub fn field_at(source: &str, offset: usize) -> FieldPath {
    let mut path = FieldPath::default();
    if let Ok(root) = DeTable::parse(source) {
        descend_table(root.get_ref(), offset, &mut path);
    }
    path
}

fn covers(span: &Range<usize>, offset: usize) -> bool {
    span.start <= offset && offset < span.end.max(span.start + 1)
}

fn descend_table(table: &DeTable<'_>, offset: usize, path: &mut FieldPath) {
    for (key, value) in table.iter() {
        if covers(&key.span(), offset) {
            path.0.push(Seg::Key(key.get_ref().to_string()));
            return;
        }
        if covers(&value.span(), offset) {
            path.0.push(Seg::Key(key.get_ref().to_string()));
            descend_value(value, offset, path);
            return;
        }
    }
    // A table opened by a `[header]` spans only its header: look in its sub-tables too.
    for (key, value) in table.iter() {
        if let DeValue::Table(_) | DeValue::Array(_) = value.get_ref() {
            let mut inner = path.clone();
            inner.0.push(Seg::Key(key.get_ref().to_string()));
            let depth = inner.0.len();
            descend_value(value, offset, &mut inner);
            if inner.0.len() > depth {
                *path = inner;
                return;
            }
        }
    }
}

fn descend_value(value: &Spanned<DeValue<'_>>, offset: usize, path: &mut FieldPath) {
    match value.get_ref() {
        DeValue::Table(table) => descend_table(table, offset, path),
        DeValue::Array(array) => {
            for (i, item) in array.iter().enumerate() {
                let mut inner = path.clone();
                inner.0.push(Seg::Index(i));
                let depth = inner.0.len();
                if covers(&item.span(), offset) {
                    descend_value(item, offset, &mut inner);
                    *path = inner;
                    return;
                }
                descend_value(item, offset, &mut inner);
                if inner.0.len() > depth {
                    *path = inner;
                    return;
                }
            }
        }
        _ => {}
    }
}

/// The line where `path` is written: its key's line, or the nearest enclosing field's.
///
/// ```
/// use stanchion_sim::scenario::{line_of_field, FieldPath};
/// let src = "[load]\ntarget = \"a\"\nrate = 5\n";
/// let rate = FieldPath::default().key("load").key("rate");
/// assert_eq!(line_of_field(src, &rate), Some(3));
/// ```
pub fn line_of_field(source: &str, path: &FieldPath) -> Option<usize> {
    let root = DeTable::parse(source).ok()?;
    let mut line = None;
    let mut current: Option<&Spanned<DeValue<'_>>> = None;
    let mut table = Some(root.get_ref());
    for seg in &path.0 {
        match seg {
            Seg::Key(key) => {
                let (k, v) = table?.get_key_value(key.as_str())?;
                line = Some(line_of_offset(source, k.span().start));
                current = Some(v);
            }
            Seg::Index(index) => {
                let DeValue::Array(array) = current?.get_ref() else {
                    return line;
                };
                let item = array.get(*index)?;
                line = Some(line_of_offset(source, item.span().start));
                current = Some(item);
            }
        }
        table = match current.map(Spanned::get_ref) {
            Some(DeValue::Table(t)) => Some(t),
            _ => None,
        };
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: &str = "name = \"x\"\n[services.orders]\nworkers = 4\nlatency = { dist = \"constant\", value = \"1s\" }\n[[run]]\nname = \"a\"\n[[run]]\nname = \"b\"\n[run.policies.orders]\ntimeout = \"1s\"\n";

    #[test]
    fn a_field_name_leads_to_its_line() {
        let p = FieldPath::default()
            .key("services")
            .key("orders")
            .key("workers");
        assert_eq!(line_of_field(SRC, &p), Some(3));
        let p = FieldPath::default()
            .key("run")
            .index(1)
            .key("policies")
            .key("orders")
            .key("timeout");
        assert_eq!(line_of_field(SRC, &p), Some(10));
    }

    #[test]
    fn an_offset_leads_to_its_field_name() {
        let offset = SRC.find("\"1s\" }").unwrap();
        assert_eq!(
            field_at(SRC, offset).to_string(),
            "services.orders.latency.value"
        );
        let offset = SRC.rfind("\"1s\"").unwrap();
        assert_eq!(
            field_at(SRC, offset).to_string(),
            "run[1].policies.orders.timeout"
        );
    }
}
