"""``Policy``: one call through every primitive, in the order of docs/semantics.md §6."""

from __future__ import annotations

import asyncio
import functools
import inspect
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Optional, TypeVar, cast

from . import _stanchion
from ._classify import FAILURE, SUCCESS
from ._clock import Clock, clock_of
from ._errors import TimeoutExceededError
from .breaker import CircuitBreaker
from .bulkhead import Bulkhead
from .limiter import RateLimiter
from .retry import Retry

if TYPE_CHECKING:
    from typing_extensions import ParamSpec

    P = ParamSpec("P")
R = TypeVar("R")
Fallback = Callable[[Exception], Any]


class Policy:
    """Composes the primitives around one call, outermost first:
    fallback → timeout → retry (with its budget) → circuit breaker → bulkhead → rate limiter
    → the call.

    ``timeout`` (seconds) is one deadline for the whole call, retries and waits included: an
    attempt whose deadline has passed is not started, a retry whose wait would end past it is
    not made, and ``TimeoutExceededError`` (a ``TimeoutError``) is raised. A coroutine is
    cancelled at the deadline; a running ``def`` cannot be interrupted, so its deadline is
    checked between attempts. ``fallback(exc)`` turns any ``Exception`` that escapes into a
    value. Inside the breaker, a refusal by the bulkhead or the limiter releases the breaker's
    permit without recording an outcome. Cancellation releases every permit and probe slot.

    >>> policy = Policy(breaker=CircuitBreaker(), bulkhead=Bulkhead(max_concurrent=4),
    ...                 fallback=lambda exc: "cached")
    >>> @policy
    ... def fetch() -> str:
    ...     raise ConnectionError("down")
    >>> fetch()
    'cached'
    """

    __slots__ = ("fallback", "timeout", "retry", "breaker", "bulkhead", "limiter", "_clock")

    def __init__(
        self,
        *,
        fallback: Optional[Fallback] = None,
        timeout: Optional[float] = None,
        retry: Optional[Retry] = None,
        breaker: Optional[CircuitBreaker] = None,
        bulkhead: Optional[Bulkhead] = None,
        limiter: Optional[RateLimiter] = None,
        clock: Optional[Clock] = None,
    ) -> None:
        for name, value, kind in (
            ("retry", retry, Retry),
            ("breaker", breaker, CircuitBreaker),
            ("bulkhead", bulkhead, Bulkhead),
        ):
            if value is not None and not isinstance(value, kind):
                raise TypeError(f"`{name}` must be a stanchion.{kind.__name__} or None")
        if limiter is not None and not hasattr(limiter, "acquire_nowait"):
            raise TypeError("`limiter` must be a stanchion.RateLimiter (or a key's view) or None")
        if fallback is not None and not callable(fallback):
            raise TypeError("`fallback` must be a callable taking the exception")
        if timeout is not None:
            _stanchion.Deadline.after(0, timeout)  # checks the value now
        self.fallback = fallback
        self.timeout = timeout
        self.retry = retry
        self.breaker = breaker
        self.bulkhead = bulkhead
        self.limiter = limiter
        self._clock = clock_of(clock)

    def _deadline(self) -> Optional[_stanchion.Deadline]:
        if self.timeout is None:
            return None
        return _stanchion.Deadline.after(self._clock(), self.timeout)

    def _check(self, deadline: Optional[_stanchion.Deadline]) -> None:
        if deadline is not None and deadline.is_expired(self._clock()):
            raise TimeoutExceededError("the policy's deadline passed before the call")

    # Sync ---------------------------------------------------------------------------------

    def _inner(self, func: Callable[[], R]) -> R:
        """Bulkhead → limiter → the call."""
        permit = None if self.bulkhead is None else self.bulkhead.try_acquire()
        try:
            if self.limiter is not None:
                self.limiter._take()
            return func()
        finally:
            if permit is not None:
                permit.release()

    def _attempt(self, func: Callable[[], R], deadline: Optional[_stanchion.Deadline]) -> R:
        self._check(deadline)
        breaker = self.breaker
        if breaker is None:
            return self._inner(func)
        permit = breaker._core.acquire()
        called = False

        def call() -> R:
            nonlocal called
            called = True
            return func()

        try:
            result = self._inner(call)
        except Exception as exc:
            if called:
                breaker._core.record(permit, breaker._classifier.exception(exc))
            else:
                breaker._core.release(permit)
            raise
        except BaseException:
            breaker._core.release(permit)
            raise
        breaker._core.record(permit, FAILURE if breaker._classifier.result(result) else SUCCESS)
        return result

    def call(self, func: Callable[..., R], *args: Any, **kwargs: Any) -> R:
        """Calls ``func(*args, **kwargs)`` through the policy."""
        try:
            deadline = self._deadline()
            attempt = functools.partial(self._attempt, lambda: func(*args, **kwargs), deadline)
            if self.retry is None:
                return attempt()
            return self.retry.run(attempt, deadline)
        except Exception as exc:
            if self.fallback is None:
                raise
            return cast(R, self.fallback(exc))

    # Async --------------------------------------------------------------------------------

    async def _ainner(self, func: Callable[[], Awaitable[R]]) -> R:
        permit = None if self.bulkhead is None else await self.bulkhead.acquire()
        try:
            if self.limiter is not None:
                await self.limiter.acquire()
            return await func()
        finally:
            if permit is not None:
                permit.release()

    async def _aattempt(
        self, func: Callable[[], Awaitable[R]], deadline: Optional[_stanchion.Deadline]
    ) -> R:
        self._check(deadline)
        breaker = self.breaker
        if breaker is None:
            return await self._ainner(func)
        permit = breaker._core.acquire()
        called = False

        def call() -> Awaitable[R]:
            nonlocal called
            called = True
            return func()

        try:
            result = await self._ainner(call)
        except Exception as exc:
            if called:
                breaker._core.record(permit, breaker._classifier.exception(exc))
            else:
                breaker._core.release(permit)
            raise
        except BaseException:
            breaker._core.release(permit)
            raise
        breaker._core.record(permit, FAILURE if breaker._classifier.result(result) else SUCCESS)
        return result

    async def acall(self, func: Callable[..., Awaitable[R]], *args: Any, **kwargs: Any) -> R:
        """Awaits ``func(*args, **kwargs)`` through the policy."""
        try:
            deadline = self._deadline()

            def attempt() -> Awaitable[R]:
                return self._aattempt(lambda: func(*args, **kwargs), deadline)

            run: Awaitable[R] = attempt() if self.retry is None else self.retry.run_async(
                attempt, deadline
            )
            if deadline is None:
                return await run
            remaining = deadline.remaining_ns(self._clock()) / 1e9
            try:
                return await asyncio.wait_for(run, remaining)
            except asyncio.TimeoutError:
                raise TimeoutExceededError("the policy's deadline passed") from None
        except Exception as exc:
            if self.fallback is None:
                raise
            return cast(R, self.fallback(exc))

    def __call__(self, func: Callable[P, R]) -> Callable[P, R]:
        """Runs ``func`` (``def`` or ``async def``) through the policy."""
        if inspect.iscoroutinefunction(func):
            afunc = cast(Callable[..., Awaitable[Any]], func)

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                return await self.acall(afunc, *args, **kwargs)

            return cast("Callable[P, R]", async_wrapper)

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return self.call(func, *args, **kwargs)

        return cast("Callable[P, R]", wrapper)



__all__ = ["Policy"]
