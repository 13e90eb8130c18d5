"""Backoff, RetryBudget and Retry in fake time."""

from __future__ import annotations

import asyncio

import pytest

import stanchion
from stanchion import Backoff, Retry, RetryBudget, RetryBudgetExhaustedError

from conftest import FakeClock


def test_backoff_schedules_and_caps() -> None:
    assert Backoff.constant(0.5, max_attempts=4).delays() == [0.5, 0.5, 0.5]
    assert Backoff.linear(0.1, 0.2, max_attempts=4).delays_ns() == [100_000_000, 300_000_000, 500_000_000]
    assert Backoff.exponential(1.0, 3.0, max_delay=5.0, max_attempts=5).delays() == [1.0, 3.0, 5.0, 5.0]
    assert Backoff.exponential(1.0, max_attempts=None, max_elapsed=10.0).delays() == [1.0, 2.0, 4.0]
    assert Backoff.constant(1.0, max_attempts=2).delay(1) is None
    assert Backoff.constant(1.0).max_attempts == 3


def test_jitter_is_deterministic_per_seed_and_bounded() -> None:
    backoff = Backoff.exponential(0.1, jitter="full", max_attempts=10)
    for seed in range(20):
        waits = backoff.delays(seed)
        assert waits == backoff.delays(seed)
        assert all(0 <= w <= 0.1 * 2**i for i, w in enumerate(waits))
    assert backoff.delays(1) != backoff.delays(2)
    assert Backoff.decorrelated(0.1, max_delay=1.0, max_attempts=5).delays(3) == Backoff.decorrelated(
        0.1, max_delay=1.0, max_attempts=5
    ).delays(3)


def test_retry_sleeps_the_backoff_and_returns_on_success(clock: FakeClock) -> None:
    retry = Retry(Backoff.exponential(0.1, max_attempts=4), clock=clock, sleep=clock.sleep)
    attempts = []

    @retry
    def flaky() -> str:
        attempts.append(clock.now)
        if len(attempts) < 4:
            raise ConnectionError
        return "ok"

    assert flaky() == "ok"
    assert clock.slept == pytest.approx([0.1, 0.2, 0.4])


def test_retry_stops_and_reraises_the_last_error(clock: FakeClock) -> None:
    seen: list[tuple[int, float]] = []
    retry = Retry(
        Backoff.constant(1.0, max_attempts=3),
        clock=clock,
        sleep=clock.sleep,
        on_retry=lambda n, wait, exc: seen.append((n, wait)),
    )
    calls = []

    @retry
    def fail() -> None:
        calls.append(1)
        raise TimeoutError(len(calls))

    with pytest.raises(TimeoutError) as err:
        fail()
    assert err.value.args == (3,)
    assert seen == [(1, 1.0), (2, 1.0)]


def test_ignore_on_and_unlisted_exceptions_are_not_retried(clock: FakeClock) -> None:
    retry = Retry(
        Backoff.constant(0.0, max_attempts=5),
        failure_on=(ConnectionError,),
        ignore_on=(ConnectionRefusedError,),
        clock=clock,
        sleep=clock.sleep,
    )
    for exc in (ValueError(), ConnectionRefusedError()):
        calls = []

        @retry
        def fail() -> None:
            calls.append(1)
            raise exc

        with pytest.raises(type(exc)):
            fail()
        assert len(calls) == 1


def test_failure_result_is_retried_then_returned(clock: FakeClock) -> None:
    retry = Retry(Backoff.constant(0.0, max_attempts=3), failure_result=lambda r: r is None, clock=clock)
    results = iter([None, None, None, "late"])

    @retry
    def poll() -> object:
        return next(results)

    assert poll() is None  # three calls, all None: the last result is returned
    assert poll() == "late"


def test_budget_refuses_retries_beyond_the_share(clock: FakeClock) -> None:
    budget = RetryBudget(0.5, min_retries_per_sec=0, clock=clock)
    retry = Retry(Backoff.constant(0.0, max_attempts=10), budget=budget, clock=clock, sleep=clock.sleep)

    @retry
    def fail() -> None:
        raise ConnectionError("down")

    with pytest.raises(RetryBudgetExhaustedError) as refused:
        fail()  # one deposit of 0.5 token: no whole retry
    assert isinstance(refused.value.__cause__, ConnectionError)
    assert refused.value.reason == "retry_budget_exhausted"
    budget.deposit()
    assert budget.snapshot().retries_available == 1
    assert budget.try_retry() and not budget.try_retry()


def test_refusal_retry_after_raises_the_next_wait(clock: FakeClock) -> None:
    breaker = stanchion.CircuitBreaker(consecutive_failures=1, failure_count=None, open_for=2.0, clock=clock)
    retry = Retry(Backoff.constant(0.1, max_delay=5.0, max_attempts=3), clock=clock, sleep=clock.sleep)
    calls = []

    @retry
    @breaker
    def call() -> str:
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError
        return "ok"

    assert call() == "ok"
    # 1st: fails and trips. 2nd after 0.1 s: refused, open 1.9 s more. 3rd: waits the hint.
    assert clock.slept == pytest.approx([0.1, 1.9])


def test_async_retry_uses_async_sleep(clock: FakeClock) -> None:
    retry = Retry(Backoff.constant(0.25, max_attempts=3), clock=clock, async_sleep=clock.async_sleep)
    attempts = []

    @retry
    async def flaky(x: int) -> int:
        attempts.append(1)
        if len(attempts) < 3:
            raise OSError
        return x

    assert asyncio.run(flaky(7)) == 7
    assert clock.slept == [0.25, 0.25]


def test_retry_rejects_bad_arguments() -> None:
    with pytest.raises(TypeError, match="backoff"):
        Retry("fast")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="failure_on"):
        Retry(failure_on=42)  # type: ignore[arg-type]
    with pytest.raises(stanchion.ConfigError, match="max_attempts"):
        Backoff.constant(0.1, max_attempts=0)
    with pytest.raises(stanchion.ConfigError, match="factor"):
        Backoff.exponential(0.1, factor=0.5)
    with pytest.raises(stanchion.ConfigError, match="ratio"):
        RetryBudget(-1.0)


def test_attempts_retry_a_with_block(clock: FakeClock) -> None:
    retry = Retry(Backoff.constant(0.5, max_attempts=4), clock=clock, sleep=clock.sleep)
    runs = []
    for attempt in retry.attempts():
        with attempt:
            runs.append(attempt.number)
            if len(runs) < 3:
                raise ConnectionError
    assert runs == [1, 2, 3] and clock.slept == [0.5, 0.5]


def test_attempts_propagate_once_retries_stop(clock: FakeClock) -> None:
    retry = Retry(Backoff.constant(0.0, max_attempts=2), clock=clock, sleep=clock.sleep)
    runs = []
    with pytest.raises(ConnectionError):
        for attempt in retry.attempts():
            with attempt:
                runs.append(1)
                raise ConnectionError
    assert len(runs) == 2


def test_async_attempts_wait_with_async_sleep(clock: FakeClock) -> None:
    retry = Retry(Backoff.constant(0.25, max_attempts=3), clock=clock, async_sleep=clock.async_sleep)

    async def main() -> int:
        runs = 0
        async for attempt in retry.attempts():
            async with attempt:
                runs += 1
                if runs < 2:
                    raise OSError
        return runs

    assert asyncio.run(main()) == 2
    assert clock.slept == [0.25]
