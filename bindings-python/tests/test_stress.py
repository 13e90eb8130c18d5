"""Threads and tasks hammering shared objects: no permit leaks, no false refusals, and the
protected call never runs under a lock."""

from __future__ import annotations

import asyncio
import random
import threading
from typing import Callable

import pytest

from stanchion import Bulkhead, BulkheadFullError, CircuitBreaker, CircuitOpenError, RateLimiter


def run_threads(count: int, target: Callable[[int], None]) -> None:
    errors: list[BaseException] = []

    def guarded(i: int) -> None:
        try:
            target(i)
        except BaseException as exc:  # surfaced below, not swallowed
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []



def test_eight_threads_end_with_no_permit_held() -> None:
    breaker = CircuitBreaker(failure_rate=0.5, minimum_calls=20, failure_count=None, open_for=0.001)
    bulkhead = Bulkhead(max_concurrent=3)
    inside = [0]
    peak = [0]
    lock = threading.Lock()

    @breaker
    @bulkhead
    def work(fail: bool) -> None:
        with lock:  # the test's own bookkeeping, not the primitives'
            inside[0] += 1
            peak[0] = max(peak[0], inside[0])
        try:
            if fail:
                raise ConnectionError
        finally:
            with lock:
                inside[0] -= 1

    def hammer(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(3000):
            try:
                work(rng.random() < 0.3)
            except (ConnectionError, CircuitOpenError, BulkheadFullError):
                pass

    run_threads(8, hammer)
    assert bulkhead.snapshot().in_flight == 0
    assert peak[0] <= 3
    assert breaker.snapshot().probes_in_flight == 0


def test_four_threads_never_refused_by_a_limit_they_do_not_reach() -> None:
    # 10^9 tokens per second with a burst of 10^6: 4 threads cannot take them faster.
    limiter = RateLimiter(capacity=1_000_000, refill_amount=1_000_000_000, refill_every=1.0)
    refusals = [0] * 4

    def hammer(i: int) -> None:
        try_acquire = limiter.try_acquire
        for _ in range(25_000):
            if not try_acquire():
                refusals[i] += 1

    run_threads(4, hammer)
    assert refusals == [0, 0, 0, 0]


def test_protected_calls_run_concurrently_not_under_a_lock() -> None:
    breaker = CircuitBreaker()
    bulkhead = Bulkhead(max_concurrent=4)
    limiter = RateLimiter(capacity=100)
    # Every call waits until all four are inside at once: a breaker that serialised its calls
    # would break the barrier (its timeout is a safety net, not a measurement).
    barrier = threading.Barrier(4, timeout=30)

    @breaker
    @bulkhead
    @limiter
    def rendezvous() -> None:
        barrier.wait()

    run_threads(4, lambda i: rendezvous())
    assert breaker.snapshot().successes == 4


def test_asyncio_stress_with_cancellations_ends_with_nothing_held() -> None:
    bulkhead = Bulkhead(max_concurrent=3, max_waiting=1024)
    breaker = CircuitBreaker(half_open_probes=2)
    peak = [0]
    inside = [0]

    @breaker
    @bulkhead
    async def work(rng: random.Random) -> None:
        inside[0] += 1
        peak[0] = max(peak[0], inside[0])
        try:
            for _ in range(rng.randrange(3)):
                await asyncio.sleep(0)
            if rng.random() < 0.2:
                raise ConnectionError
        finally:
            inside[0] -= 1

    async def main() -> None:
        rng = random.Random(7)
        tasks = [asyncio.ensure_future(work(random.Random(i))) for i in range(600)]
        for _ in range(40):
            await asyncio.sleep(0)
            for task in rng.sample(tasks, 10):
                task.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        kinds = {type(r) for r in results}
        assert kinds <= {type(None), ConnectionError, asyncio.CancelledError, CircuitOpenError}

    asyncio.run(main())
    snap = bulkhead.snapshot()
    assert (snap.in_flight, snap.waiting) == (0, 0)
    assert peak[0] <= 3
    assert breaker.snapshot().probes_in_flight == 0


@pytest.mark.parametrize("cancel_at", [0, 1, 2])
def test_cancelling_a_queued_waiter_at_any_point_leaks_nothing(cancel_at: int) -> None:
    async def main() -> None:
        bulkhead = Bulkhead(max_concurrent=1)
        holder = await bulkhead.acquire()
        waiters = [asyncio.ensure_future(bulkhead.acquire()) for _ in range(3)]
        for _ in range(cancel_at):
            await asyncio.sleep(0)
        holder.release()
        waiters[0].cancel()
        permits = []
        for w in waiters:
            try:
                permits.append(await w)
            except asyncio.CancelledError:
                pass
            if permits:
                permits.pop().release()
        snap = bulkhead.snapshot()
        assert (snap.in_flight, snap.waiting) == (0, 0)

    asyncio.run(main())


def test_async_with_blocks_across_tasks_and_threads_give_back_every_slot() -> None:
    bulkhead = Bulkhead(max_concurrent=4)

    async def block(i: int) -> None:
        async with bulkhead:
            assert bulkhead.snapshot().in_flight <= 4
            for _ in range(i % 3):
                await asyncio.sleep(0)
            if i % 5 == 0:
                raise KeyError(i)

    async def main() -> None:
        tasks = [asyncio.ensure_future(block(i)) for i in range(300)]
        await asyncio.sleep(0)
        for task in tasks[::7]:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def sync_blocks(i: int) -> None:
        for _ in range(2000):
            try:
                with bulkhead:
                    pass
            except BulkheadFullError:
                pass

    run_threads(3, lambda i: asyncio.run(main()) if i == 0 else sync_blocks(i))
    snap = bulkhead.snapshot()
    assert (snap.in_flight, snap.waiting) == (0, 0) and snap.peak <= 4
