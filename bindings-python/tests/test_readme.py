"""The README's examples run, and pass ``mypy --strict``; the first one calls a real HTTP
server, started here on 127.0.0.1, up and then down, and prints what the README shows."""

from __future__ import annotations

import contextlib
import http.server
import io
import re
import threading
from pathlib import Path
from typing import Iterator

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
TEXT = README.read_text()
BLOCKS = re.findall(r"```python\n(.*?)```", TEXT, flags=re.S)

#: Where the HTTP example calls (`python3 -m http.server 8000`); the test's server replaces it.
URL = "http://127.0.0.1:8000/"
HTTP_BLOCKS = [b for b in BLOCKS if URL in b]
#: Where the fleet examples find Redis (its default port); tests/test_fleet_package.py runs
#: them against the test server.
REDIS = "port=6379"
OTHER_BLOCKS = [b for b in BLOCKS if URL not in b and REDIS not in b]
FIRST_TEN_MINUTES = TEXT.split("\n## First ten minutes\n", 1)[1].split("\n## ", 1)[0]


def test_the_readme_has_examples() -> None:
    assert len(OTHER_BLOCKS) >= 4
    assert len(HTTP_BLOCKS) == 1 and HTTP_BLOCKS[0] in FIRST_TEN_MINUTES


@pytest.mark.parametrize("source", OTHER_BLOCKS, ids=[f"example{i}" for i in range(len(OTHER_BLOCKS))])
def test_readme_example_runs(source: str) -> None:
    exec(compile(source, str(README), "exec"), {"__name__": "readme_example"})


class _Ok(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"ok\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # no request lines on the test's stderr


@contextlib.contextmanager
def local_server() -> Iterator[http.server.ThreadingHTTPServer]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def run_printing(source: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(source, str(README), "exec"), {"__name__": "readme_example"})
    return out.getvalue()


def shown_outputs() -> list[str]:
    return re.findall(r"```text\n(.*?)```", FIRST_TEN_MINUTES, flags=re.S)


def test_the_first_ten_minutes_example_up_and_down() -> None:
    up_shown, down_shown = shown_outputs()
    with local_server() as server:
        source = HTTP_BLOCKS[0].replace(URL, f"http://127.0.0.1:{server.server_port}/")
        assert run_printing(source) == up_shown
    # The same port, now closed: every connection is refused at once.
    down = run_printing(source)
    errno = re.compile(r"\[Errno \d+\]")  # the number differs between systems
    assert errno.sub("[Errno N]", down) == errno.sub("[Errno N]", down_shown)


def test_readme_examples_pass_mypy_strict(tmp_path: Path) -> None:
    api = pytest.importorskip("mypy.api")
    files = []
    for i, source in enumerate(BLOCKS):
        path = tmp_path / f"readme_example_{i}.py"
        path.write_text(source)
        files.append(str(path))
    out, err, status = api.run(["--strict", "--no-incremental", *files])
    assert status == 0, out + err
