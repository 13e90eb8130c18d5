//! The sample window: one word of counts and flags, and the pure decision that folds a sample
//! into it.
//!
//! ```text
//! bits  0..32  samples        in the window (saturating)
//! bits 32..48  in_flight      the highest in-flight figure among them
//! bit  48      dropped        one of them was a drop
//! bit  49      opening        its first sample is still storing the start time
//! bit  50      updating       the window before is being applied to the estimate
//! bits 51..64  epoch          windows closed so far, wrapping
//! ```
//!
//! The latency sum and the start time are two more words beside it. A sample adds its latency
//! to the sum, then folds itself into this word with one compare-and-swap; the sample whose swap
//! finds the window full enough and old enough closes it in that same swap, which empties the
//! word, bumps the epoch and sets `updating`. Exactly one swap can do that per window, so
//! exactly one thread updates the estimate per window, and while `updating` is set no other
//! window can close: updates never overlap, though samples keep coming into the next window
//! meanwhile. The first sample of a window sets `opening` until it has stored the start time,
//! so nobody judges the window's age from the previous window's start.

/// A sample as the window counts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Sample {
    pub(crate) in_flight: u32,
    pub(crate) dropped: bool,
}

/// The unpacked window word.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Word {
    pub(crate) samples: u32,
    pub(crate) in_flight: u16,
    pub(crate) dropped: bool,
    pub(crate) opening: bool,
    pub(crate) updating: bool,
    pub(crate) epoch: u16,
}

const IN_FLIGHT_SHIFT: u32 = 32;
const DROPPED: u64 = 1 << 48;
pub(crate) const OPENING: u64 = 1 << 49;
pub(crate) const UPDATING: u64 = 1 << 50;
const EPOCH_SHIFT: u32 = 51;
const EPOCH_MASK: u16 = (1 << 13) - 1;

impl Word {
    pub(crate) const fn unpack(word: u64) -> Word {
        Word {
            samples: word as u32,
            in_flight: (word >> IN_FLIGHT_SHIFT) as u16,
            dropped: word & DROPPED != 0,
            opening: word & OPENING != 0,
            updating: word & UPDATING != 0,
            epoch: (word >> EPOCH_SHIFT) as u16 & EPOCH_MASK,
        }
    }

    pub(crate) const fn pack(self) -> u64 {
        let mut word = self.samples as u64
            | (self.in_flight as u64) << IN_FLIGHT_SHIFT
            | ((self.epoch & EPOCH_MASK) as u64) << EPOCH_SHIFT;
        if self.dropped {
            word |= DROPPED;
        }
        if self.opening {
            word |= OPENING;
        }
        if self.updating {
            word |= UPDATING;
        }
        word
    }
}

/// What a closed window held, the latency sum aside.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) samples: u32,
    pub(crate) in_flight: u32,
    pub(crate) dropped: bool,
}

/// What folding a sample did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fold {
    /// Counted in the open window.
    Added,
    /// Opened a window: the caller stores the start time, then clears `opening`.
    Opened,
    /// Closed the window it completed: the caller now owns the update.
    Closed(Counts),
}

/// When a window may close: the thresholds of the config.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Close {
    pub(crate) min_samples: u32,
    pub(crate) window: u64,
}

/// Folds `sample`, recorded at `now`, into the window `prev` whose first sample came at
/// `start` (read after `prev`, and meaningful only when `prev` has samples and is not
/// `opening`). Returns what happened and the word to swap in.
pub(crate) const fn decide_fold(
    prev: u64,
    sample: Sample,
    now: u64,
    start: u64,
    close: Close,
) -> (Fold, u64) {
    let w = Word::unpack(prev);
    let in_flight = if sample.in_flight > u16::MAX as u32 {
        u16::MAX
    } else {
        sample.in_flight as u16
    };
    let opens = w.samples == 0;
    let samples = w.samples.saturating_add(1);
    let most = if opens || in_flight > w.in_flight {
        in_flight
    } else {
        w.in_flight
    };
    let dropped = sample.dropped || (w.dropped && !opens);
    // A window opened by this sample is `now` old; otherwise its age counts from `start`.
    let age = if opens { 0 } else { now.saturating_sub(start) };
    let closes =
        !w.updating && (opens || !w.opening) && samples >= close.min_samples && age >= close.window;
    if closes {
        let next = Word {
            updating: true,
            epoch: w.epoch.wrapping_add(1),
            ..Word::ZERO
        };
        let counts = Counts {
            samples,
            in_flight: most as u32,
            dropped,
        };
        return (Fold::Closed(counts), next.pack());
    }
    let next = Word {
        samples,
        in_flight: most,
        dropped,
        opening: w.opening || opens,
        ..w
    };
    let fold = if opens { Fold::Opened } else { Fold::Added };
    (fold, next.pack())
}

impl Word {
    const ZERO: Word = Word {
        samples: 0,
        in_flight: 0,
        dropped: false,
        opening: false,
        updating: false,
        epoch: 0,
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLOSE: Close = Close {
        min_samples: 3,
        window: 100,
    };

    fn sample(in_flight: u32, dropped: bool) -> Sample {
        Sample { in_flight, dropped }
    }

    #[test]
    fn packing_round_trips() {
        let w = Word {
            samples: u32::MAX,
            in_flight: u16::MAX,
            dropped: true,
            opening: true,
            updating: true,
            epoch: EPOCH_MASK,
        };
        assert_eq!(Word::unpack(w.pack()), w);
        assert_eq!(Word::unpack(0), Word::default());
    }

    #[test]
    fn the_first_sample_opens_and_later_ones_add() {
        let (fold, word) = decide_fold(0, sample(4, false), 1_000, 0, CLOSE);
        assert_eq!(fold, Fold::Opened);
        let w = Word::unpack(word);
        assert_eq!((w.samples, w.in_flight, w.opening), (1, 4, true));
        let opened = word & !OPENING;
        let (fold, word) = decide_fold(opened, sample(7, true), 1_050, 1_000, CLOSE);
        assert_eq!(fold, Fold::Added);
        let w = Word::unpack(word);
        assert_eq!((w.samples, w.in_flight, w.dropped), (2, 7, true));
    }

    #[test]
    fn it_closes_on_the_first_sample_with_enough_samples_and_age() {
        let two = Word {
            samples: 2,
            in_flight: 3,
            ..Word::ZERO
        }
        .pack();
        // Old enough, one sample short? No: this is the third sample.
        let (fold, next) = decide_fold(two, sample(5, false), 1_100, 1_000, CLOSE);
        let counts = Counts {
            samples: 3,
            in_flight: 5,
            dropped: false,
        };
        assert_eq!(fold, Fold::Closed(counts));
        let w = Word::unpack(next);
        assert_eq!((w.samples, w.updating, w.epoch), (0, true, 1));
        // Too young: 99 ns.
        assert_eq!(
            decide_fold(two, sample(5, false), 1_099, 1_000, CLOSE).0,
            Fold::Added
        );
        // Old enough but short of samples.
        let one = Word {
            samples: 1,
            ..Word::ZERO
        }
        .pack();
        assert_eq!(
            decide_fold(one, sample(5, false), 5_000, 1_000, CLOSE).0,
            Fold::Added
        );
    }

    #[test]
    fn no_window_closes_while_opening_or_updating() {
        for flag in [OPENING, UPDATING] {
            let prev = Word {
                samples: 5,
                ..Word::ZERO
            }
            .pack()
                | flag;
            let (fold, next) = decide_fold(prev, sample(1, false), 10_000, 0, CLOSE);
            assert_eq!(fold, Fold::Added);
            assert_eq!(next & flag, flag);
        }
    }

    #[test]
    fn a_window_of_one_sample_and_no_age_closes_as_it_opens() {
        let close = Close {
            min_samples: 1,
            window: 0,
        };
        let (fold, _) = decide_fold(0, sample(2, true), 7, 0, close);
        let counts = Counts {
            samples: 1,
            in_flight: 2,
            dropped: true,
        };
        assert_eq!(fold, Fold::Closed(counts));
        // ...unless the window before is still being applied: then it waits.
        let (fold, _) = decide_fold(UPDATING, sample(2, true), 7, 0, close);
        assert_eq!(fold, Fold::Opened);
    }

    #[test]
    fn a_clock_that_runs_backwards_makes_the_window_no_older() {
        let two = Word {
            samples: 2,
            ..Word::ZERO
        }
        .pack();
        assert_eq!(
            decide_fold(two, sample(1, false), 0, 1_000, CLOSE).0,
            Fold::Added
        );
    }

    #[test]
    fn in_flight_saturates_at_the_field() {
        let (_, word) = decide_fold(0, sample(u32::MAX, false), 0, 0, CLOSE);
        assert_eq!(Word::unpack(word).in_flight, u16::MAX);
    }
}
