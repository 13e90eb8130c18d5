"""``FleetQuota`` and ``QuotaPool`` on the test server, through the public API: takes never below
zero, request ids charged once, buckets swept round the ring, local batches and the Redis calls
they save (counted), blocking and asyncio clients."""

from __future__ import annotations

import asyncio
import doctest
import gc
import inspect
import pickle
import re
import threading
import time
from typing import Any, Iterator, List

import pytest
import redis_support
import test_readme
import test_readme_api

import stanchion
import stanchion._errors
import stanchion._fleet_client
import stanchion._fleet_quota
from stanchion import ConfigError, SoldOutError, Stock
from stanchion.redis import FleetQuota, QuotaPool, Taken


@pytest.fixture
def client() -> Iterator[Any]:
    client = redis_support.sync_client()
    yield client
    client.close()


def quota(client: Any, **options: Any) -> FleetQuota:
    return FleetQuota(client, prefix=redis_support.unique_prefix("quota"), **options)


# Takes, restocks, remaining -----------------------------------------------------------------


def test_a_take_never_drives_the_stock_below_zero(client: Any) -> None:
    q = quota(client)
    assert q.remaining("sku") == 0
    with pytest.raises(SoldOutError) as sold_out:
        q.take("sku")
    assert (sold_out.value.requested, sold_out.value.remaining) == (1, 0)
    assert q.restock("sku", 5) == 5
    assert q.take("sku", 2) == Taken(bucket=0, remaining=3, replayed=False)
    with pytest.raises(SoldOutError, match=r"^sold out \(4 asked, 3 left\)$"):
        q.take("sku", 4)
    assert q.remaining("sku") == 3  # a refused take takes nothing
    assert q.take("sku", 3).remaining == 0
    assert client.get(q.redis_key("sku")) == b"0"


def test_a_sold_out_error_is_a_stanchion_error_that_pickles() -> None:
    error = SoldOutError(3, 2)
    assert isinstance(error, stanchion.StanchionError)
    assert not isinstance(error, stanchion.RefusedError)  # no retry_after: a restock refills
    again = pickle.loads(pickle.dumps(error))
    assert (type(again), str(again), again.requested, again.remaining) == (
        SoldOutError,
        "sold out (3 asked, 2 left)",
        3,
        2,
    )


def test_a_request_id_is_charged_once_and_its_refusal_is_remembered(client: Any) -> None:
    q = quota(client)
    q.restock("sku", 3)
    first = q.take("sku", 2, request_id="order-1")
    assert first == Taken(0, 1, False)
    for _ in range(3):
        assert q.take("sku", 2, request_id="order-1") == Taken(0, 1, True)
    assert q.remaining("sku") == 1
    with pytest.raises(ConfigError) as reused:
        q.take("sku", 1, request_id="order-1")
    assert str(reused.value) == (
        "request_id must be an id not used within its memory (id_memory) for a take of another n, "
        "got 'order-1'"
    )
    assert reused.value.field == "request_id"
    with pytest.raises(SoldOutError):
        q.take("sku", 2, request_id="order-2")
    q.restock("sku", 5)
    with pytest.raises(SoldOutError, match=r"\(2 asked, 6 left\)"):
        q.take("sku", 2, request_id="order-2")  # refused the first time: refused again
    before = redis_support.server_time_ns(client) // 1_000_000
    assert q.take("sku", 2, request_id="order-3").replayed is False
    after = redis_support.server_time_ns(client) // 1_000_000
    # The id's record sits next to its bucket, in the same slot, and expires with the memory
    # (10 minutes) on the server's clock.
    expires = client.pexpiretime(f"{q.redis_key('sku')}:id:order-3")
    assert before + 600_000 <= expires <= after + 600_000


def test_an_id_is_forgotten_after_its_memory(client: Any) -> None:
    q = quota(client, id_memory=0.05)
    assert q.id_memory == 0.05
    q.restock("sku", 2)
    q.take("sku", 1, request_id="a")
    record = f"{q.redis_key('sku')}:id:a"
    for _ in range(200):  # the server forgets it 50 ms on; no time is asserted
        if not client.exists(record):
            break
        time.sleep(0.01)
    assert q.take("sku", 1, request_id="a") == Taken(0, 0, False)


def test_a_restock_spreads_the_units_evenly_over_the_buckets(client: Any) -> None:
    q = quota(client, buckets=4)
    assert q.restock("sku", 10) == 10
    counts = [q.remaining("sku", bucket) for bucket in range(4)]
    assert sorted(counts) == [2, 2, 3, 3] and q.remaining("sku") == 10
    # The buckets with one more follow each other round the ring from a random start.
    start = next(b for b in range(4) if counts[b] == 3 and counts[b - 1] == 2)
    assert counts[(start + 1) % 4] == 3
    assert q.restock("sku", 2) == 12
    assert q.restock("sku", 1) == 13  # one bucket gets it, three are read


def test_a_bucketed_take_is_sold_out_only_when_every_bucket_held_fewer(client: Any) -> None:
    q = quota(client, buckets=4)
    counted = redis_support.Counted(client)
    q.restock("sku", 4)  # one unit per bucket
    served = sorted(q.take("sku").bucket for _ in range(4))
    assert served == [0, 1, 2, 3]
    calls = len(counted)
    with pytest.raises(SoldOutError) as sold_out:
        q.take("sku")
    assert sold_out.value.remaining == 0
    assert len(counted) - calls == 4  # every bucket visited, one call each
    q.restock("sku", 4)
    # Served whole by one bucket, never split: four units in four buckets refuse a take of 2.
    with pytest.raises(SoldOutError, match=r"\(2 asked, 4 left\)"):
        q.take("sku", 2)
    assert q.remaining("sku") == 4


def test_a_take_with_an_id_starts_at_the_ids_bucket(client: Any) -> None:
    q = quota(client, buckets=8)
    q.restock("sku", 80)
    for i in range(40):
        request_id = f"order-{i}"
        start = q.start_bucket(request_id)
        # The core's FNV-1a hash of the id's bytes, as every binding computes it.
        assert start == stanchion.key_of(request_id) % 8
        assert q.take("sku", 1, request_id=request_id).bucket == start
    assert q.start_bucket("order-1") == 5  # FNV-1a of "order-1" is 0xdee4809f34bee86d


def test_one_call_per_take_when_the_first_bucket_serves(client: Any) -> None:
    q = quota(client, buckets=4)
    q.restock("sku", 400)
    counted = redis_support.Counted(client)
    for _ in range(10):
        q.take("sku")
    assert counted.commands == ["EVALSHA"] * 10


def test_the_calls_of_an_asyncio_client() -> None:
    async def main() -> None:
        client = redis_support.async_client()
        try:
            q = FleetQuota(client, buckets=2, prefix=redis_support.unique_prefix("aquota"))
            assert q.is_async
            assert await q.restock_async("sku", 4) == 4
            assert await q.remaining_async("sku", 0) == 2
            taken = await q.take_async("sku", 2, request_id="order-1")
            assert (await q.take_async("sku", 2, request_id="order-1")) == taken._replace(replayed=True)
            assert await q.remaining_async("sku") == 2
            with pytest.raises(SoldOutError):
                await q.take_async("sku", 3)
            with pytest.raises(TypeError, match=r"^take needs a blocking client and this quota's is asyncio: await take_async\(...\)$"):
                q.take("sku")
            async with q.pool("sku") as pool:
                await pool.take_async()
                assert pool.local == 1
            assert pool.closed and await q.remaining_async("sku") == 1
        finally:
            await client.aclose()

    asyncio.run(main())


def test_blocking_methods_and_asyncio_methods_do_not_mix(client: Any) -> None:
    q = quota(client)
    with pytest.raises(TypeError, match=r"^take_async needs an asyncio client and this quota's is blocking: call take\(...\)$"):
        asyncio.run(q.take_async("sku"))
    pool = q.pool("sku")
    with pytest.raises(TypeError, match="take_async needs an asyncio client"):
        asyncio.run(pool.take_async())
    with pytest.raises(TypeError, match="give_back_async needs an asyncio client"):
        asyncio.run(pool.give_back_async())
    pool.close()


# Local batches ------------------------------------------------------------------------------


def test_a_pool_takes_a_batch_and_hands_it_out_without_a_call(client: Any) -> None:
    q = quota(client, batch=10)
    q.restock("credits", 25)
    counted = redis_support.Counted(client)
    pool = q.pool("credits")
    assert isinstance(pool, QuotaPool) and (pool.name, pool.quota) == ("credits", q)
    pool.take(3)  # one call takes 10
    assert (pool.local, q.remaining("credits")) == (7, 15)
    calls = len(counted)
    for _ in range(7):
        pool.take()
    assert len(counted) == calls and pool.local == 0
    pool.take(12)  # more than a batch: exactly 12
    assert (pool.local, q.remaining("credits")) == (0, 3)
    pool.take(1)  # what the bucket has, 3
    assert pool.local == 2
    with pytest.raises(SoldOutError, match=r"\(5 asked, 0 left\)"):
        pool.take(5)
    assert pool.local == 2  # kept for smaller takes
    pool.take(2)
    assert pool.close() == 0
    with pytest.raises(ValueError, match=r"^QuotaPool\('credits', closed\) is closed: make another with quota.pool\(name\)$"):
        pool.take()


def test_what_a_pool_did_not_use_goes_back(client: Any) -> None:
    q = quota(client, batch=100)
    q.restock("credits", 1_000)
    with q.pool("credits") as pool:
        for _ in range(250):
            pool.take()
        assert pool.local == 50
    assert pool.closed and q.remaining("credits") == 750
    other = q.pool("credits")
    other.take()
    assert other.give_back() == 99 and other.local == 0 and not other.closed
    assert other.give_back() == 0
    other.close()
    assert q.remaining("credits") == 749


def test_a_pool_dropped_holding_units_warns_that_they_stay_taken(client: Any) -> None:
    q = quota(client, batch=10)
    q.restock("credits", 10)
    pool = q.pool("credits")
    pool.take()
    with pytest.warns(ResourceWarning, match=r"was dropped holding 9 units, which stay taken"):
        del pool
        gc.collect()
    assert q.remaining("credits") == 0
    # A pool closed or empty warns nothing.
    q.pool("credits").close()


def test_ten_thousand_takes_in_batches_of_a_hundred_cost_a_hundred_calls(client: Any) -> None:
    q = quota(client, batch=100)
    q.restock("credits", 20_000)
    counted = redis_support.Counted(client)
    with q.pool("credits") as pool:
        for _ in range(10_000):
            pool.take()
    calls = len(counted)
    print(f"10 000 pool takes of one unit, batches of 100, one thread: {calls} Redis calls")
    assert calls <= 101
    assert q.remaining("credits") == 10_000


def test_threads_sharing_a_pool_take_every_unit_once(client: Any) -> None:
    q = quota(client, batch=100)
    q.restock("credits", 10_000)
    counted = redis_support.Counted(client)
    pool = q.pool("credits")
    served: List[int] = []
    lock = threading.Lock()

    def work() -> None:
        got = 0
        while True:
            try:
                pool.take()
            except SoldOutError:
                break
            got += 1
        with lock:
            served.append(got)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    returned = pool.close()
    print(
        f"10 000 pool takes of one unit, batches of 100, 4 threads: {len(counted)} Redis calls "
        f"(the sold-out sweeps and the give-back included)"
    )
    assert sum(served) + returned + q.remaining("credits") == 10_000
    assert sum(served) == 10_000 and returned == 0


# Docs ---------------------------------------------------------------------------------------


def test_the_docstring_examples_run(client: Any) -> None:
    for key in client.scan_iter("doc:*"):
        client.delete(key)
    for key in client.scan_iter("stanchion:{sku-42:*"):
        client.delete(key)
    tried = 0
    for module in (stanchion._fleet_quota, stanchion._fleet_client, stanchion._errors):
        failures, count = doctest.testmod(module, extraglobs={"client": client}, optionflags=doctest.ELLIPSIS)
        assert failures == 0, module.__name__
        tried += count
    assert tried > 20


def test_every_public_item_has_an_example() -> None:
    documented = [
        FleetQuota,
        FleetQuota.take,
        FleetQuota.restock,
        FleetQuota.remaining,
        FleetQuota.pool,
        FleetQuota.redis_key,
        FleetQuota.start_bucket,
        QuotaPool,
        Taken,
        SoldOutError,
        stanchion.redis.script_source,
    ]
    for item in documented:
        assert ">>>" in (item.__doc__ or ""), item


QUOTA = test_readme.TEXT.split("\n## Fleet quotas on Redis\n", 1)[1].split("\n## ", 1)[0]
QUOTA_BLOCKS: List[str] = re.findall(r"```python\n(.*?)```", QUOTA, flags=re.S)


def test_the_quota_examples_are_only_run_here() -> None:
    assert len(QUOTA_BLOCKS) == 2
    assert all(test_readme.REDIS in block for block in QUOTA_BLOCKS)
    assert not set(QUOTA_BLOCKS) & set(test_readme.OTHER_BLOCKS)


@pytest.mark.parametrize("source", QUOTA_BLOCKS, ids=["blocking", "asyncio"])
def test_the_quota_examples_run(client: Any, source: str) -> None:
    for key in client.scan_iter("shop:*"):
        client.delete(key)
    port = redis_support.host_port(redis_support.url())[1]
    source = source.replace(test_readme.REDIS, f"port={port}")
    exec(compile(source, str(test_readme.README), "exec"), {"__name__": "readme_example"})


def test_the_quota_table_states_the_real_signature() -> None:
    rows = [line for line in QUOTA.splitlines() if line.startswith("| `")]
    documented = dict(
        found for row in rows for found in test_readme_api.SIGNATURE.findall(row.split(" | ")[0])
    )
    assert set(documented) == {"FleetQuota"}
    options = [
        (p.name, (p.default is not p.empty, None if p.default is p.empty else p.default), p.kind is p.KEYWORD_ONLY)
        for p in inspect.signature(FleetQuota.__init__).parameters.values()
        if p.name != "self"
    ]
    assert test_readme_api.parse(documented["FleetQuota"]) == options
    assert "`stanchion.Stock(units=None)`" in QUOTA
    assert inspect.signature(Stock).parameters["units"].default is None


def test_the_error_table_lists_every_exception() -> None:
    section = test_readme.TEXT.split("\n## Errors\n", 1)[1].split("\n## ", 1)[0]
    listed = re.findall(r"^\| `(\w+)` \|", section, flags=re.M)
    assert sorted(listed) == sorted(stanchion._errors.__all__)
