"""What the adaptive limiter's tests share: a limiter whose every report is a window."""

from __future__ import annotations

from typing import Any, List, Tuple

from stanchion import AdaptiveLimiter

from conftest import FakeClock

Changes = List[Tuple[int, int]]


def every_call_a_window(clock: FakeClock, **options: Any) -> Tuple[AdaptiveLimiter, Changes]:
    """AIMD with one sample per window, so each report runs one update: after a sample whose
    call saw at least half the limit in flight the limit grows by 1, after a drop it is
    multiplied by 0.9 and rounded down. Returns the limiter and the changes it reports."""
    changes: Changes = []
    limiter = AdaptiveLimiter(
        min_samples=1,
        window=0,
        clock=clock,
        on_limit_change=lambda old, new: changes.append((old, new)),
        **options,
    )
    return limiter, changes
