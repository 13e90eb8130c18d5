"""Bad input to ``FleetSemaphore``, ``FleetLock`` and ``Redlock`` is refused before anything
reaches Redis, in the package's words: ``TypeError`` for a wrong type, ``ConfigError`` (a
``ValueError``) naming the parameter, what it accepts and what it got, checked by the core's
``stanchion::fleet`` rules (``check_lease``, ``check_name``, ``check_prefix``,
``check_timeout``). No server is needed: redis-py connects lazily."""

from __future__ import annotations

import asyncio
import re
from fractions import Fraction
from typing import Any, Callable

import pytest
import redis
import redis.asyncio
import redis_support

from stanchion import ConfigError, _stanchion
from stanchion.redis import DEFAULT_LEASE, FleetLock, FleetSemaphore, Redlock

#: A port nothing listens on: nothing here connects.
NOWHERE = "redis://127.0.0.1:9/"

LEASE = "a number of seconds from 0.001 to 1099511627.776 (2^40 ms)"
NAME = "a str of 1 to 1024 bytes in UTF-8, without `{` or `}`"
PAIR = (
    "None or a pair (replicas, timeout): an int from 1 to 4294967295 and a number of seconds "
    "from 0.001 to 1099511627.776 (2^40 ms), in whole milliseconds"
)


def blocking(**options: Any) -> Any:
    options.setdefault("socket_timeout", 0.25)
    options.setdefault("socket_connect_timeout", 0.25)
    return redis.Redis.from_url(NOWHERE, **options)


def asyncio_client() -> Any:
    return redis.asyncio.Redis.from_url(NOWHERE)


def refused(make: Callable[[], object], message: str, field: str) -> None:
    with pytest.raises(ConfigError) as raised:
        make()
    assert (str(raised.value), raised.value.field) == (message, field)


def test_the_defaults_are_the_cores() -> None:
    assert DEFAULT_LEASE == _stanchion.fleet_lease_defaults()["default_lease_ns"] / 1e9 == 30.0
    lock = FleetLock(blocking())
    assert (lock.ttl, lock.wait, lock.wait_replicas, lock.prefix, lock.timeout) == (30.0, 0.0, None, "stanchion:", 0.25)
    sem = FleetSemaphore(blocking(), limit=3)
    assert (sem.limit, sem.ttl, sem.prefix, sem.timeout) == (3, 30.0, "stanchion:", 0.25)
    assert _stanchion.fleet_renew_every(30_000_000_000) == 10_000_000_000
    assert [_stanchion.fleet_quorum(n) for n in (1, 2, 3, 4, 5)] == [1, 2, 2, 3, 3]
    assert _stanchion.fleet_redlock_validity(10_000_000_000, 50_000_000) == 9_848_000_000
    assert _stanchion.fleet_redlock_validity(10_000_000_000, 10_000_000_000) is None


@pytest.mark.parametrize("ttl", [0, 0.0015, 2e9, 1099511627.777])
def test_a_lock_lease_is_whole_milliseconds_from_one_to_two_to_the_forty(ttl: float) -> None:
    refused(lambda: FleetLock(blocking(), ttl=ttl), f"ttl must be {LEASE}, in whole milliseconds, got {ttl!r}", "ttl")


def test_the_longest_and_shortest_leases_pass() -> None:
    assert FleetLock(blocking(), ttl=Fraction(1099511627776, 1000)).ttl == 1099511627.776
    assert FleetLock(blocking(), ttl=0.001).ttl == 0.001


def test_a_semaphore_lease_is_kept_in_whole_milliseconds_rounded_down() -> None:
    assert FleetSemaphore(blocking(), limit=1, ttl=0.0019).ttl == 0.001
    refused(
        lambda: FleetSemaphore(blocking(), limit=1, ttl=0.0009),
        f"ttl must be {LEASE}, kept in whole milliseconds (rounded down), got 0.0009",
        "ttl",
    )


@pytest.mark.parametrize("limit", [0, 2**32, -1])
def test_a_semaphore_limit_is_a_u32_from_one(limit: int) -> None:
    refused(lambda: FleetSemaphore(blocking(), limit=limit), f"limit must be an int from 1 to 4294967295, got {limit}", "limit")


def test_wrong_types_are_type_errors_in_the_same_words() -> None:
    with pytest.raises(TypeError, match=r"^limit must be an int, got '3' \(str\)$"):
        FleetSemaphore(blocking(), limit="3")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^ttl must be a number of seconds, got '1' \(str\)$"):
        FleetLock(blocking(), ttl="1")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^name must be a str, got 5 \(int\)$"):
        FleetLock(blocking()).acquire(5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="^" + re.escape(f"wait_replicas must be {PAIR}, got 3 (int)") + "$"):
        FleetLock(blocking(), wait_replicas=3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^on_lost must be None or a callable taking the lease, got 3 \(int\)$"):
        FleetLock(blocking()).acquire("x", keep=True, on_lost=3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^client must be a redis-py client: .*got None \(NoneType\)$"):
        FleetLock(None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^client must be a redis-py client: .*got None \(NoneType\)$"):
        FleetSemaphore(None, limit=0)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["", "a{b", "}", "k" * 1025])
def test_names_that_cannot_be_a_hash_tag_are_refused_before_any_call(name: str) -> None:
    message = f"name must be {NAME}, got {name!r}"
    lock = FleetLock(blocking())
    refused(lambda: lock.acquire(name), message, "name")
    refused(lambda: lock(name), message, "name")
    refused(lambda: lock.redis_keys(name), message, "name")
    sem = FleetSemaphore(blocking(), limit=1)
    refused(lambda: sem.try_acquire(name), message, "name")
    refused(lambda: sem(name), message, "name")
    redlock = Redlock([blocking(), blocking(), blocking()])
    refused(lambda: redlock.acquire(name), message, "name")


def test_prefix_timeout_and_wait() -> None:
    refused(
        lambda: FleetLock(blocking(), prefix="app{x}:"),
        "prefix must be a str of at most 256 bytes in UTF-8, without `{` or `}`, got 'app{x}:'",
        "prefix",
    )
    refused(lambda: FleetSemaphore(blocking(), limit=1, timeout=0), "timeout must be a number of seconds from 1 ns to 1 hour, got 0", "timeout")
    refused(lambda: FleetLock(blocking(), wait=-1), "wait must be a finite number of seconds ≥ 0, got -1", "wait")
    refused(lambda: FleetLock(blocking()).acquire("x", wait=float("nan")), "wait must be a finite number of seconds ≥ 0, got nan", "wait")


def test_wait_replicas() -> None:
    refused(lambda: FleetLock(blocking(), wait_replicas=(0, 0.1)), f"wait_replicas must be {PAIR}, got (0, 0.1)", "wait_replicas.replicas")
    refused(lambda: FleetLock(blocking(), wait_replicas=(1, 0.0005)), f"wait_replicas must be {PAIR}, got (1, 0.0005)", "wait_replicas.timeout")
    refused(
        lambda: FleetLock(blocking(), wait_replicas=(1, 0.25)),
        "wait_replicas must be a timeout below the client's socket_timeout (0.25 s): WAIT holds "
        "the connection that long, and a blocking read gives up at socket_timeout, got (1, 0.25)",
        "wait_replicas.timeout",
    )
    assert FleetLock(blocking(), wait_replicas=(1, 0.2)).wait_replicas == (1, 0.2)
    assert FleetLock(asyncio_client(), wait_replicas=(2, 5.0)).wait_replicas == (2, 5.0)


def test_wait_replicas_is_refused_with_a_cluster_client() -> None:
    client = redis_support.sync_cluster(timeout=0.25)
    try:
        with pytest.raises(ConfigError) as raised:
            FleetLock(client, wait_replicas=(1, 0.1))
        assert raised.value.field == "wait_replicas"
        assert str(raised.value).startswith("wait_replicas must be None with a cluster client (WAIT must follow")
    finally:
        client.close()


def test_a_blocking_client_must_bound_its_reads_within_the_timeout() -> None:
    unbounded = redis.Redis.from_url(NOWHERE, socket_timeout=None, socket_connect_timeout=None)
    with pytest.raises(ConfigError) as raised:
        FleetLock(unbounded)
    assert "socket_timeout and socket_connect_timeout are set and at most the lock's timeout (0.25 s)" in str(raised.value)
    with pytest.raises(ConfigError) as raised:
        FleetSemaphore(blocking(socket_timeout=1.0), limit=1)
    assert "at most the semaphore's timeout (0.25 s)" in str(raised.value)


def test_on_lost_needs_a_keeper() -> None:
    message = "on_lost must be None unless keep=True (only a keeper calls it), got <built-in function print>"
    refused(lambda: FleetLock(blocking()).acquire("x", on_lost=print), message, "on_lost")
    refused(lambda: FleetSemaphore(blocking(), limit=1).try_acquire("x", on_lost=print), message, "on_lost")


def test_a_call_for_the_other_kind_of_client_says_which_to_use() -> None:
    lock = FleetLock(asyncio_client())
    with pytest.raises(TypeError, match=r"^acquire needs a blocking client and this lock's is asyncio: await acquire_async\(\.\.\.\)$"):
        lock.acquire("x")
    with pytest.raises(TypeError, match=r"^with needs a blocking client and this lock's is asyncio: use async with, or decorate an async def$"):
        with lock("x"):
            pass
    with pytest.raises(TypeError, match=r"^a def decorated by a lease needs a blocking client"):
        lock("x")(lambda: None)
    sem = FleetSemaphore(blocking(), limit=1)
    with pytest.raises(TypeError, match=r"^try_acquire_async needs an asyncio client and this semaphore's is blocking: call try_acquire\(\.\.\.\)$"):
        asyncio.run(sem.try_acquire_async("x"))


def test_redlock_clients() -> None:
    refused(lambda: Redlock([]), "clients must be 1 to 255 distinct redis-py clients, one per independent server (an odd number: 3 or 5), got 0", "servers")
    client = blocking()
    refused(lambda: Redlock([client, client]), "clients must be 1 to 255 distinct redis-py clients, one per independent server (an odd number: 3 or 5), got 2", "servers")
    with pytest.raises(TypeError, match=r"^clients must be all blocking or all asyncio redis-py clients$"):
        Redlock([blocking(), asyncio_client()])
    with pytest.raises(TypeError, match=r"^clients must be a sequence of redis-py clients, got 'redis://' \(str\)$"):
        Redlock("redis://")  # type: ignore[arg-type]
    assert Redlock([blocking() for _ in range(5)]).quorum == 3
