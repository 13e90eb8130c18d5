//! Deadline behaviour: construction, remaining time, expiry at the instant itself, and `min`.

use stanchion::{Deadline, Nanos};

#[test]
fn after_adds_the_timeout_to_now() {
    let d = Deadline::after(Nanos::from_secs(3), Nanos::from_millis(250));
    assert_eq!(d.expires_at(), Nanos::from_millis(3_250));
    assert_eq!(Deadline::at(Nanos::from_millis(3_250)), d);
}

#[test]
fn after_saturates_at_the_end_of_time() {
    assert_eq!(Deadline::after(Nanos::MAX, Nanos::MAX), Deadline::NEVER);
    assert_eq!(Deadline::after(Nanos::new(1), Nanos::MAX), Deadline::NEVER);
}

#[test]
fn remaining_counts_down_and_never_goes_negative() {
    let d = Deadline::at(Nanos::new(1_000));
    assert_eq!(d.remaining(Nanos::ZERO), Nanos::new(1_000));
    assert_eq!(d.remaining(Nanos::new(999)), Nanos::new(1));
    assert_eq!(d.remaining(Nanos::new(1_000)), Nanos::ZERO);
    assert_eq!(d.remaining(Nanos::MAX), Nanos::ZERO);
}

#[test]
fn a_deadline_expires_at_its_instant() {
    let d = Deadline::at(Nanos::new(1_000));
    assert!(!d.is_expired(Nanos::ZERO));
    assert!(!d.is_expired(Nanos::new(999)));
    assert!(d.is_expired(Nanos::new(1_000)));
    assert!(d.is_expired(Nanos::MAX));
}

#[test]
fn a_zero_timeout_is_expired_at_once() {
    let now = Nanos::from_secs(5);
    assert!(Deadline::after(now, Nanos::ZERO).is_expired(now));
    assert!(Deadline::at(Nanos::ZERO).is_expired(Nanos::ZERO));
}

#[test]
fn time_running_backwards_only_adds_remaining_time() {
    let d = Deadline::at(Nanos::new(1_000));
    assert!(d.is_expired(Nanos::new(1_500)));
    assert!(!d.is_expired(Nanos::new(500)));
    assert_eq!(d.remaining(Nanos::new(500)), Nanos::new(500));
}

#[test]
fn never_expires_before_the_end_of_time() {
    assert!(!Deadline::NEVER.is_expired(Nanos::new(u64::MAX - 1)));
    assert!(Deadline::NEVER.is_expired(Nanos::MAX));
}

#[test]
fn min_keeps_the_tighter_deadline() {
    let a = Deadline::at(Nanos::new(10));
    let b = Deadline::at(Nanos::new(20));
    assert_eq!(a.min(b), a);
    assert_eq!(b.min(a), a);
    assert_eq!(a.min(Deadline::NEVER), a);
    assert!(a < b);
}

#[test]
fn converts_from_an_instant() {
    assert_eq!(Deadline::from(Nanos::new(7)), Deadline::at(Nanos::new(7)));
}

#[test]
fn size_is_one_word() {
    assert_eq!(core::mem::size_of::<Deadline>(), 8);
}
