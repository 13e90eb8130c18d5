//! The bounded replay against the unbounded one it replaced, kept here as the reference: the
//! same answers wherever the bound changes nothing, and the documented ones where it does.

extern crate std;

use std::{format, vec, vec::Vec};

use super::*;
use crate::rng::draw;

const LIMIT: u32 = Backoff::REPLAY_LIMIT;

/// `Backoff::delay` as it was before the replay was bounded: every step from the start.
fn walked_delay(b: &Backoff, attempt: u32, seed: u64) -> Option<Nanos> {
    if attempt >= b.retry_limit {
        return None;
    }
    let bits = draw(seed, u64::from(attempt));
    let raw = match b.kind {
        Kind::Constant { delay } => delay,
        Kind::Linear { initial, step } => linear(initial, step, attempt, b.cap),
        Kind::Exponential { initial, factor } => {
            let mut scaled = u128::from(initial) << FRACTION_BITS;
            for _ in 0..attempt {
                let next = exponential_step(scaled, factor, b.cap);
                if next == scaled {
                    break;
                }
                scaled = next;
            }
            whole_nanos(scaled)
        }
        Kind::Decorrelated { base } => {
            let mut prev = base;
            for index in 0..=attempt {
                prev = decorrelated_step(draw(seed, u64::from(index)), base, prev, b.cap);
            }
            prev
        }
    };
    Some(Nanos::new(b.jitter(raw, bits)))
}

/// The exponential chain's Q.32 states `s₀ … s_last`, stopping early at a fixed point.
fn chain(b: &Backoff, last: u32) -> Vec<u128> {
    let Kind::Exponential { initial, factor } = b.kind else {
        unreachable!("an exponential backoff");
    };
    let mut states = vec![u128::from(initial) << FRACTION_BITS];
    while states.len() <= last as usize {
        let s = *states.last().unwrap();
        let next = exponential_step(s, factor, b.cap);
        if next == s {
            break;
        }
        states.push(next);
    }
    states
}

fn exponential(initial: u64, factor: f64, cap: Option<u64>, jitter: Jitter) -> Backoff {
    let mut config = BackoffConfig::exponential(Nanos::new(initial), factor)
        .jitter(jitter)
        .unlimited_attempts();
    config.max_delay = cap.map(Nanos::new);
    Backoff::new(config).unwrap()
}

const INITIALS: [u64; 9] = [
    0,
    1,
    3,
    1_000,
    1_000_000,
    1_000_000_000,
    1 << 40,
    u64::MAX / 3,
    u64::MAX,
];
const CAPS: [Option<u64>; 6] = [
    None,
    Some(0),
    Some(7),
    Some(60_000_000_000),
    Some(1 << 50),
    Some(u64::MAX - 1),
];

/// Factors whose chain stops growing within `LIMIT` steps from any start, and ones that do not.
const FAST: [f64; 9] = [1.0, 1.011, 1.02, 1.1, 1.5, 2.0, 3.0, 1023.99, 1024.0];
const SLOW: [f64; 5] = [
    1.0 + 1.0 / 4_294_967_296.0,
    1.0 + 1.0 / 1_048_576.0,
    1.0001,
    1.001,
    1.005,
];

#[test]
fn every_wait_equals_the_walk_when_the_chain_stops_growing_within_the_limit() {
    for factor in FAST {
        for initial in INITIALS {
            for cap in CAPS {
                for jitter in [Jitter::None, Jitter::Full] {
                    let b = exponential(initial, factor, cap, jitter);
                    let states = chain(&b, LIMIT + 1);
                    // The first attempt whose wait is the chain's last, fixed, state.
                    let fixed = u32::try_from(states.len() - 1).unwrap();
                    assert!(fixed <= LIMIT, "{factor} from {initial} ns: {fixed} steps");
                    let around = fixed.saturating_sub(3)..=fixed + 3;
                    let attempts = (0..40).chain(around).chain(LIMIT - 2..=LIMIT + 2).chain([
                        2 * LIMIT,
                        1 << 20,
                        u32::MAX - 2,
                        u32::MAX - 1,
                        u32::MAX,
                    ]);
                    for attempt in attempts {
                        let seed = u64::from(attempt) ^ 0x5eed;
                        assert_eq!(
                            b.delay(attempt, seed),
                            walked_delay(&b, attempt, seed),
                            "factor {factor}, initial {initial}, cap {cap:?}, {jitter:?}, \
                             attempt {attempt}"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn a_factor_of_1_011_reaches_any_cap_within_the_limit() {
    // The module docs promise exactness for every factor from 1.011: the slowest case is the
    // smallest start and no cap.
    let b = exponential(1, 1.011, None, Jitter::None);
    let states = chain(&b, LIMIT + 1);
    assert!(
        states.len() - 1 <= LIMIT as usize,
        "{} steps",
        states.len() - 1
    );
    assert_eq!(whole_nanos(*states.last().unwrap()), u64::MAX);
}

#[test]
fn past_the_limit_a_growing_chain_continues_in_closed_form_close_to_the_walk() {
    for factor in SLOW {
        for initial in INITIALS {
            for cap in CAPS {
                let b = exponential(initial, factor, cap, Jitter::None);
                let Kind::Exponential { factor: q, .. } = b.kind else {
                    unreachable!()
                };
                let states = chain(&b, LIMIT + 3_000);
                let growing = states.len() > LIMIT as usize + 1;
                let mut previous = 0;
                let mut attempts: Vec<u32> = (0..LIMIT + 3_000)
                    .step_by(61)
                    .chain(LIMIT - 2..=LIMIT + 40)
                    .collect();
                attempts.sort_unstable();
                for attempt in attempts {
                    let got = b.delay(attempt, 0).unwrap().as_nanos();
                    // The walk's states, computed once: `walked_delay` for every attempt.
                    let walked = whole_nanos(states[(attempt as usize).min(states.len() - 1)]);
                    let what = format!(
                        "factor {factor}, initial {initial}, cap {cap:?}, attempt {attempt}"
                    );
                    if attempt <= LIMIT || !growing {
                        assert_eq!(got, walked, "{what}");
                        continue;
                    }
                    // The walk floors at every step, so it runs below the closed form, by at
                    // most 2^-32 / ((factor - 1) · w) of it, w the wait at step LIMIT; the
                    // closed form's own rounding costs it less than a nanosecond.
                    let w = states[LIMIT as usize];
                    let excess = q - (1 << FRACTION_BITS);
                    let most_above =
                        u128::from(got) * (1 << FRACTION_BITS) / (u128::from(excess) * w) + 1;
                    assert!(
                        u128::from(got) <= u128::from(walked) + most_above,
                        "{what}: {got} vs {walked}"
                    );
                    assert!(got.saturating_add(1) >= walked, "{what}: {got} vs {walked}");
                    assert!(got >= previous, "{what}: shrank from {previous} to {got}");
                    previous = got;
                }
            }
        }
    }
}

#[test]
fn the_closed_form_never_shrinks_over_the_whole_range() {
    for factor in SLOW {
        for initial in [1, 1_000, 1_000_000_000] {
            let b = exponential(initial, factor, None, Jitter::None);
            let mut previous = 0;
            let mut attempt = LIMIT;
            while attempt < u32::MAX - 1 {
                let wait = b.delay(attempt, 0).unwrap();
                let next = b.delay(attempt + 1, 0).unwrap();
                assert!(
                    previous <= wait.as_nanos() && wait <= next,
                    "{factor} at {attempt}"
                );
                previous = next.as_nanos();
                attempt = attempt.saturating_add(attempt / 3 + 1);
            }
        }
    }
}

#[test]
fn the_closed_form_is_exact_where_the_fixed_point_is() {
    // Factor 2 loses nothing to the floor: the closed form and the walk agree from any state.
    let factor = 2u64 << FRACTION_BITS;
    for whole in [1u128, 3, 1_000_000_007] {
        let scaled = whole << FRACTION_BITS;
        for steps in [0u32, 1, 2, 5, 20, 40] {
            let want = (scaled << steps).min(u128::from(u64::MAX) << FRACTION_BITS);
            assert_eq!(exponential_beyond(scaled, factor, u64::MAX, steps), want);
        }
        assert_eq!(
            exponential_beyond(scaled, factor, u64::MAX, u32::MAX),
            u128::from(u64::MAX) << FRACTION_BITS
        );
    }
}

#[test]
fn the_wide_product_matches_u128_where_it_fits_and_carries_where_not() {
    let values = [
        0u128,
        1,
        2,
        u128::from(u64::MAX),
        1 << 64,
        (1 << 64) + 1,
        1 << 100,
        u128::MAX,
    ];
    for a in values {
        for b in values {
            let (high, low) = mul_wide(a, b);
            if let Some(product) = a.checked_mul(b) {
                assert_eq!((high, low), (0, product), "{a} · {b}");
            }
        }
    }
    assert_eq!(mul_wide(u128::MAX, u128::MAX), (u128::MAX - 1, 1));
    assert_eq!(mul_wide(1 << 127, 4), (2, 0));
}

#[test]
fn powers_keep_128_significant_bits() {
    let three_halves = Power::of_q32(3 << 31);
    let mut power = Power::ONE;
    for n in 1..=40u32 {
        power = power.times(three_halves);
        // 1.5^n · 2^32 = 3^n · 2^(32 - n), exact while 3^n fits the significand.
        let want = (3u128.pow(n) << 32) >> n;
        assert_eq!(power.scale(1 << 32), Some(want), "1.5^{n}");
    }
    assert!(!Power::of_q32(1 << 32).reaches_2_64());
    let mut big = Power::of_q32(1024 << 32);
    assert!(!big.reaches_2_64());
    big = big
        .times(big)
        .times(big)
        .times(big)
        .times(big)
        .times(big)
        .times(big);
    assert!(big.reaches_2_64(), "1024^7 = 2^70");
    assert_eq!(Power::ONE.scale(u128::MAX), Some(u128::MAX));
    assert_eq!(Power::of_q32(2 << 32).scale(u128::MAX), None);
}

fn decorrelated(base: u64, cap: Option<u64>) -> Backoff {
    let mut config = BackoffConfig::decorrelated(Nanos::new(base)).unlimited_attempts();
    config.max_delay = cap.map(Nanos::new);
    Backoff::new(config).unwrap()
}

/// The documented answer from `REPLAY_LIMIT` on: the last `REPLAY_LIMIT` draws, from the top.
fn windowed(b: &Backoff, attempt: u32, seed: u64) -> u64 {
    let Kind::Decorrelated { base } = b.kind else {
        unreachable!()
    };
    let mut prev = if base == 0 { 0 } else { b.cap };
    for index in attempt + 1 - LIMIT..=attempt {
        prev = decorrelated_step(draw(seed, u64::from(index)), base, prev, b.cap);
    }
    prev
}

const DECORRELATED: [(u64, Option<u64>); 12] = [
    (100_000_000, Some(10_000_000_000)),
    (1_000_000, Some(60_000_000_000)),
    (1, Some(1_000)),
    (1, Some(1 << 62)),
    (1, None),
    (1_000_000, None),
    (0, Some(1_000)),
    (0, None),
    (100, Some(100)),
    (100, Some(40)),
    (u64::MAX, None),
    (u64::MAX, Some(1)),
];

#[test]
fn decorrelated_replays_the_last_draws_from_the_top_and_gives_the_walks_waits() {
    for (base, cap) in DECORRELATED {
        let b = decorrelated(base, cap);
        for seed in [0u64, 1, 0x5eed, u64::MAX] {
            let attempts = (0..10)
                .chain(LIMIT - 3..LIMIT + 300)
                .chain(2 * LIMIT - 1..2 * LIMIT + 3)
                .chain([u32::MAX - 2, u32::MAX - 1]);
            for attempt in attempts {
                let got = b.delay(attempt, seed).unwrap().as_nanos();
                if attempt >= LIMIT {
                    assert_eq!(
                        got,
                        windowed(&b, attempt, seed),
                        "{base}, {cap:?}, {attempt}"
                    );
                }
                if attempt < 3 * LIMIT {
                    // The replay from the top meets the unbounded chain within a few draws,
                    // so every one of these waits is the unbounded chain's.
                    let walked = walked_delay(&b, attempt, seed).unwrap().as_nanos();
                    assert_eq!(
                        got, walked,
                        "base {base}, cap {cap:?}, seed {seed}, {attempt}"
                    );
                }
            }
        }
    }
}

#[test]
fn draws_that_ignore_the_previous_wait_come_often() {
    // How many draws in a row the unbounded chain goes without one whose result would be the
    // same from the top: the bounded replay needs one among the last REPLAY_LIMIT.
    for (base, cap) in DECORRELATED {
        let b = decorrelated(base, cap);
        let top = if base == 0 { 0 } else { b.cap };
        let mut longest = 0;
        for seed in 0..20u64 {
            let mut prev = base;
            let mut since = 0u32;
            for index in 0..20_000u64 {
                let bits = draw(seed, index);
                let next = decorrelated_step(bits, base, prev, b.cap);
                let from_top = decorrelated_step(bits, base, top, b.cap);
                since = if next == from_top { 0 } else { since + 1 };
                // Only waits from REPLAY_LIMIT on are replayed, but a run still open there
                // counts whole, the first climb from `base` included.
                if index >= u64::from(LIMIT) {
                    longest = longest.max(since);
                }
                prev = next;
            }
        }
        assert!(
            longest < LIMIT / 2,
            "base {base}, cap {cap:?}: {longest} draws in a row"
        );
    }
}

#[test]
fn retrying_follows_delay_past_the_limit() {
    let backoffs = [
        exponential(1, SLOW[0], None, Jitter::Full),
        exponential(1_000_000, 1.001, Some(1 << 50), Jitter::Equal),
        exponential(3, 1.0001, None, Jitter::None),
        exponential(1_000, 2.0, Some(60_000_000_000), Jitter::None),
        decorrelated(100_000_000, Some(10_000_000_000)),
        decorrelated(1, None),
        decorrelated(0, Some(5)),
    ];
    for b in backoffs {
        for seed in [7u64, u64::MAX] {
            let mut r = b.start(seed, Nanos::ZERO);
            for attempt in 0..2 * LIMIT + 300 {
                let step = r.next_delay(&b, Nanos::ZERO, None).ok();
                let checked = attempt < 20
                    || attempt % 131 == 0
                    || (LIMIT - 2..LIMIT + 20).contains(&attempt)
                    || (2 * LIMIT - 2..2 * LIMIT + 2).contains(&attempt);
                if checked {
                    assert_eq!(step, b.delay(attempt, seed), "{:?} at {attempt}", b.kind);
                }
            }
        }
    }
}
