"""Bad input gives clear errors naming the parameter and its range; objects stay usable."""

from __future__ import annotations

import pickle
import time
from pathlib import Path
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

# Each option out of range, and the whole message: the parameter, what it accepts in plain
# Python words, and what was received.
BAD_VALUES: list[tuple[Callable[[], Any], str]] = [
    (lambda: CircuitBreaker(failure_count=0), "failure_count must be an int from 1 to 4294967295, or None, got 0"),
    (lambda: CircuitBreaker(failure_rate=1.5), "failure_rate must be a number in (0, 1], or None, got 1.5"),
    (lambda: CircuitBreaker(window_calls=321), "window_calls must be an int from 1 to 320, or None for a time window, got 321"),
    (lambda: CircuitBreaker(window_buckets=11), "window_buckets must be an int from 1 to 10, got 11"),
    (lambda: CircuitBreaker(window_seconds=5e-9, window_buckets=10), "window_seconds must be a number of seconds of at least 1 ns per bucket (window_buckets nanoseconds), got 5e-09"),
    (lambda: CircuitBreaker(open_for=float("nan")), "open_for must be a finite number of seconds ≥ 0, got nan"),
    (lambda: CircuitBreaker(open_for=-1), "open_for must be a finite number of seconds ≥ 0, got -1"),
    (lambda: CircuitBreaker(open_for=10, open_for_max=5), "open_for_max must be a number of seconds ≥ open_for, or None, got 5"),
    (lambda: CircuitBreaker(open_for_factor=0.5), "open_for_factor must be a number in [1, 65535], got 0.5"),
    (lambda: CircuitBreaker(slow_call_duration=1.0), "slow_call_rate must be a number in (0, 1] when slow_call_duration is given, got None"),
    (lambda: CircuitBreaker(slow_call_duration=0, slow_call_rate=0.5), "slow_call_duration must be a number of seconds > 0, got 0"),
    (lambda: CircuitBreaker(probe_timeout=0), "probe_timeout must be a number of seconds > 0, or None, got 0"),
    (lambda: CircuitBreaker(half_open_probes=70000), "half_open_probes must be an int from 1 to 65535, got 70000"),
    (lambda: CircuitBreaker(seed=-1), "seed must be an int from 0 to 18446744073709551615, got -1"),
    (lambda: RateLimiter(capacity=0), "capacity must be an int from 1 to 4294967295, got 0"),
    (lambda: RateLimiter(capacity=2**32), "capacity must be an int from 1 to 4294967295, got 4294967296"),
    (lambda: RateLimiter(capacity=1, refill_every=0), "refill_every must be a number of seconds > 0, got 0"),
    (lambda: RateLimiter(capacity=1, refill_amount=10, refill_every=1e-9), "refill_amount must be an int from 1 to 4294967295, and at most one token per nanosecond of refill_every (10^9 tokens per second), got 10"),
    (lambda: RateLimiter(capacity=1, timeout=-1), "timeout must be a finite number of seconds ≥ 0, got -1"),
    (lambda: RateLimiter(capacity=1).reserve_ns(max_wait=float("inf")), "timeout must be a finite number of seconds ≥ 0, got inf"),
    (lambda: KeyedRateLimiter(capacity=1, max_keys=0), "max_keys must be an int from 1 to 16, or a power of two up to 65536, got 0"),
    (lambda: KeyedRateLimiter(capacity=1, max_keys=17), "max_keys must be an int from 1 to 16, or a power of two up to 65536, got 17"),
    (lambda: KeyedRateLimiter(capacity=1, max_keys=1000), "max_keys must be an int from 1 to 16, or a power of two up to 65536, got 1000"),
    (lambda: KeyedRateLimiter(capacity=1, max_keys=65537), "max_keys must be an int from 1 to 16, or a power of two up to 65536, got 65537"),
    (lambda: KeyedRateLimiter(capacity=1, on_full="drop"), "on_full must be \"reject\" or \"admit\", got 'drop'"),
    (lambda: Bulkhead(max_concurrent=0), "max_concurrent must be an int from 1 to 16777215, got 0"),
    (lambda: Bulkhead(max_concurrent=2, max_waiting=5000), "max_waiting must be an int from 0 to 1024, got 5000"),
    (lambda: Bulkhead(max_concurrent=2, lanes=[2, 3]), "lanes must be a list of ceilings that starts at max_concurrent and never rises, each ≥ 1, got [2, 3]"),
    (lambda: Bulkhead(max_concurrent=1, timeout=-0.5), "timeout must be a finite number of seconds ≥ 0, got -0.5"),
    (lambda: Backoff(schedule="fibonacci"), "schedule must be \"constant\", \"linear\", \"exponential\" or \"decorrelated\", got 'fibonacci'"),
    (lambda: Backoff.constant(-1.0), "delay must be a finite number of seconds ≥ 0, got -1.0"),
    (lambda: Backoff.exponential(0.1, factor=0.5), "factor must be a number in [1, 1024], got 0.5"),
    (lambda: Backoff.exponential(0.1, jitter="wild"), "jitter must be \"none\", \"full\", \"equal\" or a number in [0, 1], got 'wild'"),
    (lambda: Backoff.exponential(0.1, max_delay=-2), "max_delay must be a finite number of seconds ≥ 0, got -2"),
    (lambda: Backoff.decorrelated(0.1, max_attempts=-1), "max_attempts must be an int from 1 to 4294967295, or None for no limit, got -1"),
    (lambda: RetryBudget(2000.0), "ratio must be a number in [0, 1000], got 2000.0"),
    (lambda: RetryBudget(min_retries_per_sec=2 * 10**9), "min_retries_per_sec must be an int from 0 to 1000000000, got 2000000000"),
    (lambda: stanchion.Policy(timeout=-1), "timeout must be a finite number of seconds ≥ 0, got -1"),
    (lambda: stanchion.Policy(attempt_timeout=0), "attempt_timeout must be a number of seconds > 0, got 0"),
    (lambda: stanchion.Policy(attempt_timeout=float("inf")), "attempt_timeout must be a number of seconds > 0, got inf"),
]


@pytest.mark.parametrize("build, message", BAD_VALUES)
def test_config_errors_say_the_parameter_what_it_accepts_and_what_it_got(
    build: Callable[[], Any], message: str
) -> None:
    with pytest.raises(ConfigError) as err:
        build()
    assert str(err.value) == message
    parameter = message.split(" must be ")[0]
    assert err.value.parameter == parameter
    assert f"{parameter} must be {err.value.allowed}, got {err.value.got!r}" == message
    assert isinstance(err.value, ValueError) and isinstance(err.value, stanchion.StanchionError)


def test_the_max_keys_message_agrees_with_the_table_it_builds() -> None:
    # Exactly the size asked for, never rounded: as the message and README say.
    sizes = {keys: KeyedRateLimiter(capacity=1, max_keys=keys).max_keys for keys in (1, 7, 16, 32, 1024, 65536)}
    assert sizes == {1: 1, 7: 7, 16: 16, 32: 32, 1024: 1024, 65536: 65536}
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert "a table of exactly `max_keys` slots: 1 to 16, or a power of two up to 65536" in readme
    for keys in (17, 1000):
        with pytest.raises(ConfigError) as err:
            KeyedRateLimiter(capacity=1, max_keys=keys)
        assert "round" not in str(err.value)


WRONG_TYPES: list[tuple[Callable[[], Any], str]] = [
    (lambda: CircuitBreaker(failure_count="5"), "failure_count must be an int, got '5' (str)"),
    (lambda: CircuitBreaker(open_for="30s"), "open_for must be a number of seconds, got '30s' (str)"),
    (lambda: CircuitBreaker(open_for=True), "open_for must be a number of seconds, got True (bool)"),
    (lambda: CircuitBreaker(failure_rate="high"), "failure_rate must be a number, got 'high' (str)"),
    (lambda: RateLimiter(capacity=1.5), "capacity must be an int, got 1.5 (float)"),
    (lambda: Bulkhead(max_concurrent=None), "max_concurrent must be an int, got None (NoneType)"),
    (lambda: Bulkhead(max_concurrent=1, lanes=["a"]), "lanes must be an int, got 'a' (str)"),
    (lambda: Bulkhead(max_concurrent=1, lane="top"), "lane must be an int, got 'top' (str)"),
    (lambda: CircuitBreaker(clock=5), "clock must be a callable returning integer nanoseconds, e.g. time.monotonic_ns, got 5 (int)"),
    (lambda: CircuitBreaker(failure_on="OSError"), "failure_on must be an exception type, a tuple of them, or a predicate, got 'OSError' (str)"),
    (lambda: CircuitBreaker(on_state_change=3), "on_state_change must be a callable taking (old, new), got 3 (int)"),
    (lambda: stanchion.Retry(seed=1.5), "seed must be an int or None, got 1.5 (float)"),
    (lambda: stanchion.Retry(retry_refusals="yes"), "retry_refusals must be True or False, got 'yes' (str)"),
    (lambda: KeyedRateLimiter(capacity=1, max_keys=16.0), "max_keys must be an int, got 16.0 (float)"),
    (lambda: KeyedRateLimiter(capacity=1).try_acquire(1.5), "key must be a str, bytes or int, got 1.5 (float)"),
]


@pytest.mark.parametrize("build, message", WRONG_TYPES)
def test_wrong_types_raise_type_error_saying_what_was_expected_and_got(
    build: Callable[[], Any], message: str
) -> None:
    with pytest.raises(TypeError) as err:
        build()
    assert str(err.value) == message


FLOAT_CLOCK = (
    "clock must return integer nanoseconds, e.g. time.monotonic_ns "
    "(time.monotonic returns float seconds), got {} (float)"
)


@pytest.mark.parametrize(
    "build",
    [
        lambda clock: CircuitBreaker(clock=clock),
        lambda clock: RateLimiter(capacity=1, clock=clock),
        lambda clock: KeyedRateLimiter(capacity=1, clock=clock),
        lambda clock: RetryBudget(clock=clock),
        lambda clock: stanchion.Retry(clock=clock),
        lambda clock: stanchion.Policy(clock=clock),
    ],
    ids=["CircuitBreaker", "RateLimiter", "KeyedRateLimiter", "RetryBudget", "Retry", "Policy"],
)
def test_a_clock_is_refused_at_construction_unless_it_returns_nanoseconds(
    build: Callable[[Callable[[], Any]], Any],
) -> None:
    with pytest.raises(TypeError) as err:
        build(lambda: 12.5)
    assert str(err.value) == FLOAT_CLOCK.format("12.5")
    with pytest.raises(TypeError) as err:
        build(time.monotonic)
    assert str(err.value).startswith("clock must return integer nanoseconds, e.g. time.monotonic_ns")
    with pytest.raises(TypeError) as err:
        build(lambda: True)
    assert str(err.value) == "clock must return integer nanoseconds, e.g. time.monotonic_ns, got True (bool)"
    with pytest.raises(ConfigError) as negative:
        build(lambda: -1)
    assert str(negative.value) == (
        "clock must be a callable returning integer nanoseconds from 0 to "
        "18446744073709551615, e.g. time.monotonic_ns, got -1"
    )
    build(time.monotonic_ns)
    build(lambda: 0)


def test_a_clock_returning_garbage_later_is_refused_and_leaves_the_object_usable() -> None:
    readings: list[Any] = [5, "soon", -1, 5]
    breaker = CircuitBreaker(clock=lambda: readings[0])
    readings.pop(0)
    with pytest.raises(TypeError, match=r"^clock must return integer nanoseconds.*got 'soon' \(str\)$"):
        breaker.acquire()
    readings.pop(0)
    with pytest.raises(ConfigError, match=r"^clock must be .*got -1$"):
        breaker.acquire()
    readings.pop(0)
    breaker.release(breaker.acquire())
    assert breaker.snapshot().calls == 0


def test_errors_pickle_and_keep_their_fields() -> None:
    refused = stanchion.CircuitOpenError("breaker_open", "breaker_open", 1_500_000_000)
    again = pickle.loads(pickle.dumps(refused))
    assert (again.reason, again.retry_after) == ("breaker_open", 1.5)
    config = pickle.loads(pickle.dumps(ConfigError("capacity", "an int from 1 to 9", "capacity", 0)))
    assert (config.parameter, config.allowed, config.got) == ("capacity", "an int from 1 to 9", 0)
    assert str(config) == "capacity must be an int from 1 to 9, got 0"
    bare = pickle.loads(pickle.dumps(ConfigError("capacity", "an int from 1 to 9")))
    assert (str(bare), bare.got) == ("capacity must be an int from 1 to 9", None)


def test_fractions_give_exact_nanoseconds() -> None:
    from fractions import Fraction

    limiter = RateLimiter(capacity=1, refill_every=Fraction(1, 3))
    assert limiter.snapshot().capacity == 1
    assert Backoff.constant(Fraction(1, 3), max_attempts=2).delays_ns() == [333_333_333]
