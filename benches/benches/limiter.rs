//! Token bucket and keyed limiter against governor (both GCRA) and the floor.
//!
//! - `limiter_direct`: one admitted request for one token: `TokenBucket::try_acquire(1, now)`
//!   against governor's direct `check()`.
//! - `limiter_keyed`: the same on one key of a keyed limiter (with 2 threads, both hammer that
//!   key): `KeyedLimiter::try_acquire(key, 1, now)` against governor's default keyed limiter
//!   (`RateLimiter::keyed`: a `DashMap` with std's SipHash) and its `check_key(&key)`.
//!
//! Every limiter refills one token per nanosecond with a burst of `u32::MAX`, so every request
//! is admitted for the whole run, whatever its clock: this measures the admit path.
//!
//! governor reads its clock inside `check`; its default is quanta's TSC clock. So stanchion
//! runs three ways: `stanchion_now_given` (the caller has a time, advancing 1 ns per request),
//! `stanchion_quanta` (the very clock governor reads, through governor's own `QuantaClock`,
//! converted to `Nanos`: the like-for-like comparison) and `stanchion_instant` (`Instant`
//! elapsed since an origin). governor also runs with its `FakeRelativeClock`
//! (`governor_fake_clock`: a shared atomic read, the nearest it has to a time given).

use core::hint::black_box;
use core::num::NonZeroU32;

use criterion::Criterion;
use governor::clock::{Clock as _, FakeRelativeClock, QuantaClock, QuantaInstant, Reference as _};
use governor::{Quota, RateLimiter};
use stanchion::{KeyedLimiter, Nanos, TableFullPolicy, TokenBucket, TokenBucketConfig};
use stanchion_benches::{bench_threads, Floor, InstantClock, FLOOR, THREADS};

/// One token per nanosecond, the fastest rate both sides accept.
const PER_SECOND: u32 = 1_000_000_000;
const BURST: u32 = u32::MAX;
/// The key every keyed request uses.
const KEY: u64 = 42;
/// Slots in stanchion's keyed table.
const SLOTS: usize = 256;

fn config() -> TokenBucketConfig {
    TokenBucketConfig::new(BURST).refill(PER_SECOND, Nanos::from_secs(1))
}

fn quota() -> Quota {
    let per_second = NonZeroU32::new(PER_SECOND).expect("non-zero rate");
    let burst = NonZeroU32::new(BURST).expect("non-zero burst");
    Quota::per_second(per_second).allow_burst(burst)
}

fn bucket() -> TokenBucket {
    TokenBucket::new(config()).expect("valid token bucket config")
}

fn keyed() -> KeyedLimiter<SLOTS> {
    KeyedLimiter::new(config(), TableFullPolicy::Reject).expect("valid keyed limiter config")
}

/// governor's default clock, read as stanchion's caller would read it.
struct Quanta {
    clock: QuantaClock,
    origin: QuantaInstant,
}

impl Quanta {
    fn new() -> Quanta {
        let clock = QuantaClock::default();
        let origin = clock.now();
        Quanta { clock, origin }
    }

    #[inline]
    fn now(&self) -> Nanos {
        Nanos::new(self.clock.now().duration_since(self.origin).as_u64())
    }
}

fn direct(c: &mut Criterion) {
    let mut group = c.benchmark_group("limiter_direct");
    for threads in THREADS {
        let floor = Floor::default();
        bench_threads(&mut group, FLOOR, threads, |_, _| {
            black_box(floor.op());
        });

        let limiter = bucket();
        bench_threads(&mut group, "stanchion_now_given", threads, |_, i| {
            black_box(limiter.try_acquire(1, Nanos::new(i)).is_ok());
        });

        let limiter = bucket();
        let clock = Quanta::new();
        bench_threads(&mut group, "stanchion_quanta", threads, |_, _| {
            black_box(limiter.try_acquire(1, clock.now()).is_ok());
        });

        let limiter = bucket();
        let clock = InstantClock::new();
        bench_threads(&mut group, "stanchion_instant", threads, |_, _| {
            black_box(limiter.try_acquire(1, clock.now()).is_ok());
        });

        let governor = RateLimiter::direct(quota());
        bench_threads(&mut group, "governor", threads, |_, _| {
            black_box(governor.check().is_ok());
        });

        let governor = RateLimiter::direct_with_clock(quota(), FakeRelativeClock::default());
        bench_threads(&mut group, "governor_fake_clock", threads, |_, _| {
            black_box(governor.check().is_ok());
        });
    }
    group.finish();
}

fn by_key(c: &mut Criterion) {
    let mut group = c.benchmark_group("limiter_keyed");
    for threads in THREADS {
        let floor = Floor::default();
        bench_threads(&mut group, FLOOR, threads, |_, _| {
            black_box(floor.op());
        });

        let limiter = keyed();
        bench_threads(&mut group, "stanchion_now_given", threads, |_, i| {
            black_box(limiter.try_acquire(KEY, 1, Nanos::new(i)).is_ok());
        });

        let limiter = keyed();
        let clock = Quanta::new();
        bench_threads(&mut group, "stanchion_quanta", threads, |_, _| {
            black_box(limiter.try_acquire(KEY, 1, clock.now()).is_ok());
        });

        let limiter = keyed();
        let clock = InstantClock::new();
        bench_threads(&mut group, "stanchion_instant", threads, |_, _| {
            black_box(limiter.try_acquire(KEY, 1, clock.now()).is_ok());
        });

        let governor = RateLimiter::keyed(quota());
        bench_threads(&mut group, "governor_keyed", threads, |_, _| {
            black_box(governor.check_key(&KEY).is_ok());
        });

        let governor = RateLimiter::dashmap_with_clock(quota(), FakeRelativeClock::default());
        bench_threads(&mut group, "governor_keyed_fake_clock", threads, |_, _| {
            black_box(governor.check_key(&KEY).is_ok());
        });
    }
    group.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    direct(&mut c);
    by_key(&mut c);
    c.final_summary();
}
