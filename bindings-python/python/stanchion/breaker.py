"""``CircuitBreaker``: the core's breaker as a decorator and a context manager."""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Any, Callable, Optional, Tuple, Type, TypeVar, cast

from . import _stanchion
from ._classify import FAILURE, IGNORED, SUCCESS, Classifier, ExceptionFilter, ResultFilter
from ._clock import Clock
from ._held import Held, new_held
from ._listeners import Listeners, weak_emitter
from ._wrap import is_async, wrap

if TYPE_CHECKING:
    from typing_extensions import ParamSpec

    P = ParamSpec("P")
R = TypeVar("R")
StateListener = Callable[[str, str], None]


class CircuitBreaker:
    """Stops calling a failing dependency, then lets probes test whether it recovered.

    The core's default breaker: a count window of up to 320 calls or a time window of up to 10
    buckets. Durations are seconds. Use it as a decorator (``def`` and ``async def``), as a
    context manager (``with``, ``async with``), or with ``acquire`` / ``record`` / ``release``.

    >>> breaker = CircuitBreaker(consecutive_failures=2, open_for=30.0)
    >>> breaker.state
    'closed'
    """

    __slots__ = (
        "_core",
        "_classifier",
        "_listeners",
        "_held",
        "_config",
        "_clock",
        "name",
        "__weakref__",
    )

    def __init__(
        self,
        *,
        failure_count: Optional[int] = 5,
        consecutive_failures: Optional[int] = None,
        failure_rate: Optional[float] = None,
        minimum_calls: int = 10,
        slow_call_duration: Optional[float] = None,
        slow_call_rate: Optional[float] = None,
        window_calls: Optional[int] = None,
        window_seconds: float = 10.0,
        window_buckets: int = 10,
        open_for: float = 30.0,
        open_for_max: Optional[float] = None,
        open_for_factor: float = 2.0,
        open_for_jitter: float = 0.0,
        half_open_probes: int = 1,
        half_open_successes: Optional[int] = None,
        probe_timeout: Optional[float] = None,
        seed: int = 0,
        failure_on: Optional[ExceptionFilter] = Exception,
        ignore_on: Optional[ExceptionFilter] = None,
        failure_result: Optional[ResultFilter] = None,
        on_state_change: Optional[StateListener] = None,
        clock: Optional[Clock] = None,
        name: Optional[str] = None,
    ) -> None:
        config = {
            "failure_count": failure_count,
            "consecutive_failures": consecutive_failures,
            "failure_rate": failure_rate,
            "minimum_calls": minimum_calls,
            "slow_call_duration": slow_call_duration,
            "slow_call_rate": slow_call_rate,
            "window_calls": window_calls,
            "window_seconds": window_seconds,
            "window_buckets": window_buckets,
            "open_for": open_for,
            "open_for_max": open_for_max,
            "open_for_factor": open_for_factor,
            "open_for_jitter": open_for_jitter,
            "half_open_probes": half_open_probes,
            "half_open_successes": half_open_successes,
            "probe_timeout": probe_timeout,
            "seed": seed,
        }
        self._classifier = Classifier(failure_on, ignore_on, failure_result)
        self._listeners: Listeners[StateListener] = Listeners(
            "on_state_change", "(old, new)"
        )
        if on_state_change is not None:
            self.on_state_change(on_state_change)
        self._core = _stanchion.CircuitBreaker(config, clock, weak_emitter(self))
        self._config = config
        self._clock = clock
        # The permits of `with` blocks, per thread and task (see `_held`).
        self._held: Held[Optional[Tuple[_stanchion.BreakerPermit, Any]]] = new_held(
            "stanchion.breaker"
        )
        self.name = name

    # Events -----------------------------------------------------------------------------

    def on_state_change(self, listener: StateListener) -> StateListener:
        """Calls ``listener(old_state, new_state)`` on every transition; usable as a
        decorator. A listener that raises is logged and does not affect the call."""
        return self._listeners.add(listener)

    # Low-level protocol -----------------------------------------------------------------

    def acquire(self) -> _stanchion.BreakerPermit:
        """A permit for one call, or ``CircuitOpenError``. Report it with ``record`` or
        ``release``."""
        return self._core.acquire()

    def record(self, permit: _stanchion.BreakerPermit, outcome: int) -> None:
        """Reports a call's outcome: ``SUCCESS``, ``FAILURE`` or ``IGNORED``."""
        self._core.record(permit, outcome)

    def release(self, permit: _stanchion.BreakerPermit) -> None:
        """Abandons a call (cancelled): frees its probe slot, records nothing."""
        self._core.release(permit)

    def _finish(self, permit: _stanchion.BreakerPermit, exc: Optional[BaseException]) -> None:
        if exc is None:
            permit.success()
        elif isinstance(exc, Exception):
            _report(permit, self._classifier.exception(exc))
        else:
            permit.release()

    # Operator controls and metrics ------------------------------------------------------

    @property
    def state(self) -> str:
        """``closed``, ``open``, ``half_open``, ``forced_open`` or ``disabled``."""
        return self._core.state

    def snapshot(self) -> _stanchion.BreakerSnapshot:
        """State, window and counters now (read-only)."""
        return self._core.snapshot()

    def force_open(self) -> None:
        """Refuses every call until ``reset``."""
        self._core.force_open()

    def disable(self) -> None:
        """Admits every call and never trips until ``reset``."""
        self._core.disable()

    def reset(self) -> None:
        """Back to a fresh closed state."""
        self._core.reset()

    def reconfigure(self, **changes: Any) -> None:
        """Changes options in place (same names as the constructor's config options),
        keeping the state and, where its shape is unchanged, the window."""
        unknown = set(changes) - set(self._config)
        if unknown:
            raise TypeError(
                f"reconfigure() takes the constructor's config options; unknown: {sorted(unknown)}"
            )
        config = {**self._config, **changes}
        self._core.reconfigure(config)
        self._config = config

    # Context managers -------------------------------------------------------------------

    def __enter__(self) -> CircuitBreaker:
        var = self._held
        var.set((self._core.acquire(), var.get()))
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
            top[0].success()
        else:
            self._finish(top[0], exc)

    async def __aenter__(self) -> CircuitBreaker:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    # Decorator --------------------------------------------------------------------------

    def __call__(self, func: Callable[P, R]) -> Callable[P, R]:
        """Protects ``func`` (``def`` or ``async def``); its signature is kept."""
        classifier = self._classifier
        env = {
            "_stanchion_acquire": self._core.acquire,
            "_stanchion_failed": lambda permit, exc: _classified(permit, classifier.exception, exc),
            "_stanchion_done": lambda permit, result: _classified(permit, classifier.result, result),
        }
        template = _SYNC if classifier.failure_result is None else _SYNC_CHECKED
        if is_async(func):
            template = _ASYNC
        return cast("Callable[P, R]", wrap(func, template, env))

    def __repr__(self) -> str:
        label = f" {self.name!r}" if self.name else ""
        return f"<CircuitBreaker{label} state={self.state}>"


def _classified(
    permit: _stanchion.BreakerPermit, classify: Callable[[Any], int], value: Any
) -> None:
    """Reports the outcome ``classify(value)``; if the user's predicate raises, the call is
    abandoned (released): nobody knows how it ended."""
    try:
        outcome = classify(value)
    except BaseException:
        permit.release()
        raise
    _report(permit, outcome)


def _report(permit: _stanchion.BreakerPermit, outcome: int) -> None:
    if outcome == FAILURE:
        permit.failure()
    elif outcome == IGNORED:
        permit.ignored()
    else:
        permit.success()


_SYNC = """
def _stanchion_wrapper({params}):
    _stanchion_permit = _stanchion_acquire()
    try:
        _stanchion_result = _stanchion_func({call})
    except Exception as _stanchion_exc:
        _stanchion_failed(_stanchion_permit, _stanchion_exc)
        raise
    except BaseException:
        _stanchion_permit.release()
        raise
    _stanchion_permit.success()
    return _stanchion_result
"""

# A permit dropped unreported is released, not recorded: every ending is reported here.
_SYNC_CHECKED = _SYNC.replace(
    "    _stanchion_permit.success()\n",
    "    _stanchion_done(_stanchion_permit, _stanchion_result)\n",
)

_ASYNC = (
    _SYNC_CHECKED.replace("def _stanchion_wrapper", "async def _stanchion_wrapper")
    .replace("= _stanchion_func(", "= await _stanchion_func(")
)

__all__ = ["CircuitBreaker", "SUCCESS", "FAILURE", "IGNORED"]
