//! One call through an adaptive concurrency limit, stanchion's and the Rust peers', on one
//! thread, each next to the fixed cap it replaces.
//!
//! The peers are tower layers (`tower-acc`, `tower-resilience-adaptive`): one operation is
//! `poll_ready`, `call` and polling the response future of a service that answers at once, so
//! the peer takes its permit, reads its clock at the start and the end, and updates its
//! estimate. Their fixed baseline is tower's own `ConcurrencyLimit` over the same service.
//! stanchion is measured the way a caller uses it: `try_acquire(now)` and `record(Success,
//! now)` with `now` read from `Instant` at each end, as the peers do, next to the bulkhead's
//! `try_acquire` and a drop. The interesting figures are the ratios, adaptive over fixed, on
//! each side: what adapting costs over a plain cap.

use core::future::{ready, Future, Ready};
use core::hint::black_box;
use core::pin::pin;
use core::task::{Context, Poll, Waker};
use std::convert::Infallible;
use std::time::Instant;

use criterion::Criterion;
use stanchion::adaptive::{AdaptiveConfig, AdaptiveLimiter, Outcome};
use stanchion::{Bulkhead, BulkheadConfig, Nanos};
use stanchion_benches::bench_single;
use tower::limit::ConcurrencyLimit;
use tower::service_fn;
use tower::Service;

const LIMIT: u32 = 1000;

/// A service that answers at once, as the peers' benchmarks and examples use.
fn instant_service(
) -> impl Service<(), Response = (), Error = Infallible, Future = Ready<Result<(), Infallible>>> + Clone
{
    service_fn(|()| ready(Ok::<(), Infallible>(())))
}

/// One call through `service`: ready, call, and the response future polled to its end. Every
/// service here is ready and answers at the first poll.
fn call_once<S: Service<()>>(service: &mut S, cx: &mut Context<'_>) {
    match service.poll_ready(cx) {
        Poll::Ready(Ok(())) => {}
        _ => panic!("the service was not ready"),
    }
    let mut response = pin!(service.call(()));
    match response.as_mut().poll(cx) {
        Poll::Ready(answer) => {
            black_box(answer.is_ok());
        }
        Poll::Pending => panic!("the service did not answer at once"),
    }
}

fn bench_service<S: Service<()>>(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    id: &str,
    make: impl Fn() -> S,
) {
    let mut cx = Context::from_waker(Waker::noop());
    bench_single(group, id, &make, |service, _| call_once(service, &mut cx));
}

fn peers(c: &mut Criterion) {
    let mut group = c.benchmark_group("adaptive_peers");
    let origin = Instant::now();
    let now = || Nanos::from_duration(origin.elapsed());

    // What the two clock reads alone cost, which every adaptive row below pays.
    bench_single(
        &mut group,
        "two_clock_reads",
        || (),
        |(), _| {
            black_box(now());
            black_box(now());
        },
    );
    let bulkhead: Bulkhead = Bulkhead::new(BulkheadConfig::new(LIMIT)).expect("valid bulkhead");
    bench_single(
        &mut group,
        "stanchion_bulkhead",
        || (),
        |(), _| {
            let permit = bulkhead.try_acquire(0);
            black_box(&permit);
            drop(permit);
        },
    );
    let adaptive: AdaptiveLimiter =
        AdaptiveLimiter::new(AdaptiveConfig::new().limits(1, LIMIT, LIMIT))
            .expect("valid adaptive config");
    bench_single(
        &mut group,
        "stanchion_adaptive",
        || (),
        |(), _| {
            let permit = adaptive.try_acquire(now()).expect("room");
            black_box(permit.record(Outcome::Success, now()));
        },
    );

    bench_service(&mut group, "tower_concurrency_limit", || {
        ConcurrencyLimit::new(instant_service(), LIMIT as usize)
    });
    bench_service(&mut group, "tower_acc_aimd", || {
        let aimd = tower_acc::Aimd::builder()
            .initial_limit(LIMIT as usize)
            .max_limit(LIMIT as usize)
            .build();
        tower_acc::ConcurrencyLimit::new(instant_service(), aimd)
    });
    bench_service(&mut group, "tower_acc_gradient2", || {
        let gradient2 = tower_acc::Gradient2::builder()
            .initial_limit(LIMIT as usize)
            .max_limit(LIMIT as usize)
            .build();
        tower_acc::ConcurrencyLimit::new(instant_service(), gradient2)
    });
    bench_service(&mut group, "tower_resilience_aimd", || {
        let aimd = tower_resilience_adaptive::Aimd::builder()
            .initial_limit(LIMIT as usize)
            .max_limit(LIMIT as usize)
            .build()
            .expect("valid peer config");
        let layer = tower_resilience_adaptive::AdaptiveLimiterLayer::new(aimd);
        tower::Layer::layer(&layer, instant_service())
    });
    group.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    peers(&mut c);
    c.final_summary();
}
