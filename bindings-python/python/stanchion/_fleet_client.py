"""What every fleet primitive of ``stanchion.redis`` shares about the user's redis-py client:
which clients it takes, the bound a blocking client must put on its own reads, the scripts the
package ships, and the guard around every call (the call's timeout and the core's connection
breaker, one per client, deciding which failures are Redis being unavailable).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import sys
import threading
import weakref
from importlib import resources
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Dict, Optional, Protocol, Union, cast

from . import _stanchion
from ._clock import Clock
from ._errors import CircuitOpenError, ConfigError, FleetError, FleetUnavailableError, described

if TYPE_CHECKING:
    from .redis import AsyncClient, SyncClient

_log = logging.getLogger("stanchion")


@functools.lru_cache(maxsize=None)
def script_source(name: str) -> str:
    """The text of one of the fleet tier's scripts as this package ships it, which is the
    repository's ``redis/scripts/<name>.lua`` byte for byte.

    >>> "KEYS[1]" in script_source("gcra")
    True
    """
    if not name.isidentifier():
        raise ValueError(f"name must be a script's file name without .lua, got {name!r}")
    path = resources.files("stanchion") / "_scripts" / f"{name}.lua"
    return path.read_text(encoding="utf-8")


# Clients ------------------------------------------------------------------------------------

_CLIENTS = (
    "a redis-py client: redis.Redis, redis.cluster.RedisCluster, redis.asyncio.Redis or "
    "redis.asyncio.cluster.RedisCluster (not a pipeline)"
)


def redis_py() -> Any:
    """redis-py, imported when the first fleet primitive is made, so that ``import
    stanchion`` works without it."""
    try:
        import redis
        import redis.asyncio
        import redis.asyncio.cluster
        import redis.cluster
    except ImportError as missing:
        raise ImportError(
            "stanchion.redis needs redis-py: pip install 'stanchion[redis]'"
        ) from missing
    return redis


def kind(client: object) -> bool:
    """Whether ``client`` is an asyncio client; a ``TypeError`` naming ``client`` for anything
    but a redis-py client."""
    redis = redis_py()
    pipelines = (
        redis.client.Pipeline,
        redis.asyncio.client.Pipeline,
        redis.cluster.ClusterPipeline,
        redis.asyncio.cluster.ClusterPipeline,
    )
    if not isinstance(client, pipelines):
        if isinstance(client, (redis.Redis, redis.cluster.RedisCluster)):
            return False
        if isinstance(client, (redis.asyncio.Redis, redis.asyncio.cluster.RedisCluster)):
            return True
    raise TypeError(f"client must be {_CLIENTS}, got {described(client)}")


def _socket_setting(client: Any, name: str) -> Optional[float]:
    """A socket timeout of a blocking client as its connections get it: from the client's
    connection options, else the default of the connection class (a ``from_url`` client
    leaves the defaults out of its options)."""
    get = getattr(client, "get_connection_kwargs", None)
    kwargs: Dict[str, Any] = get() if get is not None else {}
    if name in kwargs:
        return cast(Optional[float], kwargs[name])
    pool = getattr(client, "connection_pool", None)
    # A cluster's node clients are made as `redis.Redis(**options)`.
    made_by = getattr(pool, "connection_class", None) or redis_py().Redis
    for klass in getattr(made_by, "__mro__", ()):
        init = klass.__dict__.get("__init__")
        try:
            parameter = inspect.signature(init).parameters.get(name) if init else None
        except (TypeError, ValueError):
            continue
        if parameter is not None and parameter.default is not parameter.empty:
            return cast(Optional[float], parameter.default)
    return None


def check_blocking_client(client: Any, timeout_ns: int, what: str = "limiter") -> None:
    """A blocking read cannot be interrupted, so a blocking client must bound its own calls:
    its socket timeouts (read and connect, which redis-py takes from the read timeout when
    unset) must be set and within the primitive's ``timeout``. ``what`` names the primitive
    in the message."""
    read = _socket_setting(client, "socket_timeout")
    connect = _socket_setting(client, "socket_connect_timeout")
    if connect is None:
        connect = read
    limit = timeout_ns / 1e9
    if read is None or connect is None or read > limit or connect > limit:
        raise ConfigError(
            "client",
            f"a blocking client whose socket_timeout and socket_connect_timeout are set and at "
            f"most the {what}'s timeout ({limit:g} s), since a blocking read cannot be "
            f"interrupted: e.g. redis.Redis(..., socket_timeout={limit:g}, "
            f"socket_connect_timeout={limit:g}), or an asyncio client, whose calls the {what} "
            f"cancels",
            "client",
            {"socket_timeout": read, "socket_connect_timeout": connect},
        )


# The breaker of each client ------------------------------------------------------------------

# Primitives sharing a client share the breaker that guards it, so a dead Redis opens it once
# for all of them. A primitive with a clock of its own (tests) gets the breaker of that client
# and clock.
_breakers: "weakref.WeakKeyDictionary[Any, Dict[Optional[Clock], _stanchion.CircuitBreaker]]" = (
    weakref.WeakKeyDictionary()
)
_breakers_lock = threading.Lock()


def _log_transition(client: str, old: str, new: str) -> None:
    level = logging.WARNING if new == "open" else logging.INFO
    _log.log(level, "stanchion.redis: the breaker of %s went %s -> %s", client, old, new)


def _named(client: Any) -> str:
    """The client as the log names it: its class and server address."""
    get = getattr(client, "get_connection_kwargs", None)
    kwargs: Dict[str, Any] = get() if get is not None else {}
    where = kwargs.get("path") or (
        f"{kwargs['host']}:{kwargs.get('port', 6379)}" if "host" in kwargs else None
    )
    name = f"{type(client).__module__}.{type(client).__qualname__}"
    return f"{name} at {where}" if where else name


def breaker_for(client: Any, clock: Optional[Clock]) -> _stanchion.CircuitBreaker:
    """The core's connection breaker (``fleet::connection_breaker()``) of ``client``, made at
    its first use."""
    on_transition = functools.partial(_log_transition, _named(client))
    with _breakers_lock:
        try:
            per_clock = _breakers.setdefault(client, {})
        except TypeError:  # not weakly referable: a breaker of its own
            return _stanchion.fleet_connection_breaker(clock, on_transition)
        breaker = per_clock.get(clock)
        if breaker is None:
            breaker = _stanchion.fleet_connection_breaker(clock, on_transition)
            per_clock[clock] = breaker
        return breaker


# What a failed call means ---------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def _stripped_codes() -> Dict[type, str]:
    """The error reply codes redis-py strips from the message and names by the exception's
    class instead (``READONLY`` becomes a ``ReadOnlyError`` saying "You can't write against a
    read only replica."), for redis-py releases whose errors do not keep the code."""
    try:
        from redis._parsers.base import BaseParser
    except ImportError:  # pragma: no cover - a layout this package was not tested with
        return {}
    return {
        klass: code
        for code, klass in BaseParser.EXCEPTION_CLASSES.items()
        if isinstance(klass, type)
    }


def reply_code(error: BaseException) -> str:
    """The code of an error reply: its first word (``READONLY``, ``WRONGTYPE``, ``ERR``), as
    the server sent it."""
    code = getattr(error, "status_code", None)  # kept by redis-py 6.2 and later
    if isinstance(code, str) and code:
        return code
    stripped = _stripped_codes().get(type(error))
    if stripped is not None:
        return stripped
    return str(error).split(" ", 1)[0]


def reply_text(error: BaseException) -> str:
    """An error reply as the server sent it, code first (redis-py strips the codes it knows
    from the message)."""
    text = str(error)
    code = reply_code(error)
    return text if text.split(" ", 1)[0] == code else f"{code} {text}"


def failure_kind(error: BaseException) -> Optional[str]:
    """What a call that raised ``error`` tells the connection's breaker: ``"unavailable"``
    when Redis could not decide (a connection error, a timeout, a cluster that cannot serve
    the slot, or an error reply the core lists in ``fleet::UNAVAILABLE_REPLIES``: loading, a
    read-only replica, out of memory, …), a failure; ``"reply"`` when Redis answered with an
    error waiting will not change (``WRONGTYPE``, a script's own error), a success; ``None``
    when the call did not end by Redis at all (cancelled, interrupted): nothing is recorded.

    >>> from redis.exceptions import ReadOnlyError, ResponseError
    >>> failure_kind(ReadOnlyError("You can't write against a read only replica."))
    'unavailable'
    >>> failure_kind(ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value"))
    'reply'
    """
    from redis import exceptions

    # An error reply is judged by its code first: ClusterDownError is a ClusterError as well.
    if isinstance(error, exceptions.ResponseError):
        return "unavailable" if _stanchion.fleet_is_unavailable_reply(reply_code(error)) else "reply"
    if isinstance(
        error,
        (
            # A connection error includes BusyLoadingError (LOADING) and the errors of a
            # connection's handshake (authentication), which redis-py raises as one.
            exceptions.ConnectionError,
            exceptions.TimeoutError,
            exceptions.ClusterError,
            exceptions.SlotNotCoveredError,
            asyncio.TimeoutError,
            TimeoutError,
            OSError,
        ),
    ):
        return "unavailable"
    if isinstance(error, exceptions.RedisError):
        return "reply"
    return None


def report_failure(permit: _stanchion.BreakerPermit, error: BaseException) -> Optional[str]:
    """Tells the breaker how a call that raised ``error`` ended, as ``failure_kind`` judges it
    (unavailable: a failure; an answering error reply: a success; neither: released, nothing
    recorded), and returns that judgement. Every fleet primitive's guard reports through it."""
    judged = failure_kind(error)
    if judged == "unavailable":
        permit.failure()
    elif judged == "reply":
        permit.success()
    else:
        permit.release()
    return judged


def reason(error: BaseException) -> str:
    """Why Redis could not decide, as a message says it."""
    if isinstance(error, CircuitOpenError):
        return f"the connection's breaker is open ({error})"
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


class Guard:
    """The guard around every call one fleet primitive makes: the breaker of its client (shared
    by every primitive on that client) admits the call, an asyncio call is cancelled after
    ``timeout`` (a blocking one is bounded by the client's own socket timeouts), and how the
    call ended is reported to the breaker as ``failure_kind`` judges it.

    A call Redis could not decide raises ``FleetUnavailableError`` with the Redis error (or
    the breaker's ``CircuitOpenError``, when no call was made) as its ``__cause__``; an error
    reply that is an answer raises ``FleetError`` with the reply as its cause. What a
    primitive does with an unavailable Redis (fall back, or let the error through) is its
    own.
    """

    __slots__ = ("client", "is_async", "breaker", "timeout", "_what")

    def __init__(
        self, client: Any, is_async: bool, clock: Optional[Clock], timeout_ns: int, what: str
    ) -> None:
        #: The redis-py client.
        self.client = client
        #: Whether the client is an asyncio one (``kind(client)``).
        self.is_async = is_async
        #: The breaker of the client.
        self.breaker = breaker_for(client, clock)
        #: How long one call may take, in seconds.
        self.timeout = timeout_ns / 1e9
        self._what = what

    def call(self, script: Callable[..., Any], keys: Any, args: Any) -> Any:
        """Runs ``script(keys=keys, args=args)`` on a blocking client."""
        permit = self._admit()
        try:
            reply = script(keys=keys, args=args)
        except BaseException as error:
            raised = self._ended(permit, error)
            if raised is error:
                raise
            raise raised from error
        permit.success()
        return reply

    async def acall(self, script: Callable[..., Awaitable[Any]], keys: Any, args: Any) -> Any:
        """Runs ``script(keys=keys, args=args)`` on an asyncio client, cancelled after the
        timeout."""
        permit = self._admit()
        try:
            reply = await bounded(script(keys=keys, args=args), self.timeout)
        except BaseException as error:
            raised = self._ended(permit, error)
            if raised is error:
                raise
            raise raised from error
        permit.success()
        return reply

    def _admit(self) -> _stanchion.BreakerPermit:
        try:
            return self.breaker.acquire()
        except CircuitOpenError as refused:
            raise FleetUnavailableError(f"Redis could not decide: {reason(refused)}") from refused

    def _ended(self, permit: _stanchion.BreakerPermit, error: BaseException) -> BaseException:
        """Reports the failed call to the breaker and returns what to raise."""
        judged = report_failure(permit, error)
        if judged == "unavailable":
            return FleetUnavailableError(f"Redis could not decide: {reason(error)}")
        if judged == "reply":
            return FleetError(f"Redis answered {self._what} with an error: {reply_text(error)}")
        return error


if sys.version_info >= (3, 11):

    async def bounded(call: Awaitable[Any], timeout: float) -> Any:
        """Awaits ``call``, cancelled after ``timeout`` seconds."""
        async with asyncio.timeout(timeout):
            return await call

else:  # pragma: no cover - Python < 3.11

    async def bounded(call: Awaitable[Any], timeout: float) -> Any:
        """Awaits ``call``, cancelled after ``timeout`` seconds."""
        return await asyncio.wait_for(call, timeout)


class _Guarded(Protocol):
    """What ``FleetPrimitive`` reads of a guard: this module's ``Guard`` or the lease one."""

    client: Union[SyncClient, AsyncClient]
    is_async: bool
    timeout: float
    breaker: _stanchion.CircuitBreaker


class _Prefixed(Protocol):
    """What ``FleetPrimitive`` reads of a native core."""

    @property
    def prefix(self) -> str: ...


class FleetPrimitive:
    """The read-only properties every fleet primitive on one client has, read from its guard
    (``_guard``) and its native core (``_core``)."""

    __slots__ = ()

    _guard: _Guarded
    _core: _Prefixed

    @property
    def client(self) -> Union[SyncClient, AsyncClient]:
        """The redis-py client."""
        return self._guard.client

    @property
    def is_async(self) -> bool:
        """Whether the client is an asyncio one."""
        return self._guard.is_async

    @property
    def prefix(self) -> str:
        """The prefix of every Redis key."""
        return self._core.prefix

    @property
    def timeout(self) -> float:
        """How long one call may take, in seconds."""
        return self._guard.timeout

    @property
    def breaker(self) -> _stanchion.CircuitBreaker:
        """The breaker that guards the client (shared by every fleet primitive on it)."""
        return self._guard.breaker
