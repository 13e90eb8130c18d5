"""The quota's scenario runner (``fleet_conformance_quota``) is as strict as the limiter's: it
runs every file of ``redis/conformance/quota``, refuses a field it does not know (in a step or
in a config), a take given both an id and a start, an ``expect`` naming a field no op
reports, and fails a step whose answer differs in any field ``expect`` lists."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any, Dict

import fleet_conformance as runner
import pytest
import redis_support
from conformance_runner import FormatError, Mismatch


def test_every_quota_file_is_run() -> None:
    quota = sorted(p.name for p in runner.files() if p.parent.name == "quota")
    assert quota == sorted(p.name for p in (runner.ROOT / "quota").glob("*.json"))
    assert len(quota) >= 7


def _mutated(tmp_path: Path, change: Dict[str, Any], config: Any = None) -> Path:
    scenario = json.loads((runner.ROOT / "quota" / "never_below_zero.json").read_text())
    scenario["steps"][3].update(change)  # {"op": "take", "n": 2, ...}
    if config is not None:
        scenario["config"] = config
    folder = tmp_path / "quota"
    folder.mkdir()
    path = folder / "mutated.json"
    path.write_text(json.dumps(scenario))
    return path


def _run(path: Path) -> None:
    client = redis_support.sync_client(timeout=2.0)
    try:
        asyncio.run(runner.run(path, client, runner.sync_decide, client.execute_command))
    finally:
        client.close()


def test_the_runner_refuses_a_field_it_does_not_know(tmp_path: Path) -> None:
    with pytest.raises(FormatError, match=r"step 3: take: .*unknown field.*'speed'"):
        _run(_mutated(tmp_path, {"speed": 3}))


def test_the_runner_refuses_a_config_field_it_does_not_know(tmp_path: Path) -> None:
    with pytest.raises(FormatError, match=r"config: .*unknown field.*'batch'"):
        _run(_mutated(tmp_path, {}, config={"batch": 5}))


def test_the_runner_refuses_an_id_with_a_start(tmp_path: Path) -> None:
    with pytest.raises(FormatError, match="a take with an `id` starts where the id says"):
        _run(_mutated(tmp_path, {"id": "order-1", "start": 0}))


def test_the_runner_refuses_an_expectation_of_a_field_no_op_reports(tmp_path: Path) -> None:
    with pytest.raises(FormatError, match="`expect` lists `taken`, which this op does not report"):
        _run(_mutated(tmp_path, {"expect": {"taken": 2}}))


@pytest.mark.parametrize(
    "expect, message",
    [
        ({"remaining": 2}, "`remaining`: expected 2, got 3"),
        ({"bucket": 1}, "`bucket`: expected 1, got 0"),
        ({"replayed": True}, "`replayed`: expected True, got False"),
        ({"error_field": "n"}, "`error_field`: expected 'n', got None"),
        ({"granted": False}, "`granted`: expected False, got True"),
    ],
)
def test_the_runner_fails_a_wrong_expectation(tmp_path: Path, expect: Dict[str, Any], message: str) -> None:
    with pytest.raises(Mismatch, match=f"step 3: take: {message}"):
        _run(_mutated(tmp_path, {"expect": expect}))
