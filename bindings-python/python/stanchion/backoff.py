"""``Backoff`` and ``RetryBudget``: when to try again, and whether a retry is allowed."""

from __future__ import annotations

from typing import List, Optional, Union

from . import _stanchion
from ._clock import Clock

Jitter = Union[str, float]


class Backoff:
    """The waits between attempts: ``constant``, ``linear``, ``exponential`` or
    ``decorrelated``; jitter ``"none"``, ``"full"``, ``"equal"`` or a proportion in [0, 1];
    caps ``max_delay`` (seconds), ``max_attempts`` (every call, the first included; ``None``
    for no limit) and ``max_elapsed`` (seconds since the first attempt: a retry whose wait
    would end past it is not made). The same seed gives the same waits in every language.

    >>> Backoff.exponential(0.1, factor=2.0, max_attempts=4).delays()
    [0.1, 0.2, 0.4]
    """

    __slots__ = ("_core",)

    def __init__(
        self,
        *,
        schedule: str = "exponential",
        initial: float = 0.1,
        factor: float = 2.0,
        step: float = 0.1,
        delay: float = 0.1,
        base: float = 0.1,
        jitter: Jitter = "none",
        max_delay: Optional[float] = None,
        max_attempts: Optional[int] = 3,
        max_elapsed: Optional[float] = None,
    ) -> None:
        config = {
            "schedule": schedule,
            "initial": initial,
            "factor": factor,
            "step": step,
            "delay": delay,
            "base": base,
            "jitter": jitter,
            "max_delay": max_delay,
            "max_attempts": max_attempts,
            "max_elapsed": max_elapsed,
        }
        self._core = _stanchion.Backoff(config)

    @classmethod
    def constant(
        cls,
        delay: float,
        *,
        jitter: Jitter = "none",
        max_delay: Optional[float] = None,
        max_attempts: Optional[int] = 3,
        max_elapsed: Optional[float] = None,
    ) -> Backoff:
        """The same wait before every retry."""
        return cls(
            schedule="constant",
            delay=delay,
            jitter=jitter,
            max_delay=max_delay,
            max_attempts=max_attempts,
            max_elapsed=max_elapsed,
        )

    @classmethod
    def linear(
        cls,
        initial: float,
        step: float,
        *,
        jitter: Jitter = "none",
        max_delay: Optional[float] = None,
        max_attempts: Optional[int] = 3,
        max_elapsed: Optional[float] = None,
    ) -> Backoff:
        """``initial + step·n`` before retry ``n``."""
        return cls(
            schedule="linear",
            initial=initial,
            step=step,
            jitter=jitter,
            max_delay=max_delay,
            max_attempts=max_attempts,
            max_elapsed=max_elapsed,
        )

    @classmethod
    def exponential(
        cls,
        initial: float,
        factor: float = 2.0,
        *,
        jitter: Jitter = "none",
        max_delay: Optional[float] = None,
        max_attempts: Optional[int] = 3,
        max_elapsed: Optional[float] = None,
    ) -> Backoff:
        """``initial·factorⁿ`` before retry ``n``."""
        return cls(
            schedule="exponential",
            initial=initial,
            factor=factor,
            jitter=jitter,
            max_delay=max_delay,
            max_attempts=max_attempts,
            max_elapsed=max_elapsed,
        )

    @classmethod
    def decorrelated(
        cls,
        base: float,
        *,
        max_delay: Optional[float] = None,
        max_attempts: Optional[int] = 3,
        max_elapsed: Optional[float] = None,
    ) -> Backoff:
        """AWS "decorrelated jitter": ``min(max_delay, rand(base, previous·3))``."""
        return cls(
            schedule="decorrelated",
            base=base,
            max_delay=max_delay,
            max_attempts=max_attempts,
            max_elapsed=max_elapsed,
        )

    @property
    def max_attempts(self) -> Optional[int]:
        """Calls in all, the first included; ``None`` for no limit."""
        return self._core.max_attempts

    def delay(self, attempt: int, seed: int = 0) -> Optional[float]:
        """Seconds to wait before retry ``attempt`` (0: before the second call), or ``None``
        when ``max_attempts`` allows no such retry."""
        ns = self._core.delay(attempt, seed)
        return None if ns is None else ns / 1e9

    def delay_ns(self, attempt: int, seed: int = 0) -> Optional[int]:
        """``delay`` in exact nanoseconds."""
        return self._core.delay(attempt, seed)

    def delays_ns(self, seed: int = 0, limit: int = 1000) -> List[int]:
        """``delays`` in exact nanoseconds."""
        return self._core.delays(seed, limit)

    def start(self, seed: int, now_ns: int) -> _stanchion.Retrying:
        """The waits of one call whose first attempt started at ``now_ns``:
        ``next_delay(now_ns, hint_ns)`` gives each wait in nanoseconds. For a retry loop of
        your own, ``Retry.start()`` gives the core's whole step instead (the waits, the
        deadline, the budget, refusals, and why it stopped)."""
        return self._core.start(seed, now_ns)

    def delays(self, seed: int = 0, limit: int = 1000) -> List[float]:
        """Up to ``limit`` waits in seconds, assuming attempts take no time."""
        return [ns / 1e9 for ns in self._core.delays(seed, limit)]


class RetryBudget:
    """Retries earn a share of first attempts: each first attempt deposits ``ratio`` tokens
    (up to ``max_balance``), each retry spends one, with a floor of ``min_retries_per_sec``.
    Shared by every caller of one dependency, it stops retry storms.

    >>> budget = RetryBudget(0.5, min_retries_per_sec=0)
    >>> budget.deposit(); budget.deposit()
    >>> budget.try_retry(), budget.try_retry()
    (True, False)
    """

    __slots__ = ("_core",)

    def __init__(
        self,
        ratio: float = 0.1,
        *,
        min_retries_per_sec: int = 10,
        max_balance: int = 100,
        clock: Optional[Clock] = None,
    ) -> None:
        config = {
            "ratio": ratio,
            "min_retries_per_sec": min_retries_per_sec,
            "max_balance": max_balance,
        }
        self._core = _stanchion.RetryBudget(config, clock)

    def deposit(self) -> None:
        """Counts a first attempt."""
        self._core.deposit()

    def try_retry(self) -> bool:
        """Spends for one retry now if the budget allows: ``True``, else ``False``."""
        return self._core.try_retry()

    def check_retry(self) -> None:
        """Spends for one retry now, or raises ``RetryBudgetExhaustedError``."""
        self._core.check_retry()

    def snapshot(self) -> _stanchion.RetryBudgetSnapshot:
        """Balance and counters now (read-only)."""
        return self._core.snapshot()


__all__ = ["Backoff", "RetryBudget"]
