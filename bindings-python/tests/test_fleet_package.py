"""The fleet tier as users get it: the installed package ships every script of
``redis/scripts`` unchanged (no Lua text lives in Python), the module's docstring examples and
the README's fleet examples run against the test server, and the README's table states the
real signature."""

from __future__ import annotations

import doctest
import importlib.metadata
import inspect
import re
from pathlib import Path
from typing import Any, Iterator, List, Tuple

import pytest
import redis_support
import test_readme
import test_readme_api

import stanchion
import stanchion.redis

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "redis" / "scripts"


def test_the_installed_package_ships_every_script_unchanged() -> None:
    installed = Path(stanchion.__file__).resolve().parent / "_scripts"
    # The package under test is the one pip installed, not the source tree.
    assert REPO / "bindings-python" / "python" not in installed.parents
    assert "site-packages" in installed.parts
    names = sorted(p.name for p in SCRIPTS.glob("*.lua"))
    assert "gcra.lua" in names
    assert sorted(p.name for p in installed.glob("*.lua")) == names
    for name in names:
        shipped = installed / name
        assert not shipped.is_symlink()
        assert shipped.read_bytes() == (SCRIPTS / name).read_bytes(), name
        assert stanchion.redis.script_source(name[: -len(".lua")]) == (SCRIPTS / name).read_text()
    recorded = {str(f) for f in importlib.metadata.distribution("stanchion").files or []}
    assert {f"stanchion/_scripts/{name}" for name in names} <= recorded


def test_no_lua_is_copied_into_python_source() -> None:
    code = [
        line.strip()
        for line in (SCRIPTS / "gcra.lua").read_text().split("]]", 1)[1].splitlines()
        if len(line.strip()) >= 24 and not line.strip().startswith("--")
    ]
    assert len(code) > 50
    package = Path(stanchion.__file__).resolve().parent
    for source in package.glob("*.py"):
        text = source.read_text()
        assert not [line for line in code if line in text], source.name


def test_script_source_takes_script_names_only() -> None:
    with pytest.raises(ValueError, match="a script's file name without .lua"):
        stanchion.redis.script_source("../gcra")
    with pytest.raises(FileNotFoundError):
        stanchion.redis.script_source("nothing")


def _forget(client: Any, pattern: str) -> None:
    for key in client.scan_iter(pattern):
        client.delete(key)


@pytest.fixture
def client() -> Iterator[Any]:
    client = redis_support.sync_client()
    yield client
    client.close()


def test_the_docstring_examples_run(client: Any) -> None:
    _forget(client, "doc:*")
    _forget(client, "stanchion:{user:42}:*")
    failures, tried = doctest.testmod(
        stanchion.redis, extraglobs={"client": client}, optionflags=doctest.ELLIPSIS
    )
    assert tried > 10 and failures == 0


def test_every_public_item_has_an_example() -> None:
    documented = [
        stanchion.redis.FleetLimiter,
        stanchion.redis.FleetDecision,
        stanchion.redis.script_source,
        stanchion.redis.FleetLimiter.try_acquire,
        stanchion.redis.FleetLimiter.acquire_nowait,
        stanchion.redis.FleetLimiter.peek,
        stanchion.redis.FleetLimiter.limit,
        stanchion.redis.FleetLimiter.for_key,
        stanchion.redis.FleetLimiter.redis_key,
    ]
    for item in documented:
        assert ">>>" in (item.__doc__ or ""), item


FLEET = test_readme.TEXT.split("\n## Fleet limits on Redis\n", 1)[1].split("\n## ", 1)[0]
FLEET_BLOCKS: List[str] = re.findall(r"```python\n(.*?)```", FLEET, flags=re.S)


def test_the_fleet_examples_are_only_run_here() -> None:
    assert len(FLEET_BLOCKS) == 2
    assert all(test_readme.REDIS in block for block in FLEET_BLOCKS)
    assert not set(FLEET_BLOCKS) & set(test_readme.OTHER_BLOCKS)


@pytest.mark.parametrize("source", FLEET_BLOCKS, ids=["blocking", "asyncio"])
def test_the_fleet_examples_run(client: Any, source: str) -> None:
    _forget(client, "myapp:*")
    port = redis_support.host_port(redis_support.url())[1]
    source = source.replace(test_readme.REDIS, f"port={port}")
    exec(compile(source, str(test_readme.README), "exec"), {"__name__": "readme_example"})


def _table_signatures() -> List[Tuple[str, str]]:
    rows = [line for line in FLEET.splitlines() if line.startswith("| `")]
    found: List[Tuple[str, str]] = []
    for row in rows:
        found.extend(test_readme_api.SIGNATURE.findall(row.split(" | ")[0]))
    return found


def test_the_fleet_table_states_the_real_signature() -> None:
    documented = dict(_table_signatures())
    assert set(documented) == {"FleetLimiter"}
    options = [
        (p.name, (p.default is not p.empty, None if p.default is p.empty else p.default), p.kind is p.KEYWORD_ONLY)
        for p in inspect.signature(stanchion.redis.FleetLimiter.__init__).parameters.values()
        if p.name != "self"
    ]
    assert test_readme_api.parse(documented["FleetLimiter"]) == options
