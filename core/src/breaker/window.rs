//! The sliding window: `W` atomic words that serve as a ring of call outcomes (count window)
//! or as time buckets (time window), plus a cursor and the running totals.
//!
//! **Count window of `n` calls.** The cursor counts records; record `k` writes two bits
//! (failure, slow) into slot `k % n`, 32 slots to a word. The window's counts are popcounts.
//! A success costs one `fetch_add` on the cursor and one `fetch_and` on its word.
//!
//! **Time window of `B` buckets.** A bucket word packs calls, failures and slow calls (21 bits
//! each). The cursor is the newest epoch (`now / bucket_span`) seen. Invariant: every non-zero
//! bucket holds the counts of the one epoch in `(cursor - B, cursor]` with its index, so no
//! bucket needs a timestamp. The thread that moves the cursor forward empties the buckets that
//! slid out (at most `B` swaps, once per bucket span) and rolls their counts into the totals.
//! A success costs one CAS on its bucket. A record whose `now` is older than the cursor counts
//! in the newest bucket: time that runs backwards is "no time passed". A bucket past 2^21 - 1
//! calls stops taking more; those calls still reach the totals, and the window's rates are
//! those of the first 2 million calls of that bucket.
//!
//! Under concurrency the counts may be off by the calls racing a bucket's roll-over; nothing
//! is ever corrupted.

use super::settings::Settings;
use crate::sync::{const_fn, AtomicU64, Ordering};

/// Counts of calls, failures and slow calls.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub calls: u64,
    pub failures: u64,
    pub slow: u64,
}

impl Counts {
    fn add(&mut self, other: Counts) {
        self.calls = self.calls.saturating_add(other.calls);
        self.failures = self.failures.saturating_add(other.failures);
        self.slow = self.slow.saturating_add(other.slow);
    }
}

const FIELD_BITS: u32 = 21;
const FIELD_MAX: u64 = (1 << FIELD_BITS) - 1;
const FAILURE_BITS: u64 = 0x5555_5555_5555_5555;
const SLOW_BITS: u64 = 0xAAAA_AAAA_AAAA_AAAA;
/// Outcomes per ring word: two bits each.
pub(crate) const CALLS_PER_WORD: usize = 32;

/// A bucket's counts. A word that no bucket can hold (more failures or slow calls than calls:
/// a record of the old shape that raced `reconfigure` into the new one) reads as empty, so
/// such a race can never add a burst of phantom failures.
const fn bucket_unpack(w: u64) -> Counts {
    let counts = Counts {
        calls: w & FIELD_MAX,
        failures: (w >> FIELD_BITS) & FIELD_MAX,
        slow: (w >> (2 * FIELD_BITS)) & FIELD_MAX,
    };
    if counts.failures > counts.calls || counts.slow > counts.calls || w >> (3 * FIELD_BITS) != 0 {
        return Counts {
            calls: 0,
            failures: 0,
            slow: 0,
        };
    }
    counts
}

/// One more call in a bucket word, or `None` when the bucket is full.
const fn bucket_add(w: u64, failure: bool, slow: bool) -> Option<u64> {
    if w & FIELD_MAX == FIELD_MAX {
        return None;
    }
    // Calls are below the field's maximum and failures and slow calls never exceed calls, so
    // no field carries into the next.
    Some(
        w.wrapping_add(1)
            .wrapping_add((failure as u64) << FIELD_BITS)
            .wrapping_add((slow as u64) << (2 * FIELD_BITS)),
    )
}

#[repr(C)]
pub(crate) struct Window<const W: usize> {
    /// Records so far (count window) or the newest epoch (time window).
    cursor: AtomicU64,
    slots: [AtomicU64; W],
    /// Counts that left the window (time) or were tallied at record time (count: failures and
    /// slow; calls roll in when the ring is cleared).
    rolled_calls: AtomicU64,
    rolled_failures: AtomicU64,
    rolled_slow: AtomicU64,
}

impl<const W: usize> Window<W> {
    const_fn! {
        pub(crate) fn new() -> Window<W> {
            Window {
                cursor: AtomicU64::new(0),
                slots: zeroed_words(),
                rolled_calls: AtomicU64::new(0),
                rolled_failures: AtomicU64::new(0),
                rolled_slow: AtomicU64::new(0),
            }
        }
    }

    /// Records one call and, if `want_counts`, returns the window's counts as of `now`, this
    /// call included (summing the window is the costly part, so callers skip it when no
    /// trigger could fire).
    #[inline]
    pub(crate) fn record(
        &self,
        s: &Settings,
        now: u64,
        failure: bool,
        slow: bool,
        want_counts: bool,
    ) -> Option<Counts> {
        if s.bucket_span == 0 {
            let recorded = self.record_count(s, failure, slow);
            want_counts.then(|| self.count_view(s, recorded))
        } else {
            let epoch = self.record_time(s, now, failure, slow);
            want_counts.then(|| self.time_view(s, epoch, epoch))
        }
    }

    /// Returns the number of calls recorded, this one included.
    fn record_count(&self, s: &Settings, failure: bool, slow: bool) -> u64 {
        // AcqRel: a reader that sees the new cursor sees the slots written before it.
        let seq = self.cursor.fetch_add(1, Ordering::AcqRel);
        let slot = index_in(seq, u64::from(s.window_len));
        let shift = (slot % CALLS_PER_WORD).wrapping_mul(2);
        let bits = (failure as u64 | (slow as u64) << 1) << shift;
        if let Some(word) = self.slots.get(slot / CALLS_PER_WORD) {
            // A success only clears its slot: one RMW on the hot path. A failure's two steps may
            // let a racing reader see the slot as a success for a moment, never corrupt it.
            word.fetch_and(!(3 << shift), Ordering::AcqRel);
            if bits != 0 {
                word.fetch_or(bits, Ordering::AcqRel);
            }
        }
        if failure {
            self.rolled_failures.fetch_add(1, Ordering::Relaxed);
        }
        if slow {
            self.rolled_slow.fetch_add(1, Ordering::Relaxed);
        }
        seq.wrapping_add(1)
    }

    fn count_view(&self, s: &Settings, recorded: u64) -> Counts {
        let n = u64::from(s.window_len);
        let words = (s.window_len as usize).div_ceil(CALLS_PER_WORD);
        let mut counts = Counts {
            calls: recorded.min(n),
            ..Counts::default()
        };
        for word in self.slots.iter().take(words) {
            let w = word.load(Ordering::Acquire);
            counts.failures = counts
                .failures
                .saturating_add(u64::from((w & FAILURE_BITS).count_ones()));
            counts.slow = counts
                .slow
                .saturating_add(u64::from((w & SLOW_BITS).count_ones()));
        }
        counts
    }

    /// Returns the epoch the call was counted in.
    fn record_time(&self, s: &Settings, now: u64, failure: bool, slow: bool) -> u64 {
        // Most calls land in the cursor's own bucket: a multiply tells, saving the division.
        let cursor = self.cursor.load(Ordering::Acquire);
        let start = cursor.saturating_mul(s.bucket_span);
        let epoch = if now >= start && now.wrapping_sub(start) < s.bucket_span {
            cursor
        } else {
            self.advance(s, epoch_of(s, now))
        };
        let len = u64::from(s.window_len.max(1));
        let mut counted = false;
        if let Some(bucket) = self.slots.get(index_in(epoch, len)) {
            counted = bucket
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |w| {
                    bucket_add(w, failure, slow)
                })
                .is_ok();
        }
        if !counted {
            // A full bucket: the totals still see the call.
            self.roll(Counts {
                calls: 1,
                failures: failure as u64,
                slow: slow as u64,
            });
        }
        epoch
    }

    /// Moves the cursor to `epoch` if that is newer, emptying the buckets that slid out;
    /// returns the epoch to record in (the cursor, when `epoch` is older).
    fn advance(&self, s: &Settings, epoch: u64) -> u64 {
        let mut cursor = self.cursor.load(Ordering::Acquire);
        loop {
            if epoch <= cursor {
                return cursor;
            }
            match self.cursor.compare_exchange_weak(
                cursor,
                epoch,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    self.sweep(s, cursor, epoch);
                    return epoch;
                }
                Err(actual) => cursor = actual,
            }
        }
    }

    /// Empties the buckets of epochs in `(old - B, old]` that are not in `(new - B, new]`.
    fn sweep(&self, s: &Settings, old: u64, new: u64) {
        let len = u64::from(s.window_len.max(1));
        let Some(last_stale) = new.checked_sub(len) else {
            return;
        };
        let first = old.saturating_add(1).saturating_sub(len);
        for epoch in first..=last_stale.min(old) {
            if let Some(bucket) = self.slots.get(index_in(epoch, len)) {
                self.roll(bucket_unpack(bucket.swap(0, Ordering::AcqRel)));
            }
        }
    }

    /// Sums the buckets of epochs in `(view - B, cursor]`.
    fn time_view(&self, s: &Settings, cursor: u64, view: u64) -> Counts {
        let len = u64::from(s.window_len.max(1));
        let first = view.saturating_add(1).saturating_sub(len);
        let mut counts = Counts::default();
        if first > cursor {
            return counts;
        }
        // One division for the first bucket; the rest step around the ring.
        let mut index = index_in(first, len);
        for _ in first..=cursor {
            if let Some(bucket) = self.slots.get(index) {
                counts.add(bucket_unpack(bucket.load(Ordering::Acquire)));
            }
            index = index.wrapping_add(1);
            if index as u64 >= len {
                index = 0;
            }
        }
        counts
    }

    /// The window's counts as of `now`, without changing anything.
    pub(crate) fn view(&self, s: &Settings, now: u64) -> Counts {
        let cursor = self.cursor.load(Ordering::Acquire);
        if s.bucket_span == 0 {
            self.count_view(s, cursor)
        } else {
            self.time_view(s, cursor, cursor.max(epoch_of(s, now)))
        }
    }

    /// Every call ever recorded (since construction), in or out of the window.
    pub(crate) fn totals(&self, s: &Settings) -> Counts {
        let mut totals = Counts {
            calls: self.rolled_calls.load(Ordering::Relaxed),
            failures: self.rolled_failures.load(Ordering::Relaxed),
            slow: self.rolled_slow.load(Ordering::Relaxed),
        };
        if s.bucket_span == 0 {
            totals.calls = totals
                .calls
                .saturating_add(self.cursor.load(Ordering::Relaxed));
        } else {
            for bucket in self.slots.iter() {
                totals.add(bucket_unpack(bucket.load(Ordering::Relaxed)));
            }
        }
        totals
    }

    /// Adds counts that did not go through the window (half-open probes) to the totals.
    pub(crate) fn roll(&self, counts: Counts) {
        if counts.calls != 0 {
            self.rolled_calls.fetch_add(counts.calls, Ordering::Relaxed);
        }
        if counts.failures != 0 {
            self.rolled_failures
                .fetch_add(counts.failures, Ordering::Relaxed);
        }
        if counts.slow != 0 {
            self.rolled_slow.fetch_add(counts.slow, Ordering::Relaxed);
        }
    }

    /// Empties the window, keeping the totals. `s` is the shape the window was filled with.
    pub(crate) fn clear(&self, s: &Settings) {
        if s.bucket_span == 0 {
            let recorded = self.cursor.swap(0, Ordering::AcqRel);
            self.roll(Counts {
                calls: recorded,
                ..Counts::default()
            });
            for word in self.slots.iter() {
                word.store(0, Ordering::Release);
            }
        } else {
            // The cursor stays: epochs never go back, and empty buckets are valid for any.
            for bucket in self.slots.iter() {
                self.roll(bucket_unpack(bucket.swap(0, Ordering::AcqRel)));
            }
        }
    }

    /// Empties the window for a new shape: the cursor's meaning changes with it.
    pub(crate) fn reshape(&self, old: &Settings) {
        self.clear(old);
        self.cursor.store(0, Ordering::Release);
    }

    /// Whether a window of this shape fits in `W` words.
    pub(crate) const fn fits(s: &Settings) -> bool {
        let needed = if s.bucket_span == 0 {
            (s.window_len as usize).div_ceil(CALLS_PER_WORD)
        } else {
            s.window_len as usize
        };
        needed <= W
    }
}

#[cfg(not(any(loom, shuttle)))]
const fn zeroed_words<const W: usize>() -> [AtomicU64; W] {
    [const { AtomicU64::new(0) }; W]
}

#[cfg(any(loom, shuttle))]
fn zeroed_words<const W: usize>() -> [AtomicU64; W] {
    core::array::from_fn(|_| AtomicU64::new(0))
}

/// The slot of sequence number or epoch `n` in a ring of `len` (a validated `len` is >= 1).
fn index_in(n: u64, len: u64) -> usize {
    n.checked_rem(len).unwrap_or(0) as usize
}

/// The time bucket epoch of `now` (a time window's bucket span is >= 1).
fn epoch_of(s: &Settings, now: u64) -> u64 {
    now.checked_div(s.bucket_span).unwrap_or(0)
}
