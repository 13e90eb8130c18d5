"""Bulkhead: slots, the asyncio wait queue in FIFO order, lanes, timeouts."""

from __future__ import annotations

import asyncio

import pytest

import stanchion
from stanchion import Bulkhead, BulkheadFullError


def test_with_holds_a_slot_and_refuses_when_full() -> None:
    bulkhead = Bulkhead(max_concurrent=1)
    with bulkhead:
        assert bulkhead.snapshot().in_flight == 1
        with pytest.raises(BulkheadFullError) as refused:
            with bulkhead:
                pass
        assert refused.value.reason == "bulkhead_full" and refused.value.retry_after is None
    snap = bulkhead.snapshot()
    assert (snap.in_flight, snap.peak, snap.rejected) == (0, 1, 1)


def test_decorator_releases_on_error() -> None:
    bulkhead = Bulkhead(max_concurrent=1)

    @bulkhead
    def boom() -> None:
        raise ValueError

    for _ in range(3):
        with pytest.raises(ValueError):
            boom()
    assert bulkhead.snapshot().in_flight == 0


def test_permits_release_once() -> None:
    bulkhead = Bulkhead(max_concurrent=2)
    permit = bulkhead.try_acquire()
    other = bulkhead.try_acquire()
    assert permit.release() is True
    assert permit.release() is False
    assert bulkhead.snapshot().in_flight == 1
    other.release()


def test_async_waiters_are_served_in_order() -> None:
    bulkhead = Bulkhead(max_concurrent=1)
    order: list[int] = []

    @bulkhead
    async def work(i: int) -> int:
        order.append(i)
        await asyncio.sleep(0)
        return i

    async def main() -> list[int]:
        return list(await asyncio.gather(*(work(i) for i in range(6))))

    assert asyncio.run(main()) == list(range(6))
    assert order == list(range(6))
    snap = bulkhead.snapshot()
    assert (snap.in_flight, snap.waiting, snap.peak, snap.rejected) == (0, 0, 1, 0)


def test_queue_limit_and_no_wait() -> None:
    async def main() -> None:
        bulkhead = Bulkhead(max_concurrent=1, max_waiting=1)
        held = await bulkhead.acquire()
        first = asyncio.ensure_future(bulkhead.acquire())
        await asyncio.sleep(0)
        with pytest.raises(BulkheadFullError) as refused:
            await bulkhead.acquire()
        assert refused.value.reason == "queue_full"
        held.release()
        (await first).release()
        never = Bulkhead(max_concurrent=1, max_waiting=0)
        async with never:
            with pytest.raises(BulkheadFullError):
                async with never:
                    pass

    asyncio.run(main())


def test_wait_timeout_leaves_the_queue() -> None:
    async def main() -> None:
        bulkhead = Bulkhead(max_concurrent=1, timeout=0.001)
        async with bulkhead:
            with pytest.raises(BulkheadFullError):
                async with bulkhead:
                    pass
            assert bulkhead.snapshot().waiting == 0
        assert bulkhead.snapshot().in_flight == 0

    asyncio.run(main())


def test_cancelled_waiter_passes_on_a_handed_permit() -> None:
    async def main() -> None:
        bulkhead = Bulkhead(max_concurrent=1)
        held = await bulkhead.acquire()
        first = asyncio.ensure_future(bulkhead.acquire())
        second = asyncio.ensure_future(bulkhead.acquire())
        await asyncio.sleep(0)
        assert bulkhead.snapshot().waiting == 2
        held.release()  # handed to `first`, which has not run yet
        first.cancel()  # ... and is cancelled: the permit must go on to `second`
        with pytest.raises(asyncio.CancelledError):
            await first
        permit = await second
        assert bulkhead.snapshot().in_flight == 1
        permit.release()
        snap = bulkhead.snapshot()
        assert (snap.in_flight, snap.waiting) == (0, 0)

    asyncio.run(main())


def test_lanes_keep_room_for_the_top_lane() -> None:
    bulkhead = Bulkhead(max_concurrent=2, lanes=[2, 1])
    low = bulkhead.try_acquire(1)
    with pytest.raises(BulkheadFullError):
        bulkhead.try_acquire(1)
    top = bulkhead.try_acquire(0)
    assert (low.lane, top.lane) == (1, 0)
    low.release()
    top.release()
    with pytest.raises(stanchion.ConfigError, match="lanes"):
        Bulkhead(max_concurrent=2, lanes=[2, 3])
    with pytest.raises(stanchion.ConfigError, match="max_waiting"):
        Bulkhead(max_concurrent=2, max_waiting=5000)
