//! The pure part of the token bucket: GCRA decisions on a theoretical arrival time, and the
//! two-word encoding of that time. No atomics here, so every rule is testable on plain values.
//!
//! Time is kept in *scaled units* of `1 / amount` nanoseconds, where `amount / every` is the
//! refill rate in lowest terms. One token then costs exactly `every` units and a burst of
//! `capacity` tokens exactly `capacity × every` units: no emission interval is ever rounded.
//! Scaled times need up to 97 bits, so all arithmetic is `u128` (saturating, though no valid
//! input comes near the limit).

use crate::{Nanos, Reason, Rejected};

/// Bits of the theoretical arrival time (TAT) kept whole in the CAS word.
pub(crate) const LOW_BITS: u32 = 40;
/// Bits of the TAT's high part repeated in the CAS word as a tag, to find the high part again.
const TAG_BITS: u32 = 15;
const LOW_MASK: u64 = (1 << LOW_BITS) - 1;
const TAG_MASK: u64 = (1 << TAG_BITS) - 1;
/// Keyed limiter only: the slot was just claimed and its key may not be published yet.
pub(crate) const PENDING: u64 = 1 << (LOW_BITS + TAG_BITS);
/// Keyed limiter only: the top byte names the slot's owner (a fingerprint of its key).
pub(crate) const OWNER_SHIFT: u32 = 56;
/// The bits of the CAS word that encode the TAT.
pub(crate) const TAT_BITS: u64 = (1 << (LOW_BITS + TAG_BITS)) - 1;

/// Splits a TAT into its CAS-word bits (tag and low part) and its high part.
pub(crate) const fn encode(tat: u128) -> (u64, u64) {
    let high = tat >> LOW_BITS;
    // A TAT stays below 2^99 (see `Gcra::decide`), so the high part always fits; saturating
    // keeps even a corrupt value from wrapping to a small (generous) one.
    let high = if high > u64::MAX as u128 {
        u64::MAX
    } else {
        high as u64
    };
    let low = (tat as u64) & LOW_MASK;
    (((high & TAG_MASK) << LOW_BITS) | low, high)
}

/// The TAT encoded in `word`, given `high`, a value at least the TAT's high part.
///
/// The high part is the largest value `<= high` whose low bits equal the tag. It is exact
/// while `high` exceeds the true high part by less than `2^TAG_BITS`; otherwise the result is
/// larger than the truth by a multiple of `2^(LOW_BITS + TAG_BITS)`, never smaller.
pub(crate) const fn decode(word: u64, high: u64) -> u128 {
    let tag = (word >> LOW_BITS) & TAG_MASK;
    // Only the low TAG_BITS bits of the difference matter, so wrapping is right here.
    let behind = high.wrapping_sub(tag) & TAG_MASK;
    let high = high.saturating_sub(behind);
    ((high as u128) << LOW_BITS) | (word & LOW_MASK) as u128
}

/// The TAT encoded in `word`, as [`decode`], when `high` carries the tag and the TAT is below
/// `2^64`; `None` otherwise.
///
/// The high word carries the tag whenever it is the TAT's high part, which it is except after
/// a caller raised it and then lost its CAS, until a grant reaches the raised part. With the
/// tag in place `decode` steps back by nothing, so this skips its subtraction: the TAT is then
/// two bit operations away from the loads, which is what the fast path wants.
#[inline]
const fn decode_u64(word: u64, high: u64) -> Option<u64> {
    if ((word >> LOW_BITS) ^ high) & TAG_MASK != 0 || high >> (u64::BITS - LOW_BITS) != 0 {
        return None;
    }
    Some((high << LOW_BITS) | (word & LOW_MASK))
}

/// [`encode`] for a TAT below `2^64`.
#[inline]
pub(crate) const fn encode_u64(tat: u64) -> (u64, u64) {
    let high = tat >> LOW_BITS;
    (((high & TAG_MASK) << LOW_BITS) | (tat & LOW_MASK), high)
}

/// A request for `n` tokens at `now`, worked out in `u64` before the state is read, for the
/// common case: it passes at once and every number fits 64 bits.
///
/// It exists to keep the time between a caller's load of the CAS word and its CAS short (a
/// longer window means more failed CASes under contention): everything that does not depend on
/// the state is computed here, before the load, and what is left, [`Admit::tat`], is a decode,
/// a `max`, an add and a compare. Whatever it cannot decide goes to [`Gcra::decide`], and
/// whatever it does decide is exactly what `decide` would have: see `Admit::tat`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Admit {
    /// `now` in scaled units.
    now_units: u64,
    /// `n` tokens in scaled units.
    cost: u64,
    /// `now_units + tolerance`, saturating: the latest new TAT that passes at once.
    limit: u64,
}

impl Admit {
    /// The new TAT if the request passes at once on the state (`word`, `high`), or `None` if
    /// [`Gcra::decide`] must decide: the request waits or is refused, the TAT does not fit
    /// 64 bits, or `high` does not carry the tag (see `decode_u64`).
    ///
    /// When it returns a TAT, `decide` on the same state returns `ready_at: now` and the same
    /// TAT. `decide` passes at once when `max(TAT, now_units) + cost <= now_units + tolerance`
    /// in exact arithmetic, and then sets that left side as the new TAT. Here the TAT and the
    /// left side are checked to fit 64 bits, so they are exact; the right side saturates at
    /// `u64::MAX`, which changes the comparison only when the exact sum is beyond `u64::MAX`,
    /// and then a left side that fits is below it either way.
    #[inline]
    pub(crate) const fn tat(self, word: u64, high: u64) -> Option<u64> {
        let Some(tat) = decode_u64(word, high) else {
            return None;
        };
        let base = if tat > self.now_units {
            tat
        } else {
            self.now_units
        };
        match base.checked_add(self.cost) {
            Some(raised) if raised <= self.limit => Some(raised),
            _ => None,
        }
    }
}

/// What a granted request gives: when to proceed, and the new TAT if it changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Grant {
    pub(crate) ready_at: Nanos,
    pub(crate) tat: Option<u128>,
}

/// A token bucket's rate and burst, the rate in lowest terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Gcra {
    /// Nanoseconds per `amount` tokens; also the cost of one token in scaled units.
    every: u64,
    /// Tokens per `every` nanoseconds; also the scaled units in one nanosecond.
    amount: u32,
    capacity: u32,
}

const fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        let rest = match a.checked_rem(b) {
            Some(rest) => rest,
            None => 0,
        };
        a = b;
        b = rest;
    }
    a
}

impl Gcra {
    /// The parameters of a config, reduced to lowest terms. Zero fields (which `validate`
    /// refuses) become one, so the arithmetic below never divides by zero.
    pub(crate) const fn new(capacity: u32, amount: u32, every: Nanos) -> Gcra {
        let amount = if amount == 0 { 1 } else { amount as u64 };
        let every = if every.as_nanos() == 0 {
            1
        } else {
            every.as_nanos()
        };
        let divisor = gcd(amount, every);
        let (amount, every) = match (amount.checked_div(divisor), every.checked_div(divisor)) {
            (Some(a), Some(e)) => (a, e),
            _ => (amount, every),
        };
        Gcra {
            every,
            amount: amount as u32,
            capacity: if capacity == 0 { 1 } else { capacity },
        }
    }

    pub(crate) const fn capacity(self) -> u32 {
        self.capacity
    }

    /// The refill amount in lowest terms.
    pub(crate) const fn amount(self) -> u32 {
        self.amount
    }

    /// The refill period in lowest terms.
    pub(crate) const fn every(self) -> Nanos {
        Nanos::new(self.every)
    }

    fn scaled(self, t: Nanos) -> u128 {
        (t.as_nanos() as u128).saturating_mul(self.amount as u128)
    }

    fn cost(self, n: u32) -> u128 {
        (n as u128).saturating_mul(self.every as u128)
    }

    /// How far the TAT may run ahead of now: a full burst.
    fn tolerance(self) -> u128 {
        self.cost(self.capacity)
    }

    /// The first whole nanosecond at or after scaled time `units`.
    fn ceil_nanos(self, units: u128) -> u128 {
        #[cfg(target_pointer_width = "64")]
        let (whole, rest) = {
            let amount = self.amount as u128;
            match (units.checked_div(amount), units.checked_rem(amount)) {
                (Some(whole), Some(rest)) => (whole, rest as u64),
                _ => return units,
            }
        };
        #[cfg(not(target_pointer_width = "64"))]
        let Some((whole, rest)) = div_rem_u32(units, self.amount) else {
            return units;
        };
        if rest == 0 {
            whole
        } else {
            whole.saturating_add(1)
        }
    }

    /// Whether the bucket is full at `now`: then its TAT no longer matters, and a keyed
    /// limiter may give its slot to another key.
    pub(crate) fn is_full(self, tat: u128, now: Nanos) -> bool {
        tat <= self.scaled(now)
    }

    /// When the bucket is full again (`now` if it already is), unbounded.
    pub(crate) fn full_at(self, tat: u128, now: Nanos) -> u128 {
        self.ceil_nanos(tat).max(now.as_nanos() as u128)
    }

    /// The fast form of a request for `n` tokens at `now` (see [`Admit`]), or `None` when
    /// [`Gcra::decide`] must take it: `n == 0`, `n > capacity`, or scaled times beyond 64 bits.
    #[inline]
    pub(crate) const fn admit(self, n: u32, now: Nanos) -> Option<Admit> {
        if n == 0 || n > self.capacity {
            return None;
        }
        // A whole number of nanoseconds per token (`amount == 1`) is the common rate, and there
        // `now` already is in scaled units: skipping the multiply takes it off the path from the
        // caller's clock read to the CAS.
        let now_units = if self.amount == 1 {
            now.as_nanos()
        } else {
            match now.as_nanos().checked_mul(self.amount as u64) {
                Some(units) => units,
                None => return None,
            }
        };
        let Some(tolerance) = (self.capacity as u64).checked_mul(self.every) else {
            return None;
        };
        // n <= capacity, so the cost is at most the tolerance, which fits.
        let cost = (n as u64).saturating_mul(self.every);
        Some(Admit {
            now_units,
            cost,
            limit: now_units.saturating_add(tolerance),
        })
    }

    /// The GCRA decision for `n` tokens at `now`, waiting at most `max_wait`.
    ///
    /// The TAT is when the bucket would be full again; a request for `n` tokens moves it
    /// `n × every` units past `max(TAT, now)` and is ready once the new TAT is within one
    /// burst of the clock. A request that must wait also leaves the bucket holding at most
    /// `capacity - n` tokens at its `ready_at`: this costs only a fraction of a token, and only
    /// when `n == capacity` on a rate that does not divide whole nanoseconds, and it keeps
    /// "granted ≤ capacity + rate × t" true of the `ready_at` times, which are whole
    /// nanoseconds.
    pub(crate) fn decide(
        self,
        tat: u128,
        n: u32,
        now: Nanos,
        max_wait: Nanos,
    ) -> Result<Grant, Rejected> {
        if n == 0 {
            return Ok(Grant {
                ready_at: now,
                tat: None,
            });
        }
        if n > self.capacity {
            return Err(Rejected::new(Reason::InsufficientCapacity, None));
        }
        let now_units = self.scaled(now);
        let cost = self.cost(n);
        let tolerance = self.tolerance();
        let raised = tat.max(now_units).saturating_add(cost);
        let ready_at = if raised <= now_units.saturating_add(tolerance) {
            now.as_nanos() as u128
        } else {
            // raised - tolerance > now_units, so this is at least now + 1.
            self.ceil_nanos(raised.saturating_sub(tolerance))
        };
        if ready_at > u64::MAX as u128 {
            // Ready only after the end of representable time: waiting cannot help.
            return Err(Rejected::new(Reason::RateLimited, None));
        }
        let wait = ready_at.saturating_sub(now.as_nanos() as u128);
        if wait > max_wait.as_nanos() as u128 {
            // A refusal means the TAT is ahead of the clock. Advanced by the excess, either it
            // still is, and `ready_at` is unchanged so the wait is exactly `max_wait`, or the
            // bucket has filled and there is no wait at all. No shorter advance works: before
            // the TAT is reached `ready_at` stays put, and since `cost <= tolerance` the excess
            // ends no later than the TAT.
            let excess = wait.saturating_sub(max_wait.as_nanos() as u128);
            return Err(Rejected::new(
                Reason::RateLimited,
                Some(Nanos::new(excess as u64)),
            ));
        }
        let ready = Nanos::new(ready_at as u64);
        let tat = if ready_at > now.as_nanos() as u128 {
            raised.max(self.scaled(ready).saturating_add(cost))
        } else {
            raised
        };
        // tat <= max(old TAT, now) + tolerance and ready_at < 2^64, so the TAT stays below
        // 2^64 × 2^32 + 2 × 2^96 < 2^99 however calls are ordered.
        Ok(Grant {
            ready_at: ready,
            tat: Some(tat),
        })
    }

    /// [`Gcra::decide`] for a request at `now` on a bucket whose newest grant was at `seen`.
    ///
    /// A `now` older than `seen` counts as no time passed: the request is decided at `seen`.
    /// What it reports counts from the `now` given, as deadlines do: a grant's wait (the time
    /// from `seen` to its ready time) runs from `now`, and a refusal's `retry_after` is how
    /// long from `now` until the same request would pass, which, for a clock behind `seen`,
    /// includes the time it takes that clock to reach `seen`.
    pub(crate) fn decide_seen(
        self,
        tat: u128,
        n: u32,
        now: Nanos,
        seen: Nanos,
        max_wait: Nanos,
    ) -> Result<Grant, Rejected> {
        let at = now.max(seen);
        let behind = at.saturating_sub(now);
        match self.decide(tat, n, at, max_wait) {
            // `ready_at >= at`, so this is at least `now`.
            Ok(grant) => Ok(Grant {
                ready_at: grant.ready_at.saturating_sub(behind),
                tat: grant.tat,
            }),
            // The wait ends by `u64::MAX`, so adding `behind` does not saturate.
            Err(refused) => Err(Rejected::new(
                refused.reason,
                refused
                    .retry_after
                    .map(|after| after.saturating_add(behind)),
            )),
        }
    }

    /// Whole tokens available at `now`: `0..=capacity`.
    pub(crate) fn available(self, tat: u128, now: Nanos) -> u64 {
        let now_units = self.scaled(now);
        let room = now_units
            .saturating_add(self.tolerance())
            .saturating_sub(tat.max(now_units));
        let tokens = room.checked_div(self.every as u128).unwrap_or_default();
        tokens.min(self.capacity as u128) as u64
    }

    /// When `available` next grows, or `None` if the bucket is full at `now`.
    pub(crate) fn next_token_at(self, tat: u128, now: Nanos) -> Option<Nanos> {
        let available = self.available(tat, now);
        if available >= self.capacity as u64 {
            return None;
        }
        // Not full, so tat > now: the next token arrives when tat - now fits one more.
        let needed = tat
            .saturating_add(self.cost((available as u32).saturating_add(1)))
            .saturating_sub(self.tolerance());
        Some(saturate(self.ceil_nanos(needed)))
    }
}

/// `n / divisor` and `n % divisor` (`None` for a zero divisor), in four 64-by-32-bit steps.
///
/// Exact, as the `u128` operators are. It serves 32-bit targets, where a `u128` division is
/// expanded inline into a bit-by-bit loop several times the size of these steps, which share
/// the runtime's `u64` division with the rest of the crate.
#[cfg_attr(target_pointer_width = "64", allow(dead_code))]
const fn div_rem_u32(n: u128, divisor: u32) -> Option<(u128, u64)> {
    if divisor == 0 {
        return None;
    }
    let divisor = divisor as u64;
    let mut quotient = 0u128;
    let mut rest = 0u64;
    let mut shift = 128u32;
    while shift > 0 {
        shift = shift.wrapping_sub(32);
        // rest < divisor < 2^32, so `part` fits and `part / divisor` is below 2^32. The
        // divisor is not zero, so the checked operations always give a value.
        let part = (rest << 32) | ((n >> shift) as u32 as u64);
        let (Some(digit), Some(left)) = (part.checked_div(divisor), part.checked_rem(divisor))
        else {
            return None;
        };
        quotient |= (digit as u128) << shift;
        rest = left;
    }
    Some((quotient, rest))
}

/// A nanosecond count as `Nanos`, saturating at `Nanos::MAX`.
pub(crate) fn saturate(nanos: u128) -> Nanos {
    if nanos > u64::MAX as u128 {
        Nanos::MAX
    } else {
        Nanos::new(nanos as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_round_trips_with_the_exact_high_part() {
        for tat in [
            0u128,
            1,
            LOW_MASK as u128,
            1 << 40,
            (1 << 97) + 12345,
            7 << 60,
        ] {
            let (word, high) = encode(tat);
            assert_eq!(word & !TAT_BITS, 0);
            assert_eq!(decode(word, high), tat);
        }
    }

    #[test]
    fn decoding_with_a_raised_high_part_never_underestimates() {
        let tat: u128 = (123_456 << 40) | 99;
        let (word, high) = encode(tat);
        for ahead in [0u64, 1, 2, 1000, (1 << 15) - 1] {
            assert_eq!(decode(word, high + ahead), tat, "ahead by {ahead}");
        }
        for ahead in [1u64 << 15, (1 << 15) + 1, 1 << 20, 1 << 40] {
            let decoded = decode(word, high + ahead);
            assert!(decoded > tat);
            assert_eq!((decoded - tat) % (1 << 55), 0);
            assert!(decoded >> 40 <= (high + ahead) as u128);
        }
    }

    #[test]
    fn fresh_state_is_full() {
        let gcra = Gcra::new(3, 1, Nanos::from_secs(1));
        assert_eq!(decode(0, 0), 0);
        assert!(gcra.is_full(0, Nanos::ZERO));
        assert_eq!(gcra.available(0, Nanos::ZERO), 3);
    }

    /// Edge values of a 64-bit quantity, then pseudo-random ones of every magnitude.
    fn values(seed: u64, count: u64) -> impl Iterator<Item = u64> {
        let edges = [
            0,
            1,
            2,
            LOW_MASK - 1,
            LOW_MASK,
            LOW_MASK + 1,
            (1 << 55) - 1,
            1 << 55,
            (1 << 63) - 1,
            1 << 63,
            u64::MAX - 1,
            u64::MAX,
        ];
        let random = (0..count).map(move |i| {
            let bits = crate::rng::draw(seed, i);
            bits >> (crate::rng::draw(seed ^ 1, i) % 64)
        });
        edges.into_iter().chain(random)
    }

    #[test]
    fn the_fast_admission_agrees_with_the_exact_decision() {
        let configs = [
            (1, 1, 1),
            (u32::MAX, 1_000_000_000, 1_000_000_000),
            (10, 1, 3_000_000_000),
            (3, 7, 10),
            (5, 1 << 20, 1 << 40),
            (u32::MAX, 1, u64::MAX),
            (2, u32::MAX, u64::MAX),
        ];
        let mut fast = 0u64;
        for (seed, (capacity, amount, every)) in (0u64..).zip(configs) {
            let gcra = Gcra::new(capacity, amount, Nanos::new(every));
            for now in values(seed, 40) {
                let now = Nanos::new(now);
                for n in [0, 1, 2, capacity / 2, capacity, capacity.saturating_add(1)] {
                    let Some(admit) = gcra.admit(n, now) else {
                        assert!(
                            n == 0
                                || n > capacity
                                || gcra.scaled(now) > u64::MAX as u128
                                || gcra.tolerance() > u64::MAX as u128
                        );
                        continue;
                    };
                    // TATs around `now` (where decisions change) and anywhere at all.
                    let around = (0..40).map(|i| {
                        let offset = crate::rng::draw(seed ^ 7, i) >> (i % 64);
                        let scaled = gcra.scaled(now);
                        if i % 2 == 0 {
                            scaled.saturating_add(offset as u128)
                        } else {
                            scaled.saturating_sub(offset as u128)
                        }
                    });
                    let anywhere = values(seed ^ 3, 20).map(|t| (t as u128) << (t % 40));
                    for tat in around.chain(anywhere) {
                        let (word, high) = encode(tat);
                        for raised_by in [0, 1, 1000, 1 << 15] {
                            let high = high.saturating_add(raised_by);
                            let exact = decode(word, high);
                            let got = admit.tat(word, high);
                            for max_wait in [Nanos::ZERO, Nanos::MAX] {
                                let decided = gcra.decide(exact, n, now, max_wait);
                                match got {
                                    Some(tat) => {
                                        fast += 1;
                                        assert_eq!(
                                            decided,
                                            Ok(Grant {
                                                ready_at: now,
                                                tat: Some(tat as u128),
                                            })
                                        );
                                        assert_eq!(encode_u64(tat), encode(tat as u128));
                                    }
                                    // Left to `decide` only when it waits or refuses, the
                                    // high word is not the high part, or 64 bits are short.
                                    None => assert!(
                                        exact > u64::MAX as u128
                                            || (raised_by % (1 << 15)) != 0
                                            || !matches!(
                                                decided,
                                                Ok(Grant { ready_at, tat: Some(tat) })
                                                    if ready_at == now && tat <= u64::MAX as u128
                                            ),
                                        "{decided:?}"
                                    ),
                                }
                            }
                        }
                    }
                }
            }
        }
        assert!(fast > 10_000, "too few fast admissions checked: {fast}");
    }

    #[test]
    fn the_division_in_32_bit_steps_is_the_u128_division() {
        let numerators = values(11, 200).flat_map(|v| {
            [
                v as u128,
                (v as u128) << 35,
                (v as u128) << 64,
                u128::MAX - v as u128,
            ]
        });
        for n in numerators {
            for divisor in [1u32, 2, 3, 7, 1 << 31, u32::MAX - 1, u32::MAX]
                .into_iter()
                .chain(values(12, 20).map(|v| v as u32))
            {
                if divisor == 0 {
                    assert_eq!(div_rem_u32(n, 0), None);
                    continue;
                }
                let d = divisor as u128;
                assert_eq!(
                    div_rem_u32(n, divisor),
                    Some((n / d, (n % d) as u64)),
                    "{n} / {divisor}"
                );
            }
        }
    }

    #[test]
    fn an_older_now_is_decided_at_the_newest_grant_and_reported_from_itself() {
        let gcra = Gcra::new(3, 7, Nanos::new(10));
        let mut refusals = 0;
        for tat in [0u128, 5, 70, 100, 140, 333, 1000] {
            for seen in [0u64, 10, 20, 100] {
                for now in [0u64, 5, 10, 19, 20, 21, 99, 150] {
                    for n in [0, 1, 2, 3, 4] {
                        for max_wait in [0u64, 3, 50] {
                            let (now, seen) = (Nanos::new(now), Nanos::new(seen));
                            let max_wait = Nanos::new(max_wait);
                            let got = gcra.decide_seen(tat, n, now, seen, max_wait);
                            if now >= seen {
                                assert_eq!(got, gcra.decide(tat, n, now, max_wait));
                            }
                            match got {
                                Ok(grant) => {
                                    assert!(grant.ready_at >= now);
                                    assert!(grant.ready_at - now <= max_wait);
                                    // Decided as at `seen`: the same TAT as a request there.
                                    let there = gcra.decide(tat, n, now.max(seen), max_wait);
                                    assert_eq!(there.map(|grant| grant.tat), Ok(grant.tat));
                                }
                                Err(Rejected {
                                    retry_after: Some(after),
                                    ..
                                }) => {
                                    refusals += 1;
                                    // The same request passes `retry_after` after `now`, and
                                    // not a nanosecond sooner.
                                    let then = now + after;
                                    assert!(gcra.decide_seen(tat, n, then, seen, max_wait).is_ok());
                                    let sooner = then - Nanos::new(1);
                                    let sooner = gcra.decide_seen(tat, n, sooner, seen, max_wait);
                                    assert!(sooner.is_err());
                                }
                                Err(refused) => {
                                    assert_eq!(refused.reason, Reason::InsufficientCapacity)
                                }
                            }
                        }
                    }
                }
            }
        }
        assert!(refusals > 100, "{refusals}");
    }

    #[test]
    fn rate_is_reduced_to_lowest_terms() {
        let gcra = Gcra::new(1, 1_000_000_000, Nanos::from_secs(1));
        assert_eq!((gcra.amount(), gcra.every()), (1, Nanos::new(1)));
        let gcra = Gcra::new(1, 14, Nanos::new(20));
        assert_eq!((gcra.amount(), gcra.every()), (7, Nanos::new(10)));
    }
}
