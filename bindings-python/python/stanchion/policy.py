"""``Policy``: one call through every primitive, in the order of docs/semantics.md §6."""

from __future__ import annotations

import asyncio
import functools
import inspect
from typing import (
    TYPE_CHECKING,
    Any,
    Awaitable,
    Callable,
    List,
    NoReturn,
    Optional,
    Tuple,
    TypeVar,
    cast,
    overload,
)

from . import _stanchion
from ._classify import FAILURE, SUCCESS
from ._clock import Clock, clock_of
from ._errors import TimeoutExceededError, described
from .adaptive import AdaptiveLimiter
from .breaker import CircuitBreaker
from .bulkhead import Bulkhead, _timed_out
from .limiter import RateLimiter
from .retry import Retry
from ._wrap import is_async

if TYPE_CHECKING:
    from typing_extensions import ParamSpec, deprecated

    P = ParamSpec("P")
else:

    def deprecated(message: str) -> Callable[[Any], Any]:
        """Typing only: marks the overload of ``call`` that type checkers report."""
        return lambda func: func


R = TypeVar("R")
Fallback = Callable[[Exception], Any]

# The same words as the deprecated overload of `call` (which type checkers need as a literal).
_USE_ACALL = (
    "Policy.call() runs a sync function; for a coroutine function use "
    "`await policy.acall(func, ...)`, or decorate the `async def` with the policy"
)


class _AwaitableResult(BaseException):
    """A sync call through the policy returned an awaitable: a ``BaseException`` so that no
    layer records it as the dependency's outcome, retries it or falls back; ``call`` turns it
    into a ``TypeError``."""


def _name(func: object) -> str:
    return str(getattr(func, "__qualname__", None) or repr(func))


def _sync_only(func: Callable[..., R], args: Any, kwargs: Any) -> Callable[[], R]:
    """``func(*args, **kwargs)``, refusing an awaitable result (closed, so that no "never
    awaited" warning follows): the policy would otherwise count the coroutine object as the
    call's success."""

    def call() -> R:
        result = func(*args, **kwargs)
        if inspect.isawaitable(result):
            close = getattr(result, "close", None)
            if close is not None:
                close()
            raise _AwaitableResult(type(result).__name__)
        return result

    return call


def _ended(ending: str, message: str) -> TimeoutExceededError:
    """The error of an attempt that ended as ``ending`` (a name of the core's
    ``policy::Ending``), carrying the core's decision on it for the policy's breaker, adaptive
    limiter and retry."""
    error = TimeoutExceededError(message)
    error._decision = _stanchion.attempt_ended(ending)
    return error


def _report(
    breaker: Optional[CircuitBreaker],
    permit: Optional[_stanchion.BreakerPermit],
    adaptive: Optional[AdaptiveLimiter],
    sample: Optional[_stanchion.AdaptivePermit],
    exc: Exception,
    called: bool,
) -> None:
    """Tells the breaker (``permit``) and the adaptive limiter (``sample``) how an attempt
    that raised ``exc`` ended: as the core decided for a timeout; as the caller judged the
    call's own error (the breaker's classifier; without a breaker, a failure, as the core's
    ``Verdict::failure``), the adaptive sample following that verdict as the core maps it (an
    error the limiter's ``drop_on`` matches being a refusal for overload, ``Verdict::overload``);
    released, with no sample, for an attempt whose call was never made (a guard inside
    refused), as the core decides for one (``Ending::Refused``)."""
    decision = exc._decision if isinstance(exc, TimeoutExceededError) else None
    if decision is not None:
        if permit is not None:
            getattr(permit, decision[0])()
        if sample is not None:
            sample.record(decision[1])
    elif called:
        verdict = FAILURE if breaker is None else breaker._classifier.exception(exc)
        if breaker is not None and permit is not None:
            breaker._core.record(permit, verdict)
        if sample is not None and adaptive is not None:
            sample.record(_stanchion.attempt_judged(verdict, adaptive._overloaded(exc)))
    else:
        if permit is not None:
            permit.release()
        if sample is not None:
            sample.release()


def _cancelled(
    permit: Optional[_stanchion.BreakerPermit], sample: Optional[_stanchion.AdaptivePermit]
) -> None:
    """The caller cancelled the call: the core's decision for that."""
    decision = _stanchion.attempt_ended("cancelled")
    if permit is not None:
        getattr(permit, decision[0])()
    if sample is not None:
        sample.record(decision[1])


def _abandoned(
    permit: Optional[_stanchion.BreakerPermit], sample: Optional[_stanchion.AdaptivePermit]
) -> None:
    """Another ``BaseException`` ended the attempt (``KeyboardInterrupt``): nobody knows how
    the call went, so both permits are given back and nothing is recorded."""
    if permit is not None:
        permit.release()
    if sample is not None:
        sample.release()


def _answered(
    breaker: Optional[CircuitBreaker],
    permit: Optional[_stanchion.BreakerPermit],
    sample: Optional[_stanchion.AdaptivePermit],
    result: object,
) -> None:
    """Tells the breaker and the adaptive limiter that the call returned ``result``, judged by
    the breaker's ``failure_result`` (without a breaker, a success)."""
    verdict = FAILURE if breaker is not None and breaker._classifier.result(result) else SUCCESS
    if breaker is not None and permit is not None:
        breaker._core.record(permit, verdict)
    if sample is not None:
        sample.record(_stanchion.attempt_judged(verdict))


def _left_policy(exc: BaseException) -> None:
    """``exc`` leaves the policy that raised it: its decision was for that policy's breaker
    and retry only, and an enclosing policy judges the error as any other."""
    if isinstance(exc, TimeoutExceededError):
        exc._decision = None


def _gave_up(cut: bool, guard: str) -> Exception:
    """The error of a wait in ``guard``'s queue that ended without a permit: the core's
    ``deadline_before_call`` when the policy's deadline bounded it, else the guard's own
    refusal (its timeout passed)."""
    if cut:
        return _ended(
            "deadline_before_call", f"the policy's deadline passed while waiting for the {guard}"
        )
    return _timed_out()


class _Expired(Exception):
    """An attempt's call ran up against its limit; ``ending`` names the limit, and so the
    core's ending (``"attempt_timeout"`` or ``"deadline"``)."""

    def __init__(self, ending: str) -> None:
        super().__init__(ending)
        self.ending = ending


def _uncancel(task: "asyncio.Task[Any]") -> int:
    """Withdraws one cancellation request of ``task``; returns how many remain (Python 3.11
    and later count them; before, 0)."""
    uncancel = getattr(task, "uncancel", None)
    return 0 if uncancel is None else int(uncancel())


async def _limited(func: Callable[[], Awaitable[R]], limit: Tuple[int, str]) -> R:
    """Awaits ``func()`` for at most ``limit`` (``(nanoseconds, ending)``), cancelling it in
    this task when the time is up, as ``asyncio.timeout`` does (which Python 3.9 lacks): no
    new task, so the caller's context stays. Raises ``_Expired`` when the timer cancelled it;
    a cancellation of anyone else's stays a ``CancelledError``, and a call that caught the
    cancellation and answered anyway keeps its answer."""
    task = asyncio.current_task()
    if task is None:
        return await func()
    current: "asyncio.Task[Any]" = task
    limit_ns, ending = limit
    cancelling = getattr(current, "cancelling", None)
    before = 0 if cancelling is None else int(cancelling())
    fired = False

    def expire() -> None:
        nonlocal fired
        fired = True
        current.cancel()

    timer = asyncio.get_running_loop().call_later(limit_ns / 1e9, expire)
    try:
        result = await func()
    except asyncio.CancelledError:
        timer.cancel()
        if fired and _uncancel(current) <= before:
            raise _Expired(ending) from None
        raise
    except BaseException:
        timer.cancel()
        if fired:
            _uncancel(current)
        raise
    timer.cancel()
    if fired:
        _uncancel(current)
    return result


class Policy:
    """Composes the primitives around one call, outermost first:
    fallback → timeout → retry (with its budget) → circuit breaker → bulkhead or adaptive
    limiter → rate limiter → the call.

    ``timeout`` (seconds) is one deadline for the whole call, retries and waits included: an
    attempt whose deadline has passed is not started, a retry whose wait would end past it is
    not made, and ``TimeoutExceededError`` (a ``TimeoutError``) is raised. ``attempt_timeout``
    (seconds, > 0) bounds each attempt's call on its own, within what remains of the deadline.
    A coroutine is cancelled when its limit passes; a running ``def`` cannot be interrupted,
    so for it both are checked only between attempts. ``fallback(exc)`` turns any
    ``Exception`` that escapes into a value. Each attempt waits for a bulkhead slot in its
    queue (a thread parked, a coroutine awaiting) and for a limiter's token, no longer than
    their own timeouts and the deadline. ``adaptive`` (an ``AdaptiveLimiter``) is the
    alternative to a fixed ``bulkhead``: each attempt waits for its permit the same way, and
    given both, an attempt holds a permit of each, the bulkhead's first.

    What the breaker and the retry are told of each attempt is the core's decision
    (``policy::Ending::decide``), the same in every language: a call cut off at its
    ``attempt_timeout`` is a breaker failure (slow, too, once its limit reaches the breaker's
    ``slow_call_duration``) and is retried as the retry's backoff and the deadline allow, even
    when the retry's classifier would not retry a ``TimeoutError``; a call cut off at the
    deadline is a breaker failure and ends the call. A refusal by the bulkhead or the limiter,
    or the deadline passing while waiting for them, releases the breaker's permit without
    recording an outcome, and so does cancelling the call (the task's ``cancel()``): that is
    the caller's choice, not the dependency's failure. Cancellation releases every permit and
    probe slot. The adaptive limiter's sample follows the same decision: a call cut off at
    its limit is a drop (which lowers the limit), a call that answered is a latency sample
    (an error the breaker's ``ignore_on`` matches samples nothing; the limiter's own
    ``drop_on`` is not asked), and a call refused inside, never started or cancelled gives its
    permit back with no sample.

    >>> policy = Policy(breaker=CircuitBreaker(), bulkhead=Bulkhead(max_concurrent=4),
    ...                 fallback=lambda exc: "cached")
    >>> @policy
    ... def fetch() -> str:
    ...     raise ConnectionError("down")
    >>> fetch()
    'cached'
    """

    __slots__ = (
        "fallback",
        "timeout",
        "attempt_timeout",
        "retry",
        "breaker",
        "bulkhead",
        "adaptive",
        "limiter",
        "_attempt_timeout_ns",
        "_clock",
    )

    def __init__(
        self,
        *,
        fallback: Optional[Fallback] = None,
        timeout: Optional[float] = None,
        attempt_timeout: Optional[float] = None,
        retry: Optional[Retry] = None,
        breaker: Optional[CircuitBreaker] = None,
        bulkhead: Optional[Bulkhead] = None,
        adaptive: Optional[AdaptiveLimiter] = None,
        limiter: Optional[RateLimiter] = None,
        clock: Optional[Clock] = None,
    ) -> None:
        for name, value, kind in (
            ("retry", retry, Retry),
            ("breaker", breaker, CircuitBreaker),
            ("bulkhead", bulkhead, Bulkhead),
            ("adaptive", adaptive, AdaptiveLimiter),
        ):
            if value is not None and not isinstance(value, kind):
                raise TypeError(
                    f"{name} must be a stanchion.{kind.__name__} or None, got {described(value)}"
                )
        if limiter is not None and not hasattr(limiter, "acquire_nowait"):
            raise TypeError(
                "limiter must be a stanchion.RateLimiter (or a key's view) or None, "
                f"got {described(limiter)}"
            )
        if fallback is not None and not callable(fallback):
            raise TypeError(
                f"fallback must be a callable taking the exception, got {described(fallback)}"
            )
        if timeout is not None:
            _stanchion.Deadline.after(0, timeout)  # checks the value now
        self._attempt_timeout_ns = (
            None if attempt_timeout is None else _stanchion.attempt_timeout_ns(attempt_timeout)
        )
        self.fallback = fallback
        self.timeout = timeout
        self.attempt_timeout = attempt_timeout
        self.retry = retry
        self.breaker = breaker
        self.bulkhead = bulkhead
        self.adaptive = adaptive
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

    def _wait_ns(
        self, timeout_ns: Optional[int], deadline: Optional[_stanchion.Deadline]
    ) -> Tuple[Optional[int], bool]:
        """How long a thread may wait in a queue whose own timeout is ``timeout_ns``: that,
        within the time left to the deadline; and whether the deadline is what bounds it."""
        if deadline is not None:
            left = deadline.remaining_ns(self._clock())
            if timeout_ns is None or left < timeout_ns:
                return left, True
        return timeout_ns, False

    def _enter_bulkhead(
        self, bulkhead: Bulkhead, deadline: Optional[_stanchion.Deadline]
    ) -> _stanchion.BulkheadPermit:
        """A slot, this thread waiting in the bulkhead's queue no longer than its timeout and
        the time left to the deadline."""
        timeout_ns, cut = self._wait_ns(bulkhead._timeout_ns, deadline)
        permit = bulkhead._core.wait(bulkhead._lane, timeout_ns)
        if permit is None:
            raise _gave_up(cut, "bulkhead")
        return permit

    def _enter_adaptive(
        self, adaptive: AdaptiveLimiter, deadline: Optional[_stanchion.Deadline]
    ) -> _stanchion.AdaptivePermit:
        """A permit, this thread waiting in the adaptive limiter's queue no longer than its
        timeout and the time left to the deadline."""
        timeout_ns, cut = self._wait_ns(adaptive._timeout_ns, deadline)
        permit = adaptive._core.wait(timeout_ns)
        if permit is None:
            raise _gave_up(cut, "adaptive limiter")
        return permit

    def _token_wait(self, deadline: Optional[_stanchion.Deadline]) -> Optional[float]:
        """How long an attempt may wait for the limiter's token: its ``timeout``, within the
        time left to the deadline (``None``: the limiter's own, there being no deadline). A
        wait cut short this way is refused (``RateLimitedError``), as the core's policy
        refuses it."""
        if deadline is None:
            return None
        limiter = cast(RateLimiter, self.limiter)
        return min(limiter._max_wait(), deadline.remaining_ns(self._clock()) / 1e9)

    def _inner(
        self,
        func: Callable[[], R],
        deadline: Optional[_stanchion.Deadline],
        held: Optional[List[_stanchion.AdaptivePermit]],
    ) -> R:
        """Bulkhead → adaptive limiter (its permit left in ``held`` for the attempt to report)
        → limiter → the call."""
        bulkhead = self.bulkhead
        permit = None if bulkhead is None else self._enter_bulkhead(bulkhead, deadline)
        try:
            adaptive = self.adaptive
            if adaptive is not None and held is not None:
                held.append(self._enter_adaptive(adaptive, deadline))
            limiter = self.limiter
            if limiter is not None:
                if deadline is None:
                    limiter._take()
                else:
                    limiter.acquire_blocking(timeout=self._token_wait(deadline))
            return func()
        finally:
            if permit is not None:
                permit.release()

    def _attempt(self, func: Callable[[], R], deadline: Optional[_stanchion.Deadline]) -> R:
        self._check(deadline)
        breaker = self.breaker
        if breaker is None and self.adaptive is None:
            return self._inner(func, deadline, None)
        permit = None if breaker is None else breaker._core.acquire()
        held: List[_stanchion.AdaptivePermit] = []
        called = False

        def call() -> R:
            nonlocal called
            called = True
            return func()

        try:
            result = self._inner(call, deadline, held)
        except Exception as exc:
            _report(breaker, permit, self.adaptive, held[0] if held else None, exc, called)
            raise
        except BaseException:
            _abandoned(permit, held[0] if held else None)
            raise
        _answered(breaker, permit, held[0] if held else None, result)
        return result

    @overload
    @deprecated(
        "Policy.call() runs a sync function; for a coroutine function use "
        "`await policy.acall(func, ...)`, or decorate the `async def` with the policy"
    )
    def call(self, func: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> NoReturn: ...

    @overload
    def call(self, func: Callable[..., R], *args: Any, **kwargs: Any) -> R: ...

    def call(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Calls ``func(*args, **kwargs)`` through the policy. ``func`` must be a sync
        function: a coroutine function, or a call that returns an awaitable, raises
        ``TypeError`` (use ``acall``), with nothing recorded, retried or falling back."""
        if is_async(func):
            raise TypeError(f"{_name(func)} is a coroutine function: {_USE_ACALL}")
        try:
            deadline = self._deadline()
            attempt = functools.partial(self._attempt, _sync_only(func, args, kwargs), deadline)
            if self.retry is None:
                return attempt()
            return self.retry.run(attempt, deadline)
        except _AwaitableResult as returned:
            raise TypeError(
                f"{_name(func)} returned an awaitable ({returned.args[0]}): {_USE_ACALL}"
            ) from None
        except Exception as exc:
            _left_policy(exc)
            if self.fallback is None:
                raise
            return self.fallback(exc)

    # Async --------------------------------------------------------------------------------

    def _wait_seconds(
        self, timeout: Optional[float], deadline: Optional[_stanchion.Deadline]
    ) -> Tuple[Optional[float], bool]:
        """How long a task may wait in a queue whose own timeout is ``timeout`` seconds: that,
        within the time left to the deadline; and whether the deadline is what bounds it."""
        if deadline is not None:
            left = deadline.remaining_ns(self._clock()) / 1e9
            if timeout is None or left < timeout:
                return left, True
        return timeout, False

    async def _aenter_bulkhead(
        self, bulkhead: Bulkhead, deadline: Optional[_stanchion.Deadline]
    ) -> _stanchion.BulkheadPermit:
        """A slot, this task waiting in the bulkhead's queue no longer than its timeout and the
        time left to the deadline."""
        timeout, cut = self._wait_seconds(bulkhead._timeout, deadline)
        permit = await bulkhead._await_slot(bulkhead._lane, timeout)
        if permit is None:
            raise _gave_up(cut, "bulkhead")
        return permit

    async def _aenter_adaptive(
        self, adaptive: AdaptiveLimiter, deadline: Optional[_stanchion.Deadline]
    ) -> _stanchion.AdaptivePermit:
        """A permit, this task waiting in the adaptive limiter's queue no longer than its
        timeout and the time left to the deadline."""
        timeout, cut = self._wait_seconds(adaptive._timeout, deadline)
        permit = await adaptive._await_permit(timeout)
        if permit is None:
            raise _gave_up(cut, "adaptive limiter")
        return permit

    async def _ainner(
        self,
        func: Callable[[], Awaitable[R]],
        deadline: Optional[_stanchion.Deadline],
        held: Optional[List[_stanchion.AdaptivePermit]],
    ) -> R:
        """Bulkhead → adaptive limiter (its permit left in ``held`` for the attempt to report)
        → limiter → the call."""
        bulkhead = self.bulkhead
        permit = None if bulkhead is None else await self._aenter_bulkhead(bulkhead, deadline)
        try:
            adaptive = self.adaptive
            if adaptive is not None and held is not None:
                held.append(await self._aenter_adaptive(adaptive, deadline))
            if self.limiter is not None:
                await self.limiter.acquire(timeout=self._token_wait(deadline))
            return await func()
        finally:
            if permit is not None:
                permit.release()

    async def _acall_limited(
        self, func: Callable[[], Awaitable[R]], deadline: Optional[_stanchion.Deadline]
    ) -> R:
        """The call, cut off at its limit (the core's ``attempt_limit``: the attempt timeout
        within the time left to the deadline), which raises ``TimeoutExceededError`` carrying
        the core's decision on the attempt."""
        limit = _stanchion.attempt_limit(self._attempt_timeout_ns, deadline, self._clock())
        if limit is None:
            return await func()
        try:
            return await _limited(func, limit)
        except _Expired as expired:
            if expired.ending == "attempt_timeout":
                message = f"the attempt ran past its attempt_timeout ({self.attempt_timeout} s)"
            else:
                message = f"the policy's deadline passed during the call (timeout {self.timeout} s)"
            raise _ended(expired.ending, message) from None

    async def _aattempt(
        self, func: Callable[[], Awaitable[R]], deadline: Optional[_stanchion.Deadline]
    ) -> R:
        self._check(deadline)
        breaker = self.breaker
        if breaker is None and self.adaptive is None:
            return await self._ainner(lambda: self._acall_limited(func, deadline), deadline, None)
        permit = None if breaker is None else breaker._core.acquire()
        held: List[_stanchion.AdaptivePermit] = []
        called = False

        def call() -> Awaitable[R]:
            nonlocal called
            called = True
            return self._acall_limited(func, deadline)

        try:
            result = await self._ainner(call, deadline, held)
        except Exception as exc:
            _report(breaker, permit, self.adaptive, held[0] if held else None, exc, called)
            raise
        except asyncio.CancelledError:
            _cancelled(permit, held[0] if held else None)
            raise
        except BaseException:
            _abandoned(permit, held[0] if held else None)
            raise
        _answered(breaker, permit, held[0] if held else None, result)
        return result

    async def acall(self, func: Callable[..., Awaitable[R]], *args: Any, **kwargs: Any) -> R:
        """Awaits ``func(*args, **kwargs)`` through the policy."""
        try:
            deadline = self._deadline()

            def attempt() -> Awaitable[R]:
                return self._aattempt(lambda: func(*args, **kwargs), deadline)

            if self.retry is None:
                return await attempt()
            return await self.retry.run_async(attempt, deadline)
        except Exception as exc:
            _left_policy(exc)
            if self.fallback is None:
                raise
            return cast(R, self.fallback(exc))

    def __call__(self, func: Callable[P, R]) -> Callable[P, R]:
        """Runs ``func`` (``def`` or ``async def``) through the policy."""
        if is_async(func):
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
