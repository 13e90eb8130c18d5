"""Runs the fleet tier's scenarios (``redis/conformance/*/*.json``) through ``stanchion.redis``
(``FleetLimiter``; ``FleetQuota`` through ``fleet_conformance_quota``; ``FleetSemaphore``
through ``fleet_conformance_semaphore``) against a live Redis, as ``redis/tests/conformance.rs``
does for the Rust crate.

The format is the shared one (``conformance/README.md``), read through the strict ``Fields``
of ``conformance_runner``, so a field this runner does not know fails the run;
``redis/conformance/README.md`` lists the limiter's config and ops. Time is injected: a
file's instant 0 is ``ORIGIN`` on the server's clock, passed to the script instead of its
``TIME``. Every ``try_acquire`` and ``peek`` also runs through the core's token bucket
(``stanchion.RateLimiter`` on a fake clock) on the same timeline, and the two must agree in
all five fields, listed in ``expect`` or not.
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, List, Optional, Tuple, Union

import redis_support
from conformance_runner import Fields, FormatError, Mismatch, _check_ints, out, string, u64

import stanchion
from stanchion.redis import FleetDecision, FleetLimiter

ROOT = Path(__file__).resolve().parents[2] / "redis" / "conformance"

#: Where a file's instant 0 sits on the server's clock: 4 × 10^18 ns after the Unix epoch
#: (the year 2096, a whole number of milliseconds), so every key outlives the run.
ORIGIN = 4_000_000_000_000_000_000


#: Folders of primitives this package does not have yet (none now); every other folder is run.
NOT_YET_BOUND: "set[str]" = set()


def files() -> List[Path]:
    found = sorted(p for p in ROOT.glob("*/*.json") if p.parent.name not in NOT_YET_BOUND)
    if not found:
        raise FormatError(f"no scenario files under {ROOT}")
    return found


def bucket_kwargs(config: Any) -> Dict[str, Any]:
    """A limiter config as the Python parameters (``refill_every`` as exact seconds)."""
    f = Fields(config, "`config`")
    kwargs: Dict[str, Any] = {"capacity": f.get("capacity", u64)}
    kwargs["refill_amount"] = f.get("refill_amount", u64, 1)
    kwargs["refill_every"] = Fraction(f.get("refill_every", u64, 1_000_000_000), 10**9)
    f.finish()
    return kwargs


class CoreModel:
    """The core's token bucket answering what the fleet limiter answers: the decision, then
    ``available`` and ``full_at - now`` as ``remaining`` and ``reset_after``."""

    def __init__(self, kwargs: Dict[str, Any]) -> None:
        self.kwargs = kwargs
        self.now = 0
        self.bucket = self._fresh()
        #: Every grant so far: the core has no peek, so a peek replays them on a fresh bucket.
        self.grants: List[Tuple[int, int]] = []

    def _fresh(self) -> stanchion.RateLimiter:
        return stanchion.RateLimiter(**self.kwargs, clock=lambda: self.now)

    def try_acquire(self, n: int, now: int) -> Dict[str, Any]:
        self.now = now
        answer = _taken(self.bucket, n)
        if answer["admitted"] and n > 0:
            self.grants.append((n, now))
        return self._with_state(answer, self.bucket, now)

    def peek(self, n: int, now: int) -> Dict[str, Any]:
        replay = self._fresh()
        for granted, at in self.grants:
            self.now = at
            replay.acquire_nowait(granted)
        self.now = now
        answer = _taken(replay, n)
        return self._with_state(answer, self.bucket, now)

    def _with_state(
        self, answer: Dict[str, Any], bucket: stanchion.RateLimiter, now: int
    ) -> Dict[str, Any]:
        self.now = now
        snapshot = bucket.snapshot()
        answer["remaining"] = snapshot.available
        answer["reset_after"] = max(snapshot.full_at_ns - now, 0)
        return answer


def _taken(bucket: stanchion.RateLimiter, n: int) -> Dict[str, Any]:
    try:
        bucket.acquire_nowait(n)
    except stanchion.RateLimitedError as refused:
        return {"admitted": False, "reason": refused.reason, "retry_after": refused.retry_after_ns}
    return {"admitted": True, "reason": None, "retry_after": None}


def observed(decision: FleetDecision) -> Dict[str, Any]:
    if decision.source != "redis":
        raise Mismatch(f"Redis did not decide: {decision.error!r}")
    return {
        "admitted": decision.allowed,
        "reason": decision.reason,
        "retry_after": decision.retry_after_ns,
        "remaining": decision.remaining,
        "reset_after": decision.reset_after_ns,
    }


#: How a runner reaches Redis: ``decide(limiter, key, n, peek, at_ns)`` and ``command(*args)``,
#: each returning a value or an awaitable of one.
Decide = Callable[[FleetLimiter, str, int, bool, int], Union[FleetDecision, Awaitable[FleetDecision]]]
Command = Callable[..., Any]


class Subject:
    """The fleet limiter of one file, under a prefix of its own, and the core model per key."""

    def __init__(self, client: Any, config: Any) -> None:
        self.client = client
        self.kwargs = bucket_kwargs(config)
        self.limiter = FleetLimiter(
            client, **self.kwargs, prefix=redis_support.unique_prefix("conformance"), timeout=2.0
        )
        self.models: Dict[str, CoreModel] = {}

    async def run(self, op: str, args: Fields, decide: Decide, command: Command) -> Dict[str, Any]:
        if op in ("try_acquire", "peek"):
            key = args.get("key", string, "k")
            n = args.get("n", u64, 1)
            now = args.get("now", u64)
            at = ORIGIN + now
            if at >= 2**64:
                raise FormatError(f"`now` {now} is past 2^64 - 1 - ORIGIN, which cannot be placed")
            model = self.models.setdefault(key, CoreModel(self.kwargs))
            peek = op == "peek"
            fleet = observed(await _value(decide(self.limiter, key, n, peek, at)))
            core = model.peek(n, at) if peek else model.try_acquire(n, at)
            if fleet != core:
                raise Mismatch(f"the script answered {fleet} where the core answers {core}")
            return fleet
        if op == "expires_at":
            key = args.get("key", string, "k")
            millis = int(await _value(command("PEXPIRETIME", self.limiter.redis_key(key))))
            if millis == -2:
                return {"expires_at": None}
            if millis < 0:
                raise Mismatch("the key has no expiry: it would never leave")
            if millis * 1_000_000 < ORIGIN:
                raise Mismatch(f"the key expires at {millis} ms, before the timeline's origin")
            return {"expires_at": millis * 1_000_000 - ORIGIN}
        if op == "validate":
            config = args.take("config")
            try:
                FleetLimiter(self.client, **bucket_kwargs(config), timeout=2.0)
            except stanchion.ConfigError as error:
                return {"error_field": error.field}
            return {"error_field": None}
        raise FormatError(f"unknown op {op!r} for the fleet limiter")


async def _value(result: Any) -> Any:
    if hasattr(result, "__await__"):
        return await result
    return result


def load(path: Path) -> Tuple[Fields, Optional[str]]:
    scenario = json.loads(path.read_text())
    _check_ints(scenario, path.name)
    f = Fields(scenario, path.name)
    if not f.get("description", string).strip():
        raise FormatError(f"{path.name}: `description` is empty")
    covers = f.take("covers")
    if not isinstance(covers, list) or not covers or not all(
        isinstance(c, str) and c.startswith("§") for c in covers
    ):
        raise FormatError(f"{path.name}: `covers` must list the rules, each citing a section (§)")
    primitive = f.get("primitive", string)
    if primitive != path.parent.name or primitive in NOT_YET_BOUND:
        raise FormatError(f"{path.name}: primitive {primitive!r} in folder {path.parent.name!r}")
    deviation = f.nullable("known_deviation", string)
    if "known_deviation" in scenario and not (deviation or "").strip():
        raise FormatError(f"{path.name}: `known_deviation` must be a non-empty string")
    return f, deviation


def make_subject(primitive: str, client: Any, config: Any) -> Any:
    """The subject of a file of ``primitive``'s folder."""
    if primitive == "quota":
        from fleet_conformance_quota import QuotaSubject

        return QuotaSubject(client, config)
    if primitive == "semaphore":
        from fleet_conformance_semaphore import SemaphoreSubject

        return SemaphoreSubject(client, config)
    return Subject(client, config)


async def run(path: Path, client: Any, decide: Decide, command: Command) -> int:
    """Runs one file and returns its step count; raises ``Mismatch`` at the first difference,
    ``FormatError`` on a malformed file."""
    file, _ = load(path)
    name = f"{path.parent.name}/{path.name}"
    try:
        subject = make_subject(path.parent.name, client, file.take("config"))
    except FormatError as e:
        raise FormatError(f"{name}: config: {e}") from None
    steps = file.take("steps")
    file.finish()
    if not isinstance(steps, list) or not steps:
        raise FormatError(f"{name}: `steps` must be a non-empty array")
    for index, raw in enumerate(steps):
        where = f"{name}: step {index}"
        step = Fields(raw, where)
        op = step.get("op", string)
        expect = step.take("expect", {})
        if not isinstance(expect, dict):
            raise FormatError(f"{where}: `expect` must be an object")
        repeat = step.get("repeat", u64, 1)
        if repeat < 1:
            raise FormatError(f"{where}: `repeat` must be at least 1")
        step.get("note", string, None)
        for _ in range(repeat):
            args = step.copy()
            try:
                seen = out(await subject.run(op, args, decide, command))
                args.finish()
            except FormatError as e:
                raise FormatError(f"{where}: {op}: {e}") from None
            except Mismatch as e:
                raise Mismatch(f"{where}: {op}: {e}") from None
            for field, expected in expect.items():
                if field not in seen:
                    raise FormatError(
                        f"{where}: {op}: `expect` lists `{field}`, which this op does not "
                        f"report ({sorted(seen)})"
                    )
                if seen[field] != expected:
                    raise Mismatch(
                        f"{where}: {op}: `{field}`: expected {expected!r}, got {seen[field]!r}"
                    )
    return len(steps)


def sync_decide(limiter: FleetLimiter, key: str, n: int, peek: bool, at: int) -> FleetDecision:
    return limiter._decide(key, n, peek, at)


def async_decide(
    limiter: FleetLimiter, key: str, n: int, peek: bool, at: int
) -> Awaitable[FleetDecision]:
    return limiter._adecide(key, n, peek, at)
