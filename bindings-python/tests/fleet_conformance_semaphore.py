"""The fleet bulkhead's scenarios (``redis/conformance/semaphore/*.json``) through
``stanchion.redis.FleetSemaphore``, for ``fleet_conformance.run``: one semaphore per file under
a prefix of its own, its holders named in the steps, each holding one lease (a fresh random
token) on one name for the whole file, as ``redis/tests/conformance/semaphore.rs`` does.

The ops and what they report are in ``redis/conformance/README.md``. Each step goes through
the calls ``try_acquire``, ``renew``, ``release`` and ``holders`` make (blocking or asyncio,
as the client is), with ``now`` injected in place of the server's ``TIME``.
"""

from __future__ import annotations

import threading
from fractions import Fraction
from typing import Any, Dict, Optional, Tuple

import redis_support
from conformance_runner import Fields, FormatError, Mismatch, string, u64
from fleet_conformance import ORIGIN, Command, Decide, _value

import stanchion
from stanchion.redis import FleetSemaphore, Lease, SemaphoreState
from stanchion._fleet_lease import new_token


def semaphore_kwargs(config: Any) -> Dict[str, Any]:
    """A semaphore config as the Python parameters (``ttl`` as exact seconds)."""
    f = Fields(config, "`config`")
    kwargs: Dict[str, Any] = {"limit": f.get("limit", u64)}
    kwargs["ttl"] = Fraction(f.get("ttl", u64, 30_000_000_000), 10**9)
    f.finish()
    return kwargs


class SemaphoreSubject:
    """The fleet semaphore of one file and the lease of each holder named so far."""

    def __init__(self, client: Any, config: Any) -> None:
        self.client = client
        self.semaphore = FleetSemaphore(
            client,
            **semaphore_kwargs(config),
            prefix=redis_support.unique_prefix("conformance"),
            timeout=2.0,
        )
        self.leases: Dict[str, Lease] = {}

    def lease(self, holder: str, name: str) -> Lease:
        lease = self.leases.get(holder)
        if lease is None:
            self.semaphore.redis_key(name)  # a name the library refuses is the file's mistake
            lease = Lease(name, new_token(), round(self.semaphore.ttl * 1e9), threading.Event())
            self.leases[holder] = lease
        elif lease.name != name:
            raise FormatError(f"holder `{holder}` holds a lease on `{lease.name}`, not `{name}`")
        return lease

    async def call(self, op: str, name: str, token: str, at: int) -> Tuple[bool, SemaphoreState]:
        sem = self.semaphore
        try:
            if sem.is_async:
                return await sem._acall(op, name, token, at)
            return sem._call(op, name, token, at)
        except stanchion.StanchionError as error:
            raise Mismatch(f"{op} failed: {error!r}") from error

    async def run(self, op: str, args: Fields, decide: Decide, command: Command) -> Dict[str, Any]:
        seen: Dict[str, Any] = {}
        if op in ("acquire", "renew", "release"):
            lease = self.lease(args.get("holder", string, "a"), args.get("name", string, "s"))
            ok, state = await self.call(op, lease.name, lease.token, _at(args))
            seen[{"acquire": "acquired", "renew": "renewed", "release": "released"}[op]] = ok
        elif op == "holders":
            _, state = await self.call(op, args.get("name", string, "s"), "", _at(args))
        elif op == "expires_at":
            key = self.semaphore.redis_key(args.get("name", string, "s"))
            millis = int(await _value(command("PEXPIRETIME", key)))
            if millis == -2:
                return {"expires_at": None}
            if millis < 0:
                raise Mismatch("the key has no expiry: it would never leave")
            if millis * 1_000_000 < ORIGIN:
                raise Mismatch(f"the key expires at {millis} ms, before the timeline's origin")
            return {"expires_at": millis * 1_000_000 - ORIGIN}
        elif op == "validate":
            error_field: Optional[str] = None
            try:
                FleetSemaphore(self.client, **semaphore_kwargs(args.take("config")), timeout=2.0)
            except stanchion.ConfigError as error:
                error_field = error.field
            return {"error_field": error_field}
        else:
            raise FormatError(f"unknown op {op!r} for the fleet semaphore")
        seen["holders"] = state.holders
        seen["next_expiry_in"] = state.next_expiry_in_ns
        return seen


def _at(args: Fields) -> int:
    now = args.get("now", u64)
    at = ORIGIN + now
    if at >= 2**64:
        raise FormatError(f"`now` {now} is past 2^64 - 1 - ORIGIN, which cannot be placed")
    return at
