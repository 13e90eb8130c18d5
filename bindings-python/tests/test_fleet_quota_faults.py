"""When Redis goes away a quota never guesses: every call raises ``FleetUnavailableError`` with
the Redis error as its ``__cause__``, through the guard the limiter uses: three failures open
the client's breaker, which then keeps every call from Redis (counted) until a probe goes
through once the server is back. A pool whose refill or give-back fails raises the same way,
and gives nothing back twice.

The server is taken away by the TCP proxy of ``redis_support``: ``down()`` as a killed server,
``blackhole()`` as a server that stops answering. The breaker reads a fake clock.
"""

from __future__ import annotations

import asyncio
from typing import Any, Iterator, List

import pytest
import redis
import redis_support
from conftest import FakeClock

from stanchion import CircuitOpenError, FleetUnavailableError, SoldOutError
from stanchion.redis import FleetLimiter, FleetQuota

#: Longer than the connection breaker can stay open (30 s at most, with 20 % jitter).
PAST_ANY_OPEN_PERIOD = 61.0

_opened: List[Any] = []


@pytest.fixture
def proxy() -> Iterator[redis_support.Proxy]:
    proxy = redis_support.Proxy(redis_support.url())
    yield proxy
    while _opened:
        _opened.pop().close()
    proxy.close()


def blocking_via(proxy: redis_support.Proxy, timeout: float = 0.2) -> Any:
    client = redis_support.sync_client(proxy.url, timeout=timeout, retry=redis_support.no_retry())
    _opened.append(client)
    return client


def quota(client: Any, clock: FakeClock, **options: Any) -> FleetQuota:
    return FleetQuota(client, prefix=redis_support.unique_prefix("qfaults"), clock=clock, **options)


def unavailable(call: Any) -> FleetUnavailableError:
    with pytest.raises(FleetUnavailableError) as raised:
        call()
    return raised.value


def test_a_killed_server_raises_opens_the_breaker_and_no_call_is_made_while_open(
    proxy: redis_support.Proxy, clock: FakeClock
) -> None:
    client = blocking_via(proxy)
    q = quota(client, clock, buckets=2)
    assert q.restock("sku", 10) == 10
    counted = redis_support.Counted(client)

    proxy.down()
    errors = [
        unavailable(lambda: q.take("sku", request_id="order-1")),
        unavailable(lambda: q.restock("sku", 5)),  # the first bucket's call fails: no second
        unavailable(lambda: q.remaining("sku")),
    ]
    assert len(counted) == 3 and q.breaker.state == "open"
    assert all(isinstance(e.__cause__, redis.ConnectionError) for e in errors)
    assert str(errors[0]).startswith("Redis could not decide: ConnectionError: ")
    for call in (lambda: q.take("sku"), lambda: q.remaining("sku"), lambda: q.pool("sku").take()):
        error = unavailable(call)
        assert isinstance(error.__cause__, CircuitOpenError)
        assert str(error).startswith("Redis could not decide: the connection's breaker is open (breaker_open: ")
    assert len(counted) == 3

    proxy.up()
    clock.advance(PAST_ANY_OPEN_PERIOD)
    # A probe goes through; the stock is as it was, and the id was never charged.
    assert q.take("sku", request_id="order-1").replayed is False
    assert q.breaker.state == "closed"
    assert q.remaining("sku") == 9


def test_a_silent_server_costs_a_blocking_call_its_socket_timeout(
    proxy: redis_support.Proxy, clock: FakeClock
) -> None:
    client = blocking_via(proxy, timeout=0.1)
    q = quota(client, clock, timeout=0.1)
    q.restock("sku", 3)
    proxy.blackhole()
    errors = [unavailable(lambda: q.take("sku")) for _ in range(4)]
    assert all(isinstance(e.__cause__, redis.TimeoutError) for e in errors[:3])
    assert isinstance(errors[3].__cause__, CircuitOpenError)
    proxy.up()
    clock.advance(PAST_ANY_OPEN_PERIOD)
    # The proxy swallowed the takes: none reached the server.
    assert q.remaining("sku") == 3


def test_a_silent_server_costs_an_asyncio_call_the_quotas_timeout(
    proxy: redis_support.Proxy, clock: FakeClock
) -> None:
    async def main() -> None:
        # redis-py's own socket timeout (5 s by default) is left as it is: the quota cancels
        # each call at its timeout.
        client = redis_support.async_client(proxy.url)
        try:
            q = quota(client, clock, timeout=0.1)
            await q.restock_async("sku", 3)
            counted = redis_support.Counted(client)
            proxy.blackhole()
            errors: List[BaseException] = []
            for _ in range(4):
                with pytest.raises(FleetUnavailableError) as raised:
                    await q.take_async("sku", request_id="order-1")
                errors.append(raised.value)
            assert all(isinstance(e.__cause__, TimeoutError) for e in errors[:3])
            assert isinstance(errors[3].__cause__, CircuitOpenError)
            assert len(counted) == 3
            proxy.up()
            clock.advance(PAST_ANY_OPEN_PERIOD)
            # The proxy swallowed the calls: the retry with the same id is the first to count.
            taken = await q.take_async("sku", request_id="order-1")
            assert (taken.remaining, taken.replayed) == (2, False)
        finally:
            await client.aclose()

    asyncio.run(main())


def test_a_pool_raises_when_it_cannot_refill_and_loses_what_it_could_not_give_back(
    proxy: redis_support.Proxy, clock: FakeClock
) -> None:
    client = blocking_via(proxy)
    q = quota(client, clock, batch=10)
    q.restock("credits", 15)
    pool = q.pool("credits")
    pool.take(2)
    assert pool.local == 8
    proxy.down()
    for _ in range(8):
        pool.take()  # the local units need no Redis
    error = unavailable(pool.take)
    assert isinstance(error.__cause__, redis.ConnectionError)
    assert pool.local == 0
    proxy.up()
    pool.take(3)
    assert pool.local == 2
    proxy.down()
    # The units are drained before the call: Redis may have added them already, and keeping
    # them too could sell them twice.
    error = unavailable(pool.close)
    assert isinstance(error.__cause__, redis.ConnectionError)
    assert (pool.local, pool.closed) == (0, True)
    proxy.up()
    clock.advance(PAST_ANY_OPEN_PERIOD)
    with pytest.raises(SoldOutError, match=r"\(1 asked, 0 left\)"):
        q.take("credits")


def test_limiters_and_quotas_on_one_client_share_its_breaker(
    proxy: redis_support.Proxy, clock: FakeClock
) -> None:
    client = blocking_via(proxy)
    limiter = FleetLimiter(client, capacity=5, on_unavailable="allow", clock=clock)
    q = quota(client, clock)
    assert q.breaker is limiter.breaker
    counted = redis_support.Counted(client)
    proxy.down()
    for _ in range(3):
        assert limiter.try_acquire("k").source == "allow"
    assert len(counted) == 3
    assert isinstance(unavailable(lambda: q.take("sku")).__cause__, CircuitOpenError)
    assert len(counted) == 3
