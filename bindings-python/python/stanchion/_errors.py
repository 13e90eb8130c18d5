"""The exceptions: one base, refusals that say when to retry, and config errors."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional, Tuple

if TYPE_CHECKING:
    from ._stanchion import _AdaptiveOutcome

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
    "LeaseLostError",
    "LockError",
    "LockHeldError",
    "LockTimeoutError",
    "LockReplicasError",
    "LockQuorumError",
    "LockUnavailableError",
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
    #: attempt it ended (``_stanchion.attempt_ended``: the breaker's report, the adaptive
    #: limiter's sample, the retry loop's step and its detail), which the policy's breaker,
    #: adaptive limiter and retry follow instead of their classifiers. ``None`` once it leaves
    #: that policy, so an enclosing one judges it as any other error.
    _decision: Optional[Tuple[str, "_AdaptiveOutcome", str, Optional[str]]] = None


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
class LeaseLostError(StanchionError):
    """A fleet lease (a lock's, or a fleet bulkhead's slot) was lost while it was held: a
    renewal found it gone (it expired, or another holder has it now; ``gone`` is true) or
    could not reach Redis (``gone`` is false, and the Redis error is the ``__cause__``: the
    lease may still be held until it expires, or not). Raised when a ``with`` block or a
    decorated call ends after its lease was lost, unless it raised something else."""

    gone: bool

    def __init__(self, message: str, gone: bool) -> None:
        super().__init__(message)
        self.gone = gone

    def __reduce__(self) -> Tuple[Any, ...]:
        return (type(self), (str(self), self.gone))


class LockError(StanchionError):
    """Base of the errors of ``stanchion.redis.FleetLock`` and ``Redlock``: nothing was
    acquired."""


class LockHeldError(LockError):
    """Another holder has the lock. ``retry_after`` is its remaining lease in seconds (the
    lock may free sooner, if released), or ``None`` when the key has no expiry."""

    retry_after_ns: Optional[int]

    def __init__(self, message: str, retry_after_ns: Optional[int]) -> None:
        super().__init__(message)
        self.retry_after_ns = retry_after_ns

    @property
    def retry_after(self) -> Optional[float]:
        """Seconds the holder's lease has left, or ``None``."""
        return None if self.retry_after_ns is None else self.retry_after_ns / 1e9

    def __reduce__(self) -> Tuple[Any, ...]:
        return (type(self), (str(self), self.retry_after_ns))


class LockTimeoutError(LockError, TimeoutError):
    """Another holder kept the lock for as long as the caller would wait; ``waited`` is how
    long that was, in seconds. The last ``LockHeldError`` is the ``__cause__``."""

    waited_ns: int

    def __init__(self, message: str, waited_ns: int) -> None:
        super().__init__(message)
        self.waited_ns = waited_ns

    @property
    def waited(self) -> float:
        """Seconds spent waiting."""
        return self.waited_ns / 1e9

    def __reduce__(self) -> Tuple[Any, ...]:
        return (type(self), (str(self), self.waited_ns))


class LockReplicasError(LockError):
    """Fewer replicas than ``wait_replicas`` asked for acknowledged the lease in time
    (``acknowledged`` of ``wanted``); the lease was released."""

    acknowledged: int
    wanted: int

    def __init__(self, message: str, acknowledged: int, wanted: int) -> None:
        super().__init__(message)
        self.acknowledged = acknowledged
        self.wanted = wanted

    def __reduce__(self) -> Tuple[Any, ...]:
        return (type(self), (str(self), self.acknowledged, self.wanted))


class LockQuorumError(LockError):
    """Fewer than a majority of a ``Redlock``'s servers granted the lease in time to leave it
    valid (``granted`` of the ``needed``); it was released on every server."""

    granted: int
    needed: int

    def __init__(self, message: str, granted: int, needed: int) -> None:
        super().__init__(message)
        self.granted = granted
        self.needed = needed

    def __reduce__(self) -> Tuple[Any, ...]:
        return (type(self), (str(self), self.granted, self.needed))


class LockUnavailableError(LockError, FleetUnavailableError):
    """Redis could not decide a lock call (a connection error, a timeout, the breaker open);
    the Redis error is the ``__cause__``. A lock never falls back: nothing was acquired."""


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
