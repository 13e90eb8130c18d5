"""Threads and tasks hammering shared objects: no permit leaks, no false refusals, and the
protected call never runs under a lock."""

from __future__ import annotations

import asyncio
import gc
import random
import sys
import threading
from typing import Callable

import pytest

from stanchion import (
    Backoff,
    Bulkhead,
    BulkheadFullError,
    CircuitBreaker,
    CircuitOpenError,
    RateLimiter,
    RefusedError,
    Retry,
    RetryBudget,
)


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


def test_threads_with_failures_timeouts_and_dropped_permits_never_pass_the_cap() -> None:
    """Eight threads (two of them running asyncio) hammer one bulkhead, breaker and retry
    budget with random exceptions, timeouts, cancellations, and permits released, dropped or
    left in reference cycles for the collector. A sampler checks at every sample that neither
    the bulkhead's count nor the work really inside exceeds the cap; at the end, once the
    collector has run, nothing is held."""
    cap = 3
    bulkhead = Bulkhead(max_concurrent=cap, max_waiting=64, timeout=0.05)
    # The bulkhead's refusals inside the breaker are not the dependency's failures.
    breaker = CircuitBreaker(
        failure_rate=0.5,
        minimum_calls=20,
        failure_count=None,
        open_for=0.001,
        half_open_probes=2,
        ignore_on=BulkheadFullError,
    )
    # No real sleeping: a thread that blocks waits up to a switch interval to get the GIL back.
    retry = Retry(
        Backoff.constant(0.0001, max_attempts=3),
        budget=RetryBudget(0.5),
        retry_refusals=True,
        sleep=lambda seconds: None,
    )
    lock = threading.Lock()
    inside = [0]
    violations: list[str] = []
    samples = [0]
    done = threading.Event()

    def enter() -> None:
        with lock:
            inside[0] += 1
            if inside[0] > cap:
                violations.append(f"{inside[0]} calls inside")

    def leave() -> None:
        with lock:
            inside[0] -= 1

    @retry
    @breaker
    @bulkhead
    def work(rng: random.Random) -> None:
        enter()
        try:
            if rng.random() < 0.15:
                raise ConnectionError
            if rng.random() < 0.05:
                raise ValueError  # a success for the breaker, final for the retry
            for _ in range(rng.randrange(50)):
                pass  # some work, across which the interpreter may switch threads
        finally:
            leave()

    @breaker
    @bulkhead
    async def awork(rng: random.Random) -> None:
        enter()
        try:
            for _ in range(rng.randrange(3)):
                await asyncio.sleep(rng.choice((0, 0.0005)))
            if rng.random() < 0.1:
                raise ConnectionError
        finally:
            leave()

    class Cycle:
        """A permit only the cyclic collector frees."""

        def __init__(self, permit: object) -> None:
            self.permit = permit
            self.me = self

    def hammer(seed: int) -> None:
        rng = random.Random(seed)
        for i in range(1500):
            roll = rng.random()
            try:
                if roll < 0.55:
                    work(rng)
                elif roll < 0.8:
                    permit = bulkhead.try_acquire()
                    enter()
                    leave()
                    choice = rng.random()
                    if choice < 0.5:
                        permit.release()
                    elif choice < 0.95:
                        del permit  # dropped while held: the slot comes back now
                    else:
                        Cycle(permit)  # dropped in a cycle: back when collected
                else:
                    probe = breaker.acquire()
                    choice = rng.random()
                    if choice < 0.5:
                        del probe  # dropped unreported: released
                    elif choice < 0.6:
                        Cycle(probe)
                    else:
                        probe.success()
            except (ConnectionError, ValueError, RefusedError):
                pass
            if i % 50 == 0:
                gc.collect(1)  # the young generations, where the fresh cycles are: cheap

    def loop(seed: int) -> None:
        async def one(rng: random.Random) -> None:
            try:
                await asyncio.wait_for(awork(rng), rng.choice((0.0005, 0.002, 1.0)))
            except (asyncio.TimeoutError, ConnectionError, BulkheadFullError, CircuitOpenError):
                pass

        async def main() -> None:
            rng = random.Random(seed)
            tasks = [asyncio.ensure_future(one(random.Random(seed * 1000 + i))) for i in range(400)]
            for _ in range(30):
                await asyncio.sleep(0.001)
                for task in rng.sample(tasks, 5):
                    task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run(main())

    def sample() -> None:
        while not done.is_set():
            in_flight = bulkhead.snapshot().in_flight
            with lock:
                now_inside = inside[0]
            if in_flight > cap or now_inside > cap:
                violations.append(f"sampled {in_flight} permits out, {now_inside} calls inside")
            samples[0] += 1

    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # threads interleave within the primitives' calls
    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        run_threads(8, lambda i: loop(i) if i < 2 else hammer(i))
    finally:
        done.set()
        sampler.join()
        sys.setswitchinterval(switch)
    gc.collect()
    snap = bulkhead.snapshot()
    assert violations == []
    assert samples[0] > 100
    assert (snap.in_flight, snap.waiting) == (0, 0) and snap.peak <= cap
    assert breaker.snapshot().probes_in_flight == 0
    assert inside[0] == 0
