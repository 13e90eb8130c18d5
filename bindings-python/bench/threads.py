"""4 threads each doing 1 ms of I/O per call: throughput through one breaker against none.

A breaker that holds a lock across the call (pybreaker) serialises the threads; stanchion's
never runs the call under a lock, so the 4 threads overlap their I/O.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Callable

import pybreaker

import stanchion

THREADS = 4
SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else 2.0


def io() -> None:
    time.sleep(0.001)


def throughput(call: Callable[[], None], threads_count: int = THREADS) -> float:
    stop = time.monotonic() + SECONDS
    counts = [0] * threads_count

    def worker(i: int) -> None:
        n = 0
        while time.monotonic() < stop:
            call()
            n += 1
        counts[i] = n

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(threads_count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts) / SECONDS


def main() -> None:
    bare = throughput(io)
    ours = throughput(stanchion.CircuitBreaker()(io))
    theirs = throughput(pybreaker.CircuitBreaker()(io))
    single = throughput(stanchion.CircuitBreaker()(io), 1)
    print(f"4 threads x 1 ms I/O, calls/s: unprotected {bare:.0f}, stanchion {ours:.0f} "
          f"({ours / bare:.1%} of unprotected, {ours / single:.2f}x one thread's {single:.0f}), "
          f"pybreaker {theirs:.0f} ({theirs / bare:.1%})")


if __name__ == "__main__":
    main()
