"""The clock every primitive of one object reads."""

from __future__ import annotations

from typing import Callable, Optional

from . import _stanchion

Clock = Callable[[], int]


def clock_of(clock: Optional[Clock]) -> Clock:
    """The callable to read: ``clock``, or ``time.monotonic_ns`` (read natively)."""
    if clock is None:
        return _stanchion.monotonic_ns
    if not callable(clock):
        raise TypeError(f"`clock` must be a callable returning nanoseconds, not {type(clock).__name__}")
    return clock
