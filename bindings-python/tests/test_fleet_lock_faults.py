"""The lock when the network or the servers fail: a holder is always told when it may have
lost its lease, never keeps one silently; ``wait_replicas`` fails cleanly with the replica
detached; RedLock holds with two of five servers silenced and refuses with three, leaving
nothing behind.

Servers are taken away by TCP proxies in front of them (``lease_support.SlowProxy``): slowed
down past the lease time, reset (``down``) or silenced (``blackhole``).
"""

from __future__ import annotations

import asyncio
from typing import Any, Iterator, List

import pytest
import redis
import redis_support
from lease_support import SlowProxy, redlock_urls, replica_url, wait_for

from stanchion import (
    FleetError,
    LeaseLostError,
    LockHeldError,
    LockReplicasError,
    LockUnavailableError,
)
from stanchion.redis import FleetLock, LockLease, Redlock

_opened: List[Any] = []


@pytest.fixture
def proxy() -> Iterator[SlowProxy]:
    proxy = SlowProxy(redis_support.url())
    yield proxy
    while _opened:
        _opened.pop().close()
    proxy.close()


def blocking(address: str, timeout: float) -> Any:
    client = redis_support.sync_client(address, timeout=timeout, retry=redis_support.no_retry())
    _opened.append(client)
    return client


def lock_on(client: Any, ttl: float, timeout: float) -> FleetLock:
    return FleetLock(client, ttl=ttl, timeout=timeout, prefix=redis_support.unique_prefix("faults"))


# A slow network ----------------------------------------------------------------------------


def test_a_renewal_arriving_after_the_lease_ran_out_finds_it_gone(proxy: SlowProxy) -> None:
    # Calls may take 2 s, so the renewal is answered; but it reaches Redis after the lease
    # (0.3 s) ran out, and the lease is gone.
    client = blocking(proxy.url, timeout=2.0)
    lock = lock_on(client, ttl=0.3, timeout=2.0)
    with pytest.raises(LeaseLostError) as lost:
        with lock("job") as lease:
            proxy.latency = 0.5
            assert lease.lost.wait(10), "the holder is told"
            proxy.latency = 0.0
    assert lost.value.gone
    admin = redis_support.sync_client()
    try:
        assert admin.exists(lock.redis_keys("job")[0]) == 0
    finally:
        admin.close()


def test_an_asyncio_renewal_slower_than_the_timeout_fails_and_the_holder_is_told(proxy: SlowProxy) -> None:
    async def main() -> None:
        client = redis_support.async_client(proxy.url)
        try:
            lock = lock_on(client, ttl=0.3, timeout=0.25)
            told: List[LockLease] = []
            with pytest.raises(LeaseLostError) as lost:
                async with lock("job", on_lost=told.append) as lease:
                    proxy.latency = 0.5
                    await asyncio.wait_for(lease.lost.wait(), 10)
                    proxy.latency = 0.0
            assert not lost.value.gone and told == [lease]
            assert str(lost.value).startswith("a renewal of the lease on 'job' failed: Redis could not decide the lock: ")
            assert isinstance(lost.value.__cause__, LockUnavailableError)
            assert isinstance(lost.value.__cause__.__cause__, TimeoutError)
        finally:
            await client.aclose()

    asyncio.run(main())


# Dropped connections -----------------------------------------------------------------------


def test_connections_dropped_during_renewal_tell_the_holder(proxy: SlowProxy) -> None:
    client = blocking(proxy.url, timeout=0.5)
    lock = lock_on(client, ttl=0.6, timeout=0.5)
    with pytest.raises(LeaseLostError) as lost:
        with lock("job") as lease:
            proxy.down()
            assert lease.lost.wait(10)
            assert not lease.held
    assert not lost.value.gone
    cause = lost.value.__cause__
    assert isinstance(cause, LockUnavailableError) and isinstance(cause.__cause__, redis.ConnectionError)
    proxy.up()


def test_an_asyncio_holder_is_told_when_its_connections_drop(proxy: SlowProxy) -> None:
    async def main() -> None:
        client = redis_support.async_client(proxy.url, retry=redis_support.no_retry())
        try:
            lock = lock_on(client, ttl=0.6, timeout=0.5)
            lease = await lock.acquire_async("job", keep=True)
            proxy.down()
            await asyncio.wait_for(lease.lost.wait(), 10)
            assert lease.lost_error is not None and not lease.lost_error.gone
            # The release cannot reach Redis either: it says so rather than pretend.
            with pytest.raises(LockUnavailableError):
                await lock.release_async(lease)
        finally:
            proxy.up()
            await client.aclose()

    asyncio.run(main())


def test_a_lock_never_acquires_by_a_fallback(proxy: SlowProxy) -> None:
    client = blocking(proxy.url, timeout=0.1)
    lock = lock_on(client, ttl=5.0, timeout=0.1)
    proxy.blackhole()
    errors = []
    for _ in range(4):
        with pytest.raises(LockUnavailableError) as failed:
            lock.acquire("job", wait=1.0)
        errors.append(failed.value)
    # Three timeouts open the breaker; then no call is made.
    assert all(isinstance(e.__cause__, redis.TimeoutError) for e in errors[:3])
    assert str(errors[3]).startswith("Redis could not decide the lock: the connection's breaker is open")
    assert lock.breaker.state == "open"


def test_an_error_reply_is_no_unavailability(proxy: SlowProxy) -> None:
    client = blocking(proxy.url, timeout=0.5)
    lock = lock_on(client, ttl=5.0, timeout=0.5)
    key, _ = lock.redis_keys("job")
    lease = lock.acquire("job")
    client.delete(key)
    client.hset(key, "a", "b")  # the key now holds something else
    for _ in range(4):
        with pytest.raises(FleetError) as answered:
            lock.release(lease)
        assert not isinstance(answered.value, LockUnavailableError)
        assert str(answered.value).startswith("Redis answered the lock with an error: WRONGTYPE")
    # Answers, not failures: the breaker stays closed.
    assert lock.breaker.state == "closed"


# Replicas ----------------------------------------------------------------------------------


def _attached(primary: Any) -> bool:
    """Whether the replica acknowledges the primary's writes: a write, then ``WAIT`` on the
    same connection. (Its link being up, or the primary listing it online, is not enough: a
    re-attached replica may still be syncing.)"""
    with primary.pipeline(transaction=False) as pipe:
        pipe.set(f"{redis_support.unique_prefix('replicas')}probe", 1, px=1000)
        pipe.execute_command("WAIT", 1, 100)
        _, acknowledged = pipe.execute()
    return int(acknowledged) >= 1


def test_wait_replicas_succeeds_with_the_replica_and_fails_cleanly_without_it() -> None:
    primary = redis_support.sync_client(timeout=1.0)
    replica = redis_support.sync_client(replica_url(), timeout=1.0)
    host, port = redis_support.host_port(redis_support.url())
    try:
        wait_for(lambda: _attached(primary), "the replica to be attached")
        lock = FleetLock(
            primary, ttl=5.0, wait_replicas=(1, 0.5), timeout=1.0, prefix=redis_support.unique_prefix("replicas")
        )
        key, _ = lock.redis_keys("job")
        lease = lock.acquire("job")
        # The replica has the lease already: WAIT counted it.
        assert replica.get(key).decode() == lease.token
        assert lock.release(lease)

        replica.execute_command("REPLICAOF", "NO", "ONE")
        try:
            with pytest.raises(LockReplicasError) as short:
                lock.acquire("job")
        finally:
            replica.execute_command("REPLICAOF", host, port)
        assert (short.value.acknowledged, short.value.wanted) == (0, 1)
        assert str(short.value) == "0 of 1 replicas acknowledged the lease on 'job' within 0.5 s; it was released"
        assert primary.exists(key) == 0, "a lease without its replicas is released"

        wait_for(lambda: _attached(primary), "the replica to be attached again")
        assert lock.release(lock.acquire("job"))
    finally:
        primary.close()
        replica.close()


def test_wait_replicas_with_an_asyncio_client() -> None:
    async def main() -> None:
        client = redis_support.async_client()
        primary = redis_support.sync_client(timeout=1.0)
        try:
            wait_for(lambda: _attached(primary), "the replica to be attached")
            lock = FleetLock(client, ttl=5.0, wait_replicas=(2, 0.5), prefix=redis_support.unique_prefix("replicas"))
            # One replica where two are asked for.
            with pytest.raises(LockReplicasError) as short:
                await lock.acquire_async("job")
            assert (short.value.acknowledged, short.value.wanted) == (1, 2)
            assert await client.exists(lock.redis_keys("job")[0]) == 0
        finally:
            await client.aclose()
            primary.close()

    asyncio.run(main())


# RedLock -----------------------------------------------------------------------------------


#: A call's bound on the RedLock servers: short, so a silenced server costs little, yet long
#: enough for a first call through a proxy on a busy machine.
REDLOCK_TIMEOUT = 0.3


class Servers:
    def __init__(self, asyncio_clients: bool = False) -> None:
        self.proxies = [SlowProxy(url) for url in redlock_urls()]
        if asyncio_clients:
            self.clients = [
                redis_support.async_client(p.url, retry=redis_support.no_retry()) for p in self.proxies
            ]
        else:
            self.clients = [
                redis_support.sync_client(p.url, timeout=REDLOCK_TIMEOUT, retry=redis_support.no_retry())
                for p in self.proxies
            ]
        self.direct = [redis_support.sync_client(url, timeout=1.0) for url in redlock_urls()]

    def holders(self, key: str) -> int:
        """How many servers hold ``key``, asked directly (not through the proxies)."""
        return sum(int(d.exists(key)) for d in self.direct)

    def close(self) -> None:
        for d in self.direct:
            d.close()
        for p in self.proxies:
            p.close()


@pytest.fixture
def servers() -> Iterator[Servers]:
    servers = Servers()
    yield servers
    for c in servers.clients:
        c.close()
    servers.close()


def redlock(clients: List[Any], ttl: float = 10.0) -> Redlock:
    return Redlock(clients, ttl=ttl, timeout=REDLOCK_TIMEOUT, prefix=redis_support.unique_prefix("redlock"))


def test_a_quorum_holds_the_lease_and_release_clears_every_server(servers: Servers) -> None:
    lock = redlock(servers.clients)
    lease = lock.acquire("job")
    assert 9.0 < lease.validity < 10.0
    key, _ = lock.redis_keys("job")
    assert servers.holders(key) == 5
    with pytest.raises(LockHeldError):
        lock.acquire("job")
    assert lock.release(lease)
    assert servers.holders(key) == 0


def test_two_servers_silenced_still_leave_a_quorum(servers: Servers) -> None:
    lock = redlock(servers.clients)
    servers.proxies[0].blackhole()
    servers.proxies[3].blackhole()
    lease = lock.acquire("job")
    key, _ = lock.redis_keys("job")
    assert servers.holders(key) == 3
    assert lock.extend(lease, 10.0)
    assert lock.release(lease)
    # The silenced servers never saw the lease: their proxies swallowed the calls.
    assert servers.holders(key) == 0


def test_three_servers_silenced_refuse_and_leave_nothing_behind(servers: Servers) -> None:
    lock = redlock(servers.clients)
    for i in (1, 2, 4):
        servers.proxies[i].blackhole()
    with pytest.raises(LockUnavailableError) as failed:
        lock.acquire("job")
    assert str(failed.value).startswith("3 of 5 servers could not decide the lock 'job' (3 must agree): ")
    key, _ = lock.redis_keys("job")
    assert servers.holders(key) == 0, "the partial grants were released"


def test_a_minority_holding_another_lease_blocks_a_quorum(servers: Servers) -> None:
    lock = redlock(servers.clients)
    key, _ = lock.redis_keys("job")
    for direct in servers.direct[:3]:
        direct.set(key, "another-holder", px=10_000)
    with pytest.raises(LockHeldError) as held:
        lock.acquire("job")
    assert held.value.retry_after is not None and held.value.retry_after <= 10.0
    # Only the other holder's three keys remain: this attempt's two grants were released.
    assert servers.holders(key) == 3


def test_renewal_needs_a_quorum_and_a_lost_quorum_is_reported(servers: Servers) -> None:
    lock = redlock(servers.clients, ttl=0.3)
    key, _ = lock.redis_keys("job")
    with pytest.raises(LeaseLostError) as lost:
        with lock("job") as lease:
            for direct in servers.direct[:3]:
                direct.set(key, "someone-else")
            assert lease.lost.wait(10)
    assert lost.value.gone
    assert servers.holders(key) == 3


def test_redlock_with_asyncio_clients_asks_every_server_at_once() -> None:
    async def main() -> None:
        servers = Servers(asyncio_clients=True)
        try:
            lock = redlock(servers.clients)
            servers.proxies[2].blackhole()
            servers.proxies[4].blackhole()
            key, _ = lock.redis_keys("job")
            async with lock("job") as lease:
                assert servers.holders(key) == 3
                assert lease.validity < lease.ttl
            assert servers.holders(key) == 0
            servers.proxies[0].blackhole()
            with pytest.raises(LockUnavailableError):
                await lock.acquire_async("job")
            assert servers.holders(key) == 0
        finally:
            for c in servers.clients:
                await c.aclose()
            servers.close()

    asyncio.run(main())
