"""What the tests of ``stanchion.redis`` share: where the servers are, fresh key prefixes,
clients that count their calls, and a TCP proxy that can take a server away.

The servers are started by ``scripts/test-python.sh`` (through ``scripts/redis-servers.sh``)
on free loopback ports, and named in ``STANCHION_REDIS_URL`` and
``STANCHION_REDIS_CLUSTER_URLS``. A test that needs them fails without them rather than skip,
so a green run always means they ran.
"""

from __future__ import annotations

import itertools
import os
import select
import socket
import struct
import threading
import time
from typing import Any, List, Optional, Tuple

import pytest

HOW = (
    "run scripts/test-python.sh, which starts Redis servers on free loopback ports and "
    "names them in STANCHION_REDIS_URL and STANCHION_REDIS_CLUSTER_URLS"
)

_serial = itertools.count()


def url() -> str:
    value = os.environ.get("STANCHION_REDIS_URL", "")
    if not value:
        pytest.fail(f"STANCHION_REDIS_URL is not set: {HOW}")
    return value


def cluster_urls() -> List[str]:
    value = os.environ.get("STANCHION_REDIS_CLUSTER_URLS", "")
    if not value:
        pytest.fail(f"STANCHION_REDIS_CLUSTER_URLS is not set: {HOW}")
    return value.split(",")


def host_port(address: str) -> Tuple[str, int]:
    host, _, port = address.removeprefix("redis://").rstrip("/").rpartition(":")
    return host, int(port)


def unique_prefix(tag: str) -> str:
    """A key prefix no other test and no earlier run has used."""
    return f"test:{tag}:{os.getpid()}:{time.time_ns()}:{next(_serial)}:"


def no_retry() -> Any:
    """A redis-py retry policy that does not retry, so a fault costs one attempt."""
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return Retry(NoBackoff(), 0)


def sync_client(address: Optional[str] = None, timeout: float = 0.25, **options: Any) -> Any:
    import redis

    return redis.Redis.from_url(
        address or url(), socket_timeout=timeout, socket_connect_timeout=timeout, **options
    )


def async_client(address: Optional[str] = None, **options: Any) -> Any:
    import redis.asyncio

    return redis.asyncio.Redis.from_url(address or url(), **options)


def sync_cluster(timeout: float = 1.0, **options: Any) -> Any:
    from redis.cluster import ClusterNode, RedisCluster

    nodes = [ClusterNode(*host_port(a)) for a in cluster_urls()]
    return RedisCluster(
        startup_nodes=nodes, socket_timeout=timeout, socket_connect_timeout=timeout, **options
    )


def async_cluster(**options: Any) -> Any:
    from redis.asyncio.cluster import ClusterNode, RedisCluster

    nodes = [ClusterNode(*host_port(a)) for a in cluster_urls()]
    return RedisCluster(startup_nodes=nodes, **options)


class Counted:
    """Counts the commands a client sends, by wrapping its ``execute_command``: the limiter's
    script calls and their ``SCRIPT LOAD``s all go through it."""

    def __init__(self, client: Any) -> None:
        self.commands: List[str] = []
        original = client.execute_command
        commands = self.commands

        if _is_coroutine_function(original):

            async def counted_async(*args: Any, **options: Any) -> Any:
                commands.append(str(args[0]))
                return await original(*args, **options)

            client.execute_command = counted_async
        else:

            def counted(*args: Any, **options: Any) -> Any:
                commands.append(str(args[0]))
                return original(*args, **options)

            client.execute_command = counted

    def __len__(self) -> int:
        return len(self.commands)


def _is_coroutine_function(func: Any) -> bool:
    import inspect

    return inspect.iscoroutinefunction(func)


class Proxy:
    """A TCP proxy in front of a Redis server, on a loopback port of its own, that can take
    the server away in two ways: ``down()`` resets every connection and refuses new ones (as
    a killed server does), ``blackhole()`` keeps accepting and reading but never answers (as
    a server behind a dead network does). ``up()`` restores it, on the same port."""

    def __init__(self, upstream: str) -> None:
        self._upstream = host_port(upstream)
        self._lock = threading.Lock()
        self._sockets: List[socket.socket] = []
        self._threads: List[threading.Thread] = []
        self._mode = "pass"
        self._closed = False
        self._listener: Optional[socket.socket] = None
        self.port = 0
        self._listen()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/"

    def _listen(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._spawn(self._accept, listener)

    def _spawn(self, target: Any, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        thread.start()
        with self._lock:
            self._threads.append(thread)

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # the listener was closed
            with self._lock:
                mode = self._mode
                self._sockets.append(client)
            if mode == "down":
                _reset(client)
                return
            if mode == "blackhole":
                self._spawn(self._swallow, client)
                continue
            try:
                server = socket.create_connection(self._upstream, timeout=5)
            except OSError:
                _reset(client)
                continue
            with self._lock:
                self._sockets.append(server)
            self._spawn(self._pipe, client, server)
            self._spawn(self._pipe, server, client)

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
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
                    continue  # swallowed, in both directions
                sink.sendall(data)
            except (OSError, ValueError):
                return

    def _swallow(self, client: socket.socket) -> None:
        while not self._closed:
            try:
                ready, _, _ = select.select([client], [], [], 0.05)
                if ready and not client.recv(65536):
                    return
            except (OSError, ValueError):
                return

    def blackhole(self) -> None:
        with self._lock:
            self._mode = "blackhole"

    def down(self) -> None:
        with self._lock:
            self._mode = "down"
            listener, self._listener = self._listener, None
            sockets, self._sockets = self._sockets, []
        if listener is not None:
            # Closing alone leaves a thread blocked in accept() listening; shutting down the
            # listener wakes it and stops the listening at once.
            try:
                listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            listener.close()
        for sock in sockets:
            _reset(sock)

    def up(self) -> None:
        with self._lock:
            was_down = self._mode == "down"
            self._mode = "pass"
        if was_down:
            self._listen()

    def close(self) -> None:
        self.down()
        self._closed = True
        for thread in list(self._threads):
            thread.join(timeout=5)


def _reset(sock: socket.socket) -> None:
    """Closes with a reset, as the peer of a killed process sees it."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


def server_time_ns(client: Any) -> int:
    seconds, micros = client.time()
    return int(seconds) * 1_000_000_000 + int(micros) * 1_000
