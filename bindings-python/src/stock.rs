//! `Stock`: the core's count of units that never goes below zero (`stanchion::Stock`), the
//! local half of a fleet quota's batches and useful alone wherever threads share a fixed
//! number of things.

use pyo3::prelude::*;

use crate::args;

/// A count of units (`u64`) taken from and added to by any number of threads, never below
/// zero: one atomic word, each method one atomic operation.
#[pyclass(frozen, module = "stanchion._stanchion")]
pub struct Stock {
    stock: stanchion::Stock,
}

/// What `units` and `n` accept.
const MAX: u64 = u64::MAX;

#[pymethods]
impl Stock {
    /// A stock holding `units` (default 0).
    #[new]
    #[pyo3(signature = (units = None))]
    fn new(units: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        let units = units.map_or(Ok(0), |u| args::integer(u, "units", 0, MAX))?;
        Ok(Stock {
            stock: stanchion::Stock::new(units),
        })
    }

    /// Takes `n` units if the stock holds at least `n`, and says whether it did; a take that
    /// cannot be met in full takes nothing.
    fn take(&self, n: &Bound<'_, PyAny>) -> PyResult<bool> {
        Ok(self.stock.take(args::integer(n, "n", 0, MAX)?))
    }

    /// Adds `n` units and returns the count after; it saturates at 2^64 - 1.
    fn add(&self, n: &Bound<'_, PyAny>) -> PyResult<u64> {
        Ok(self.stock.add(args::integer(n, "n", 0, MAX)?))
    }

    /// Takes every unit and returns how many there were.
    fn drain(&self) -> u64 {
        self.stock.drain()
    }

    /// The units held now (other threads may change it the moment after).
    fn available(&self) -> u64 {
        self.stock.available()
    }

    fn __repr__(&self) -> String {
        format!("Stock({})", self.stock.available())
    }
}
