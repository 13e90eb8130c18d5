"""The lock on Redis (``FleetLock``) and RedLock over several independent servers
(``Redlock``): leases with fencing tokens, one ``lock.lua`` call per step.

Each level of the usual walk from ``SETNX`` to RedLock is here: one holder at a time
(``SET NX PX``), an expiry in the same command, a 128-bit token checked by the release
(compare-and-delete) and by ``extend`` (which sets the remaining time, never adds to it),
errors that say what happened, a keeper renewing while the work runs and telling the holder
the moment the lease is lost, ``WAIT`` for replicas, and RedLock's majority. Fencing tokens,
growing with every acquisition of a name, let the protected resource refuse a holder that
woke up late.
"""

from __future__ import annotations

import asyncio
import functools
import threading
import time
from fractions import Fraction
from typing import (
    TYPE_CHECKING,
    Any,
    Awaitable,
    Callable,
    List,
    Optional,
    Sequence,
    Tuple,
    Union,
    cast,
)

from . import _stanchion
from ._errors import (
    ConfigError,
    FleetError,
    LockHeldError,
    LockQuorumError,
    LockReplicasError,
    LockTimeoutError,
    LockUnavailableError,
    described,
)
from ._fleet_client import FleetPrimitive
from ._fleet_lease import (
    DEFAULT_PREFIX,
    E,
    DEFAULT_TIMEOUT,
    Guard,
    Lease,
    LeaseHold,
    OnLost,
    _Holder,
    _keeper_callback,
    check_client,
    gone,
    keep_async,
    keep_sync,
    lose_async,
    lose_sync,
    need_kind,
    new_token,
    stop_async,
    stop_sync,
)

if TYPE_CHECKING:
    from .redis import AsyncClient, SyncClient

#: A reply of one server to an acquisition: ``(True, fence)``, ``(False, retry_after_ns)``
#: when another holder has it, or the error that kept it from answering.
_Answer = Union[Tuple[bool, Optional[int]], BaseException]


class LockLease(Lease[E]):
    """A lease on a lock: who holds it (a random 128-bit token), its fencing token, and
    whether it was lost while held (``lost``, ``lost_error``: see ``Lease``).

    Pass ``fence`` to whatever the lock protects, and have it refuse a write whose fence is
    smaller than the largest it has seen: a holder that stalled past its lease and wakes up
    still believing it holds the lock is then refused, however late it writes.

    >>> lease = LockLease("report", new_token(), 10_000_000_000, threading.Event(), fence=7)
    >>> lease.fence, lease.validity
    (7, 10.0)
    """

    __slots__ = ("_fence", "_validity_ns")

    def __init__(
        self,
        name: str,
        token: str,
        ttl_ns: int,
        lost: E,
        on_lost: Optional[OnLost] = None,
        *,
        fence: int,
        validity_ns: Optional[int] = None,
    ) -> None:
        super().__init__(name, token, ttl_ns, lost, on_lost)
        self._fence = fence
        self._validity_ns = ttl_ns if validity_ns is None else validity_ns

    @property
    def fence(self) -> int:
        """The fencing token: larger than that of every earlier acquisition of this name."""
        return self._fence

    @property
    def validity(self) -> float:
        """Seconds the lease was sure to last when it was granted: its time, less (for a
        ``Redlock``) the time the acquisition took and the clock-drift allowance."""
        return self._validity_ns / 1e9

    @property
    def validity_ns(self) -> int:
        """``validity`` in nanoseconds."""
        return self._validity_ns

    def _describe(self) -> str:
        return f"{super()._describe()}, fence={self._fence}"


def _held(name: str, retry_after_ns: Optional[int]) -> LockHeldError:
    if retry_after_ns is None:
        return LockHeldError(
            f"the lock {name!r} is held by another holder, with no expiry on its key", None
        )
    return LockHeldError(
        f"the lock {name!r} is held by another holder for up to {retry_after_ns / 1e9:.3f} s",
        retry_after_ns,
    )


def _pause(
    waiter: _stanchion.LockWaiter, name: str, refusal: BaseException, left: Optional[int]
) -> float:
    """Seconds to sleep before the next attempt, or the refusal (no patience) or a
    ``LockTimeoutError`` (patience spent) raised from it."""
    now = _stanchion.monotonic_ns()
    pause = waiter.pause(now, left)
    if pause is None:
        if waiter.wait_ns == 0:
            raise refusal
        waited = waiter.waited_ns(now)
        raise LockTimeoutError(
            f"the lock {name!r} is still held by another holder after waiting {waited / 1e9:.3f} s",
            waited,
        ) from refusal
    return pause / 1e9


def _read(core: _stanchion.FleetLock, reply: object) -> Tuple[bool, Optional[int]]:
    try:
        return core.acquired(reply)
    except ValueError as unexpected:
        raise FleetError(str(unexpected)) from unexpected


def _done(core: _stanchion.FleetLock, reply: object) -> bool:
    try:
        return core.done(reply)
    except ValueError as unexpected:
        raise FleetError(str(unexpected)) from unexpected


def _seconds(ns: int) -> Fraction:
    """Nanoseconds as exact seconds, for the native checks (a float loses nanoseconds)."""
    return Fraction(ns, 1_000_000_000)


class _LockHolder(_Holder["LockLease[threading.Event]", "LockLease[asyncio.Event]"]):
    """The holding a ``LeaseHold`` asks of a lock, the same for ``FleetLock`` and ``Redlock``:
    acquire with a keeper, release; and the lease time and default wait of their config."""

    __slots__ = ()

    _core: _stanchion.FleetLock

    @property
    def ttl(self) -> float:
        """The lease time in seconds."""
        return self._core.ttl_ns / 1e9

    @property
    def wait(self) -> float:
        """How long ``acquire`` waits by default, in seconds."""
        return self._core.wait_ns / 1e9

    def acquire(
        self,
        name: str,
        wait: Optional[float] = None,
        *,
        keep: bool = False,
        on_lost: Optional[Callable[["LockLease[Any]"], object]] = None,
    ) -> LockLease[threading.Event]:
        raise NotImplementedError

    async def acquire_async(
        self,
        name: str,
        wait: Optional[float] = None,
        *,
        keep: bool = False,
        on_lost: Optional[Callable[["LockLease[Any]"], object]] = None,
    ) -> LockLease[asyncio.Event]:
        raise NotImplementedError

    def release(self, lease: LockLease[Any]) -> bool:
        raise NotImplementedError

    async def release_async(self, lease: LockLease[Any]) -> bool:
        raise NotImplementedError

    def _hold(
        self, name: str, wait: Optional[float], on_lost: Optional[OnLost]
    ) -> LockLease[threading.Event]:
        return self.acquire(name, wait, keep=True, on_lost=on_lost)

    async def _hold_async(
        self, name: str, wait: Optional[float], on_lost: Optional[OnLost]
    ) -> LockLease[asyncio.Event]:
        return await self.acquire_async(name, wait, keep=True, on_lost=on_lost)

    def _unhold(self, lease: LockLease[Any]) -> bool:
        return self.release(lease)

    async def _unhold_async(self, lease: LockLease[Any]) -> bool:
        return await self.release_async(lease)


class FleetLock(_LockHolder, FleetPrimitive):
    """A distributed lock kept in Redis (``lock.lua``): leases with fencing tokens, waiting
    while another holds it, renewed by a keeper while the work runs, released by
    compare-and-delete.

    ``ttl`` is the lease time (seconds in whole milliseconds; default 30 s, the core's
    ``DEFAULT_LEASE``): a holder that dies frees the lock that long after its last renewal.
    ``wait`` is how long ``acquire`` waits by default while another holds the lock (0: one
    attempt): between attempts the core's ``lock_backoff`` (from 10 ms, doubling to 200 ms,
    full jitter), never past the holder's remaining lease. ``wait_replicas=(n, timeout)`` sends
    ``WAIT n timeout`` after each acquisition, on the same connection, and releases the lease
    if fewer replicas acknowledged. Each call is bounded by ``timeout`` as the limiter's
    calls are.

    ``with lock(name) as lease:`` (``async with`` for an asyncio client) and ``@lock(name)``
    hold the lock with a keeper renewing it every third of ``ttl``; ``lease.fence`` goes to
    what the lock protects.

    Errors say what happened (nothing is acquired in any of them): ``LockHeldError`` (with
    ``retry_after``: the holder's remaining lease), ``LockTimeoutError`` (waited ``wait``),
    ``LockReplicasError``, ``LockUnavailableError`` (Redis could not decide: a lock has no
    fallback), ``FleetError`` (Redis answered with an error), ``ConfigError`` (a bad name).

    With ``client`` a ``redis.Redis(..., socket_timeout=0.25)``:

    >>> lock = FleetLock(client, ttl=10.0, prefix="doc:lock:")
    >>> with lock("nightly-report") as lease:
    ...     lock.acquire("nightly-report")
    Traceback (most recent call last):
    ...
    stanchion._errors.LockHeldError: the lock 'nightly-report' is held by another holder...
    >>> first = lock.acquire("nightly-report")
    >>> lock.release(first), lock.release(first)
    (True, False)
    >>> lock.acquire("nightly-report").fence > first.fence
    True
    """

    __slots__ = ("_core", "_guard", "_script")

    _core: _stanchion.FleetLock
    _guard: Guard

    def __init__(
        self,
        client: Union[SyncClient, AsyncClient],
        *,
        ttl: Optional[float] = None,
        wait: float = 0.0,
        wait_replicas: Optional[Tuple[int, float]] = None,
        prefix: str = DEFAULT_PREFIX,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        is_async = check_client(client)
        config = {
            "ttl": ttl,
            "wait": wait,
            "wait_replicas": wait_replicas,
            "prefix": prefix,
            "timeout": timeout,
        }
        self._core = _stanchion.FleetLock(config)
        self._guard = Guard(client, self._core.timeout_ns, "lock", LockUnavailableError)
        self._script: Any = self._guard.script("lock")
        if self._core.wait_replicas is not None:
            _check_wait_replicas(client, is_async, self._core.wait_replicas[1], wait_replicas)

    # Properties ---------------------------------------------------------------------------

    @property
    def wait_replicas(self) -> Optional[Tuple[int, float]]:
        """``(replicas, timeout)`` in seconds, or ``None``."""
        pair = self._core.wait_replicas
        return None if pair is None else (pair[0], pair[1] / 1e9)

    def redis_keys(self, name: str) -> Tuple[str, str]:
        """The Redis keys of lock ``name``: the lease, and the fence counter (which never
        expires), on one hash tag.

        >>> FleetLock(client).redis_keys("report")
        ('stanchion:{report}:lock', 'stanchion:{report}:fence')
        """
        return self._core.redis_keys(name)

    def __repr__(self) -> str:
        return f"FleetLock(ttl={self.ttl!r}, wait={self.wait!r}, prefix={self.prefix!r})"

    # Blocking clients ----------------------------------------------------------------------

    def acquire(
        self,
        name: str,
        wait: Optional[float] = None,
        *,
        keep: bool = False,
        on_lost: Optional[Callable[["LockLease[Any]"], object]] = None,
    ) -> LockLease[threading.Event]:
        """Takes lock ``name``, waiting up to ``wait`` seconds (default the lock's) while
        another holder has it. With ``keep=True`` a keeper thread renews the lease until it is
        released. Blocking client.

        >>> lock = FleetLock(client, ttl=5.0, prefix="doc:acquire:")
        >>> lease = lock.acquire("job", keep=True)
        >>> lease.held, lock.release(lease)
        (True, True)
        """
        self._guard.need_blocking("acquire", "acquire_async")
        callback = _keeper_callback(keep, on_lost)
        keys = self._core.redis_keys(name)
        waiter = self._core.waiter(_stanchion.monotonic_ns(), wait)
        while True:
            try:
                lease = self._attempt(name, keys, callback, None)
                break
            except LockHeldError as held:
                time.sleep(_pause(waiter, name, held, held.retry_after_ns))
        if keep:
            keep_sync(lease, functools.partial(self._renew, lease))
        return lease

    def release(self, lease: LockLease[Any]) -> bool:
        """Stops the lease's keeper (waiting for a renewal in flight), then deletes the lock
        only if it still holds the lease's token. ``True`` if it did; ``False`` if the lease
        had gone (it expired, and perhaps another holder has the lock now, which this leaves
        alone). Blocking client.

        >>> lock = FleetLock(client, prefix="doc:release:")
        >>> lock.release(lock.acquire("job"))
        True
        """
        self._guard.need_blocking("release", "release_async")
        stop_sync(lease)
        keys = list(self._core.redis_keys(lease.name))
        argv = self._core.release_args(lease.token)
        return _done(self._core, self._guard.call(lambda: self._script(keys=keys, args=argv)))

    def extend(self, lease: LockLease[Any], ttl: float) -> bool:
        """Sets the lease's remaining time to ``ttl`` seconds (it sets, never adds) if the
        lock still holds its token, and from then on renews it to ``ttl``. ``True`` if it
        did; ``False`` if the lease had gone (``lease.lost`` is then set). Blocking client.

        >>> lock = FleetLock(client, ttl=5.0, prefix="doc:extend:")
        >>> lease = lock.acquire("job")
        >>> lock.extend(lease, 60.0), lease.ttl
        (True, 60.0)
        """
        self._guard.need_blocking("extend", "extend_async")
        argv, ttl_ns = self._core.extend_args(lease.token, ttl)
        still = self._send_extend(lease, argv)
        if still:
            lease._ttl_ns = ttl_ns
        else:
            lose_sync(lease, gone(lease))
        return still

    def _renew(self, lease: LockLease[Any]) -> bool:
        argv, _ = self._core.extend_args(lease.token, _seconds(lease.ttl_ns))
        return self._send_extend(lease, argv)

    def _send_extend(self, lease: LockLease[Any], argv: List[str]) -> bool:
        keys = list(self._core.redis_keys(lease.name))
        return _done(self._core, self._guard.call(lambda: self._script(keys=keys, args=argv)))

    def _attempt(
        self, name: str, keys: Tuple[str, str], on_lost: Optional[OnLost], now_us: Optional[int]
    ) -> LockLease[threading.Event]:
        token = new_token()
        argv = self._core.acquire_args(token, now_us)
        replicas = self._core.wait_replicas
        if replicas is None:
            reply = self._guard.call(lambda: self._script(keys=list(keys), args=argv))
            acknowledged = None
        else:
            try:
                reply, acknowledged = self._guard.call(
                    lambda: self._acquire_waiting(keys, argv, replicas)
                )
            except LockUnavailableError:
                # The acquisition may have been made before WAIT failed.
                self._release_quietly(keys, token)
                raise
        acquired, value = _read(self._core, reply)
        if not acquired:
            raise _held(name, value)
        assert value is not None
        lease = LockLease(name, token, self._core.ttl_ns, threading.Event(), on_lost, fence=value)
        if replicas is not None and acknowledged is not None and acknowledged < replicas[0]:
            self._release_quietly(keys, token)
            raise _short(name, acknowledged, replicas)
        return lease

    def _acquire_waiting(
        self, keys: Tuple[str, str], argv: List[str], replicas: Tuple[int, int]
    ) -> Tuple[Any, int]:
        # WAIT counts the writes of its own connection: a pipeline keeps both on one.
        pipe = self._guard.client.pipeline(transaction=False)
        self._script(keys=list(keys), args=argv, client=pipe)
        pipe.execute_command("WAIT", replicas[0], replicas[1] // 1_000_000)
        reply, acknowledged = cast(List[Any], pipe.execute())
        return reply, int(acknowledged)

    def _release_quietly(self, keys: Tuple[str, str], token: str) -> None:
        # Best effort: if this fails too, the lease expires on its own.
        try:
            argv = self._core.release_args(token)
            self._guard.call(lambda: self._script(keys=list(keys), args=argv))
        except FleetError:
            pass

    # Asyncio clients -----------------------------------------------------------------------

    async def acquire_async(
        self,
        name: str,
        wait: Optional[float] = None,
        *,
        keep: bool = False,
        on_lost: Optional[Callable[["LockLease[Any]"], object]] = None,
    ) -> LockLease[asyncio.Event]:
        """``acquire`` for an asyncio client: the keeper is a task of the running loop, and
        ``lease.lost`` an ``asyncio.Event``."""
        self._guard.need_async("acquire_async", "acquire")
        callback = _keeper_callback(keep, on_lost)
        keys = self._core.redis_keys(name)
        waiter = self._core.waiter(_stanchion.monotonic_ns(), wait)
        while True:
            try:
                lease = await self._aattempt(name, keys, callback, None)
                break
            except LockHeldError as held:
                await asyncio.sleep(_pause(waiter, name, held, held.retry_after_ns))
        if keep:
            keep_async(lease, functools.partial(self._arenew, lease))
        return lease

    async def release_async(self, lease: LockLease[Any]) -> bool:
        """``release`` for an asyncio client."""
        self._guard.need_async("release_async", "release")
        await stop_async(lease)
        keys = list(self._core.redis_keys(lease.name))
        argv = self._core.release_args(lease.token)
        reply = await self._guard.acall(lambda: self._script(keys=keys, args=argv))
        return _done(self._core, reply)

    async def extend_async(self, lease: LockLease[Any], ttl: float) -> bool:
        """``extend`` for an asyncio client."""
        self._guard.need_async("extend_async", "extend")
        argv, ttl_ns = self._core.extend_args(lease.token, ttl)
        still = await self._asend_extend(lease, argv)
        if still:
            lease._ttl_ns = ttl_ns
        else:
            await lose_async(lease, gone(lease))
        return still

    async def _arenew(self, lease: LockLease[Any]) -> bool:
        argv, _ = self._core.extend_args(lease.token, _seconds(lease.ttl_ns))
        return await self._asend_extend(lease, argv)

    async def _asend_extend(self, lease: LockLease[Any], argv: List[str]) -> bool:
        keys = list(self._core.redis_keys(lease.name))
        reply = await self._guard.acall(lambda: self._script(keys=keys, args=argv))
        return _done(self._core, reply)

    async def _aattempt(
        self, name: str, keys: Tuple[str, str], on_lost: Optional[OnLost], now_us: Optional[int]
    ) -> LockLease[asyncio.Event]:
        token = new_token()
        argv = self._core.acquire_args(token, now_us)
        replicas = self._core.wait_replicas
        if replicas is None:
            reply = await self._guard.acall(lambda: self._script(keys=list(keys), args=argv))
            acknowledged = None
        else:
            # WAIT may take its whole timeout on top of the call's.
            bound = self._guard.timeout + replicas[1] / 1e9
            try:
                reply, acknowledged = await self._guard.acall(
                    lambda: self._aacquire_waiting(keys, argv, replicas), bound
                )
            except LockUnavailableError:
                await self._arelease_quietly(keys, token)
                raise
        acquired, value = _read(self._core, reply)
        if not acquired:
            raise _held(name, value)
        assert value is not None
        lease = LockLease(name, token, self._core.ttl_ns, asyncio.Event(), on_lost, fence=value)
        if replicas is not None and acknowledged is not None and acknowledged < replicas[0]:
            await self._arelease_quietly(keys, token)
            raise _short(name, acknowledged, replicas)
        return lease

    async def _aacquire_waiting(
        self, keys: Tuple[str, str], argv: List[str], replicas: Tuple[int, int]
    ) -> Tuple[Any, int]:
        pipe = self._guard.client.pipeline(transaction=False)
        await self._script(keys=list(keys), args=argv, client=pipe)
        pipe.execute_command("WAIT", replicas[0], replicas[1] // 1_000_000)
        reply, acknowledged = await cast(Awaitable[List[Any]], pipe.execute())
        return reply, int(acknowledged)

    async def _arelease_quietly(self, keys: Tuple[str, str], token: str) -> None:
        try:
            argv = self._core.release_args(token)
            await self._guard.acall(lambda: self._script(keys=list(keys), args=argv))
        except FleetError:
            pass

    # Idioms --------------------------------------------------------------------------------

    def __call__(
        self,
        name: str,
        *,
        wait: Optional[float] = None,
        on_lost: Optional[Callable[["LockLease[Any]"], object]] = None,
    ) -> LeaseHold[LockLease[threading.Event], LockLease[asyncio.Event]]:
        """Lock ``name`` held for a block or a call (waiting up to ``wait``, default the
        lock's), with a keeper renewing it: ``with`` / ``async with`` (giving the
        ``LockLease``) and a decorator. If the lease is lost while held, the block or call
        ends with ``LeaseLostError``.

        >>> lock = FleetLock(client, ttl=5.0, prefix="doc:call:")
        >>> @lock("nightly", wait=1.0)
        ... def report() -> str:
        ...     return "done"
        >>> report()
        'done'
        """
        self._core.redis_keys(name)  # a bad name fails here
        return LeaseHold(self, name, wait, on_lost)

    def _need(self, is_async: bool, name: str) -> None:
        need_kind("lock", name, self._guard.is_async, is_async)



def _short(name: str, acknowledged: int, replicas: Tuple[int, int]) -> LockReplicasError:
    wanted, timeout_ns = replicas
    return LockReplicasError(
        f"{acknowledged} of {wanted} replicas acknowledged the lease on {name!r} within "
        f"{timeout_ns / 1e9:g} s; it was released",
        acknowledged,
        wanted,
    )


def _check_wait_replicas(client: Any, is_async: bool, timeout_ns: int, given: object) -> None:
    from . import _fleet_client as fleet

    redis = fleet.redis_py()
    if isinstance(client, (redis.cluster.RedisCluster, redis.asyncio.cluster.RedisCluster)):
        raise ConfigError(
            "wait_replicas",
            "None with a cluster client (WAIT must follow the acquisition on the connection "
            "to the key's primary; use a client of that primary)",
            "wait_replicas",
            given,
        )
    if is_async:
        return
    read = fleet._socket_setting(client, "socket_timeout")
    if read is None or timeout_ns / 1e9 >= read:
        raise ConfigError(
            "wait_replicas",
            f"a timeout below the client's socket_timeout ({read} s): WAIT holds the connection "
            f"that long, and a blocking read gives up at socket_timeout",
            "wait_replicas.timeout",
            given,
        )


# RedLock ------------------------------------------------------------------------------------


class Redlock(_LockHolder):
    """One lock on N independent Redis servers (not replicas of one another): the script of
    ``FleetLock`` runs on each with one token, and the lease holds while a majority,
    ``⌊N/2⌋ + 1`` (the core's ``fleet::quorum``), has it.

    An acquisition is valid for the lease time less the time it took and a clock-drift
    allowance (1 % of the lease plus 2 ms: the core's ``fleet::redlock_validity``); one that
    misses the quorum or leaves no validity is released on every server. Renewal (``extend``,
    and the keeper of ``with redlock(name)``) needs the quorum too. Each server's client has
    its own breaker and each call the ``timeout``; a blocking client's servers are asked one
    after another, an asyncio client's all at once.

    **Timing assumptions.** RedLock is safe only while the servers' clocks run at nearly the
    same rate and no holder pauses (a GC, a stopped VM) past its validity unnoticed. The
    fencing token is the safety net: each server's fence grows with every acquisition, and
    the lease carries the largest granted.

    With ``clients`` five ``redis.Redis(..., socket_timeout=0.25)`` of independent servers:

    >>> redlock = Redlock(clients, ttl=10.0, prefix="doc:redlock:")
    >>> redlock.quorum
    3
    >>> with redlock("billing") as lease:
    ...     0 < lease.validity < 10.0
    True
    """

    __slots__ = ("_core", "_servers", "_scripts", "_quorum", "_is_async")

    def __init__(
        self,
        clients: Sequence[Union[SyncClient, AsyncClient]],
        *,
        ttl: Optional[float] = None,
        wait: float = 0.0,
        prefix: str = DEFAULT_PREFIX,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        if isinstance(clients, (str, bytes)) or not hasattr(clients, "__iter__"):
            raise TypeError(
                f"clients must be a sequence of redis-py clients, got {described(clients)}"
            )
        servers = list(clients)
        kinds = {check_client(c) for c in servers}
        if not 1 <= len(servers) <= 255 or len({id(c) for c in servers}) != len(servers):
            raise ConfigError(
                "clients",
                "1 to 255 distinct redis-py clients, one per independent server (an odd "
                "number: 3 or 5)",
                "servers",
                len(servers),
            )
        if len(kinds) != 1:
            raise TypeError("clients must be all blocking or all asyncio redis-py clients")
        config = {"ttl": ttl, "wait": wait, "prefix": prefix, "timeout": timeout}
        self._core = _stanchion.FleetLock(config)
        timeout_ns = self._core.timeout_ns
        self._servers = [Guard(c, timeout_ns, "lock", LockUnavailableError) for c in servers]
        self._scripts: List[Any] = [guard.script("lock") for guard in self._servers]
        self._quorum = _stanchion.fleet_quorum(len(servers))
        self._is_async = kinds == {True}

    # Properties ---------------------------------------------------------------------------

    @property
    def clients(self) -> List[Union[SyncClient, AsyncClient]]:
        """The redis-py clients, one per server."""
        return [guard.client for guard in self._servers]

    @property
    def is_async(self) -> bool:
        """Whether the clients are asyncio ones."""
        return self._is_async

    @property
    def quorum(self) -> int:
        """The servers that must agree: ``⌊N/2⌋ + 1``."""
        return self._quorum

    @property
    def prefix(self) -> str:
        """The prefix of every Redis key."""
        return self._core.prefix

    @property
    def timeout(self) -> float:
        """How long one call to one server may take, in seconds."""
        return self._core.timeout_ns / 1e9

    def redis_keys(self, name: str) -> Tuple[str, str]:
        """The Redis keys of lock ``name`` on every server (see ``FleetLock.redis_keys``)."""
        return self._core.redis_keys(name)

    def __repr__(self) -> str:
        return f"Redlock(servers={len(self._servers)}, ttl={self.ttl!r}, prefix={self.prefix!r})"

    def _need_kind(self, is_async: bool, name: str, instead: str) -> None:
        if is_async and not self._is_async:
            raise TypeError(
                f"{name} needs asyncio clients and this Redlock's are blocking: "
                f"call {instead}(...)"
            )
        if not is_async and self._is_async:
            raise TypeError(
                f"{name} needs blocking clients and this Redlock's are asyncio: "
                f"await {instead}(...)"
            )

    # Blocking clients ----------------------------------------------------------------------

    def acquire(
        self,
        name: str,
        wait: Optional[float] = None,
        *,
        keep: bool = False,
        on_lost: Optional[Callable[["LockLease[Any]"], object]] = None,
    ) -> LockLease[threading.Event]:
        """Takes lock ``name`` on a quorum, waiting up to ``wait`` seconds (default the
        lock's) while holders keep a quorum from forming, with ``FleetLock.acquire``'s waits.
        ``LockUnavailableError`` when too many servers fail to leave a quorum possible,
        ``LockQuorumError`` when the quorum was missed otherwise (with no wait). Blocking
        clients."""
        self._need_kind(False, "acquire", "acquire_async")
        callback = _keeper_callback(keep, on_lost)
        keys = self._core.redis_keys(name)
        waiter = self._core.waiter(_stanchion.monotonic_ns(), wait)
        while True:
            try:
                lease = self._attempt(name, keys, callback)
                break
            except LockHeldError as held:
                time.sleep(_pause(waiter, name, held, held.retry_after_ns))
            except LockQuorumError as missed:
                time.sleep(_pause(waiter, name, missed, None))
        if keep:
            keep_sync(lease, functools.partial(self._renew, lease))
        return lease

    def release(self, lease: LockLease[Any]) -> bool:
        """Stops the keeper, then releases the lease on every server: ``True`` if a quorum
        still held it. Blocking clients."""
        self._need_kind(False, "release", "release_async")
        stop_sync(lease)
        return self._release_everywhere(lease.name, lease.token) >= self._quorum

    def extend(self, lease: LockLease[Any], ttl: float) -> bool:
        """Sets the lease's remaining time to ``ttl`` on every server: ``True`` if a quorum
        still held it (then renewed to ``ttl`` from here on); ``LockUnavailableError`` when
        failing servers kept the quorum from answering. Blocking clients."""
        self._need_kind(False, "extend", "extend_async")
        argv, ttl_ns = self._core.extend_args(lease.token, ttl)
        still = self._judge_extend(self._each(lease.name, argv))
        if still:
            lease._ttl_ns = ttl_ns
        else:
            lose_sync(lease, gone(lease))
        return still

    def _renew(self, lease: LockLease[Any]) -> bool:
        argv, _ = self._core.extend_args(lease.token, _seconds(lease.ttl_ns))
        return self._judge_extend(self._each(lease.name, argv))

    def _each(self, name: str, argv: List[str]) -> List[Union[object, BaseException]]:
        """One call of the script on every server in turn: each reply, or its error."""
        keys = list(self._core.redis_keys(name))
        answers: List[Union[object, BaseException]] = []
        for guard, script in zip(self._servers, self._scripts):
            try:
                answers.append(guard.call(functools.partial(script, keys=keys, args=argv)))
            except FleetError as error:
                answers.append(error)
        return answers

    def _attempt(
        self, name: str, keys: Tuple[str, str], on_lost: Optional[OnLost]
    ) -> LockLease[threading.Event]:
        token = new_token()
        start = _stanchion.monotonic_ns()
        replies = self._each(name, self._core.acquire_args(token))
        elapsed = _stanchion.monotonic_ns() - start
        lease = self._granted(name, token, replies, elapsed, threading.Event(), on_lost)
        if isinstance(lease, LockLease):
            return lease
        # Every server, not only those that granted: a grant whose reply was lost is a lease
        # too.
        self._release_everywhere(name, token)
        raise lease

    def _release_everywhere(self, name: str, token: str) -> int:
        replies = self._each(name, self._core.release_args(token))
        return sum(1 for r in replies if not isinstance(r, BaseException) and _done(self._core, r))

    # Asyncio clients -----------------------------------------------------------------------

    async def acquire_async(
        self,
        name: str,
        wait: Optional[float] = None,
        *,
        keep: bool = False,
        on_lost: Optional[Callable[["LockLease[Any]"], object]] = None,
    ) -> LockLease[asyncio.Event]:
        """``acquire`` for asyncio clients, asking every server at once."""
        self._need_kind(True, "acquire_async", "acquire")
        callback = _keeper_callback(keep, on_lost)
        keys = self._core.redis_keys(name)
        waiter = self._core.waiter(_stanchion.monotonic_ns(), wait)
        while True:
            try:
                lease = await self._aattempt(name, keys, callback)
                break
            except LockHeldError as held:
                await asyncio.sleep(_pause(waiter, name, held, held.retry_after_ns))
            except LockQuorumError as missed:
                await asyncio.sleep(_pause(waiter, name, missed, None))
        if keep:
            keep_async(lease, functools.partial(self._arenew, lease))
        return lease

    async def release_async(self, lease: LockLease[Any]) -> bool:
        """``release`` for asyncio clients."""
        self._need_kind(True, "release_async", "release")
        await stop_async(lease)
        return await self._arelease_everywhere(lease.name, lease.token) >= self._quorum

    async def extend_async(self, lease: LockLease[Any], ttl: float) -> bool:
        """``extend`` for asyncio clients."""
        self._need_kind(True, "extend_async", "extend")
        argv, ttl_ns = self._core.extend_args(lease.token, ttl)
        still = self._judge_extend(await self._aeach(lease.name, argv))
        if still:
            lease._ttl_ns = ttl_ns
        else:
            await lose_async(lease, gone(lease))
        return still

    async def _arenew(self, lease: LockLease[Any]) -> bool:
        argv, _ = self._core.extend_args(lease.token, _seconds(lease.ttl_ns))
        return self._judge_extend(await self._aeach(lease.name, argv))

    async def _aeach(self, name: str, argv: List[str]) -> List[Union[object, BaseException]]:
        keys = list(self._core.redis_keys(name))

        async def one(guard: Guard, script: Any) -> Union[object, BaseException]:
            try:
                reply: object = await guard.acall(functools.partial(script, keys=keys, args=argv))
            except FleetError as error:
                return error
            return reply

        servers = zip(self._servers, self._scripts)
        return list(await asyncio.gather(*(one(guard, script) for guard, script in servers)))

    async def _aattempt(
        self, name: str, keys: Tuple[str, str], on_lost: Optional[OnLost]
    ) -> LockLease[asyncio.Event]:
        token = new_token()
        start = _stanchion.monotonic_ns()
        replies = await self._aeach(name, self._core.acquire_args(token))
        elapsed = _stanchion.monotonic_ns() - start
        lease = self._granted(name, token, replies, elapsed, asyncio.Event(), on_lost)
        if isinstance(lease, LockLease):
            return lease
        await self._arelease_everywhere(name, token)
        raise lease

    async def _arelease_everywhere(self, name: str, token: str) -> int:
        replies = await self._aeach(name, self._core.release_args(token))
        return sum(1 for r in replies if not isinstance(r, BaseException) and _done(self._core, r))

    # Decisions -----------------------------------------------------------------------------

    def _granted(
        self,
        name: str,
        token: str,
        replies: List[Union[object, BaseException]],
        elapsed_ns: int,
        lost: E,
        on_lost: Optional[OnLost],
    ) -> Union["LockLease[E]", BaseException]:
        """The lease if a quorum granted it with validity left, else the refusal to raise:
        ``LockUnavailableError`` when failing servers kept the quorum from forming,
        ``LockHeldError`` when holders did, ``LockQuorumError`` otherwise."""
        fences: List[int] = []
        held: List[Optional[int]] = []
        failures: List[BaseException] = []
        for reply in replies:
            if isinstance(reply, BaseException):
                failures.append(reply)
                continue
            try:
                acquired, value = _read(self._core, reply)
            except FleetError as error:
                failures.append(error)
                continue
            if acquired and value is not None:
                fences.append(value)
            else:
                held.append(value)
        ttl_ns = self._core.ttl_ns
        validity = _stanchion.fleet_redlock_validity(ttl_ns, elapsed_ns)
        if len(fences) >= self._quorum and validity is not None:
            fence = max(fences)
            return LockLease(name, token, ttl_ns, lost, on_lost, fence=fence, validity_ns=validity)
        servers = len(self._servers)
        if len(failures) > servers - self._quorum:
            refusal = LockUnavailableError(
                f"{len(failures)} of {servers} servers could not decide the lock {name!r} "
                f"({self._quorum} must agree): {failures[0]}"
            )
            refusal.__cause__ = failures[0]
            return refusal
        if held:
            known = [left for left in held if left is not None]
            return _held(name, min(known) if known else None)
        return LockQuorumError(
            f"{len(fences)} of {servers} servers granted the lease on {name!r} in time, "
            f"{self._quorum} are needed; it was released everywhere",
            len(fences),
            self._quorum,
        )

    def _judge_extend(self, replies: List[Union[object, BaseException]]) -> bool:
        kept = 0
        failures: List[BaseException] = []
        for reply in replies:
            if isinstance(reply, BaseException):
                failures.append(reply)
                continue
            try:
                kept += _done(self._core, reply)
            except FleetError as error:
                failures.append(error)
        if kept >= self._quorum:
            return True
        # Short of the quorum because servers failed, not because the lease had gone from
        # them: say so, with the first failure as the cause.
        if kept + len(failures) >= self._quorum:
            raise LockUnavailableError(
                f"{len(failures)} of {len(replies)} servers could not renew the lease: "
                f"{failures[0]}"
            ) from failures[0]
        return False

    # Idioms --------------------------------------------------------------------------------

    def __call__(
        self,
        name: str,
        *,
        wait: Optional[float] = None,
        on_lost: Optional[Callable[["LockLease[Any]"], object]] = None,
    ) -> LeaseHold[LockLease[threading.Event], LockLease[asyncio.Event]]:
        """Lock ``name`` held on a quorum for a block or a call, with a keeper renewing it on
        a quorum, as ``FleetLock.__call__``."""
        self._core.redis_keys(name)
        return LeaseHold(self, name, wait, on_lost)

    def _need(self, is_async: bool, name: str) -> None:
        need_kind("Redlock", name, self._is_async, is_async)

