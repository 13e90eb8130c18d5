"""``Bulkhead``: the core's concurrency limit, with its FIFO wait queue under asyncio."""

from __future__ import annotations

import asyncio
import functools
import inspect
from types import TracebackType
from typing import (
    TYPE_CHECKING,
    Awaitable,
    Callable,
    List,
    Optional,
    Sequence,
    Type,
    TypeVar,
    cast,
)

from . import _stanchion
from ._errors import BulkheadFullError
from ._wrap import wrap

if TYPE_CHECKING:
    from typing_extensions import ParamSpec

    P = ParamSpec("P")
R = TypeVar("R")


class Bulkhead:
    """At most ``max_concurrent`` calls at once.

    ``with`` and sync decorated calls take a slot or raise ``BulkheadFullError`` at once.
    ``async with``, ``await acquire()`` and decorated coroutines wait in the core's FIFO queue
    (at most ``max_waiting`` at once, up to 1024; ``0``: never wait), optionally up to
    ``timeout`` seconds. ``lanes`` gives priority lanes their ceilings, lane 0 first (it must
    equal ``max_concurrent``): a lower lane runs only while fewer than its ceiling are in
    flight, so the top lane keeps reserved room. A cancelled waiter leaves the queue clean, and
    a slot handed to it passes on.

    >>> pool = Bulkhead(max_concurrent=2)
    >>> with pool:
    ...     pool.snapshot().in_flight
    1
    """

    __slots__ = ("_core", "_held", "_timeout", "_lane")

    def __init__(
        self,
        *,
        max_concurrent: int,
        max_waiting: Optional[int] = None,
        lanes: Optional[Sequence[int]] = None,
        timeout: Optional[float] = None,
        lane: int = 0,
    ) -> None:
        config = {
            "max_concurrent": max_concurrent,
            "max_waiting": max_waiting,
            "lanes": None if lanes is None else list(lanes),
        }
        self._core = _stanchion.Bulkhead(config)
        if timeout is not None:
            _stanchion.Deadline.after(0, timeout)
        if not isinstance(lane, int):
            raise TypeError("`lane` must be an int")
        self._timeout = timeout
        self._lane = lane
        self._held: List[_stanchion.BulkheadPermit] = []

    def try_acquire(self, lane: Optional[int] = None) -> _stanchion.BulkheadPermit:
        """A slot now, or ``BulkheadFullError``. Give it back with ``permit.release()``."""
        return self._core.try_acquire(self._lane if lane is None else lane)

    async def acquire(
        self, lane: Optional[int] = None, *, timeout: Optional[float] = None
    ) -> _stanchion.BulkheadPermit:
        """A slot, waiting in the queue if need be (up to ``timeout`` seconds, default the
        bulkhead's). Raises ``BulkheadFullError`` when the queue is full or the wait times
        out; cancellation leaves the queue with nothing held."""
        lane = self._lane if lane is None else lane
        permit = self._core.try_enter(lane)
        if permit is not None:
            return permit
        timeout = self._timeout if timeout is None else timeout
        loop = asyncio.get_running_loop()
        # The event exists only once the first poll had to wait; a wake-up before that is
        # seen by the poll that follows its creation.
        box: List[asyncio.Event] = []

        def wake() -> None:
            if box:
                loop.call_soon_threadsafe(box[0].set)

        waiter = self._core.enqueue(lane, wake)
        try:
            permit = waiter.poll()
            if permit is not None:
                return permit
            ready = asyncio.Event()
            box.append(ready)
            end = None if timeout is None else loop.time() + timeout
            while True:
                ready.clear()
                permit = waiter.poll()
                if permit is not None:
                    return permit
                if end is None:
                    await ready.wait()
                else:
                    await asyncio.wait_for(ready.wait(), max(0.0, end - loop.time()))
        except asyncio.TimeoutError:
            waiter.cancel()
            raise BulkheadFullError(
                "bulkhead_full: no slot within the timeout", "bulkhead_full", None
            ) from None
        except BaseException:
            waiter.cancel()
            raise

    def enqueue(self, lane: Optional[int], wake: Callable[[], object]) -> _stanchion.BulkheadWaiter:
        """A place in the wait queue, for event loops other than asyncio: ``poll()`` returns
        the permit once served (``None`` meanwhile), ``wake()`` is called from any thread
        when it is worth polling again, ``cancel()`` leaves the queue."""
        return self._core.enqueue(self._lane if lane is None else lane, wake)

    def snapshot(self) -> _stanchion.BulkheadSnapshot:
        """In flight, peak, waiting and rejected now (read-only)."""
        return self._core.snapshot()

    # Permits of one lane are interchangeable (a permit is its lane and a held flag), so the
    # `with` blocks of every thread and task share one list: an exit gives back any permit
    # its block's entry added, which needs no per-context storage.

    def __enter__(self) -> Bulkhead:
        self._held.append(self._core.try_acquire(self._lane))
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self._held.pop().release()

    async def __aenter__(self) -> Bulkhead:
        permit = self._core.try_enter(self._lane)
        if permit is None:
            permit = await self.acquire()
        self._held.append(permit)
        return self

    async def __aexit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self._held.pop().release()

    def __call__(self, func: Callable[P, R]) -> Callable[P, R]:
        """Runs ``func`` (``def`` or ``async def``) inside the bulkhead; its signature is
        kept. Sync calls never wait; coroutines wait in the queue."""
        core = self._core
        lane = self._lane
        env = {
            "_stanchion_try_acquire": functools.partial(core.try_acquire, lane),
            "_stanchion_try_enter": functools.partial(core.try_enter, lane),
            "_stanchion_acquire": self.acquire,
        }
        template = _ASYNC if inspect.iscoroutinefunction(func) else _SYNC
        return cast("Callable[P, R]", wrap(func, template, env))


_SYNC = """
def _stanchion_wrapper({params}):
    _stanchion_permit = _stanchion_try_acquire()
    try:
        return _stanchion_func({call})
    finally:
        _stanchion_permit.release()
"""

_ASYNC = """
async def _stanchion_wrapper({params}):
    _stanchion_permit = _stanchion_try_enter()
    if _stanchion_permit is None:
        _stanchion_permit = await _stanchion_acquire()
    try:
        return await _stanchion_func({call})
    finally:
        _stanchion_permit.release()
"""

__all__ = ["Bulkhead"]
