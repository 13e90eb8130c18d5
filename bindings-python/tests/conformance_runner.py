"""Runs the shared conformance files (``conformance/*/*.json``) through the Python API.

Each file builds one primitive with the package's public classes, drives it with a fake clock
set to each step's ``now``, and compares the fields the step pins with what the API reports.
Times go in as ``Fraction`` seconds so that every nanosecond is exact.

The runner is as strict as the spec (``conformance/README.md``, "How a runner behaves") and its
model, ``core/tests/conformance.rs``: every object of a file (the file itself, each config,
each step and each nested value) is read through ``Fields``, which hands out its fields one by
one and refuses whatever is left, so a field this runner does not know fails the run instead
of being silently ignored.
"""

from __future__ import annotations

import inspect
import json
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import stanchion
from stanchion import RefusedError

ROOT = Path(__file__).resolve().parents[2] / "conformance"
MAX_SAFE = 2**53 - 1


class FormatError(Exception):
    """The file is malformed: fails the run even for a known deviation."""


class Mismatch(AssertionError):
    """The binding answered otherwise than the file expects."""


def files() -> List[Path]:
    found = sorted(ROOT.glob("*/*.json"))
    if not found:
        raise FormatError(f"no conformance files under {ROOT}")
    return found


def _check_ints(value: Any, where: str) -> None:
    if isinstance(value, bool):
        return
    if isinstance(value, int) and value > MAX_SAFE:
        raise FormatError(f"{where}: integer {value} above 2^53 - 1 must be a string")
    if isinstance(value, dict):
        for v in value.values():
            _check_ints(v, where)
    if isinstance(value, list):
        for v in value:
            _check_ints(v, where)


# Values --------------------------------------------------------------------------------------

_ABSENT = object()


def u64(value: Any) -> int:
    """An integer, written as a number or (above 2^53 - 1) a decimal string."""
    if isinstance(value, str):
        if not value.isdigit() or int(value) <= MAX_SAFE or int(value) >= 2**64:
            raise FormatError(f"bad integer string {value!r}")
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise FormatError(f"expected a non-negative integer, got {value!r}")
    return value


def ns(value: Any) -> Fraction:
    """A duration in nanoseconds as exact seconds."""
    return Fraction(u64(value), 1_000_000_000)


def real(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise FormatError(f"expected a number, got {value!r}")
    return float(value)


def string(value: Any) -> str:
    if not isinstance(value, str):
        raise FormatError(f"expected a string, got {value!r}")
    return value


def boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise FormatError(f"expected true or false, got {value!r}")
    return value


def variant(value: Any) -> Tuple[str, Any]:
    """An enum value: a name (``"full"``), or a one-field object (``{"count": 20}``)."""
    if isinstance(value, str):
        return value, _ABSENT
    if isinstance(value, dict) and len(value) == 1:
        ((name, data),) = value.items()
        return name, data
    raise FormatError(f"{value!r} is not a variant name or a one-field object")


class Fields:
    """The fields of a JSON object, taken one by one; ``finish`` refuses any left over."""

    def __init__(self, value: Any, what: str) -> None:
        if not isinstance(value, dict):
            raise FormatError(f"{what} must be an object, got {value!r}")
        self._left: Dict[str, Any] = dict(value)
        self._what = what

    def copy(self) -> Fields:
        return Fields(self._left, self._what)

    def take(self, key: str, default: Any = _ABSENT) -> Any:
        """The raw value of ``key``, or ``default`` when absent (absent without a default:
        a format error)."""
        if key in self._left:
            return self._left.pop(key)
        if default is _ABSENT:
            raise FormatError(f"{self._what}: missing field `{key}`")
        return default

    def get(self, key: str, parse: Callable[[Any], Any], default: Any = _ABSENT) -> Any:
        """``key`` parsed; ``default`` (unparsed) when absent."""
        if key not in self._left and default is not _ABSENT:
            return default
        value = self.take(key)
        try:
            return parse(value)
        except FormatError as e:
            raise FormatError(f"{self._what}: `{key}`: {e}") from None

    def nullable(self, key: str, parse: Callable[[Any], Any], default: Any = None) -> Any:
        """``key`` parsed, ``None`` when ``null``, ``default`` when absent."""
        if key not in self._left:
            return default
        value = self.take(key)
        return None if value is None else self.get_value(key, value, parse)

    def get_value(self, key: str, value: Any, parse: Callable[[Any], Any]) -> Any:
        try:
            return parse(value)
        except FormatError as e:
            raise FormatError(f"{self._what}: `{key}`: {e}") from None

    def finish(self) -> None:
        if self._left:
            raise FormatError(f"{self._what}: unknown field(s) {sorted(self._left)}")


def out(value: Any) -> Any:
    """An observed value in the files' form: u64 above 2^53 - 1 as a string."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int) and value > MAX_SAFE:
        return str(value)
    if isinstance(value, list):
        return [out(v) for v in value]
    if isinstance(value, dict):
        return {k: out(v) for k, v in value.items()}
    return value


class Clock:
    def __init__(self) -> None:
        self.now = 0

    def __call__(self) -> int:
        return self.now

    def at(self, args: Fields) -> int:
        """Sets the clock to the step's ``now``."""
        self.now = args.get("now", u64)
        return self.now


def refusal(call: Callable[[], Any]) -> Dict[str, Any]:
    try:
        call()
    except RefusedError as e:
        return {"admitted": False, "reason": e.reason, "retry_after": e.retry_after_ns}
    return {"admitted": True, "reason": None, "retry_after": None}


def error_field(build: Callable[[], Any]) -> Dict[str, Any]:
    try:
        build()
    except stanchion.ConfigError as e:
        return {"error_field": e.field}
    return {"error_field": None}


def bind(names: Dict[str, Any], name: str, value: Any) -> None:
    if name in names:
        raise FormatError(f"name {name!r} is already bound")
    names[name] = value


def take(names: Dict[str, Any], name: str) -> Any:
    if name not in names:
        raise FormatError(f"name {name!r} is not bound")
    return names.pop(name)


# Circuit breaker ---------------------------------------------------------------------------

OUTCOMES = {"success": stanchion.SUCCESS, "failure": stanchion.FAILURE, "ignored": stanchion.IGNORED}


def outcome(value: Any) -> int:
    if value not in OUTCOMES:
        raise FormatError(f"{value!r} is not \"success\", \"failure\" or \"ignored\"")
    return OUTCOMES[value]


def slow_call(value: Any) -> Tuple[Fraction, float]:
    f = Fields(value, "`slow_call`")
    slow = (f.get("duration", ns), f.get("rate", real))
    f.finish()
    return slow


def window(value: Any) -> Dict[str, Any]:
    name, data = variant(value)
    if name == "count" and data is not _ABSENT:
        return {"window_calls": u64(data)}
    if name == "time" and data is not _ABSENT:
        f = Fields(data, "`time`")
        kw = {"window_seconds": f.get("span", ns), "window_buckets": f.get("buckets", u64)}
        f.finish()
        return kw
    raise FormatError(f"{value!r} is not {{\"count\": n}} or {{\"time\": {{...}}}}")


def breaker_kwargs(config: Any) -> Dict[str, Any]:
    """The keyword arguments of ``CircuitBreaker`` for a file's breaker config."""
    f = Fields(config, "a breaker config")
    kw: Dict[str, Any] = {}
    for key in ("failure_count", "consecutive_failures", "half_open_successes"):
        if key in config:
            kw[key] = f.nullable(key, u64)
    for key in ("minimum_calls", "half_open_probes", "seed"):
        if key in config:
            kw[key] = f.get(key, u64)
    if "failure_rate" in config:
        kw["failure_rate"] = f.nullable("failure_rate", real)
    for key in ("open_for_factor", "open_for_jitter"):
        if key in config:
            kw[key] = f.get(key, real)
    for key in ("open_for", "open_for_max"):
        if key in config:
            kw[key] = f.get(key, ns)
    if "probe_timeout" in config:
        kw["probe_timeout"] = f.nullable("probe_timeout", ns)
    slow = f.nullable("slow_call", slow_call)
    if slow is not None:
        kw["slow_call_duration"], kw["slow_call_rate"] = slow
    if "window" in config:
        kw.update(f.get("window", window))
    f.finish()
    return kw


def default_breaker_kwargs() -> Dict[str, Any]:
    """Every config option of ``CircuitBreaker`` at its default (its signature's)."""
    params = inspect.signature(stanchion.CircuitBreaker).parameters
    skip = {"failure_on", "ignore_on", "failure_result", "on_state_change", "clock", "name"}
    return {n: p.default for n, p in params.items() if n not in skip}


class BreakerSubject:
    def __init__(self, config: Any, clock: Clock) -> None:
        self.clock = clock
        self.events: List[Dict[str, str]] = []
        self.breaker = stanchion.CircuitBreaker(
            **breaker_kwargs(config),
            clock=clock,
            on_state_change=lambda old, new: self.events.append({"from": old, "to": new}),
        )
        self.permits: Dict[str, stanchion.BreakerPermit] = {}

    def _one(self) -> Optional[Dict[str, str]]:
        events, self.events = self.events, []
        if len(events) > 1:
            raise Mismatch(f"one operation reported {len(events)} transitions")
        return events[0] if events else None

    def _acquire(self) -> Tuple[Dict[str, Any], Optional[stanchion.BreakerPermit]]:
        try:
            permit = self.breaker.acquire()
        except RefusedError as e:
            return {"admitted": False, "reason": e.reason, "retry_after": e.retry_after_ns}, None
        return {"admitted": True, "reason": None, "retry_after": None}, permit

    def run(self, op: str, args: Fields) -> Dict[str, Any]:
        b = self.breaker
        if op == "acquire":
            self.clock.at(args)
            name = args.nullable("as", string)
            seen, permit = self._acquire()
            seen["transition"] = self._one()
            if permit is not None and name is not None:
                bind(self.permits, name, permit)
            return seen
        if op == "call":
            self.clock.at(args)
            result = args.get("outcome", outcome)
            duration = args.get("duration", u64, 0)
            seen, permit = self._acquire()
            transitions = list(self.events)
            self.events = []
            if permit is not None:
                self.clock.now += duration
                b.record(permit, result)
                transitions += self.events
                self.events = []
            seen["transitions"] = transitions
            return seen
        if op in ("record", "release"):
            permit = take(self.permits, args.get("permit", string))
            result = args.get("outcome", outcome) if op == "record" else None
            self.clock.at(args)
            if result is not None:
                b.record(permit, result)
            else:
                b.release(permit)
            return {"transition": self._one()}
        if op in ("force_open", "disable", "reset"):
            self.clock.at(args)
            getattr(b, op)()
            return {"transition": self._one()}
        if op == "state":
            return {"state": b.state}
        if op == "snapshot":
            self.clock.at(args)
            s = b.snapshot()
            fields = [
                "state", "generation", "probes_in_flight", "half_open_successes", "window_calls",
                "window_failures", "window_slow_calls", "consecutive_failures",
                "consecutive_trips", "calls", "successes", "failures", "slow_calls",
                "rejected_open", "rejected_half_open_full", "rejected_forced_open", "rejected",
                "transitions",
            ]
            seen = {f: getattr(s, f) for f in fields}
            seen["open_until"] = s.open_until_ns
            return seen
        if op == "reconfigure":
            full = {**default_breaker_kwargs(), **breaker_kwargs(args.take("config"))}
            self.clock.at(args)
            return error_field(lambda: b.reconfigure(**full))
        if op == "validate":
            kw = breaker_kwargs(args.take("config"))
            return error_field(lambda: stanchion.CircuitBreaker(**kw))
        raise FormatError(f"unknown op {op!r} for a breaker")


# Backoff -------------------------------------------------------------------------------------


def schedule(value: Any) -> Dict[str, Any]:
    name, data = variant(value)
    f = Fields({} if data is _ABSENT else data, f"`{name}`")
    params = {
        "constant": ["delay"],
        "linear": ["initial", "step"],
        "exponential": ["initial", "factor"],
        "decorrelated": ["base"],
    }
    if name not in params:
        raise FormatError(f"unknown schedule {name!r}")
    kw: Dict[str, Any] = {"schedule": name}
    for key in params[name]:
        kw[key] = f.get(key, real if key == "factor" else ns)
    f.finish()
    return kw


def jitter(value: Any) -> Any:
    name, data = variant(value)
    if name in ("none", "full", "equal") and data is _ABSENT:
        return name
    if name == "proportional" and data is not _ABSENT:
        return real(data)
    raise FormatError(f"{value!r} is not \"none\", \"full\", \"equal\" or {{\"proportional\": p}}")


def backoff_of(config: Any) -> stanchion.Backoff:
    f = Fields(config, "a backoff config")
    kw = f.get("schedule", schedule)
    kw["jitter"] = f.get("jitter", jitter, "none")
    for key in ("max_delay", "max_elapsed"):
        kw[key] = f.nullable(key, ns)
    if "max_attempts" in config:
        kw["max_attempts"] = f.nullable("max_attempts", u64)
    f.finish()
    return stanchion.Backoff(**kw)


class BackoffSubject:
    def __init__(self, config: Any, clock: Clock) -> None:
        self.backoff = backoff_of(config)
        self.retrying: Optional[stanchion.Retrying] = None

    def run(self, op: str, args: Fields) -> Dict[str, Any]:
        if op == "delay":
            attempt, seed = args.get("attempt", u64), args.get("seed", u64)
            return {"delay": self.backoff.delay_ns(attempt, seed)}
        if op == "delays":
            seed, limit = args.get("seed", u64), args.get("limit", u64)
            return {"delays": self.backoff.delays_ns(seed, limit)}
        if op == "start":
            self.retrying = self.backoff.start(args.get("seed", u64), args.get("now", u64))
            return {}
        if op == "next_delay":
            now, hint = args.get("now", u64), args.nullable("hint", u64)
            if self.retrying is None:
                raise FormatError("next_delay before start")
            wait = self.retrying.next_delay(now, hint)
            return {"delay": wait, "exhausted": self.retrying.exhausted, "retries": self.retrying.retries}
        if op == "validate":
            config = args.take("config")
            return error_field(lambda: backoff_of(config))
        raise FormatError(f"unknown op {op!r} for a backoff")


# Retry budget --------------------------------------------------------------------------------


def budget_of(config: Any, clock: Optional[Clock] = None) -> stanchion.RetryBudget:
    f = Fields(config, "a retry budget config")
    ratio = f.get("ratio", real)
    kw = {k: f.get(k, u64) for k in ("min_retries_per_sec", "max_balance") if k in config}
    f.finish()
    return stanchion.RetryBudget(ratio, clock=clock, **kw)


class BudgetSubject:
    def __init__(self, config: Any, clock: Clock) -> None:
        self.clock = clock
        self.budget = budget_of(config, clock)

    def run(self, op: str, args: Fields) -> Dict[str, Any]:
        if op == "deposit":
            self.budget.deposit()
            return {}
        if op == "try_retry":
            self.clock.at(args)
            return refusal(self.budget.check_retry)
        if op == "snapshot":
            self.clock.at(args)
            s = self.budget.snapshot()
            return {
                "balance": s.balance, "floor_tokens": s.floor_tokens,
                "retries_available": s.retries_available,
                "retries_allowed": s.retries_allowed, "retries_refused": s.retries_refused,
            }
        if op == "validate":
            config = args.take("config")
            return error_field(lambda: budget_of(config))
        raise FormatError(f"unknown op {op!r} for a retry budget")


# Retry loop ----------------------------------------------------------------------------------


class RetrySubject:
    """The retry loop's decisions, step by step, through ``Retry.start()``: the core's
    ``RetryLoop`` with the ``Retry``'s backoff, budget, seed and ``retry_refusals``. (A
    ``Retry``'s own loops hide the stop reason and the single steps, which the files pin.)"""

    def __init__(self, config: Any, clock: Clock) -> None:
        f = Fields(config, "a retry config")
        backoff = backoff_of(f.take("backoff"))
        budget = f.nullable("budget", budget_of)
        deadline = f.nullable("deadline", u64)
        self.retry = stanchion.Retry(
            backoff,
            budget=budget,
            retry_refusals=f.get("retry_refusals", boolean, False),
            seed=f.get("seed", u64, 0),
            clock=clock,
        )
        f.finish()
        self.deadline = None if deadline is None else stanchion.Deadline.at(deadline)
        self.call: Optional[stanchion.RetryLoop] = None

    def _call(self, op: str) -> stanchion.RetryLoop:
        if self.call is None:
            raise FormatError(f"no `start` (that proceeded) before `{op}`")
        return self.call

    def run(self, op: str, args: Fields) -> Dict[str, Any]:
        now = args.get("now", u64)
        if op == "start":
            call = self.retry.start(now, deadline=self.deadline)
            self.call = call if call.stop is None else None
            proceed = call.stop is None
            return {"proceed": proceed, "attempt": call.attempts if proceed else None, "stop": call.stop}
        if op == "fail":
            error = args.get("error", string)
            if error == "retryable":
                failure: Tuple[str, Optional[int], Optional[str]] = (error, args.nullable("hint", u64), None)
            elif error == "final":
                failure = (error, None, None)
            elif error == "refused":
                failure = (error, args.nullable("retry_after", u64), args.get("reason", string))
            else:
                raise FormatError(f"unknown error {error!r}")
            call = self._call(op)
            wait = call.after_failure(now, *failure)
            return {
                "next": "stop" if wait is None else "retry",
                "wait": wait,
                "stop": call.stop,
                "attempts": call.attempts,
            }
        if op == "resume":
            call = self._call(op)
            attempt = call.resume(now)
            return {"proceed": attempt is not None, "attempt": attempt, "stop": call.stop if attempt is None else None}
        raise FormatError(f"unknown op {op!r} for a retry loop")


# Deadline ------------------------------------------------------------------------------------


class DeadlineSubject:
    def __init__(self, config: Any, clock: Clock) -> None:
        f = Fields(config, "a deadline config")
        at = f.nullable("at", u64)
        if at is not None:
            self.deadline = stanchion.Deadline.at(at)
        else:
            self.deadline = stanchion.Deadline.after(f.get("now", u64), f.get("timeout", ns))
        f.finish()

    def run(self, op: str, args: Fields) -> Dict[str, Any]:
        d = self.deadline
        if op == "check":
            now = args.get("now", u64)
            return {"expires_at": d.expires_at_ns, "remaining": d.remaining_ns(now), "expired": d.is_expired(now)}
        if op == "min":
            self.deadline = d.min(stanchion.Deadline.at(args.get("at", u64)))
            return {"expires_at": self.deadline.expires_at_ns}
        raise FormatError(f"unknown op {op!r} for a deadline")


# Token bucket and keyed limiter --------------------------------------------------------------


def bucket_kwargs(f: Fields, config: Dict[str, Any]) -> Dict[str, Any]:
    kw: Dict[str, Any] = {"capacity": f.get("capacity", u64)}
    if "refill_amount" in config:
        kw["refill_amount"] = f.get("refill_amount", u64)
    if "refill_every" in config:
        kw["refill_every"] = f.get("refill_every", ns)
    return kw


def bucket_of(config: Any, clock: Optional[Clock] = None) -> stanchion.RateLimiter:
    f = Fields(config, "a token bucket config")
    kw = bucket_kwargs(f, config)
    f.finish()
    return stanchion.RateLimiter(**kw, clock=clock)


def snapshot_fields(s: stanchion.LimiterSnapshot) -> Dict[str, Any]:
    return {"available": s.available, "capacity": s.capacity, "next_token_at": s.next_token_at_ns, "full_at": s.full_at_ns}


def reserved(now: int, reserve: Callable[[], int]) -> Dict[str, Any]:
    try:
        wait = reserve()
    except RefusedError as e:
        return {"admitted": False, "reason": e.reason, "retry_after": e.retry_after_ns, "ready_at": None}
    return {"admitted": True, "reason": None, "retry_after": None, "ready_at": min(now + wait, 2**64 - 1)}


class BucketSubject:
    def __init__(self, config: Any, clock: Clock) -> None:
        self.clock = clock
        self.limiter = bucket_of(config, clock)

    def run(self, op: str, args: Fields) -> Dict[str, Any]:
        lim = self.limiter
        if op == "try_acquire":
            n = args.get("n", u64, 1)
            self.clock.at(args)
            return refusal(lambda: lim.acquire_nowait(n))
        if op == "reserve":
            n = args.get("n", u64, 1)
            now = self.clock.at(args)
            max_wait = args.get("max_wait", ns)
            return reserved(now, lambda: lim.reserve_ns(n, max_wait=max_wait))
        if op == "available":
            self.clock.at(args)
            return {"available": lim.available()}
        if op == "snapshot":
            self.clock.at(args)
            return snapshot_fields(lim.snapshot())
        if op == "validate":
            config = args.take("config")
            return error_field(lambda: bucket_of(config))
        raise FormatError(f"unknown op {op!r} for a token bucket")


def keyed_of(config: Any, clock: Optional[Clock] = None) -> stanchion.KeyedRateLimiter:
    """A keyed limiter of exactly the file's ``slots`` (public ``max_keys``, which takes every
    size up to the core's probe window exactly)."""
    f = Fields(config, "a keyed limiter config")
    kw = bucket_kwargs(f, config)
    slots = f.get("slots", u64, 4)
    if not 1 <= slots <= 8:
        raise FormatError(f"`slots`: {slots} is not in 1..=8")
    policy = f.get("policy", string, "reject")
    if policy not in ("reject", "admit"):
        raise FormatError(f"`policy`: {policy!r} is not \"reject\" or \"admit\"")
    f.finish()
    return stanchion.KeyedRateLimiter(**kw, max_keys=slots, on_full=policy, clock=clock)


class KeyedSubject:
    def __init__(self, config: Any, clock: Clock) -> None:
        self.clock = clock
        self.limiter = keyed_of(config, clock)

    def run(self, op: str, args: Fields) -> Dict[str, Any]:
        lim = self.limiter
        if op == "try_acquire":
            key, n = args.get("key", u64), args.get("n", u64, 1)
            self.clock.at(args)
            return refusal(lambda: lim.acquire_nowait(key, n))
        if op == "reserve":
            key, n = args.get("key", u64), args.get("n", u64, 1)
            now = self.clock.at(args)
            max_wait = args.get("max_wait", ns)
            return reserved(now, lambda: lim.reserve_ns(key, n, max_wait=max_wait))
        if op == "available":
            key = args.get("key", u64)
            self.clock.at(args)
            return {"available": lim.available(key)}
        if op == "snapshot":
            key = args.get("key", u64)
            self.clock.at(args)
            return snapshot_fields(lim.snapshot(key))
        if op == "active_keys":
            self.clock.at(args)
            return {"active_keys": lim.active_keys()}
        if op == "validate":
            config = args.take("config")
            return error_field(lambda: keyed_of(config))
        raise FormatError(f"unknown op {op!r} for a keyed limiter")


# Bulkhead ------------------------------------------------------------------------------------


def bulkhead_of(config: Any) -> stanchion.Bulkhead:
    f = Fields(config, "a bulkhead config")
    kw: Dict[str, Any] = {"max_concurrent": f.get("max_concurrent", u64)}
    if "lanes" in config:
        lanes = f.take("lanes")
        if not isinstance(lanes, list):
            raise FormatError(f"`lanes`: {lanes!r} is not an array of ceilings")
        kw["lanes"] = [u64(c) for c in lanes]
    if "max_waiting" in config:
        kw["max_waiting"] = f.get("max_waiting", u64)
    f.finish()
    return stanchion.Bulkhead(**kw)


class BulkheadSubject:
    def __init__(self, config: Any, clock: Clock) -> None:
        self.bulkhead = bulkhead_of(config)
        self.names: Dict[str, Any] = {}
        self.order: Dict[str, int] = {}
        self.woken: List[str] = []
        # Permits taken without a name are held for good (as in the Rust runner): kept here,
        # since a permit that is dropped gives its slot back.
        self.unnamed: List[stanchion.BulkheadPermit] = []

    def _bind(self, name: str, value: Any) -> None:
        bind(self.names, name, value)
        self.order[name] = len(self.order)

    def _woken(self) -> List[str]:
        woken, self.woken = self.woken, []
        return sorted(set(woken), key=lambda n: self.order[n])

    def _waiter(self, args: Fields) -> Tuple[str, stanchion.BulkheadWaiter]:
        name = args.get("waiter", string)
        waiter = self.names.get(name)
        if not isinstance(waiter, stanchion.BulkheadWaiter):
            raise FormatError(f"{name!r} is not a waiting future")
        return name, waiter

    def run(self, op: str, args: Fields) -> Dict[str, Any]:
        if op == "try_acquire":
            lane = args.get("lane", u64, 0)
            name = args.nullable("as", string)
            try:
                permit = self.bulkhead.try_acquire(lane)
            except RefusedError as e:
                return {"admitted": False, "reason": e.reason, "retry_after": e.retry_after_ns, "lane": None}
            if name is not None:
                self._bind(name, permit)
            else:
                self.unnamed.append(permit)
            return {"admitted": True, "reason": None, "retry_after": None, "lane": permit.lane}
        if op == "acquire_async":
            lane = args.get("lane", u64, 0)
            name = args.get("as", string)
            if name in self.names:
                raise FormatError(f"name {name!r} is already bound")
            waiter = self.bulkhead.enqueue(lane, lambda: self.woken.append(name))
            try:
                permit = waiter.poll()
            except RefusedError as e:
                return {"admitted": False, "pending": False, "reason": e.reason, "retry_after": e.retry_after_ns, "lane": None, "woken": self._woken()}
            if permit is None:
                self._bind(name, waiter)
                return {"admitted": False, "pending": True, "reason": None, "retry_after": None, "lane": None, "woken": self._woken()}
            self._bind(name, permit)
            return {"admitted": True, "pending": False, "reason": None, "retry_after": None, "lane": permit.lane, "woken": self._woken()}
        if op == "poll":
            name, waiter = self._waiter(args)
            try:
                permit = waiter.poll()
            except RefusedError as e:
                raise FormatError(f"a queued future resolved to {e.reason}") from None
            if permit is None:
                return {"admitted": False, "pending": True, "lane": None}
            self.names[name] = permit
            return {"admitted": True, "pending": False, "lane": permit.lane}
        if op == "cancel":
            name, waiter = self._waiter(args)
            del self.names[name]
            waiter.cancel()
            return {"woken": self._woken()}
        if op == "release":
            name = args.get("permit", string)
            permit = self.names.get(name)
            if not isinstance(permit, stanchion.BulkheadPermit):
                raise FormatError(f"{name!r} is not a permit")
            released = permit.release()
            return {"released": released, "woken": self._woken()}
        if op == "snapshot":
            s = self.bulkhead.snapshot()
            return {"in_flight": s.in_flight, "peak": s.peak, "waiting": s.waiting, "rejected": s.rejected, "max_concurrent": s.max_concurrent}
        if op == "validate":
            config = args.take("config")
            return error_field(lambda: bulkhead_of(config))
        raise FormatError(f"unknown op {op!r} for a bulkhead")


# Adaptive concurrency limit ------------------------------------------------------------------

#: Each algorithm's parameters in the files, with how to read them and the keyword argument of
#: ``AdaptiveLimiter`` they become (AIMD's ``timeout`` is ``aimd_timeout``: ``timeout`` is how
#: long a call waits in the queue, as for a bulkhead).
ALGORITHM_PARAMETERS: Dict[str, Dict[str, Tuple[Callable[[Any], Any], str]]] = {
    "aimd": {"backoff_ratio": (real, "backoff_ratio"), "timeout": (ns, "aimd_timeout")},
    "vegas": {
        "alpha": (u64, "alpha"),
        "beta": (u64, "beta"),
        "probe_multiplier": (u64, "probe_multiplier"),
        "smoothing": (real, "smoothing"),
    },
    "gradient2": {
        "smoothing": (real, "smoothing"),
        "queue_size": (u64, "queue_size"),
        "long_window": (u64, "long_window"),
        "rtt_tolerance": (real, "rtt_tolerance"),
        "creep_guard": (boolean, "creep_guard"),
    },
}


def algorithm(value: Any) -> Dict[str, Any]:
    """``"aimd"`` or ``{"aimd": {...}}`` (and the others) as keyword arguments."""
    name, data = variant(value)
    if name not in ALGORITHM_PARAMETERS:
        raise FormatError(f"unknown algorithm {name!r}")
    given = {} if data is _ABSENT else data
    f = Fields(given, f"`{name}`")
    kw: Dict[str, Any] = {"algorithm": name}
    for key, (parse, keyword) in ALGORITHM_PARAMETERS[name].items():
        if key in given:
            kw[keyword] = f.get(key, parse)
    f.finish()
    return kw


def adaptive_kwargs(config: Any) -> Dict[str, Any]:
    """The keyword arguments of ``AdaptiveLimiter`` for a file's config; fields left out keep
    the class's defaults, which are the core's (``tests/test_defaults.py``)."""
    f = Fields(config, "an adaptive limiter config")
    kw: Dict[str, Any] = {}
    if "algorithm" in config:
        kw.update(f.get("algorithm", algorithm))
    for key in ("initial_limit", "min_limit", "max_limit", "min_samples", "seed"):
        if key in config:
            kw[key] = f.get(key, u64)
    if "window" in config:
        kw["window"] = f.get("window", ns)
    f.finish()
    return kw


ADAPTIVE_OUTCOMES = ("success", "failure", "ignored", "dropped")


def adaptive_outcome(value: Any) -> Any:
    if value not in ADAPTIVE_OUTCOMES:
        raise FormatError(f"{value!r} is not \"success\", \"failure\", \"ignored\" or \"dropped\"")
    return value


class AdaptiveSubject:
    def __init__(self, config: Any, clock: Clock) -> None:
        self.clock = clock
        self.changes: List[Dict[str, int]] = []
        self.limiter = stanchion.AdaptiveLimiter(
            **adaptive_kwargs(config),
            clock=clock,
            on_limit_change=lambda old, new: self.changes.append({"from": old, "to": new}),
        )
        self.permits: Dict[str, stanchion.AdaptivePermit] = {}
        # Permits taken without a name are held for good (as in the Rust runner): kept here,
        # since a permit that is dropped gives its slot back.
        self.unnamed: List[stanchion.AdaptivePermit] = []

    def _admit(self) -> Tuple[Dict[str, Any], Optional[stanchion.AdaptivePermit]]:
        try:
            permit = self.limiter.try_acquire()
        except RefusedError as e:
            seen = {"admitted": False, "reason": e.reason, "retry_after": e.retry_after_ns}
            return {**seen, "in_flight": None}, None
        seen = {"admitted": True, "reason": None, "retry_after": None}
        return {**seen, "in_flight": permit.in_flight}, permit

    def _record(self, permit: stanchion.AdaptivePermit, outcome: Any) -> Optional[Dict[str, int]]:
        """Records ``outcome``: the change it reports, which ``on_limit_change`` must have
        heard, once."""
        answer = permit.record(outcome)
        change = None if answer is None else {"from": answer[0], "to": answer[1]}
        heard, self.changes = self.changes, []
        if heard != ([] if change is None else [change]):
            raise Mismatch(f"record returned {change}, on_limit_change heard {heard}")
        return change

    def run(self, op: str, args: Fields) -> Dict[str, Any]:
        if op == "acquire":
            self.clock.at(args)
            name = args.nullable("as", string)
            seen, permit = self._admit()
            if permit is not None:
                if name is None:
                    self.unnamed.append(permit)
                else:
                    bind(self.permits, name, permit)
            return seen
        if op == "record":
            permit = take(self.permits, args.get("permit", string))
            result = args.get("outcome", adaptive_outcome)
            self.clock.at(args)
            return {"change": self._record(permit, result)}
        if op == "release":
            permit = take(self.permits, args.get("permit", string))
            return {"released": permit.release()}
        if op == "call":
            now = self.clock.at(args)
            latency = args.get("latency", u64, 0)
            result = args.get("outcome", adaptive_outcome)
            seen, permit = self._admit()
            change = None
            if permit is not None:
                self.clock.now = min(now + latency, 2**64 - 1)
                change = self._record(permit, result)
            seen["change"] = change
            return seen
        if op == "snapshot":
            s = self.limiter.snapshot()
            return {
                "limit": s.limit, "in_flight": s.in_flight, "waiting": s.waiting, "peak": s.peak,
                "rejected": s.rejected, "baseline": s.baseline_ns, "last_update": s.last_update_ns,
                "windows": s.windows,
            }
        if op == "validate":
            kw = adaptive_kwargs(args.take("config"))
            return error_field(lambda: stanchion.AdaptiveLimiter(**kw))
        raise FormatError(f"unknown op {op!r} for an adaptive limiter")


# The driver ----------------------------------------------------------------------------------

SUBJECTS: Dict[str, Callable[[Any, Clock], Any]] = {
    "breaker": BreakerSubject,
    "backoff": BackoffSubject,
    "retry_budget": BudgetSubject,
    "retry": RetrySubject,
    "deadline": DeadlineSubject,
    "token_bucket": BucketSubject,
    "keyed_limiter": KeyedSubject,
    "bulkhead": BulkheadSubject,
    "adaptive": AdaptiveSubject,
}
#: The fields of a step the driver takes; the rest are the op's arguments.
STEP_FIELDS = ("op", "expect", "repeat", "note")


def load(path: Path) -> Fields:
    """The file's top-level fields, checked; ``config`` and ``steps`` are left to take."""
    scenario = json.loads(path.read_text())
    _check_ints(scenario, path.name)
    f = Fields(scenario, path.name)
    description = f.get("description", string)
    if not description.strip():
        raise FormatError(f"{path.name}: `description` is empty")
    covers = f.take("covers")
    if not isinstance(covers, list) or not covers or not all(
        isinstance(c, str) and c.startswith("§") for c in covers
    ):
        raise FormatError(f"{path.name}: `covers` must list the rules, each citing a section (§)")
    primitive = f.get("primitive", string)
    if primitive != path.parent.name or primitive not in SUBJECTS:
        raise FormatError(f"{path.name}: primitive {primitive!r} is not its folder's")
    deviation = f.nullable("known_deviation", string)
    if "known_deviation" in scenario and not (deviation or "").strip():
        raise FormatError(f"{path.name}: `known_deviation` must be a non-empty string")
    return f


def run(path: Path) -> int:
    """Runs one file and returns its step count; raises ``Mismatch`` at the first difference,
    ``FormatError`` on a malformed file."""
    file = load(path)
    name = f"{path.parent.name}/{path.name}"
    primitive = path.parent.name
    clock = Clock()
    try:
        subject = SUBJECTS[primitive](file.take("config"), clock)
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
                seen = out(subject.run(op, args))
                args.finish()
            except FormatError as e:
                raise FormatError(f"{where}: {op}: {e}") from None
            for field, expected in expect.items():
                if field not in seen:
                    raise FormatError(f"{where}: {op}: `expect` lists `{field}`, which this op does not report ({sorted(seen)})")
                if seen[field] != expected:
                    raise Mismatch(f"{where}: {op}: `{field}`: expected {expected!r}, got {seen[field]!r}")
    return len(steps)
