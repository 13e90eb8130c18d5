"""Leases on Redis: the fleet bulkhead (``FleetSemaphore``), and what it shares with the lock
(``_fleet_lock``): the lease a holder holds, the keeper that renews it, the guarded call and
the ``with`` / decorator idioms.

A lease is a random 128-bit token with an expiry on the server's clock (``semaphore.lua``,
``lock.lua``). Renewing or releasing checks the token first, so a holder that lost its lease
can neither extend nor free another's. The keeper renews every ``renew_every(ttl)`` (the
core's: a third of the lease time) and tells the holder at once when a renewal fails or finds
the lease gone; a release stops it first and waits for a renewal in flight, so no renewal
ever reaches Redis after the release.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import secrets
import threading
from types import TracebackType
from typing import (
    TYPE_CHECKING,
    Any,
    Awaitable,
    Callable,
    Generic,
    Optional,
    Tuple,
    Type,
    TypeVar,
    Union,
    cast,
)

from . import _stanchion
from ._errors import (
    BulkheadFullError,
    CircuitOpenError,
    ConfigError,
    FleetError,
    FleetUnavailableError,
    LeaseLostError,
    described,
)
from ._fleet_client import FleetPrimitive
from ._held import new_held
from ._wrap import is_async

if TYPE_CHECKING:
    from typing_extensions import ParamSpec

    from .redis import AsyncClient, SyncClient

    P = ParamSpec("P")

R = TypeVar("R")
#: The event a lease's ``lost`` is: a ``threading.Event`` with a blocking client, an
#: ``asyncio.Event`` with an asyncio one.
E = TypeVar("E", bound=Union[threading.Event, asyncio.Event])
#: The leases a primitive hands a blocking client and an asyncio one.
S = TypeVar("S", bound="Lease[threading.Event]")
A = TypeVar("A", bound="Lease[asyncio.Event]")

_log = logging.getLogger("stanchion")

# `stanchion.redis` exports this module's classes, so what this module takes from it (the
# client checks, the breakers, the timeout guard) is looked up when a primitive is made.
_FLEET_DEFAULTS = _stanchion.fleet_defaults()
DEFAULT_PREFIX: str = _FLEET_DEFAULTS["default_prefix"]
DEFAULT_TIMEOUT: float = _FLEET_DEFAULTS["default_call_timeout_ns"] / 1e9

_LEASE_DEFAULTS = _stanchion.fleet_lease_defaults()
#: A lease's time unless ``ttl=`` says otherwise: 30 s (the core's ``fleet::DEFAULT_LEASE``).
DEFAULT_LEASE: float = _LEASE_DEFAULTS["default_lease_ns"] / 1e9

#: An ``on_lost`` callback: called once with the lease, from the keeper's thread (blocking
#: clients) or task (asyncio clients, where it may also return an awaitable, awaited).
OnLost = Callable[[Any], object]


def new_token() -> str:
    """A lease's token: 128 bits from the operating system's random source (``secrets``), as
    32 lowercase hexadecimal digits, the form the scripts take."""
    return secrets.token_hex(16)


def check_on_lost(on_lost: object) -> Optional[OnLost]:
    if on_lost is not None and not callable(on_lost):
        raise TypeError(
            f"on_lost must be None or a callable taking the lease, got {described(on_lost)}"
        )
    return cast(Optional[OnLost], on_lost)


class Lease(Generic[E]):
    """A lease held on a fleet primitive: the name, a random 128-bit token, the lease time,
    and whether it was lost while held.

    ``lost`` is set the moment a renewal finds the lease gone or fails (a ``threading.Event``
    with a blocking client, an ``asyncio.Event`` with an asyncio one), and ``lost_error`` then
    says why (a ``LeaseLostError``). Work that must not outlive the lease watches it.

    >>> lease = Lease("exports", new_token(), 10_000_000_000, threading.Event())
    >>> lease.name, lease.ttl, len(lease.token), lease.held
    ('exports', 10.0, 32, True)
    """

    __slots__ = (
        "_name",
        "_token",
        "_ttl_ns",
        "_lost",
        "_lost_error",
        "_released",
        "_keeper",
        "_on_lost",
        "_lock",
    )

    def __init__(
        self,
        name: str,
        token: str,
        ttl_ns: int,
        lost: E,
        on_lost: Optional[OnLost] = None,
    ) -> None:
        self._name = name
        self._token = token
        self._ttl_ns = ttl_ns
        self._lost: E = lost
        self._lost_error: Optional[LeaseLostError] = None
        self._released = False
        self._keeper: Union[None, _ThreadKeeper, _TaskKeeper] = None
        self._on_lost = on_lost
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        """The name the lease is on."""
        return self._name

    @property
    def token(self) -> str:
        """The holder's token: 32 lowercase hexadecimal digits. Whoever has it can release
        the lease."""
        return self._token

    @property
    def ttl(self) -> float:
        """The lease time in seconds: each renewal sets the expiry this far ahead."""
        return self._ttl_ns / 1e9

    @property
    def ttl_ns(self) -> int:
        """The lease time in nanoseconds."""
        return self._ttl_ns

    @property
    def lost(self) -> E:
        """Set once the lease is known to be lost: a renewal found it gone or failed, or the
        release found it gone."""
        return self._lost

    @property
    def lost_error(self) -> Optional[LeaseLostError]:
        """Why the lease was lost (its ``__cause__`` the failure, when a renewal failed), or
        ``None``."""
        return self._lost_error

    @property
    def released(self) -> bool:
        """Whether the holder released the lease (or tried to)."""
        return self._released

    @property
    def held(self) -> bool:
        """Neither released nor known to be lost. (A lease not kept may have expired since.)"""
        return not self._released and self._lost_error is None

    def _lose(self, error: LeaseLostError) -> bool:
        """Marks the lease lost, once: sets ``lost`` and answers whether this call did (and
        so must call ``on_lost``)."""
        with self._lock:
            if self._lost_error is not None:
                return False
            self._lost_error = error
        self._lost.set()
        return True

    def _describe(self) -> str:
        return f"name={self._name!r}, ttl={self.ttl!r}"

    def __repr__(self) -> str:
        state = "lost" if self._lost_error else "released" if self._released else "held"
        return f"{type(self).__name__}({self._describe()}, {state})"


def gone(lease: "Lease[Any]") -> LeaseLostError:
    return LeaseLostError(
        f"the lease on {lease.name!r} is no longer held: it expired or another holder has it",
        True,
    )


def failed(lease: "Lease[Any]", error: BaseException) -> LeaseLostError:
    lost = LeaseLostError(f"a renewal of the lease on {lease.name!r} failed: {error}", False)
    lost.__cause__ = error
    return lost


def _report(lease: "Lease[Any]", error: LeaseLostError) -> Any:
    """Marks ``lease`` lost and calls its ``on_lost`` (once); what the callback returned."""
    if not lease._lose(error) or lease._on_lost is None:
        return None
    try:
        return lease._on_lost(lease)
    except Exception:
        _log.exception("stanchion.redis: on_lost of the lease on %r raised", lease.name)
        return None


def lose_sync(lease: "Lease[Any]", error: LeaseLostError) -> None:
    result = _report(lease, error)
    if inspect.isawaitable(result):
        # A blocking client's keeper has no loop to run it on.
        close = getattr(result, "close", None)
        if close is not None:
            close()


async def lose_async(lease: "Lease[Any]", error: LeaseLostError) -> None:
    result = _report(lease, error)
    if inspect.isawaitable(result):
        try:
            await result
        except Exception:
            _log.exception("stanchion.redis: on_lost of the lease on %r raised", lease.name)


# The keeper ---------------------------------------------------------------------------------


class _ThreadKeeper:
    """Renews a lease from a daemon thread, every ``renew_every`` of its (current) time,
    until stopped or until a renewal does not answer ``True``."""

    __slots__ = ("_lease", "_renew", "_stop", "_thread")

    def __init__(self, lease: "Lease[Any]", renew: Callable[[], bool]) -> None:
        self._lease = lease
        self._renew = renew
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"stanchion lease keeper ({lease.name})", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        lease = self._lease
        while not self._stop.wait(_stanchion.fleet_renew_every(lease.ttl_ns) / 1e9):
            if self._stop.is_set():
                return
            try:
                still = self._renew()
            except Exception as error:
                lose_sync(lease, failed(lease, error))
                return
            if not still:
                lose_sync(lease, gone(lease))
                return

    def stop(self) -> None:
        """Stops the keeper and waits until it has: a renewal in flight finishes first (it
        is bounded by the client's socket timeout), and none starts after."""
        self._stop.set()
        if threading.current_thread() is not self._thread:
            self._thread.join()


class _TaskKeeper:
    """``_ThreadKeeper`` as an asyncio task of the loop that acquired the lease."""

    __slots__ = ("_lease", "_renew", "_stop", "_task")

    def __init__(self, lease: "Lease[Any]", renew: Callable[[], Awaitable[bool]]) -> None:
        self._lease = lease
        self._renew = renew
        self._stop = asyncio.Event()
        self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        lease = self._lease
        while True:
            try:
                every = _stanchion.fleet_renew_every(lease.ttl_ns) / 1e9
                await asyncio.wait_for(self._stop.wait(), every)
                return
            except asyncio.TimeoutError:
                pass
            if self._stop.is_set():
                return
            try:
                still = await self._renew()
            except Exception as error:
                await lose_async(lease, failed(lease, error))
                return
            if not still:
                await lose_async(lease, gone(lease))
                return

    async def stop(self) -> None:
        """Stops the keeper and waits until it has; a renewal in flight (bounded by the
        call timeout) finishes first, and none starts after."""
        self._stop.set()
        if asyncio.current_task() is not self._task:
            # `wait` neither raises what the task raised nor cancels it if this is cancelled.
            await asyncio.wait({self._task})


def keep_sync(lease: "Lease[Any]", renew: Callable[[], bool]) -> None:
    lease._keeper = _ThreadKeeper(lease, renew)


def keep_async(lease: "Lease[Any]", renew: Callable[[], Awaitable[bool]]) -> None:
    lease._keeper = _TaskKeeper(lease, renew)


def stop_sync(lease: "Lease[Any]") -> None:
    """Marks the lease released and stops its keeper, waiting for a renewal in flight."""
    lease._released = True
    keeper, lease._keeper = lease._keeper, None
    if isinstance(keeper, _ThreadKeeper):
        keeper.stop()


async def stop_async(lease: "Lease[Any]") -> None:
    lease._released = True
    keeper, lease._keeper = lease._keeper, None
    if isinstance(keeper, _TaskKeeper):
        await keeper.stop()
    elif isinstance(keeper, _ThreadKeeper):
        keeper.stop()


# The guarded call ---------------------------------------------------------------------------


def check_client(client: object) -> bool:
    """Whether ``client`` is an asyncio redis-py client; a ``TypeError`` for anything but a
    redis-py client, as ``FleetLimiter`` says it."""
    from . import _fleet_client as fleet

    return fleet.kind(client)


class Guard:
    """The calls of one primitive to one client: through the client's breaker (the one its
    limiters share, from ``stanchion.redis``), bounded by the timeout, and classified as the
    limiter classifies them (``_fleet_client.failure_kind``): an unavailability (a connection
    error, a timeout, an error reply of the core's ``UNAVAILABLE_REPLIES``, the breaker open)
    raises ``unavailable``, any other error reply ``FleetError``; a primitive of leases never
    falls back."""

    __slots__ = (
        "client",
        "is_async",
        "breaker",
        "timeout",
        "what",
        "_error",
        "_fleet",
    )

    def __init__(
        self,
        client: Union[SyncClient, AsyncClient],
        timeout_ns: int,
        what: str,
        error: Type[FleetUnavailableError] = FleetUnavailableError,
    ) -> None:
        from . import _fleet_client as fleet

        self._fleet = fleet
        self.is_async = fleet.kind(client)
        if not self.is_async:
            try:
                fleet.check_blocking_client(client, timeout_ns)
            except ConfigError as refused:
                # The rule is the limiter's, worded for it.
                allowed = refused.allowed.replace("limiter", what)
                raise ConfigError(refused.parameter, allowed, refused.field, refused.got) from None
        self.client = client
        self.breaker = fleet.breaker_for(client, None)
        self.timeout = timeout_ns / 1e9
        self.what = what
        self._error = error

    def script(self, name: str) -> Any:
        """The client's ``Script`` of ``redis/scripts/<name>.lua``: ``EVALSHA``, loading it on
        ``NOSCRIPT``."""
        return self.client.register_script(self._fleet.script_source(name))

    def _failed(self, error: BaseException) -> FleetUnavailableError:
        reason = self._fleet.reason(error)
        failure = self._error(f"Redis could not decide the {self.what}: {reason}")
        failure.__cause__ = error
        return failure

    def _answered(self, error: BaseException) -> FleetError:
        failure = FleetError(f"Redis answered the {self.what} with an error: {error}")
        failure.__cause__ = error
        return failure

    def _raise_for(self, permit: Any, error: BaseException) -> None:
        """Reports the failed call as every fleet call is reported
        (``_fleet_client.report_failure``), and raises this primitive's error for it; returns
        when the call ended otherwise (cancelled), for the caller to re-raise."""
        judged = self._fleet.report_failure(permit, error)
        if judged == "unavailable":
            raise self._failed(error) from error
        if judged == "reply":
            raise self._answered(error) from error

    def call(self, send: Callable[[], Any]) -> Any:
        try:
            permit = self.breaker.acquire()
        except CircuitOpenError as refused:
            raise self._failed(refused) from refused
        try:
            reply = send()
        except BaseException as error:
            self._raise_for(permit, error)
            raise
        permit.success()
        return reply

    async def acall(
        self, send: Callable[[], Awaitable[Any]], timeout: Optional[float] = None
    ) -> Any:
        try:
            permit = self.breaker.acquire()
        except CircuitOpenError as refused:
            raise self._failed(refused) from refused
        try:
            reply = await self._fleet.bounded(send(), self.timeout if timeout is None else timeout)
        except BaseException as error:
            self._raise_for(permit, error)
            raise
        permit.success()
        return reply

    def need_blocking(self, name: str, instead: str) -> None:
        if self.is_async:
            raise TypeError(
                f"{name} needs a blocking client and this {self.what}'s is asyncio: "
                f"await {instead}(...)"
            )

    def need_async(self, name: str, instead: str) -> None:
        if not self.is_async:
            raise TypeError(
                f"{name} needs an asyncio client and this {self.what}'s is blocking: "
                f"call {instead}(...)"
            )


# The idioms ---------------------------------------------------------------------------------


def need_kind(what: str, name: str, client_is_async: bool, wants_async: bool) -> None:
    """A ``TypeError`` when an idiom for one kind of client (``with``, a ``def``) meets the
    other."""
    if wants_async and not client_is_async:
        raise TypeError(
            f"{name} needs an asyncio client and this {what}'s is blocking: use with, or "
            f"decorate a def"
        )
    if client_is_async and not wants_async:
        raise TypeError(
            f"{name} needs a blocking client and this {what}'s is asyncio: use async with, or "
            f"decorate an async def"
        )


class _Holder(Generic[S, A]):
    """What a ``LeaseHold`` needs of its primitive."""

    __slots__ = ()

    def _hold(self, name: str, wait: Optional[float], on_lost: Optional[OnLost]) -> S:
        raise NotImplementedError

    async def _hold_async(self, name: str, wait: Optional[float], on_lost: Optional[OnLost]) -> A:
        raise NotImplementedError

    def _unhold(self, lease: S) -> bool:
        raise NotImplementedError

    async def _unhold_async(self, lease: A) -> bool:
        raise NotImplementedError

    def _need(self, is_async: bool, name: str) -> None:
        raise NotImplementedError


class LeaseHold(Generic[S, A]):
    """A lease held for a block or a call, with a keeper renewing it meanwhile: a context
    manager (``with`` for a blocking client, ``async with`` for an asyncio one) giving the
    lease, and a decorator (``def`` with a blocking client, ``async def`` with an asyncio one).

    At the end the keeper is stopped and the lease released. If the lease was lost while
    held (a renewal found it gone or failed, or the release found it gone), the block or call
    ends with ``LeaseLostError``, unless it raised something else: the work ran, at least in
    part, without the lease. ``lease.lost`` and ``on_lost`` say so the moment the keeper
    knows. A block may release its lease early (``release(lease)``); its end then releases
    nothing.
    """

    __slots__ = ("_owner", "_name", "_wait", "_on_lost", "_held")

    def __init__(
        self, owner: _Holder[S, A], name: str, wait: Optional[float], on_lost: Optional[OnLost]
    ) -> None:
        self._owner = owner
        self._name = name
        self._wait = wait
        self._on_lost = check_on_lost(on_lost)
        self._held = new_held("stanchion.redis.LeaseHold")

    @property
    def name(self) -> str:
        """The name held."""
        return self._name

    def __enter__(self) -> S:
        self._owner._need(False, "with")
        lease = self._owner._hold(self._name, self._wait, self._on_lost)
        self._held.set((lease, self._held.get()))
        return lease

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        stack = self._held.get()
        assert stack is not None, "__exit__ without __enter__"
        lease, rest = stack
        self._held.set(rest)
        try:
            # A block that released its lease itself leaves nothing to release.
            still = lease.released or self._owner._unhold(lease)
        except Exception:
            if exc is not None:
                return None  # the block's own error goes on
            if lease.lost_error is not None:
                raise lease.lost_error  # keeps its cause: what the renewal met
            raise
        if not still:
            # Gone at the release: lost while the block ran, whether or not a renewal saw it.
            lose_sync(lease, gone(lease))
        if exc is None and lease.lost_error is not None:
            raise lease.lost_error

    async def __aenter__(self) -> A:
        self._owner._need(True, "async with")
        lease = await self._owner._hold_async(self._name, self._wait, self._on_lost)
        self._held.set((lease, self._held.get()))
        return lease

    async def __aexit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        stack = self._held.get()
        assert stack is not None, "__aexit__ without __aenter__"
        lease, rest = stack
        self._held.set(rest)
        try:
            still = lease.released or await self._owner._unhold_async(lease)
        except Exception:
            if exc is not None:
                return None
            if lease.lost_error is not None:
                raise lease.lost_error  # keeps its cause: what the renewal met
            raise
        if not still:
            await lose_async(lease, gone(lease))
        if exc is None and lease.lost_error is not None:
            raise lease.lost_error

    def __call__(self, func: Callable[P, R]) -> Callable[P, R]:
        """Holds the lease around each call of ``func``."""
        if is_async(func):
            self._owner._need(True, "an async def decorated by a lease")
            afunc = cast(Callable[..., Awaitable[Any]], func)

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                async with self:
                    return await afunc(*args, **kwargs)

            return cast("Callable[P, R]", async_wrapper)
        self._owner._need(False, "a def decorated by a lease")

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self:
                return func(*args, **kwargs)

        return cast("Callable[P, R]", wrapper)

    def __repr__(self) -> str:
        return f"LeaseHold({self._owner!r}, {self._name!r})"


# The fleet bulkhead -------------------------------------------------------------------------


class SemaphoreState:
    """The leases of a ``FleetSemaphore``'s name as one call found them: ``holders`` held now,
    and ``next_expiry_in`` seconds until the earliest expires unless renewed or released
    (``None`` when none is held).

    >>> SemaphoreState(2, 4_000_000_000)
    SemaphoreState(holders=2, next_expiry_in=4.0)
    """

    __slots__ = ("holders", "next_expiry_in_ns")

    #: The leases held.
    holders: int
    #: Nanoseconds until the earliest lease expires, or ``None``.
    next_expiry_in_ns: Optional[int]

    def __init__(self, holders: int, next_expiry_in_ns: Optional[int]) -> None:
        self.holders = holders
        self.next_expiry_in_ns = next_expiry_in_ns

    @property
    def next_expiry_in(self) -> Optional[float]:
        """Seconds until the earliest lease expires unless renewed or released, or
        ``None``."""
        return None if self.next_expiry_in_ns is None else self.next_expiry_in_ns / 1e9

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SemaphoreState):
            return NotImplemented
        return (self.holders, self.next_expiry_in_ns) == (other.holders, other.next_expiry_in_ns)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"SemaphoreState(holders={self.holders}, next_expiry_in={self.next_expiry_in!r})"


class FleetSemaphore(
    _Holder["Lease[threading.Event]", "Lease[asyncio.Event]"], FleetPrimitive
):
    """A bulkhead shared by the fleet: at most ``limit`` holders of a name at once across
    every process that uses the same Redis, prefix and name (``semaphore.lua``).

    Each holder holds a ``Lease``: a random 128-bit token with an expiry ``ttl`` seconds ahead
    on the server's clock (default 30 s, kept in whole milliseconds). A holder that crashes or
    stops renewing frees its slot one lease time after its last renewal at the latest: the
    next call reclaims it. ``release`` frees the slot at once; ``renew`` sets the expiry to
    ``ttl`` from now (never adding to what is left); both check the token. A full semaphore
    raises ``BulkheadFullError`` (``retry_after`` ``None``: a lease that is renewed does not
    free its slot at its expiry).

    ``with sem(name) as lease:`` (``async with`` for an asyncio client) and ``@sem(name)``
    hold a slot with a keeper renewing it every third of ``ttl``; ``try_acquire(name,
    keep=True)`` starts one on a lease acquired by hand. When Redis cannot decide (a
    connection error, a timeout, the breaker of the client open) every call raises
    ``FleetUnavailableError``: a fleet bulkhead never guesses. Calls are bounded as the
    limiter's are (``timeout``; a blocking client's socket timeouts must be set within it).

    With ``client`` a ``redis.Redis(..., socket_timeout=0.25)``:

    >>> exports = FleetSemaphore(client, limit=2, ttl=10.0, prefix="doc:sem:")
    >>> with exports("nightly") as lease:
    ...     exports.holders("nightly").holders
    1
    >>> a, b = exports.try_acquire("nightly"), exports.try_acquire("nightly")
    >>> exports.try_acquire("nightly")
    Traceback (most recent call last):
    ...
    stanchion._errors.BulkheadFullError: bulkhead_full (2 leases held)
    >>> exports.release(a), exports.release(a)
    (True, False)
    """

    __slots__ = ("_core", "_guard", "_script")

    _core: _stanchion.FleetSemaphore
    _guard: Guard

    def __init__(
        self,
        client: Union[SyncClient, AsyncClient],
        *,
        limit: int,
        ttl: Optional[float] = None,
        prefix: str = DEFAULT_PREFIX,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        check_client(client)  # a client of the wrong kind fails before its options
        config = {"limit": limit, "ttl": ttl, "prefix": prefix, "timeout": timeout}
        self._core = _stanchion.FleetSemaphore(config)
        self._guard = Guard(client, self._core.timeout_ns, "semaphore")
        self._script: Any = self._guard.script("semaphore")

    # Properties ---------------------------------------------------------------------------

    @property
    def limit(self) -> int:
        """The most leases held at once."""
        return self._core.limit

    @property
    def ttl(self) -> float:
        """The lease time in seconds, a whole number of milliseconds."""
        return self._core.ttl_ns / 1e9

    def redis_key(self, name: str) -> str:
        """The Redis key of semaphore ``name``: ``<prefix>{<name>}:semaphore``, a sorted set
        of the leases' tokens scored by their expiries.

        >>> FleetSemaphore(client, limit=1).redis_key("exports")
        'stanchion:{exports}:semaphore'
        """
        return self._core.redis_key(name)

    def __repr__(self) -> str:
        return f"FleetSemaphore(limit={self.limit}, ttl={self.ttl!r}, prefix={self.prefix!r})"

    # Blocking clients ----------------------------------------------------------------------

    def try_acquire(
        self,
        name: str,
        *,
        keep: bool = False,
        on_lost: Optional[Callable[["Lease[Any]"], object]] = None,
    ) -> Lease[threading.Event]:
        """A slot of ``name`` now, as a new lease, or ``BulkheadFullError`` when ``limit``
        leases are held. With ``keep=True`` a keeper thread renews the lease until it is
        released (``on_lost`` is then called if it is lost). Blocking client.

        >>> sem = FleetSemaphore(client, limit=1, ttl=5.0, prefix="doc:try:")
        >>> lease = sem.try_acquire("jobs", keep=True)
        >>> lease.held, sem.release(lease), lease.held
        (True, True, False)
        """
        self._guard.need_blocking("try_acquire", "try_acquire_async")
        on_lost = _keeper_callback(keep, on_lost)
        lease = Lease(name, new_token(), self._core.ttl_ns, threading.Event(), on_lost)
        self._take(lease, None)
        if keep:
            keep_sync(lease, functools.partial(self._renew_quietly, lease))
        return lease

    def renew(self, lease: Lease[Any]) -> bool:
        """Sets ``lease``'s expiry to the lease time from now if it is still held, and says
        whether it was: ``False`` means it expired or was released, and another holder may
        have the slot (``lease.lost`` is then set). Blocking client.

        >>> sem = FleetSemaphore(client, limit=1, prefix="doc:renew:")
        >>> sem.renew(sem.try_acquire("jobs"))
        True
        """
        self._guard.need_blocking("renew", "renew_async")
        still = self._renew_quietly(lease)
        if not still:
            lose_sync(lease, gone(lease))
        return still

    def release(self, lease: Lease[Any]) -> bool:
        """Stops the lease's keeper (waiting for a renewal in flight), then frees its slot at
        once if it is still held, and says whether it was. Blocking client.

        >>> sem = FleetSemaphore(client, limit=1, prefix="doc:release:")
        >>> sem.release(sem.try_acquire("jobs"))
        True
        """
        self._guard.need_blocking("release", "release_async")
        stop_sync(lease)
        return self._call("release", lease.name, lease.token, None)[0]

    def holders(self, name: str) -> SemaphoreState:
        """The leases of ``name`` held now (expired ones reclaimed first). Blocking client.

        >>> FleetSemaphore(client, limit=3, prefix="doc:holders:").holders("jobs")
        SemaphoreState(holders=0, next_expiry_in=None)
        """
        self._guard.need_blocking("holders", "holders_async")
        return self._call("holders", name, "", None)[1]

    def _take(self, lease: Lease[Any], now_ns: Optional[int]) -> SemaphoreState:
        ok, state = self._call("acquire", lease.name, lease.token, now_ns)
        if not ok:
            raise _full(state)
        return state

    def _renew_quietly(self, lease: Lease[Any]) -> bool:
        return self._call("renew", lease.name, lease.token, None)[0]

    def _call(
        self, op: str, name: str, token: str, now_ns: Optional[int]
    ) -> Tuple[bool, SemaphoreState]:
        key, argv = self._core.request(op, name, token, now_ns)
        reply = self._guard.call(lambda: self._script(keys=[key], args=argv))
        return self._read(reply)

    # Asyncio clients -----------------------------------------------------------------------

    async def try_acquire_async(
        self,
        name: str,
        *,
        keep: bool = False,
        on_lost: Optional[Callable[["Lease[Any]"], object]] = None,
    ) -> Lease[asyncio.Event]:
        """``try_acquire`` for an asyncio client: the keeper is a task of the running loop,
        and ``lease.lost`` an ``asyncio.Event``."""
        self._guard.need_async("try_acquire_async", "try_acquire")
        on_lost = _keeper_callback(keep, on_lost)
        lease = Lease(name, new_token(), self._core.ttl_ns, asyncio.Event(), on_lost)
        await self._atake(lease, None)
        if keep:
            keep_async(lease, functools.partial(self._arenew_quietly, lease))
        return lease

    async def renew_async(self, lease: Lease[Any]) -> bool:
        """``renew`` for an asyncio client."""
        self._guard.need_async("renew_async", "renew")
        still = await self._arenew_quietly(lease)
        if not still:
            await lose_async(lease, gone(lease))
        return still

    async def release_async(self, lease: Lease[Any]) -> bool:
        """``release`` for an asyncio client."""
        self._guard.need_async("release_async", "release")
        await stop_async(lease)
        return (await self._acall("release", lease.name, lease.token, None))[0]

    async def holders_async(self, name: str) -> SemaphoreState:
        """``holders`` for an asyncio client."""
        self._guard.need_async("holders_async", "holders")
        return (await self._acall("holders", name, "", None))[1]

    async def _atake(self, lease: Lease[Any], now_ns: Optional[int]) -> SemaphoreState:
        ok, state = await self._acall("acquire", lease.name, lease.token, now_ns)
        if not ok:
            raise _full(state)
        return state

    async def _arenew_quietly(self, lease: Lease[Any]) -> bool:
        return (await self._acall("renew", lease.name, lease.token, None))[0]

    async def _acall(
        self, op: str, name: str, token: str, now_ns: Optional[int]
    ) -> Tuple[bool, SemaphoreState]:
        key, argv = self._core.request(op, name, token, now_ns)
        reply = await self._guard.acall(lambda: self._script(keys=[key], args=argv))
        return self._read(reply)

    def _read(self, reply: object) -> Tuple[bool, SemaphoreState]:
        try:
            ok, holders, next_expiry_ns = self._core.answer(reply)
        except ValueError as unexpected:
            raise FleetError(str(unexpected)) from unexpected
        return ok, SemaphoreState(holders, next_expiry_ns)

    # Idioms --------------------------------------------------------------------------------

    def __call__(
        self, name: str, *, on_lost: Optional[Callable[["Lease[Any]"], object]] = None
    ) -> LeaseHold[Lease[threading.Event], Lease[asyncio.Event]]:
        """A slot of ``name`` held for a block or a call, with a keeper renewing it: ``with``
        / ``async with`` (giving the ``Lease``) and a decorator. A full semaphore raises
        ``BulkheadFullError`` before the block runs.

        >>> reports = FleetSemaphore(client, limit=1, ttl=5.0, prefix="doc:hold:")
        >>> @reports("monthly")
        ... def build() -> str:
        ...     return "done"
        >>> build()
        'done'
        """
        self.redis_key(name)  # a bad name fails here
        return LeaseHold(self, name, None, on_lost)

    def _need(self, is_async: bool, name: str) -> None:
        need_kind("semaphore", name, self._guard.is_async, is_async)

    def _hold(
        self, name: str, wait: Optional[float], on_lost: Optional[OnLost]
    ) -> Lease[threading.Event]:
        return self.try_acquire(name, keep=True, on_lost=on_lost)

    async def _hold_async(
        self, name: str, wait: Optional[float], on_lost: Optional[OnLost]
    ) -> Lease[asyncio.Event]:
        return await self.try_acquire_async(name, keep=True, on_lost=on_lost)

    def _unhold(self, lease: Lease[threading.Event]) -> bool:
        return self.release(lease)

    async def _unhold_async(self, lease: Lease[asyncio.Event]) -> bool:
        return await self.release_async(lease)


def _keeper_callback(keep: bool, on_lost: object) -> Optional[OnLost]:
    callback = check_on_lost(on_lost)
    if callback is not None and not keep:
        raise ConfigError(
            "on_lost", "None unless keep=True (only a keeper calls it)", "on_lost", on_lost
        )
    return callback


def _full(state: SemaphoreState) -> BulkheadFullError:
    return BulkheadFullError(f"bulkhead_full ({state.holders} leases held)", "bulkhead_full", None)
