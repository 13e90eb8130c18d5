"""Permits that cannot leak: a permit garbage-collected while held gives its slot back, a
breaker permit dropped unreported is released (as the core's), and a protected coroutine that
ignores cancellation keeps its slot until it really ends."""

from __future__ import annotations

import asyncio
import gc
import weakref
from typing import Any, Generator, List

import pytest

import stanchion
from stanchion import Bulkhead, BulkheadFullError, CircuitBreaker

from conftest import FakeClock


def test_a_dropped_bulkhead_permit_gives_its_slot_back() -> None:
    bulkhead = Bulkhead(max_concurrent=1)
    permit = bulkhead.try_acquire()
    assert bulkhead.snapshot().in_flight == 1
    del permit
    gc.collect()
    assert bulkhead.snapshot().in_flight == 0
    bulkhead.try_acquire().release()


def test_a_permit_collected_in_a_reference_cycle_gives_its_slot_back() -> None:
    bulkhead = Bulkhead(max_concurrent=2)

    class Holder:
        def __init__(self) -> None:
            self.permit = bulkhead.try_acquire()
            self.me = self  # a cycle: only the cyclic collector frees it

    holder = Holder()
    alive = weakref.ref(holder)
    del holder
    assert bulkhead.snapshot().in_flight == 1, "not collected yet"
    gc.collect()
    assert alive() is None
    assert bulkhead.snapshot().in_flight == 0


def test_a_released_permit_that_is_dropped_gives_back_nothing_more() -> None:
    bulkhead = Bulkhead(max_concurrent=2)
    first = bulkhead.try_acquire()
    second = bulkhead.try_acquire()
    assert first.release() and not first.release()
    del first
    gc.collect()
    assert bulkhead.snapshot().in_flight == 1, "the drop of a released permit frees no other slot"
    second.release()


def test_a_dropped_permit_hands_its_slot_to_a_waiter() -> None:
    async def main() -> None:
        bulkhead = Bulkhead(max_concurrent=1)
        held: List[Any] = [await bulkhead.acquire()]
        waiting = asyncio.ensure_future(bulkhead.acquire())
        await asyncio.sleep(0)
        assert bulkhead.snapshot().waiting == 1
        held.clear()  # the only reference: the permit drops
        permit = await asyncio.wait_for(waiting, 5)
        assert bulkhead.snapshot().in_flight == 1
        permit.release()

    asyncio.run(main())


def test_no_breaker_permit_records_anything_when_dropped_unreported(clock: FakeClock) -> None:
    # Every way the native breaker issues a permit (the decorators used one that recorded a
    # success when dropped): dropped unreported, it is released, as the core's `Permit` is.
    breaker = CircuitBreaker(clock=clock)
    issuers = [name for name in ("acquire", "enter") if hasattr(breaker._core, name)]
    for name in issuers:
        permit = getattr(breaker._core, name)()
        del permit
        gc.collect()
        snap = breaker.snapshot()
        assert (snap.calls, snap.successes) == (0, 0), name
    assert issuers == ["acquire"]


def test_a_dropped_probe_frees_its_slot_and_records_nothing(clock: FakeClock) -> None:
    breaker = CircuitBreaker(consecutive_failures=1, failure_count=None, open_for=1.0, clock=clock)
    with pytest.raises(ConnectionError):
        with breaker:
            raise ConnectionError
    clock.advance(1.0)
    probe = breaker.acquire()
    assert breaker.snapshot().probes_in_flight == 1
    del probe
    gc.collect()
    snap = breaker.snapshot()
    assert (snap.state, snap.probes_in_flight, snap.successes) == ("half_open", 0, 0)


def test_decorated_calls_report_every_ending_explicitly(clock: FakeClock) -> None:
    breaker = CircuitBreaker(clock=clock)

    @breaker
    def ok() -> int:
        return 1

    class Forever:
        def __await__(self) -> Generator[None, None, None]:
            while True:
                yield

    @breaker
    async def never_finishes() -> None:
        await Forever()

    assert ok() == 1
    coroutine = never_finishes()
    coroutine.send(None)  # started: the permit is taken
    assert breaker.snapshot().calls == 1
    coroutine.close()  # abandoned: released, not recorded
    snap = breaker.snapshot()
    assert (snap.calls, snap.successes) == (1, 1)


def test_a_coroutine_that_ignores_cancellation_keeps_its_slot_until_it_ends() -> None:
    """Cancelling a protected coroutine cannot take its slot away while it runs: a coroutine
    that catches ``CancelledError`` and goes on holds the slot (and its breaker permit) until
    it really returns, and only then gives it back. Until then nobody else gets in."""
    bulkhead = Bulkhead(max_concurrent=1)
    breaker = CircuitBreaker()
    steps: List[str] = []

    @breaker
    @bulkhead
    async def stubborn(release: asyncio.Event) -> str:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            steps.append("ignored the cancellation")
        await release.wait()  # still running, still inside the bulkhead
        return "done"

    async def main() -> None:
        release = asyncio.Event()
        task = asyncio.ensure_future(stubborn(release))
        await asyncio.sleep(0)
        task.cancel()
        for _ in range(3):
            await asyncio.sleep(0)
        assert steps == ["ignored the cancellation"] and not task.done()
        assert bulkhead.snapshot().in_flight == 1, "the slot stays held while it runs"
        with pytest.raises(BulkheadFullError):
            bulkhead.try_acquire()
        with pytest.raises(BulkheadFullError):
            await bulkhead.acquire(timeout=0.01)
        release.set()
        assert await task == "done"  # it ended normally: a success
        assert bulkhead.snapshot().in_flight == 0
        snap = breaker.snapshot()
        assert (snap.calls, snap.successes, snap.probes_in_flight) == (1, 1, 0)

    asyncio.run(main())


def test_a_policy_timeout_on_a_coroutine_that_ignores_cancellation() -> None:
    """``Policy(timeout=)`` cancels the coroutine at the deadline; one that ignores it keeps its
    slot until it ends, and asyncio then gives back what it returned."""
    bulkhead = Bulkhead(max_concurrent=1)
    policy = stanchion.Policy(bulkhead=bulkhead, timeout=0.01)
    seen: List[int] = []

    @policy
    async def stubborn() -> str:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            seen.append(bulkhead.snapshot().in_flight)
            await asyncio.sleep(0.01)
            seen.append(bulkhead.snapshot().in_flight)
        return "late"

    assert asyncio.run(stubborn()) == "late"
    assert seen == [1, 1] and bulkhead.snapshot().in_flight == 0
