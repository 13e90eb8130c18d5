"""``Retry``: calls again after a failure, as a ``Backoff`` says, within a ``RetryBudget``."""

from __future__ import annotations

import asyncio
import functools
import time
from typing import (
    TYPE_CHECKING,
    Any,
    Awaitable,
    Callable,
    List,
    Optional,
    TypeVar,
    cast,
)

from . import _stanchion
from ._classify import FAILURE, Classifier, ExceptionFilter, ResultFilter
from ._clock import Clock, clock_of
from ._errors import RefusedError, RetryBudgetExhaustedError, described
from .backoff import Backoff, RetryBudget
from ._wrap import is_async

if TYPE_CHECKING:
    from typing_extensions import ParamSpec

    P = ParamSpec("P")
R = TypeVar("R")
Sleep = Callable[[float], None]
AsyncSleep = Callable[[float], Awaitable[None]]
RetryListener = Callable[[int, float, Optional[BaseException]], None]


class Retry:
    """Calls again after a failure, waiting as ``backoff`` says, within ``budget``.

    A call is retried when it raises an exception matching ``failure_on`` and not
    ``ignore_on``, or returns a result for which ``failure_result`` is true. When the backoff
    stops, the last exception is raised again (or the last result returned); when the budget
    refuses, ``RetryBudgetExhaustedError`` is raised from the last exception. A refusal's
    ``retry_after`` (an open breaker, an empty limiter) raises the next wait to at least that,
    within ``max_delay``. Waits use ``time.sleep`` / ``asyncio.sleep`` unless ``sleep`` /
    ``async_sleep`` are given (fake time in tests).

    >>> retry = Retry(Backoff.constant(0.0, max_attempts=3))
    >>> attempts = []
    >>> @retry
    ... def flaky() -> str:
    ...     attempts.append(1)
    ...     if len(attempts) < 3:
    ...         raise ConnectionError("try again")
    ...     return "ok"
    >>> flaky(), len(attempts)
    ('ok', 3)
    """

    __slots__ = (
        "backoff",
        "budget",
        "_classifier",
        "_seed",
        "_clock",
        "_sleep",
        "_async_sleep",
        "_listeners",
        "_timed",
    )

    def __init__(
        self,
        backoff: Optional[Backoff] = None,
        *,
        budget: Optional[RetryBudget] = None,
        failure_on: Optional[ExceptionFilter] = Exception,
        ignore_on: Optional[ExceptionFilter] = None,
        failure_result: Optional[ResultFilter] = None,
        seed: Optional[int] = None,
        clock: Optional[Clock] = None,
        sleep: Optional[Sleep] = None,
        async_sleep: Optional[AsyncSleep] = None,
        on_retry: Optional[RetryListener] = None,
    ) -> None:
        if backoff is None:
            backoff = Backoff.exponential(0.1, 2.0, jitter="full", max_delay=10.0)
        if not isinstance(backoff, Backoff):
            raise TypeError(f"backoff must be a stanchion.Backoff, got {described(backoff)}")
        if budget is not None and not isinstance(budget, RetryBudget):
            raise TypeError(
                f"budget must be a stanchion.RetryBudget or None, got {described(budget)}"
            )
        if seed is not None and not isinstance(seed, int):
            raise TypeError(f"seed must be an int or None, got {described(seed)}")
        self.backoff = backoff
        self.budget = budget
        self._classifier = Classifier(failure_on, ignore_on, failure_result)
        self._seed = seed
        self._clock = clock_of(clock)
        self._sleep: Sleep = time.sleep if sleep is None else sleep
        self._async_sleep: AsyncSleep = asyncio.sleep if async_sleep is None else async_sleep
        self._listeners: List[RetryListener] = []
        if on_retry is not None:
            self.on_retry(on_retry)

    def on_retry(self, listener: RetryListener) -> RetryListener:
        """Calls ``listener(retry_number, wait_seconds, exception_or_None)`` before each
        wait; usable as a decorator."""
        if not callable(listener):
            raise TypeError(
                "on_retry must be a callable taking (retry_number, wait_seconds, exception), "
                f"got {described(listener)}"
            )
        self._listeners.append(listener)
        return listener

    def _next_wait(
        self,
        retrying: _stanchion.Retrying,
        error: Optional[BaseException],
        deadline: Optional[_stanchion.Deadline],
    ) -> Optional[int]:
        """The wait before the next attempt in ns, or ``None`` to stop. Spends the budget."""
        now = self._clock()
        hint = error.retry_after_ns if isinstance(error, RefusedError) else None
        wait = retrying.next_delay(now, hint)
        if wait is None:
            return None
        if deadline is not None and wait >= deadline.remaining_ns(now):
            return None
        if self.budget is not None:
            try:
                self.budget._core.check_retry()
            except RetryBudgetExhaustedError as refused:
                if error is None:
                    return None
                raise refused from error
        for listener in self._listeners:
            listener(retrying.retries, wait / 1e9, error)
        return wait

    def _retrying(self, started: int) -> _stanchion.Retrying:
        seed = _stanchion.random_seed() if self._seed is None else self._seed
        return self.backoff._core.start(seed, started)

    def _first_failed(self, exc: Exception) -> bool:
        return self._classifier.exception(exc) == FAILURE

    def _bad_result(self, result: object) -> bool:
        predicate = self._classifier.failure_result
        return predicate is not None and bool(predicate(result))

    def run(
        self,
        attempt: Callable[[], R],
        deadline: Optional[_stanchion.Deadline] = None,
    ) -> R:
        """Runs ``attempt`` until it succeeds or retries stop."""
        if self.budget is not None:
            self.budget._core.deposit()
        started = self._clock()
        try:
            result = attempt()
        except Exception as exc:
            if not self._first_failed(exc):
                raise
            return self._again(attempt, started, exc, None, deadline)
        if not self._bad_result(result):
            return result
        return self._again(attempt, started, None, result, deadline)

    async def run_async(
        self,
        attempt: Callable[[], Awaitable[R]],
        deadline: Optional[_stanchion.Deadline] = None,
    ) -> R:
        """Awaits ``attempt()`` until it succeeds or retries stop."""
        if self.budget is not None:
            self.budget._core.deposit()
        retrying = self._retrying(self._clock())
        while True:
            try:
                result = await attempt()
            except Exception as exc:
                if not self._first_failed(exc):
                    raise
                wait = self._next_wait(retrying, exc, deadline)
                if wait is None:
                    raise
            else:
                if not self._bad_result(result):
                    return result
                wait = self._next_wait(retrying, None, deadline)
                if wait is None:
                    return result
            if wait:
                await self._async_sleep(wait / 1e9)

    def _again(
        self,
        attempt: Callable[[], R],
        started: int,
        exc: Optional[Exception],
        result: Any,
        deadline: Optional[_stanchion.Deadline] = None,
    ) -> R:
        """The sync loop after a first attempt (started at ``started``) that failed: with
        ``exc``, or with ``result`` judged a failure."""
        retrying = self._retrying(started)
        while True:
            wait = self._next_wait(retrying, exc, deadline)
            if wait is None:
                if exc is not None:
                    raise exc
                return cast(R, result)
            if wait:
                self._sleep(wait / 1e9)
            try:
                result = attempt()
            except Exception as error:
                if not self._first_failed(error):
                    raise
                exc = error
            else:
                if not self._bad_result(result):
                    return cast(R, result)
                exc = None

    def attempts(self) -> Attempts:
        """Retries a block: ``for attempt in retry.attempts(): with attempt: ...``. A failure
        inside ``with attempt`` is swallowed while a retry is due (the loop waits, then runs
        the block again); once retries stop it propagates. A block that succeeds ends the
        loop."""
        return Attempts(self)

    def __call__(self, func: Callable[P, R]) -> Callable[P, R]:
        """Retries ``func`` (``def`` or ``async def``); its signature is kept."""
        if is_async(func):
            afunc = cast(Callable[..., Awaitable[Any]], func)

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                return await self.run_async(lambda: afunc(*args, **kwargs))

            return cast("Callable[P, R]", async_wrapper)

        budget = self.budget
        deposit = None if budget is None else budget._core.deposit
        clock = self._clock
        classify = self._classifier.exception
        failure_result = self._classifier.failure_result

        # The first attempt runs inline: a call that succeeds pays for a clock read only.
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if deposit is not None:
                deposit()
            started = clock()
            try:
                result = func(*args, **kwargs)
            except Exception as exc:
                if classify(exc) != FAILURE:
                    raise
                return self._again(lambda: func(*args, **kwargs), started, exc, None)
            if failure_result is None or not failure_result(result):
                return result
            return self._again(lambda: func(*args, **kwargs), started, None, result)

        return cast("Callable[P, R]", wrapper)


class Attempt:
    """One run of a retried block; use it as ``with attempt:`` (or ``async with``)."""

    __slots__ = ("_attempts", "number")

    def __init__(self, attempts: Attempts, number: int) -> None:
        self._attempts = attempts
        #: 1 for the first attempt.
        self.number = number

    def __enter__(self) -> Attempt:
        return self

    def __exit__(self, exc_type: Any, exc: Optional[BaseException], tb: Any) -> bool:
        return self._attempts._finished(exc)

    async def __aenter__(self) -> Attempt:
        return self

    async def __aexit__(self, exc_type: Any, exc: Optional[BaseException], tb: Any) -> bool:
        return self._attempts._finished(exc)


class Attempts:
    """The attempts of one retried block: iterate (``for``, or ``async for`` to wait with
    ``async_sleep``)."""

    __slots__ = ("_retry", "_retrying", "_wait", "_done", "_number")

    def __init__(self, retry: Retry) -> None:
        self._retry = retry
        self._retrying: Optional[_stanchion.Retrying] = None
        self._wait: Optional[int] = None
        self._done = False
        self._number = 0

    def _next(self) -> Optional[Attempt]:
        if self._done:
            return None
        if self._number == 0:
            if self._retry.budget is not None:
                self._retry.budget._core.deposit()
            self._retrying = self._retry._retrying(self._retry._clock())
        elif self._wait is None:
            return None  # the last attempt reported no failure (or was not used)
        self._number += 1
        return Attempt(self, self._number)

    def __iter__(self) -> Attempts:
        return self

    def __next__(self) -> Attempt:
        if self._wait:
            self._retry._sleep(self._wait / 1e9)
        attempt = self._next()
        self._wait = None
        if attempt is None:
            raise StopIteration
        return attempt

    def __aiter__(self) -> Attempts:
        return self

    async def __anext__(self) -> Attempt:
        if self._wait:
            await self._retry._async_sleep(self._wait / 1e9)
        attempt = self._next()
        self._wait = None
        if attempt is None:
            raise StopAsyncIteration
        return attempt

    def _finished(self, exc: Optional[BaseException]) -> bool:
        retry = self._retry
        retrying = self._retrying
        if exc is None or not isinstance(exc, Exception) or retrying is None:
            self._done = True
            return False
        if retry._classifier.exception(exc) != FAILURE:
            self._done = True
            return False
        self._done = True  # until a retry is granted
        wait = retry._next_wait(retrying, exc, None)
        if wait is None:
            return False
        self._done = False
        self._wait = wait
        return True


__all__ = ["Attempt", "Attempts", "Retry"]
