"""``Retry``: calls again after a failure, each decision the core's retry loop's."""

from __future__ import annotations

import asyncio
import time
from typing import (
    TYPE_CHECKING,
    Any,
    Awaitable,
    Callable,
    List,
    Optional,
    Tuple,
    TypeVar,
    cast,
)

from . import _stanchion
from ._classify import FAILURE, IGNORED, Classifier, ExceptionFilter, ResultFilter
from ._clock import Clock, clock_of
from ._errors import RefusedError, TimeoutExceededError, described
from ._wrap import is_async, wrap
from .backoff import Backoff, RetryBudget

if TYPE_CHECKING:
    from typing_extensions import ParamSpec

    P = ParamSpec("P")
R = TypeVar("R")
Sleep = Callable[[float], None]
AsyncSleep = Callable[[float], Awaitable[None]]
RetryListener = Callable[[int, float, Optional[BaseException]], None]
#: How an attempt failed, as ``RetryLoop.after_failure`` takes it: the kind, the hint (a
#: refusal's ``retry_after``) and the refusal's reason.
Judged = Tuple[str, Optional[int], Optional[str]]

_RETRYABLE: Judged = ("retryable", None, None)
_FINAL: Judged = ("final", None, None)


class Retry:
    """Calls again after a failure, as the core's retry loop (``RetryLoop``) decides.

    This class only calls, classifies and sleeps; every decision is the core's, the same in
    every language: whether to retry, the wait (the ``backoff``'s, raised to a refusal's
    ``retry_after`` within ``max_delay``), ``max_attempts`` and ``max_elapsed``, the deadline
    (a retry whose wait would end at or past it is not made), and the ``budget`` (asked last,
    so a retry that will not be made spends nothing).

    An exception is judged, in this order: one matching ``ignore_on`` is final (raised at
    once); a ``RefusedError`` (a breaker open, a bulkhead full, a rate limit, a retry budget:
    stanchion's own guards) is a refusal, which ends the call unless ``retry_refusals=True``
    (then it is retried no sooner than its ``retry_after``); one matching ``failure_on`` is
    retried; any other is final. A result for which ``failure_result`` is true is retried.
    When retries stop, the last exception is raised again (or the last result returned); when
    the budget refuses, ``RetryBudgetExhaustedError`` is raised from the last exception. The
    budget is asked at this object's ``clock``. Waits use ``time.sleep`` / ``asyncio.sleep``
    unless ``sleep`` / ``async_sleep`` are given (fake time in tests).

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
        "retry_refusals",
        "_classifier",
        "_seed",
        "_clock",
        "_sleep",
        "_async_sleep",
        "_listeners",
    )

    def __init__(
        self,
        backoff: Optional[Backoff] = None,
        *,
        budget: Optional[RetryBudget] = None,
        failure_on: Optional[ExceptionFilter] = Exception,
        ignore_on: Optional[ExceptionFilter] = None,
        failure_result: Optional[ResultFilter] = None,
        retry_refusals: bool = False,
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
        if not isinstance(retry_refusals, bool):
            raise TypeError(f"retry_refusals must be True or False, got {described(retry_refusals)}")
        if seed is not None and not isinstance(seed, int):
            raise TypeError(f"seed must be an int or None, got {described(seed)}")
        self.backoff = backoff
        self.budget = budget
        self.retry_refusals = retry_refusals
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

    # The core's steps --------------------------------------------------------------------

    def start(
        self, now_ns: Optional[int] = None, *, deadline: Optional[_stanchion.Deadline] = None
    ) -> _stanchion.RetryLoop:
        """The core's retry loop for one call starting at ``now_ns`` (default: now), for a
        loop of your own: ``after_failure(now_ns, error, hint_ns, reason)`` after each failed
        attempt gives the wait in nanoseconds or ``None`` (``stop`` says why), ``resume(now_ns)``
        after the wait gives the next attempt's number or ``None``. It uses this object's
        backoff, budget (the first attempt is deposited now), seed and ``retry_refusals``.
        If ``deadline`` has passed, ``stop`` is ``"deadline"`` and no attempt may be made."""
        budget = self.budget
        return _stanchion.RetryLoop(
            self.backoff._core,
            self._clock() if now_ns is None else now_ns,
            None if budget is None else budget._core,
            deadline,
            self._seed,
            self.retry_refusals,
        )

    def _judge(self, exc: BaseException) -> Optional[Judged]:
        """How the attempt that raised ``exc`` failed, as the core's loop weighs it; ``None``
        when the core's policy already ended the call (an attempt that ran past a policy's
        deadline)."""
        if isinstance(exc, TimeoutExceededError) and exc._decision is not None:
            # A policy's timeout: the core said what the loop is told, whatever the
            # classifier would say of a TimeoutError.
            _, _, step, detail = exc._decision
            if step != "ask" or detail is None:
                return None
            return (detail, None, None)
        outcome = self._classifier.exception(exc)
        if outcome == IGNORED:
            return _FINAL
        if isinstance(exc, RefusedError):
            return ("refused", exc.retry_after_ns, exc.reason)
        return _RETRYABLE if outcome == FAILURE else _FINAL

    def _bad_result(self, result: object) -> bool:
        predicate = self._classifier.failure_result
        return predicate is not None and bool(predicate(result))

    def _next(self, call: _stanchion.RetryLoop, exc: Optional[BaseException]) -> Optional[int]:
        """After a failed attempt (``exc``, or ``None`` for a result judged a failure): the
        core's wait in nanoseconds (the listeners told), or ``None`` to stop."""
        now = self._clock()
        if exc is None:
            wait = call.after_failure(now)
        else:
            judged = self._judge(exc)
            if judged is None:
                return None
            error, hint, reason = judged
            wait = call.after_failure(now, error, hint, reason)
        if wait is not None:
            for listener in self._listeners:
                listener(call.attempts, wait / 1e9, exc)
        return wait

    @staticmethod
    def _stopped(call: _stanchion.RetryLoop, exc: Optional[BaseException], result: Any) -> Any:
        """Ends a call the core stopped: the last exception raised again (the budget's
        refusal raised from it), or the last result returned."""
        if exc is None:
            return result
        if call.stop == "budget_exhausted":
            refusal = call.refusal()
            if refusal is not None:
                raise refusal from exc
        raise exc

    # Sync ---------------------------------------------------------------------------------

    def _loop(
        self,
        attempt: Callable[[], R],
        call: _stanchion.RetryLoop,
        exc: Optional[BaseException],
        result: Any,
    ) -> R:
        """The loop after a first attempt that failed: with ``exc``, or with ``result``
        judged a failure."""
        while True:
            wait = self._next(call, exc)
            if wait is None:
                return cast(R, self._stopped(call, exc, result))
            if wait:
                self._sleep(wait / 1e9)
            if call.resume(self._clock()) is None:
                return cast(R, self._stopped(call, exc, result))
            try:
                result = attempt()
            except Exception as error:
                exc = error
                continue
            if not self._bad_result(result):
                return cast(R, result)
            exc = None

    def _again(
        self,
        attempt: Callable[[], R],
        started: int,
        exc: Optional[BaseException],
        result: Any,
    ) -> R:
        """The decorator's loop after its first attempt, started at ``started``, failed."""
        return self._loop(attempt, self._started(started), exc, result)

    def _started(
        self, started: int, deadline: Optional[_stanchion.Deadline] = None
    ) -> _stanchion.RetryLoop:
        """The core's loop of a call that began at ``started``, made at its first failure.

        ``RetryLoop.start`` checks the deadline (``Deadline.is_expired``), deposits the first
        attempt (``RetryBudget.deposit``) and records the time. The decorators and ``run``
        make those two calls of the core themselves before the first attempt, and the loop
        only once an attempt failed, with the time the call began and ``deposited``: a call
        that succeeds pays for a clock read and the deposit, not for a loop it never needs,
        and every answer is the same."""
        budget = self.budget
        return _stanchion.RetryLoop(
            self.backoff._core,
            started,
            None if budget is None else budget._core,
            deadline,
            self._seed,
            self.retry_refusals,
            True,
        )

    def _begin(self, deadline: Optional[_stanchion.Deadline]) -> int:
        """What `RetryLoop.start` does, with the core's own calls (see `_started`): refuses a
        deadline already past, deposits the first attempt; returns the start time."""
        started = self._clock()
        if deadline is not None and deadline.is_expired(started):
            raise TimeoutExceededError("the deadline passed before the first attempt")
        if self.budget is not None:
            self.budget._core.deposit()
        return started

    def run(
        self,
        attempt: Callable[[], R],
        deadline: Optional[_stanchion.Deadline] = None,
    ) -> R:
        """Runs ``attempt`` until it succeeds or the core's loop stops. A ``deadline``
        already past raises ``TimeoutExceededError`` without calling ``attempt``."""
        started = self._begin(deadline)
        try:
            result = attempt()
        except Exception as exc:
            return self._loop(attempt, self._started(started, deadline), exc, None)
        if not self._bad_result(result):
            return result
        return self._loop(attempt, self._started(started, deadline), None, result)

    # Async --------------------------------------------------------------------------------

    async def _aloop(
        self,
        attempt: Callable[[], Awaitable[R]],
        call: _stanchion.RetryLoop,
        exc: Optional[BaseException],
        result: Any,
    ) -> R:
        while True:
            wait = self._next(call, exc)
            if wait is None:
                return cast(R, self._stopped(call, exc, result))
            if wait:
                await self._async_sleep(wait / 1e9)
            if call.resume(self._clock()) is None:
                return cast(R, self._stopped(call, exc, result))
            try:
                result = await attempt()
            except Exception as error:
                exc = error
                continue
            if not self._bad_result(result):
                return cast(R, result)
            exc = None

    async def _aagain(
        self,
        attempt: Callable[[], Awaitable[R]],
        started: int,
        exc: Optional[BaseException],
        result: Any,
    ) -> R:
        return await self._aloop(attempt, self._started(started), exc, result)

    async def run_async(
        self,
        attempt: Callable[[], Awaitable[R]],
        deadline: Optional[_stanchion.Deadline] = None,
    ) -> R:
        """Awaits ``attempt()`` until it succeeds or the core's loop stops. A ``deadline``
        already past raises ``TimeoutExceededError`` without calling ``attempt``."""
        started = self._begin(deadline)
        try:
            result = await attempt()
        except Exception as exc:
            return await self._aloop(attempt, self._started(started, deadline), exc, None)
        if not self._bad_result(result):
            return result
        return await self._aloop(attempt, self._started(started, deadline), None, result)

    # Blocks and decorators ----------------------------------------------------------------

    def attempts(self) -> Attempts:
        """Retries a block: ``for attempt in retry.attempts(): with attempt: ...``. A failure
        inside ``with attempt`` is swallowed while a retry is due (the loop waits, then runs
        the block again); once retries stop it propagates. A block that succeeds ends the
        loop."""
        return Attempts(self)

    def __call__(self, func: Callable[P, R]) -> Callable[P, R]:
        """Retries ``func`` (``def`` or ``async def``); its signature is kept.

        The first attempt runs inline: a call that succeeds pays for a clock read and the
        deposit into the budget (if any); the core's loop is made at the first failure, with
        the time the call began (see ``_started``)."""
        asynchronous = is_async(func)
        budget = self.budget
        env = {
            "_stanchion_clock": self._clock,
            "_stanchion_deposit": None if budget is None else budget._core.deposit,
            "_stanchion_again": self._aagain if asynchronous else self._again,
            "_stanchion_failed": self._classifier.failure_result,
        }
        checked = self._classifier.failure_result is not None
        if asynchronous:
            template = _ASYNC_CHECKED if checked else _ASYNC
        else:
            template = _SYNC_CHECKED if checked else _SYNC
        if budget is not None:
            template = template.replace(_BEGIN, "    _stanchion_deposit()\n" + _BEGIN)
        return cast("Callable[P, R]", wrap(func, template, env))


_BEGIN = "    _stanchion_started = _stanchion_clock()\n"

_SYNC = """
def _stanchion_wrapper({params}):
    _stanchion_started = _stanchion_clock()
    try:
        _stanchion_result = _stanchion_func({call})
    except Exception as _stanchion_exc:
        return _stanchion_again(lambda: _stanchion_func({call}), _stanchion_started, _stanchion_exc, None)
    return _stanchion_result
"""

_SYNC_CHECKED = _SYNC.replace(
    "    return _stanchion_result\n",
    "    if _stanchion_failed(_stanchion_result):\n"
    "        return _stanchion_again(lambda: _stanchion_func({call}), _stanchion_started, None, _stanchion_result)\n"
    "    return _stanchion_result\n",
)

_ASYNC = (
    _SYNC.replace("def _stanchion_wrapper", "async def _stanchion_wrapper")
    .replace("= _stanchion_func(", "= await _stanchion_func(")
    .replace("return _stanchion_again(", "return await _stanchion_again(")
)

_ASYNC_CHECKED = (
    _SYNC_CHECKED.replace("def _stanchion_wrapper", "async def _stanchion_wrapper")
    .replace("= _stanchion_func(", "= await _stanchion_func(")
    .replace("return _stanchion_again(", "return await _stanchion_again(")
)


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

    __slots__ = ("_retry", "_call", "_wait", "_done", "_error")

    def __init__(self, retry: Retry) -> None:
        self._retry = retry
        self._call: Optional[_stanchion.RetryLoop] = None
        self._wait: Optional[int] = None
        self._done = False
        #: The failure a due retry swallowed.
        self._error: Optional[BaseException] = None

    def _next(self) -> Optional[Attempt]:
        if self._done:
            return None
        retry = self._retry
        call = self._call
        if call is None:
            call = self._call = retry.start()
            return Attempt(self, call.attempts)
        if self._wait is None:
            return None  # the last attempt reported no failure (or was not used)
        number = call.resume(retry._clock())
        if number is None:
            self._done = True
            error, self._error = self._error, None
            if error is not None:
                raise error
            return None
        return Attempt(self, number)

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
        call = self._call
        self._done = True  # until the core grants a retry
        if exc is None or not isinstance(exc, Exception) or call is None:
            return False
        wait = self._retry._next(call, exc)
        if wait is None:
            if call.stop == "budget_exhausted":
                refusal = call.refusal()
                if refusal is not None:
                    raise refusal from exc
            return False
        self._done = False
        self._wait = wait
        self._error = exc
        return True


__all__ = ["Attempt", "Attempts", "Retry"]
