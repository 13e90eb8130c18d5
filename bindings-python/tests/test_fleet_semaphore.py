"""``stanchion.redis.FleetSemaphore`` on a live server: at most ``limit`` holders across
processes, a release freeing its slot at once, an expired lease reclaimed by the next
acquire, the keeper holding a slot past its lease time, the idioms with both kinds of client,
and a cluster (every call in one slot)."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any, Iterator, List, Tuple

import pytest
import redis_support
from lease_support import Recorder, Worker, server_ms, wait_for

from stanchion import BulkheadFullError, FleetUnavailableError, LeaseLostError
from stanchion.redis import FleetSemaphore, Lease, SemaphoreState


@pytest.fixture
def client() -> Iterator[Any]:
    client = redis_support.sync_client(timeout=2.0)
    yield client
    client.close()


def make(client: Any, limit: int, ttl: float = 10.0) -> FleetSemaphore:
    return FleetSemaphore(
        client, limit=limit, ttl=ttl, prefix=redis_support.unique_prefix("semaphore"), timeout=2.0
    )


def test_a_full_semaphore_refuses_and_a_release_frees_a_slot_at_once(client: Any) -> None:
    sem = make(client, limit=2)
    a, b = sem.try_acquire("jobs"), sem.try_acquire("jobs")
    assert a.token != b.token and a.held
    with pytest.raises(BulkheadFullError) as full:
        sem.try_acquire("jobs")
    assert (full.value.reason, full.value.retry_after, str(full.value)) == (
        "bulkhead_full",
        None,
        "bulkhead_full (2 leases held)",
    )
    assert sem.release(a) and not sem.release(a)
    c = sem.try_acquire("jobs")
    assert sem.holders("jobs").holders == 2
    assert sem.try_acquire("other").held, "another name is another semaphore"
    assert sem.release(b) and sem.release(c)
    assert sem.holders("jobs") == SemaphoreState(0, None)
    assert client.exists(sem.redis_key("jobs")) == 0


def test_an_expired_lease_is_reclaimed_by_the_next_acquire(client: Any) -> None:
    # Two leases fill a semaphore of 2: one long, one short. The long one keeps the key (it
    # expires with its last lease), so the short one's expiry leaves it in the set until a
    # call reclaims it.
    short = make(client, limit=2, ttl=0.2)
    long = FleetSemaphore(client, limit=2, ttl=10.0, prefix=short.prefix, timeout=2.0)
    kept = long.try_acquire("jobs")
    stale = short.try_acquire("jobs")
    key = short.redis_key("jobs")
    expiry = int(client.zscore(key, stale.token))
    with pytest.raises(BulkheadFullError):
        short.try_acquire("jobs")
    wait_for(lambda: server_ms(client) > expiry, "the server's clock to pass the expiry")
    assert client.zscore(key, stale.token) is not None
    fresh = short.try_acquire("jobs")
    assert client.zscore(key, stale.token) is None
    assert not short.renew(stale) and stale.lost.is_set() and stale.lost_error is not None
    assert not short.release(stale)
    state = short.holders("jobs")
    assert state.holders == 2 and state.next_expiry_in is not None and 0 < state.next_expiry_in <= 0.2
    assert short.release(fresh) and long.release(kept)


def test_renew_resets_the_expiry_and_answers_whether_it_held(client: Any) -> None:
    sem = make(client, limit=3, ttl=5.0)
    lease = sem.try_acquire("jobs")
    key = sem.redis_key("jobs")
    before = client.zscore(key, lease.token)
    time.sleep(0.01)
    assert sem.renew(lease)
    after = client.zscore(key, lease.token)
    assert before < after <= server_ms(client) + 5000
    sem.release(lease)
    assert not sem.renew(lease)


def test_the_keeper_holds_a_slot_past_its_lease_and_stops_at_release(client: Any) -> None:
    sem = make(client, limit=1, ttl=0.3)
    recorder = Recorder(client)
    with sem("jobs") as lease:
        for _ in range(5):
            time.sleep(0.2)
            with pytest.raises(BulkheadFullError):
                sem.try_acquire("jobs")
        assert lease.held
    renewals = recorder.sent("renew")
    assert renewals >= 3
    time.sleep(0.3)
    assert recorder.sent("renew") == renewals, "no renewal after the release"
    assert sem.holders("jobs").holders == 0


def test_a_slot_taken_away_is_reported(client: Any) -> None:
    sem = make(client, limit=1, ttl=0.3)
    told: List[Lease] = []
    with pytest.raises(LeaseLostError) as lost:
        with sem("jobs", on_lost=told.append) as lease:
            client.zrem(sem.redis_key("jobs"), lease.token)
            assert lease.lost.wait(5)
    assert lost.value.gone and told == [lease]


def test_the_decorator_and_the_asyncio_idioms() -> None:
    async def main() -> None:
        client = redis_support.async_client()
        try:
            sem = make(client, limit=2, ttl=5.0)
            inside = 0
            most = 0

            @sem("exports")
            async def export() -> None:
                nonlocal inside, most
                inside += 1
                most = max(most, inside)
                await asyncio.sleep(0.05)
                inside -= 1

            outcomes = await asyncio.gather(*(export() for _ in range(4)), return_exceptions=True)
            refused = [o for o in outcomes if isinstance(o, BulkheadFullError)]
            assert len(refused) == 2 and outcomes.count(None) == 2 and most == 2
            async with sem("exports") as lease:
                assert isinstance(lease.lost, asyncio.Event)
                assert (await sem.holders_async("exports")).holders == 1
                assert await sem.renew_async(lease)
            assert (await sem.holders_async("exports")).holders == 0
            lease = await sem.try_acquire_async("exports", keep=True)
            assert await sem.release_async(lease)
        finally:
            await client.aclose()

    asyncio.run(main())


def test_threads_share_one_semaphore_with_the_with_idiom(client: Any) -> None:
    sem = make(client, limit=2, ttl=5.0)
    hold = sem("jobs")
    results: List[str] = []
    gate = threading.Barrier(3)

    def work() -> None:
        try:
            with hold:
                gate.wait(5)
                results.append("ran")
                gate.wait(5)
        except BulkheadFullError:
            results.append("refused")
            gate.wait(5)
            gate.wait(5)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(results) == ["ran", "ran", "refused"]
    assert sem.holders("jobs").holders == 0


def test_never_more_holders_than_the_limit_across_processes(client: Any) -> None:
    limit, processes = 3, 6
    prefix = redis_support.unique_prefix("semaphore-load")
    workers = [
        Worker("semaphore", url=redis_support.url(), prefix=prefix, name="jobs", limit=limit, ttl=5.0, seconds=1.5)
        for _ in range(processes)
    ]
    try:
        seen = [w.read(within=60) for w in workers]
        assert [w.finish() for w in workers] == [0] * processes
    finally:
        for w in workers:
            w.kill()
    assert all("error" not in s for s in seen), seen
    # The server never counted more than the limit while a worker held a slot...
    assert max(s["most"] for s in seen) <= limit
    # ... and the holdings, on the machine's one monotonic clock, never overlapped more.
    edges: List[Tuple[int, int]] = []
    for s in seen:
        for start, end in s["holdings"]:
            edges += [(start, 1), (end, -1)]
    inside = most = 0
    for _, step in sorted(edges, key=lambda e: (e[0], e[1])):
        inside += step
        most = max(most, inside)
    assert most <= limit
    # The workers outnumbered the slots: the limit was reached and refused, not only kept.
    assert most == limit and sum(s["refusals"] for s in seen) > 0
    assert client.exists(f"{prefix}{{jobs}}:semaphore") == 0


def test_the_semaphore_on_a_cluster() -> None:
    client = redis_support.sync_cluster(timeout=2.0)
    try:
        sem = make(client, limit=1, ttl=5.0)
        with sem("jobs") as lease:
            with pytest.raises(BulkheadFullError):
                sem.try_acquire("jobs")
            assert sem.renew(lease)
        assert sem.holders("jobs").holders == 0
    finally:
        client.close()


def test_redis_unavailable_raises_and_never_admits() -> None:
    proxy = redis_support.Proxy(redis_support.url())
    client = redis_support.sync_client(proxy.url, timeout=1.0, retry=redis_support.no_retry())
    try:
        sem = make(client, limit=5)
        lease = sem.try_acquire("jobs")
        proxy.down()
        with pytest.raises(FleetUnavailableError) as failed:
            sem.try_acquire("jobs")
        assert str(failed.value).startswith("Redis could not decide the semaphore: ConnectionError")
        with pytest.raises(FleetUnavailableError):
            sem.release(lease)
    finally:
        client.close()
        proxy.close()
