//! Jittered exponential backoff against backon and the backoff crate.
//!
//! One schedule on every side: 1 s initial wait, factor 2, capped at 60 s, jittered.
//! stanchion uses full jitter (AWS), backon its `with_jitter` (`d + rand·d`), the backoff crate
//! its default randomization factor 0.5; each costs one random draw and a multiply.
//!
//! - `backoff_delay`: the next wait of a long-running retry state (all sides at the cap, so it
//!   is one step of the steady state), plus stanchion's pure `Backoff::delay(attempt, seed)`
//!   for attempts 0 to 3.
//! - `backoff_schedule`: a fresh retry state and its first 4 waits, per iteration: what one
//!   retried call costs in all.
//!
//! Randomness: stanchion and backon are given a seed (per schedule in `backoff_schedule`);
//! the backoff crate draws from `rand`'s thread-local generator, as it always does.
//!
//! Time: backon never reads a clock and stanchion's `*_now_given` passes a fixed `now`. The
//! backoff crate reads `Instant::now` on every wait to enforce its `max_elapsed_time` (15 min
//! by default), so `stanchion_instant` does the same: `max_elapsed` of 15 min and a fresh
//! `Instant` read for every wait.

use core::hint::black_box;
use core::time::Duration;

use backoff::backoff::Backoff as _;
use backon::{BackoffBuilder as _, ExponentialBuilder};
use criterion::Criterion;
use stanchion::{Backoff, BackoffConfig, Jitter, Nanos};
use stanchion_benches::{bench_single, Floor, InstantClock, FLOOR};

const INITIAL: Duration = Duration::from_secs(1);
const FACTOR: f64 = 2.0;
const MAX_DELAY: Duration = Duration::from_secs(60);
const MAX_ELAPSED: Duration = Duration::from_secs(15 * 60);
/// Waits per schedule in `backoff_schedule`.
const WAITS: u32 = 4;

fn ours_config() -> BackoffConfig {
    BackoffConfig::exponential(Nanos::from_duration(INITIAL), FACTOR)
        .jitter(Jitter::Full)
        .max_delay(Nanos::from_duration(MAX_DELAY))
}

fn ours(config: BackoffConfig) -> Backoff {
    Backoff::new(config).expect("valid backoff config")
}

fn backon() -> ExponentialBuilder {
    ExponentialBuilder::new()
        .with_jitter()
        .with_min_delay(INITIAL)
        .with_factor(FACTOR as f32)
        .with_max_delay(MAX_DELAY)
}

fn backoff_crate() -> backoff::ExponentialBackoff {
    backoff::ExponentialBackoffBuilder::new()
        .with_initial_interval(INITIAL)
        .with_multiplier(FACTOR)
        .with_max_interval(MAX_DELAY)
        .with_max_elapsed_time(Some(MAX_ELAPSED))
        .build()
}

fn delay(c: &mut Criterion) {
    let mut group = c.benchmark_group("backoff_delay");
    let floor = Floor::default();
    bench_single(
        &mut group,
        FLOOR,
        || (),
        |_, _| {
            black_box(floor.op());
        },
    );

    let steady = ours(ours_config().unlimited_attempts());
    bench_single(
        &mut group,
        "stanchion_retrying_now_given",
        || steady.start(7, Nanos::ZERO),
        |retrying, _| {
            black_box(retrying.next_delay(&steady, Nanos::ZERO, None).ok());
        },
    );

    let bounded = ours(
        ours_config()
            .unlimited_attempts()
            .max_elapsed(Nanos::from_duration(MAX_ELAPSED)),
    );
    let clock = InstantClock::new();
    bench_single(
        &mut group,
        "stanchion_retrying_instant",
        || bounded.start(7, clock.now()),
        |retrying, _| {
            black_box(retrying.next_delay(&bounded, clock.now(), None).ok());
        },
    );

    let pure = ours(ours_config().max_attempts(WAITS + 1));
    bench_single(
        &mut group,
        "stanchion_delay_pure",
        || (),
        |_, i| {
            // Attempts 0 to 3 in turn: replaying the exponential costs O(attempt).
            black_box(pure.delay((i % u64::from(WAITS)) as u32, i));
        },
    );

    let builder = backon().without_max_times().with_jitter_seed(7);
    bench_single(
        &mut group,
        "backon",
        || builder.build(),
        |backoff, _| {
            black_box(backoff.next());
        },
    );

    let template = backoff_crate();
    bench_single(
        &mut group,
        "backoff_crate",
        || template.clone(),
        |backoff, _| {
            black_box(backoff.next_backoff());
        },
    );
    group.finish();
}

fn schedule(c: &mut Criterion) {
    let mut group = c.benchmark_group("backoff_schedule");
    let floor = Floor::default();
    bench_single(
        &mut group,
        FLOOR,
        || (),
        |_, _| {
            black_box(floor.op());
        },
    );

    let b = ours(ours_config().max_attempts(WAITS + 1));
    bench_single(
        &mut group,
        "stanchion_now_given",
        || (),
        |_, i| {
            let mut retrying = b.start(i, Nanos::ZERO);
            for _ in 0..WAITS {
                black_box(retrying.next_delay(&b, Nanos::ZERO, None).ok());
            }
        },
    );

    let bounded = ours(
        ours_config()
            .max_attempts(WAITS + 1)
            .max_elapsed(Nanos::from_duration(MAX_ELAPSED)),
    );
    let clock = InstantClock::new();
    bench_single(
        &mut group,
        "stanchion_instant",
        || (),
        |_, i| {
            let mut retrying = bounded.start(i, clock.now());
            for _ in 0..WAITS {
                black_box(retrying.next_delay(&bounded, clock.now(), None).ok());
            }
        },
    );

    bench_single(
        &mut group,
        "stanchion_delay_pure",
        || (),
        |_, i| {
            for attempt in 0..WAITS {
                black_box(b.delay(attempt, i));
            }
        },
    );

    let builder = backon().with_max_times(WAITS as usize);
    bench_single(
        &mut group,
        "backon",
        || (),
        |_, i| {
            let mut backoff = builder.with_jitter_seed(i).build();
            for _ in 0..WAITS {
                black_box(backoff.next());
            }
        },
    );

    let template = backoff_crate();
    bench_single(
        &mut group,
        "backoff_crate",
        || (),
        |_, _| {
            let mut backoff = template.clone();
            backoff.reset();
            for _ in 0..WAITS {
                black_box(backoff.next_backoff());
            }
        },
    );
    group.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    delay(&mut c);
    schedule(&mut c);
    c.final_summary();
}
