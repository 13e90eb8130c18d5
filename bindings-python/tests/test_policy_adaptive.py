"""Policy with an adaptive limiter: each attempt holds its permit (after a bulkhead's), and
its sample follows the core's decision on how the attempt ended."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from stanchion import (
    AdaptiveLimiter,
    Backoff,
    Bulkhead,
    BulkheadFullError,
    CircuitBreaker,
    Policy,
    RateLimitedError,
    RateLimiter,
    Retry,
    TimeoutExceededError,
    _stanchion,
)

from adaptive_support import every_call_a_window
from conftest import FakeClock

async def _hang() -> None:
    await asyncio.Event().wait()


def test_the_core_decides_the_sample_of_each_observed_ending() -> None:
    assert _stanchion.attempt_ended("attempt_timeout") == ("failure", "dropped", "ask", "retryable")
    assert _stanchion.attempt_ended("deadline") == ("failure", "dropped", "stop", "deadline")
    assert _stanchion.attempt_ended("deadline_before_call")[:2] == ("release", "ignored")
    assert _stanchion.attempt_ended("cancelled") == ("release", "ignored", "abandon", None)
    # The caller's verdict, as the breaker's outcome (SUCCESS, FAILURE, IGNORED).
    assert [_stanchion.attempt_judged(n) for n in (0, 1, 2)] == ["success", "failure", "ignored"]
    # An error the limiter calls a refusal for overload: a drop, whatever the breaker records.
    assert [_stanchion.attempt_judged(n, True) for n in (1, 2)] == ["dropped", "dropped"]
    with pytest.raises(ValueError, match="outcome"):
        _stanchion.attempt_judged(3)


def test_a_call_that_answers_is_a_sample(clock: FakeClock) -> None:
    limiter, changes = every_call_a_window(clock, initial_limit=2)
    policy = Policy(adaptive=limiter, clock=clock)

    def inside() -> str:
        assert limiter.snapshot().in_flight == 1
        return "ok"

    assert policy.call(inside) == "ok"
    with pytest.raises(ValueError):
        policy.call(lambda: int("x"))  # an error without a breaker: a failure, a sample too
    assert changes == [(2, 3)]
    snap = limiter.snapshot()
    assert (snap.in_flight, snap.windows) == (0, 2)


def test_an_error_the_breaker_ignores_samples_nothing(clock: FakeClock) -> None:
    limiter, changes = every_call_a_window(clock, initial_limit=2)
    breaker = CircuitBreaker(ignore_on=KeyError, clock=clock)
    policy = Policy(breaker=breaker, adaptive=limiter, clock=clock)
    with pytest.raises(KeyError):
        policy.call(lambda: {}["missing"])
    snap = limiter.snapshot()
    assert (snap.in_flight, snap.windows, changes) == (0, 0, [])
    with pytest.raises(ConnectionError):
        policy.call(_raise(ConnectionError()))
    assert limiter.snapshot().windows == 1 and changes == [(2, 3)]
    assert breaker.snapshot().failures == 1


def _raise(exc: Exception) -> Any:
    def call() -> None:
        raise exc

    return call


def test_an_attempt_timeout_is_a_drop_that_lowers_the_limit(clock: FakeClock) -> None:
    limiter, changes = every_call_a_window(clock, initial_limit=10)
    breaker = CircuitBreaker(clock=clock)
    retry = Retry(Backoff.constant(0.0, max_attempts=2), clock=clock, async_sleep=clock.async_sleep)
    policy = Policy(
        attempt_timeout=0.01, retry=retry, breaker=breaker, adaptive=limiter, clock=clock
    )
    calls: List[int] = []

    @policy
    async def flaky() -> str:
        calls.append(1)
        if len(calls) == 1:
            await _hang()
        return "ok"

    assert asyncio.run(flaky()) == "ok"
    # The first attempt was cut off: a drop (10 -> 9); the retry answered: a sample, and at
    # 1 in flight of 9 the window is application-limited.
    assert changes == [(10, 9)]
    snap = limiter.snapshot()
    assert (snap.limit, snap.in_flight, snap.windows) == (9, 0, 2)
    assert (breaker.snapshot().failures, breaker.snapshot().successes) == (1, 1)


def test_a_cancelled_call_gives_the_permit_back_with_no_sample(clock: FakeClock) -> None:
    limiter, changes = every_call_a_window(clock, initial_limit=2)
    breaker = CircuitBreaker(clock=clock)
    policy = Policy(breaker=breaker, adaptive=limiter, clock=clock)

    async def main() -> None:
        started = asyncio.Event()

        @policy
        async def work() -> None:
            started.set()
            await _hang()

        task = asyncio.ensure_future(work())
        await started.wait()
        assert limiter.snapshot().in_flight == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    snap = limiter.snapshot()
    assert (snap.in_flight, snap.windows, changes) == (0, 0, [])
    assert (breaker.snapshot().calls, breaker.snapshot().probes_in_flight) == (0, 0)


@pytest.mark.parametrize("run", ["sync", "async"])
def test_a_refusal_by_the_rate_limiter_inside_gives_the_permit_back(
    clock: FakeClock, run: str
) -> None:
    limiter, changes = every_call_a_window(clock, initial_limit=2)
    tokens = RateLimiter(capacity=1, clock=clock)
    policy = Policy(adaptive=limiter, limiter=tokens, clock=clock)
    tokens.acquire_nowait(1)
    calls: List[int] = []

    async def acall() -> None:
        calls.append(1)

    with pytest.raises(RateLimitedError):
        if run == "sync":
            policy.call(lambda: calls.append(1))
        else:
            asyncio.run(policy.acall(acall))
    assert calls == []
    snap = limiter.snapshot()
    assert (snap.in_flight, snap.peak, snap.windows, changes) == (0, 1, 0, [])


def test_the_bulkhead_comes_first_and_both_are_held(clock: FakeClock) -> None:
    limiter, _ = every_call_a_window(clock, initial_limit=2)
    bulkhead = Bulkhead(max_concurrent=1, max_waiting=0)
    policy = Policy(bulkhead=bulkhead, adaptive=limiter, clock=clock)
    seen: List[Tuple[int, int]] = []
    policy.call(lambda: seen.append((bulkhead.snapshot().in_flight, limiter.snapshot().in_flight)))
    assert seen == [(1, 1)]
    with bulkhead:
        with pytest.raises(BulkheadFullError):
            policy.call(lambda: None)
    # Refused by the bulkhead: the adaptive limiter was never asked.
    assert (limiter.snapshot().peak, limiter.snapshot().rejected) == (1, 0)
    assert (bulkhead.snapshot().in_flight, limiter.snapshot().in_flight) == (0, 0)


def test_a_full_adaptive_limiter_refuses_and_the_breaker_hears_nothing(clock: FakeClock) -> None:
    limiter, _ = every_call_a_window(clock, initial_limit=1, timeout=0)
    breaker = CircuitBreaker(clock=clock)
    policy = Policy(breaker=breaker, adaptive=limiter, clock=clock)
    held = limiter.try_acquire()
    with pytest.raises(BulkheadFullError):
        policy.call(lambda: None)
    held.release()
    assert (breaker.snapshot().calls, breaker.snapshot().probes_in_flight) == (0, 0)
    assert limiter.snapshot().in_flight == 0


def test_the_deadline_ends_the_wait_in_the_adaptive_queue(clock: FakeClock) -> None:
    limiter, changes = every_call_a_window(clock, initial_limit=1)
    policy = Policy(timeout=0.01, adaptive=limiter, clock=clock)

    async def main() -> None:
        held = limiter.try_acquire()
        with pytest.raises(TimeoutExceededError, match="adaptive limiter"):
            await policy.acall(asyncio.sleep, 0)
        assert limiter.snapshot().waiting == 0
        held.release()

    asyncio.run(main())
    snap = limiter.snapshot()
    assert (snap.in_flight, snap.waiting, snap.windows, changes) == (0, 0, 0, [])


def test_adaptive_must_be_an_adaptive_limiter() -> None:
    with pytest.raises(TypeError, match="adaptive must be a stanchion.AdaptiveLimiter"):
        Policy(adaptive=Bulkhead(max_concurrent=1))  # type: ignore[arg-type]


def test_an_error_the_limiters_drop_on_matches_is_a_drop_inside_a_policy(
    clock: FakeClock,
) -> None:
    limiter, changes = every_call_a_window(clock, initial_limit=2)
    breaker = CircuitBreaker(clock=clock)
    policy = Policy(adaptive=limiter, breaker=breaker, clock=clock)
    with pytest.raises(TimeoutError):
        policy.call(_raise(TimeoutError("read timed out")))
    # The call's own TimeoutError matches the default drop_on: a drop (2 → ⌊2 × 0.9⌋ = 1),
    # and a failure to the breaker.
    assert changes == [(2, 1)]
    assert breaker.snapshot().failures == 1
    # Any other error is a latency sample: at one call in flight of 1, +1.
    with pytest.raises(ValueError):
        policy.call(_raise(ValueError("bad request")))
    assert changes == [(2, 1), (1, 2)]


def test_a_drop_on_predicate_that_raises_leaves_a_policy_call_a_sample(clock: FakeClock) -> None:
    def broken(exc: BaseException) -> bool:
        raise RuntimeError("broken predicate")

    limiter, changes = every_call_a_window(clock, initial_limit=2, drop_on=broken)
    policy = Policy(adaptive=limiter, clock=clock)
    with pytest.raises(KeyError):
        policy.call(_raise(KeyError("k")))
    assert changes == [(2, 3)]
    assert limiter.snapshot().in_flight == 0
