"""One process of the fleet load test (``test_fleet_load.py``): a few threads hammer one key
through one ``FleetLimiter`` until the deadline, then the process prints what they saw as JSON.

usage: python fleet_load_worker.py '{"url": ..., "prefix": ..., "capacity": ..., ...}'
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any, Dict, List

import redis

from stanchion.redis import FleetLimiter


def server_time_ns(client: "redis.Redis") -> int:
    seconds, micros = client.time()
    return int(seconds) * 1_000_000_000 + int(micros) * 1_000


def main() -> None:
    options: Dict[str, Any] = json.loads(sys.argv[1])
    # Generous bounds: on a busy machine a slow answer is not what this test measures.
    client = redis.Redis.from_url(options["url"], socket_timeout=2.0, socket_connect_timeout=2.0)
    limiter = FleetLimiter(
        client,
        capacity=options["capacity"],
        refill_amount=options["refill_amount"],
        refill_every=options["refill_every"],
        prefix=options["prefix"],
        timeout=2.0,
    )
    lock = threading.Lock()
    seen: Dict[str, Any] = {"grants": 0, "refusals": 0, "errors": []}
    deadline = time.monotonic() + options["seconds"]

    def hammer() -> None:
        grants = refusals = 0
        errors: List[str] = []
        while time.monotonic() < deadline:
            try:
                if limiter.try_acquire(options["key"]):
                    grants += 1
                else:
                    refusals += 1
            except Exception as error:  # every error is a finding of the test
                errors.append(repr(error))
        with lock:
            seen["grants"] += grants
            seen["refusals"] += refusals
            seen["errors"].extend(errors)

    threads = [threading.Thread(target=hammer) for _ in range(options["threads"])]
    # Every decision of this process is made between these two readings of the server's clock.
    seen["start_ns"] = server_time_ns(client)
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seen["end_ns"] = server_time_ns(client)
    client.close()
    print(json.dumps(seen))


if __name__ == "__main__":
    main()
