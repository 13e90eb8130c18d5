"""Fake time for every test: a clock whose sleeps advance it instead of waiting."""

from __future__ import annotations

import pytest


class FakeClock:
    """A clock in nanoseconds that tests move by hand; ``sleep``/``async_sleep`` advance it."""

    def __init__(self, now: int = 0) -> None:
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += round(seconds * 1e9)

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.advance(seconds)

    async def async_sleep(self, seconds: float) -> None:
        self.sleep(seconds)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1_000_000_000)
