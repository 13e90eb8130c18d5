"""Properties over random sequences, through the Python API (hypothesis)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from stanchion import Backoff, Bulkhead, BulkheadFullError, RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 0

    def __call__(self) -> int:
        return self.now


@settings(max_examples=200, deadline=None)
@given(
    capacity=st.integers(1, 20),
    every_ms=st.integers(1, 1000),
    ops=st.lists(st.tuples(st.integers(0, 2_000_000_000), st.integers(0, 5)), max_size=60),
)
def test_granted_tokens_never_exceed_capacity_plus_refill(
    capacity: int, every_ms: int, ops: list[tuple[int, int]]
) -> None:
    clock = Clock()
    limiter = RateLimiter(capacity=capacity, refill_every=every_ms / 1000, clock=clock)
    granted = 0
    for advance, n in ops:
        clock.now += advance
        try:
            limiter.acquire_nowait(n)
            granted += n
        except Exception:
            pass
        refilled = clock.now // (every_ms * 1_000_000)
        assert granted <= capacity + refilled


@settings(max_examples=200, deadline=None)
@given(max_concurrent=st.integers(1, 5), ops=st.lists(st.booleans(), max_size=80))
def test_bulkhead_in_flight_matches_the_permits_held(max_concurrent: int, ops: list[bool]) -> None:
    bulkhead = Bulkhead(max_concurrent=max_concurrent)
    held = []
    for take in ops:
        if take:
            try:
                held.append(bulkhead.try_acquire())
            except BulkheadFullError:
                assert len(held) == max_concurrent
        elif held:
            assert held.pop(0).release()
        assert bulkhead.snapshot().in_flight == len(held) <= max_concurrent


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 2**64 - 1), attempts=st.integers(1, 12))
def test_pure_delays_equal_the_iterator(seed: int, attempts: int) -> None:
    backoff = Backoff.exponential(0.01, 1.5, jitter="equal", max_delay=1.0, max_attempts=attempts)
    assert backoff.delays_ns(seed) == [backoff.delay_ns(i, seed) for i in range(attempts - 1)]
    assert backoff.delay_ns(attempts - 1, seed) is None
