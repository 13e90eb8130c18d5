//! The breaker's state word and the pure decisions that change it.
//!
//! One `u64` holds everything a transition must change at once: the mode, the generation, the
//! probes in flight and the half-open successes. Each operation reads it, asks a pure function
//! here what to do, and applies the answer with one compare-and-swap, so the decisions can be
//! tested without threads and the probe bound holds under any interleaving.
//!
//! Layout: bits 0..3 mode, bit 3 `pending`, 4..32 generation (wraps after 2^28 transitions),
//! 32..48 probes in flight, 48..64 half-open successes. The all-zero word is a fresh closed
//! breaker.
//!
//! **Deadlines.** The deadline word beside this one (`open_until`, or the probe lease) is
//! written only by the thread whose compare-and-swap set `pending`, and only after that CAS;
//! `pending` is cleared by the same thread once the deadline is stored. So a thread that lost
//! a CAS never writes a deadline, and no deadline outlives the transition it belongs to. While
//! `pending` is set, the deadline word is not yet this state's: the decisions here take it as
//! unknown (`None`) and answer conservatively (an open breaker refuses, a lease is not
//! overdue), and a transition that needs a new deadline leaves it to that same thread, which
//! computes it for whatever state it finds before it clears `pending`.
//!
//! **Wrapping.** A permit is stale when its generation differs from the word's, so a permit
//! could pass as current only if exactly a multiple of 2^28 transitions happened while its
//! call ran. Every cycle through open takes at least one open period, and overrides are
//! operator actions, so that takes years of continuous transitions, not one call.

use super::settings::Settings;
use crate::{rng, Nanos, Reason, Rejected};

/// The state of a circuit breaker.
///
/// The numeric values are stable: bindings and the C ABI expose them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum State {
    /// Calls pass; outcomes are counted.
    Closed = 0,
    /// Calls are refused until the open period ends.
    Open = 1,
    /// A bounded number of probe calls test whether the dependency recovered.
    HalfOpen = 2,
    /// Refuses every call until an operator resets it.
    ForcedOpen = 3,
    /// Admits every call and keeps counting, but never trips, until an operator resets it.
    Disabled = 4,
}

impl State {
    /// A short, stable, lower-case name (`"half_open"`), as used in conformance vectors.
    ///
    /// ```
    /// assert_eq!(stanchion::breaker::State::HalfOpen.as_str(), "half_open");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            State::Closed => "closed",
            State::Open => "open",
            State::HalfOpen => "half_open",
            State::ForcedOpen => "forced_open",
            State::Disabled => "disabled",
        }
    }

    const fn from_bits(bits: u64) -> State {
        match bits {
            1 => State::Open,
            2 => State::HalfOpen,
            3 => State::ForcedOpen,
            4 => State::Disabled,
            _ => State::Closed,
        }
    }
}

impl core::fmt::Display for State {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A change of state, returned exactly once, to the caller whose operation caused it.
///
/// ```
/// use stanchion::breaker::{State, Transition};
/// let t = Transition { from: State::Closed, to: State::Open };
/// assert_eq!(t.to_string(), "closed -> open");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Transition {
    /// The state before.
    pub from: State,
    /// The state after.
    pub to: State,
}

impl core::fmt::Display for Transition {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} -> {}", self.from, self.to)
    }
}

/// How a call ended, as the caller classifies it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Outcome {
    /// The call worked.
    Success = 0,
    /// The call failed in a way that counts against the dependency.
    Failure = 1,
    /// Neither: not counted, does not break a failure streak, frees a probe slot.
    Ignored = 2,
}

const MODE_BITS: u32 = 3;
const PENDING_BIT: u64 = 1 << MODE_BITS;
const GENERATION_SHIFT: u32 = MODE_BITS + 1;
const GENERATION_MASK: u64 = (1 << 28) - 1;

/// The state word, unpacked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Word {
    pub state: State,
    /// A deadline for this state is still being stored (see the module docs).
    pub pending: bool,
    pub generation: u32,
    pub probes: u16,
    pub successes: u16,
}

impl Word {
    #[inline]
    pub(crate) const fn unpack(w: u64) -> Word {
        Word {
            state: State::from_bits(w & ((1 << MODE_BITS) - 1)),
            pending: w & PENDING_BIT != 0,
            generation: ((w >> GENERATION_SHIFT) & GENERATION_MASK) as u32,
            probes: (w >> 32) as u16,
            successes: (w >> 48) as u16,
        }
    }

    #[inline]
    pub(crate) const fn pack(self) -> u64 {
        self.state as u64
            | if self.pending { PENDING_BIT } else { 0 }
            | ((self.generation as u64 & GENERATION_MASK) << GENERATION_SHIFT)
            | (self.probes as u64) << 32
            | (self.successes as u64) << 48
    }

    /// The first word of the next generation in `state`: no probes, no successes.
    pub(crate) const fn next(self, state: State) -> Word {
        Word {
            state,
            pending: self.pending,
            generation: self.generation.wrapping_add(1) & GENERATION_MASK as u32,
            probes: 0,
            successes: 0,
        }
    }

    const fn with_probes(self, probes: u16) -> Word {
        Word { probes, ..self }
    }
}

/// What an operation should do: CAS the word to `next`, then publish `until` as its deadline
/// (see the module docs), answer `answer`, report `transition`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Plan<T> {
    pub next: Option<Word>,
    /// The deadline `next` needs, counted from the `now` of the operation.
    pub until: Option<u64>,
    pub answer: T,
    pub transition: Option<Transition>,
}

impl<T> Plan<T> {
    const fn keep(answer: T) -> Plan<T> {
        Plan {
            next: None,
            until: None,
            answer,
            transition: None,
        }
    }

    /// True when the plan opens the breaker (a trip, a failed or lost probe).
    pub(crate) fn opens(&self) -> bool {
        matches!(
            self.transition,
            Some(Transition {
                to: State::Open,
                ..
            })
        )
    }

    /// True when the plan closes the breaker after recovery.
    pub(crate) fn closes(&self) -> bool {
        matches!(
            self.transition,
            Some(Transition {
                from: State::HalfOpen,
                to: State::Closed
            })
        )
    }
}

/// `⌊value · q16 / 2^16⌋`, saturated at `u64::MAX`, in 64-bit arithmetic (128-bit products
/// cost more flash on 32-bit cores).
fn mul_q16(value: u64, q16: u32) -> u64 {
    let q16 = u64::from(q16);
    // value · q16 = high · q16 · 2^32 + low · q16, and the first term is a multiple of 2^16.
    let high = (value >> 32).wrapping_mul(q16); // < 2^64
    let low = (value & 0xffff_ffff).wrapping_mul(q16) >> 16; // < 2^48
    if high >> 48 != 0 {
        return u64::MAX;
    }
    (high << 16).saturating_add(low)
}

/// Trips in a row that grow the open period: past this many, it stays as the last one grew it.
/// A period that doubles reaches any cap within 64 trips; only a factor barely above 1 grows for
/// longer, and this keeps the cost of a trip bounded (at most this many multiplies) whatever
/// the count of trips, which is otherwise unbounded.
pub(crate) const MAX_GROWTH_TRIPS: u32 = 4096;

/// The open period after `trips` trips in a row (1 for the first), entered as `generation`.
///
/// Grows by the factor per trip up to `open_for_max` (for at most [`MAX_GROWTH_TRIPS`] trips),
/// then is shortened by a random share of up to `jitter` of itself, drawn from the seed and the
/// generation so a replay gives the same periods.
pub(crate) fn open_period(s: &Settings, trips: u32, generation: u32) -> u64 {
    let mut period = s.open_for.min(s.open_for_max);
    let growing = s.factor_q16 > 1 << 16;
    let mut grown = 1u32;
    while growing && grown < trips.min(MAX_GROWTH_TRIPS) && period < s.open_for_max {
        let next = mul_q16(period, s.factor_q16).min(s.open_for_max);
        if next == period {
            // Too short for the factor to add a whole nanosecond: it never will.
            break;
        }
        period = next;
        grown = grown.saturating_add(1);
    }
    if s.jitter_q16 == 0 {
        return period;
    }
    let most = mul_q16(period, u32::from(s.jitter_q16));
    let cut = rng::uniform(rng::draw(s.seed, u64::from(generation)), 0, most);
    period.saturating_sub(cut)
}

/// Opening: the next generation, open until `now` plus the open period for one more trip.
pub(crate) fn plan_open<T>(w: Word, now: u64, s: &Settings, trips: u32, answer: T) -> Plan<T> {
    let next = w.next(State::Open);
    let period = open_period(s, trips.saturating_add(1), next.generation);
    Plan {
        next: Some(next),
        until: Some(now.saturating_add(period)),
        answer,
        transition: Some(Transition {
            from: w.state,
            to: State::Open,
        }),
    }
}

/// Is a half-open probe lease overdue? Only while probes are out, and only by a deadline in
/// force: one still being stored is not overdue. A deadline that saturated at the end of time
/// never comes.
const fn lease_expired(w: Word, until: Option<u64>, now: u64) -> bool {
    match until {
        Some(until) => {
            matches!(w.state, State::HalfOpen) && w.probes > 0 && now >= until && until != u64::MAX
        }
        None => false,
    }
}

/// The probes a report concerns: when its own lease ends, and when the lease of the newest
/// probe admitted ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Leases {
    pub reporter: u64,
    pub newest: u64,
}

/// Whether a probe's report counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Report {
    /// The probe reported within its lease: its outcome counts.
    Counted,
    /// Its lease had run out first: the probe was already taken for lost.
    Stale,
}

/// `try_acquire`: admit (answer `Ok(())`) or refuse, and whether the state moves. `until` is
/// the deadline in force, `None` while it is still being stored.
pub(crate) fn decide_acquire(
    w: Word,
    until: Option<u64>,
    now: u64,
    s: &Settings,
    trips: u32,
) -> Plan<Result<(), Rejected>> {
    match (w.state, until) {
        (State::Closed | State::Disabled, _) => Plan::keep(Ok(())),
        (State::ForcedOpen, _) => Plan::keep(Err(Rejected::new(Reason::ForcedOpen, None))),
        (State::Open, Some(until)) if now >= until => Plan {
            next: Some(w.next(State::HalfOpen).with_probes(1)),
            until: Some(now.saturating_add(s.probe_timeout)),
            answer: Ok(()),
            transition: Some(Transition {
                from: State::Open,
                to: State::HalfOpen,
            }),
        },
        (State::Open, Some(until)) => Plan::keep(Err(refused_open(until, now))),
        // Just opened by another thread, whose period starts about now.
        (State::Open, None) => Plan::keep(Err(refused_open(
            now.saturating_add(open_period(s, trips.max(1), w.generation)),
            now,
        ))),
        (State::HalfOpen, _) if lease_expired(w, until, now) => {
            let mut plan = plan_open(w, now, s, trips, Ok(()));
            let open_until = plan.until.unwrap_or(now);
            plan.answer = Err(refused_open(open_until, now));
            plan
        }
        (State::HalfOpen, _) if w.probes < s.half_open_probes => Plan {
            next: Some(w.with_probes(w.probes.saturating_add(1))),
            // The deadline in force is the earliest lease out: the first probe's, unless a
            // `now` from the past gives this one an earlier end.
            until: {
                let lease = now.saturating_add(s.probe_timeout);
                match until {
                    Some(until) if w.probes != 0 && lease >= until => None,
                    _ => Some(lease),
                }
            },
            answer: Ok(()),
            transition: None,
        },
        (State::HalfOpen, _) => Plan::keep(Err(Rejected::new(
            Reason::HalfOpenFull,
            Some(Nanos::new(match until {
                Some(until) => until.saturating_sub(now),
                None => s.probe_timeout,
            })),
        ))),
    }
}

pub(crate) fn refused_open(until: u64, now: u64) -> Rejected {
    Rejected::new(
        Reason::BreakerOpen,
        Some(Nanos::new(until.saturating_sub(now))),
    )
}

/// What a record or release from a permit of the current half-open generation does.
/// The answer says whether the report counts ([`Report::Stale`] when an overdue lease made it
/// stale: the probe was already taken for lost).
///
/// The lease deadline in the word's partner is the oldest probe's. When that probe reports and
/// others are still out, the next oldest is unknown (there is no per-probe storage), so the
/// deadline moves to the newest probe's: exact with up to two probes out, never earlier than
/// the true deadline with more, so a healthy probe is never taken for a lost one.
pub(crate) fn decide_probe_report(
    w: Word,
    until: Option<u64>,
    now: u64,
    s: &Settings,
    trips: u32,
    outcome: Option<super::Outcome>,
    leases: Leases,
) -> Plan<Report> {
    use super::Outcome;
    if lease_expired(w, until, now) {
        return plan_open(w, now, s, trips, Report::Stale);
    }
    let freed = w.with_probes(w.probes.saturating_sub(1));
    // The reporter held the deadline in force: it was the oldest probe out (or tied with it).
    // While that deadline is still being stored, the thread storing it recomputes it anyway.
    let oldest_reported = freed.probes > 0 && until.is_none_or(|until| leases.reporter == until);
    let next_until = if oldest_reported {
        Some(leases.newest)
    } else {
        None
    };
    match outcome {
        Some(Outcome::Failure) => plan_open(w, now, s, trips, Report::Counted),
        Some(Outcome::Success) if w.successes.saturating_add(1) >= s.half_open_successes => Plan {
            next: Some(w.next(State::Closed)),
            until: None,
            answer: Report::Counted,
            transition: Some(Transition {
                from: State::HalfOpen,
                to: State::Closed,
            }),
        },
        Some(Outcome::Success) => Plan {
            next: Some(Word {
                successes: w.successes.saturating_add(1),
                ..freed
            }),
            until: next_until,
            answer: Report::Counted,
            transition: None,
        },
        Some(Outcome::Ignored) | None => Plan {
            next: Some(freed),
            until: next_until,
            answer: Report::Counted,
            transition: None,
        },
    }
}

/// Operator overrides: the word after moving to `to`, a new generation unless already there
/// (`reset` always starts one, so permits from before it go stale).
pub(crate) fn decide_override(w: Word, to: State) -> Plan<()> {
    if w.state == to && to != State::Closed {
        return Plan::keep(());
    }
    Plan {
        next: Some(w.next(to)),
        until: None,
        answer: (),
        transition: if w.state == to {
            None
        } else {
            Some(Transition { from: w.state, to })
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::breaker::BreakerConfig;

    fn settings() -> Settings {
        Settings::from_config(
            &BreakerConfig::new()
                .open_for(Nanos::new(30))
                .probe_timeout(Some(Nanos::new(5)))
                .half_open(2, Some(2)),
        )
    }

    fn word(state: State, pending: bool, probes: u16) -> Word {
        Word {
            state,
            pending,
            generation: 7,
            probes,
            successes: 0,
        }
    }

    #[test]
    fn growth_stops_where_it_adds_nothing_and_after_its_trip_limit() {
        let slow = |open_for: u64| {
            Settings::from_config(
                &BreakerConfig::new()
                    .open_for(Nanos::new(open_for))
                    .open_for_growth(Nanos::new(u64::MAX), 1.000_015_3, 0.0),
            )
        };
        // 1 ns times 1.0000153 floors back to 1 ns: a fixed point, found at once.
        assert_eq!(open_period(&slow(1), u32::MAX, 0), 1);
        assert_eq!(open_period(&slow(0), u32::MAX, 0), 0);
        // Growing by one part in 65 536 per trip: counted for the first trips only.
        let s = slow(1 << 20);
        let at_limit = open_period(&s, MAX_GROWTH_TRIPS, 0);
        assert!(at_limit > open_period(&s, MAX_GROWTH_TRIPS - 1, 0));
        assert_eq!(open_period(&s, MAX_GROWTH_TRIPS + 1, 0), at_limit);
        assert_eq!(open_period(&s, u32::MAX, 0), at_limit);
    }

    #[test]
    fn the_word_round_trips_and_the_generation_wraps_to_zero() {
        let last = Word {
            generation: (1 << 28) - 1,
            ..word(State::HalfOpen, true, 65535)
        };
        assert_eq!(Word::unpack(last.pack()), last);
        let next = last.next(State::Open);
        assert_eq!((next.generation, next.pending, next.probes), (0, true, 0));
        assert_eq!(Word::unpack(next.pack()), next);
    }

    #[test]
    fn an_open_period_still_being_stored_refuses_and_never_moves() {
        let plan = decide_acquire(word(State::Open, true, 0), None, 1_000, &settings(), 1);
        assert_eq!(plan.next, None);
        let refusal = plan.answer.unwrap_err();
        assert_eq!(refusal.reason, Reason::BreakerOpen);
        assert_eq!(refusal.retry_after, Some(Nanos::new(30)));
    }

    #[test]
    fn a_lease_still_being_stored_is_never_overdue() {
        let s = settings();
        let w = word(State::HalfOpen, true, 2);
        let full = decide_acquire(w, None, u64::MAX - 1, &s, 1);
        assert_eq!(full.next, None);
        assert_eq!(
            full.answer.unwrap_err().retry_after,
            Some(Nanos::new(s.probe_timeout))
        );
        let leases = Leases {
            reporter: 0,
            newest: 9,
        };
        let report = decide_probe_report(w, None, u64::MAX - 1, &s, 1, None, leases);
        assert_eq!(
            report.answer,
            Report::Counted,
            "a report was taken as stale"
        );
        assert_eq!(report.next.map(|n| n.probes), Some(1));
    }

    #[test]
    fn a_probe_admitted_while_a_lease_is_stored_asks_for_its_own() {
        let plan = decide_acquire(word(State::HalfOpen, true, 1), None, 100, &settings(), 1);
        assert!(plan.answer.is_ok());
        assert_eq!(plan.until, Some(105));
    }

    fn reference(value: u64, q16: u32) -> u64 {
        let product = (u128::from(value) * u128::from(q16)) >> 16;
        u64::try_from(product).unwrap_or(u64::MAX)
    }

    #[test]
    fn mul_q16_is_the_128_bit_product() {
        let edges = [
            0,
            1,
            0xffff,
            0x1_0000,
            0xffff_ffff,
            0x1_0000_0000,
            1 << 47,
            1 << 48,
        ];
        let values = edges.iter().flat_map(|&e: &u64| [e, e.wrapping_sub(1), !e]);
        for value in values.chain([u64::MAX, u64::MAX >> 16, (u64::MAX >> 16) + 1]) {
            for q16 in [
                0,
                1,
                0xffff,
                0x1_0000,
                0x1_0001,
                0x2_0000,
                u32::MAX,
                u32::MAX - 1,
            ] {
                assert_eq!(mul_q16(value, q16), reference(value, q16), "{value} {q16}");
            }
        }
        for i in 0..100_000 {
            let value = crate::rng::draw(1, i) >> (i % 64);
            let q16 = crate::rng::draw(2, i) as u32 >> (i % 32);
            assert_eq!(mul_q16(value, q16), reference(value, q16), "{value} {q16}");
        }
    }
}
