//! The scalar types of a scenario file that check their own range while they are read, so a bad
//! value is reported at its own line by the TOML reader.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use stanchion::Nanos;

/// A duration written with a unit: `"250ms"`, `"10s"`, `"1.5s"`, `"2m"`, `"100us"`, `"0s"`.
///
/// ```
/// use stanchion_sim::scenario::Dur;
/// assert_eq!(Dur::parse("1.5s").unwrap().0.as_nanos(), 1_500_000_000);
/// assert!(Dur::parse("10").is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dur(pub Nanos);

const UNITS: [(&str, f64); 6] = [
    ("ns", 1.0),
    ("us", 1e3),
    ("ms", 1e6),
    ("s", 1e9),
    ("m", 60e9),
    ("h", 3600e9),
];

impl Dur {
    /// Reads a number followed by one of `ns`, `us`, `ms`, `s`, `m`, `h`.
    pub fn parse(text: &str) -> Result<Dur, String> {
        let text = text.trim();
        let split = text
            .find(|c: char| c.is_ascii_alphabetic())
            .ok_or_else(|| format!("`{text}` has no unit: write e.g. \"250ms\" or \"10s\""))?;
        let (number, unit) = text.split_at(split);
        let scale = UNITS
            .iter()
            .find(|(name, _)| *name == unit)
            .map(|(_, scale)| *scale)
            .ok_or_else(|| {
                format!("unknown unit `{unit}` in `{text}`: use ns, us, ms, s, m or h")
            })?;
        let value: f64 = number
            .trim()
            .parse()
            .map_err(|_| format!("`{text}` is not a number followed by a unit"))?;
        let nanos = value * scale;
        if !nanos.is_finite() || !(0.0..=1e18).contains(&nanos) {
            return Err(format!("`{text}` must be between 0 and about 31 years"));
        }
        Ok(Dur(Nanos::new(nanos.round() as u64)))
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Dur, D::Error> {
        struct DurVisitor;
        impl Visitor<'_> for DurVisitor {
            type Value = Dur;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as \"250ms\" or \"10s\"")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Dur, E> {
                Dur::parse(text).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(DurVisitor)
    }
}

/// A share in `[0, 1]`, such as an error rate.
///
/// ```
/// use stanchion_sim::scenario::Share;
/// let s: Share = toml::Value::Float(0.25).try_into().unwrap();
/// assert_eq!(s.0, 0.25);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Share(pub f64);

impl<'de> Deserialize<'de> for Share {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Share, D::Error> {
        let value = f64::deserialize(deserializer)?;
        if (0.0..=1.0).contains(&value) {
            Ok(Share(value))
        } else {
            Err(de::Error::custom(format!(
                "{value} is out of range: must be in [0, 1]"
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_every_unit_and_refuse_bare_numbers() {
        assert_eq!(Dur::parse("250ms").unwrap().0, Nanos::from_millis(250));
        assert_eq!(Dur::parse("2m").unwrap().0, Nanos::from_secs(120));
        assert_eq!(Dur::parse("100us").unwrap().0, Nanos::from_micros(100));
        assert_eq!(Dur::parse("0s").unwrap().0, Nanos::ZERO);
        assert!(Dur::parse("12").unwrap_err().contains("no unit"));
        assert!(Dur::parse("3 weeks").unwrap_err().contains("unknown unit"));
        assert!(Dur::parse("-1s").is_err());
    }
}
