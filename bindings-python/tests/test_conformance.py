"""Every shared conformance file gives the core's answers through the Python API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Dict, cast

import pytest

import conformance_runner as runner


def _param(path: Path) -> "pytest.ParameterSet":
    deviation = json.loads(path.read_text()).get("known_deviation")
    marks = [pytest.mark.xfail(raises=runner.Mismatch, strict=True, reason=deviation)] if deviation else []
    return pytest.param(path, id=f"{path.parent.name}/{path.stem}", marks=marks)


@pytest.mark.parametrize("path", [_param(p) for p in runner.files()])
def test_conformance_file(path: Path) -> None:
    runner.run(path)


def test_every_primitive_has_files() -> None:
    assert {p.parent.name for p in runner.files()} == set(runner.SUBJECTS)


def _mutated(tmp_path: Path, source: str, change: Callable[[Dict[str, Any]], None]) -> Path:
    """A copy of a conformance file, changed, in a folder named after its primitive."""
    scenario = json.loads((runner.ROOT / source).read_text())
    change(scenario)
    folder = tmp_path / source.split("/")[0]
    folder.mkdir(exist_ok=True)
    path = folder / source.split("/")[1]
    path.write_text(json.dumps(scenario))
    return path


def _time_window(scenario: Dict[str, Any]) -> Dict[str, Any]:
    """The first time window a step's config gives."""
    for step in scenario["steps"]:
        if "time" in step.get("config", {}).get("window", {}):
            return cast(Dict[str, Any], step["config"]["window"]["time"])
    raise AssertionError("no time window")


@pytest.mark.parametrize(
    "source, change",
    [
        ("retry/attempts.json", lambda s: s["steps"][1].update(hint_ns=5)),  # a typo'd argument
        ("retry/attempts.json", lambda s: s["steps"][0].update(nw=0)),
        ("retry/attempts.json", lambda s: s["config"].update(retry_refusal=True)),
        ("retry/attempts.json", lambda s: s["config"]["backoff"].update(jiter="full")),
        ("retry/budget.json", lambda s: s["config"]["budget"].update(floor=1)),
        ("retry/refusals.json", lambda s: s["steps"][1].update(retry_afer=1)),
        ("breaker/counters.json", lambda s: s["steps"][0].update(outcome2="failure")),
        ("breaker/config_errors.json", lambda s: _time_window(s).update(step=1)),
        ("bulkhead/cap.json", lambda s: s["steps"][0].update(lane2=0)),
        ("keyed_limiter/keys_isolated.json", lambda s: s["config"].update(max_keys=4)),
        ("token_bucket/snapshot.json", lambda s: s["steps"][0].update(n=1)),
        ("deadline/basics.json", lambda s: s["steps"][0].update(at=1)),
        ("backoff/constant.json", lambda s: s.update(extra=True)),
        ("backoff/constant.json", lambda s: s["steps"][0].update(note=3)),
        ("backoff/constant.json", lambda s: s["steps"][0].update(expect={"delai": 1})),
        ("retry_budget/deposits.json", lambda s: s["steps"][2].update(now=0)),  # deposit takes no `now`
        ("adaptive/aimd.json", lambda s: s["steps"][1].update(latncy=1)),
        ("adaptive/aimd.json", lambda s: s["config"].update(max_waiting=1)),  # not a file field
        ("adaptive/aimd_backoff_ratio.json", lambda s: s["config"]["algorithm"]["aimd"].update(alpha=1)),
        ("adaptive/vegas.json", lambda s: s["config"].update(algorithm="cubic")),
        ("adaptive/limit_lowered.json", lambda s: s["steps"][8].update(now=0)),  # release takes no `now`
        ("adaptive/windows.json", lambda s: s["steps"][6].update(outcome="timeout")),
    ],
)
def test_the_runner_refuses_what_it_does_not_know(
    tmp_path: Path, source: str, change: Callable[[Dict[str, Any]], None]
) -> None:
    path = _mutated(tmp_path, source, change)
    with pytest.raises(runner.FormatError):
        runner.run(path)


def test_the_mutated_files_run_clean_unchanged(tmp_path: Path) -> None:
    for source in (
        "retry/attempts.json",
        "breaker/config_errors.json",
        "retry_budget/deposits.json",
        "adaptive/aimd.json",
        "adaptive/aimd_backoff_ratio.json",
        "adaptive/vegas.json",
        "adaptive/limit_lowered.json",
        "adaptive/windows.json",
    ):
        assert runner.run(_mutated(tmp_path, source, lambda s: None)) > 0


def test_the_runner_uses_public_api_only() -> None:
    source = Path(runner.__file__).read_text()
    for private in ("_slots", "._core", "_stanchion", "._clock", "._judge"):
        assert private not in source, private
