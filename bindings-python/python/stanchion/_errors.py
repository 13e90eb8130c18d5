"""The exceptions: one base, refusals that say when to retry, and config errors."""

from __future__ import annotations

from typing import Any, Optional, Tuple

__all__ = [
    "StanchionError",
    "RefusedError",
    "CircuitOpenError",
    "RateLimitedError",
    "BulkheadFullError",
    "RetryBudgetExhaustedError",
    "TimeoutExceededError",
    "FleetError",
    "FleetUnavailableError",
    "SoldOutError",
    "ConfigError",
]


class StanchionError(Exception):
    """Base class of every error stanchion raises."""


class RefusedError(StanchionError):
    """A primitive refused the call.

    ``reason`` is the core's stable name (``"breaker_open"``, ``"rate_limited"``, ...);
    ``retry_after`` is how many seconds to wait before the same call can pass, or ``None``
    when waiting alone cannot help.
    """

    reason: str
    retry_after_ns: Optional[int]

    def __init__(self, message: str, reason: str, retry_after_ns: Optional[int]) -> None:
        super().__init__(message)
        self.reason = reason
        self.retry_after_ns = retry_after_ns

    @property
    def retry_after(self) -> Optional[float]:
        """Seconds to wait before retrying, or ``None``."""
        if self.retry_after_ns is None:
            return None
        return self.retry_after_ns / 1e9

    def __reduce__(self) -> tuple[type, tuple[str, str, Optional[int]]]:
        return (type(self), (str(self), self.reason, self.retry_after_ns))


class CircuitOpenError(RefusedError):
    """The breaker is open, forced open, or has every half-open probe slot taken."""


class RateLimitedError(RefusedError):
    """The rate limiter has no token now (or the keyed limiter's table is full)."""


class BulkheadFullError(RefusedError):
    """The bulkhead is at its concurrency limit, or its wait queue is full."""


class RetryBudgetExhaustedError(RefusedError):
    """The retry budget refused a retry; the last failure is the ``__cause__``."""


class TimeoutExceededError(StanchionError, TimeoutError):
    """A policy's deadline passed before the call completed (or before it started), or an
    attempt ran past the policy's ``attempt_timeout``."""

    #: While the error is inside the policy that raised it: the core's decision on the
    #: attempt it ended (``_stanchion.attempt_ended``: the breaker's report, the retry loop's
    #: step and its detail), which the policy's breaker and retry follow instead of their
    #: classifiers. ``None`` once it leaves that policy, so an enclosing one judges it as any
    #: other error.
    _decision: Optional[Tuple[str, str, Optional[str]]] = None


class FleetError(StanchionError):
    """Redis did not decide a fleet call (``stanchion.redis``): it answered with an error
    that is no refusal (a script error, a key holding something else, a server refusing
    writes) or a reply the script never gives. The Redis error is the ``__cause__``."""


class FleetUnavailableError(FleetError):
    """Redis could not be asked in time: a connection error, a timeout, or the breaker that
    guards the connection is open (its ``CircuitOpenError`` is then the ``__cause__``, and
    no call was made). Raised by ``on_unavailable="raise"``, the default; the other policies
    answer instead."""


class SoldOutError(StanchionError):
    """A fleet quota could not serve a take (``stanchion.redis.FleetQuota``): every bucket it
    visited held fewer than the units asked for. Nothing was taken. Not a ``RefusedError``:
    waiting does not refill a quota, a restock does, so there is no ``retry_after``.

    ``requested`` is the units asked for; ``remaining`` the units the buckets held when the
    take visited them, summed (below ``requested`` in a quota of one bucket; in a bucketed one
    it may be more, spread over buckets that each held fewer, since a take is served whole by
    one bucket).

    >>> error = SoldOutError(2, 1)
    >>> str(error), error.requested, error.remaining
    ('sold out (2 asked, 1 left)', 2, 1)
    """

    requested: int
    remaining: int

    def __init__(self, requested: int, remaining: int) -> None:
        super().__init__(f"sold out ({requested} asked, {remaining} left)")
        self.requested = requested
        self.remaining = remaining

    def __reduce__(self) -> Tuple[Any, ...]:
        return (type(self), (self.requested, self.remaining))


_NOTHING: Any = object()


def described(value: object) -> str:
    """A value as messages show what they got: ``'5' (str)``."""
    return f"{value!r} ({type(value).__name__})"


class ConfigError(StanchionError, ValueError):
    """An option is out of range: ``"timeout must be a finite number of seconds ≥ 0, got
    -1"``. ``parameter`` names it, ``allowed`` says what it accepts, ``got`` is the value
    received (when there was one) and ``field`` is the core's name of the setting
    (``window.count``), as in the conformance files."""

    parameter: str
    allowed: str
    field: str
    got: Any

    def __init__(
        self, parameter: str, allowed: str, field: Optional[str] = None, got: Any = _NOTHING
    ) -> None:
        message = f"{parameter} must be {allowed}"
        if got is not _NOTHING:
            message += f", got {got!r}"
        super().__init__(message)
        self.parameter = parameter
        self.allowed = allowed
        self.field = parameter if field is None else field
        self.got = None if got is _NOTHING else got
        self._has_got = got is not _NOTHING

    def __reduce__(self) -> Tuple[Any, ...]:
        args: Tuple[Any, ...] = (self.parameter, self.allowed, self.field)
        if self._has_got:
            args += (self.got,)
        return (type(self), args)
