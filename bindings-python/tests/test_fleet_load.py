"""Load: 4 processes of 3 threads each hammer one key of one fleet limiter for about a second.
Together they never get more than the bucket allows over the server's time span, the burst
plus the rate times the span, and no call fails."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import redis_support

WORKER = Path(__file__).with_name("fleet_load_worker.py")
PROCESSES = 4
THREADS = 3
CAPACITY = 20
#: 100 tokens a second: one every 10 ms.
REFILL_AMOUNT = 100
REFILL_EVERY_NS = 10**9


def test_a_fleet_of_processes_never_gets_more_than_the_bucket_allows() -> None:
    options = {
        "url": redis_support.url(),
        "prefix": redis_support.unique_prefix("load"),
        "key": "hot",
        "capacity": CAPACITY,
        "refill_amount": REFILL_AMOUNT,
        "refill_every": REFILL_EVERY_NS / 1e9,
        "threads": THREADS,
        "seconds": 1.0,
    }
    workers = [
        subprocess.Popen([sys.executable, str(WORKER), json.dumps(options)], stdout=subprocess.PIPE, text=True)
        for _ in range(PROCESSES)
    ]
    outputs = [worker.communicate(timeout=120)[0] for worker in workers]
    assert [worker.returncode for worker in workers] == [0] * PROCESSES
    seen = [json.loads(output) for output in outputs]
    errors = [error for s in seen for error in s["errors"]]
    assert errors == []
    # Every decision was made in this span of the server's clock.
    start = min(s["start_ns"] for s in seen)
    end = max(s["end_ns"] for s in seen)
    grants = sum(s["grants"] for s in seen)
    refusals = sum(s["refusals"] for s in seen)
    allowed = CAPACITY + (end - start) * REFILL_AMOUNT // REFILL_EVERY_NS
    print(
        f"{PROCESSES} processes x {THREADS} threads, {(end - start) / 1e9:.3f} s of server time: "
        f"{grants} grants (at most {allowed}), {refusals} refusals, "
        f"{(grants + refusals) * 1e9 / (end - start):.0f} decisions a second of that span"
    )
    assert CAPACITY <= grants <= allowed
    # The hammering outran the rate, so the bound was tested, not merely respected.
    assert refusals > 0
