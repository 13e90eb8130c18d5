//! `BulkheadConfig`: the cap, the priority lanes and the queue limit.

use super::state;
use crate::ConfigError;

/// The most priority lanes a bulkhead can have.
pub const MAX_LANES: usize = 8;

/// The largest `max_concurrent` a bulkhead can count: 16,777,215.
pub const MAX_CONCURRENT: u32 = state::MAX_CONCURRENT;

/// The largest waiter table (`WAITERS`) a bulkhead can have: 65,535.
pub const MAX_WAITERS: usize = state::MAX_WAITERS;

/// How a [`Bulkhead`](super::Bulkhead) caps concurrency.
///
/// ```
/// use stanchion::BulkheadConfig;
/// let config = BulkheadConfig::new(10).lanes(&[10, 6, 2]).max_waiting(32);
/// assert_eq!(config.lanes, 3);
/// assert_eq!(config.validate(), Ok(()));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BulkheadConfig {
    /// Permits out at once, at most (`1..=16_777_215`). Required.
    pub max_concurrent: u32,
    /// `acquire` futures that may wait at once [`u32::MAX`]: the queue is further bounded by the
    /// bulkhead's waiter table (`WAITERS`), so the default means "as many as the table holds".
    pub max_waiting: u32,
    /// Priority lanes in use, `1..=8` (default 1).
    pub lanes: u8,
    /// Each lane's ceiling: lane `k` is admitted only while fewer than `lane_ceilings[k]` permits
    /// are out. Lane 0 is the highest priority and its ceiling must equal `max_concurrent`;
    /// the rest must not rise and must be at least 1. Entries past `lanes` are unused.
    /// [`[max_concurrent, 0, ..]`]
    pub lane_ceilings: [u32; MAX_LANES],
}

impl BulkheadConfig {
    /// `max_concurrent` permits, one lane, a queue as long as the waiter table.
    ///
    /// ```
    /// let config = stanchion::BulkheadConfig::new(8);
    /// assert_eq!((config.lanes, config.lane_ceilings[0]), (1, 8));
    /// ```
    pub const fn new(max_concurrent: u32) -> BulkheadConfig {
        let mut lane_ceilings = [0; MAX_LANES];
        lane_ceilings[0] = max_concurrent;
        BulkheadConfig {
            max_concurrent,
            max_waiting: u32::MAX,
            lanes: 1,
            lane_ceilings,
        }
    }

    /// Priority lanes and their ceilings, highest priority first: `&[10, 6, 2]` gives lane 0 all
    /// 10 permits, lane 1 up to 6 and lane 2 up to 2. The first must equal `max_concurrent`.
    /// More than [`MAX_LANES`] ceilings, or none, fail [`validate`](Self::validate).
    ///
    /// ```
    /// let config = stanchion::BulkheadConfig::new(10).lanes(&[10, 6, 2]);
    /// assert_eq!(config.lane_ceilings[..3], [10, 6, 2]);
    /// ```
    pub const fn lanes(mut self, ceilings: &[u32]) -> BulkheadConfig {
        self.lanes = if ceilings.len() > u8::MAX as usize {
            u8::MAX
        } else {
            ceilings.len() as u8
        };
        let mut target: &mut [u32] = &mut self.lane_ceilings;
        let mut source = ceilings;
        while let ([slot, target_rest @ ..], [ceiling, source_rest @ ..]) = (target, source) {
            *slot = *ceiling;
            target = target_rest;
            source = source_rest;
        }
        self
    }

    /// At most `max_waiting` futures queued at once (0: `acquire` never waits).
    ///
    /// ```
    /// assert_eq!(stanchion::BulkheadConfig::new(2).max_waiting(5).max_waiting, 5);
    /// ```
    pub const fn max_waiting(mut self, max_waiting: u32) -> BulkheadConfig {
        self.max_waiting = max_waiting;
        self
    }

    /// Checks every field, naming the first one out of range.
    ///
    /// ```
    /// use stanchion::{BulkheadConfig, ConfigError};
    /// assert_eq!(
    ///     BulkheadConfig::new(0).validate(),
    ///     Err(ConfigError::new("max_concurrent", "1..=16777215"))
    /// );
    /// assert_eq!(BulkheadConfig::new(4).lanes(&[4, 5]).validate().unwrap_err().field, "lane_ceilings");
    /// ```
    pub const fn validate(&self) -> Result<(), ConfigError> {
        if self.max_concurrent == 0 || self.max_concurrent > MAX_CONCURRENT {
            return Err(ConfigError::new("max_concurrent", "1..=16777215"));
        }
        if self.lanes == 0 || self.lanes as usize > MAX_LANES {
            return Err(ConfigError::new("lanes", "1..=8"));
        }
        let ceilings_error = ConfigError::new(
            "lane_ceilings",
            "lane 0 equal to max_concurrent, then non-increasing and at least 1",
        );
        if self.lane_ceilings[0] != self.max_concurrent {
            return Err(ceilings_error);
        }
        let mut above = self.max_concurrent;
        let mut lanes_left = self.lanes;
        let mut remaining: &[u32] = &self.lane_ceilings;
        while let [ceiling, rest @ ..] = remaining {
            if lanes_left == 0 {
                break;
            }
            if *ceiling == 0 || *ceiling > above {
                return Err(ceilings_error);
            }
            above = *ceiling;
            lanes_left = lanes_left.saturating_sub(1);
            remaining = rest;
        }
        Ok(())
    }
}
