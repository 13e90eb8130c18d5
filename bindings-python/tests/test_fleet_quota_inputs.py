"""Bad input to ``FleetQuota`` and ``QuotaPool`` is refused before anything reaches Redis, in the
package's words: ``TypeError`` for a wrong type, ``ConfigError`` (a ``ValueError``) naming
the parameter, what it accepts (the ranges of the Rust reference, ``stanchion-redis``) and
what it got. No server is needed: redis-py connects lazily, and no call is made (counted)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from fractions import Fraction
from typing import Any, Callable

import pytest
import redis
import redis.asyncio
import redis_support

from stanchion import ConfigError, _stanchion
from stanchion.redis import DEFAULT_BATCH, DEFAULT_ID_MEMORY, DEFAULT_PREFIX, DEFAULT_TIMEOUT, FleetQuota

#: A port nothing listens on: nothing here connects.
NOWHERE = "redis://127.0.0.1:9/"
NAME = "name must be a str of 1 to 1024 bytes in UTF-8, without `{` or `}`, got "
UNITS = "must be an int from 1 to 9007199254740991 (2^53 - 1), got "
REQUEST_ID = "request_id must be a str of 1 to 256 bytes in UTF-8, or None, got "


def blocking(**options: Any) -> Any:
    options.setdefault("socket_timeout", 0.25)
    options.setdefault("socket_connect_timeout", 0.25)
    return redis.Redis.from_url(NOWHERE, **options)


def make(**options: Any) -> FleetQuota:
    return FleetQuota(blocking(), **options)


def refused(message: str, build: Callable[[], Any]) -> ConfigError:
    with pytest.raises(ConfigError) as raised:
        build()
    assert str(raised.value) == message
    return raised.value


def test_the_defaults_are_the_reference_implementations() -> None:
    defaults = _stanchion.fleet_quota_defaults()
    assert DEFAULT_ID_MEMORY == defaults["default_id_memory_ns"] / 1e9 == 600.0
    assert DEFAULT_BATCH == defaults["default_batch"] == 100
    assert (defaults["max_buckets"], defaults["max_units"], defaults["max_request_id_len"]) == (1024, 2**53 - 1, 256)
    assert defaults["max_id_memory_ns"] == 2**40 * 1_000_000
    q = make()
    assert (q.buckets, q.prefix, q.id_memory, q.batch, q.timeout) == (1, DEFAULT_PREFIX, 600.0, 100, DEFAULT_TIMEOUT)
    assert repr(q) == "FleetQuota(buckets=1, prefix='stanchion:', id_memory=600.0, batch=100)"


def test_config_errors_name_the_parameter_and_its_range() -> None:
    for bad in (0, 1025, -1):
        error = refused(f"buckets must be an int from 1 to 1024, got {bad}", lambda: make(buckets=bad))
        assert error.field == "buckets" and error.got == bad
    assert make(buckets=1024).buckets == 1024
    with pytest.raises(TypeError, match=r"^buckets must be an int, got 2.0 \(float\)$"):
        make(buckets=2.0)

    memory = (
        "id_memory must be a number of seconds from 1 ms to 2^40 ms (1099511627.776 s), kept in "
        "whole milliseconds (rounded down), got "
    )
    refused(f"{memory}0", lambda: make(id_memory=0))
    refused(f"{memory}0.0009", lambda: make(id_memory=0.0009))  # 0 ms once rounded down
    refused(f"{memory}1099511628", lambda: make(id_memory=1_099_511_628))
    refused("id_memory must be a finite number of seconds ≥ 0, got -1", lambda: make(id_memory=-1))
    assert make(id_memory=Fraction(1_099_511_627_776, 1000)).id_memory == 1_099_511_627.776
    assert make(id_memory=0.0015).id_memory == 0.001  # whole milliseconds, rounded down
    with pytest.raises(TypeError, match=r"^id_memory must be a number of seconds, got '60' \(str\)$"):
        make(id_memory="60")

    refused(f"batch {UNITS}0", lambda: make(batch=0))
    refused(f"batch {UNITS}9007199254740992", lambda: make(batch=2**53))
    assert make(batch=2**53 - 1).batch == 2**53 - 1
    assert make(batch=None).batch == 100  # None takes the default, as for every option

    prefix = "prefix must be a str of at most 256 bytes in UTF-8, without `{` or `}`"
    refused(f"{prefix}, got 'shop{{'", lambda: make(prefix="shop{"))
    refused("timeout must be a number of seconds from 1 ns to 1 hour, got 0", lambda: make(timeout=0))


def test_a_client_that_is_not_a_redis_client_is_a_type_error() -> None:
    with pytest.raises(TypeError, match=r"^client must be a redis-py client: .*\(not a pipeline\), got 5 \(int\)$"):
        FleetQuota(5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"\(Pipeline\)$"):
        FleetQuota(blocking().pipeline())


def test_a_blocking_client_must_bound_its_reads_within_the_quotas_timeout() -> None:
    with pytest.raises(ConfigError) as raised:
        FleetQuota(redis.Redis.from_url(NOWHERE))
    assert "at most the quota's timeout (0.25 s)" in str(raised.value)
    assert "or an asyncio client, whose calls the quota cancels" in str(raised.value)
    assert raised.value.got == {"socket_timeout": 5, "socket_connect_timeout": 5}
    assert FleetQuota(redis.Redis.from_url(NOWHERE), timeout=5).timeout == 5
    assert FleetQuota(redis.asyncio.Redis.from_url(NOWHERE)).is_async


@pytest.mark.parametrize(
    "name, shown",
    [
        ("", "''"),
        ("k" * 1025, repr("k" * 1025)),
        ("a{b", "'a{b'"),
        ("a}b", "'a}b'"),
        ("\udc80", "'\\udc80'"),
    ],
    ids=["empty", "1025 bytes", "open brace", "close brace", "surrogate"],
)
def test_bad_names_are_refused_before_any_call(name: str, shown: str) -> None:
    q = make(buckets=4)
    counted = redis_support.Counted(q.client)
    for call in (
        lambda: q.take(name),
        lambda: q.take(name, 1, request_id="order-1"),
        lambda: q.restock(name, 5),
        lambda: q.remaining(name),
        lambda: q.remaining(name, 0),
        lambda: q.redis_key(name),
        lambda: q.pool(name),
    ):
        error = refused(f"{NAME}{shown}", call)
        assert error.field == "name"
    assert len(counted) == 0
    with pytest.raises(TypeError, match=r"^name must be a str, got b'k' \(bytes\)$"):
        q.take(b"k")  # type: ignore[arg-type]


def test_bad_counts_and_request_ids_are_refused_before_any_call() -> None:
    q = make(buckets=2)
    counted = redis_support.Counted(q.client)
    for bad in (0, -1, 2**53):
        assert refused(f"n {UNITS}{bad}", lambda: q.take("k", bad)).field == "n"
        refused(f"n {UNITS}{bad}", lambda: q.restock("k", bad))
    for wrong in (1.5, "1", None):
        with pytest.raises(TypeError, match=rf"^n must be an int, got {wrong!r} \("):
            q.take("k", wrong)  # type: ignore[arg-type]
    refused(f"{REQUEST_ID}''", lambda: q.take("k", 1, request_id=""))
    long_id = "é" * 129  # 258 bytes of UTF-8
    assert refused(f"{REQUEST_ID}{long_id!r}", lambda: q.take("k", 1, request_id=long_id)).field == "request_id"
    q.start_bucket("x" * 256)  # the longest id
    refused(f"{REQUEST_ID}'\\udc80'", lambda: q.take("k", 1, request_id="\udc80"))
    with pytest.raises(TypeError, match=r"^request_id must be a str, got 7 \(int\)$"):
        q.take("k", 1, request_id=7)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^request_id must be a str, got None \(NoneType\)$"):
        q.start_bucket(None)  # type: ignore[arg-type]
    bucket = "bucket must be an int from 0 to 1 (below the quota's bucket count), got "
    assert refused(f"{bucket}2", lambda: q.redis_key("k", 2)).field == "bucket"
    refused(f"{bucket}-1", lambda: q.remaining("k", -1))
    pool = q.pool("k")
    refused(f"n {UNITS}0", lambda: pool.take(0))
    with pytest.raises(TypeError, match=r"^n must be an int, got 1.0 \(float\)$"):
        pool.take(1.0)  # type: ignore[arg-type]
    pool.close()  # held nothing: no call
    assert len(counted) == 0


def test_stanchion_imports_without_redis_py() -> None:
    program = textwrap.dedent(
        """
        import sys
        sys.modules["redis"] = None  # as if redis-py were not installed
        from stanchion.redis import FleetQuota
        try:
            FleetQuota(object())
        except ImportError as missing:
            print(missing)
        """
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "stanchion.redis needs redis-py: pip install 'stanchion[redis]'"
