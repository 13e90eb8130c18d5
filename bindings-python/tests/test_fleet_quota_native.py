"""The native halves of the fleet quota, without a server: the core's ``Stock`` (``stanchion.Stock``)
and the quota's client side (``_stanchion.FleetQuota``), which decides each call of
``quota.lua`` (keys and arguments, by the rules of the Rust reference) and reads its replies."""

from __future__ import annotations

import threading
from typing import Any, Dict, List

import pytest

from stanchion import ConfigError, Stock, _stanchion, key_of

# The Stock -----------------------------------------------------------------------------------


def test_a_stock_never_goes_below_zero_and_a_take_it_cannot_meet_takes_nothing() -> None:
    stock = Stock(3)
    assert stock.take(2) and not stock.take(2)
    assert stock.available() == 1
    assert stock.take(0) and Stock().take(0)  # nothing asked, nothing refused
    assert stock.add(4) == 5
    assert stock.drain() == 5 and stock.drain() == 0
    assert not stock.take(1) and stock.available() == 0
    assert repr(Stock(7)) == "Stock(7)" and Stock().available() == 0


def test_a_stock_saturates_at_the_largest_u64() -> None:
    stock = Stock(2**64 - 2)
    assert stock.add(5) == 2**64 - 1
    assert stock.take(2**64 - 1) and stock.available() == 0


def test_a_stock_refuses_what_is_no_count() -> None:
    with pytest.raises(ConfigError, match=r"^n must be an int from 0 to 18446744073709551615, got -1$"):
        Stock().take(-1)
    with pytest.raises(ConfigError, match=r"^units must be an int from 0 to 18446744073709551615, got 18446744073709551616$"):
        Stock(2**64)
    with pytest.raises(TypeError, match=r"^n must be an int, got '1' \(str\)$"):
        Stock().add("1")  # type: ignore[arg-type]


def test_threads_taking_from_one_stock_take_each_unit_once() -> None:
    stock = Stock(20_000)
    taken: List[int] = []

    def drain(n: int) -> None:
        got = 0
        while stock.take(n):
            got += n
        taken.append(got)

    threads = [threading.Thread(target=drain, args=(n,)) for n in (1, 2, 3, 5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Each thread stopped when fewer than its n (at most 5) were left.
    assert stock.available() < 5
    assert sum(taken) + stock.available() == 20_000


# The quota's calls ---------------------------------------------------------------------------


def core(**config: Any) -> _stanchion.FleetQuota:
    return _stanchion.FleetQuota(config)


def test_the_defaults_and_limits() -> None:
    defaults: Dict[str, Any] = _stanchion.fleet_quota_defaults()
    assert defaults == {
        "default_id_memory_ns": 600_000_000_000,
        "default_batch": 100,
        "max_buckets": 1024,
        "max_units": 2**53 - 1,
        "max_request_id_len": 256,
        "max_id_memory_ns": 2**40 * 1_000_000,
    }
    quota = core()
    assert (quota.prefix, quota.buckets, quota.id_memory_ns, quota.batch, quota.timeout_ns) == (
        "stanchion:",
        1,
        600_000_000_000,
        100,
        250_000_000,
    )


def test_the_keys_are_the_reference_implementations() -> None:
    quota = core(buckets=4, prefix="shop:")
    assert quota.redis_key("sku-42", 3) == "shop:{sku-42:3}:quota"
    assert quota.redis_key("sku-42") == "shop:{sku-42:0}:quota"
    assert quota.take_keys("sku-42", 2) == ["shop:{sku-42:2}:quota"]
    assert quota.take_keys("sku-42", 2, "order-1") == ["shop:{sku-42:2}:quota", "shop:{sku-42:2}:quota:id:order-1"]


def test_a_take_starts_at_the_ids_hash_or_where_it_is_told() -> None:
    quota = core(buckets=8, id_memory=60)
    # FNV-1a of "order-1" is 0xdee4809f34bee86d, 5 modulo 8 (the Rust reference's example).
    assert key_of("order-1") == 0xDEE4809F34BEE86D
    assert quota.start_bucket("order-1") == 5
    assert quota.take_plan("sku", 2, "order-1") == (5, 2, ["take", "2", "2", "60000"])
    assert quota.take_plan("sku", 2, None, 7) == (7, 2, ["take", "2", "2", "60000"])
    # An id decides the start, whatever `start` says.
    assert quota.take_plan("sku", 2, "order-1", 7)[0] == 5
    assert quota.take_plan("sku", 1, None, 0, 4_000_000_000_000_000_000)[2] == [
        "take", "1", "1", "60000", "4000000000000000000",
    ]
    # A pool's refill takes up to a batch, at least what it was asked.
    assert quota.take_plan("sku", 3, None, 0, None, True)[1:] == (100, ["take", "3", "100", "60000"])
    assert quota.take_plan("sku", 300, None, 0, None, True)[1] == 300
    # Without an id or a start, a random bucket: every one comes up.
    assert {quota.take_plan("sku", 1)[0] for _ in range(400)} == set(range(8))
    assert {quota.random_bucket() for _ in range(400)} == set(range(8))


def test_the_replies_of_a_take_are_read_strictly() -> None:
    quota = core()
    assert quota.take_answer([2, 3, 0], 2, 2) == (2, 3, False)
    assert quota.take_answer((0, 1, 1), 2, 2) == (0, 1, True)  # remembered refusal
    assert quota.take_answer([7, 0, 0], 2, 10) == (7, 0, False)
    with pytest.raises(ConfigError) as reused:
        quota.take_answer([-1, 5, 1], 2, 2, "order-1")
    assert str(reused.value) == (
        "request_id must be an id not used within its memory (id_memory) for a take of another n, "
        "got 'order-1'"
    )
    for reply, message in [
        ([3, 0, 0], "took 3 units, outside the 2 to 2 asked for"),
        ([1, 0, 0], "took 1 units, outside the 2 to 2 asked for"),
        ([2, -1, 0], r"remaining = -1, not a count from 0 to 2\^53 - 1"),
        ([2, 2**53, 0], r"not a count from 0 to 2\^53 - 1"),
        ([2, 0, 2], "replayed = 2, neither 1 nor 0"),
        ([2, 0, True], r"replayed = True \(bool\), not an integer"),
        ([b"2", 0, 0], r"taken = b'2' \(bytes\), not an integer"),
        ([2, 0], r"answered \[2, 0\] \(list\), not \[taken, remaining, replayed\]"),
        (None, r"answered None \(NoneType\)"),
    ]:
        with pytest.raises(ValueError, match=message) as raised:
            quota.take_answer(reply, 2, 2)
        assert not isinstance(raised.value, ConfigError)
    assert quota.count_answer([9]) == 9
    with pytest.raises(ValueError, match=r"not \[remaining\]"):
        quota.count_answer([9, 1])


def test_a_restock_is_spread_evenly_from_its_start() -> None:
    quota = core(buckets=4)
    plan = quota.restock_plan("sku", 10, 2)
    assert plan == [
        (["stanchion:{sku:2}:quota"], ["restock", "3"]),
        (["stanchion:{sku:3}:quota"], ["restock", "3"]),
        (["stanchion:{sku:0}:quota"], ["restock", "2"]),
        (["stanchion:{sku:1}:quota"], ["restock", "2"]),
    ]
    # A bucket that gets nothing is read, so the restock still reports the whole stock.
    assert [call[1] for call in quota.restock_plan("sku", 1, 3)] == [
        ["restock", "1"], ["remaining"], ["remaining"], ["remaining"],
    ]
    assert quota.remaining_plan("sku", 1) == [(["stanchion:{sku:1}:quota"], ["remaining"])]
    assert len(quota.remaining_plan("sku")) == 4
    keys, args = quota.give_back_call("sku", 42)
    assert args == ["restock", "42"] and keys[0] in [quota.redis_key("sku", b) for b in range(4)]


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda q: q.take_plan("sku", 0), "n must be an int from 1 to 9007199254740991 (2^53 - 1), got 0"),
        (lambda q: q.take_plan("sku", 1, ""), "request_id must be a str of 1 to 256 bytes in UTF-8, or None, got ''"),
        (lambda q: q.take_plan("sku", 1, None, 4), "bucket must be an int from 0 to 3 (below the quota's bucket count), got 4"),
        (lambda q: q.take_plan("{", 1, None, 0), "name must be a str of 1 to 1024 bytes in UTF-8, without `{` or `}`, got '{'"),
        (lambda q: q.restock_plan("sku", 2**53), "n must be an int from 1 to 9007199254740991 (2^53 - 1), got 9007199254740992"),
        (lambda q: q.restock_plan("sku", 1, 9), "bucket must be an int from 0 to 3 (below the quota's bucket count), got 9"),
        (lambda q: q.remaining_plan("", 0), "name must be a str of 1 to 1024 bytes in UTF-8, without `{` or `}`, got ''"),
        (lambda q: q.give_back_call("sku", 0), "n must be an int from 1 to 9007199254740991 (2^53 - 1), got 0"),
    ],
)
def test_every_argument_is_checked_before_a_call(call: Any, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        call(core(buckets=4))
    assert str(raised.value) == message


@pytest.mark.parametrize(
    "config, message",
    [
        ({"buckets": 0}, "buckets must be an int from 1 to 1024, got 0"),
        ({"batch": 0}, "batch must be an int from 1 to 9007199254740991 (2^53 - 1), got 0"),
        ({"id_memory": 0.0001}, "id_memory must be a number of seconds from 1 ms to 2^40 ms"),
        ({"prefix": "a}"}, "prefix must be a str of at most 256 bytes"),
        ({"timeout": 3601}, "timeout must be a number of seconds from 1 ns to 1 hour"),
    ],
)
def test_a_config_out_of_range_names_its_parameter(config: Dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        core(**config)
    assert str(raised.value).startswith(message)
    assert raised.value.field == next(iter(config))
