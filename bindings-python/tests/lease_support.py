"""What the tests of the fleet's leases (``FleetSemaphore``, ``FleetLock``, ``Redlock``) share
beside ``redis_support``: the replica and the RedLock servers that ``scripts/test-python.sh``
starts, a proxy that can also slow the server down, a record of the script calls a client
sends (with a gate that holds one kind back), worker processes, and waits for an expiry.
"""

from __future__ import annotations

import json
import os
import select
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, List, Optional, Tuple

import pytest
import redis_support

WORKER = Path(__file__).with_name("lease_worker.py")

HOW = (
    "run scripts/test-python.sh, which starts a replica of the standalone server and five "
    "independent servers and names them in STANCHION_REDIS_REPLICA_URL and "
    "STANCHION_REDIS_REDLOCK_URLS"
)


def replica_url() -> str:
    value = os.environ.get("STANCHION_REDIS_REPLICA_URL", "")
    if not value:
        pytest.fail(f"STANCHION_REDIS_REPLICA_URL is not set: {HOW}")
    return value


def redlock_urls() -> List[str]:
    value = os.environ.get("STANCHION_REDIS_REDLOCK_URLS", "")
    if not value:
        pytest.fail(f"STANCHION_REDIS_REDLOCK_URLS is not set: {HOW}")
    urls = value.split(",")
    assert len(urls) == 5, urls
    return urls


class SlowProxy(redis_support.Proxy):
    """``redis_support.Proxy`` that can also hold every chunk it forwards, either way, for
    ``latency`` seconds: a slow network, or a server stalled longer than a lease."""

    def __init__(self, upstream: str) -> None:
        self.latency = 0.0
        super().__init__(upstream)

    def _pipe(self, source: Any, sink: Any) -> None:
        while True:
            try:
                ready, _, _ = select.select([source], [], [], 0.05)
                if self._closed:
                    return
                if not ready:
                    continue
                data = source.recv(65536)
                if not data:
                    sink.shutdown(socket.SHUT_WR)
                    return
                if self._mode == "blackhole":
                    continue
                if self.latency:
                    time.sleep(self.latency)
                sink.sendall(data)
            except (OSError, ValueError):
                return


def script_op(args: Tuple[Any, ...]) -> Optional[str]:
    """The operation of a script call (``EVALSHA sha numkeys keys… op …``): its first
    argument after the keys."""
    if not args or str(args[0]).upper() not in ("EVALSHA", "EVAL"):
        return None
    first = 3 + int(args[2])
    if len(args) <= first:
        return None
    op = args[first]
    return op.decode() if isinstance(op, bytes) else str(op)


class Recorder:
    """Records, in order, each script call a client sends and answers (``("sent", op)``,
    ``("answered", op)``), and can hold calls of one operation at a gate until ``open()``:
    a renewal in flight for as long as a test wants."""

    def __init__(self, client: Any, hold: Optional[str] = None) -> None:
        self.events: List[Tuple[str, Optional[str]]] = []
        self._lock = threading.Lock()
        self._hold = hold
        self.held = threading.Event()
        self._gate = threading.Event()
        original = client.execute_command
        if redis_support._is_coroutine_function(original):

            async def recorded_async(*args: Any, **options: Any) -> Any:
                import asyncio

                op = script_op(args)
                if op is not None and op == self._hold and not self._gate.is_set():
                    self.held.set()
                    while not self._gate.is_set():
                        await asyncio.sleep(0.005)
                self._note("sent", op)
                try:
                    return await original(*args, **options)
                finally:
                    self._note("answered", op)

            client.execute_command = recorded_async
        else:

            def recorded(*args: Any, **options: Any) -> Any:
                op = script_op(args)
                if op is not None and op == self._hold and not self._gate.is_set():
                    self.held.set()
                    self._gate.wait(10)
                self._note("sent", op)
                try:
                    return original(*args, **options)
                finally:
                    self._note("answered", op)

            client.execute_command = recorded

    def _note(self, what: str, op: Optional[str]) -> None:
        with self._lock:
            self.events.append((what, op))

    def open(self) -> None:
        self._gate.set()

    def sent(self, op: str) -> int:
        with self._lock:
            return sum(1 for what, seen in self.events if what == "sent" and seen == op)

    def ops(self) -> List[Tuple[str, Optional[str]]]:
        with self._lock:
            return [(what, op) for what, op in self.events if op is not None]


def wait_for(condition: Callable[[], bool], what: str, within: float = 10.0) -> None:
    """Polls ``condition`` until it holds; fails the test, saying ``what``, if it does not
    within ``within`` seconds (a bound on a broken run, never a measurement)."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"still waiting for {what} after {within} s")
        time.sleep(0.01)


def server_ms(client: Any) -> int:
    return redis_support.server_time_ns(client) // 1_000_000


class Worker:
    """A child process running ``lease_worker.py`` in one of its modes: it answers in JSON
    lines on stdout and reads commands from stdin."""

    def __init__(self, mode: str, **options: Any) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(WORKER), mode, json.dumps(options)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def read(self, within: float = 30.0) -> Any:
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], within)
        if not ready:
            pytest.fail(f"worker {self.pid} said nothing for {within} s")
        line = self.process.stdout.readline()
        if not line:
            pytest.fail(f"worker {self.pid} ended with {self.process.wait()} before answering")
        return json.loads(line)

    def send(self, command: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()

    def finish(self, within: float = 60.0) -> int:
        return self.process.wait(within)

    def kill(self) -> None:
        """Kills the process if it still runs, and closes its pipes."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                pipe.close()
