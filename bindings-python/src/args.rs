//! Arguments from Python: counts, fractions and durations in seconds, each checked with an
//! error naming the parameter (`TypeError` for a wrong type, `ConfigError` for a bad value).

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyFloat, PyInt};
use stanchion::{ConfigError, Nanos};

use crate::errors;

/// A duration in seconds, as error messages state it (values past `u64::MAX` nanoseconds,
/// about 584 years, saturate).
pub const SECONDS: &str = "a finite number of seconds ≥ 0";

/// What a value is, for a message: its repr and its type, `'5' (str)`.
pub fn described(got: &Bound<'_, PyAny>) -> String {
    let repr = got
        .repr()
        .map(|r| r.to_string())
        .unwrap_or_else(|_| "?".to_owned());
    let kind = got
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".to_owned());
    format!("{repr} ({kind})")
}

/// `TypeError: <name> must be <expected>, got <repr> (<type>)`.
pub fn type_error(name: &str, expected: &str, got: &Bound<'_, PyAny>) -> PyErr {
    PyTypeError::new_err(format!("{name} must be {expected}, got {}", described(got)))
}

/// An integer in `min..=max`.
pub fn integer(obj: &Bound<'_, PyAny>, name: &str, min: u64, max: u64) -> PyResult<u64> {
    let py = obj.py();
    if !obj.is_instance_of::<PyInt>() {
        return Err(type_error(name, "an int", obj));
    }
    let value = obj.extract::<i128>().ok();
    match value.and_then(|v| u64::try_from(v).ok()) {
        Some(v) if (min..=max).contains(&v) => Ok(v),
        _ => Err(errors::config(
            py,
            name,
            &format!("an int from {min} to {max}"),
            Some(obj),
        )),
    }
}

/// A count in `min..=max` that fits a `u32`.
pub fn count(obj: &Bound<'_, PyAny>, name: &str, min: u32, max: u32) -> PyResult<u32> {
    let v = integer(obj, name, u64::from(min), u64::from(max))?;
    Ok(u32::try_from(v).unwrap_or(max))
}

/// A count whose range the core checks (so that errors come in the core's field order); a
/// value past `u32` gets the core's range, `allowed`, at once.
pub fn core_count(obj: &Bound<'_, PyAny>, name: &str, allowed: &str) -> PyResult<u32> {
    let py = obj.py();
    if !obj.is_instance_of::<PyInt>() {
        return Err(type_error(name, "an int", obj));
    }
    obj.extract::<u32>()
        .map_err(|_| errors::config(py, name, allowed, Some(obj)))
}

/// A real number (range checked by the core's `validate`).
pub fn real(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<f64> {
    if obj.is_instance_of::<PyFloat>() || obj.is_instance_of::<PyInt>() {
        return obj.extract::<f64>();
    }
    if obj.hasattr("__float__")? && !obj.is_instance_of::<pyo3::types::PyString>() {
        return obj.call_method0("__float__")?.extract::<f64>();
    }
    Err(type_error(name, "a number", obj))
}

/// A duration in seconds (int, float, or any real such as `Fraction` for exact nanoseconds),
/// as nanoseconds rounded to the nearest; durations past `u64::MAX` ns saturate.
pub fn seconds(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<Nanos> {
    let py = obj.py();
    if obj.is_instance_of::<PyFloat>() {
        let s: f64 = obj.extract()?;
        if !s.is_finite() || s < 0.0 {
            return Err(errors::config(py, name, SECONDS, Some(obj)));
        }
        let ns = (s * 1e9).round();
        // `as` saturates at u64::MAX, which is the intent for "practically never".
        return Ok(Nanos::new(ns as u64));
    }
    if obj.is_instance_of::<pyo3::types::PyBool>() || obj.is_instance_of::<pyo3::types::PyString>()
    {
        return Err(type_error(name, "a number of seconds", obj));
    }
    let scaled = obj
        .mul(1_000_000_000u64)
        .and_then(|n| n.call_method0("__round__"))
        .map_err(|_| type_error(name, "a number of seconds", obj))?;
    let ns: i128 = scaled
        .extract()
        .map_err(|_| errors::config(py, name, SECONDS, Some(obj)))?;
    if ns < 0 {
        return Err(errors::config(py, name, SECONDS, Some(obj)));
    }
    Ok(Nanos::new(u64::try_from(ns).unwrap_or(u64::MAX)))
}

/// A config passed as a dict of Python parameter names.
pub struct Config<'py> {
    dict: Bound<'py, PyDict>,
}

impl<'py> Config<'py> {
    /// The dict, or a `TypeError`.
    pub fn new(obj: &Bound<'py, PyAny>) -> PyResult<Config<'py>> {
        let dict = obj
            .cast::<PyDict>()
            .map_err(|_| type_error("config", "a dict", obj))?;
        Ok(Config { dict: dict.clone() })
    }

    /// The interpreter the dict belongs to.
    pub fn py(&self) -> Python<'py> {
        self.dict.py()
    }

    /// The value of `key`, `None` when absent or `None`.
    pub fn get(&self, key: &str) -> PyResult<Option<Bound<'py, PyAny>>> {
        Ok(self.dict.get_item(key)?.filter(|v| !v.is_none()))
    }

    /// Whether `key` is present (`None` included).
    pub fn has(&self, key: &str) -> PyResult<bool> {
        self.dict.contains(key)
    }

    /// A required value: a `ConfigError` when absent (`None` is left to the type check).
    pub fn required(&self, key: &str, allowed: &str) -> PyResult<Bound<'py, PyAny>> {
        self.dict
            .get_item(key)?
            .ok_or_else(|| errors::config(self.dict.py(), key, allowed, None))
    }

    /// A count the core validates, `default` when absent.
    pub fn core_count(&self, key: &str, allowed: &str, default: u32) -> PyResult<u32> {
        self.get(key)?
            .map_or(Ok(default), |v| core_count(&v, key, allowed))
    }

    /// An optional count the core validates: `None` when `None`, `default` when absent.
    pub fn core_opt_count(
        &self,
        key: &str,
        allowed: &str,
        default: Option<u32>,
    ) -> PyResult<Option<u32>> {
        if !self.has(key)? {
            return Ok(default);
        }
        self.get(key)?
            .map(|v| core_count(&v, key, allowed))
            .transpose()
    }

    /// A duration in seconds, `default` when absent.
    pub fn seconds(&self, key: &str, default: Nanos) -> PyResult<Nanos> {
        self.get(key)?.map_or(Ok(default), |v| seconds(&v, key))
    }

    /// An optional duration in seconds.
    pub fn opt_seconds(&self, key: &str) -> PyResult<Option<Nanos>> {
        self.get(key)?.map(|v| seconds(&v, key)).transpose()
    }

    /// A real number, `default` when absent.
    pub fn real(&self, key: &str, default: f64) -> PyResult<f64> {
        self.get(key)?.map_or(Ok(default), |v| real(&v, key))
    }

    /// An optional real number.
    pub fn opt_real(&self, key: &str) -> PyResult<Option<f64>> {
        self.get(key)?.map(|v| real(&v, key)).transpose()
    }
}

/// A core config error in Python's words: `describe` gives the Python parameter of the core's
/// field and its allowed values (the core's own text for a field it does not know), and the
/// value received is looked up in `config`, the dict of Python parameters.
pub fn core_config_error(
    config: &Bound<'_, PyAny>,
    err: ConfigError,
    describe: impl Fn(&str) -> Option<(&'static str, &'static str)>,
) -> PyErr {
    let (name, allowed) = describe(err.field).unwrap_or((err.field, err.allowed));
    let got = config.get_item(name).ok();
    errors::config_of_field(config.py(), name, allowed, err.field, got.as_ref())
}
