"""The exceptions: one base, refusals that say when to retry, and config errors."""

from __future__ import annotations

from typing import Optional

__all__ = [
    "StanchionError",
    "RefusedError",
    "CircuitOpenError",
    "RateLimitedError",
    "BulkheadFullError",
    "RetryBudgetExhaustedError",
    "TimeoutExceededError",
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
    """A policy's deadline passed before the call completed (or before it started)."""


class ConfigError(StanchionError, ValueError):
    """An option is out of range. ``parameter`` names it, ``allowed`` gives the range and
    ``field`` is the core's name of the setting (``window.count``), as in the conformance
    files."""

    parameter: str
    allowed: str
    field: str

    def __init__(self, parameter: str, allowed: str, field: Optional[str] = None) -> None:
        super().__init__(f"invalid `{parameter}`: must be in {allowed}")
        self.parameter = parameter
        self.allowed = allowed
        self.field = parameter if field is None else field

    def __reduce__(self) -> tuple[type, tuple[str, str, str]]:
        return (type(self), (self.parameter, self.allowed, self.field))
