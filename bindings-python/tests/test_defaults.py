"""The binding's defaults and ranges are the core's.

``_stanchion.defaults()`` reads them from the core (its config constructors and exported
constants), plus the sizes the core leaves to a binding; these tests compare every Python
default and every range edge with them, so neither side can drift alone.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import Any, Callable, Dict, List

import pytest

import stanchion
from stanchion import (
    AdaptiveLimiter,
    Backoff,
    Bulkhead,
    BulkheadFullError,
    CircuitBreaker,
    ConfigError,
    KeyedRateLimiter,
    RateLimiter,
    Retry,
    RetryBudget,
)
from stanchion import _stanchion

CORE: Dict[str, Any] = _stanchion.defaults()
NS = 1_000_000_000


def default(func: Callable[..., Any], name: str) -> Any:
    return inspect.signature(func).parameters[name].default


def test_breaker_defaults_are_the_cores() -> None:
    assert default(CircuitBreaker, "failure_count") == CORE["breaker_failure_count"]
    assert default(CircuitBreaker, "consecutive_failures") == CORE["breaker_consecutive_failures"]
    assert default(CircuitBreaker, "failure_rate") == CORE["breaker_failure_rate"]
    assert default(CircuitBreaker, "minimum_calls") == CORE["breaker_minimum_calls"]
    assert default(CircuitBreaker, "slow_call_duration") is None and not CORE["breaker_slow_call"]
    assert default(CircuitBreaker, "window_calls") is None  # the core's default is a time window
    assert default(CircuitBreaker, "window_seconds") * NS == CORE["breaker_window_span_ns"]
    assert default(CircuitBreaker, "window_buckets") == CORE["breaker_window_buckets"]
    assert default(CircuitBreaker, "open_for") * NS == CORE["breaker_open_for_ns"]
    # `None`: no growth, the core's `open_for_max` equal to `open_for`.
    assert default(CircuitBreaker, "open_for_max") is None
    assert CORE["breaker_open_for_max_ns"] == CORE["breaker_open_for_ns"]
    assert default(CircuitBreaker, "open_for_factor") == CORE["breaker_open_for_factor"]
    assert default(CircuitBreaker, "open_for_jitter") == CORE["breaker_open_for_jitter"]
    assert default(CircuitBreaker, "half_open_probes") == CORE["breaker_half_open_probes"]
    assert default(CircuitBreaker, "half_open_successes") == CORE["breaker_half_open_successes"]
    assert default(CircuitBreaker, "probe_timeout") is None is CORE["breaker_probe_timeout_ns"]
    assert default(CircuitBreaker, "seed") == CORE["breaker_seed"]


def test_breaker_ranges_are_the_cores() -> None:
    CircuitBreaker(half_open_probes=CORE["breaker_max_probes"])
    with pytest.raises(ConfigError, match="half_open_probes"):
        CircuitBreaker(half_open_probes=CORE["breaker_max_probes"] + 1)


def test_backoff_budget_and_bucket_defaults_are_the_cores() -> None:
    for build in (Backoff, Backoff.constant, Backoff.linear, Backoff.exponential, Backoff.decorrelated):
        assert default(build, "max_attempts") == CORE["backoff_max_attempts"], build
        assert default(build, "max_delay") is None is CORE["backoff_max_delay_ns"]
        assert default(build, "max_elapsed") is None is CORE["backoff_max_elapsed_ns"]
    assert default(RetryBudget, "min_retries_per_sec") == CORE["budget_min_retries_per_sec"]
    assert default(RetryBudget, "max_balance") == CORE["budget_max_balance"]
    for limiter in (RateLimiter, KeyedRateLimiter):
        assert default(limiter, "refill_amount") == CORE["bucket_refill_amount"]
        assert default(limiter, "refill_every") * NS == CORE["bucket_refill_every_ns"]
    assert default(Retry, "retry_refusals") is CORE["retry_refusals"] is False


def test_bulkhead_ranges_are_the_cores() -> None:
    top = CORE["bulkhead_max_concurrent"]
    assert top == 16_777_215
    assert Bulkhead(max_concurrent=top).snapshot().max_concurrent == top
    with pytest.raises(ConfigError, match="max_concurrent") as err:
        Bulkhead(max_concurrent=top + 1)
    assert err.value.allowed == f"an int from 1 to {top}"
    lanes = CORE["bulkhead_max_lanes"]
    Bulkhead(max_concurrent=lanes, lanes=list(range(lanes, 0, -1)))
    with pytest.raises(ConfigError, match="lanes"):
        Bulkhead(max_concurrent=lanes + 1, lanes=list(range(lanes + 1, 0, -1)))
    # The waiter table is the binding's, within the core's largest.
    table = CORE["bulkhead_waiters"]
    assert 0 < table <= CORE["bulkhead_max_waiters"]
    Bulkhead(max_concurrent=1, max_waiting=0)
    Bulkhead(max_concurrent=1, max_waiting=table)
    with pytest.raises(ConfigError, match="max_waiting") as err:
        Bulkhead(max_concurrent=1, max_waiting=table + 1)
    assert err.value.allowed == f"an int from 0 to {table}"


def queued(bulkhead: Bulkhead) -> int:
    """How many callers may wait at once: enqueue behind a held slot until one is refused."""

    async def fill() -> int:
        held = bulkhead.try_acquire()
        waiters: List[stanchion.BulkheadWaiter] = []
        try:
            while True:
                waiter = bulkhead.enqueue(None, lambda: None)
                try:
                    waiter.poll()
                except BulkheadFullError as refused:
                    assert refused.reason == "queue_full"
                    return len(waiters)
                waiters.append(waiter)
        finally:
            for waiter in waiters:
                waiter.cancel()
            held.release()

    return asyncio.run(fill())


def test_max_waiting_left_out_is_the_cores_default() -> None:
    # The core's default is no limit of the config's own (u32::MAX), bounded by the waiter table.
    assert default(Bulkhead, "max_waiting") is None
    assert CORE["bulkhead_max_waiting"] == 2**32 - 1
    expected = min(CORE["bulkhead_max_waiting"], CORE["bulkhead_waiters"])
    assert queued(Bulkhead(max_concurrent=1)) == expected == 1024
    assert queued(Bulkhead(max_concurrent=1, max_waiting=3)) == 3
    assert queued(Bulkhead(max_concurrent=1, max_waiting=0)) == 0


def test_keyed_sizes_and_default() -> None:
    sizes = CORE["keyed_sizes"]
    assert sizes == sorted(sizes) and sizes == _stanchion.KEYED_SIZES
    # Every table a conformance file may ask for (up to the core's probe window) is offered
    # exactly, then powers of two.
    assert set(range(1, CORE["keyed_max_probe"] + 1)) <= set(sizes)
    assert sizes == list(range(1, 17)) + [2**k for k in range(5, 17)]
    assert default(KeyedRateLimiter, "max_keys") == CORE["keyed_max_keys"] in sizes
    assert default(KeyedRateLimiter, "on_full") == CORE["keyed_on_full"]
    for size in sizes:
        assert KeyedRateLimiter(capacity=1, max_keys=size).max_keys == size
    for size in set(range(0, sizes[-1] + 2)) - set(sizes):
        if size < 100 or size % 1000 == 0 or size == sizes[-1] + 1:
            with pytest.raises(ConfigError, match="max_keys"):
                KeyedRateLimiter(capacity=1, max_keys=size)


def test_adaptive_defaults_are_the_cores() -> None:
    assert default(AdaptiveLimiter, "algorithm") == CORE["adaptive_algorithm"]
    for name in ("initial_limit", "min_limit", "max_limit", "min_samples", "seed"):
        assert default(AdaptiveLimiter, name) == CORE[f"adaptive_{name}"], name
    assert default(AdaptiveLimiter, "window") * NS == CORE["adaptive_window_ns"]
    # An algorithm's parameters left out are the core's own defaults for that algorithm.
    for name in ("backoff_ratio", "aimd_timeout", "alpha", "beta", "probe_multiplier",
                 "smoothing", "queue_size", "long_window", "rtt_tolerance", "creep_guard"):
        assert default(AdaptiveLimiter, name) is None, name
    assert (CORE["aimd_backoff_ratio"], CORE["aimd_timeout_ns"]) == (0.9, 5 * NS)
    assert (CORE["vegas_alpha"], CORE["vegas_beta"], CORE["vegas_probe_multiplier"]) == (3, 6, 30)
    assert (CORE["gradient2_queue_size"], CORE["gradient2_long_window"]) == (4, 600)
    assert CORE["vegas_smoothing"] != CORE["gradient2_smoothing"], "why None stands for either"


def test_each_algorithm_left_to_its_defaults_equals_them_given() -> None:
    """The same traffic through a limiter built with the parameters left out and through one
    given the core's defaults explicitly changes the limit the same way."""
    given = {
        "aimd": {"backoff_ratio": CORE["aimd_backoff_ratio"], "aimd_timeout": CORE["aimd_timeout_ns"] / NS},
        "vegas": {k: CORE[f"vegas_{k}"] for k in ("alpha", "beta", "probe_multiplier", "smoothing")},
        "gradient2": {
            k: CORE[f"gradient2_{k}"]
            for k in ("smoothing", "queue_size", "long_window", "rtt_tolerance", "creep_guard")
        },
    }
    for algorithm, parameters in given.items():
        limits = []
        for options in ({}, parameters):
            now = [0]
            limiter = AdaptiveLimiter(
                algorithm=algorithm,  # type: ignore[arg-type]
                min_samples=1,
                window=0,
                clock=lambda: now[0],
                **options,
            )
            trace = []
            for latency in (10, 10, 40, 40, 10, 80) * 3:
                permit = limiter.try_acquire()
                now[0] += latency * 1_000_000
                permit.record("success")
                trace.append(limiter.limit)
            limits.append(trace)
        assert limits[0] == limits[1], algorithm


def test_adaptive_ranges_are_the_cores() -> None:
    top = CORE["adaptive_limit_max"]
    assert AdaptiveLimiter(initial_limit=top, max_limit=top).limit == top
    with pytest.raises(ConfigError, match="max_limit") as err:
        AdaptiveLimiter(max_limit=top + 1)
    assert err.value.allowed == f"an int from min_limit to {top}"
    table = CORE["adaptive_waiters"]
    assert 0 < table <= CORE["bulkhead_max_waiters"] and table == CORE["bulkhead_waiters"]
    assert CORE["adaptive_max_waiting"] == 2**32 - 1 and default(AdaptiveLimiter, "max_waiting") is None
    AdaptiveLimiter(max_waiting=table)
    with pytest.raises(ConfigError, match="max_waiting") as err:
        AdaptiveLimiter(max_waiting=table + 1)
    assert err.value.allowed == f"an int from 0 to {table}"
