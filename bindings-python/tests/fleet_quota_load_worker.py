"""One process of the quota load test (``test_fleet_quota_load.py``): takes one unit at a time
from one quota with ids of its own until the quota is sold out, a share of first attempts cut
off mid-call at a random moment (their outcome unknown, as after a timeout) and retried with
the same id until one answers, and a share of grants retried once more, which must replay.
Prints what it saw as JSON.

usage: python fleet_quota_load_worker.py '{"url": ..., "prefix": ..., "buckets": ..., ...}'
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
from typing import Any, Dict, List

import redis.asyncio

from stanchion import SoldOutError
from stanchion.redis import FleetQuota


async def main() -> None:
    options: Dict[str, Any] = json.loads(sys.argv[1])
    rng = random.Random(options["seed"])
    client = redis.asyncio.Redis.from_url(options["url"])
    # Generous: on a busy machine a slow answer is not what this test measures.
    quota = FleetQuota(client, buckets=options["buckets"], prefix=options["prefix"], timeout=5.0)
    seen: Dict[str, Any] = {"served": [], "cut": 0, "cut_served": 0, "replays": 0, "errors": []}
    errors: List[str] = seen["errors"]
    worker = options["worker"]
    i = 0
    try:
        while True:
            request_id = f"{worker}-{i}"
            i += 1
            try:
                taken = None
                if rng.random() < options["cut_share"]:
                    try:
                        taken = await asyncio.wait_for(
                            quota.take_async("hot", 1, request_id=request_id),
                            rng.uniform(0.00002, 0.0006),
                        )
                    except asyncio.TimeoutError:
                        seen["cut"] += 1
                while taken is None:
                    try:
                        taken = await quota.take_async("hot", 1, request_id=request_id)
                        # The cut-off attempt had been served: the retry says so.
                        seen["cut_served"] += taken.replayed
                    except SoldOutError:
                        raise
                    except Exception as error:  # every other error is a finding
                        errors.append(f"{request_id}: {error!r}")
                        raise
                if rng.random() < options["replay_share"]:
                    again = await quota.take_async("hot", 1, request_id=request_id)
                    if not again.replayed or again.bucket != taken.bucket:
                        errors.append(f"{request_id}: a retry after a grant answered {again}")
                    seen["replays"] += 1
            except SoldOutError:
                break
            seen["served"].append(request_id)
    finally:
        await client.aclose()
    print(json.dumps(seen))


if __name__ == "__main__":
    asyncio.run(main())
