"""The quota's scenarios (``redis/conformance/quota/*.json``) through
``stanchion.redis.FleetQuota``, as ``redis/tests/conformance/quota.rs`` runs them for the Rust
crate: one quota per file under a prefix of its own, driven through the public API and the
test-only entry points for injected time and starting buckets (``_take``, ``_restock`` and
their asyncio forms).

``redis/conformance/README.md`` lists the config and ops. Every op reports all of its fields,
so each step is checked on every field ``expect`` lists, and a step or config holding a field
this runner does not know fails the run (``Fields.finish``).
"""

from __future__ import annotations

from typing import Any, Dict, Optional

import redis_support
from conformance_runner import Fields, FormatError, Mismatch, string, u64

import stanchion
from stanchion.redis import FleetQuota, Taken

#: Where a file's instant 0 sits on the server's clock (see ``fleet_conformance.ORIGIN``).
ORIGIN = 4_000_000_000_000_000_000


def quota_kwargs(config: Any) -> Dict[str, Any]:
    """A quota config as the Python parameters (``id_memory`` as exact seconds)."""
    from fractions import Fraction

    f = Fields(config, "`config`")
    kwargs: Dict[str, Any] = {"buckets": f.get("buckets", u64, 1)}
    kwargs["id_memory"] = Fraction(f.get("id_memory", u64, 600_000_000_000), 10**9)
    f.finish()
    return kwargs


def bucket_index(value: Any) -> int:
    """A bucket index as the files write it: a non-negative integer (range checked by the
    quota, which names `bucket` when it is out of range)."""
    return u64(value)


class QuotaSubject:
    """The fleet quota of one file."""

    def __init__(self, client: Any, config: Any) -> None:
        self.client = client
        self.quota = FleetQuota(
            client,
            **quota_kwargs(config),
            prefix=redis_support.unique_prefix("conformance"),
            timeout=2.0,
        )

    async def _call(self, sync: Any, asynchronous: Any, *args: Any) -> Any:
        if self.quota.is_async:
            return await asynchronous(*args)
        return sync(*args)

    async def run(self, op: str, args: Fields, decide: Any, command: Any) -> Dict[str, Any]:
        """One step; ``decide`` is the limiter's and unused here: a quota's calls are made
        through its own methods, blocking or asyncio as its client is."""
        quota = self.quota
        several = quota.buckets > 1
        if op == "take":
            name = args.get("name", string, "q")
            n = args.get("n", u64)
            request_id: Optional[str] = args.get("id", string, None)
            start: Optional[int] = args.get("start", bucket_index, None)
            now = args.get("now", u64, 0)
            if request_id is not None and start is not None:
                raise FormatError("`start`: a take with an `id` starts where the id says")
            if request_id is None and start is None and several:
                raise FormatError(
                    "a take without an `id` on a quota of several buckets starts at a random "
                    "one: give `start`"
                )
            at = ORIGIN + now
            if at >= 2**64:
                raise FormatError(f"`now` {now} is past 2^64 - 1 - ORIGIN, which cannot be placed")
            try:
                taken: Taken = await self._call(
                    quota._take, quota._atake, name, n, request_id, start, at
                )
            except stanchion.SoldOutError as sold_out:
                if sold_out.requested != n:
                    raise Mismatch(f"SoldOutError.requested is {sold_out.requested}, not {n}")
                return answer(False, None, sold_out.remaining, False, None)
            except stanchion.ConfigError as error:
                return answer(False, None, None, False, error.field)
            return answer(True, taken.bucket, taken.remaining, taken.replayed, None)
        if op == "restock":
            name = args.get("name", string, "q")
            n = args.get("n", u64)
            start = args.get("start", bucket_index, None)
            if start is None and several:
                raise FormatError(
                    "a restock of a quota of several buckets starts at a random one: give `start`"
                )
            try:
                total = await self._call(quota._restock, quota._arestock, name, n, start)
            except stanchion.ConfigError as error:
                return {"remaining": None, "error_field": error.field}
            return {"remaining": total, "error_field": None}
        if op == "remaining":
            name = args.get("name", string, "q")
            bucket = args.get("bucket", bucket_index, None)
            count = await self._call(quota.remaining, quota.remaining_async, name, bucket)
            return {"remaining": count}
        if op == "id_expires_at":
            name = args.get("name", string, "q")
            request_id = args.get("id", string)
            bucket = args.get("bucket", bucket_index, 0)
            key = f"{quota.redis_key(name, bucket)}:id:{request_id}"
            result = command("PEXPIRETIME", key)
            millis = int(await result if hasattr(result, "__await__") else result)
            if millis == -2:
                return {"expires_at": None}
            if millis < 0:
                raise Mismatch("the id's record has no expiry: it would never leave")
            if millis * 1_000_000 < ORIGIN:
                raise Mismatch(f"the record expires at {millis} ms, before the timeline's origin")
            return {"expires_at": millis * 1_000_000 - ORIGIN}
        if op == "validate":
            config = args.take("config")
            try:
                FleetQuota(self.client, **quota_kwargs(config), timeout=2.0)
            except stanchion.ConfigError as error:
                return {"error_field": error.field}
            return {"error_field": None}
        raise FormatError(f"unknown op {op!r} for the fleet quota")


def answer(
    granted: bool,
    bucket: Optional[int],
    remaining: Optional[int],
    replayed: bool,
    error_field: Optional[str],
) -> Dict[str, Any]:
    """A take's fields, all of them, as the README lists them."""
    return {
        "granted": granted,
        "bucket": bucket,
        "remaining": remaining,
        "replayed": replayed,
        "error_field": error_field,
    }
