"""``stanchion.redis.FleetLock`` on a live server: one holder at a time, fencing tokens,
waiting, ``extend``, the keeper (renewing through long work, stopping at release and never
renewing after it, reporting a lost lease), the idioms, and processes: eight incrementing a
counter under the lock, a holder stopped past its lease, a holder killed.

Durations are short (lease times of hundreds of milliseconds); the tests wait for expiries
but assert outcomes, never how long anything took.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from typing import Any, Iterator, List

import pytest
import redis_support
from lease_support import Recorder, Worker, wait_for

from stanchion import LeaseLostError, LockHeldError, LockTimeoutError
from stanchion.redis import FleetLock, LockLease


@pytest.fixture
def client() -> Iterator[Any]:
    client = redis_support.sync_client(timeout=2.0)
    yield client
    client.close()


def make(client: Any, ttl: float = 10.0, **options: Any) -> FleetLock:
    options.setdefault("timeout", 2.0)
    return FleetLock(client, ttl=ttl, prefix=redis_support.unique_prefix("lock"), **options)


# One holder at a time ----------------------------------------------------------------------


def test_one_holder_at_a_time_and_release_frees_at_once(client: Any) -> None:
    lock = make(client, ttl=10.0)
    first = lock.acquire("job")
    assert len(first.token) == 32 and first.held
    with pytest.raises(LockHeldError) as held:
        lock.acquire("job")
    assert held.value.retry_after is not None and 0 < held.value.retry_after <= 10.0
    assert str(held.value).startswith("the lock 'job' is held by another holder for up to ")
    assert lock.release(first) and first.released and not first.held
    second = lock.acquire("job")
    assert second.token != first.token and second.fence > first.fence
    # The first holder's late release leaves the second's lease alone.
    assert not lock.release(first)
    key, _ = lock.redis_keys("job")
    assert client.get(key).decode() == second.token
    with pytest.raises(LockHeldError):
        lock.acquire("job")


def test_extend_sets_the_remaining_time_it_never_adds(client: Any) -> None:
    lock = make(client, ttl=100.0)
    lease = lock.acquire("job")
    key, fence_key = lock.redis_keys("job")
    assert lock.extend(lease, 2.0)
    assert 0 < client.pttl(key) <= 2000
    assert lease.ttl == 2.0  # renewals from here on
    assert lock.release(lease)
    assert not lock.extend(lease, 2.0)
    assert client.exists(key) == 0, "an extend after release must not bring the lease back"
    assert lease.lost.is_set() and lease.lost_error is not None and lease.lost_error.gone
    assert client.ttl(fence_key) == -1, "the fence key never expires"


def test_an_expired_holder_is_fenced_off_by_the_next(client: Any) -> None:
    lock = make(client, ttl=0.05)
    stale = lock.acquire("job")
    key, _ = lock.redis_keys("job")
    wait_for(lambda: client.exists(key) == 0, "the lease to expire")
    fresh = lock.acquire("job")
    assert fresh.fence > stale.fence

    # A resource that keeps the largest fence it has seen refuses the stale holder's write.
    newest = 0

    def write(fence: int) -> bool:
        nonlocal newest
        if fence < newest:
            return False
        newest = fence
        return True

    assert write(fresh.fence)
    assert not write(stale.fence)
    assert not lock.release(stale)
    assert lock.release(fresh)


def test_fences_keep_growing_when_the_counter_is_lost(client: Any) -> None:
    lock = make(client)
    keys = lock.redis_keys("job")
    origin = 1_000_000_000_000_000  # microseconds, in 2001
    first = lock._attempt("job", keys, None, origin)
    assert first.fence == origin
    lock.release(first)
    # Within one microsecond the counter, not the clock, keeps fences apart.
    second = lock._attempt("job", keys, None, origin)
    assert second.fence == origin + 1
    lock.release(second)
    client.delete(keys[1])
    third = lock._attempt("job", keys, None, origin + 500)
    assert third.fence == origin + 500
    # The server's own clock is far past 2001: a fence from it is larger still.
    lock.release(third)
    assert lock.acquire("job").fence > third.fence


# Waiting -----------------------------------------------------------------------------------


def test_acquire_waits_for_a_release_and_gives_up_after_its_wait(client: Any) -> None:
    lock = make(client, ttl=10.0)
    holder = lock.acquire("job")
    with pytest.raises(LockTimeoutError) as timed_out:
        lock.acquire("job", wait=0.1)
    assert 0 < timed_out.value.waited <= 0.1
    assert isinstance(timed_out.value.__cause__, LockHeldError)
    assert str(timed_out.value).startswith("the lock 'job' is still held by another holder after waiting ")

    got: List[LockLease] = []
    waiter = threading.Thread(target=lambda: got.append(lock.acquire("job", wait=5.0)))
    counted = redis_support.Counted(client)
    waiter.start()
    wait_for(lambda: len(counted) >= 2, "the waiter to try twice")
    lock.release(holder)
    waiter.join(10)
    assert got and got[0].fence > holder.fence
    lock.release(got[0])


def test_a_wait_never_runs_past_the_holders_lease(client: Any) -> None:
    # The holder's lease (0.3 s) runs out long before the patience (30 s); the waiter takes
    # the lock then, without the holder releasing.
    lock = make(client, ttl=0.3)
    holder = lock.acquire("job")
    lease = lock.acquire("job", wait=30.0)
    assert lease.fence > holder.fence
    assert not lock.release(holder)
    assert lock.release(lease)


def test_waiting_backs_off_rather_than_spinning(client: Any) -> None:
    lock = make(client, ttl=10.0, wait=0.5)
    holder = lock.acquire("job")
    counted = redis_support.Counted(client)
    with pytest.raises(LockTimeoutError):
        lock.acquire("job")
    # The core's backoff waits 10 ms, doubling to 200 ms, with full jitter: a wait of 0.5 s
    # is a handful of attempts, never hundreds.
    attempts = sum(1 for c in counted.commands if c.upper().startswith("EVAL"))
    assert 1 < attempts < 60, attempts
    lock.release(holder)


# The keeper --------------------------------------------------------------------------------


def test_the_keeper_holds_the_lock_through_work_five_times_its_lease(client: Any) -> None:
    lock = make(client, ttl=0.3)
    other_lock = FleetLock(client, ttl=0.3, prefix=lock.prefix, timeout=2.0)
    recorder = Recorder(client)
    with lock("job") as lease:
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            time.sleep(0.1)
            with pytest.raises(LockHeldError):
                other_lock.acquire("job")
        assert lease.held and not lease.lost.is_set()
    assert recorder.sent("extend") >= 3
    assert not lease.held and lease.lost_error is None
    # No renewal after the release: three renewal periods later, still none sent.
    renewals = recorder.sent("extend")
    time.sleep(0.3)
    assert recorder.sent("extend") == renewals
    assert recorder.ops()[-2:] == [("sent", "release"), ("answered", "release")]
    assert other_lock.release(other_lock.acquire("job"))


def test_a_release_waits_for_the_renewal_in_flight_and_none_follows(client: Any) -> None:
    lock = make(client, ttl=0.9)
    recorder = Recorder(client, hold="extend")
    lease = lock.acquire("job", keep=True)
    wait_for(recorder.held.is_set, "the keeper's first renewal")
    # The renewal is held at the gate, not yet sent. The release must wait for it.
    released: List[bool] = []
    releasing = threading.Thread(target=lambda: released.append(lock.release(lease)))
    releasing.start()
    releasing.join(0.2)
    assert releasing.is_alive() and recorder.sent("release") == 0
    recorder.open()
    releasing.join(10)
    assert released == [True]
    assert recorder.ops() == [
        ("sent", "acquire"),
        ("answered", "acquire"),
        ("sent", "extend"),
        ("answered", "extend"),
        ("sent", "release"),
        ("answered", "release"),
    ]
    time.sleep(0.6)  # two renewal periods
    assert recorder.sent("extend") == 1


def test_an_asyncio_release_waits_for_the_renewal_in_flight_and_none_follows() -> None:
    async def main() -> None:
        client = redis_support.async_client()
        try:
            lock = make(client, ttl=0.9)
            recorder = Recorder(client, hold="extend")
            lease = await lock.acquire_async("job", keep=True)
            assert isinstance(lease.lost, asyncio.Event)
            while not recorder.held.is_set():
                await asyncio.sleep(0.01)
            releasing = asyncio.ensure_future(lock.release_async(lease))
            await asyncio.sleep(0.2)
            assert not releasing.done() and recorder.sent("release") == 0
            recorder.open()
            assert await releasing
            assert [op for what, op in recorder.ops() if what == "sent"] == ["acquire", "extend", "release"]
            await asyncio.sleep(0.6)  # two renewal periods
            assert recorder.sent("extend") == 1
        finally:
            await client.aclose()

    asyncio.run(main())


def test_a_lease_taken_away_is_reported_at_once_and_the_block_is_told(client: Any) -> None:
    lock = make(client, ttl=0.3)
    key, _ = lock.redis_keys("job")
    called: List[LockLease] = []
    with pytest.raises(LeaseLostError) as lost:
        with lock("job", on_lost=called.append) as lease:
            # Another process "takes over" the lock, as after an expiry.
            client.set(key, "someone-else")
            assert lease.lost.wait(5), "the keeper reports the loss within a renewal period"
            assert called == [lease] and not lease.held
    assert lost.value.gone and lost.value is lease.lost_error
    assert str(lost.value) == (
        "the lease on 'job' is no longer held: it expired or another holder has it"
    )
    assert client.get(key) == b"someone-else", "the lost holder's release deletes nothing"


def test_an_asyncio_keeper_reports_a_lost_lease_and_awaits_an_async_callback() -> None:
    async def main() -> None:
        client = redis_support.async_client()
        admin = redis_support.sync_client()
        try:
            lock = make(client, ttl=0.3)
            key, _ = lock.redis_keys("job")
            told: List[bool] = []

            async def on_lost(lease: LockLease) -> None:
                await asyncio.sleep(0)
                told.append(lease.lost.is_set())

            with pytest.raises(LeaseLostError):
                async with lock("job", on_lost=on_lost) as lease:
                    admin.set(key, "someone-else")
                    await asyncio.wait_for(lease.lost.wait(), 5)
            await asyncio.sleep(0)
            assert told == [True]
            assert admin.get(key) == b"someone-else"
        finally:
            await client.aclose()
            admin.close()

    asyncio.run(main())


def test_a_block_that_raises_keeps_its_error_and_releases(client: Any) -> None:
    lock = make(client)
    key, _ = lock.redis_keys("job")
    with pytest.raises(KeyError):
        with lock("job"):
            raise KeyError("the work's own error")
    assert client.exists(key) == 0


def test_a_block_may_release_its_lease_early(client: Any) -> None:
    lock = make(client)
    key, _ = lock.redis_keys("job")
    recorder = Recorder(client)
    with lock("job") as lease:
        assert lock.release(lease)
        other = lock.acquire("job")  # the lock is free for others at once
    # The block's end neither releases again nor calls the lease lost.
    assert not lease.lost.is_set() and recorder.sent("release") == 1
    assert client.get(key).decode() == other.token
    assert lock.release(other)


def test_the_decorator_holds_the_lock_around_each_call(client: Any) -> None:
    lock = make(client, ttl=5.0)
    key, _ = lock.redis_keys("nightly")
    seen: List[bytes] = []

    @lock("nightly")
    def report(n: int) -> int:
        seen.append(client.get(key))
        return n * 2

    assert report(21) == 42 and report(1) == 2
    assert len(seen) == 2 and all(len(token) == 32 for token in seen) and seen[0] != seen[1]
    assert client.exists(key) == 0
    holder = lock.acquire("nightly")
    with pytest.raises(LockHeldError):
        report(3)
    lock.release(holder)


def test_the_asyncio_idioms() -> None:
    async def main() -> None:
        client = redis_support.async_client()
        try:
            lock = make(client, ttl=5.0)
            key, _ = lock.redis_keys("nightly")

            @lock("nightly", wait=5.0)
            async def report() -> bytes:
                return bytes(await client.get(key))

            # Two at once: the second waits for the first; each sees its own token.
            tokens = await asyncio.gather(report(), report())
            assert len(set(tokens)) == 2
            async with lock("nightly") as lease:
                assert (await client.get(key)).decode() == lease.token
                assert await lock.extend_async(lease, 10.0)
            assert await client.exists(key) == 0
        finally:
            await client.aclose()

    asyncio.run(main())


# Processes ---------------------------------------------------------------------------------

PROCESSES = 8
ROUNDS = 250


def test_eight_processes_never_overlap_and_every_increment_counts(client: Any) -> None:
    prefix = redis_support.unique_prefix("mutex")
    counter = f"{prefix}counter"
    started = time.monotonic()
    workers = [
        Worker("count", url=redis_support.url(), prefix=prefix, name="counter", counter=counter, ttl=5.0, rounds=ROUNDS)
        for _ in range(PROCESSES)
    ]
    try:
        sections = [s for w in workers for s in w.read(within=240)["sections"]]
        assert [w.finish() for w in workers] == [0] * PROCESSES
    finally:
        for w in workers:
            w.kill()
    spent = time.monotonic() - started
    assert int(client.get(counter)) == PROCESSES * ROUNDS
    assert len(sections) == PROCESSES * ROUNDS
    print(
        f"{PROCESSES} processes, {len(sections)} sections under one lock in {spent:.1f} s "
        f"(process start included): {len(sections) / spent:.0f} a second"
    )
    # In the order of their fences, each section ended before the next began.
    sections.sort()
    fences = [fence for fence, _, _ in sections]
    assert len(set(fences)) == len(fences)
    overlaps = [(a, b) for a, b in zip(sections, sections[1:]) if b[1] <= a[2]]
    assert overlaps == []


def test_a_holder_stopped_past_its_lease_loses_it_and_its_late_release_deletes_nothing(client: Any) -> None:
    lock = make(client, ttl=0.3)
    key, _ = lock.redis_keys("job")
    worker = Worker("hold", url=redis_support.url(), prefix=lock.prefix, name="job", ttl=0.3, lost_within=10)
    try:
        first = worker.read()
        os.kill(worker.pid, signal.SIGSTOP)
        try:
            wait_for(lambda: client.exists(key) == 0, "the stopped holder's lease to expire")
            second = lock.acquire("job")
            assert second.fence > first["fence"]
        finally:
            os.kill(worker.pid, signal.SIGCONT)
        worker.send("release")
        assert worker.read() == {"lost": True, "gone": True, "released": False}
        assert worker.finish() == 0
        assert client.get(key).decode() == second.token
        assert lock.release(second)
    finally:
        worker.kill()


def test_a_killed_holder_frees_the_lock_within_one_lease(client: Any) -> None:
    lock = make(client, ttl=0.5)
    key, _ = lock.redis_keys("job")
    worker = Worker("hold", url=redis_support.url(), prefix=lock.prefix, name="job", ttl=0.5, lost_within=10)
    try:
        first = worker.read()
        time.sleep(0.4)  # past a renewal: the keeper runs
        assert client.get(key).decode() == first["token"]
        worker.kill()
        # Nobody renews it any more: what is left of it is at most one lease, and shrinks.
        left = client.pttl(key)
        assert 0 < left <= 500
        wait_for(lambda: client.pttl(key) < left, "the lease to run down")
        wait_for(lambda: client.exists(key) == 0, "the dead holder's lease to expire")
        assert lock.acquire("job").fence > first["fence"]
    finally:
        worker.kill()
