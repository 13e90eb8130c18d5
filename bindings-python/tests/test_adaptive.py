"""AdaptiveLimiter: admission up to the limit, the wait queue, how a call's ending becomes a
sample (seen in the windows and the changes of the limit), on_limit_change, config errors,
the decorator and context manager forms, and threads."""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
from typing import Any, Dict, List, Tuple

import pytest

import stanchion
from stanchion import AdaptiveLimiter, BulkheadFullError, ConfigError

from adaptive_support import every_call_a_window
from conftest import FakeClock

#: The bound that turns a hang into a failure; never a measure of speed.
GENEROUS = 60.0




class Overloaded(Exception):
    """A dependency's refusal for overload (a 503)."""


def test_admits_up_to_the_limit_and_refuses_beyond(clock: FakeClock) -> None:
    limiter = AdaptiveLimiter(initial_limit=2, clock=clock)
    first = limiter.try_acquire()
    second = limiter.try_acquire()
    assert (first.in_flight, second.in_flight) == (1, 2)
    assert first.issued_at_ns == clock.now
    with pytest.raises(BulkheadFullError) as refused:
        limiter.try_acquire()
    assert refused.value.reason == "bulkhead_full" and refused.value.retry_after is None
    snap = limiter.snapshot()
    assert (snap.limit, snap.in_flight, snap.peak, snap.rejected) == (2, 2, 2, 1)
    assert first.release() is True and first.release() is False
    limiter.try_acquire().release()
    second.release()
    assert limiter.snapshot().in_flight == 0


def test_a_permit_reports_once(clock: FakeClock) -> None:
    limiter, changes = every_call_a_window(clock, initial_limit=2)
    permit = limiter.try_acquire()
    clock.advance(0.003)
    assert permit.record("success") == (2, 3)
    assert not permit.held
    assert permit.record("dropped") is None and permit.release() is False
    snap = limiter.snapshot()
    assert (snap.limit, snap.in_flight, snap.windows, snap.last_update_ns) == (3, 0, 1, clock.now)


def test_a_return_and_an_error_are_latency_samples(clock: FakeClock) -> None:
    limiter, changes = every_call_a_window(clock, initial_limit=2)
    with limiter:
        clock.advance(0.001)
    with pytest.raises(ValueError):
        with limiter:
            raise ValueError("a fast error says nothing about overload")
    # One call in flight of 2, then of 3: the first grows the limit, the second is
    # application-limited (1 x 2 < 3); both closed a window.
    assert changes == [(2, 3)]
    assert limiter.snapshot().windows == 2


@pytest.mark.parametrize(
    "error", [TimeoutError("read timed out"), asyncio.TimeoutError(), Overloaded("503")]
)
def test_a_timeout_or_a_drop_on_error_is_a_drop(clock: FakeClock, error: Exception) -> None:
    limiter, changes = every_call_a_window(
        clock, initial_limit=10, drop_on=(TimeoutError, Overloaded)
    )
    with pytest.raises(type(error)):
        with limiter:
            raise error
    assert changes == [(10, 9)]
    assert limiter.snapshot().in_flight == 0


def test_drop_on_takes_a_predicate_and_none(clock: FakeClock) -> None:
    by_status, _ = every_call_a_window(clock, initial_limit=10, drop_on=lambda e: "503" in str(e))
    with pytest.raises(Overloaded):
        with by_status:
            raise Overloaded("503")
    assert by_status.limit == 9
    never, _ = every_call_a_window(clock, initial_limit=10, drop_on=None)
    with pytest.raises(TimeoutError):
        with never:
            raise TimeoutError
    assert never.limit == 10 and never.snapshot().windows == 1  # a failure: a latency sample
    with pytest.raises(TypeError, match="drop_on"):
        AdaptiveLimiter(drop_on=(TimeoutError, "503"))  # type: ignore[arg-type]


@pytest.mark.parametrize("cancellation", [GeneratorExit, KeyboardInterrupt])
def test_a_cancellation_gives_the_permit_back_with_no_sample(
    clock: FakeClock, cancellation: type
) -> None:
    limiter, changes = every_call_a_window(clock, initial_limit=2)
    with pytest.raises(cancellation):
        with limiter:
            raise cancellation()
    snap = limiter.snapshot()
    assert (snap.in_flight, snap.windows, snap.last_update_ns) == (0, 0, None)


def test_a_cancelled_task_gives_its_permit_back_with_no_sample(clock: FakeClock) -> None:
    limiter, changes = every_call_a_window(clock, initial_limit=2)

    async def main() -> None:
        started = asyncio.Event()

        async def work() -> None:
            async with limiter:
                started.set()
                await asyncio.Event().wait()

        task = asyncio.ensure_future(work())
        await started.wait()
        assert limiter.snapshot().in_flight == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    snap = limiter.snapshot()
    assert (snap.in_flight, snap.windows, snap.limit) == (0, 0, 2)


def test_the_decorator_on_def_and_async_def(clock: FakeClock) -> None:
    limiter, changes = every_call_a_window(clock, initial_limit=2)

    @limiter
    def add(a: int, b: int = 1) -> int:
        assert limiter.snapshot().in_flight == 1
        return a + b

    @limiter
    async def fetch(key: str) -> str:
        assert limiter.snapshot().in_flight == 1
        await asyncio.sleep(0)
        return key

    @limiter
    def slow() -> None:
        raise TimeoutError

    assert add(1) == 2
    assert asyncio.run(fetch("k")) == "k"
    assert str(inspect.signature(add)) == "(a: 'int', b: 'int' = 1) -> 'int'"
    assert inspect.iscoroutinefunction(fetch)
    assert changes == [(2, 3)]
    with pytest.raises(TimeoutError):
        slow()
    assert changes == [(2, 3), (3, 2)]
    snap = limiter.snapshot()
    assert (snap.in_flight, snap.windows) == (0, 3)


def test_on_limit_change_hears_from_and_to(clock: FakeClock) -> None:
    limiter = AdaptiveLimiter(initial_limit=4, min_samples=2, window=1.0, clock=clock)
    heard: List[Tuple[int, int]] = []

    @limiter.on_limit_change
    def listen(old: int, new: int) -> None:
        heard.append((old, new))

    held = [limiter.try_acquire() for _ in range(4)]
    assert held[0].record("dropped") is None  # opens the window
    clock.advance(1.0)
    assert held[1].record("success") == (4, 3)  # closes it: a dropped window
    assert heard == [(4, 3)]
    held[2].record("ignored")  # no sample: nothing closes, nothing heard
    held[3].release()
    assert heard == [(4, 3)]
    with pytest.raises(TypeError, match="on_limit_change"):
        limiter.on_limit_change(3)  # type: ignore[arg-type]


def test_a_listener_that_raises_loses_nothing(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(old: int, new: int) -> None:
        raise RuntimeError("listener bug")

    limiter, changes = every_call_a_window(clock, initial_limit=2)
    limiter.on_limit_change(broken)
    with caplog.at_level(logging.ERROR, logger="stanchion"):
        with limiter:
            pass
    assert "on_limit_change listener failed" in caplog.text
    # The other listener heard it, the permit was given back, and the limiter goes on.
    assert changes == [(2, 3)]
    snap = limiter.snapshot()
    assert (snap.limit, snap.in_flight, snap.windows) == (3, 0, 1)
    with limiter:
        pass
    assert limiter.snapshot().windows == 2


@pytest.mark.parametrize(
    "options, parameter, field, allowed",
    [
        ({"min_limit": 0}, "min_limit", "min_limit", "an int from 1 to max_limit"),
        ({"initial_limit": 2000}, "initial_limit", "initial_limit", "an int from min_limit to max_limit"),
        ({"max_limit": 65536}, "max_limit", "max_limit", "an int from min_limit to 65535"),
        ({"min_samples": 0}, "min_samples", "min_samples", "an int from 1 to 4294967295"),
        ({"backoff_ratio": 1.0}, "backoff_ratio", "algorithm.backoff_ratio", "a number in [0.5, 1)"),
        ({"aimd_timeout": 0}, "aimd_timeout", "algorithm.timeout", "a number of seconds > 0"),
        ({"algorithm": "vegas", "probe_multiplier": 0}, "probe_multiplier", "algorithm.probe_multiplier", "an int from 1 to 65535"),
        ({"algorithm": "vegas", "alpha": 2**40}, "alpha", "algorithm.alpha", "an int from 0 to 65535"),
        ({"algorithm": "gradient2", "smoothing": 1.5}, "smoothing", "algorithm.smoothing", "a number in (0, 1]"),
        ({"algorithm": "gradient2", "rtt_tolerance": 0.5}, "rtt_tolerance", "algorithm.rtt_tolerance", "a number in [1, 1000]"),
        ({"algorithm": "gradient2", "long_window": 0}, "long_window", "algorithm.long_window", "an int from 1 to 65535"),
        ({"algorithm": "cubic"}, "algorithm", "algorithm", '"aimd", "vegas" or "gradient2"'),
        ({"alpha": 3}, "alpha", "alpha", 'None with algorithm="aimd" (it is a parameter of "vegas")'),
        ({"algorithm": "vegas", "creep_guard": True}, "creep_guard", "creep_guard", 'None with algorithm="vegas" (it is a parameter of "gradient2")'),
        ({"max_waiting": 1025}, "max_waiting", "max_waiting", "an int from 0 to 1024"),
        ({"window": -1}, "window", "window", "a finite number of seconds ≥ 0"),
    ],
)
def test_a_bad_value_names_its_parameter_and_range(
    options: Dict[str, Any], parameter: str, field: str, allowed: str
) -> None:
    with pytest.raises(ConfigError) as error:
        AdaptiveLimiter(**options)
    got = (error.value.parameter, error.value.field, error.value.allowed)
    assert got == (parameter, field, allowed)
    assert str(error.value).startswith(f"{parameter} must be {allowed}, got ")


def test_a_wrong_type_is_a_type_error_and_errors_leave_things_usable(clock: FakeClock) -> None:
    for options, parameter in (
        ({"initial_limit": "5"}, "initial_limit"),
        ({"algorithm": 2}, "algorithm"),
        ({"algorithm": "gradient2", "creep_guard": 1}, "creep_guard"),
    ):
        with pytest.raises(TypeError, match=f"^{parameter} must be "):
            AdaptiveLimiter(**options)
    limiter, changes = every_call_a_window(clock, initial_limit=2)
    permit = limiter.try_acquire()
    with pytest.raises(ValueError, match="outcome must be"):
        permit.record("timeout")  # type: ignore[arg-type]
    assert permit.held, "a report that was refused leaves the permit held"
    assert permit.record("success") == (2, 3)
    with pytest.raises(ConfigError):
        AdaptiveLimiter(min_limit=0, clock=clock)
    with limiter:
        assert limiter.snapshot().in_flight == 1
    assert limiter.snapshot().in_flight == 0


def test_each_algorithm_keeps_its_parameters(clock: FakeClock) -> None:
    # Vegas measures a baseline; AIMD keeps none.
    every_call = {"min_samples": 1, "window": 0, "clock": clock}
    vegas = AdaptiveLimiter(algorithm="vegas", alpha=2, beta=4, smoothing=0.5, **every_call)
    with vegas:
        clock.advance(0.010)
    assert vegas.snapshot().baseline_ns == 10_000_000
    gradient = AdaptiveLimiter(
        algorithm="gradient2", queue_size=2, long_window=10, creep_guard=True, **every_call
    )
    with gradient:
        clock.advance(0.020)
    assert gradient.snapshot().baseline_ns == 20_000_000
    aimd = AdaptiveLimiter(backoff_ratio=0.5, aimd_timeout=0.001, initial_limit=8, **every_call)
    with aimd:
        clock.advance(0.002)  # above the 1 ms timeout: a drop, halving the limit
    assert (aimd.limit, aimd.snapshot().baseline_ns) == (4, None)


def test_async_waiters_are_granted_in_order_and_time_queued_is_no_latency(clock: FakeClock) -> None:
    limiter = AdaptiveLimiter(initial_limit=1, clock=clock)
    order: List[int] = []
    issued: List[int] = []

    async def work(i: int) -> None:
        permit = await limiter.acquire()
        order.append(i)
        issued.append(permit.issued_at_ns)
        await asyncio.sleep(0)
        clock.advance(1.0)
        permit.record("success")

    async def main() -> None:
        held = limiter.try_acquire()
        tasks = [asyncio.ensure_future(work(i)) for i in range(4)]
        for _ in range(3):
            await asyncio.sleep(0)
        assert limiter.snapshot().waiting == 4
        clock.advance(5.0)
        held.release()
        await asyncio.gather(*tasks)

    start = clock.now
    asyncio.run(main())
    assert order == [0, 1, 2, 3]
    # Each permit is issued when it is handed over, after the wait in the queue.
    assert issued == [start + (5 + i) * 1_000_000_000 for i in range(4)]
    snap = limiter.snapshot()
    assert (snap.in_flight, snap.waiting, snap.peak, snap.rejected) == (0, 0, 1, 0)


def test_a_cancelled_waiter_leaves_the_queue_clean_and_passes_on_a_handed_permit() -> None:
    async def main() -> None:
        limiter = AdaptiveLimiter(initial_limit=1)
        held = await limiter.acquire()
        first = asyncio.ensure_future(limiter.acquire())
        second = asyncio.ensure_future(limiter.acquire())
        await asyncio.sleep(0)
        assert limiter.snapshot().waiting == 2
        held.release()  # handed to `first`, which has not run yet
        first.cancel()  # ... and is cancelled: the permit must go on to `second`
        with pytest.raises(asyncio.CancelledError):
            await first
        permit = await second
        assert limiter.snapshot().in_flight == 1
        third = asyncio.ensure_future(limiter.acquire())
        await asyncio.sleep(0)
        third.cancel()
        with pytest.raises(asyncio.CancelledError):
            await third
        assert limiter.snapshot().waiting == 0
        permit.release()
        snap = limiter.snapshot()
        assert (snap.in_flight, snap.waiting, snap.windows) == (0, 0, 0)

    asyncio.run(main())


def test_waits_that_cannot_or_may_not_wait_are_refused() -> None:
    async def main() -> None:
        limiter = AdaptiveLimiter(initial_limit=1, max_waiting=1)
        held = limiter.try_acquire()
        first = asyncio.ensure_future(limiter.acquire())
        await asyncio.sleep(0)
        with pytest.raises(BulkheadFullError) as refused:
            await limiter.acquire()
        assert refused.value.reason == "queue_full"
        held.release()
        (await first).release()
        never = AdaptiveLimiter(initial_limit=1, timeout=0)
        async with never:
            with pytest.raises(BulkheadFullError, match="timeout"):
                async with never:
                    pass
            with pytest.raises(BulkheadFullError, match="timeout"):
                never.acquire_blocking()
        assert (never.snapshot().waiting, never.snapshot().in_flight) == (0, 0)

    asyncio.run(main())


def test_a_thread_waits_for_a_permit_given_back() -> None:
    limiter = AdaptiveLimiter(initial_limit=1)
    held = limiter.try_acquire()
    done: List[int] = []

    def worker() -> None:
        with limiter:
            done.append(limiter.snapshot().in_flight)

    thread = threading.Thread(target=worker, daemon=True)
    thread.start()
    while limiter.snapshot().waiting != 1:
        assert thread.is_alive()
    held.release()
    thread.join(GENEROUS)
    assert not thread.is_alive() and done == [1]
    assert limiter.snapshot().in_flight == 0


def test_threads_hammering_never_hold_more_than_the_limit() -> None:
    max_limit = 8
    limiter = AdaptiveLimiter(initial_limit=4, max_limit=max_limit, min_samples=3, window=0)
    holding = [0]
    most = [0]
    admitted = [0]
    lock = threading.Lock()
    errors: List[BaseException] = []

    def hammer(seed: int) -> None:
        try:
            for i in range(3000):
                try:
                    permit = limiter.try_acquire()
                except BulkheadFullError:
                    continue
                assert permit.in_flight <= max_limit
                with lock:
                    holding[0] += 1
                    admitted[0] += 1
                    most[0] = max(most[0], holding[0])
                with lock:
                    holding[0] -= 1
                # Drops now and then, so the limit moves both ways.
                permit.record("dropped" if (i + seed) % 7 == 0 else "success")
        except BaseException as exc:  # surfaced below, not swallowed
            errors.append(exc)

    threads = [threading.Thread(target=hammer, args=(n,), daemon=True) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(GENEROUS)
        assert not thread.is_alive()
    assert errors == []
    snap = limiter.snapshot()
    assert admitted[0] > 0 and snap.windows > 0
    assert most[0] <= snap.peak <= max_limit
    assert 1 <= snap.limit <= max_limit
    assert (snap.in_flight, snap.waiting) == (0, 0)


def test_the_snapshot_reads_as_the_other_snapshots(clock: FakeClock) -> None:
    limiter = AdaptiveLimiter(clock=clock)
    snap = limiter.snapshot()
    assert (snap.limit, snap.in_flight, snap.waiting, snap.peak, snap.rejected) == (20, 0, 0, 0, 0)
    assert (snap.baseline_ns, snap.last_update_ns, snap.windows) == (None, None, 0)
    assert repr(snap).startswith("AdaptiveSnapshot(limit=20, in_flight=0")
    assert isinstance(snap, stanchion.AdaptiveSnapshot)
    with pytest.raises(AttributeError):
        snap.limit = 3  # type: ignore[misc]
    assert repr(limiter) == "<AdaptiveLimiter limit=20 in_flight=0>"


def test_a_permit_dropped_unreported_gives_its_place_back(clock: FakeClock) -> None:
    limiter = AdaptiveLimiter(initial_limit=1, clock=clock)
    limiter.try_acquire()  # dropped at once: no reference is kept
    permit = limiter.try_acquire()
    assert permit.release() is True
    del permit
    snap = limiter.snapshot()
    assert (snap.in_flight, snap.windows) == (0, 0), "given back with no sample"


def test_another_event_loop_waits_through_enqueue(clock: FakeClock) -> None:
    limiter = AdaptiveLimiter(initial_limit=1, clock=clock)
    held = limiter.try_acquire()
    woken: List[int] = []
    waiter = limiter.enqueue(lambda: woken.append(1))
    assert waiter.poll() is None and limiter.snapshot().waiting == 1
    clock.advance(2.0)
    held.release()  # handed to the waiter, which is told to poll again
    assert woken == [1]
    permit = waiter.poll()
    assert permit is not None and permit.issued_at_ns == clock.now
    assert waiter.poll() is None, "resolved once"
    permit.release()
    # A waiter queues at its first poll, and leaves the queue when cancelled.
    held = limiter.try_acquire()
    cancelled = limiter.enqueue(lambda: None)
    assert cancelled.poll() is None and limiter.snapshot().waiting == 1
    cancelled.cancel()
    assert limiter.snapshot().waiting == 0
    held.release()
    assert limiter.snapshot().in_flight == 0
