"""Which Redis error replies mean Redis cannot decide: those whose code (the first word) the
core lists in ``fleet::UNAVAILABLE_REPLIES`` (``LOADING``, ``READONLY``, ``OOM``, …) are
unavailability, a failure of the client's breaker answered by ``on_unavailable`` (a quota
raises ``FleetUnavailableError``); any other error reply (``WRONGTYPE``, a script's
own error) reaches the caller as ``FleetError`` and counts as an answer, a success for the breaker.

The real replies come from real servers: a key of the wrong type on the test server, and a
server of this module's own (on a Unix socket in a temporary folder) made a replica of a
primary that does not exist, which refuses writes (``READONLY``), then reads too
(``MASTERDOWN``), and, promoted, refuses writes over its memory limit (``OOM``). The other
codes cannot be provoked on demand, so the classifier is checked on redis-py's exceptions
for them.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
import redis
import redis.asyncio
import redis_support
from conftest import FakeClock
from redis import exceptions

from stanchion import CircuitOpenError, ConfigError, FleetError, FleetUnavailableError, SoldOutError, _stanchion
from stanchion._fleet_client import failure_kind, reply_code
from stanchion.redis import FleetLimiter, FleetQuota

UNAVAILABLE = [
    "LOADING",
    "BUSY",
    "READONLY",
    "MASTERDOWN",
    "CLUSTERDOWN",
    "TRYAGAIN",
    "OOM",
    "MISCONF",
    "NOREPLICAS",
]


def test_the_unavailable_codes_are_the_cores() -> None:
    assert _stanchion.fleet_defaults()["unavailable_replies"] == UNAVAILABLE
    assert all(_stanchion.fleet_is_unavailable_reply(code) for code in UNAVAILABLE)
    for code in ["ERR", "WRONGTYPE", "NOSCRIPT", "EXECABORT", "readonly", "", "LOADING "]:
        assert not _stanchion.fleet_is_unavailable_reply(code), code


@pytest.mark.parametrize(
    "error, code",
    [
        # The codes redis-py strips from the message and names by class (it keeps them in
        # `status_code` since 6.2; without it the class still names the code).
        (exceptions.BusyLoadingError("Redis is loading the dataset in memory"), "LOADING"),
        (exceptions.ReadOnlyError("You can't write against a read only replica."), "READONLY"),
        (exceptions.OutOfMemoryError("command not allowed when used memory > 'maxmemory'."), "OOM"),
        (exceptions.TryAgainError("Multiple keys request during rehashing of slot"), "TRYAGAIN"),
        (exceptions.ClusterDownError("The cluster is down"), "CLUSTERDOWN"),
        (exceptions.MasterDownError("Link with MASTER is down"), "MASTERDOWN"),
        # Codes redis-py does not know stay in the message.
        (exceptions.ResponseError("BUSY Redis is busy running a script."), "BUSY"),
        (exceptions.ResponseError("MISCONF Redis is configured to save RDB snapshots"), "MISCONF"),
        (exceptions.ResponseError("NOREPLICAS Not enough good replicas to write."), "NOREPLICAS"),
    ],
    ids=lambda value: value if isinstance(value, str) else type(value).__name__,
)
def test_a_reply_the_core_lists_is_unavailability(error: BaseException, code: str) -> None:
    if not isinstance(error, exceptions.ConnectionError):
        assert reply_code(error) == code
    assert failure_kind(error) == "unavailable"


def test_the_code_redis_py_keeps_is_read_first() -> None:
    kept = exceptions.ReadOnlyError("You can't write against a read only replica.", status_code="READONLY")
    assert reply_code(kept) == "READONLY"
    # A code the server sent wins over what the message starts with.
    assert reply_code(exceptions.ResponseError("OOM is in the text", status_code="ERR")) == "ERR"


@pytest.mark.parametrize(
    "error",
    [
        exceptions.ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value"),
        exceptions.ResponseError("ERR stanchion quota: the key does not hold a quota count"),
        exceptions.ResponseError("ERR Error running script"),
        exceptions.NoScriptError("No matching script."),
        exceptions.ExecAbortError("Transaction discarded."),
        exceptions.DataError("Invalid input of type: 'dict'"),
    ],
    ids=lambda e: str(e).split(" ")[0] if isinstance(e, exceptions.ResponseError) else type(e).__name__,
)
def test_any_other_error_reply_is_an_answer(error: BaseException) -> None:
    assert failure_kind(error) == "reply"


@pytest.mark.parametrize(
    "error, kind",
    [
        (exceptions.ConnectionError("Connection refused"), "unavailable"),
        (exceptions.TimeoutError("Timeout reading from socket"), "unavailable"),
        (asyncio.TimeoutError(), "unavailable"),
        (ConnectionResetError(), "unavailable"),
        (exceptions.SlotNotCoveredError("no node covers slot 7"), "unavailable"),
        (asyncio.CancelledError(), None),
        (KeyboardInterrupt(), None),
        (ValueError("not from Redis"), None),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else str(value),
)
def test_failures_that_are_no_reply(error: BaseException, kind: Any) -> None:
    assert failure_kind(error) == kind


# A key holding another type: WRONGTYPE, an answer ------------------------------------------


@pytest.fixture
def client() -> Iterator[Any]:
    client = redis_support.sync_client()
    yield client
    client.close()


def test_a_limiter_key_of_the_wrong_type_is_a_fleet_error_and_the_breaker_stays_closed(client: Any) -> None:
    limiter = FleetLimiter(client, capacity=5, prefix=redis_support.unique_prefix("wrongtype"), on_unavailable="allow")
    client.lpush(limiter.redis_key("k"), "not a bucket")
    before = limiter.breaker.snapshot()
    for _ in range(5):  # more than the three failures that would open it
        with pytest.raises(FleetError) as raised:
            limiter.try_acquire("k")
        assert not isinstance(raised.value, FleetUnavailableError)
        assert str(raised.value).startswith("Redis answered the limiter with an error: WRONGTYPE ")
        assert isinstance(raised.value.__cause__, exceptions.ResponseError)
    after = limiter.breaker.snapshot()
    assert limiter.breaker.state == "closed"
    assert (after.successes - before.successes, after.failures - before.failures) == (5, 0)
    assert limiter.try_acquire("other").source == "redis"


def test_a_quota_key_of_the_wrong_type_or_value_is_a_fleet_error(client: Any) -> None:
    quota = FleetQuota(client, prefix=redis_support.unique_prefix("wrongtype"))
    client.lpush(quota.redis_key("list"), "not a count")
    client.set(quota.redis_key("text"), "twelve")
    before = quota.breaker.snapshot()
    with pytest.raises(FleetError, match=r"^Redis answered the quota with an error: WRONGTYPE "):
        quota.take("list")
    # redis-py strips the ERR code of the script's own error; the message gives it back.
    with pytest.raises(FleetError, match="^Redis answered the quota with an error: ERR stanchion quota: the key does not hold a quota count"):
        quota.remaining("text")
    with pytest.raises(FleetError, match="does not hold a quota count") as raised:
        quota.restock("text", 1)
    assert not isinstance(raised.value, FleetUnavailableError)
    after = quota.breaker.snapshot()
    assert quota.breaker.state == "closed"
    assert (after.successes - before.successes, after.failures - before.failures) == (3, 0)


def test_an_asyncio_limiter_reads_replies_the_same_way() -> None:
    async def main() -> None:
        client = redis_support.async_client()
        try:
            limiter = FleetLimiter(client, capacity=5, prefix=redis_support.unique_prefix("wrongtype"))
            await client.lpush(limiter.redis_key("k"), "x")
            with pytest.raises(FleetError, match="WRONGTYPE") as raised:
                await limiter.try_acquire_async("k")
            assert not isinstance(raised.value, FleetUnavailableError)
            assert limiter.breaker.state == "closed" and limiter.breaker.snapshot().failures == 0
        finally:
            await client.aclose()

    asyncio.run(main())


# A replica of a primary that does not exist: READONLY, MASTERDOWN, then OOM -----------------


@pytest.fixture
def replica(tmp_path: Path) -> Iterator[Path]:
    """A server of its own on a Unix socket, replicating a primary that is not there."""
    server = shutil.which("redis-server")
    if server is None:
        pytest.fail(f"redis-server is not installed: {redis_support.HOW}")
    socket = tmp_path / "redis.sock"
    process = subprocess.Popen(
        [server, "--port", "0", "--unixsocket", str(socket), "--save", "", "--appendonly", "no",
         "--dir", str(tmp_path), "--replicaof", "127.0.0.1", "9"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(200):
            if socket.exists():
                break
            time.sleep(0.025)
        else:
            pytest.fail("the replica did not open its socket")
        yield socket
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def replica_client(replica: Path) -> Iterator[Any]:
    # `redis.Redis(unix_socket_path=...)` drops socket_connect_timeout (its connections keep
    # redis-py's 5 s), which a blocking fleet client must bound; a pool of our own passes it on.
    pool = redis.ConnectionPool(
        connection_class=redis.UnixDomainSocketConnection,
        path=str(replica),
        socket_timeout=1.0,
        socket_connect_timeout=1.0,
        retry=redis_support.no_retry(),
    )
    client = redis.Redis(connection_pool=pool)
    yield client
    client.close()
    pool.disconnect()  # a pool of our own: close() leaves it open


def test_a_read_only_replica_is_unavailability(replica_client: Any, clock: FakeClock) -> None:
    limiter = FleetLimiter(replica_client, capacity=5, on_unavailable="deny", clock=clock, timeout=1.0)
    counted = redis_support.Counted(replica_client)
    # A peek only reads: the replica answers it.
    assert limiter.peek("k").source == "redis"
    decisions = [limiter.try_acquire("k") for _ in range(3)]  # a grant writes: READONLY
    assert all((d.allowed, d.source) == (False, "deny") for d in decisions)
    assert all(isinstance(d.error, exceptions.ReadOnlyError) for d in decisions)
    # Three failures in a row: the breaker is open, and no call is made.
    assert limiter.breaker.state == "open"
    calls = len(counted)
    assert isinstance(limiter.peek("k").error, CircuitOpenError)
    assert len(counted) == calls


def test_a_replica_cut_off_from_its_primary_and_a_full_server_are_unavailability(replica_client: Any) -> None:
    limiter = FleetLimiter(replica_client, capacity=5, timeout=1.0)
    replica_client.config_set("replica-serve-stale-data", "no")
    with pytest.raises(FleetUnavailableError) as raised:
        limiter.peek("k")  # reads refused as well now
    assert isinstance(raised.value.__cause__, exceptions.MasterDownError)
    assert reply_code(raised.value.__cause__) == "MASTERDOWN"
    assert str(raised.value).startswith("Redis could not decide: MasterDownError: ")
    replica_client.replicaof("NO", "ONE")
    limiter.breaker.reset()
    replica_client.config_set("maxmemory", "1")
    before = limiter.breaker.snapshot()
    with pytest.raises(FleetUnavailableError) as raised:
        limiter.try_acquire("k")
    assert isinstance(raised.value.__cause__, exceptions.OutOfMemoryError)
    # Reads still work: the server answers them, and the breaker records a success.
    assert limiter.peek("k").remaining == 5
    after = limiter.breaker.snapshot()
    assert (after.failures - before.failures, after.successes - before.successes) == (1, 1)
    assert limiter.breaker.state == "closed"


def test_a_quota_on_a_read_only_replica_raises_and_shares_the_limiters_breaker(
    replica_client: Any, clock: FakeClock
) -> None:
    limiter = FleetLimiter(replica_client, capacity=5, on_unavailable="deny", clock=clock, timeout=1.0)
    quota = FleetQuota(replica_client, clock=clock, timeout=1.0)
    assert quota.breaker is limiter.breaker
    counted = redis_support.Counted(replica_client)
    assert quota.remaining("stock") == 0  # the script only reads: the replica answers
    with pytest.raises(SoldOutError):
        quota.take("stock")  # nothing to take, nothing written: an answer
    # A take with an id writes even when it refuses: it remembers the id.
    with pytest.raises(FleetUnavailableError) as raised:
        quota.take("stock", request_id="order-1")
    assert str(raised.value).startswith("Redis could not decide: ReadOnlyError: ")
    assert isinstance(raised.value.__cause__, exceptions.ReadOnlyError)
    with pytest.raises(FleetUnavailableError):
        quota.restock("stock", 5)
    assert limiter.try_acquire("k").source == "deny"
    # Three failures in a row, the quota's and the limiter's: the breaker they share is open.
    assert quota.breaker.state == "open"
    calls = len(counted)
    with pytest.raises(FleetUnavailableError, match="breaker is open") as raised:
        quota.remaining("stock")
    assert isinstance(raised.value.__cause__, CircuitOpenError)
    assert len(counted) == calls


def test_a_quota_on_a_server_over_its_memory_limit_raises_and_still_reads(replica_client: Any) -> None:
    replica_client.replicaof("NO", "ONE")
    quota = FleetQuota(replica_client, timeout=1.0)
    assert quota.restock("stock", 5) == 5
    replica_client.config_set("maxmemory", "1")
    with pytest.raises(FleetUnavailableError) as raised:
        quota.take("stock")
    assert isinstance(raised.value.__cause__, exceptions.OutOfMemoryError)
    assert quota.remaining("stock") == 5
    with pytest.raises(ConfigError):
        quota.take("stock", 0)  # bad input never reaches Redis, whatever its state
