//! loom models of `Stock`: units are conserved and the count never goes below zero, under
//! every interleaving of racing takes, adds and drains.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p stanchion --release --test loom_stock`.
#![cfg(loom)]

use loom::sync::Arc;
use loom::thread;
use stanchion::Stock;

/// Runs `other` on a second thread against `stock` while this thread runs `this`; returns
/// both results.
fn race<A, B>(stock: &Arc<Stock>, this: fn(&Stock) -> A, other: fn(&Stock) -> B) -> (A, B)
where
    B: Send + 'static,
{
    let handle = {
        let stock = Arc::clone(stock);
        thread::spawn(move || other(&stock))
    };
    let a = this(stock);
    (a, handle.join().unwrap())
}

#[test]
fn two_takes_never_share_the_last_units() {
    loom::model(|| {
        // Three units, two takes of two: exactly one can be met.
        let stock = Arc::new(Stock::new(3));
        let (a, b) = race(&stock, |s| s.take(2), |s| s.take(2));
        assert!(a ^ b, "exactly one take of two passes: {a} {b}");
        assert_eq!(stock.available(), 1);
    });
}

#[test]
fn takes_that_fit_together_both_pass() {
    loom::model(|| {
        // Four units, two takes of two: both fit, whatever the order, and nothing is left.
        let stock = Arc::new(Stock::new(4));
        let (a, b) = race(&stock, |s| s.take(2), |s| s.take(2));
        assert!(a && b);
        assert_eq!(stock.available(), 0);
    });
}

#[test]
fn a_take_racing_a_drain_is_counted_once() {
    loom::model(|| {
        let stock = Arc::new(Stock::new(5));
        let (took, drained) = race(&stock, |s| s.take(2), Stock::drain);
        // Either the take came first (2 taken, 3 drained) or the drain did (nothing left to
        // take): never both the 2 and all 5.
        let taken = if took { 2 } else { 0 };
        assert_eq!(taken + drained, 5, "took {took}, drained {drained}");
        assert_eq!(stock.available(), 0);
    });
}

#[test]
fn a_take_racing_an_add_conserves_units() {
    loom::model(|| {
        // One unit and a take of two: it passes only if the add came first.
        let stock = Arc::new(Stock::new(1));
        let (took, after_add) = race(&stock, |s| s.take(2), |s| s.add(3));
        let taken = if took { 2 } else { 0 };
        assert_eq!(taken + stock.available(), 4);
        // A take of two never meets a single unit, so whatever the order the add saw four.
        assert_eq!(after_add, 4);
    });
}

#[test]
fn two_takes_and_a_drain_never_overdraw() {
    loom::model(|| {
        let stock = Arc::new(Stock::new(3));
        let drainer = {
            let stock = Arc::clone(&stock);
            thread::spawn(move || stock.drain())
        };
        let taker = {
            let stock = Arc::clone(&stock);
            thread::spawn(move || u64::from(stock.take(2)) * 2)
        };
        let mine = u64::from(stock.take(1));
        let total = mine + taker.join().unwrap() + drainer.join().unwrap();
        assert_eq!(total + stock.available(), 3);
    });
}
