"""``FleetLimiter`` against a live Redis: the answers' shape, the idioms (decorators, views,
``with`` and ``async with``), one script call per decision, the core's answers on a random
timeline, and Redis errors that are not refusals."""

from __future__ import annotations

import asyncio
import random
from fractions import Fraction
from typing import Any, Iterator

import fleet_conformance
import pytest
import redis_support

import stanchion
from stanchion import FleetError, RateLimitedError, RefusedError
from stanchion.redis import FleetDecision, FleetLimiter


@pytest.fixture
def client() -> Iterator[Any]:
    client = redis_support.sync_client()
    yield client
    client.close()


def limiter(client: Any, tag: str, **options: Any) -> FleetLimiter:
    options.setdefault("capacity", 3)
    options.setdefault("refill_every", 60.0)
    return FleetLimiter(client, prefix=redis_support.unique_prefix(tag), **options)


def test_a_burst_then_a_refusal_with_the_wait(client: Any) -> None:
    lim = limiter(client, "burst")
    taken = [lim.try_acquire("k") for _ in range(3)]
    assert [(d.allowed, d.remaining, d.source) for d in taken] == [
        (True, 2, "redis"),
        (True, 1, "redis"),
        (True, 0, "redis"),
    ]
    assert all(d.reason is None and d.retry_after is None for d in taken)
    refused = lim.try_acquire("k")
    assert not refused and refused.reason == "rate_limited" and refused.remaining == 0
    assert refused.retry_after_ns is not None and 0 < refused.retry_after_ns <= 60 * 10**9
    assert refused.retry_after == refused.retry_after_ns / 1e9
    # Three tokens owed at one per minute: full again in at most three minutes.
    assert refused.reset_after_ns is not None and 120 * 10**9 < refused.reset_after_ns <= 180 * 10**9
    assert refused.error is None
    # Other keys have buckets of their own.
    assert lim.try_acquire("other").remaining == 2


def test_n_tokens_zero_and_more_than_the_capacity(client: Any) -> None:
    lim = limiter(client, "n", capacity=5)
    assert lim.try_acquire("k", 3).remaining == 2
    assert lim.try_acquire("k", 0).allowed
    too_many = lim.try_acquire("k", 6)
    assert (too_many.allowed, too_many.reason, too_many.retry_after) == (
        False,
        "insufficient_capacity",
        None,
    )
    with pytest.raises(RateLimitedError) as refused:
        lim.acquire_nowait("k", 6)
    assert refused.value.reason == "insufficient_capacity" and refused.value.retry_after is None


def test_peek_answers_and_takes_nothing(client: Any) -> None:
    lim = limiter(client, "peek", capacity=2)
    assert lim.peek("k", 2).allowed and lim.peek("k", 2).remaining == 2
    lim.try_acquire("k")
    assert not lim.peek("k", 2).allowed
    assert lim.peek("k").remaining == 1
    assert lim.try_acquire("k").remaining == 0


def test_acquire_nowait_raises_the_local_limiters_error(client: Any) -> None:
    lim = limiter(client, "raise", capacity=1)
    assert lim.acquire_nowait("k").remaining == 0
    with pytest.raises(RateLimitedError) as refused:
        lim.acquire_nowait("k")
    assert isinstance(refused.value, RefusedError)
    assert refused.value.reason == "rate_limited"
    assert refused.value.retry_after is not None and 0 < refused.value.retry_after <= 60
    assert str(refused.value).startswith("rate_limited: retry after ")


def test_limiters_on_one_key_share_one_bucket_across_clients(client: Any) -> None:
    prefix = redis_support.unique_prefix("shared")
    other = redis_support.sync_client()
    try:
        a = FleetLimiter(client, capacity=2, refill_every=60.0, prefix=prefix)
        b = FleetLimiter(other, capacity=2, refill_every=60.0, prefix=prefix)
        assert a.try_acquire("k") and b.try_acquire("k")
        assert not a.try_acquire("k") and not b.try_acquire("k")
    finally:
        other.close()


def test_the_redis_key_carries_the_key_as_its_hash_tag_and_expires(client: Any) -> None:
    lim = limiter(client, "key")
    redis_key = lim.redis_key("user:42")
    assert redis_key == f"{lim.prefix}{{user:42}}:limiter"
    assert client.exists(redis_key) == 0
    lim.try_acquire("user:42")
    # Full again one minute after the grant: the key expires then, and not before.
    expires_ms = client.pexpiretime(redis_key)
    now_ms = redis_support.server_time_ns(client) // 10**6
    assert now_ms < expires_ms <= now_ms + 60_000 + 1


def test_one_script_call_per_decision_and_a_reload_after_a_flush(client: Any) -> None:
    lim = limiter(client, "calls")
    lim.try_acquire("k")  # the script is loaded now, whatever ran before
    counted = redis_support.Counted(client)
    lim.try_acquire("k")
    lim.peek("k")
    assert counted.commands == ["EVALSHA", "EVALSHA"]
    client.script_flush()
    counted.commands.clear()
    assert lim.try_acquire("k").remaining == 0
    assert counted.commands == ["EVALSHA", "SCRIPT LOAD", "EVALSHA"]


@pytest.mark.parametrize("options", [{"protocol": 3}, {"decode_responses": True}])
def test_resp3_and_decoded_replies_give_the_same_answers(options: Any) -> None:
    client = redis_support.sync_client(**options)
    try:
        lim = limiter(client, "resp", capacity=1)
        assert lim.try_acquire("k").remaining == 0
        refused = lim.try_acquire("k")
        assert refused.reason == "rate_limited" and refused.retry_after_ns is not None
        assert lim.try_acquire("k", 5).retry_after is None
    finally:
        client.close()


def test_the_decorator_and_the_key_view(client: Any) -> None:
    lim = limiter(client, "idioms", capacity=1)

    @lim.limit(lambda user, text: user)
    def post(user: str, text: str) -> int:
        return len(text)

    assert post("ann", "hi") == 2
    with pytest.raises(RateLimitedError):
        post("ann", "again")
    assert post("bob", "hello") == 5

    view = lim.for_key("carol")
    assert view.key == "carol"
    with view:
        pass
    with pytest.raises(RateLimitedError):
        with view:
            raise AssertionError("the block runs only with a token")

    @lim.for_key("dave")
    def ping() -> str:
        return "pong"

    assert ping() == "pong"
    with pytest.raises(RateLimitedError):
        ping()
    assert lim.for_key("erin").peek().remaining == 1


def test_asyncio_client_idioms() -> None:
    async def main() -> None:
        client = redis_support.async_client()
        try:
            lim = limiter(client, "async", capacity=2)
            assert lim.is_async
            assert (await lim.try_acquire_async("k")).remaining == 1
            assert (await lim.peek_async("k")).remaining == 1
            assert (await lim.acquire("k")).remaining == 0
            with pytest.raises(RateLimitedError):
                await lim.acquire("k")
            refused = await lim.try_acquire_async("k")
            assert refused.reason == "rate_limited" and refused.retry_after is not None

            @lim.limit(lambda user: user)
            async def greet(user: str) -> str:
                return f"hi {user}"

            assert await greet("ann") == "hi ann"
            async with lim.for_key("bob"):
                pass
            view = lim.for_key("bob")
            assert (await view.try_acquire_async()).remaining == 0
            with pytest.raises(RateLimitedError):
                async with view:
                    raise AssertionError("the block runs only with a token")
        finally:
            await client.aclose()

    asyncio.run(main())


def test_the_wrong_kind_of_call_for_the_client_says_which_to_use(client: Any) -> None:
    lim = limiter(client, "kind")
    with pytest.raises(TypeError, match=r"try_acquire_async needs an asyncio client .* call try_acquire\(\.\.\.\)"):
        asyncio.run(lim.try_acquire_async("k"))
    with pytest.raises(TypeError, match="an async def decorated by limit needs an asyncio client"):

        @lim.limit(lambda: "k")
        async def coroutine() -> None:
            pass

    async def main() -> None:
        aclient = redis_support.async_client()
        try:
            alim = limiter(aclient, "kind")
            with pytest.raises(TypeError, match=r"try_acquire needs a blocking client .* await try_acquire_async\(\.\.\.\)"):
                alim.try_acquire("k")
            with pytest.raises(TypeError, match="needs a blocking client"):
                with alim.for_key("k"):
                    pass
            with pytest.raises(TypeError, match="a def decorated by limit needs a blocking client"):

                @alim.limit(lambda: "k")
                def function() -> None:
                    pass

        finally:
            await aclient.aclose()

    asyncio.run(main())


def test_answers_equal_the_core_token_buckets_on_a_random_timeline(client: Any) -> None:
    rng = random.Random(20261102)
    for capacity, amount, every in [(5, 1, 10**9), (3, 7, 10), (40, 1000, 10**9), (2, 1, 3 * 10**9)]:
        lim = limiter(client, "random", capacity=capacity, refill_amount=amount, refill_every=Fraction(every, 10**9))
        model = fleet_conformance.CoreModel(
            {"capacity": capacity, "refill_amount": amount, "refill_every": Fraction(every, 10**9)}
        )
        now = fleet_conformance.ORIGIN
        for _ in range(150):
            now += rng.choice([0, 0, 1, every // 3 + 1, every, 5 * every])
            n = rng.choice([0, 1, 1, 1, 2, capacity, capacity + 1])
            peek = rng.random() < 0.2
            key = rng.choice(["a", "b"])
            fleet = fleet_conformance.observed(lim._decide(key, n, peek, now))
            if key == "a":
                core = model.peek(n, now) if peek else model.try_acquire(n, now)
                assert fleet == core, (capacity, amount, every, n, now)


def test_a_redis_error_that_is_no_refusal_is_a_fleet_error_and_no_breaker_failure(client: Any) -> None:
    lim = limiter(client, "wrongtype")
    client.set(lim.redis_key("k"), "not a limiter state")
    with pytest.raises(FleetError, match="does not hold a limiter state") as failed:
        lim.try_acquire("k")
    assert type(failed.value) is FleetError
    assert type(failed.value.__cause__).__name__ == "ResponseError"
    client.delete(lim.redis_key("list"))
    client.lpush(lim.redis_key("list"), "x")
    with pytest.raises(FleetError, match="WRONGTYPE"):
        lim.try_acquire("list")
    assert lim.breaker.state == "closed"
    assert lim.breaker.snapshot().failures == 0


def test_refusals_are_answers_the_breaker_counts_as_successes(client: Any) -> None:
    lim = limiter(client, "answers", capacity=1)
    before = lim.breaker.snapshot()
    for _ in range(10):
        lim.try_acquire("k")
    after = lim.breaker.snapshot()
    assert after.successes - before.successes == 10 and after.failures == before.failures
    assert lim.breaker.state == "closed"


def test_limiters_on_one_client_share_its_breaker(client: Any) -> None:
    a, b = limiter(client, "a"), limiter(client, "b")
    assert a.breaker is b.breaker
    other = redis_support.sync_client()
    try:
        assert limiter(other, "c").breaker is not a.breaker
    finally:
        other.close()


def test_decisions_read_as_the_local_limiter_states_them() -> None:
    refused = FleetDecision(False, "rate_limited", 1_500_000_000, 0, 4_000_000_000, "redis")
    error = refused.refusal()
    assert isinstance(error, stanchion.RateLimitedError)
    assert (error.reason, error.retry_after) == ("rate_limited", 1.5)
    assert str(error) == "rate_limited: retry after 1.500000000 s"
    assert FleetDecision(True, None, None, 3, 0, "redis").refusal() is None
    assert refused == FleetDecision(False, "rate_limited", 1_500_000_000, 0, 4_000_000_000, "redis")
    assert "retry_after=1.5" in repr(refused)
