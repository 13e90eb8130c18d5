"""The clock every primitive of one object reads."""

from __future__ import annotations

from typing import Callable, Optional

from . import _stanchion

Clock = Callable[[], int]


def clock_of(clock: Optional[Clock]) -> Clock:
    """The callable to read: ``clock``, or ``time.monotonic_ns`` (read natively). A clock is
    read once, now, and refused as the native classes refuse it (``TypeError`` unless it
    returns an int, ``ConfigError`` for a negative one)."""
    if clock is None:
        return _stanchion.monotonic_ns
    _stanchion.check_clock(clock)
    return clock
