"""``FleetQuota`` on a 3-primary Redis Cluster, through redis-py's blocking and asyncio cluster
clients: a bucketed quota's buckets sit on slots of their own, spread over every primary, and
every call runs (no CROSSSLOT: a call touches one bucket and its request id records, which
share the bucket's hash tag), sweeps included."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import redis_support

from stanchion import SoldOutError
from stanchion.redis import FleetQuota

BUCKETS = 16


def test_a_bucketed_quota_spreads_over_slots_and_nodes_and_every_call_runs() -> None:
    client = redis_support.sync_cluster()
    try:
        q = FleetQuota(client, buckets=BUCKETS, prefix=redis_support.unique_prefix("qcluster"), timeout=1.0)
        keys = [q.redis_key("hot", bucket) for bucket in range(BUCKETS)]
        slots = {client.keyslot(key) for key in keys}
        nodes = {client.get_node_from_key(key).name for key in keys}
        assert len(slots) == BUCKETS
        assert nodes == {node.name for node in client.get_primaries()} and len(nodes) == 3
        # A request id's record shares its bucket's slot.
        assert client.keyslot(f"{keys[5]}:id:order-1") == client.keyslot(keys[5])

        assert q.restock("hot", 2 * BUCKETS) == 2 * BUCKETS
        assert [q.remaining("hot", b) for b in range(BUCKETS)] == [2] * BUCKETS
        for i in range(BUCKETS):
            request_id = f"order-{i}"
            taken = q.take("hot", 1, request_id=request_id)
            assert taken.bucket == q.start_bucket(request_id)
            assert q.take("hot", 1, request_id=request_id).replayed
        # Takes without an id sweep from random buckets round the ring, node to node, until
        # every unit is gone; then one more visits all sixteen buckets and is refused.
        served = 0
        while True:
            try:
                q.take("hot")
            except SoldOutError as sold_out:
                assert sold_out.remaining == 0
                break
            served += 1
        assert served == BUCKETS and q.remaining("hot") == 0

        with q.pool("hot") as pool:
            with pytest.raises(SoldOutError):
                pool.take()
        q.restock("hot", 100)
        with q.pool("hot") as pool:
            pool.take(3)
        assert q.remaining("hot") == 97
        assert q.breaker.state == "closed" and q.breaker.snapshot().failures == 0
    finally:
        client.close()


def test_every_call_runs_on_an_asyncio_cluster_client() -> None:
    async def main() -> None:
        client: Any = redis_support.async_cluster()
        try:
            q = FleetQuota(client, buckets=BUCKETS, prefix=redis_support.unique_prefix("aqcluster"))
            await client.execute_command("SCRIPT FLUSH", target_nodes=client.ALL_NODES)
            assert await q.restock_async("hot", BUCKETS) == BUCKETS
            buckets = {(await q.take_async("hot", request_id=f"id-{i}")).bucket for i in range(BUCKETS)}
            assert len(buckets) > 1
            assert await q.remaining_async("hot") == 0
            with pytest.raises(SoldOutError):
                await q.take_async("hot")
            async with q.pool("hot") as pool:
                with pytest.raises(SoldOutError):
                    await pool.take_async()
        finally:
            await client.aclose()

    asyncio.run(main())
