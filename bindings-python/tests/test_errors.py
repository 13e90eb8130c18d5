"""Bad input gives clear errors naming the parameter and its range; objects stay usable."""

from __future__ import annotations

import pickle
from typing import Any, Callable

import pytest

import stanchion
from stanchion import (
    Backoff,
    Bulkhead,
    CircuitBreaker,
    ConfigError,
    KeyedRateLimiter,
    RateLimiter,
    RetryBudget,
)

BAD_VALUES: list[tuple[Callable[[], Any], str, str]] = [
    (lambda: CircuitBreaker(failure_count=0), "failure_count", "1..="),
    (lambda: CircuitBreaker(failure_rate=1.5), "failure_rate", "(0, 1]"),
    (lambda: CircuitBreaker(window_calls=321), "window_calls", "1..=320"),
    (lambda: CircuitBreaker(window_buckets=11), "window_buckets", "1..=10"),
    (lambda: CircuitBreaker(open_for=float("nan")), "open_for", "seconds"),
    (lambda: CircuitBreaker(open_for=10, open_for_max=5), "open_for_max", "open_for"),
    (lambda: CircuitBreaker(slow_call_duration=1.0), "slow_call_rate", "(0, 1]"),
    (lambda: CircuitBreaker(half_open_probes=70000), "half_open_probes", "1..=65535"),
    (lambda: RateLimiter(capacity=0), "capacity", "1..=4294967295"),
    (lambda: RateLimiter(capacity=1, refill_every=0), "refill_every", "> 0"),
    (lambda: RateLimiter(capacity=1, refill_amount=10, refill_every=1e-9), "refill_amount", "10^9"),
    (lambda: RateLimiter(capacity=2**32), "capacity", "1..=4294967295"),
    (lambda: KeyedRateLimiter(capacity=1, max_keys=0), "max_keys", "power of two"),
    (lambda: Bulkhead(max_concurrent=0), "max_concurrent", "1..=16777215"),
    (lambda: Backoff(schedule="fibonacci"), "schedule", "exponential"),
    (lambda: Backoff.constant(-1.0), "delay", "seconds"),
    (lambda: Backoff.exponential(0.1, jitter="wild"), "jitter", "full"),
    (lambda: Backoff.decorrelated(0.1, max_attempts=-1), "max_attempts", "1..="),
    (lambda: RetryBudget(2000.0), "ratio", "[0, 1000]"),
]


@pytest.mark.parametrize("build, parameter, allowed", BAD_VALUES)
def test_config_errors_name_the_parameter_and_range(
    build: Callable[[], Any], parameter: str, allowed: str
) -> None:
    with pytest.raises(ConfigError) as err:
        build()
    assert err.value.parameter == parameter
    assert allowed in err.value.allowed
    assert f"`{parameter}`" in str(err.value)
    assert isinstance(err.value, ValueError) and isinstance(err.value, stanchion.StanchionError)


@pytest.mark.parametrize(
    "build",
    [
        lambda: CircuitBreaker(failure_count="5"),
        lambda: CircuitBreaker(open_for="30s"),
        lambda: CircuitBreaker(failure_rate="high"),
        lambda: RateLimiter(capacity=1.5),
        lambda: Bulkhead(max_concurrent=None),
        lambda: CircuitBreaker(clock=5),
        lambda: CircuitBreaker(failure_on="OSError"),
        lambda: CircuitBreaker(on_state_change=3),
        lambda: Bulkhead(max_concurrent=1, lanes=["a"]),
    ],
)
def test_wrong_types_raise_type_error(build: Callable[[], Any]) -> None:
    with pytest.raises(TypeError):
        build()


def test_a_clock_returning_garbage_is_a_type_error_and_leaves_the_object_usable() -> None:
    readings: list[Any] = ["soon", -1, 5]
    breaker = CircuitBreaker(clock=lambda: readings[0])
    with pytest.raises(TypeError, match="clock"):
        breaker.acquire()
    readings.pop(0)
    with pytest.raises(TypeError, match="clock"):
        breaker.acquire()
    readings.pop(0)
    breaker.release(breaker.acquire())
    assert breaker.snapshot().calls == 0


def test_errors_pickle_and_keep_their_fields() -> None:
    refused = stanchion.CircuitOpenError("breaker_open", "breaker_open", 1_500_000_000)
    again = pickle.loads(pickle.dumps(refused))
    assert (again.reason, again.retry_after) == ("breaker_open", 1.5)
    config = pickle.loads(pickle.dumps(ConfigError("capacity", "1..=9", "capacity")))
    assert (config.parameter, config.allowed) == ("capacity", "1..=9")


def test_fractions_give_exact_nanoseconds() -> None:
    from fractions import Fraction

    limiter = RateLimiter(capacity=1, refill_every=Fraction(1, 3))
    assert limiter.snapshot().capacity == 1
    assert Backoff.constant(Fraction(1, 3), max_attempts=2).delays_ns() == [333_333_333]
