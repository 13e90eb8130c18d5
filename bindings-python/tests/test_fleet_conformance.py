"""Every fleet scenario (``redis/conformance/limiter``, ``quota`` and ``semaphore``) gives the
expected answers through ``stanchion.redis`` on a live Redis, the limiter's also the core token
bucket's: with a blocking client, an asyncio client and a blocking cluster client."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any, Dict, Set

import fleet_conformance as runner
import pytest
import redis_support
from conformance_runner import FormatError, Mismatch


def _param(path: Path) -> "pytest.ParameterSet":
    deviation = json.loads(path.read_text()).get("known_deviation")
    marks = [pytest.mark.xfail(raises=Mismatch, strict=True, reason=deviation)] if deviation else []
    return pytest.param(path, id=f"{path.parent.name}/{path.stem}", marks=marks)


FILES = [_param(p) for p in runner.files()]


@pytest.mark.parametrize("path", FILES)
def test_scenario_with_a_blocking_client(path: Path) -> None:
    client = redis_support.sync_client(timeout=2.0)
    try:
        asyncio.run(runner.run(path, client, runner.sync_decide, client.execute_command))
    finally:
        client.close()


@pytest.mark.parametrize("path", FILES)
def test_scenario_with_an_asyncio_client(path: Path) -> None:
    async def main() -> None:
        client = redis_support.async_client()
        try:
            await runner.run(path, client, runner.async_decide, client.execute_command)
        finally:
            await client.aclose()

    asyncio.run(main())


@pytest.mark.parametrize("path", FILES)
def test_scenario_on_a_cluster(path: Path) -> None:
    client = redis_support.sync_cluster(timeout=2.0)
    try:
        # PEXPIRETIME goes to the node that holds the key, found from the key's slot.
        def command(*args: Any) -> Any:
            return client.execute_command(*args, target_nodes=client.get_node_from_key(args[1]))

        asyncio.run(runner.run(path, client, runner.sync_decide, command))
    finally:
        client.close()


def test_the_scenarios_cover_every_op() -> None:
    ops: Dict[str, Set[str]] = {}
    for path in runner.files():
        for step in json.loads(path.read_text())["steps"]:
            ops.setdefault(path.parent.name, set()).add(step["op"])
    assert ops == {
        "limiter": {"try_acquire", "peek", "expires_at", "validate"},
        "quota": {"restock", "take", "remaining", "id_expires_at", "validate"},
        "semaphore": {"acquire", "renew", "release", "holders", "expires_at", "validate"},
    }


def _mutated(tmp_path: Path, change: Dict[str, Any]) -> Path:
    scenario = json.loads((runner.ROOT / "limiter" / "burst_then_refusals.json").read_text())
    scenario["steps"][0].update(change)
    folder = tmp_path / "limiter"
    folder.mkdir()
    path = folder / "mutated.json"
    path.write_text(json.dumps(scenario))
    return path


def test_the_runner_refuses_a_field_it_does_not_know(tmp_path: Path) -> None:
    path = _mutated(tmp_path, {"speed": 3})
    client = redis_support.sync_client()
    try:
        with pytest.raises(FormatError, match="unknown field.*speed"):
            asyncio.run(runner.run(path, client, runner.sync_decide, client.execute_command))
    finally:
        client.close()


def test_the_runner_fails_a_wrong_expectation(tmp_path: Path) -> None:
    path = _mutated(tmp_path, {"expect": {"admitted": True, "remaining": 1}})
    client = redis_support.sync_client()
    try:
        with pytest.raises(Mismatch, match="`remaining`: expected 1, got 2"):
            asyncio.run(runner.run(path, client, runner.sync_decide, client.execute_command))
    finally:
        client.close()


def _mutated_semaphore(tmp_path: Path, change: Dict[str, Any]) -> Path:
    scenario = json.loads((runner.ROOT / "semaphore" / "limit_and_release.json").read_text())
    scenario["steps"][1].update(change)
    folder = tmp_path / "semaphore"
    folder.mkdir()
    path = folder / "mutated.json"
    path.write_text(json.dumps(scenario))
    return path


@pytest.mark.parametrize(
    "change, error, message",
    [
        ({"lease": "b"}, FormatError, "unknown field.*lease"),
        ({"expect": {"acquired": True, "holders": 1, "next_expiry_in": 9999999999}}, Mismatch,
         "`next_expiry_in`: expected 9999999999, got 10000000000"),
        ({"expect": {"acquired": True, "taken": 1}}, FormatError, "lists `taken`, which this op does not report"),
    ],
    ids=["unknown field", "wrong value", "unknown expectation"],
)
def test_the_semaphore_runner_refuses_what_it_does_not_know_and_fails_a_wrong_value(
    tmp_path: Path, change: Dict[str, Any], error: type, message: str
) -> None:
    path = _mutated_semaphore(tmp_path, change)
    client = redis_support.sync_client()
    try:
        with pytest.raises(error, match=message):
            asyncio.run(runner.run(path, client, runner.sync_decide, client.execute_command))
    finally:
        client.close()
