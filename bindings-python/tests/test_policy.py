"""Policy: the order of the layers, the deadline, fallback, and permits on every path."""

from __future__ import annotations

import asyncio
import functools
import inspect
from typing import Any

import pytest

import stanchion
from stanchion import (
    Backoff,
    Bulkhead,
    BulkheadFullError,
    CircuitBreaker,
    CircuitOpenError,
    Policy,
    RateLimiter,
    Retry,
    TimeoutExceededError,
)

from conftest import FakeClock


def test_fallback_answers_for_an_open_breaker(clock: FakeClock) -> None:
    breaker = CircuitBreaker(consecutive_failures=1, failure_count=None, clock=clock)
    seen: list[type] = []

    def fallback(exc: Exception) -> str:
        seen.append(type(exc))
        return "cached"

    policy = Policy(breaker=breaker, fallback=fallback, clock=clock)

    @policy
    def fetch() -> str:
        raise ConnectionError

    assert fetch() == "cached"
    assert fetch() == "cached"
    assert seen == [ConnectionError, CircuitOpenError]


def test_a_past_deadline_is_not_called(clock: FakeClock) -> None:
    policy = Policy(timeout=0, clock=clock)
    calls = []
    with pytest.raises(TimeoutExceededError):
        policy.call(lambda: calls.append(1))
    assert calls == []
    assert issubclass(TimeoutExceededError, TimeoutError)


def test_retries_stop_at_the_deadline(clock: FakeClock) -> None:
    retry = Retry(Backoff.constant(1.0, max_attempts=10), clock=clock, sleep=clock.sleep)
    policy = Policy(timeout=2.5, retry=retry, clock=clock)
    calls = []

    def fail() -> None:
        calls.append(1)
        raise ConnectionError

    with pytest.raises(ConnectionError):
        policy.call(fail)
    assert len(calls) == 3  # at 0, 1 and 2 s; a wait to 3 s would pass the deadline


def test_inner_refusal_releases_the_breaker_probe(clock: FakeClock) -> None:
    breaker = CircuitBreaker(half_open_probes=1, clock=clock)
    breaker.force_open()
    breaker.reset()
    bulkhead = Bulkhead(max_concurrent=1, max_waiting=0)  # refuses rather than waits
    policy = Policy(breaker=breaker, bulkhead=bulkhead, clock=clock)
    held = bulkhead.try_acquire()
    with pytest.raises(BulkheadFullError):
        policy.call(lambda: None)
    held.release()
    snap = breaker.snapshot()
    assert (snap.calls, snap.failures) == (0, 0), "a bulkhead refusal is not the dependency's failure"
    assert policy.call(lambda: 5) == 5


def test_order_breaker_outside_bulkhead_outside_limiter(clock: FakeClock) -> None:
    limiter = RateLimiter(capacity=1, clock=clock)
    breaker = CircuitBreaker(clock=clock)
    bulkhead = Bulkhead(max_concurrent=2)
    policy = Policy(breaker=breaker, bulkhead=bulkhead, limiter=limiter, clock=clock)
    assert policy.call(lambda: "a") == "a"
    with pytest.raises(stanchion.RateLimitedError):
        policy.call(lambda: "b")
    assert bulkhead.snapshot().in_flight == 0
    assert breaker.snapshot().calls == 1


def test_async_timeout_cancels_and_frees_every_permit() -> None:
    breaker = CircuitBreaker()
    bulkhead = Bulkhead(max_concurrent=1)
    policy = Policy(breaker=breaker, bulkhead=bulkhead, timeout=0.01)

    @policy
    async def hang() -> None:
        await asyncio.Event().wait()

    with pytest.raises(TimeoutExceededError):
        asyncio.run(hang())
    assert bulkhead.snapshot().in_flight == 0
    snap = breaker.snapshot()
    assert (snap.calls, snap.failures, snap.probes_in_flight) == (1, 1, 0)


async def _hang() -> None:
    await asyncio.Event().wait()


def test_calls_that_hang_past_the_timeout_trip_the_breaker() -> None:
    breaker = CircuitBreaker(consecutive_failures=3, failure_count=None)
    policy = Policy(timeout=0.05, breaker=breaker)
    calls: list[int] = []

    @policy
    async def fetch() -> None:
        calls.append(1)
        await _hang()

    async def main() -> list[type]:
        raised = []
        for _ in range(10):
            try:
                await fetch()
            except Exception as exc:
                raised.append(type(exc))
        return raised

    raised = asyncio.run(main())
    assert raised == [TimeoutExceededError] * 3 + [CircuitOpenError] * 7
    assert len(calls) == 3
    snap = breaker.snapshot()
    assert breaker.state == "open"
    assert (snap.calls, snap.failures, snap.rejected_open) == (3, 3, 7)


def test_a_timed_out_call_counts_as_slow(clock: FakeClock) -> None:
    breaker = CircuitBreaker(
        failure_count=None, slow_call_duration=0.5, slow_call_rate=1.0, minimum_calls=3, clock=clock
    )
    policy = Policy(attempt_timeout=0.01, breaker=breaker, clock=clock)

    @policy
    async def slow() -> None:
        clock.advance(1.0)  # the dependency takes a second of the breaker's time, then hangs
        await _hang()

    async def main() -> None:
        for _ in range(3):
            with pytest.raises(TimeoutExceededError, match="attempt_timeout"):
                await slow()

    asyncio.run(main())
    snap = breaker.snapshot()
    assert (snap.calls, snap.failures, snap.slow_calls) == (3, 3, 3)
    assert breaker.state == "open", "the slow-call rate tripped it"


def test_an_attempt_timeout_is_retried_whatever_the_classifier(clock: FakeClock) -> None:
    breaker = CircuitBreaker(clock=clock)
    # The retry's classifier retries only ConnectionError: the core retries a timed-out
    # attempt regardless.
    retry = Retry(
        Backoff.constant(0.25, max_attempts=3),
        failure_on=ConnectionError,
        clock=clock,
        async_sleep=clock.async_sleep,
    )
    policy = Policy(attempt_timeout=0.01, retry=retry, breaker=breaker, clock=clock)
    calls: list[int] = []

    @policy
    async def flaky() -> str:
        calls.append(1)
        if len(calls) == 1:
            await _hang()
        return "ok"

    assert asyncio.run(flaky()) == "ok"
    assert len(calls) == 2 and clock.slept == [0.25]
    snap = breaker.snapshot()
    assert (snap.failures, snap.successes) == (1, 1)


def test_the_deadline_caps_the_attempt_timeout_and_ends_the_call(clock: FakeClock) -> None:
    retries: list[int] = []
    retry = Retry(
        Backoff.constant(0.0, max_attempts=5),
        clock=clock,
        async_sleep=clock.async_sleep,
        on_retry=lambda n, wait, exc: retries.append(n),
    )
    breaker = CircuitBreaker(clock=clock)
    policy = Policy(timeout=0.02, attempt_timeout=0.015, retry=retry, breaker=breaker, clock=clock)
    calls: list[int] = []

    @policy
    async def fetch() -> None:
        calls.append(1)
        if len(calls) == 1:
            clock.advance(0.015)  # the first attempt uses its whole attempt timeout
        await _hang()

    # The second attempt has 5 ms left of the deadline, less than its attempt timeout: cut off
    # at the deadline, it ends the call rather than being retried.
    with pytest.raises(TimeoutExceededError, match="deadline"):
        asyncio.run(fetch())
    assert len(calls) == 2 and retries == [1]
    assert breaker.snapshot().failures == 2


def test_a_caller_cancelling_the_call_records_nothing(clock: FakeClock) -> None:
    breaker = CircuitBreaker(consecutive_failures=1, failure_count=None, open_for=1.0, clock=clock)
    breaker.acquire().failure()
    clock.advance(1.0)  # the next call is the half-open breaker's one probe
    policy = Policy(attempt_timeout=60.0, timeout=60.0, breaker=breaker, clock=clock)
    started = asyncio.Event()

    @policy
    async def fetch() -> None:
        started.set()
        await _hang()

    async def main() -> None:
        task = asyncio.ensure_future(fetch())
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    snap = breaker.snapshot()
    assert (snap.state, snap.probes_in_flight) == ("half_open", 0)
    assert (snap.calls, snap.failures) == (1, 1), "only the failure that tripped it"
    assert policy.call(lambda: "ok") == "ok", "the probe slot is free again"
    assert breaker.state == "closed"


def test_a_policy_inside_a_policy_hands_its_timeout_out_as_an_error() -> None:
    inner = Policy(attempt_timeout=0.01)
    outer_breaker = CircuitBreaker(ignore_on=TimeoutExceededError)
    outer = Policy(breaker=outer_breaker)

    @outer
    async def fetch() -> None:
        await inner.acall(_hang)

    with pytest.raises(TimeoutExceededError):
        asyncio.run(fetch())
    snap = outer_breaker.snapshot()
    assert (snap.calls, snap.failures) == (0, 0), "the outer breaker's classifier judged it"


def test_attempt_timeout_is_checked() -> None:
    with pytest.raises(stanchion.ConfigError, match=r"attempt_timeout must be a number of seconds > 0, got 0"):
        Policy(attempt_timeout=0)
    with pytest.raises(stanchion.ConfigError, match="attempt_timeout"):
        Policy(attempt_timeout=-0.5)
    with pytest.raises(TypeError, match="attempt_timeout"):
        Policy(attempt_timeout="1")  # type: ignore[arg-type]
    assert Policy(attempt_timeout=0.25).attempt_timeout == 0.25


def test_async_policy_retries_through_the_breaker(clock: FakeClock) -> None:
    retry = Retry(Backoff.constant(0.5, max_attempts=3), clock=clock, async_sleep=clock.async_sleep)
    policy = Policy(retry=retry, breaker=CircuitBreaker(clock=clock), bulkhead=Bulkhead(max_concurrent=1), clock=clock)
    attempts = []

    @policy
    async def flaky() -> int:
        attempts.append(1)
        if len(attempts) < 3:
            raise OSError
        return len(attempts)

    assert asyncio.run(flaky()) == 3
    assert clock.slept == [0.5, 0.5]


def test_policy_rejects_bad_parts() -> None:
    with pytest.raises(TypeError, match="breaker"):
        Policy(breaker=Bulkhead(max_concurrent=1))  # type: ignore[arg-type]
    with pytest.raises(stanchion.ConfigError, match="timeout"):
        Policy(timeout=-1)


def test_call_refuses_a_coroutine_function_and_records_nothing() -> None:
    breaker = CircuitBreaker()
    policy = Policy(breaker=breaker, fallback=lambda exc: "fallback")

    async def always_fails() -> str:
        raise ConnectionError("down")

    with pytest.raises(TypeError, match=r"always_fails is a coroutine function.*acall"):
        policy.call(always_fails)  # type: ignore[deprecated]
    with pytest.raises(TypeError, match="acall"):
        policy.call(functools.partial(always_fails))  # type: ignore[deprecated]
    assert breaker.snapshot().calls == 0
    assert asyncio.run(policy.acall(always_fails)) == "fallback"  # the right entry point


def test_call_refuses_an_awaitable_result_without_recording_or_retrying(clock: FakeClock) -> None:
    breaker = CircuitBreaker(clock=clock)
    retry = Retry(Backoff.constant(0.0, max_attempts=3), clock=clock, sleep=clock.sleep)
    policy = Policy(breaker=breaker, retry=retry, fallback=lambda exc: "fallback", clock=clock)
    calls: list[int] = []

    async def fetch() -> str:
        raise ConnectionError("down")

    def hidden() -> Any:  # a sync function that hands back a coroutine
        calls.append(1)
        return fetch()

    with pytest.raises(TypeError, match=r"hidden returned an awaitable \(coroutine\).*acall"):
        policy.call(hidden)
    assert calls == [1], "not retried"
    snap = breaker.snapshot()
    assert (snap.calls, snap.successes, snap.probes_in_flight) == (0, 0, 0)

    @policy
    def decorated() -> Any:
        return fetch()

    with pytest.raises(TypeError, match="acall"):
        decorated()


def test_decorators_see_an_async_callable_object(clock: FakeClock) -> None:
    class Client:
        async def __call__(self) -> str:
            raise ConnectionError("down")

    breaker = CircuitBreaker(consecutive_failures=1, failure_count=None, clock=clock)
    policy = Policy(breaker=breaker, clock=clock)
    for protected in (breaker(Client()), policy(Client())):
        assert inspect.iscoroutinefunction(protected)
    with pytest.raises(ConnectionError):
        asyncio.run(breaker(Client())())
    assert breaker.snapshot().failures == 1
