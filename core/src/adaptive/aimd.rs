//! AIMD, after concurrency-limits' `AIMDLimit`: +1 after a window that used at least half the
//! limit without a drop, ×`backoff_ratio` (rounded down) after a drop or a window whose mean
//! latency is above `timeout`.
//!
//! The estimate stays a whole number: every answer is an integer.

use super::settings::Bounds;
use super::state::{application_limited, clamp, Closed, Model, MILLION, ONE};

pub(crate) fn update(
    backoff_ppm: u32,
    timeout: u64,
    bounds: Bounds,
    model: Model,
    closed: Closed,
) -> Model {
    let limit = u64::from(model.limit());
    let next = if closed.dropped || closed.latency > timeout {
        // limit < 2^16 and the ratio below 10^6: the product fits 2^36.
        let cut = u128::from(limit).saturating_mul(u128::from(backoff_ppm)) / MILLION;
        cut as u64
    } else if application_limited(closed, model.limit()) {
        return model;
    } else {
        limit.saturating_add(1)
    };
    Model {
        estimate: clamp(next.saturating_mul(ONE), bounds),
        ..model
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOUNDS: Bounds = Bounds { min: 1, max: 1000 };
    const TIMEOUT: u64 = 5_000_000_000;

    fn window(latency: u64, in_flight: u32, dropped: bool) -> Closed {
        Closed {
            latency,
            in_flight,
            dropped,
        }
    }

    fn after(limit: u32, closed: Closed) -> u32 {
        update(900_000, TIMEOUT, BOUNDS, Model::new(limit), closed).limit()
    }

    #[test]
    fn grows_by_one_when_half_the_limit_was_in_flight() {
        assert_eq!(after(20, window(1_000, 10, false)), 21);
        assert_eq!(after(20, window(1_000, 20, false)), 21);
    }

    #[test]
    fn holds_while_application_limited() {
        assert_eq!(after(20, window(1_000, 9, false)), 20);
        assert_eq!(after(21, window(1_000, 10, false)), 21);
    }

    #[test]
    fn a_drop_cuts_to_nine_tenths_rounded_down_even_when_application_limited() {
        assert_eq!(after(20, window(1_000, 20, true)), 18);
        assert_eq!(after(20, window(1_000, 0, true)), 18);
        assert_eq!(after(11, window(1_000, 11, true)), 9);
        assert_eq!(after(1, window(1_000, 1, true)), 1);
    }

    #[test]
    fn a_mean_latency_above_the_timeout_is_a_drop() {
        assert_eq!(after(20, window(TIMEOUT, 20, false)), 21);
        assert_eq!(after(20, window(TIMEOUT + 1, 20, false)), 18);
    }

    #[test]
    fn the_limit_stays_in_its_bounds() {
        let bounds = Bounds { min: 5, max: 21 };
        let model = Model::new(21);
        assert_eq!(
            update(900_000, TIMEOUT, bounds, model, window(1, 21, false)).limit(),
            21
        );
        let model = Model::new(5);
        assert_eq!(
            update(500_000, TIMEOUT, bounds, model, window(1, 5, true)).limit(),
            5
        );
    }
}
