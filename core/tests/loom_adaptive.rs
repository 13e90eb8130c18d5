#![cfg_attr(not(loom), allow(missing_docs))]
#![cfg(loom)]
//! Model-checked invariants of the adaptive limiter under every interleaving loom explores
//! (within its preemption bound):
//!
//! - two records racing to complete one window: exactly one closes it and updates the limit;
//! - an admission racing the update that lowers the limit: at admission, in flight is at most
//!   the limit, and no admission that follows the update exceeds the new one;
//! - a waiter queueing while an update raises the limit is never forgotten.
//!
//! Run with `RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom cargo test -p stanchion
//! --release --test loom_adaptive`.

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};
use std::task::Wake;

use loom::sync::atomic::{AtomicBool, Ordering};
use loom::sync::Arc;
use loom::thread;
use stanchion::adaptive::{
    Acquire, AdaptiveConfig, AdaptiveLimiter, LimitChange, Outcome, RawPermit,
};
use stanchion::Nanos;

/// Runs `f` under every interleaving loom explores, and fails unless it explored more than one:
/// loom finds an order only from a conflict it has seen, so a model that never races runs once.
fn model(f: impl Fn() + Sync + Send + 'static) {
    let runs = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    let counter = runs.clone();
    builder.check(move || {
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        f();
    });
    let runs = runs.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        runs > 1,
        "the model ran one interleaving only: nothing raced"
    );
}

/// AIMD from `initial`, windows of `min_samples` samples and no minimum age.
fn limiter<const W: usize>(initial: u32, min_samples: u32) -> Arc<AdaptiveLimiter<W>> {
    let config = AdaptiveConfig::new()
        .limits(1, initial, 10)
        .window(Nanos::ZERO, min_samples);
    Arc::new(AdaptiveLimiter::new(config).unwrap())
}

fn take<const W: usize>(limiter: &AdaptiveLimiter<W>) -> RawPermit {
    limiter.try_acquire(Nanos::ZERO).unwrap().into_raw()
}

/// A waker that records that it was woken, visible to loom.
struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

fn flag_waker() -> (std::sync::Arc<Flag>, Waker) {
    let flag = std::sync::Arc::new(Flag(AtomicBool::new(false)));
    (flag.clone(), Waker::from(flag))
}

/// Polls once; `true` when the future resolved to its permit (kept out as a raw permit).
fn poll<C: Fn() -> Nanos, const W: usize>(future: &mut Acquire<'_, C, W>, waker: &Waker) -> bool {
    match Pin::new(future).poll(&mut Context::from_waker(waker)) {
        Poll::Ready(Ok(permit)) => {
            let _ = permit.into_raw();
            true
        }
        Poll::Ready(Err(rejected)) => panic!("refused: {rejected:?}"),
        Poll::Pending => false,
    }
}

/// Two records complete one window at once (it holds one sample and closes at two): exactly
/// one of them closes it and makes the one update, 2 → 3; the other opens the next window.
#[test]
fn racing_records_close_a_window_once() {
    model(|| {
        let limiter: Arc<AdaptiveLimiter> = limiter(2, 2);
        let mut first = take(&limiter);
        let mut second = take(&limiter);
        limiter.record_raw(&mut first, Outcome::Success, Nanos::new(1));
        let mut third = take(&limiter);
        let other = {
            let limiter = limiter.clone();
            thread::spawn(move || limiter.record_raw(&mut third, Outcome::Success, Nanos::new(2)))
        };
        let mine = limiter.record_raw(&mut second, Outcome::Success, Nanos::new(2));
        let theirs = other.join().unwrap();
        let change = Some(LimitChange { from: 2, to: 3 });
        assert!(
            (mine, theirs) == (change, None) || (mine, theirs) == (None, change),
            "{mine:?} {theirs:?}"
        );
        let snapshot = limiter.snapshot();
        assert_eq!((snapshot.windows, snapshot.limit), (1, 3));
        assert_eq!(snapshot.in_flight, 0);
    });
}

/// A report whose window lowers the limit from 2 to 1 races an admission. The admission never
/// sees more than the limit in flight, and once the lowered limit is visible to it, it is
/// refused: one call is still out, and that is the new limit.
#[test]
fn an_admission_racing_a_lowering_never_exceeds_the_limit() {
    model(|| {
        let limiter: Arc<AdaptiveLimiter> = limiter(2, 1);
        let _held = take(&limiter);
        let mut dropped = take(&limiter);
        let lowered = Arc::new(AtomicBool::new(false));
        let reporter = {
            let (limiter, lowered) = (limiter.clone(), lowered.clone());
            thread::spawn(move || {
                let change = limiter.record_raw(&mut dropped, Outcome::Dropped, Nanos::new(1));
                assert_eq!(change, Some(LimitChange { from: 2, to: 1 }));
                lowered.store(true, Ordering::SeqCst);
            })
        };
        let after_lowering = lowered.load(Ordering::SeqCst);
        let admitted = limiter
            .try_acquire(Nanos::new(1))
            .map(|permit| permit.into_raw());
        if let Ok(permit) = admitted {
            // In flight at admission, itself included: the old limit, never more.
            assert_eq!(permit.in_flight(), 2);
            assert!(!after_lowering, "admitted past the lowered limit");
        }
        reporter.join().unwrap();
        let snapshot = limiter.snapshot();
        assert_eq!(snapshot.limit, 1);
        assert_eq!(snapshot.in_flight, 1 + u32::from(admitted.is_ok()));
    });
}

/// A report hands its permit to the queued waiter and its window raises the limit from 2 to 3,
/// while a second waiter queues: the second waiter is admitted at once or woken with the room
/// the raise made, never left waiting.
#[test]
fn a_waiter_queueing_during_a_raise_is_never_forgotten() {
    model(|| {
        let limiter: Arc<AdaptiveLimiter<2>> = limiter(2, 1);
        let _held = take(&limiter);
        let mut reported = take(&limiter);
        let clock = || Nanos::ZERO;
        let (first_woken, first_waker) = flag_waker();
        let mut first = limiter.acquire(&clock);
        assert!(!poll(&mut first, &first_waker));

        let reporter = {
            let limiter = limiter.clone();
            thread::spawn(move || {
                limiter.record_raw(&mut reported, Outcome::Success, Nanos::new(1))
            })
        };
        let (second_woken, second_waker) = flag_waker();
        let mut second = limiter.acquire(&clock);
        let admitted_at_once = poll(&mut second, &second_waker);
        let change = reporter.join().unwrap();
        assert_eq!(change, Some(LimitChange { from: 2, to: 3 }));

        assert!(first_woken.0.load(Ordering::SeqCst));
        assert!(poll(&mut first, &first_waker));
        if !admitted_at_once {
            assert!(second_woken.0.load(Ordering::SeqCst), "lost wake-up");
            assert!(poll(&mut second, &second_waker));
        }
        let snapshot = limiter.snapshot();
        assert_eq!(
            (snapshot.in_flight, snapshot.waiting, snapshot.limit),
            (3, 0, 3)
        );
    });
}
