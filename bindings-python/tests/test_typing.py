"""What type checkers see: mypy --strict on small programs that use the package."""

from __future__ import annotations

from pathlib import Path

import pytest

SYNC_AND_ASYNC = """
from typing import NoReturn

from typing_extensions import assert_type

from stanchion import Policy

policy = Policy()


def sync() -> int:
    return 1


async def fetch() -> int:
    return 1


def sync_call() -> None:
    assert_type(policy.call(sync), int)
    assert_type(policy.call(lambda: "x"), str)


def async_call() -> None:
    assert_type(policy.call(fetch), NoReturn)  # it raises TypeError: use acall


async def acall() -> None:
    assert_type(await policy.acall(fetch), int)
"""

ASYNC_TO_CALL = """
from stanchion import Policy


async def fetch() -> int:
    return 1


Policy().call(fetch)
"""


def mypy(tmp_path: Path, source: str, *flags: str) -> tuple[int, str]:
    api = pytest.importorskip("mypy.api")
    path = tmp_path / "program.py"
    path.write_text(source)
    out, err, status = api.run(["--strict", "--no-incremental", *flags, str(path)])
    return status, out + err


def test_call_is_typed_for_sync_functions_and_never_returns_for_coroutines(tmp_path: Path) -> None:
    status, out = mypy(tmp_path, SYNC_AND_ASYNC)
    assert status == 0, out


def test_mypy_reports_a_coroutine_function_passed_to_call(tmp_path: Path) -> None:
    # Python's types cannot exclude awaitables from a callable's return, so the overload that
    # matches them is deprecated: mypy reports it as an error under its `deprecated` code
    # (pyright under reportDeprecated), pointing at acall.
    status, out = mypy(tmp_path, ASYNC_TO_CALL, "--enable-error-code", "deprecated")
    assert status == 1, out
    line = ASYNC_TO_CALL.splitlines().index("Policy().call(fetch)") + 1
    assert f"program.py:{line}: error:" in out and "acall" in out and "[deprecated]" in out, out
