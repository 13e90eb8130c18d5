"""When Redis goes away: every ``on_unavailable`` policy answers, the breaker opens after three
failed calls and then keeps every call from Redis (counted), a timeout bounds each call, and
once the server is back a probe goes through and calls are decided by Redis again.

The server is taken away by a TCP proxy in front of the test server: ``down()`` resets the
connections and refuses new ones, as a killed server does; ``blackhole()`` accepts and reads
but never answers, as a server behind a dead network does. The breaker and the local
stand-in read a fake clock, so the open period passes when the test says so.
"""

from __future__ import annotations

import asyncio
from typing import Any, Iterator, List, Union

import pytest
import redis
import redis_support
from conftest import FakeClock

from stanchion import CircuitOpenError, FleetUnavailableError, RateLimitedError
from stanchion.redis import FleetDecision, FleetLimiter

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
    # No retries of the client's own: each failed call is one attempt, counted once.
    client = redis_support.sync_client(proxy.url, timeout=timeout, retry=redis_support.no_retry())
    _opened.append(client)
    return client


def limiter(client: Any, clock: FakeClock, policy: str, **options: Any) -> FleetLimiter:
    if policy == "local":
        options.setdefault("local_share", 0.5)
    return FleetLimiter(
        client,
        capacity=4,
        refill_every=60.0,
        prefix=redis_support.unique_prefix("faults"),
        on_unavailable=policy,
        clock=clock,
        **options,
    )


Outcome = Union[FleetDecision, BaseException]


def attempt(lim: FleetLimiter) -> Outcome:
    try:
        return lim.try_acquire("k")
    except FleetUnavailableError as error:
        return error


def cause(outcome: Outcome) -> BaseException:
    found = outcome.error if isinstance(outcome, FleetDecision) else outcome.__cause__
    assert found is not None, outcome
    return found


@pytest.mark.parametrize("policy", ["raise", "allow", "deny", "local"])
def test_a_killed_server_opens_the_breaker_and_the_policy_answers(
    proxy: redis_support.Proxy, clock: FakeClock, policy: str
) -> None:
    client = blocking_via(proxy)
    lim = limiter(client, clock, policy)
    assert lim.try_acquire("k").remaining == 3  # Redis decides while it is there
    counted = redis_support.Counted(client)

    proxy.down()
    outcomes = [attempt(lim) for _ in range(6)]
    # Three calls tried Redis and failed; that opened the breaker, and the next three made
    # no call at all.
    assert len(counted) == 3
    assert lim.breaker.state == "open"
    assert all(isinstance(cause(o), redis.ConnectionError) for o in outcomes[:3])
    assert all(isinstance(cause(o), CircuitOpenError) for o in outcomes[3:])

    if policy == "raise":
        assert all(isinstance(o, FleetUnavailableError) for o in outcomes)
        assert str(outcomes[0]).startswith("Redis could not decide: ConnectionError: ")
        assert str(outcomes[3]).startswith(
            "Redis could not decide: the connection's breaker is open (breaker_open: retry after "
        )
    else:
        decisions = [o for o in outcomes if isinstance(o, FleetDecision)]
        assert len(decisions) == 6 and {d.source for d in decisions} == {policy}
    if policy == "allow":
        assert all(d.allowed and d.remaining is None for d in decisions)
    if policy == "deny":
        assert all(
            (d.allowed, d.reason, d.retry_after, d.remaining) == (False, "rate_limited", None, None)
            for d in decisions
        )
    if policy == "local":
        # Half the fleet's burst of 4 and half its rate: 2 tokens, one per 120 s.
        assert [(d.allowed, d.remaining) for d in decisions[:3]] == [(True, 1), (True, 0), (False, 0)]
        assert all(d.retry_after == 120.0 for d in decisions[2:])

    # The server comes back; once the open period has passed, a probe goes through, closes
    # the breaker, and Redis decides again on the bucket it kept.
    proxy.up()
    clock.advance(PAST_ANY_OPEN_PERIOD)
    back = lim.try_acquire("k")
    assert (back.source, back.allowed, back.remaining) == ("redis", True, 2)
    assert len(counted) == 4
    assert lim.breaker.state == "closed"
    assert lim.try_acquire("k").source == "redis"


def test_acquire_raises_the_refusal_or_the_unavailability_with_the_redis_error_as_cause(
    proxy: redis_support.Proxy, clock: FakeClock
) -> None:
    deny = limiter(blocking_via(proxy), clock, "deny")
    fail = limiter(blocking_via(proxy), clock, "raise")
    proxy.down()
    with pytest.raises(RateLimitedError) as refused:
        deny.acquire_nowait("k")
    assert refused.value.reason == "rate_limited" and refused.value.retry_after is None
    assert isinstance(refused.value.__cause__, redis.ConnectionError)
    with pytest.raises(FleetUnavailableError) as failed:
        fail.acquire_nowait("k")
    assert isinstance(failed.value.__cause__, redis.ConnectionError)
    with pytest.raises(RateLimitedError):
        with deny.for_key("k"):
            raise AssertionError("a denied block does not run")


def test_a_probe_that_fails_opens_the_breaker_again(proxy: redis_support.Proxy, clock: FakeClock) -> None:
    client = blocking_via(proxy)
    lim = limiter(client, clock, "allow")
    counted = redis_support.Counted(client)
    proxy.down()
    for _ in range(3):
        lim.try_acquire("k")
    assert lim.breaker.state == "open" and len(counted) == 3
    clock.advance(1.2)  # one open period of 1 s with its jitter
    probe = lim.try_acquire("k")
    assert isinstance(probe.error, redis.ConnectionError) and len(counted) == 4
    assert lim.breaker.state == "open"
    assert isinstance(lim.try_acquire("k").error, CircuitOpenError) and len(counted) == 4
    proxy.up()
    clock.advance(PAST_ANY_OPEN_PERIOD)
    assert lim.try_acquire("k").source == "redis"


def test_limiters_on_one_client_open_its_breaker_together(
    proxy: redis_support.Proxy, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    client = blocking_via(proxy)
    a, b = limiter(client, clock, "allow"), limiter(client, clock, "deny")
    counted = redis_support.Counted(client)
    proxy.down()
    a.try_acquire("k")
    b.try_acquire("k")
    a.try_acquire("k")
    assert len(counted) == 3 and b.breaker.state == "open"
    assert isinstance(b.try_acquire("k").error, CircuitOpenError) and len(counted) == 3
    opened = [r for r in caplog.records if r.name == "stanchion" and r.levelname == "WARNING"]
    assert [r.getMessage() for r in opened] == [
        f"stanchion.redis: the breaker of redis.client.Redis at 127.0.0.1:{proxy.port} went closed -> open"
    ]


def test_a_silent_server_costs_a_blocking_client_its_socket_timeout(
    proxy: redis_support.Proxy, clock: FakeClock
) -> None:
    client = blocking_via(proxy, timeout=0.1)
    lim = limiter(client, clock, "local", timeout=0.1)
    assert lim.try_acquire("k").source == "redis"
    proxy.blackhole()
    decisions = [lim.try_acquire("k") for _ in range(4)]
    assert all(isinstance(d.error, redis.TimeoutError) for d in decisions[:3])
    assert isinstance(decisions[3].error, CircuitOpenError)
    assert [d.source for d in decisions] == ["local"] * 4
    proxy.up()
    clock.advance(PAST_ANY_OPEN_PERIOD)
    assert lim.try_acquire("k").source == "redis"


def test_a_silent_server_costs_an_asyncio_call_the_limiters_timeout(
    proxy: redis_support.Proxy, clock: FakeClock
) -> None:
    async def main() -> None:
        # redis-py's own socket timeout (5 s by default) and retries are left as they are:
        # the limiter cancels the call at its timeout.
        client = redis_support.async_client(proxy.url)
        try:
            lim = limiter(client, clock, "raise", timeout=0.1)
            assert (await lim.try_acquire_async("k")).source == "redis"
            counted = redis_support.Counted(client)
            proxy.blackhole()
            errors: List[BaseException] = []
            for _ in range(4):
                with pytest.raises(FleetUnavailableError) as failed:
                    await lim.acquire("k")
                errors.append(failed.value)
            assert all(isinstance(e.__cause__, TimeoutError) for e in errors[:3])
            assert isinstance(errors[3].__cause__, CircuitOpenError)
            assert len(counted) == 3
            proxy.up()
            clock.advance(PAST_ANY_OPEN_PERIOD)
            back = await lim.try_acquire_async("k")
            assert (back.source, back.remaining) == ("redis", 2)
            assert lim.breaker.state == "closed"
        finally:
            await client.aclose()

    asyncio.run(main())


def test_a_killed_server_and_an_asyncio_client_fall_back_locally_until_it_is_back(
    proxy: redis_support.Proxy, clock: FakeClock
) -> None:
    async def main() -> None:
        client = redis_support.async_client(proxy.url, retry=redis_support.no_retry())
        try:
            lim = limiter(client, clock, "local")
            assert (await lim.try_acquire_async("k")).remaining == 3
            counted = redis_support.Counted(client)
            proxy.down()
            decisions = [await lim.try_acquire_async("k") for _ in range(5)]
            assert len(counted) == 3 and lim.breaker.state == "open"
            assert all(isinstance(d.error, redis.ConnectionError) for d in decisions[:3])
            assert all(isinstance(d.error, CircuitOpenError) for d in decisions[3:])
            assert [(d.source, d.allowed) for d in decisions] == [("local", True)] * 2 + [("local", False)] * 3
            with pytest.raises(RateLimitedError) as refused:
                await lim.acquire("k")
            assert refused.value.retry_after == 120.0
            assert isinstance(refused.value.__cause__, CircuitOpenError)
            proxy.up()
            clock.advance(PAST_ANY_OPEN_PERIOD)
            back = await lim.try_acquire_async("k")
            assert (back.source, back.remaining) == ("redis", 2)
        finally:
            await client.aclose()

    asyncio.run(main())


def test_an_asyncio_call_cancelled_by_its_caller_counts_as_nothing(
    proxy: redis_support.Proxy, clock: FakeClock
) -> None:
    async def main() -> None:
        client = redis_support.async_client(proxy.url)
        try:
            lim = limiter(client, clock, "raise", timeout=30)
            await lim.try_acquire_async("k")
            proxy.blackhole()
            before = lim.breaker.snapshot()
            call = asyncio.ensure_future(lim.try_acquire_async("k"))
            await asyncio.sleep(0.05)
            call.cancel()
            with pytest.raises(asyncio.CancelledError):
                await call
            after = lim.breaker.snapshot()
            assert (after.failures, after.successes) == (before.failures, before.successes)
            assert lim.breaker.state == "closed"
        finally:
            await client.aclose()

    asyncio.run(main())
