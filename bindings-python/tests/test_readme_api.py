"""The README's API table states every option of every class it lists, in order, with its
default, and marks where keyword-only options begin: a missing, extra, misnamed or moved
option, or a default that changed, fails here."""

from __future__ import annotations

import builtins
import inspect
import re
from pathlib import Path
from typing import Any, List, Tuple

import pytest

import stanchion

README = Path(__file__).resolve().parents[1] / "README.md"

#: A signature as the README writes it: ``Name(a, b=1, *, c=None)``.
SIGNATURE = re.compile(r"`([A-Z]\w*(?:\.\w+)?)\(([^`]*)\)`")

#: One option: its name, its default's source (``None`` when required) and whether it is
#: keyword-only; ``"*"`` rows are not options.
Option = Tuple[str, Any, bool]


def api_rows() -> List[str]:
    text = README.read_text()
    section = text.split("\n## API\n", 1)[1].split("\n## ", 1)[0]
    return [line for line in section.splitlines() if line.startswith("| `")]


def documented() -> List[Tuple[str, str]]:
    """Every ``Name(options)`` in the first cell of each row of the API table."""
    found = []
    for row in api_rows():
        first_cell = row.split(" | ")[0]
        found.extend(SIGNATURE.findall(first_cell))
    return found


def parse(options: str) -> List[Option]:
    parsed: List[Option] = []
    keyword_only = False
    for part in (p.strip() for p in options.split(",")):
        if not part:
            continue
        if part == "*":
            keyword_only = True
            continue
        name, _, default = part.partition("=")
        value = None if not default else eval(default, {**vars(builtins), **vars(stanchion)})
        parsed.append((name, (default != "", value), keyword_only))
    return parsed


def actual(name: str) -> List[Option]:
    owner, _, method = name.partition(".")
    target = getattr(stanchion, owner)
    target = getattr(target, method) if method else target.__init__
    options: List[Option] = []
    for p in inspect.signature(target).parameters.values():
        if p.name in ("self", "cls") or p.name.startswith("_"):
            continue
        assert p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY), f"{name}: {p}"
        has_default = p.default is not p.empty
        options.append(
            (p.name, (has_default, p.default if has_default else None), p.kind is p.KEYWORD_ONLY)
        )
    return options


def test_the_api_table_lists_every_class() -> None:
    names = {name for name, _ in documented()}
    assert names == {
        "CircuitBreaker",
        "RateLimiter",
        "KeyedRateLimiter",
        "Bulkhead",
        "AdaptiveLimiter",
        "Backoff.constant",
        "Backoff.linear",
        "Backoff.exponential",
        "Backoff.decorrelated",
        "RetryBudget",
        "Retry",
        "Policy",
    }


@pytest.mark.parametrize("name, options", documented(), ids=[n for n, _ in documented()])
def test_each_signature_in_the_api_table_is_the_real_one(name: str, options: str) -> None:
    assert parse(options) == actual(name)
