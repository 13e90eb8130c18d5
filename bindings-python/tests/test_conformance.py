"""Every shared conformance file gives the core's answers through the Python API."""

from __future__ import annotations

import json
from pathlib import Path

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
