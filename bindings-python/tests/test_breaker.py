"""CircuitBreaker through its Python idioms: decorator, context managers, events, controls."""

from __future__ import annotations

import asyncio
import inspect
import logging
import typing

import pytest

import stanchion
from stanchion import CircuitBreaker, CircuitOpenError

from conftest import FakeClock


def tripping(clock: FakeClock, **kw: object) -> CircuitBreaker:
    return CircuitBreaker(consecutive_failures=2, failure_count=None, open_for=5.0, clock=clock, **kw)  # type: ignore[arg-type]


def test_decorator_trips_refuses_with_retry_after_then_probe_closes(clock: FakeClock) -> None:
    events: list[tuple[str, str]] = []
    breaker = tripping(clock, on_state_change=lambda a, b: events.append((a, b)))
    healthy = [False]

    @breaker
    def call() -> str:
        if not healthy[0]:
            raise ConnectionError("down")
        return "ok"

    for _ in range(2):
        with pytest.raises(ConnectionError):
            call()
    assert breaker.state == "open"
    clock.advance(2.0)
    with pytest.raises(CircuitOpenError) as refused:
        call()
    assert refused.value.reason == "breaker_open"
    assert refused.value.retry_after == pytest.approx(3.0)
    assert refused.value.retry_after_ns == 3_000_000_000
    clock.advance(3.0)
    healthy[0] = True
    assert call() == "ok"
    assert events == [("closed", "open"), ("open", "half_open"), ("half_open", "closed")]
    snap = breaker.snapshot()
    assert (snap.calls, snap.failures, snap.successes, snap.rejected_open) == (3, 2, 1, 1)


def test_decorator_keeps_signature_and_works_on_coroutines(clock: FakeClock) -> None:
    breaker = tripping(clock)

    @breaker
    def add(a: int, b: int = 2) -> int:
        """Adds."""
        return a + b

    @breaker
    async def aadd(a: int, *, b: int) -> int:
        return a + b

    assert add.__name__ == "add" and add.__doc__ == "Adds."
    assert list(inspect.signature(add).parameters) == ["a", "b"]
    assert typing.get_type_hints(add) == {"a": int, "b": int, "return": int}
    assert typing.get_type_hints(aadd) == {"a": int, "b": int, "return": int}
    assert inspect.signature(aadd).parameters["b"].kind is inspect.Parameter.KEYWORD_ONLY
    assert inspect.iscoroutinefunction(aadd)
    assert add(1) == 3
    assert asyncio.run(aadd(1, b=5)) == 6
    assert breaker.snapshot().successes == 2


def test_async_failures_trip_and_open_refuses_without_calling(clock: FakeClock) -> None:
    breaker = tripping(clock)
    calls = []

    @breaker
    async def fail() -> None:
        calls.append(1)
        raise TimeoutError

    async def main() -> None:
        for _ in range(2):
            with pytest.raises(TimeoutError):
                await fail()
        with pytest.raises(CircuitOpenError):
            await fail()

    asyncio.run(main())
    assert len(calls) == 2


def test_failure_on_and_ignore_on_classify_exceptions(clock: FakeClock) -> None:
    breaker = CircuitBreaker(
        consecutive_failures=1,
        failure_count=None,
        failure_on=(ConnectionError,),
        ignore_on=lambda exc: isinstance(exc, ConnectionError) and "ignore" in str(exc),
        clock=clock,
    )
    for exc in (ValueError("not the dependency"), ConnectionError("ignore me")):
        with pytest.raises(type(exc)):
            with breaker:
                raise exc
    snap = breaker.snapshot()
    assert breaker.state == "closed"
    assert (snap.successes, snap.failures, snap.window_calls) == (1, 0, 1)  # ignored: not counted
    with pytest.raises(ConnectionError):
        with breaker:
            raise ConnectionError("real")
    assert breaker.state == "open"


def test_failure_result_counts_a_returned_value_as_failure(clock: FakeClock) -> None:
    breaker = CircuitBreaker(
        consecutive_failures=2, failure_count=None, failure_result=lambda r: r >= 500, clock=clock
    )

    @breaker
    def status(code: int) -> int:
        return code

    assert status(503) == 503
    assert status(500) == 500
    assert breaker.state == "open"


def test_context_managers_record_outcomes(clock: FakeClock) -> None:
    breaker = tripping(clock)
    with breaker:
        pass

    async def main() -> None:
        with pytest.raises(OSError):
            async with breaker:
                raise OSError

    asyncio.run(main())
    snap = breaker.snapshot()
    assert (snap.successes, snap.failures) == (1, 1)


def test_nested_with_on_one_breaker_reports_each_permit(clock: FakeClock) -> None:
    breaker = CircuitBreaker(half_open_probes=2, clock=clock)
    breaker.force_open()
    breaker.reset()
    with breaker:
        with pytest.raises(KeyError):
            with breaker:
                raise KeyError
    snap = breaker.snapshot()
    assert (snap.successes, snap.failures) == (1, 1)


def test_cancelled_probe_frees_its_slot(clock: FakeClock) -> None:
    breaker = tripping(clock)
    for _ in range(2):
        with pytest.raises(RuntimeError):
            with breaker:
                raise RuntimeError
    clock.advance(5.0)

    @breaker
    async def hang() -> None:
        await asyncio.Event().wait()

    async def main() -> None:
        task = asyncio.ensure_future(hang())
        await asyncio.sleep(0)
        assert breaker.snapshot().probes_in_flight == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    snap = breaker.snapshot()
    assert snap.probes_in_flight == 0 and snap.state == "half_open"
    with breaker:  # the freed slot admits the next probe, which closes the breaker
        pass
    assert breaker.state == "closed"


def test_keyboard_interrupt_releases_instead_of_recording(clock: FakeClock) -> None:
    breaker = tripping(clock)
    with pytest.raises(KeyboardInterrupt):
        with breaker:
            raise KeyboardInterrupt
    snap = breaker.snapshot()
    assert (snap.successes, snap.failures) == (0, 0)


def test_operator_controls_and_reconfigure(clock: FakeClock) -> None:
    events: list[tuple[str, str]] = []
    breaker = tripping(clock)
    breaker.on_state_change(lambda a, b: events.append((a, b)))
    breaker.force_open()
    with pytest.raises(CircuitOpenError) as refused:
        with breaker:
            pass
    assert refused.value.reason == "forced_open" and refused.value.retry_after is None
    breaker.disable()
    for _ in range(5):
        with pytest.raises(ValueError):
            with breaker:
                raise ValueError
    assert breaker.state == "disabled"
    breaker.reset()
    assert events == [("closed", "forced_open"), ("forced_open", "disabled"), ("disabled", "closed")]
    breaker.reconfigure(consecutive_failures=1)
    with pytest.raises(ValueError):
        with breaker:
            raise ValueError
    assert breaker.state == "open"
    with pytest.raises(stanchion.ConfigError):
        breaker.reconfigure(half_open_probes=0)
    with pytest.raises(TypeError):
        breaker.reconfigure(no_such_option=1)


def test_a_record_after_the_first_is_ignored(clock: FakeClock) -> None:
    breaker = tripping(clock)
    permit = breaker.acquire()
    breaker.record(permit, stanchion.FAILURE)
    breaker.record(permit, stanchion.FAILURE)
    breaker.release(permit)
    assert breaker.snapshot().failures == 1 and breaker.state == "closed"


def test_listener_errors_are_logged_not_raised(clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    breaker = tripping(clock)

    @breaker.on_state_change
    def broken(old: str, new: str) -> None:
        raise RuntimeError("listener bug")

    with caplog.at_level(logging.ERROR, logger="stanchion"):
        breaker.force_open()
    assert breaker.state == "forced_open"
    assert "on_state_change listener failed" in caplog.text


def test_snapshot_is_read_only(clock: FakeClock) -> None:
    snap = tripping(clock).snapshot()
    with pytest.raises(AttributeError):
        snap.calls = 5  # type: ignore[misc]


def test_slow_calls_trip_on_the_clock(clock: FakeClock) -> None:
    breaker = CircuitBreaker(
        failure_count=None, slow_call_duration=1.0, slow_call_rate=1.0, minimum_calls=2, clock=clock
    )

    @breaker
    def slow() -> None:
        clock.advance(1.5)

    slow()
    slow()
    assert breaker.state == "open"
    assert breaker.snapshot().slow_calls == 2


def test_default_clock_is_monotonic_ns() -> None:
    import time

    before = time.monotonic_ns()
    breaker = CircuitBreaker()
    permit = breaker.acquire()
    after = time.monotonic_ns()
    assert before <= permit.issued_at_ns <= after
    breaker.release(permit)


def test_a_dropped_permit_is_released_not_recorded(clock: FakeClock) -> None:
    breaker = tripping(clock)
    for _ in range(2):
        with pytest.raises(RuntimeError):
            with breaker:
                raise RuntimeError
    clock.advance(5.0)
    permit = breaker.acquire()  # the half-open probe
    assert breaker.snapshot().probes_in_flight == 1
    del permit
    snap = breaker.snapshot()
    assert (snap.probes_in_flight, snap.state, snap.successes) == (0, "half_open", 0)


def test_a_predicate_that_raises_abandons_the_call(clock: FakeClock) -> None:
    def broken(result: object) -> bool:
        raise LookupError("predicate bug")

    breaker = CircuitBreaker(failure_result=broken, clock=clock)

    @breaker
    def call() -> int:
        return 1

    with pytest.raises(LookupError):
        call()
    snap = breaker.snapshot()
    assert (snap.successes, snap.failures) == (0, 0)
