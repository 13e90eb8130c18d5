"""``FleetQuota``: a stock of units (items, seats, credits) shared by a fleet of processes through
Redis, taken from without ever going below zero, charged once per request id however often a
take is retried; and ``QuotaPool``, the local batches that hand units out with no round trip.

Every decision is one call of the script ``quota.lua`` (shipped in this package as it is in the
repository's ``redis/scripts``; its header is the call contract) on one bucket. What each call
is and what its answer means is decided natively, by the rules of the Rust reference
(``stanchion-redis``), so every binding names the same keys and sweeps the buckets in the same
order. Here the calls are made: each through the guard the limiter uses (the call's timeout and
the client's connection breaker). A quota never falls back: when Redis cannot answer, it raises
``FleetUnavailableError``.

The sweeps are written once, as generators that yield each call's keys and arguments and
receive its reply; a blocking driver and an asyncio driver run them.
"""

from __future__ import annotations

import warnings
from types import TracebackType
from typing import (
    TYPE_CHECKING,
    Any,
    Generator,
    List,
    NamedTuple,
    Optional,
    Tuple,
    Type,
    TypeVar,
    Union,
)

from . import _stanchion
from ._clock import Clock
from ._errors import ConfigError, FleetError, SoldOutError
from ._fleet_client import FleetPrimitive, Guard, check_blocking_client, kind, script_source

if TYPE_CHECKING:
    import redis as _redis
    import redis.asyncio as _aredis
    import redis.asyncio.cluster as _acluster
    import redis.cluster as _cluster

    SyncClient = Union["_redis.Redis", "_cluster.RedisCluster"]
    AsyncClient = Union["_aredis.Redis", "_acluster.RedisCluster"]

T = TypeVar("T")

_FLEET = _stanchion.fleet_defaults()
_QUOTA = _stanchion.fleet_quota_defaults()
#: How long a bucket remembers a request id unless ``id_memory=`` says otherwise: 600 s.
DEFAULT_ID_MEMORY: float = _QUOTA["default_id_memory_ns"] / 1e9
#: How many units a ``QuotaPool`` takes from Redis at once unless ``batch=`` says otherwise.
DEFAULT_BATCH: int = _QUOTA["default_batch"]
#: The largest count a bucket holds and the largest ``n`` taken or restocked: 2^53 - 1.
MAX_UNITS: int = _QUOTA["max_units"]

#: One call of the script: its keys and its arguments.
Call = Tuple[List[str], List[str]]
#: A sweep: yields calls, receives their replies, returns its result.
Steps = Generator[Call, Any, T]


class Taken(NamedTuple):
    """A take the quota served: the ``bucket`` that served it, the units ``remaining`` in that
    bucket after the call (the whole stock when the quota has one bucket; for a replayed take,
    what is left now), and whether the request id was ``replayed``: an earlier call with it
    was served, and this one took nothing.

    >>> Taken(bucket=3, remaining=41, replayed=False).remaining
    41
    """

    bucket: int
    remaining: int
    replayed: bool


def _answer(read: Any, *args: Any) -> Any:
    """A native reading of a reply; a reply the script never gives is a ``FleetError``."""
    try:
        return read(*args)
    except ConfigError:
        raise
    except ValueError as unexpected:
        raise FleetError(str(unexpected)) from unexpected


def _take_steps(
    core: _stanchion.FleetQuota,
    name: str,
    n: int,
    request_id: Optional[str],
    start: Optional[int],
    now_ns: Optional[int],
    batch: bool,
) -> Steps[Tuple[Taken, int]]:
    """Visits the buckets from the starting one round the ring until one serves the take;
    returns it with the units taken (more than ``n`` only for a pool's batch)."""
    first, most, argv = core.take_plan(name, n, request_id, start, now_ns, batch)
    buckets = core.buckets
    seen = 0
    for step in range(buckets):
        bucket = (first + step) % buckets
        reply = yield core.take_keys(name, bucket, request_id), argv
        units, remaining, replayed = _answer(core.take_answer, reply, n, most, request_id)
        if units:
            return Taken(bucket, remaining, replayed), units
        seen += remaining
    raise SoldOutError(n, seen)


def _count_steps(core: _stanchion.FleetQuota, calls: List[Call]) -> Steps[int]:
    """Makes each call and sums the counts they answer."""
    total = 0
    for call in calls:
        total += _answer(core.count_answer, (yield call))
    return total


class FleetQuota(FleetPrimitive):
    """A stock of units shared by every process that uses the same Redis, prefix and name:
    hot-item inventory, seats, credits. A take never drives it below zero, and a take with a
    ``request_id`` is charged once however often it is retried while the id is remembered
    (``id_memory``, 10 minutes by default): a retry after a timeout answers the first outcome
    (``replayed=True``) and takes nothing more. A refusal is remembered too, and an id cannot
    be reused for another ``n``.

    ``client`` is the caller's redis-py client: with a blocking one call ``take``,
    ``restock`` and ``remaining``; with an asyncio one await ``take_async``,
    ``restock_async`` and ``remaining_async``. ``pool(name)`` gives a local pool that takes
    ``batch`` units in one call and hands them out with no round trip.

    **Buckets.** A quota of ``buckets=K`` keeps K counts, ``<prefix>{<name>:<i>}:quota``,
    each its own cluster hash tag, so a hot item's takes spread over a cluster's slots. A
    take visits them one call at a time from a starting bucket round the ring (the request
    id's FNV-1a hash modulo K, else a random one) until one holds ``n``: it is served whole
    by one bucket, never split, so it raises ``SoldOutError`` only when every bucket it
    visited held fewer than ``n`` (a take of ``n > 1`` may be refused while the buckets hold
    ``n`` between them). Every process using a quota must use the same prefix and bucket
    count.

    **When Redis cannot answer** (a connection error, a timeout, an error reply meaning the
    server cannot decide now, or the client's breaker open) a call raises
    ``FleetUnavailableError`` with the Redis error as its ``__cause__``: a quota never
    guesses. The calls are guarded as the limiter's are: an asyncio call is cancelled after
    ``timeout``, a blocking client must bound its own reads within it, and the core's
    connection breaker of the client (shared with the limiters on it) opens after three
    failures in a row. Any other error reply raises ``FleetError``.

    With ``client`` a ``redis.Redis(..., socket_timeout=0.25)``:

    >>> seats = FleetQuota(client, prefix="doc:seats:")
    >>> seats.restock("show-7", 3)
    3
    >>> seats.take("show-7", 2, request_id="order-1")
    Taken(bucket=0, remaining=1, replayed=False)
    >>> seats.take("show-7", 2, request_id="order-1")  # a retry: charged once
    Taken(bucket=0, remaining=1, replayed=True)
    >>> seats.take("show-7", 2)
    Traceback (most recent call last):
    ...
    stanchion._errors.SoldOutError: sold out (2 asked, 1 left)
    """

    __slots__ = ("_core", "_script", "_guard")

    _core: _stanchion.FleetQuota
    _guard: Guard

    def __init__(
        self,
        client: Union[SyncClient, AsyncClient],
        *,
        buckets: int = 1,
        prefix: str = _FLEET["default_prefix"],
        id_memory: float = DEFAULT_ID_MEMORY,
        batch: int = DEFAULT_BATCH,
        timeout: float = _FLEET["default_call_timeout_ns"] / 1e9,
        clock: Optional[Clock] = None,
    ) -> None:
        is_async = kind(client)
        config = {
            "buckets": buckets,
            "prefix": prefix,
            "id_memory": id_memory,
            "batch": batch,
            "timeout": timeout,
        }
        self._core = _stanchion.FleetQuota(config)
        if not is_async:
            check_blocking_client(client, self._core.timeout_ns, "quota")
        self._script: Any = client.register_script(script_source("quota"))
        self._guard = Guard(client, is_async, clock, self._core.timeout_ns, "the quota")

    # Properties ---------------------------------------------------------------------------

    @property
    def buckets(self) -> int:
        """How many buckets the stock is split over."""
        return self._core.buckets

    @property
    def id_memory(self) -> float:
        """How long a bucket remembers a request id, in seconds (whole milliseconds)."""
        return self._core.id_memory_ns / 1e9

    @property
    def batch(self) -> int:
        """How many units a ``QuotaPool`` takes from Redis at once."""
        return self._core.batch

    def redis_key(self, name: str, bucket: int = 0) -> str:
        """The Redis key of bucket ``bucket`` of quota ``name``:
        ``<prefix>{<name>:<bucket>}:quota``, whose braces give each bucket its own cluster
        slot. A request id's record is that key followed by ``:id:<request id>``.

        >>> FleetQuota(client, buckets=4).redis_key("sku-42", 3)
        'stanchion:{sku-42:3}:quota'
        """
        return self._core.redis_key(name, bucket)

    def start_bucket(self, request_id: str) -> int:
        """The bucket where a take with ``request_id`` starts: the 64-bit FNV-1a hash of the
        id's UTF-8 bytes (``stanchion.key_of``), modulo the bucket count, as in every binding.

        >>> FleetQuota(client, buckets=8).start_bucket("order-1")
        5
        """
        return self._core.start_bucket(request_id)

    def __repr__(self) -> str:
        return (
            f"FleetQuota(buckets={self.buckets}, prefix={self.prefix!r}, "
            f"id_memory={self.id_memory!r}, batch={self.batch})"
        )

    # Blocking clients ----------------------------------------------------------------------

    def take(self, name: str, n: int = 1, request_id: Optional[str] = None) -> Taken:
        """Takes ``n`` units of quota ``name``, or raises ``SoldOutError`` (taking nothing)
        when no bucket holds ``n``. With a ``request_id`` (a str of 1 to 256 bytes) a retry
        of the same take, after a timeout say, answers what the first call answered and takes
        nothing more; without one, a take whose answer was lost may or may not have been
        charged. One call per bucket visited. Blocking client.

        >>> stock = FleetQuota(client, prefix="doc:take:")
        >>> stock.restock("sku-1", 5)
        5
        >>> stock.take("sku-1", 2).remaining
        3
        """
        self._need_blocking("take", "take_async")
        return self._drive(_take_steps(self._core, name, n, request_id, None, None, False))[0]

    def restock(self, name: str, n: int) -> int:
        """Adds ``n`` units to quota ``name``, spread evenly over its buckets (the first
        ``n % buckets`` from a random bucket on get one more), and returns the units the
        buckets held after, summed as each call left them. One call per bucket; a failure
        part way leaves the buckets before it restocked. A bucket saturates at 2^53 - 1
        units. Not idempotent: a restock whose answer was lost may have been made. Blocking
        client.

        >>> FleetQuota(client, buckets=4, prefix="doc:restock:").restock("sku-1", 10)
        10
        """
        self._need_blocking("restock", "restock_async")
        return self._drive(_count_steps(self._core, self._core.restock_plan(name, n)))

    def remaining(self, name: str, bucket: Optional[int] = None) -> int:
        """The units quota ``name`` holds: summed over its buckets (one call each, so on a
        busy bucketed quota a sum of counts read moments apart), or in bucket ``bucket``
        alone. Blocking client.

        >>> FleetQuota(client, prefix="doc:remaining:").remaining("never-stocked")
        0
        """
        self._need_blocking("remaining", "remaining_async")
        return self._drive(_count_steps(self._core, self._core.remaining_plan(name, bucket)))

    def _take(
        self,
        name: str,
        n: int,
        request_id: Optional[str],
        start: Optional[int],
        now_ns: Optional[int],
    ) -> Taken:
        """A take starting at bucket ``start`` (without an id) at ``now_ns`` on the server's
        clock instead of its ``TIME``: conformance tests only."""
        return self._drive(_take_steps(self._core, name, n, request_id, start, now_ns, False))[0]

    def _restock(self, name: str, n: int, start: Optional[int]) -> int:
        """A restock whose extra units go from bucket ``start`` on: conformance tests only."""
        return self._drive(_count_steps(self._core, self._core.restock_plan(name, n, start)))

    def _drive(self, steps: Steps[T]) -> T:
        guard, script = self._guard, self._script
        try:
            call = next(steps)
            while True:
                call = steps.send(guard.call(script, *call))
        except StopIteration as done:
            result: T = done.value
            return result

    def _need_blocking(self, name: str, instead: str) -> None:
        if self._guard.is_async:
            raise TypeError(
                f"{name} needs a blocking client and this quota's is asyncio: "
                f"await {instead}(...)"
            )

    # Asyncio clients -----------------------------------------------------------------------

    async def take_async(self, name: str, n: int = 1, request_id: Optional[str] = None) -> Taken:
        """``take`` for an asyncio client, each call cancelled after ``timeout``."""
        self._need_async("take_async", "take")
        steps = _take_steps(self._core, name, n, request_id, None, None, False)
        return (await self._adrive(steps))[0]

    async def restock_async(self, name: str, n: int) -> int:
        """``restock`` for an asyncio client."""
        self._need_async("restock_async", "restock")
        return await self._adrive(_count_steps(self._core, self._core.restock_plan(name, n)))

    async def remaining_async(self, name: str, bucket: Optional[int] = None) -> int:
        """``remaining`` for an asyncio client."""
        self._need_async("remaining_async", "remaining")
        calls = self._core.remaining_plan(name, bucket)
        return await self._adrive(_count_steps(self._core, calls))

    async def _atake(
        self,
        name: str,
        n: int,
        request_id: Optional[str],
        start: Optional[int],
        now_ns: Optional[int],
    ) -> Taken:
        """``_take`` for an asyncio client."""
        steps = _take_steps(self._core, name, n, request_id, start, now_ns, False)
        return (await self._adrive(steps))[0]

    async def _arestock(self, name: str, n: int, start: Optional[int]) -> int:
        """``_restock`` for an asyncio client."""
        return await self._adrive(_count_steps(self._core, self._core.restock_plan(name, n, start)))

    async def _adrive(self, steps: Steps[T]) -> T:
        guard, script = self._guard, self._script
        try:
            call = next(steps)
            while True:
                call = steps.send(await guard.acall(script, *call))
        except StopIteration as done:
            result: T = done.value
            return result

    def _need_async(self, name: str, instead: str) -> None:
        if not self._guard.is_async:
            raise TypeError(
                f"{name} needs an asyncio client and this quota's is blocking: "
                f"call {instead}(...)"
            )

    # Local batches -------------------------------------------------------------------------

    def pool(self, name: str) -> QuotaPool:
        """A local pool of quota ``name``'s units for this process: see ``QuotaPool``.

        >>> credits = FleetQuota(client, batch=100, prefix="doc:pool:")
        >>> credits.restock("tenant-7", 1_000)
        1000
        >>> with credits.pool("tenant-7") as pool:
        ...     for _ in range(250):
        ...         pool.take()  # 3 calls take 100 units each
        >>> credits.remaining("tenant-7")  # the 50 left in the pool went back
        750
        """
        return QuotaPool(self, name)


class QuotaPool:
    """A process's local pool of one quota's units (from ``FleetQuota.pool(name)``): ``take``
    is served from a native core ``Stock`` (one atomic operation, no round trip), and only
    when the pool runs dry does it call Redis, taking up to the quota's ``batch`` units at
    once (at least the units asked for, at most what the bucket holds). With batches of 100,
    10 000 takes cost about 100 calls.

    Threads (blocking client) or tasks (asyncio client) may share a pool; those that find it
    dry at once each take a batch. Units in the pool are taken as far as Redis knows: while
    pools hold them other processes may find the quota sold out, so give them back when done:
    ``give_back()`` (or ``give_back_async()``) returns them in one call, ``close()`` (or
    ``aclose()``) does so and closes the pool, and ``with`` / ``async with`` closes it on the
    way out. A pool garbage-collected while holding units gives nothing back (no call is made
    from a finalizer) and warns with a ``ResourceWarning``: the units stay taken until the
    quota is restocked.

    Pool takes carry no request id: a refill whose answer is lost may have taken a batch the
    pool never receives. Like every failure of a quota, it errs on the side of selling less,
    never more.

    >>> credits = FleetQuota(client, batch=10, prefix="doc:pool2:")
    >>> credits.restock("api", 25)
    25
    >>> pool = credits.pool("api")
    >>> pool.take(3)  # one call takes 10
    >>> pool.local, credits.remaining("api")
    (7, 15)
    >>> pool.close()  # the 7 go back
    7
    """

    __slots__ = ("_quota", "_name", "_stock", "_closed")

    def __init__(self, quota: FleetQuota, name: str) -> None:
        quota.redis_key(name)  # a bad name fails here
        self._quota = quota
        self._name = name
        self._stock = _stanchion.Stock()
        self._closed = False

    @property
    def quota(self) -> FleetQuota:
        """The quota the units come from."""
        return self._quota

    @property
    def name(self) -> str:
        """The quota's name."""
        return self._name

    @property
    def local(self) -> int:
        """The units the pool holds now."""
        return self._stock.available()

    @property
    def closed(self) -> bool:
        """Whether ``close`` (or ``aclose``) was called."""
        return self._closed

    def take(self, n: int = 1) -> None:
        """Takes ``n`` units: from the pool when it holds ``n``, with no round trip; otherwise
        one sweep of the quota's buckets takes between ``n`` and ``max(n, batch)`` units,
        hands ``n`` to the caller and keeps the rest. Raises ``SoldOutError`` when no bucket
        holds ``n`` and the pool does not either; the units the pool holds stay there for
        smaller takes. Blocking client."""
        self._quota._need_blocking("take", "take_async")
        if self._served(n):
            return
        self._refilled(n, self._refill(n))

    async def take_async(self, n: int = 1) -> None:
        """``take`` for an asyncio client."""
        self._quota._need_async("take_async", "take")
        if self._served(n):
            return
        self._refilled(n, await self._arefill(n))

    def give_back(self) -> int:
        """Returns every unit the pool holds to the quota, in one call (to a random bucket),
        and says how many; nothing held, no call. On an error the units are not put back in
        the pool: Redis may have added them already, and keeping them too could sell them
        twice. Blocking client."""
        self._quota._need_blocking("give_back", "give_back_async")
        units = self._stock.drain()
        if units:
            self._quota._drive(self._give_back_steps(units))
        return units

    async def give_back_async(self) -> int:
        """``give_back`` for an asyncio client."""
        self._quota._need_async("give_back_async", "give_back")
        units = self._stock.drain()
        if units:
            await self._quota._adrive(self._give_back_steps(units))
        return units

    def close(self) -> int:
        """``give_back``, then no more takes. Blocking client."""
        self._closed = True
        return self.give_back()

    async def aclose(self) -> int:
        """``give_back_async``, then no more takes."""
        self._closed = True
        return await self.give_back_async()

    def __enter__(self) -> QuotaPool:
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()

    async def __aenter__(self) -> QuotaPool:
        return self

    async def __aexit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"local={self.local}"
        return f"QuotaPool({self._name!r}, {state})"

    def __del__(self) -> None:
        try:
            held = self._stock.available()
        except AttributeError:  # __init__ failed before the stock was made
            return
        if held and not self._closed:
            warnings.warn(
                f"{self!r} was dropped holding {held} units, which stay taken from the quota "
                f"until it is restocked: close() it, or use it with `with`",
                ResourceWarning,
                source=self,
            )

    # Refills -------------------------------------------------------------------------------

    def _served(self, n: int) -> bool:
        """Whether the pool served ``n`` units itself; an ``n`` the quota would refuse is
        left to the refill, which checks it."""
        if self._closed:
            raise ValueError(f"{self!r} is closed: make another with quota.pool(name)")
        return type(n) is int and 0 < n <= MAX_UNITS and self._stock.take(n)

    def _refill_steps(self, n: int) -> Steps[Tuple[Taken, int]]:
        return _take_steps(self._quota._core, self._name, n, None, None, None, True)

    def _refill(self, n: int) -> Optional[int]:
        try:
            return self._quota._drive(self._refill_steps(n))[1]
        except SoldOutError:
            # Another thread's batch may have landed while this one swept.
            if self._stock.take(n):
                return None
            raise

    async def _arefill(self, n: int) -> Optional[int]:
        try:
            return (await self._quota._adrive(self._refill_steps(n)))[1]
        except SoldOutError:
            if self._stock.take(n):
                return None
            raise

    def _refilled(self, n: int, units: Optional[int]) -> None:
        """Keeps what a refill took beyond the ``n`` handed out."""
        if units is not None and units > n:
            self._stock.add(units - n)

    def _give_back_steps(self, units: int) -> Steps[int]:
        return _count_steps(self._quota._core, [self._quota._core.give_back_call(self._name, units)])
