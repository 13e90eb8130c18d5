"""Backoff, RetryBudget and Retry in fake time."""

from __future__ import annotations

import asyncio
from typing import Callable, cast

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


def test_a_refusal_ends_the_call_by_default(clock: FakeClock) -> None:
    breaker = stanchion.CircuitBreaker(consecutive_failures=1, failure_count=None, open_for=2.0, clock=clock)
    budget = RetryBudget(0.0, min_retries_per_sec=1, clock=clock)
    retry = Retry(Backoff.constant(0.1, max_attempts=5), budget=budget, clock=clock, sleep=clock.sleep)
    calls = []

    @retry
    @breaker
    def call() -> str:
        calls.append(1)
        raise ConnectionError

    with pytest.raises(stanchion.CircuitOpenError):
        call()
    # 1st: fails and trips; 2nd after 0.1 s: refused by the open breaker, which ends the call.
    assert len(calls) == 1 and clock.slept == [0.1]
    assert budget.snapshot().retries_allowed == 1, "the refusal spent nothing of the budget"


def test_retry_refusals_waits_at_least_the_refusals_retry_after(clock: FakeClock) -> None:
    breaker = stanchion.CircuitBreaker(consecutive_failures=1, failure_count=None, open_for=2.0, clock=clock)
    retry = Retry(
        Backoff.constant(0.1, max_delay=5.0, max_attempts=3),
        retry_refusals=True,
        clock=clock,
        sleep=clock.sleep,
    )
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


def test_a_refusal_no_wait_can_help_ends_the_call_even_when_refusals_are_retried(
    clock: FakeClock,
) -> None:
    limiter = stanchion.RateLimiter(capacity=1, clock=clock)
    retry = Retry(Backoff.constant(0.1, max_attempts=5), retry_refusals=True, clock=clock, sleep=clock.sleep)

    @retry
    def take() -> None:
        limiter.acquire_nowait(2)  # more than the bucket holds: insufficient_capacity

    with pytest.raises(stanchion.RateLimitedError) as refused:
        take()
    assert refused.value.reason == "insufficient_capacity" and clock.slept == []


def test_ignore_on_wins_over_a_refusal(clock: FakeClock) -> None:
    retry = Retry(
        Backoff.constant(0.0, max_attempts=5),
        ignore_on=stanchion.CircuitOpenError,
        retry_refusals=True,
        clock=clock,
        sleep=clock.sleep,
    )
    calls = []

    @retry
    def call() -> None:
        calls.append(1)
        raise stanchion.CircuitOpenError("breaker_open", "breaker_open", None)

    with pytest.raises(stanchion.CircuitOpenError):
        call()
    assert len(calls) == 1


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


# Every decision is the core's RetryLoop's ------------------------------------------------


def _three_forms(retry: Retry, outcomes: list[object]) -> dict[str, tuple[list[object], list[float]]]:
    """Runs the same scripted attempts (an exception raised, or a value returned) through the
    decorator, ``run_async`` and ``attempts()``: what each ended with, and its waits."""
    clock = cast(FakeClock, retry._clock)
    seen: dict[str, tuple[list[object], list[float]]] = {}

    def script() -> Callable[[], object]:
        left = list(outcomes)

        def attempt() -> object:
            outcome = left.pop(0)
            if isinstance(outcome, BaseException):
                raise outcome
            return outcome

        return attempt

    def ending(run: Callable[[], object]) -> object:
        try:
            return run()
        except Exception as exc:
            return type(exc)

    clock.slept = []
    seen["decorator"] = ([ending(retry(script()))], clock.slept)
    clock.slept = []
    attempt = script()

    async def awaited() -> object:
        return attempt()

    seen["run_async"] = ([ending(lambda: asyncio.run(retry.run_async(awaited)))], clock.slept)
    clock.slept = []
    block = script()

    def blocks() -> object:
        for each in retry.attempts():
            with each:
                return block()
        return None

    seen["attempts"] = ([ending(blocks)], clock.slept)
    return seen


@pytest.mark.parametrize(
    "outcomes, ending, waits",
    [
        ([ConnectionError(), ConnectionError(), "ok"], "ok", [0.5, 0.5]),
        ([ConnectionError()] * 4, ConnectionError, [0.5, 0.5]),  # max_attempts 3
        ([ConnectionError(), ValueError()], ValueError, [0.5]),  # final: not failure_on
        ([stanchion.CircuitOpenError("open", "breaker_open", 10)], stanchion.CircuitOpenError, []),
    ],
)
def test_the_three_loops_take_the_same_decisions(
    clock: FakeClock, outcomes: list[object], ending: object, waits: list[float]
) -> None:
    retry = Retry(
        Backoff.constant(0.5, max_attempts=3),
        failure_on=(ConnectionError, stanchion.RefusedError),
        clock=clock,
        sleep=clock.sleep,
        async_sleep=clock.async_sleep,
    )
    for form, (ended, slept) in _three_forms(retry, outcomes).items():
        assert (ended, slept) == ([ending], waits), form


def test_a_wait_ending_at_the_deadline_is_not_made(clock: FakeClock) -> None:
    retry = Retry(Backoff.constant(1.0, max_attempts=10), clock=clock, sleep=clock.sleep)
    policy = stanchion.Policy(timeout=2.0, retry=retry, clock=clock)
    calls = []

    def fail() -> None:
        calls.append(clock.now)
        raise ConnectionError

    with pytest.raises(ConnectionError):
        policy.call(fail)
    # At 0 and 1 s; the wait after the second would end exactly at the deadline (2 s).
    assert len(calls) == 2 and clock.slept == [1.0]


def test_a_late_timer_makes_no_attempt_at_the_deadline(clock: FakeClock) -> None:
    def oversleep(seconds: float) -> None:
        clock.sleep(seconds + 0.5)  # the timer fires late, past the deadline

    retry = Retry(Backoff.constant(1.0, max_attempts=10), clock=clock, sleep=oversleep)
    calls = []

    def fail() -> None:
        calls.append(1)
        raise ConnectionError(len(calls))

    deadline = stanchion.Deadline.after(clock(), 1.2)
    with pytest.raises(ConnectionError) as err:
        retry.run(fail, deadline)
    assert err.value.args == (1,) and len(calls) == 1, "the last error, and no attempt at 1.5 s"


def test_a_past_deadline_makes_no_attempt(clock: FakeClock) -> None:
    retry = Retry(clock=clock)
    with pytest.raises(stanchion.TimeoutExceededError):
        retry.run(lambda: 1, stanchion.Deadline.at(clock()))


def test_a_policy_does_not_retry_into_an_open_breaker(clock: FakeClock) -> None:
    breaker = stanchion.CircuitBreaker(consecutive_failures=2, failure_count=None, clock=clock)
    retry = Retry(Backoff.constant(0.1, max_attempts=10), clock=clock, sleep=clock.sleep)
    policy = stanchion.Policy(retry=retry, breaker=breaker, clock=clock)
    calls = []

    @policy
    def fetch() -> None:
        calls.append(1)
        raise ConnectionError

    with pytest.raises(stanchion.CircuitOpenError):
        fetch()
    assert len(calls) == 2 and clock.slept == [0.1, 0.1]
    assert breaker.snapshot().rejected == 1, "one refusal ended the call"


def test_a_policy_retries_refusals_only_when_asked(clock: FakeClock) -> None:
    limiter = stanchion.RateLimiter(capacity=1, refill_every=1.0, clock=clock)
    policy = stanchion.Policy(
        retry=Retry(Backoff.constant(0.1, max_attempts=3), retry_refusals=True, clock=clock, sleep=clock.sleep),
        limiter=limiter,
        clock=clock,
    )
    assert policy.call(lambda: "a") == "a"
    assert policy.call(lambda: "b") == "b"  # refused, then retried after the token's 1 s
    assert clock.slept == [1.0]


def test_on_retry_numbers_from_the_core(clock: FakeClock) -> None:
    seen: list[tuple[int, float, type]] = []
    retry = Retry(
        Backoff.exponential(0.1, max_attempts=4),
        clock=clock,
        sleep=clock.sleep,
        on_retry=lambda n, wait, exc: seen.append((n, wait, type(exc))),
    )
    with pytest.raises(OSError):
        retry.run(lambda: (_ for _ in ()).throw(OSError()))
    assert seen == [(1, 0.1, OSError), (2, 0.2, OSError), (3, 0.4, OSError)]


def test_attempts_raise_the_budgets_refusal_from_the_failure(clock: FakeClock) -> None:
    budget = RetryBudget(0.0, min_retries_per_sec=0, clock=clock)
    retry = Retry(Backoff.constant(0.0, max_attempts=5), budget=budget, clock=clock, sleep=clock.sleep)
    with pytest.raises(RetryBudgetExhaustedError) as refused:
        for attempt in retry.attempts():
            with attempt:
                raise ConnectionError
    assert isinstance(refused.value.__cause__, ConnectionError)


def test_async_decorator_with_a_budget_and_a_failure_result(clock: FakeClock) -> None:
    budget = RetryBudget(1.0, min_retries_per_sec=0, clock=clock)
    retry = Retry(
        Backoff.constant(0.25, max_attempts=5),
        budget=budget,
        failure_result=lambda r: r is None,
        clock=clock,
        async_sleep=clock.async_sleep,
    )
    results = iter([None, None, "late"])

    @retry
    async def poll() -> object:
        return next(results)

    # One deposit of a whole token pays for one retry; the second is refused and the last
    # result is returned.
    assert asyncio.run(poll()) is None
    assert clock.slept == [0.25]
    assert asyncio.run(poll()) == "late"


def test_the_step_api_is_the_cores(clock: FakeClock) -> None:
    retry = Retry(Backoff.constant(0.1, max_attempts=2), seed=7, clock=clock)
    call = retry.start(0, deadline=stanchion.Deadline.at(1_000_000_000))
    assert (call.attempts, call.stop) == (1, None)
    assert call.after_failure(50_000_000, "retryable") == 100_000_000
    assert call.resume(150_000_000) == 2
    assert call.after_failure(160_000_000, "refused", 5, "breaker_open") is None
    assert call.stop == "refused"
    refusal = call.refusal()
    assert isinstance(refusal, stanchion.CircuitOpenError) and refusal.retry_after_ns == 5
    with pytest.raises(ValueError) as err:
        call.after_failure(0, "maybe")
    assert str(err.value) == (
        'error must be "retryable" (with an optional hint_ns), "final" (with no hint_ns), or '
        '"refused" (with its reason, and its retry_after as hint_ns), '
        "got error='maybe', hint_ns=None, reason=None"
    )
    with pytest.raises(ValueError, match=r", got error='final', hint_ns=5, reason=None$"):
        call.after_failure(0, "final", 5)
    with pytest.raises(ValueError) as err:
        call.after_failure(0, "refused", None, "gremlins")
    assert str(err.value).startswith('reason must be a refusal\'s reason ("breaker_open", ')
    assert str(err.value).endswith('"table_full"), got \'gremlins\'')


def test_a_decorated_call_deposits_its_first_attempt_once(clock: FakeClock) -> None:
    budget = RetryBudget(1.0, min_retries_per_sec=0, clock=clock)
    retry = Retry(Backoff.constant(0.0, max_attempts=5), budget=budget, clock=clock, sleep=clock.sleep)
    calls = []

    @retry
    def flaky() -> int:
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError
        return len(calls)

    assert flaky() == 2  # one deposit of a whole token paid for the one retry
    assert budget.snapshot().retries_available == 0
    assert flaky() == 3  # a success deposits too
    assert budget.snapshot().retries_available == 1
    # The core's start deposits unless told the caller has.
    stanchion.RetryLoop(Backoff.constant(0.0)._core, 0, budget._core, None, 1, False, True)
    assert budget.snapshot().retries_available == 1
    retry.start(0)
    assert budget.snapshot().retries_available == 2
