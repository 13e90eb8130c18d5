"""Per-call cost of stanchion's protected no-op against a bare call and the Python peers.

Run through ``scripts/bench-python.sh``: pyperf spawns worker processes for each case and
writes ``results.json``; ``summary.py`` then prints the table and the ratios. Nothing here is
asserted; the figures go to the README.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any, Callable

import pyperf

import stanchion

# Peers, at the versions pinned in requirements-bench.txt.
import aiolimiter
import circuitbreaker
import limits
import limits.storage
import limits.strategies
import pybreaker
import pyrate_limiter
import tenacity

BIG = 10**9


def noop() -> None:
    return None


async def anoop() -> None:
    return None


def timed(call: Callable[[], Any]) -> Callable[[int], float]:
    def run(loops: int) -> float:
        it = range(loops)
        start = time.perf_counter()
        for _ in it:
            call()
        return time.perf_counter() - start

    return run


def timed_with(cm: Any) -> Callable[[int], float]:
    def run(loops: int) -> float:
        it = range(loops)
        start = time.perf_counter()
        for _ in it:
            with cm:
                pass
        return time.perf_counter() - start

    return run


def timed_async_with(make: Callable[[], Any]) -> Callable[[int], float]:
    def run(loops: int) -> float:
        cm = make()

        async def body() -> float:
            it = range(loops)
            start = time.perf_counter()
            for _ in it:
                async with cm:
                    pass
            return time.perf_counter() - start

        return asyncio.run(body())

    return run


def timed_await(make: Callable[[], Callable[[], Any]]) -> Callable[[int], float]:
    def run(loops: int) -> float:
        async def body() -> float:
            call = make()
            it = range(loops)
            start = time.perf_counter()
            for _ in it:
                await call()
            return time.perf_counter() - start

        return asyncio.run(body())

    return run


def cases() -> dict[str, Callable[[int], float]]:
    limits_item = limits.parse("1000000000/second")
    fixed_window = limits.strategies.FixedWindowRateLimiter(limits.storage.MemoryStorage())
    pyrate = pyrate_limiter.Limiter(pyrate_limiter.Rate(BIG, pyrate_limiter.Duration.SECOND))
    stanchion_limiter = stanchion.RateLimiter(capacity=BIG, refill_amount=BIG, refill_every=1.0)
    keyed = stanchion.KeyedRateLimiter(capacity=BIG, refill_amount=BIG, refill_every=1.0)
    return {
        "bare call": timed(noop),
        "breaker: stanchion decorator": timed(stanchion.CircuitBreaker()(noop)),
        "breaker: pybreaker decorator": timed(pybreaker.CircuitBreaker()(noop)),
        "breaker: circuitbreaker decorator": timed(circuitbreaker.circuit(noop)),
        "breaker: stanchion with": timed_with(stanchion.CircuitBreaker()),
        "limiter: stanchion try_acquire": timed(stanchion_limiter.try_acquire),
        "limiter: stanchion keyed try_acquire(str)": timed(lambda: keyed.try_acquire("user:42")),
        "limiter: limits fixed-window hit": timed(lambda: fixed_window.hit(limits_item)),
        "limiter: pyrate-limiter try_acquire": timed(lambda: pyrate.try_acquire("k")),
        "retry: stanchion decorator (success)": timed(stanchion.Retry()(noop)),
        "retry: tenacity decorator (success)": timed(
            tenacity.retry(stop=tenacity.stop_after_attempt(3))(noop)
        ),
        "bulkhead: stanchion with": timed_with(stanchion.Bulkhead(max_concurrent=8)),
        "bulkhead: threading.BoundedSemaphore with": timed_with(threading.BoundedSemaphore(8)),
        "async bulkhead: stanchion async with": timed_async_with(
            lambda: stanchion.Bulkhead(max_concurrent=8)
        ),
        "async bulkhead: asyncio.Semaphore async with": timed_async_with(
            lambda: asyncio.Semaphore(8)
        ),
        "async limiter: stanchion async with": timed_async_with(
            lambda: stanchion.RateLimiter(capacity=BIG, refill_amount=BIG, refill_every=1.0)
        ),
        "async limiter: aiolimiter async with": timed_async_with(
            lambda: aiolimiter.AsyncLimiter(BIG, 1)
        ),
        "async breaker: stanchion decorator": timed_await(
            lambda: stanchion.CircuitBreaker()(anoop)
        ),
        "async bare await": timed_await(lambda: anoop),
    }


def main() -> None:
    runner = pyperf.Runner()
    for name, func in cases().items():
        runner.bench_time_func(name, func)


if __name__ == "__main__":
    main()
