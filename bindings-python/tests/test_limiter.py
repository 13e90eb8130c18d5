"""RateLimiter and KeyedRateLimiter: tokens, waits in fake time, keys, decorators."""

from __future__ import annotations

import asyncio

import pytest

import stanchion
from stanchion import KeyedRateLimiter, RateLimitedError, RateLimiter

from conftest import FakeClock


def test_burst_then_refill_with_exact_retry_after(clock: FakeClock) -> None:
    limiter = RateLimiter(capacity=2, refill_amount=1, refill_every=3.0, clock=clock)
    assert [limiter.try_acquire() for _ in range(3)] == [True, True, False]
    with pytest.raises(RateLimitedError) as refused:
        limiter.acquire_nowait()
    assert refused.value.reason == "rate_limited"
    assert refused.value.retry_after_ns == 3_000_000_000
    clock.advance(refused.value.retry_after or 0)
    assert limiter.try_acquire()
    assert limiter.available() == 0
    snap = limiter.snapshot()
    assert snap.capacity == 2 and snap.full_at_ns == clock.now + 6_000_000_000


def test_more_than_capacity_can_never_pass(clock: FakeClock) -> None:
    limiter = RateLimiter(capacity=3, clock=clock)
    with pytest.raises(RateLimitedError) as refused:
        limiter.acquire_nowait(4)
    assert refused.value.reason == "insufficient_capacity" and refused.value.retry_after is None


def test_decorators_take_a_token_per_call(clock: FakeClock) -> None:
    limiter = RateLimiter(capacity=1, refill_every=1.0, clock=clock)

    @limiter
    def ping() -> str:
        return "pong"

    @limiter
    async def aping() -> str:
        return "apong"

    assert ping() == "pong"
    with pytest.raises(RateLimitedError):
        ping()
    clock.advance(1.0)
    assert asyncio.run(aping()) == "apong"
    with pytest.raises(RateLimitedError):
        asyncio.run(aping())


def test_acquire_waits_for_a_reservation_within_the_timeout(clock: FakeClock) -> None:
    limiter = RateLimiter(
        capacity=1, refill_every=0.5, clock=clock, sleep=clock.sleep, async_sleep=clock.async_sleep
    )

    async def main() -> None:
        await limiter.acquire()
        await limiter.acquire(timeout=1.0)  # due in 0.5 s: waits for it
        with pytest.raises(RateLimitedError) as refused:
            await limiter.acquire(timeout=0.1)  # due in 0.5 s: refused, takes nothing
        assert refused.value.retry_after == pytest.approx(0.4)

    asyncio.run(main())
    assert clock.slept == [0.5]
    limiter.acquire_blocking(timeout=1.0)
    assert clock.slept == [0.5, 0.5]


def test_limiter_with_timeout_waits_in_with_blocks(clock: FakeClock) -> None:
    limiter = RateLimiter(capacity=1, refill_every=0.25, timeout=1.0, clock=clock, sleep=clock.sleep)
    for _ in range(3):
        with limiter:
            pass
    assert clock.slept == [0.25, 0.25]


def test_keyed_buckets_are_separate_and_keys_hash_alike(clock: FakeClock) -> None:
    keyed = KeyedRateLimiter(capacity=1, refill_every=60.0, clock=clock)
    assert keyed.try_acquire("ann") and not keyed.try_acquire("ann")
    assert not keyed.try_acquire(b"ann"), "a str and its UTF-8 bytes name one bucket"
    assert keyed.try_acquire("bob") and keyed.try_acquire(7)
    assert keyed.active_keys() == 3
    clock.advance(60.0)
    assert keyed.active_keys() == 0 and keyed.available("ann") == 1


def test_key_of_is_fnv1a_64_of_the_utf8_bytes() -> None:
    def fnv1a(data: bytes) -> int:
        h = 0xCBF29CE484222325
        for byte in data:
            h = ((h ^ byte) * 0x100000001B3) % 2**64
        return h

    for text in ["", "a", "user:42", "ünïcode"]:
        assert stanchion.key_of(text) == fnv1a(text.encode()) == stanchion.key_of(text.encode())
    assert stanchion.key_of(12345) == 12345


def test_max_keys_is_exactly_the_table_size() -> None:
    assert KeyedRateLimiter(capacity=1).max_keys == 1024
    for size in (1, 3, 8, 16, 32, 1024, 65536):
        assert KeyedRateLimiter(capacity=1, max_keys=size).max_keys == size
    for size in (0, 17, 1000, 65537):
        with pytest.raises(stanchion.ConfigError, match="max_keys") as err:
            KeyedRateLimiter(capacity=1, max_keys=size)
        assert err.value.allowed == "an int from 1 to 16, or a power of two up to 65536"
    with pytest.raises(TypeError, match="max_keys"):
        KeyedRateLimiter(capacity=1, max_keys="16")  # type: ignore[arg-type]


def test_full_table_rejects_or_admits_by_policy(clock: FakeClock) -> None:
    for policy in ("reject", "admit"):
        keyed = KeyedRateLimiter(capacity=1, refill_every=10.0, max_keys=16, on_full=policy, clock=clock)
        refused = []
        for key in range(1000):
            try:
                keyed.acquire_nowait(key)
            except RateLimitedError as e:
                refused.append(e.reason)
        assert keyed.active_keys() <= 16, "memory never grows"
        if policy == "reject":
            assert len(refused) >= 1000 - 16 and set(refused) == {"table_full"}
        else:
            assert refused == []


def test_keyed_decorator_and_view(clock: FakeClock) -> None:
    keyed = KeyedRateLimiter(capacity=1, refill_every=60.0, clock=clock)

    @keyed.limit(lambda user, *_: user)
    def handle(user: str, body: str) -> str:
        return body

    @keyed.limit(lambda user: user)
    async def ahandle(user: str) -> str:
        return user

    assert handle("ann", "hi") == "hi"
    with pytest.raises(RateLimitedError):
        handle("ann", "again")
    assert asyncio.run(ahandle("bob")) == "bob"
    view = keyed.for_key("cy")
    with view:
        pass
    with pytest.raises(RateLimitedError):
        with view:
            pass


def test_bad_keys_and_counts_are_type_or_config_errors() -> None:
    keyed = KeyedRateLimiter(capacity=1)
    with pytest.raises(TypeError, match=r"^key must be a str, bytes or int, got 1.5 \(float\)$"):
        keyed.try_acquire(1.5)  # type: ignore[arg-type]
    with pytest.raises(stanchion.ConfigError, match=r"^key must be .*an int from 0 to 18446744073709551615, got -1$"):
        keyed.try_acquire(-1)
    with pytest.raises(stanchion.ConfigError, match="on_full"):
        KeyedRateLimiter(capacity=1, on_full="maybe")
    limiter = RateLimiter(capacity=1)
    with pytest.raises(TypeError):
        limiter.acquire_nowait("2")  # type: ignore[arg-type]
    with pytest.raises(stanchion.ConfigError, match=r"^n must be an int from 0 to 4294967295, got -1$"):
        limiter.acquire_nowait(-1)
    assert limiter.try_acquire(), "still usable after the errors"
