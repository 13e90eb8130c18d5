"""The fleet leases as users read about them: the docstring examples of ``FleetSemaphore``,
``FleetLock`` and ``Redlock`` run against the test servers and give what they show, every
public item has one, and the README's sections on the fleet bulkhead and the lock run."""

from __future__ import annotations

import doctest
import inspect
import re
from typing import Any, Iterator, List

import lease_support
import pytest
import redis_support
import test_readme
import test_readme_api

import stanchion._fleet_lease
import stanchion._fleet_lock
import stanchion.redis


@pytest.fixture
def client() -> Iterator[Any]:
    client = redis_support.sync_client()
    yield client
    client.close()


def _forget(client: Any, pattern: str) -> None:
    for key in client.scan_iter(pattern):
        client.delete(key)


@pytest.mark.parametrize("module", [stanchion._fleet_lease, stanchion._fleet_lock], ids=lambda m: m.__name__)
def test_the_docstring_examples_run(client: Any, module: Any) -> None:
    clients = [redis_support.sync_client(url) for url in lease_support.redlock_urls()]
    try:
        _forget(client, "doc:*")
        for c in clients:
            _forget(c, "doc:*")
        failures, tried = doctest.testmod(
            module, extraglobs={"client": client, "clients": clients}, optionflags=doctest.ELLIPSIS
        )
        assert tried > 5 and failures == 0
    finally:
        for c in clients:
            c.close()


def test_every_public_item_has_an_example() -> None:
    redis = stanchion.redis
    documented = [
        redis.FleetSemaphore,
        redis.FleetSemaphore.try_acquire,
        redis.FleetSemaphore.renew,
        redis.FleetSemaphore.release,
        redis.FleetSemaphore.holders,
        redis.FleetSemaphore.redis_key,
        redis.FleetSemaphore.__call__,
        redis.SemaphoreState,
        redis.Lease,
        redis.LockLease,
        redis.FleetLock,
        redis.FleetLock.acquire,
        redis.FleetLock.release,
        redis.FleetLock.extend,
        redis.FleetLock.redis_keys,
        redis.FleetLock.__call__,
        redis.Redlock,
    ]
    for item in documented:
        assert ">>>" in (item.__doc__ or ""), item


def _section(title: str) -> str:
    return test_readme.TEXT.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


SECTIONS = _section("Fleet bulkhead on Redis") + _section("Locks on Redis")
BLOCKS: List[str] = re.findall(r"```python\n(.*?)```", SECTIONS, flags=re.S)


def test_the_examples_are_only_run_here() -> None:
    assert len(BLOCKS) == 4
    assert all(test_readme.REDIS in block for block in BLOCKS)
    assert not set(BLOCKS) & set(test_readme.OTHER_BLOCKS)


@pytest.mark.parametrize("source", BLOCKS, ids=["semaphore", "lock", "asyncio lock", "redlock"])
def test_the_examples_run(client: Any, source: str) -> None:
    _forget(client, "myapp:*")
    if "Redlock(" in source:
        ports = [redis_support.host_port(url)[1] for url in lease_support.redlock_urls()]
        for default, port in zip(range(6379, 6384), ports):
            source = source.replace(f"port={default},", f"port={port},")
        for url in lease_support.redlock_urls():
            other = redis_support.sync_client(url)
            _forget(other, "myapp:*")
            other.close()
    else:
        port = redis_support.host_port(redis_support.url())[1]
        source = source.replace(test_readme.REDIS, f"port={port}")
    exec(compile(source, str(test_readme.README), "exec"), {"__name__": "readme_example"})


def test_the_tables_state_the_real_signatures() -> None:
    rows = [line for line in SECTIONS.splitlines() if line.startswith("| `")]
    documented = {}
    for row in rows:
        documented.update(dict(test_readme_api.SIGNATURE.findall(row.split(" | ")[0])))
    assert set(documented) == {"FleetSemaphore", "FleetLock", "Redlock"}
    for name, options in documented.items():
        actual = [
            (p.name, (p.default is not p.empty, None if p.default is p.empty else p.default), p.kind is p.KEYWORD_ONLY)
            for p in inspect.signature(getattr(stanchion.redis, name).__init__).parameters.values()
            if p.name != "self"
        ]
        assert test_readme_api.parse(options) == actual, name
