"""Bulkhead: slots, the wait queue in FIFO order for threads and asyncio tasks, lanes,
timeouts."""

from __future__ import annotations

import _thread
import asyncio
import threading
import time
from typing import Callable, List

import pytest

import stanchion
from stanchion import Bulkhead, BulkheadFullError, CircuitBreaker, Policy, TimeoutExceededError

#: The bound that turns a hang into a failure; never a measure of speed.
GENEROUS = 60.0


def eventually(predicate: Callable[[], bool]) -> None:
    """Spins until ``predicate()`` holds (other threads run at each GIL switch); fails only
    if it never does."""
    give_up = time.monotonic() + GENEROUS
    while not predicate():
        assert time.monotonic() < give_up, "the awaited state never came"


class Threads:
    """Threads started one at a time, their exceptions kept for the test to see."""

    def __init__(self) -> None:
        self.threads: List[threading.Thread] = []
        self.errors: List[BaseException] = []

    def start(self, target: Callable[[], object]) -> None:
        def guarded() -> None:
            try:
                target()
            except BaseException as exc:  # surfaced by join(), not swallowed
                self.errors.append(exc)

        thread = threading.Thread(target=guarded, daemon=True)
        thread.start()
        self.threads.append(thread)

    def join(self) -> List[BaseException]:
        for thread in self.threads:
            thread.join(GENEROUS)
            assert not thread.is_alive(), "a thread never finished"
        return self.errors


def test_with_holds_a_slot_and_try_acquire_refuses_when_full() -> None:
    bulkhead = Bulkhead(max_concurrent=1)
    with bulkhead:
        assert bulkhead.snapshot().in_flight == 1
        with pytest.raises(BulkheadFullError) as refused:
            bulkhead.try_acquire()
        assert refused.value.reason == "bulkhead_full" and refused.value.retry_after is None
    snap = bulkhead.snapshot()
    assert (snap.in_flight, snap.peak, snap.rejected) == (0, 1, 1)


def test_threads_wait_in_the_queue_and_go_through_in_order() -> None:
    bulkhead = Bulkhead(max_concurrent=1)
    order: List[int] = []
    in_flight: List[int] = []

    def worker(i: int) -> None:
        with bulkhead:
            order.append(i)
            in_flight.append(bulkhead.snapshot().in_flight)

    threads = Threads()
    held = bulkhead.try_acquire()
    for i in range(4):
        threads.start(lambda i=i: worker(i))  # type: ignore[misc]
        eventually(lambda: bulkhead.snapshot().waiting == i + 1)
    held.release()  # handed to the oldest waiter, and on down the queue
    assert threads.join() == []
    assert order == [0, 1, 2, 3]
    assert in_flight == [1, 1, 1, 1]
    snap = bulkhead.snapshot()
    assert (snap.in_flight, snap.waiting, snap.peak, snap.rejected) == (0, 0, 1, 0)


def test_a_sync_decorated_call_waits_for_a_slot() -> None:
    bulkhead = Bulkhead(max_concurrent=1)
    results: List[str] = []

    @bulkhead
    def work() -> str:
        return "done"

    threads = Threads()
    held = bulkhead.try_acquire()
    threads.start(lambda: results.append(work()))
    eventually(lambda: bulkhead.snapshot().waiting == 1)
    assert results == []
    held.release()
    assert threads.join() == [] and results == ["done"]
    assert bulkhead.snapshot().in_flight == 0


def test_a_thread_whose_timeout_passes_is_refused_and_leaves_the_queue() -> None:
    bulkhead = Bulkhead(max_concurrent=1, timeout=0.05)
    with bulkhead:
        with pytest.raises(BulkheadFullError) as refused:
            with bulkhead:  # the same thread: nobody releases, so the timeout passes
                pass
        assert refused.value.reason == "bulkhead_full"
        assert "timeout" in str(refused.value)
        assert bulkhead.snapshot().waiting == 0
        with pytest.raises(BulkheadFullError):
            bulkhead.acquire_blocking(timeout=0)
        assert bulkhead.snapshot().waiting == 0
    snap = bulkhead.snapshot()
    assert (snap.in_flight, snap.waiting) == (0, 0)
    with bulkhead:  # still usable
        pass


def test_threads_respect_max_waiting() -> None:
    bulkhead = Bulkhead(max_concurrent=1, max_waiting=1)
    threads = Threads()
    held = bulkhead.try_acquire()
    threads.start(lambda: bulkhead.acquire_blocking().release())
    eventually(lambda: bulkhead.snapshot().waiting == 1)
    with pytest.raises(BulkheadFullError) as refused:
        with bulkhead:
            pass
    assert refused.value.reason == "queue_full"
    held.release()
    assert threads.join() == []
    never = Bulkhead(max_concurrent=1, max_waiting=0)
    with never:
        with pytest.raises(BulkheadFullError):
            with never:
                pass


def test_an_exception_inside_with_releases_and_the_next_waiter_goes_on() -> None:
    bulkhead = Bulkhead(max_concurrent=1)
    order: List[str] = []

    def failing() -> None:
        with bulkhead:
            order.append("failing")
            raise ValueError("inside the block")

    def next_one() -> None:
        with bulkhead:
            order.append("next")

    threads = Threads()
    held = bulkhead.try_acquire()
    threads.start(failing)
    eventually(lambda: bulkhead.snapshot().waiting == 1)
    threads.start(next_one)
    eventually(lambda: bulkhead.snapshot().waiting == 2)
    held.release()
    errors = threads.join()
    assert [type(e) for e in errors] == [ValueError]
    assert order == ["failing", "next"]
    snap = bulkhead.snapshot()
    assert (snap.in_flight, snap.waiting) == (0, 0)


def test_an_interrupted_wait_leaves_the_queue() -> None:
    bulkhead = Bulkhead(max_concurrent=1)
    held = bulkhead.try_acquire()

    def interrupt_once_waiting() -> None:
        eventually(lambda: bulkhead.snapshot().waiting == 1)
        _thread.interrupt_main()

    threads = Threads()
    threads.start(interrupt_once_waiting)
    with pytest.raises(KeyboardInterrupt):
        bulkhead.acquire_blocking()  # the main thread, where signal handlers run
    assert threads.join() == []
    assert bulkhead.snapshot().waiting == 0
    held.release()
    assert bulkhead.snapshot().in_flight == 0


def test_a_policy_call_waits_in_the_bulkhead_queue() -> None:
    breaker = CircuitBreaker()
    bulkhead = Bulkhead(max_concurrent=1)
    policy = Policy(breaker=breaker, bulkhead=bulkhead)
    results: List[str] = []
    threads = Threads()
    held = bulkhead.try_acquire()
    threads.start(lambda: results.append(policy.call(lambda: "done")))
    eventually(lambda: bulkhead.snapshot().waiting == 1)
    held.release()
    assert threads.join() == [] and results == ["done"]
    assert (breaker.snapshot().calls, bulkhead.snapshot().in_flight) == (1, 0)


def test_a_policy_deadline_ends_the_wait_for_the_bulkhead() -> None:
    breaker = CircuitBreaker()
    bulkhead = Bulkhead(max_concurrent=1)
    policy = Policy(breaker=breaker, bulkhead=bulkhead, timeout=0.05)
    calls: List[int] = []
    with bulkhead:
        with pytest.raises(TimeoutExceededError):
            policy.call(lambda: calls.append(1))
        assert bulkhead.snapshot().waiting == 0
    assert calls == []
    snap = breaker.snapshot()
    assert (snap.calls, snap.probes_in_flight) == (0, 0), "released, not recorded"


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
