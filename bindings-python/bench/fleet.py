"""The cost of one fleet limiter decision against a Redis server, and of one answer while the
connection's breaker is open. Prints a Markdown table; asserts nothing.

usage: python bench/fleet.py redis://127.0.0.1:6379/ [calls]

Rows: a bare ``EVALSHA`` of the script (the floor: one round trip and the script), the same
decision through ``FleetLimiter.try_acquire`` (blocking) and ``try_acquire_async`` (asyncio,
awaited one at a time), then a limiter whose client points at a closed port: after three
refused connections its breaker is open, and each call is answered from memory by
``on_unavailable`` (``"deny"``, and ``"local"`` with its token bucket). Each figure is the best
of 5 rounds, in microseconds per call.
"""

from __future__ import annotations

import asyncio
import socket
import sys
import time
from typing import Any, Awaitable, Callable, List

import redis
import redis.asyncio

from stanchion.redis import FleetLimiter

URL = sys.argv[1] if len(sys.argv) > 1 else "redis://127.0.0.1:6379/"
CALLS = int(sys.argv[2]) if len(sys.argv) > 2 else 5000
ROUNDS = 5
PREFIX = f"bench:{time.time_ns()}:"


def best(call: Callable[[], Any], calls: int = CALLS) -> float:
    rounds: List[float] = []
    for _ in range(ROUNDS):
        start = time.perf_counter_ns()
        for _ in range(calls):
            call()
        rounds.append((time.perf_counter_ns() - start) / calls / 1000)
    return min(rounds)


async def abest(call: Callable[[], Awaitable[Any]], calls: int = CALLS) -> float:
    rounds: List[float] = []
    for _ in range(ROUNDS):
        start = time.perf_counter_ns()
        for _ in range(calls):
            await call()
        rounds.append((time.perf_counter_ns() - start) / calls / 1000)
    return min(rounds)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when the block ends


def main() -> None:
    rows: List[tuple[str, float]] = []
    client = redis.Redis.from_url(URL, socket_timeout=0.25, socket_connect_timeout=0.25)
    # A huge bucket: every decision is a grant, and the key stays one key.
    limiter = FleetLimiter(client, capacity=4_000_000, refill_amount=1_000_000, prefix=PREFIX)
    limiter.try_acquire("k")  # loads the script
    script = limiter._script
    key, argv = limiter._core.request("k", 1, False)
    rows.append(("bare EVALSHA of gcra.lua (blocking)", best(lambda: client.evalsha(script.sha, 1, key, *argv))))
    rows.append(("FleetLimiter.try_acquire (blocking)", best(lambda: limiter.try_acquire("k"))))

    async def run_async() -> float:
        aclient = redis.asyncio.Redis.from_url(URL)
        alimiter = FleetLimiter(aclient, capacity=4_000_000, refill_amount=1_000_000, prefix=PREFIX)
        try:
            return await abest(lambda: alimiter.try_acquire_async("k"))
        finally:
            await aclient.aclose()

    rows.append(("FleetLimiter.try_acquire_async (asyncio)", asyncio.run(run_async())))

    dead_url = f"redis://127.0.0.1:{closed_port()}/"
    for policy, extra in (("deny", {}), ("local", {"local_share": 1.0})):
        dead = redis.Redis.from_url(dead_url, socket_timeout=0.25, socket_connect_timeout=0.25)
        down = FleetLimiter(dead, capacity=4_000_000, refill_amount=1_000_000, on_unavailable=policy, **extra)
        for _ in range(3):
            down.try_acquire("k")
        assert down.breaker.state == "open"
        rows.append((f'breaker open, on_unavailable="{policy}"', best(lambda: down.try_acquire("k"))))
        dead.close()
    for stale in client.scan_iter(f"{PREFIX}*"):
        client.delete(stale)
    client.close()

    print(f"Redis {URL}, {CALLS} calls a round, best of {ROUNDS} rounds")
    print()
    print("| call | µs per call |")
    print("| --- | --- |")
    for name, micros in rows:
        print(f"| {name} | {micros:.1f} |")


if __name__ == "__main__":
    main()
