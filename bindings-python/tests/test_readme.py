"""The README's examples run, and pass ``mypy --strict``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_the_readme_has_examples() -> None:
    assert len(BLOCKS) >= 4


@pytest.mark.parametrize("source", BLOCKS, ids=[f"example{i}" for i in range(len(BLOCKS))])
def test_readme_example_runs(source: str) -> None:
    exec(compile(source, str(README), "exec"), {"__name__": "readme_example"})


def test_readme_examples_pass_mypy_strict(tmp_path: Path) -> None:
    api = pytest.importorskip("mypy.api")
    files = []
    for i, source in enumerate(BLOCKS):
        path = tmp_path / f"readme_example_{i}.py"
        path.write_text(source)
        files.append(str(path))
    out, err, status = api.run(["--strict", "--no-incremental", *files])
    assert status == 0, out + err
