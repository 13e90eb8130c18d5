//! `Stock`: a count of units handed out without a round trip, never below zero.
//!
//! The local half of a fleet quota's batches (`docs/semantics.md` §9): a process takes `k`
//! units from the shared quota in one call, puts them here, and its callers take them one or
//! a few at a time with a single atomic operation each. What is left goes back to the quota
//! when the process is done ([`drain`](Stock::drain)). It is useful on its own wherever a
//! fixed number of things (slots, tickets, retries) is shared between threads or interrupt
//! handlers.
//!
//! # Guarantee
//!
//! *(hard)* Units are conserved: under any interleaving, the units taken and drained never
//! exceed the units the stock started with plus those added, and the count never goes below
//! zero. A `take` that cannot be met in full takes nothing.
//!
//! # Memory ordering
//!
//! `Relaxed` throughout. Every operation is one read-modify-write of one word, and
//! read-modify-writes of one location always see its latest value, which is all the
//! guarantee needs. No other memory is published through the count.
//!
//! # Size
//!
//! A `Stock` is 8 bytes: one `AtomicU64`. On targets without native 64-bit atomics it takes
//! the interrupt-safe path of the other primitives (see "Embedded targets" in the crate docs).

use crate::sync::{const_fn, AtomicU64, Ordering};

/// A count of units, taken from and added to by any number of threads at once, never below
/// zero.
///
/// ```
/// use stanchion::Stock;
/// static SEATS: Stock = Stock::new(3);
/// assert!(SEATS.take(2));
/// assert!(!SEATS.take(2)); // one left: a take that cannot be met takes nothing
/// assert_eq!(SEATS.available(), 1);
/// SEATS.add(4);
/// assert_eq!(SEATS.drain(), 5);
/// assert_eq!(SEATS.available(), 0);
/// ```
#[derive(Debug)]
pub struct Stock {
    units: AtomicU64,
}

impl Stock {
    const_fn! {
        /// A stock holding `units`.
        ///
        /// ```
        /// assert_eq!(stanchion::Stock::new(7).available(), 7);
        /// ```
        pub fn new(units: u64) -> Stock {
            Stock {
                units: AtomicU64::new(units),
            }
        }
    }

    /// Takes `n` units if the stock holds at least `n`, and says whether it did. A take that
    /// cannot be met in full takes nothing; `take(0)` always succeeds. Lock-free: a
    /// compare-and-swap that goes round again only when another thread changed the count.
    ///
    /// ```
    /// use stanchion::Stock;
    /// let stock = Stock::new(5);
    /// assert!(stock.take(5));
    /// assert!(!stock.take(1));
    /// assert!(stock.take(0));
    /// ```
    pub fn take(&self, n: u64) -> bool {
        if n == 0 {
            return true;
        }
        let mut units = self.units.load(Ordering::Relaxed);
        loop {
            let Some(left) = units.checked_sub(n) else {
                return false;
            };
            match self.units.compare_exchange_weak(
                units,
                left,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(actual) => units = actual,
            }
        }
    }

    /// Adds `n` units and returns the count after. The count saturates at `u64::MAX`: units
    /// beyond it are not kept.
    ///
    /// ```
    /// use stanchion::Stock;
    /// let stock = Stock::new(u64::MAX - 1);
    /// assert_eq!(stock.add(5), u64::MAX);
    /// assert_eq!(Stock::new(1).add(2), 3);
    /// ```
    pub fn add(&self, n: u64) -> u64 {
        let mut units = self.units.load(Ordering::Relaxed);
        loop {
            let sum = units.saturating_add(n);
            if sum == units {
                return units;
            }
            match self
                .units
                .compare_exchange_weak(units, sum, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return sum,
                Err(actual) => units = actual,
            }
        }
    }

    /// Takes every unit at once and returns how many there were, leaving the stock empty.
    ///
    /// ```
    /// use stanchion::Stock;
    /// let stock = Stock::new(9);
    /// assert_eq!(stock.drain(), 9);
    /// assert_eq!(stock.drain(), 0);
    /// ```
    pub fn drain(&self) -> u64 {
        self.units.swap(0, Ordering::Relaxed)
    }

    /// The units held now. Other threads may change it the moment after.
    ///
    /// ```
    /// assert_eq!(stanchion::Stock::new(2).available(), 2);
    /// ```
    pub fn available(&self) -> u64 {
        self.units.load(Ordering::Relaxed)
    }
}

impl Default for Stock {
    /// An empty stock.
    ///
    /// ```
    /// assert_eq!(stanchion::Stock::default().available(), 0);
    /// ```
    fn default() -> Stock {
        Stock::new(0)
    }
}

#[cfg(all(test, not(any(loom, shuttle))))]
mod tests {
    use super::*;

    #[test]
    fn a_take_larger_than_the_stock_takes_nothing() {
        let stock = Stock::new(3);
        assert!(!stock.take(4));
        assert_eq!(stock.available(), 3);
        assert!(stock.take(3));
        assert_eq!(stock.available(), 0);
        assert!(!stock.take(1));
        assert_eq!(stock.available(), 0);
    }

    #[test]
    fn take_zero_succeeds_even_when_empty() {
        let stock = Stock::new(0);
        assert!(stock.take(0));
        assert_eq!(stock.available(), 0);
    }

    #[test]
    fn extreme_amounts_neither_wrap_nor_panic() {
        let stock = Stock::new(u64::MAX);
        assert!(stock.take(0));
        assert!(stock.take(u64::MAX));
        assert_eq!(stock.available(), 0);
        assert!(!stock.take(u64::MAX));
        assert_eq!(stock.add(u64::MAX), u64::MAX);
        assert_eq!(stock.add(u64::MAX), u64::MAX);
        assert_eq!(stock.add(0), u64::MAX);
        assert_eq!(stock.drain(), u64::MAX);
        assert_eq!(stock.add(0), 0);
    }

    #[test]
    fn units_are_conserved_across_threads() {
        extern crate std;
        use core::sync::atomic::{AtomicU64 as CountU64, Ordering as CountOrdering};
        use std::vec::Vec;

        static STOCK: Stock = Stock::new(10_000);
        static TAKEN: CountU64 = CountU64::new(0);
        let threads: Vec<_> = (0..4u64)
            .map(|t| {
                std::thread::spawn(move || {
                    let n = t + 1;
                    while STOCK.take(n) {
                        TAKEN.fetch_add(n, CountOrdering::Relaxed);
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let left = STOCK.drain();
        // Every thread stopped when fewer than its n (at most 4) were left.
        assert!(left < 4, "{left} left");
        assert_eq!(TAKEN.load(CountOrdering::Relaxed) + left, 10_000);
    }

    #[test]
    fn stock_is_one_word() {
        assert_eq!(core::mem::size_of::<Stock>(), 8);
    }
}
