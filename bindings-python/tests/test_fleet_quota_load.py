"""Load: 8 processes take one unit at a time from a quota of 10 000 over 4 buckets, each with a
request id of its own, until it is sold out; a third of first attempts are cut off mid-call
and retried with the same id, and a quarter of grants are retried once more. Exactly 10 000
ids are served, each once, the replays answer as the first grant did, and the counts, read
raw from Redis all along, never go below zero."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import redis_support

from stanchion.redis import FleetQuota

WORKER = Path(__file__).with_name("fleet_quota_load_worker.py")
PROCESSES = 8
STOCK = 10_000
BUCKETS = 4


def test_a_fleet_of_processes_retrying_with_ids_takes_the_stock_exactly_once() -> None:
    prefix = redis_support.unique_prefix("qload")
    client = redis_support.sync_client(timeout=2.0)
    try:
        quota = FleetQuota(client, buckets=BUCKETS, prefix=prefix, timeout=2.0)
        assert quota.restock("hot", STOCK) == STOCK
        keys = [quota.redis_key("hot", bucket) for bucket in range(BUCKETS)]
        workers = [
            subprocess.Popen(
                [
                    sys.executable,
                    str(WORKER),
                    json.dumps(
                        {
                            "url": redis_support.url(),
                            "prefix": prefix,
                            "buckets": BUCKETS,
                            "worker": worker,
                            "seed": worker,
                            "cut_share": 1 / 3,
                            "replay_share": 1 / 4,
                        }
                    ),
                ],
                stdout=subprocess.PIPE,
                text=True,
            )
            for worker in range(PROCESSES)
        ]
        # Reads the raw counts while the workers run: a count below zero would read "-1".
        reads = 0
        started = time.monotonic()
        while any(worker.poll() is None for worker in workers) and time.monotonic() - started < 300:
            for raw in client.mget(keys):
                assert raw is not None and raw.isdigit(), raw
                reads += 1
        outputs = [worker.communicate(timeout=300)[0] for worker in workers]
        assert [worker.returncode for worker in workers] == [0] * PROCESSES
        seen = [json.loads(output) for output in outputs]
        assert [error for s in seen for error in s["errors"]] == []
        served = [request_id for s in seen for request_id in s["served"]]
        cut = sum(s["cut"] for s in seen)
        cut_served = sum(s["cut_served"] for s in seen)
        replays = sum(s["replays"] for s in seen)
        print(
            f"{PROCESSES} processes, {STOCK} units over {BUCKETS} buckets: {len(served)} ids "
            f"served, {cut} first attempts cut off and retried ({cut_served} of them had been served), "
            f"{replays} grants retried and replayed, "
            f"{reads} raw counts read meanwhile"
        )
        assert len(served) == len(set(served)) == STOCK
        assert quota.remaining("hot") == 0
        # The cut-offs happened, so the retries were tested, not merely allowed.
        assert cut > 0 and replays > 0
    finally:
        client.close()
