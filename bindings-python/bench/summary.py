"""Prints the pyperf results as a table with the issue's ratios."""

from __future__ import annotations

import sys

import pyperf

suite = pyperf.BenchmarkSuite.load(sys.argv[1])
ns = {b.get_name(): b.mean() * 1e9 for b in suite.get_benchmarks()}
width = max(map(len, ns))
for name, value in ns.items():
    print(f"{name:<{width}}  {value:8.1f} ns")
print()


def ratio(label: str, ours: str, theirs: str, target: float) -> None:
    r = ns[theirs] / ns[ours]
    verdict = "met" if r >= target else "missed"
    print(f"{label}: {r:.1f}x (target >= {target:g}x: {verdict})")


ratio("breaker decorator vs pybreaker", "breaker: stanchion decorator", "breaker: pybreaker decorator", 8)
ratio("breaker decorator vs circuitbreaker", "breaker: stanchion decorator", "breaker: circuitbreaker decorator", 1)
ratio("limiter try_acquire vs limits", "limiter: stanchion try_acquire", "limiter: limits fixed-window hit", 20)
ratio("limiter try_acquire vs pyrate-limiter", "limiter: stanchion try_acquire", "limiter: pyrate-limiter try_acquire", 1)
ratio("retry decorator vs tenacity", "retry: stanchion decorator (success)", "retry: tenacity decorator (success)", 15)
ratio("bulkhead with vs BoundedSemaphore", "bulkhead: stanchion with", "bulkhead: threading.BoundedSemaphore with", 1)
ratio("async bulkhead vs asyncio.Semaphore", "async bulkhead: stanchion async with", "async bulkhead: asyncio.Semaphore async with", 1)
ratio("async limiter vs aiolimiter", "async limiter: stanchion async with", "async limiter: aiolimiter async with", 1)
