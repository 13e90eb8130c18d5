"""``FleetLimiter`` on a 3-primary Redis Cluster, through redis-py's blocking and asyncio cluster
clients: keys of different names land on every primary, and every call runs (no CROSSSLOT,
no MOVED left to the caller), the script loaded on each node the first time it is needed
there."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import redis_support

from stanchion import ConfigError, RateLimitedError
from stanchion.redis import FleetLimiter

NAMES = [f"tenant-{i}" for i in range(16)]


def loaded(client: Any, sha: str) -> list[bool]:
    """Whether each primary holds the script."""
    return [
        bool(client.execute_command("SCRIPT EXISTS", sha, target_nodes=node)[0])
        for node in sorted(client.get_primaries(), key=lambda n: n.name)
    ]


def test_every_call_runs_on_a_blocking_cluster_client_with_keys_on_every_primary() -> None:
    client = redis_support.sync_cluster()
    try:
        lim = FleetLimiter(
            client, capacity=3, refill_every=1.0, prefix=redis_support.unique_prefix("cluster"), timeout=1.0
        )
        primaries = {node.name for node in client.get_primaries()}
        assert len(primaries) == 3
        # Every node starts without the script: each loads it at its first call there.
        client.execute_command("SCRIPT FLUSH", target_nodes=client.ALL_NODES)
        sha = lim._script.sha
        assert loaded(client, sha) == [False, False, False]
        nodes = set()
        for name in NAMES:
            nodes.add(client.get_node_from_key(lim.redis_key(name)).name)
            assert [lim.try_acquire(name).remaining for _ in range(3)] == [2, 1, 0], name
            refused = lim.try_acquire(name)
            assert refused.reason == "rate_limited" and refused.source == "redis"
            assert refused.retry_after is not None and 0 < refused.retry_after <= 1.0
            assert lim.peek(name).remaining == 0
            with pytest.raises(RateLimitedError):
                lim.acquire_nowait(name)
        assert nodes == primaries
        assert loaded(client, sha) == [True, True, True]
        assert lim.breaker.state == "closed" and lim.breaker.snapshot().failures == 0
    finally:
        client.close()


def test_every_call_runs_on_an_asyncio_cluster_client() -> None:
    async def main() -> None:
        client = redis_support.async_cluster()
        try:
            lim = FleetLimiter(client, capacity=2, refill_every=60.0, prefix=redis_support.unique_prefix("acluster"))
            await client.execute_command("SCRIPT FLUSH", target_nodes=client.ALL_NODES)
            nodes = set()
            for name in NAMES:
                nodes.add(client.get_node_from_key(lim.redis_key(name)).name)
                assert (await lim.try_acquire_async(name, 2)).remaining == 0
                assert (await lim.peek_async(name)).reason == "rate_limited"
                with pytest.raises(RateLimitedError):
                    async with lim.for_key(name):
                        pass
            assert len(nodes) == 3
        finally:
            await client.aclose()

    asyncio.run(main())


def test_a_blocking_cluster_client_must_bound_its_reads_too() -> None:
    from redis.cluster import ClusterNode, RedisCluster

    nodes = [ClusterNode(*redis_support.host_port(a)) for a in redis_support.cluster_urls()]
    client: Any = RedisCluster(startup_nodes=nodes)
    try:
        with pytest.raises(ConfigError, match=r"got \{'socket_timeout': 5, 'socket_connect_timeout': 5\}"):
            FleetLimiter(client, capacity=1)
    finally:
        client.close()
