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
