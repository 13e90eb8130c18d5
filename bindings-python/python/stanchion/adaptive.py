"""``AdaptiveLimiter``: a concurrency limit that follows the measured latency (the core's
adaptive limiter), with the bulkhead's FIFO wait queue for threads and asyncio."""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Optional,
    Tuple,
    Type,
    TypeVar,
    cast,
)

from . import _stanchion
from ._classify import ExceptionFilter, _matcher
from ._clock import Clock
from ._held import Held, new_held
from ._listeners import Listeners, weak_emitter
from ._queue import await_permit
from ._wrap import is_async, wrap
from .bulkhead import _nanoseconds, _timed_out

if TYPE_CHECKING:
    from typing_extensions import Literal, ParamSpec

    P = ParamSpec("P")
    Algorithm = Literal["aimd", "vegas", "gradient2"]
else:
    Algorithm = str
R = TypeVar("R")
#: Called with the limit before and after an update that changed it.
LimitListener = Callable[[int, int], None]


class AdaptiveLimiter:
    """At most ``limit`` calls at once, where the limit follows the latency the calls take;
    the others wait in the core's FIFO queue, as a ``Bulkhead``'s.

    Each call's ending is a sample: its latency, from the moment it was let in (time spent
    queued does not count), or a drop. Samples are gathered into windows (at least
    ``min_samples`` calls and ``window`` seconds); each closed window updates the limit, by
    ``algorithm``: ``"aimd"`` (the default: +1 after a busy window, ×``backoff_ratio`` after a
    drop or a mean latency above ``aimd_timeout``), ``"vegas"`` (the queue the latency implies
    over a no-load baseline; ``alpha``, ``beta``, ``probe_multiplier``, ``smoothing``) or
    ``"gradient2"`` (the latency against its long average; ``smoothing``, ``queue_size``,
    ``long_window``, ``rtt_tolerance``, ``creep_guard``). An algorithm's parameters left
    ``None`` take the core's defaults; a parameter of another algorithm is refused. The limit
    stays within ``[min_limit, max_limit]`` and starts at ``initial_limit``; ``seed`` seeds
    Vegas's probe jitter.

    A ``with`` block or decorated call (``def`` or ``async def``) that returns is a success; one
    that raises is a failure (its latency is a sample all the same: a fast error says nothing
    about overload), unless the exception matches ``drop_on`` (by default ``TimeoutError``,
    asyncio's included): a drop, which lowers the limit. Add the errors by which a dependency
    refuses work for overload (a 503, a "too many requests") to ``drop_on``. A cancellation
    (``asyncio.CancelledError``, ``GeneratorExit``, ``KeyboardInterrupt``) gives the permit back
    with no sample. ``on_limit_change(from, to)`` is called after each update that changed the
    limit; a listener that raises is logged and affects nothing.

    Waiting is the ``Bulkhead``'s: at most ``max_waiting`` at once (up to 1024), each up to
    ``timeout`` seconds (``None``: as long as it takes; ``0`` or ``max_waiting=0``: never wait);
    a wait that gives up raises ``BulkheadFullError``. A raised limit hands its room to the
    waiters at once; a lowered one takes no permit back.

    >>> limiter = AdaptiveLimiter(initial_limit=4)
    >>> with limiter:
    ...     limiter.snapshot().in_flight
    1
    >>> limiter.limit
    4
    """

    __slots__ = (
        "_core",
        "_held",
        "_timeout",
        "_timeout_ns",
        "_drop",
        "_listeners",
        "__weakref__",
    )

    def __init__(
        self,
        *,
        algorithm: Algorithm = "aimd",
        initial_limit: int = 20,
        min_limit: int = 1,
        max_limit: int = 1000,
        min_samples: int = 10,
        window: float = 1.0,
        max_waiting: Optional[int] = None,
        seed: int = 0,
        backoff_ratio: Optional[float] = None,
        aimd_timeout: Optional[float] = None,
        alpha: Optional[int] = None,
        beta: Optional[int] = None,
        probe_multiplier: Optional[int] = None,
        smoothing: Optional[float] = None,
        queue_size: Optional[int] = None,
        long_window: Optional[int] = None,
        rtt_tolerance: Optional[float] = None,
        creep_guard: Optional[bool] = None,
        timeout: Optional[float] = None,
        drop_on: Optional[ExceptionFilter] = TimeoutError,
        on_limit_change: Optional[LimitListener] = None,
        clock: Optional[Clock] = None,
    ) -> None:
        config = {
            "algorithm": algorithm,
            "initial_limit": initial_limit,
            "min_limit": min_limit,
            "max_limit": max_limit,
            "min_samples": min_samples,
            "window": window,
            "max_waiting": max_waiting,
            "seed": seed,
            "backoff_ratio": backoff_ratio,
            "aimd_timeout": aimd_timeout,
            "alpha": alpha,
            "beta": beta,
            "probe_multiplier": probe_multiplier,
            "smoothing": smoothing,
            "queue_size": queue_size,
            "long_window": long_window,
            "rtt_tolerance": rtt_tolerance,
            "creep_guard": creep_guard,
        }
        if drop_on is TimeoutError:
            drop_on = (TimeoutError,)
        if isinstance(drop_on, tuple) and TimeoutError in drop_on:
            # Before Python 3.11, asyncio's timeout is a class of its own.
            drop_on = drop_on + (asyncio.TimeoutError,)
        self._drop = _matcher(drop_on, "drop_on")
        self._listeners: Listeners[LimitListener] = Listeners("on_limit_change", "(from, to)")
        if on_limit_change is not None:
            self.on_limit_change(on_limit_change)
        self._core = _stanchion.AdaptiveLimiter(config, clock, weak_emitter(self))
        self._timeout = timeout
        self._timeout_ns = _nanoseconds(timeout)
        # The permits of `with` blocks, per thread and task (see `_held`): unlike a bulkhead's
        # slots, permits differ (each has its own start), so each block keeps its own.
        self._held: Held[Optional[Tuple[_stanchion.AdaptivePermit, Any]]] = new_held(
            "stanchion.adaptive"
        )

    # Events -------------------------------------------------------------------------------

    def on_limit_change(self, listener: LimitListener) -> LimitListener:
        """Calls ``listener(from, to)`` after every update that changed the limit; usable as a
        decorator. A listener that raises is logged and does not affect the call."""
        return self._listeners.add(listener)

    # Permits ------------------------------------------------------------------------------

    def try_acquire(self) -> _stanchion.AdaptivePermit:
        """A permit now, or ``BulkheadFullError``; never waits. Report how the call ended with
        ``permit.record(outcome)`` (``"success"``, ``"failure"``, ``"dropped"`` or
        ``"ignored"``), or give it back with no sample with ``permit.release()``."""
        return self._core.try_acquire()

    def acquire_blocking(self, *, timeout: Optional[float] = None) -> _stanchion.AdaptivePermit:
        """A permit, this thread waiting in the queue if need be (up to ``timeout`` seconds,
        default the limiter's; without the GIL). Raises ``BulkheadFullError`` when the queue is
        full or the wait times out, leaving the queue clean."""
        timeout_ns = self._timeout_ns if timeout is None else _nanoseconds(timeout)
        permit = self._core.wait(timeout_ns)
        if permit is None:
            raise _timed_out()
        return permit

    async def acquire(self, *, timeout: Optional[float] = None) -> _stanchion.AdaptivePermit:
        """A permit, waiting in the queue if need be (up to ``timeout`` seconds, default the
        limiter's). Raises ``BulkheadFullError`` when the queue is full or the wait times out;
        cancellation leaves the queue with nothing held."""
        permit = await self._await_permit(self._timeout if timeout is None else timeout)
        if permit is None:
            raise _timed_out()
        return permit

    async def _await_permit(self, timeout: Optional[float]) -> Optional[_stanchion.AdaptivePermit]:
        """A permit, waiting up to ``timeout`` seconds: ``None`` when that wait timed out."""
        return await await_permit(self._core.try_enter, self._core.enqueue, timeout)

    def enqueue(self, wake: Callable[[], object]) -> _stanchion.AdaptiveWaiter:
        """A place in the wait queue, for event loops other than asyncio: ``poll()`` returns
        the permit once served (``None`` meanwhile), ``wake()`` is called from any thread when
        it is worth polling again, ``cancel()`` leaves the queue."""
        return self._core.enqueue(wake)

    def _overloaded(self, exc: Exception) -> bool:
        """Whether ``exc`` matches ``drop_on``: a refusal for overload, which a ``Policy``
        reports as the core's ``Verdict::overload``. A predicate that raises says no: the
        policy's own report of the attempt must not fail."""
        try:
            return bool(self._drop(exc))
        except Exception:
            return False

    def _ended(self, permit: _stanchion.AdaptivePermit, exc: BaseException) -> None:
        """Reports a call that raised ``exc``: a drop if it matches ``drop_on``, else a failure;
        a ``BaseException`` that is no ``Exception`` (a cancellation) gives the permit back with
        no sample, and so does a ``drop_on`` predicate that raises."""
        if not isinstance(exc, Exception):
            permit.release()
            return
        try:
            dropped = self._drop(exc)
        except BaseException:
            permit.release()
            raise
        permit.record("dropped" if dropped else "failure")

    # Metrics ------------------------------------------------------------------------------

    @property
    def limit(self) -> int:
        """The limit in force."""
        return self._core.limit

    def snapshot(self) -> _stanchion.AdaptiveSnapshot:
        """Limit, in flight, waiting, peak, rejected, baseline, last update and windows now
        (read-only)."""
        return self._core.snapshot()

    # Context managers ---------------------------------------------------------------------

    def __enter__(self) -> AdaptiveLimiter:
        permit = self._core.wait(self._timeout_ns)
        if permit is None:
            raise _timed_out()
        var = self._held
        var.set((permit, var.get()))
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        var = self._held
        top = var.get()
        if top is None:
            raise RuntimeError("__exit__ without a matching __enter__ in this context")
        var.set(top[1])
        if exc is None:
            top[0].record("success")
        else:
            self._ended(top[0], exc)

    async def __aenter__(self) -> AdaptiveLimiter:
        permit = self._core.try_enter()
        if permit is None:
            permit = await self.acquire()
        var = self._held
        var.set((permit, var.get()))
        return self

    async def __aexit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    # Decorator ----------------------------------------------------------------------------

    def __call__(self, func: Callable[P, R]) -> Callable[P, R]:
        """Runs ``func`` (``def`` or ``async def``) under the limit; its signature is kept.
        Calls wait in the queue: a thread parked, a coroutine awaiting."""
        env = {
            "_stanchion_wait": self.acquire_blocking,
            "_stanchion_try_enter": self._core.try_enter,
            "_stanchion_acquire": self.acquire,
            "_stanchion_ended": self._ended,
        }
        template = _ASYNC if is_async(func) else _SYNC
        return cast("Callable[P, R]", wrap(func, template, env))

    def __repr__(self) -> str:
        s = self.snapshot()
        return f"<AdaptiveLimiter limit={s.limit} in_flight={s.in_flight}>"


_SYNC = """
def _stanchion_wrapper({params}):
    _stanchion_permit = _stanchion_wait()
    try:
        _stanchion_result = _stanchion_func({call})
    except BaseException as _stanchion_exc:
        _stanchion_ended(_stanchion_permit, _stanchion_exc)
        raise
    _stanchion_permit.record("success")
    return _stanchion_result
"""

_ASYNC = """
async def _stanchion_wrapper({params}):
    _stanchion_permit = _stanchion_try_enter()
    if _stanchion_permit is None:
        _stanchion_permit = await _stanchion_acquire()
    try:
        _stanchion_result = await _stanchion_func({call})
    except BaseException as _stanchion_exc:
        _stanchion_ended(_stanchion_permit, _stanchion_exc)
        raise
    _stanchion_permit.record("success")
    return _stanchion_result
"""

__all__ = ["AdaptiveLimiter"]
