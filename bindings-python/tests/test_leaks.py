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
