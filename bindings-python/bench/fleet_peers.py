"""The fleet limiter against the peer Python users reach for, ``limits`` with its Redis storage
(fixed window and moving window), on one Redis server. Prints a Markdown table; asserts
nothing.

usage: python bench/fleet_peers.py redis://127.0.0.1:6379/ [calls]

Every row makes ``calls`` decisions on one key, one at a time on one blocking client (a
round trip each), at limits of 10, 1 000 and 100 000 per second: at 10 nearly every call is
refused, at 100 000 every call is a grant. The floor is a bare ``EVALSHA`` of a script that
returns 1. Figures: decisions per second, and the median and 99th percentile of one call, in
microseconds.
"""

from __future__ import annotations

import statistics
import sys
import time
from typing import Callable, List, Tuple

import redis
from limits import RateLimitItemPerSecond
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter, MovingWindowRateLimiter

from stanchion.redis import FleetLimiter

URL = sys.argv[1] if len(sys.argv) > 1 else "redis://127.0.0.1:6379/"
CALLS = int(sys.argv[2]) if len(sys.argv) > 2 else 5000
LIMITS = (10, 1_000, 100_000)


def measure(call: Callable[[], object], calls: int = CALLS) -> Tuple[float, float, float]:
    for _ in range(min(calls, 200)):  # warm up: scripts loaded, connections made
        call()
    times: List[int] = []
    start = time.perf_counter_ns()
    for _ in range(calls):
        before = time.perf_counter_ns()
        call()
        times.append(time.perf_counter_ns() - before)
    elapsed = time.perf_counter_ns() - start
    times.sort()
    p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
    return calls / (elapsed / 1e9), statistics.median(times) / 1000, p99 / 1000


def row(name: str, limit: object, figures: Tuple[float, float, float]) -> str:
    rate, p50, p99 = figures
    return f"| {name} | {limit} | {rate:,.0f} | {p50:.0f} µs | {p99:.0f} µs |"


def main() -> None:
    client = redis.Redis.from_url(URL, socket_timeout=0.25, socket_connect_timeout=0.25)
    run = f"bench:peers:{time.time_ns()}:"
    floor = client.register_script("return 1")
    print("| decision | limit/s | decisions/s | p50 | p99 |")
    print("| --- | --- | --- | --- | --- |")
    print(row("bare EVALSHA (floor)", "", measure(lambda: floor(keys=[run + "floor"]))))
    storage = storage_from_string(URL)
    fixed = FixedWindowRateLimiter(storage)
    moving = MovingWindowRateLimiter(storage)
    for limit in LIMITS:
        ours = FleetLimiter(client, capacity=limit, refill_amount=limit, refill_every=1.0, prefix=run + f"{limit}:")
        print(row("stanchion FleetLimiter.try_acquire", f"{limit:,}", measure(lambda: ours.try_acquire("k"))))
        item = RateLimitItemPerSecond(limit)
        print(row("limits fixed window `hit`", f"{limit:,}", measure(lambda: fixed.hit(item, run, "fixed", str(limit)))))
        print(row("limits moving window `hit`", f"{limit:,}", measure(lambda: moving.hit(item, run, "moving", str(limit)))))


if __name__ == "__main__":
    main()
