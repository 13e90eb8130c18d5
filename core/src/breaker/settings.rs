//! The config as the breaker keeps it: integers in atomic words, so `reconfigure` can change
//! it in place while other threads use the breaker.
//!
//! Rates become parts per million, the growth factor 16.16 fixed point and the jitter a
//! fraction of 65 536, so the hot paths never touch floating point (soft-float on Cortex-M0),
//! and the conversion itself is integer arithmetic on the floats' bits (`crate::fixed`).
//! A reader racing `reconfigure` sees the old config or the new one, never a mix.

use super::config::{factor_q16, rate_ppm, share_q16, BreakerConfig, SlowCall, Window};
use crate::sync::{const_fn, AtomicU64, Ordering};
use crate::Nanos;

/// The config, unpacked: plain integers, ready for the decisions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Settings {
    pub failure_count: u32,
    pub consecutive_failures: u32,
    pub failure_rate_ppm: u32,
    pub minimum_calls: u32,
    pub slow_rate_ppm: u32,
    pub half_open_probes: u16,
    pub half_open_successes: u16,
    pub slow_duration: u64,
    /// 0 for a count window, else the length of one bucket.
    pub bucket_span: u64,
    pub open_for: u64,
    pub open_for_max: u64,
    pub probe_timeout: u64,
    /// Calls in a count window, or buckets in a time window.
    pub window_len: u16,
    pub jitter_q16: u16,
    pub factor_q16: u32,
    pub seed: u64,
}

pub(crate) const WORDS: usize = 10;

impl Settings {
    /// Unpacks a validated config. Zero means "off" for the optional triggers.
    pub(crate) const fn from_config(c: &BreakerConfig) -> Settings {
        let (slow_duration, slow_rate_ppm) = match c.slow_call {
            Some(SlowCall { duration, rate }) => (duration.as_nanos(), rate_ppm(rate)),
            None => (0, 0),
        };
        let (bucket_span, window_len) = match c.window {
            Window::Count(n) => (0, n),
            // Validation guarantees 1 <= buckets <= span, so the division is safe and >= 1.
            Window::Time { span, buckets } => match span.as_nanos().checked_div(buckets as u64) {
                Some(d) => (d, buckets),
                None => (1, 1),
            },
        };
        Settings {
            failure_count: match c.failure_count {
                Some(n) => n,
                None => 0,
            },
            consecutive_failures: match c.consecutive_failures {
                Some(n) => n,
                None => 0,
            },
            failure_rate_ppm: match c.failure_rate {
                Some(r) => rate_ppm(r),
                None => 0,
            },
            minimum_calls: c.minimum_calls,
            slow_rate_ppm,
            half_open_probes: c.half_open_probes as u16,
            half_open_successes: c.effective_half_open_successes() as u16,
            slow_duration,
            bucket_span,
            open_for: c.open_for.as_nanos(),
            open_for_max: c.open_for_max.as_nanos(),
            probe_timeout: c.effective_probe_timeout().as_nanos(),
            window_len: window_len as u16,
            jitter_q16: share_q16(c.open_for_jitter),
            factor_q16: factor_q16(c.open_for_factor),
            seed: c.seed,
        }
    }

    /// Back to a config, for callers that ask what is in force. Rates come back from parts
    /// per million, so `0.1` returns as `0.1`.
    pub(crate) fn to_config(self) -> BreakerConfig {
        let ppm_to_rate = |ppm: u32| ppm as f32 / 1_000_000.0;
        BreakerConfig {
            failure_count: nonzero(self.failure_count),
            consecutive_failures: nonzero(self.consecutive_failures),
            failure_rate: nonzero(self.failure_rate_ppm).map(ppm_to_rate),
            minimum_calls: self.minimum_calls,
            slow_call: if self.slow_duration == 0 {
                None
            } else {
                Some(SlowCall {
                    duration: Nanos::new(self.slow_duration),
                    rate: ppm_to_rate(self.slow_rate_ppm),
                })
            },
            window: self.window(),
            open_for: Nanos::new(self.open_for),
            open_for_max: Nanos::new(self.open_for_max),
            open_for_factor: self.factor_q16 as f32 / 65_536.0,
            open_for_jitter: self.jitter_q16 as f32 / 65_536.0,
            half_open_probes: u32::from(self.half_open_probes),
            half_open_successes: Some(u32::from(self.half_open_successes)),
            probe_timeout: Some(Nanos::new(self.probe_timeout)),
            seed: self.seed,
        }
    }

    pub(crate) const fn window(&self) -> Window {
        if self.bucket_span == 0 {
            Window::Count(self.window_len as u32)
        } else {
            Window::Time {
                span: Nanos::new(self.bucket_span.saturating_mul(self.window_len as u64)),
                buckets: self.window_len as u32,
            }
        }
    }

    const fn pack(&self) -> [u64; WORDS] {
        [
            join(self.failure_count, self.consecutive_failures),
            join(self.failure_rate_ppm, self.minimum_calls),
            join(
                self.slow_rate_ppm,
                self.half_open_probes as u32 | (self.half_open_successes as u32) << 16,
            ),
            self.slow_duration,
            self.bucket_span,
            self.open_for,
            self.open_for_max,
            self.probe_timeout,
            join(
                self.window_len as u32 | (self.jitter_q16 as u32) << 16,
                self.factor_q16,
            ),
            self.seed,
        ]
    }

    #[inline]
    const fn unpack(w: [u64; WORDS]) -> Settings {
        let [w0, w1, w2, w3, w4, w5, w6, w7, w8, w9] = w;
        Settings {
            failure_count: low(w0),
            consecutive_failures: high(w0),
            failure_rate_ppm: low(w1),
            minimum_calls: high(w1),
            slow_rate_ppm: low(w2),
            half_open_probes: high(w2) as u16,
            half_open_successes: (high(w2) >> 16) as u16,
            slow_duration: w3,
            bucket_span: w4,
            open_for: w5,
            open_for_max: w6,
            probe_timeout: w7,
            window_len: low(w8) as u16,
            jitter_q16: (low(w8) >> 16) as u16,
            factor_q16: high(w8),
            seed: w9,
        }
    }
}

/// The config's atomic home inside the breaker: two banks and a version, so `reconfigure`
/// writes the bank nobody reads and then switches, and a reader always gets one whole config.
///
/// The version counts writes: even when idle, odd while a write is under way. Bank
/// `(version / 2) % 2` is in force when the version is even; while it is odd, the writer fills
/// the other bank, and the next even version switches to it. A reader that saw version `v`
/// read a bank that no writer touches until two more writes have begun, so the read stands
/// unless the version moved that far meanwhile (then it reads again: only writes that
/// completed can make it, so it never waits on a writer).
#[repr(C)]
pub(crate) struct SettingsCell {
    version: AtomicU64,
    banks: [[AtomicU64; WORDS]; 2],
}

/// `reconfigure` met another `reconfigure` half done: it changed nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Busy;

impl SettingsCell {
    const_fn! {
        pub(crate) fn new(s: &Settings) -> SettingsCell {
            SettingsCell {
                version: AtomicU64::new(0),
                banks: [bank(s), bank(s)],
            }
        }
    }

    /// One whole config, as stored by a single `new` or `store`.
    ///
    /// Without 64-bit atomics each word's load masks interrupts, so inlining the loads into
    /// every operation costs more flash than the call (hosts keep it inline).
    #[cfg_attr(target_has_atomic = "64", inline)]
    #[cfg_attr(not(target_has_atomic = "64"), inline(never))]
    pub(crate) fn load(&self) -> Settings {
        let mut version = self.version.load(Ordering::Acquire);
        loop {
            let mut w = [0u64; WORDS];
            let in_force = self.bank_at(version);
            for (slot, cell) in w.iter_mut().zip(in_force.iter()) {
                // Acquire: a word stored by a later write makes the version check below see
                // that write's start.
                *slot = cell.load(Ordering::Acquire);
            }
            let now = self.version.load(Ordering::Acquire);
            if now <= (version | 1).saturating_add(1) {
                return Settings::unpack(w);
            }
            version = now;
        }
    }

    /// The bank in force at `version` (while a write is under way, the one it does not touch).
    #[inline]
    fn bank_at(&self, version: u64) -> &[AtomicU64; WORDS] {
        let [even, odd] = &self.banks;
        if (version >> 1) & 1 == 0 {
            even
        } else {
            odd
        }
    }

    /// Stores a new config, or says another store is half done (then nothing changed).
    pub(crate) fn store(&self, s: &Settings) -> Result<(), Busy> {
        let version = self.version.load(Ordering::Acquire);
        if version & 1 != 0 {
            return Err(Busy);
        }
        // Acquire: the bank's stores below stay after the claim.
        self.version
            .compare_exchange(version, version | 1, Ordering::AcqRel, Ordering::Acquire)
            .map_err(|_| Busy)?;
        let spare = self.bank_at(version.wrapping_add(2));
        for (cell, value) in spare.iter().zip(s.pack()) {
            cell.store(value, Ordering::Release);
        }
        self.version
            .store(version.wrapping_add(2), Ordering::Release);
        Ok(())
    }
}

const_fn! {
    fn bank(s: &Settings) -> [AtomicU64; WORDS] {
        let [w0, w1, w2, w3, w4, w5, w6, w7, w8, w9] = s.pack();
        [
            AtomicU64::new(w0),
            AtomicU64::new(w1),
            AtomicU64::new(w2),
            AtomicU64::new(w3),
            AtomicU64::new(w4),
            AtomicU64::new(w5),
            AtomicU64::new(w6),
            AtomicU64::new(w7),
            AtomicU64::new(w8),
            AtomicU64::new(w9),
        ]
    }
}

const fn join(low: u32, high: u32) -> u64 {
    low as u64 | (high as u64) << 32
}

const fn low(w: u64) -> u32 {
    w as u32
}

const fn high(w: u64) -> u32 {
    (w >> 32) as u32
}

fn nonzero(n: u32) -> Option<u32> {
    if n == 0 {
        None
    } else {
        Some(n)
    }
}
