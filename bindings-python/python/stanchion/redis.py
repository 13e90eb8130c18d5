"""The fleet tier on Redis: limits that a whole fleet of processes shares.

``FleetLimiter`` is the core's token bucket kept in Redis, so every process that names the same
key draws from one bucket. Each decision is one call of the script ``gcra.lua`` (shipped in
this package as it is in the repository's ``redis/scripts``): ``EVALSHA``, loading the script
when the server answers ``NOSCRIPT``. The user brings their own redis-py client, blocking
(``redis.Redis``, ``redis.cluster.RedisCluster``) or asyncio (``redis.asyncio.Redis``,
``redis.asyncio.cluster.RedisCluster``).

``FleetQuota`` is a stock of units (items, seats, credits) kept in Redis that a take never
drives below zero, charged once per request id however often a take is retried, spread over
buckets on different cluster slots for hot items, with local batches (``QuotaPool``) that hand
units out with no round trip. Its decisions are calls of ``quota.lua``. A quota never falls
back: when Redis cannot answer it raises ``FleetUnavailableError``.

What stays in the client is decided by the core (``stanchion::fleet``), as in every binding:
which keys, prefixes, buckets and timeouts are accepted; the circuit breaker that guards the
connection, so a dead Redis costs microseconds per call instead of a timeout each; and the
answer when Redis cannot give one, by ``on_unavailable``.

redis-py is imported when the first limiter or quota is made, so ``import stanchion`` works without it
(``pip install 'stanchion[redis]'`` brings it).
"""

from __future__ import annotations

import functools
from types import TracebackType
from typing import (
    TYPE_CHECKING,
    Any,
    Awaitable,
    Callable,
    Dict,
    Optional,
    Tuple,
    Type,
    TypeVar,
    Union,
    cast,
)

from . import _stanchion
from ._clock import Clock
from ._errors import FleetError, FleetUnavailableError, RateLimitedError, SoldOutError, described
from ._fleet_client import FleetPrimitive, Guard, check_blocking_client, kind, script_source
from ._fleet_quota import DEFAULT_BATCH, DEFAULT_ID_MEMORY, FleetQuota, QuotaPool, Taken
from ._wrap import is_async

if TYPE_CHECKING:
    import redis as _redis
    import redis.asyncio as _aredis
    import redis.asyncio.cluster as _acluster
    import redis.cluster as _cluster
    from typing_extensions import ParamSpec

    P = ParamSpec("P")
    #: A blocking redis-py client.
    SyncClient = Union["_redis.Redis", "_cluster.RedisCluster"]
    #: An asyncio redis-py client.
    AsyncClient = Union["_aredis.Redis", "_acluster.RedisCluster"]

R = TypeVar("R")

_DEFAULTS: Dict[str, Any] = _stanchion.fleet_defaults()
#: The prefix of every key unless ``prefix=`` says otherwise: ``"stanchion:"``.
DEFAULT_PREFIX: str = _DEFAULTS["default_prefix"]
#: How long one call to Redis may take unless ``timeout=`` says otherwise: 0.25 s.
DEFAULT_TIMEOUT: float = _DEFAULTS["default_call_timeout_ns"] / 1e9
#: What a limiter answers when Redis cannot, unless ``on_unavailable=`` says otherwise.
DEFAULT_ON_UNAVAILABLE: str = _DEFAULTS["default_on_unavailable"]

__all__ = [
    "DEFAULT_BATCH",
    "DEFAULT_ID_MEMORY",
    "DEFAULT_ON_UNAVAILABLE",
    "DEFAULT_PREFIX",
    "DEFAULT_TIMEOUT",
    "FleetDecision",
    "FleetError",
    "FleetKey",
    "FleetLimiter",
    "FleetQuota",
    "FleetUnavailableError",
    "QuotaPool",
    "SoldOutError",
    "Taken",
    "script_source",
]


class FleetDecision:
    """One answer of a ``FleetLimiter``: ``{allowed, remaining, retry_after, reset_after}``, as
    the local limiter's refusals and snapshots state them.

    ``source`` says who decided: ``"redis"``, or, when Redis could not, the ``on_unavailable``
    policy that answered (``"local"``, ``"allow"``, ``"deny"``), with the Redis error (or the
    breaker's ``CircuitOpenError``) in ``error``. A decision is true when allowed.

    >>> decision = FleetDecision(False, "rate_limited", 250_000_000, 0, 3_000_000_000, "redis")
    >>> bool(decision), decision.retry_after, decision.reset_after
    (False, 0.25, 3.0)
    """

    __slots__ = (
        "allowed",
        "reason",
        "retry_after_ns",
        "remaining",
        "reset_after_ns",
        "source",
        "error",
    )

    #: Whether the tokens were taken (for a peek: would be).
    allowed: bool
    #: ``None`` when allowed, else the core's reason: ``"rate_limited"``, or
    #: ``"insufficient_capacity"`` when ``n`` exceeds the capacity (never possible).
    reason: Optional[str]
    #: Nanoseconds after which the same request passes, or ``None`` (allowed, never possible,
    #: or a ``deny`` answer: nobody knows when Redis is back).
    retry_after_ns: Optional[int]
    #: Whole tokens left in the bucket after the decision; ``None`` when no bucket decided
    #: (``allow`` and ``deny``).
    remaining: Optional[int]
    #: Nanoseconds until the bucket is full again (0 when full); ``None`` as ``remaining``.
    reset_after_ns: Optional[int]
    #: ``"redis"``, ``"local"``, ``"allow"`` or ``"deny"``.
    source: str
    #: Why Redis did not decide, when it did not.
    error: Optional[BaseException]

    def __init__(
        self,
        allowed: bool,
        reason: Optional[str],
        retry_after_ns: Optional[int],
        remaining: Optional[int],
        reset_after_ns: Optional[int],
        source: str,
        error: Optional[BaseException] = None,
    ) -> None:
        self.allowed = allowed
        self.reason = reason
        self.retry_after_ns = retry_after_ns
        self.remaining = remaining
        self.reset_after_ns = reset_after_ns
        self.source = source
        self.error = error

    @property
    def retry_after(self) -> Optional[float]:
        """Seconds after which the same request passes, or ``None``."""
        return None if self.retry_after_ns is None else self.retry_after_ns / 1e9

    @property
    def reset_after(self) -> Optional[float]:
        """Seconds until the bucket is full again, or ``None``."""
        return None if self.reset_after_ns is None else self.reset_after_ns / 1e9

    def __bool__(self) -> bool:
        return self.allowed

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FleetDecision):
            return NotImplemented
        return self._fields() == other._fields()

    __hash__ = None  # type: ignore[assignment]

    def _fields(self) -> Tuple[Any, ...]:
        return (
            self.allowed,
            self.reason,
            self.retry_after_ns,
            self.remaining,
            self.reset_after_ns,
            self.source,
        )

    def refusal(self) -> Optional[RateLimitedError]:
        """The refusal as the local limiter raises it (``RateLimitedError`` with ``reason``
        and ``retry_after``), or ``None`` when allowed."""
        if self.allowed:
            return None
        reason = self.reason or "rate_limited"
        after = self.retry_after_ns
        message = reason if after is None else f"{reason}: retry after {after / 1e9:.9f} s"
        return RateLimitedError(message, reason, after)

    def __repr__(self) -> str:
        return (
            f"FleetDecision(allowed={self.allowed}, reason={self.reason!r}, "
            f"retry_after={self.retry_after!r}, remaining={self.remaining!r}, "
            f"reset_after={self.reset_after!r}, source={self.source!r})"
        )


# The limiter --------------------------------------------------------------------------------


class FleetLimiter(FleetPrimitive):
    """A token bucket per key, shared by every process that uses the same Redis, prefix and
    key: the core's ``TokenBucket`` (bursts of up to ``capacity``, ``refill_amount`` tokens
    every ``refill_every`` seconds), decided in Redis by one script call per request, on the
    server's clock.

    ``client`` is the caller's redis-py client. With a blocking one, call ``try_acquire``,
    ``acquire_nowait`` and ``peek``; with an asyncio one, ``await try_acquire_async``,
    ``acquire`` and ``peek_async``. ``limit(key_func)`` and ``for_key(key)`` decorate ``def``
    (blocking client) or ``async def`` (asyncio client), and ``for_key`` is a context manager.

    Every call is bounded: an asyncio call is cancelled after ``timeout`` seconds (default
    0.25 s); a blocking call cannot be interrupted, so a blocking client must have its
    ``socket_timeout`` and ``socket_connect_timeout`` set to at most ``timeout``, and is refused
    otherwise. A breaker (the core's connection breaker) guards the client: three failures in
    a row open it (connection errors, timeouts, and the error replies that mean the server
    cannot decide now, the core's ``fleet::UNAVAILABLE_REPLIES``: ``LOADING``, ``READONLY``,
    ``OOM``, …), and while it is open no call reaches Redis. When Redis cannot decide,
    ``on_unavailable`` answers: ``"raise"`` (the default: ``FleetUnavailableError`` with the
    Redis error as its cause), ``"local"`` (a local token bucket holding ``local_share`` of
    the fleet's limit), ``"allow"`` or ``"deny"``. Any other error reply (``WRONGTYPE``: the
    key holds something else) raises ``FleetError`` and counts as an answer.

    Keys are strings of 1 to 1024 bytes without ``{`` or ``}``: the Redis key is
    ``<prefix>{<key>}:limiter``, whose braces keep each call in one cluster slot. Limiters
    sharing a Redis share their keys' names, so give each its own ``prefix``. ``clock`` (a
    callable returning nanoseconds, for tests) is read by the breaker and the local stand-in
    only: the buckets in Redis keep the server's time.

    With ``client`` a ``redis.Redis(..., socket_timeout=0.25)``:

    >>> limiter = FleetLimiter(client, capacity=2, refill_every=60.0, prefix="doc:login:")
    >>> [bool(limiter.try_acquire("ann")) for _ in range(3)]
    [True, True, False]
    >>> limiter.try_acquire("ann").retry_after is not None
    True
    """

    __slots__ = ("_core", "_script", "_guard")

    _core: _stanchion.FleetLimiter
    _guard: Guard

    def __init__(
        self,
        client: Union[SyncClient, AsyncClient],
        *,
        capacity: int,
        refill_amount: int = 1,
        refill_every: float = 1.0,
        prefix: str = DEFAULT_PREFIX,
        timeout: float = DEFAULT_TIMEOUT,
        on_unavailable: str = DEFAULT_ON_UNAVAILABLE,
        local_share: Optional[float] = None,
        clock: Optional[Clock] = None,
    ) -> None:
        is_async = kind(client)
        config = {
            "capacity": capacity,
            "refill_amount": refill_amount,
            "refill_every": refill_every,
            "prefix": prefix,
            "timeout": timeout,
            "on_unavailable": on_unavailable,
            "local_share": local_share,
        }
        self._core = _stanchion.FleetLimiter(config, clock)
        if not is_async:
            check_blocking_client(client, self._core.timeout_ns)
        self._script: Any = client.register_script(script_source("gcra"))
        self._guard = Guard(client, is_async, clock, self._core.timeout_ns, "the limiter")

    # Properties ---------------------------------------------------------------------------

    @property
    def on_unavailable(self) -> str:
        """What answers when Redis cannot: ``"local"``, ``"allow"``, ``"deny"`` or
        ``"raise"``."""
        return self._core.on_unavailable

    def redis_key(self, key: str) -> str:
        """The Redis key of ``key``'s bucket: ``<prefix>{<key>}:limiter``.

        >>> FleetLimiter(client, capacity=1).redis_key("user:42")
        'stanchion:{user:42}:limiter'
        """
        return self._core.redis_key(key)

    def __repr__(self) -> str:
        core = self._core
        return (
            f"FleetLimiter(capacity={core.capacity}, refill_amount={core.refill_amount}, "
            f"refill_every={core.refill_every_ns / 1e9!r}, prefix={core.prefix!r}, "
            f"on_unavailable={core.on_unavailable!r})"
        )

    # Blocking clients ----------------------------------------------------------------------

    def try_acquire(self, key: str, n: int = 1) -> FleetDecision:
        """Takes ``n`` tokens of ``key`` now (by the server's clock) if it has them, and says
        so: a true ``FleetDecision``, or a false one with ``retry_after``. A refusal takes
        nothing. Blocking client.

        >>> decision = FleetLimiter(client, capacity=5, prefix="doc:try:").try_acquire("k", 2)
        >>> decision.allowed, decision.remaining, decision.source
        (True, 3, 'redis')
        """
        self._need_blocking("try_acquire", "try_acquire_async")
        return self._decide(key, n, False, None)

    def acquire_nowait(self, key: str, n: int = 1) -> FleetDecision:
        """``try_acquire``, raising the refusal: ``RateLimitedError`` with ``retry_after``
        (with the Redis error as its cause when ``on_unavailable="deny"`` refused). Blocking
        client.

        >>> limiter = FleetLimiter(client, capacity=1, refill_every=60.0, prefix="doc:now:")
        >>> limiter.acquire_nowait("k").remaining
        0
        >>> limiter.acquire_nowait("k")
        Traceback (most recent call last):
        ...
        stanchion._errors.RateLimitedError: rate_limited: retry after ...
        """
        self._need_blocking("acquire_nowait", "acquire")
        return _raised(self._decide(key, n, False, None))

    def peek(self, key: str, n: int = 1) -> FleetDecision:
        """What ``try_acquire`` would answer now, taking nothing; ``remaining`` and
        ``reset_after`` describe the bucket as it is. Blocking client.

        >>> FleetLimiter(client, capacity=3, prefix="doc:peek:").peek("k", 3).allowed
        True
        """
        self._need_blocking("peek", "peek_async")
        return self._decide(key, n, True, None)

    def _need_blocking(self, name: str, instead: str) -> None:
        if self._guard.is_async:
            raise TypeError(
                f"{name} needs a blocking client and this limiter's is asyncio: "
                f"await {instead}(...)"
            )

    def _decide(self, key: str, n: int, peek: bool, now_ns: Optional[int]) -> FleetDecision:
        redis_key, argv = self._core.request(key, n, peek, now_ns)
        try:
            reply = self._guard.call(self._script, [redis_key], argv)
        except FleetUnavailableError as unavailable:
            return self._fallback(n, unavailable)
        return self._read(reply, n)

    # Asyncio clients -----------------------------------------------------------------------

    async def try_acquire_async(self, key: str, n: int = 1) -> FleetDecision:
        """``try_acquire`` for an asyncio client, cancelled after ``timeout``."""
        self._need_async("try_acquire_async", "try_acquire")
        return await self._adecide(key, n, False, None)

    async def acquire(self, key: str, n: int = 1) -> FleetDecision:
        """``acquire_nowait`` for an asyncio client: raises ``RateLimitedError`` when
        refused."""
        self._need_async("acquire", "acquire_nowait")
        return _raised(await self._adecide(key, n, False, None))

    async def peek_async(self, key: str, n: int = 1) -> FleetDecision:
        """``peek`` for an asyncio client."""
        self._need_async("peek_async", "peek")
        return await self._adecide(key, n, True, None)

    def _need_async(self, name: str, instead: str) -> None:
        if not self._guard.is_async:
            raise TypeError(
                f"{name} needs an asyncio client and this limiter's is blocking: "
                f"call {instead}(...)"
            )

    async def _adecide(
        self, key: str, n: int, peek: bool, now_ns: Optional[int]
    ) -> FleetDecision:
        redis_key, argv = self._core.request(key, n, peek, now_ns)
        try:
            reply = await self._guard.acall(self._script, [redis_key], argv)
        except FleetUnavailableError as unavailable:
            return self._fallback(n, unavailable)
        return self._read(reply, n)

    # Answers -------------------------------------------------------------------------------

    def _read(self, reply: object, n: int) -> FleetDecision:
        try:
            return FleetDecision(*self._core.answer(reply, n))
        except ValueError as unexpected:
            raise FleetError(str(unexpected)) from unexpected

    def _fallback(self, n: int, unavailable: FleetUnavailableError) -> FleetDecision:
        """The ``on_unavailable`` answer, or ``unavailable`` raised under ``"raise"``."""
        answer = self._core.fallback(n)
        if answer is None:
            raise unavailable
        return FleetDecision(*answer, error=unavailable.__cause__)

    # Decorators and views ------------------------------------------------------------------

    def limit(self, key: Callable[..., str]) -> Callable[[Callable[P, R]], Callable[P, R]]:
        """A decorator taking a token of ``key(*args, **kwargs)`` before each call, raising
        ``RateLimitedError`` when refused: a ``def`` with a blocking client, an
        ``async def`` with an asyncio one.

        >>> limiter = FleetLimiter(client, capacity=1, refill_every=60.0, prefix="doc:limit:")
        >>> @limiter.limit(lambda user, text: user)
        ... def post(user: str, text: str) -> int:
        ...     return len(text)
        >>> post("ann", "hi")
        2
        """
        if not callable(key):
            raise TypeError(
                f"key must be a callable computing the key from the arguments, got {described(key)}"
            )

        def decorate(func: Callable[P, R]) -> Callable[P, R]:
            if is_async(func):
                self._need_async("an async def decorated by limit", "a def")
                afunc = cast(Callable[..., Awaitable[Any]], func)

                @functools.wraps(func)
                async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                    await self.acquire(key(*args, **kwargs))
                    return await afunc(*args, **kwargs)

                return cast("Callable[P, R]", async_wrapper)
            self._need_blocking("a def decorated by limit", "an async def")

            @functools.wraps(func)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                self.acquire_nowait(key(*args, **kwargs))
                return func(*args, **kwargs)

            return cast("Callable[P, R]", wrapper)

        return decorate

    def for_key(self, key: str) -> FleetKey:
        """One key of this limiter, shaped like the local ``RateLimiter``: a decorator, a
        context manager (``with`` for a blocking client, ``async with`` for an asyncio one)
        taking one token, and the same methods without the key.

        >>> logins = FleetLimiter(client, capacity=1, refill_every=60.0, prefix="doc:view:")
        >>> with logins.for_key("ann"):
        ...     pass
        """
        return FleetKey(self, key)


class FleetKey:
    """One key of a ``FleetLimiter`` (from ``for_key``): a decorator and a context manager
    taking one token per call or block, raising ``RateLimitedError`` when refused."""

    __slots__ = ("_limiter", "_key")

    def __init__(self, limiter: FleetLimiter, key: str) -> None:
        limiter.redis_key(key)  # a bad key fails here
        self._limiter = limiter
        self._key = key

    @property
    def key(self) -> str:
        """The key."""
        return self._key

    def try_acquire(self, n: int = 1) -> FleetDecision:
        """``FleetLimiter.try_acquire`` for this key."""
        return self._limiter.try_acquire(self._key, n)

    def acquire_nowait(self, n: int = 1) -> FleetDecision:
        """``FleetLimiter.acquire_nowait`` for this key."""
        return self._limiter.acquire_nowait(self._key, n)

    def peek(self, n: int = 1) -> FleetDecision:
        """``FleetLimiter.peek`` for this key."""
        return self._limiter.peek(self._key, n)

    async def try_acquire_async(self, n: int = 1) -> FleetDecision:
        """``FleetLimiter.try_acquire_async`` for this key."""
        return await self._limiter.try_acquire_async(self._key, n)

    async def acquire(self, n: int = 1) -> FleetDecision:
        """``FleetLimiter.acquire`` for this key."""
        return await self._limiter.acquire(self._key, n)

    async def peek_async(self, n: int = 1) -> FleetDecision:
        """``FleetLimiter.peek_async`` for this key."""
        return await self._limiter.peek_async(self._key, n)

    def __call__(self, func: Callable[P, R]) -> Callable[P, R]:
        """Takes a token of this key before each call of ``func``."""
        key = self._key
        return self._limiter.limit(lambda *args, **kwargs: key)(func)

    def __enter__(self) -> FleetKey:
        self.acquire_nowait()
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        return None

    async def __aenter__(self) -> FleetKey:
        await self.acquire()
        return self

    async def __aexit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        return None

    def __repr__(self) -> str:
        return f"FleetKey({self._limiter!r}, {self._key!r})"


def _raised(decision: FleetDecision) -> FleetDecision:
    refusal = decision.refusal()
    if refusal is not None:
        raise refusal from decision.error
    return decision


# Leases on Redis: the fleet bulkhead and the lock, in modules of their own built on the
# client handling above (the client checks, the breakers, the timeout guard).
from ._errors import (  # noqa: E402
    LeaseLostError,
    LockError,
    LockHeldError,
    LockQuorumError,
    LockReplicasError,
    LockTimeoutError,
    LockUnavailableError,
)
from ._fleet_lease import DEFAULT_LEASE, FleetSemaphore, Lease, LeaseHold, SemaphoreState  # noqa: E402
from ._fleet_lock import FleetLock, LockLease, Redlock  # noqa: E402

__all__ += [
    "DEFAULT_LEASE",
    "FleetLock",
    "FleetSemaphore",
    "Lease",
    "LeaseHold",
    "LeaseLostError",
    "LockError",
    "LockHeldError",
    "LockLease",
    "LockQuorumError",
    "LockReplicasError",
    "LockTimeoutError",
    "LockUnavailableError",
    "Redlock",
    "SemaphoreState",
]
