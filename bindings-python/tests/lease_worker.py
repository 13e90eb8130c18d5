"""One process of the lease tests (``test_fleet_lock.py``, ``test_fleet_semaphore.py``), in
one of three modes; it answers in JSON lines on stdout.

usage: python lease_worker.py MODE '{"url": ..., "prefix": ..., ...}'

- ``count``: ``rounds`` times, takes lock ``name`` (``with lock(name)``), reads the counter,
  writes it plus one, and notes the lease's fence and when the section began and ended
  (``time.monotonic_ns``, one clock for every process of the machine); then prints them.
- ``hold``: takes lock ``name`` with a keeper and prints its fence and token; on the line
  ``release`` from stdin, waits up to ``lost_within`` seconds for the lease to be reported
  lost, releases it and prints what it saw.
- ``semaphore``: for ``seconds``, tries for a slot of semaphore ``name``; holding one, counts
  the holders the server reports and holds it a few milliseconds; prints every holding's
  start and end, the most holders seen and the refusals.
"""

from __future__ import annotations

import json
import random
import sys
import time
from typing import Any, Dict, List

import redis

from stanchion import BulkheadFullError
from stanchion.redis import FleetLock, FleetSemaphore


def say(value: Any) -> None:
    print(json.dumps(value), flush=True)


def client(options: Dict[str, Any]) -> "redis.Redis":
    # Generous bounds: on a busy machine a slow answer is not what these tests look at.
    return redis.Redis.from_url(options["url"], socket_timeout=2.0, socket_connect_timeout=2.0)


def count(options: Dict[str, Any]) -> None:
    conn = client(options)
    lock = FleetLock(conn, ttl=options["ttl"], wait=60.0, prefix=options["prefix"], timeout=2.0)
    sections: List[List[int]] = []
    for _ in range(options["rounds"]):
        with lock(options["name"]) as lease:
            start = time.monotonic_ns()
            seen = int(conn.get(options["counter"]) or 0)
            time.sleep(0)  # let another process in, if the lock would
            conn.set(options["counter"], seen + 1)
            end = time.monotonic_ns()
        sections.append([lease.fence, start, end])
    conn.close()
    say({"sections": sections})


def hold(options: Dict[str, Any]) -> None:
    conn = client(options)
    lock = FleetLock(conn, ttl=options["ttl"], prefix=options["prefix"], timeout=2.0)
    lease = lock.acquire(options["name"], keep=True)
    say({"fence": lease.fence, "token": lease.token})
    for line in sys.stdin:
        if line.strip() == "release":
            lost = lease.lost.wait(options["lost_within"])
            error = lease.lost_error
            released = lock.release(lease)
            say({"lost": lost, "gone": None if error is None else error.gone, "released": released})
            break
    conn.close()


def semaphore(options: Dict[str, Any]) -> None:
    conn = client(options)
    sem = FleetSemaphore(conn, limit=options["limit"], ttl=options["ttl"], prefix=options["prefix"], timeout=2.0)
    holdings: List[List[int]] = []
    most = refusals = 0
    deadline = time.monotonic() + options["seconds"]
    while time.monotonic() < deadline:
        try:
            lease = sem.try_acquire(options["name"])
        except BulkheadFullError:
            refusals += 1
            time.sleep(0.002)
            continue
        start = time.monotonic_ns()
        most = max(most, sem.holders(options["name"]).holders)
        time.sleep(random.uniform(0.005, 0.02))
        end = time.monotonic_ns()
        if not sem.release(lease):
            say({"error": "a slot was lost while held"})
            return
        holdings.append([start, end])
    conn.close()
    say({"holdings": holdings, "most": most, "refusals": refusals})


if __name__ == "__main__":
    {"count": count, "hold": hold, "semaphore": semaphore}[sys.argv[1]](json.loads(sys.argv[2]))
