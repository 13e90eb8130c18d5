"""``Bulkhead``: the core's concurrency limit, with its FIFO wait queue for threads and asyncio."""

from __future__ import annotations

import functools
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
from ._errors import BulkheadFullError, described
from ._queue import await_permit
from ._wrap import is_async, wrap

if TYPE_CHECKING:
    from typing_extensions import ParamSpec

    P = ParamSpec("P")
R = TypeVar("R")


class Bulkhead:
    """At most ``max_concurrent`` calls at once, the others waiting in the core's FIFO queue.

    Threads (``with``, sync decorated calls, ``acquire_blocking``) and asyncio tasks
    (``async with``, decorated coroutines, ``await acquire()``) wait in the same queue: at most
    ``max_waiting`` at once (up to 1024), each up to ``timeout`` seconds (``None``: as long as
    it takes). ``max_waiting=0`` or ``timeout=0`` never waits: a full bulkhead raises
    ``BulkheadFullError`` at once. A waiting thread does not hold the GIL. ``lanes`` gives
    priority lanes their ceilings, lane 0 first (it must equal ``max_concurrent``): a lower
    lane runs only while fewer than its ceiling are in flight, so the top lane keeps reserved
    room. A waiter that times out or is cancelled leaves the queue clean, and a slot handed to
    it passes on.

    >>> pool = Bulkhead(max_concurrent=2)
    >>> with pool:
    ...     pool.snapshot().in_flight
    1
    """

    __slots__ = ("_core", "_held", "_timeout", "_timeout_ns", "_lane")

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
        if not isinstance(lane, int):
            raise TypeError(f"lane must be an int, got {described(lane)}")
        self._timeout = timeout
        self._timeout_ns = _nanoseconds(timeout)
        self._lane = lane
        self._held: List[_stanchion.BulkheadPermit] = []

    def try_acquire(self, lane: Optional[int] = None) -> _stanchion.BulkheadPermit:
        """A slot now, or ``BulkheadFullError``; never waits. Give it back with
        ``permit.release()``."""
        return self._core.try_acquire(self._lane if lane is None else lane)

    def acquire_blocking(
        self, lane: Optional[int] = None, *, timeout: Optional[float] = None
    ) -> _stanchion.BulkheadPermit:
        """A slot, this thread waiting in the queue if need be (up to ``timeout`` seconds,
        default the bulkhead's; without the GIL). Raises ``BulkheadFullError`` when the queue
        is full or the wait times out, leaving the queue clean. Give the slot back with
        ``permit.release()``."""
        timeout_ns = self._timeout_ns if timeout is None else _nanoseconds(timeout)
        permit = self._core.wait(self._lane if lane is None else lane, timeout_ns)
        if permit is None:
            raise _timed_out()
        return permit

    async def acquire(
        self, lane: Optional[int] = None, *, timeout: Optional[float] = None
    ) -> _stanchion.BulkheadPermit:
        """A slot, waiting in the queue if need be (up to ``timeout`` seconds, default the
        bulkhead's). Raises ``BulkheadFullError`` when the queue is full or the wait times
        out; cancellation leaves the queue with nothing held."""
        permit = await self._await_slot(
            self._lane if lane is None else lane, self._timeout if timeout is None else timeout
        )
        if permit is None:
            raise _timed_out()
        return permit

    async def _await_slot(
        self, lane: int, timeout: Optional[float]
    ) -> Optional[_stanchion.BulkheadPermit]:
        """A slot of ``lane``, waiting in the queue up to ``timeout`` seconds (``None``: as long
        as it takes): ``None`` when that wait timed out, so that a caller whose own deadline
        cut the wait short can say so. A full queue raises its refusal."""
        return await await_permit(
            functools.partial(self._core.try_enter, lane),
            functools.partial(self._core.enqueue, lane),
            timeout,
        )

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
        permit = self._core.wait(self._lane, self._timeout_ns)
        if permit is None:
            raise _timed_out()
        self._held.append(permit)
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
        kept. Calls wait in the queue: a thread parked, a coroutine awaiting."""
        core = self._core
        lane = self._lane
        env = {
            "_stanchion_wait": functools.partial(core.wait, lane, self._timeout_ns),
            "_stanchion_timed_out": _timed_out,
            "_stanchion_try_enter": functools.partial(core.try_enter, lane),
            "_stanchion_acquire": self.acquire,
        }
        template = _ASYNC if is_async(func) else _SYNC
        return cast("Callable[P, R]", wrap(func, template, env))


def _nanoseconds(timeout: Optional[float]) -> Optional[int]:
    """``timeout`` seconds in nanoseconds (checked: a bad value raises here), or ``None``."""
    if timeout is None:
        return None
    return _stanchion.Deadline.after(0, timeout).expires_at_ns


def _timed_out() -> BulkheadFullError:
    """The refusal of a wait whose timeout passed (the core's reason: a full bulkhead)."""
    return BulkheadFullError("bulkhead_full: no slot within the timeout", "bulkhead_full", None)


_SYNC = """
def _stanchion_wrapper({params}):
    _stanchion_permit = _stanchion_wait()
    if _stanchion_permit is None:
        raise _stanchion_timed_out()
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
