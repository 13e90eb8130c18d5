"""Runs the shared conformance files (``conformance/*/*.json``) through the Python API.

Each file builds one primitive with the public classes, drives it with a fake clock set to
each step's ``now``, and compares the fields the step pins with what the API reports. Times go
in as ``Fraction`` seconds so that every nanosecond is exact.
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

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
        for k, v in value.items():
            _check_ints(v, where)
    if isinstance(value, list):
        for v in value:
            _check_ints(v, where)


def u64(value: Any) -> int:
    """An integer argument, written as a number or (above 2^53) a decimal string."""
    if isinstance(value, str):
        if not value.isdigit() or int(value) <= MAX_SAFE:
            raise FormatError(f"bad integer string {value!r}")
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise FormatError(f"expected an integer, got {value!r}")
    return value


def ns(value: Any) -> Fraction:
    """A duration in nanoseconds as exact seconds."""
    return Fraction(u64(value), 1_000_000_000)


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


# Subjects ------------------------------------------------------------------------------------

OUTCOMES = {"success": stanchion.SUCCESS, "failure": stanchion.FAILURE, "ignored": stanchion.IGNORED}
BREAKER_FIELDS = {
    "failure_count", "consecutive_failures", "failure_rate", "minimum_calls", "slow_call",
    "window", "open_for", "open_for_max", "open_for_factor", "open_for_jitter",
    "half_open_probes", "half_open_successes", "probe_timeout", "seed",
}


def breaker_kwargs(config: Dict[str, Any]) -> Dict[str, Any]:
    unknown = set(config) - BREAKER_FIELDS
    if unknown:
        raise FormatError(f"unknown breaker config fields {sorted(unknown)}")
    kw: Dict[str, Any] = {}
    for key in ("failure_count", "consecutive_failures", "half_open_successes"):
        if key in config:
            kw[key] = None if config[key] is None else u64(config[key])
    for key in ("minimum_calls", "half_open_probes", "seed"):
        if key in config:
            kw[key] = u64(config[key])
    for key in ("failure_rate", "open_for_factor", "open_for_jitter"):
        if key in config:
            kw[key] = config[key]
    for key in ("open_for", "open_for_max", "probe_timeout"):
        if key in config:
            kw[key] = None if config[key] is None else ns(config[key])
    slow = config.get("slow_call")
    if slow is not None:
        kw["slow_call_duration"] = ns(slow["duration"])
        kw["slow_call_rate"] = slow["rate"]
    window = config.get("window")
    if window is not None:
        if "count" in window:
            kw["window_calls"] = u64(window["count"])
        else:
            kw["window_seconds"] = ns(window["time"]["span"])
            kw["window_buckets"] = u64(window["time"]["buckets"])
    return kw


class BreakerSubject:
    def __init__(self, config: Dict[str, Any], clock: Clock) -> None:
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

    def _acquire(self) -> tuple[Dict[str, Any], Optional[stanchion.BreakerPermit]]:
        try:
            permit = self.breaker.acquire()
        except RefusedError as e:
            return {"admitted": False, "reason": e.reason, "retry_after": e.retry_after_ns}, None
        return {"admitted": True, "reason": None, "retry_after": None}, permit

    def run(self, op: str, step: Dict[str, Any]) -> Dict[str, Any]:
        b = self.breaker
        if "now" in step:
            self.clock.now = u64(step["now"])
        if op == "acquire":
            seen, permit = self._acquire()
            seen["transition"] = self._one()
            if permit is not None and "as" in step:
                bind(self.permits, step["as"], permit)
            return seen
        if op == "call":
            seen, permit = self._acquire()
            transitions = list(self.events)
            self.events = []
            if permit is not None:
                self.clock.now += u64(step.get("duration", 0))
                b.record(permit, OUTCOMES[step["outcome"]])
                transitions += self.events
                self.events = []
            seen["transitions"] = transitions
            return seen
        if op in ("record", "release"):
            permit = take(self.permits, step["permit"])
            if op == "record":
                b.record(permit, OUTCOMES[step["outcome"]])
            else:
                b.release(permit)
            return {"transition": self._one()}
        if op in ("force_open", "disable", "reset"):
            getattr(b, op)()
            return {"transition": self._one()}
        if op == "state":
            return {"state": b.state}
        if op == "snapshot":
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
            full = {**default_breaker_kwargs(), **breaker_kwargs(step["config"])}
            return error_field(lambda: b.reconfigure(**full))
        if op == "validate":
            return error_field(lambda: stanchion.CircuitBreaker(**breaker_kwargs(step["config"])))
        raise FormatError(f"unknown op {op!r}")


def default_breaker_kwargs() -> Dict[str, Any]:
    return {
        "failure_count": 5, "consecutive_failures": None, "failure_rate": None,
        "minimum_calls": 10, "slow_call_duration": None, "slow_call_rate": None,
        "window_calls": None, "window_seconds": 10, "window_buckets": 10, "open_for": 30,
        "open_for_max": None, "open_for_factor": 2.0, "open_for_jitter": 0.0,
        "half_open_probes": 1, "half_open_successes": None, "probe_timeout": None, "seed": 0,
    }


def bind(names: Dict[str, Any], name: str, value: Any) -> None:
    if name in names:
        raise FormatError(f"name {name!r} is already bound")
    names[name] = value


def take(names: Dict[str, Any], name: str) -> Any:
    if name not in names:
        raise FormatError(f"name {name!r} is not bound")
    return names.pop(name)


def backoff_of(config: Dict[str, Any]) -> stanchion.Backoff:
    unknown = set(config) - {"schedule", "jitter", "max_delay", "max_attempts", "max_elapsed"}
    if unknown or "schedule" not in config:
        raise FormatError(f"bad backoff config {config}")
    ((kind, params),) = config["schedule"].items()
    kw: Dict[str, Any] = {"schedule": kind}
    for key, value in params.items():
        kw[key] = value if key == "factor" else ns(value)
    jitter = config.get("jitter", "none")
    kw["jitter"] = jitter["proportional"] if isinstance(jitter, dict) else jitter
    for key in ("max_delay", "max_elapsed"):
        if config.get(key) is not None:
            kw[key] = ns(config[key])
    if "max_attempts" in config:
        kw["max_attempts"] = None if config["max_attempts"] is None else u64(config["max_attempts"])
    return stanchion.Backoff(**kw)


class BackoffSubject:
    def __init__(self, config: Dict[str, Any], clock: Clock) -> None:
        self.backoff = backoff_of(config)
        self.retrying: Optional[stanchion.Retrying] = None

    def run(self, op: str, step: Dict[str, Any]) -> Dict[str, Any]:
        if op == "delay":
            return {"delay": self.backoff.delay_ns(u64(step["attempt"]), u64(step["seed"]))}
        if op == "delays":
            return {"delays": self.backoff.delays_ns(u64(step["seed"]), u64(step["limit"]))}
        if op == "start":
            self.retrying = self.backoff.start(u64(step["seed"]), u64(step["now"]))
            return {}
        if op == "next_delay":
            if self.retrying is None:
                raise FormatError("next_delay before start")
            hint = step.get("hint")
            wait = self.retrying.next_delay(u64(step["now"]), None if hint is None else u64(hint))
            return {"delay": wait, "exhausted": self.retrying.exhausted, "retries": self.retrying.retries}
        if op == "validate":
            return error_field(lambda: backoff_of(step["config"]))
        raise FormatError(f"unknown op {op!r}")


def budget_of(config: Dict[str, Any], clock: Optional[Clock] = None) -> stanchion.RetryBudget:
    unknown = set(config) - {"ratio", "min_retries_per_sec", "max_balance"}
    if unknown or "ratio" not in config:
        raise FormatError(f"bad retry budget config {config}")
    kw = {k: u64(v) for k, v in config.items() if k != "ratio"}
    return stanchion.RetryBudget(config["ratio"], clock=clock, **kw)


class BudgetSubject:
    def __init__(self, config: Dict[str, Any], clock: Clock) -> None:
        self.clock = clock
        self.budget = budget_of(config, clock)

    def run(self, op: str, step: Dict[str, Any]) -> Dict[str, Any]:
        if "now" in step:
            self.clock.now = u64(step["now"])
        if op == "deposit":
            self.budget.deposit()
            return {}
        if op == "try_retry":
            return refusal(self.budget.check_retry)
        if op == "snapshot":
            s = self.budget.snapshot()
            return {
                "balance": s.balance, "floor_tokens": s.floor_tokens,
                "retries_available": s.retries_available,
                "retries_allowed": s.retries_allowed, "retries_refused": s.retries_refused,
            }
        if op == "validate":
            return error_field(lambda: budget_of(step["config"]))
        raise FormatError(f"unknown op {op!r}")


class DeadlineSubject:
    def __init__(self, config: Dict[str, Any], clock: Clock) -> None:
        if set(config) == {"at"}:
            self.deadline = stanchion.Deadline.at(u64(config["at"]))
        elif set(config) == {"now", "timeout"}:
            self.deadline = stanchion.Deadline.after(u64(config["now"]), ns(config["timeout"]))
        else:
            raise FormatError(f"bad deadline config {config}")

    def run(self, op: str, step: Dict[str, Any]) -> Dict[str, Any]:
        d = self.deadline
        if op == "check":
            now = u64(step["now"])
            return {"expires_at": d.expires_at_ns, "remaining": d.remaining_ns(now), "expired": d.is_expired(now)}
        if op == "min":
            self.deadline = d.min(stanchion.Deadline.at(u64(step["at"])))
            return {"expires_at": self.deadline.expires_at_ns}
        raise FormatError(f"unknown op {op!r}")


def bucket_kwargs(config: Dict[str, Any], extra: set[str] = set()) -> Dict[str, Any]:
    unknown = set(config) - {"capacity", "refill_amount", "refill_every"} - extra
    if unknown:
        raise FormatError(f"unknown limiter config fields {sorted(unknown)}")
    kw: Dict[str, Any] = {"capacity": u64(config["capacity"])}
    if "refill_amount" in config:
        kw["refill_amount"] = u64(config["refill_amount"])
    if "refill_every" in config:
        kw["refill_every"] = ns(config["refill_every"])
    return kw


def snapshot_fields(s: stanchion.LimiterSnapshot) -> Dict[str, Any]:
    return {"available": s.available, "capacity": s.capacity, "next_token_at": s.next_token_at_ns, "full_at": s.full_at_ns}


class BucketSubject:
    def __init__(self, config: Dict[str, Any], clock: Clock) -> None:
        self.clock = clock
        self.limiter = stanchion.RateLimiter(**bucket_kwargs(config), clock=clock)

    def run(self, op: str, step: Dict[str, Any]) -> Dict[str, Any]:
        if "now" in step:
            self.clock.now = u64(step["now"])
        n = u64(step.get("n", 1))
        if op == "try_acquire":
            return refusal(lambda: self.limiter.acquire_nowait(n))
        if op == "reserve":
            return reserved(self.clock.now, lambda: self.limiter.reserve_ns(n, max_wait=ns(step["max_wait"])))
        if op == "available":
            return {"available": self.limiter.available()}
        if op == "snapshot":
            return snapshot_fields(self.limiter.snapshot())
        if op == "validate":
            return error_field(lambda: stanchion.RateLimiter(**bucket_kwargs(step["config"])))
        raise FormatError(f"unknown op {op!r}")


def reserved(now: int, reserve: Callable[[], int]) -> Dict[str, Any]:
    try:
        wait = reserve()
    except RefusedError as e:
        return {"admitted": False, "reason": e.reason, "retry_after": e.retry_after_ns, "ready_at": None}
    return {"admitted": True, "reason": None, "retry_after": None, "ready_at": min(now + wait, 2**64 - 1)}


def keyed_of(config: Dict[str, Any], clock: Optional[Clock] = None) -> stanchion.KeyedRateLimiter:
    kw = bucket_kwargs(config, {"slots", "policy"})
    return stanchion.KeyedRateLimiter(
        **kw, _slots=u64(config.get("slots", 4)), on_full=config.get("policy", "reject"), clock=clock
    )


class KeyedSubject:
    def __init__(self, config: Dict[str, Any], clock: Clock) -> None:
        self.clock = clock
        self.limiter = keyed_of(config, clock)

    def run(self, op: str, step: Dict[str, Any]) -> Dict[str, Any]:
        if "now" in step:
            self.clock.now = u64(step["now"])
        n = u64(step.get("n", 1))
        lim = self.limiter
        if op == "try_acquire":
            return refusal(lambda: lim.acquire_nowait(u64(step["key"]), n))
        if op == "reserve":
            return reserved(self.clock.now, lambda: lim.reserve_ns(u64(step["key"]), n, max_wait=ns(step["max_wait"])))
        if op == "available":
            return {"available": lim.available(u64(step["key"]))}
        if op == "snapshot":
            return snapshot_fields(lim.snapshot(u64(step["key"])))
        if op == "active_keys":
            return {"active_keys": lim.active_keys()}
        if op == "validate":
            return error_field(lambda: keyed_of(step["config"]))
        raise FormatError(f"unknown op {op!r}")


def bulkhead_of(config: Dict[str, Any]) -> stanchion.Bulkhead:
    unknown = set(config) - {"max_concurrent", "lanes", "max_waiting"}
    if unknown:
        raise FormatError(f"unknown bulkhead config fields {sorted(unknown)}")
    kw: Dict[str, Any] = {"max_concurrent": u64(config["max_concurrent"])}
    if "lanes" in config:
        kw["lanes"] = [u64(c) for c in config["lanes"]]
    if "max_waiting" in config:
        kw["max_waiting"] = u64(config["max_waiting"])
    return stanchion.Bulkhead(**kw)


class BulkheadSubject:
    def __init__(self, config: Dict[str, Any], clock: Clock) -> None:
        self.bulkhead = bulkhead_of(config)
        self.names: Dict[str, Any] = {}
        self.order: Dict[str, int] = {}
        self.woken: List[str] = []
        self.unnamed: List[stanchion.BulkheadPermit] = []

    def _bind(self, name: str, value: Any) -> None:
        bind(self.names, name, value)
        self.order[name] = len(self.order)

    def _woken(self) -> List[str]:
        woken, self.woken = self.woken, []
        return sorted(set(woken), key=lambda n: self.order[n])

    def run(self, op: str, step: Dict[str, Any]) -> Dict[str, Any]:
        if op == "try_acquire":
            try:
                permit = self.bulkhead.try_acquire(u64(step.get("lane", 0)))
            except RefusedError as e:
                return {"admitted": False, "reason": e.reason, "retry_after": e.retry_after_ns, "lane": None}
            if "as" in step:
                self._bind(step["as"], permit)
            else:
                self.unnamed.append(permit)
            return {"admitted": True, "reason": None, "retry_after": None, "lane": permit.lane}
        if op == "acquire_async":
            name = step["as"]
            waiter = self.bulkhead.enqueue(u64(step.get("lane", 0)), lambda: self.woken.append(name))
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
            name = step["waiter"]
            waiter = self.names.get(name)
            if not isinstance(waiter, stanchion.BulkheadWaiter):
                raise FormatError(f"{name!r} is not a waiting future")
            permit = waiter.poll()
            if permit is None:
                return {"admitted": False, "pending": True, "lane": None}
            self.names[name] = permit
            return {"admitted": True, "pending": False, "lane": permit.lane}
        if op == "cancel":
            name = step["waiter"]
            waiter = self.names.get(name)
            if not isinstance(waiter, stanchion.BulkheadWaiter):
                raise FormatError(f"{name!r} is not a waiting future")
            del self.names[name]
            waiter.cancel()
            return {"woken": self._woken()}
        if op == "release":
            permit = self.names.get(step["permit"])
            if not isinstance(permit, stanchion.BulkheadPermit):
                raise FormatError(f"{step['permit']!r} is not a permit")
            released = permit.release()
            return {"released": released, "woken": self._woken()}
        if op == "snapshot":
            s = self.bulkhead.snapshot()
            return {"in_flight": s.in_flight, "peak": s.peak, "waiting": s.waiting, "rejected": s.rejected, "max_concurrent": s.max_concurrent}
        if op == "validate":
            return error_field(lambda: bulkhead_of(step["config"]))
        raise FormatError(f"unknown op {op!r}")


SUBJECTS: Dict[str, Callable[[Dict[str, Any], Clock], Any]] = {
    "breaker": BreakerSubject,
    "backoff": BackoffSubject,
    "retry_budget": BudgetSubject,
    "deadline": DeadlineSubject,
    "token_bucket": BucketSubject,
    "keyed_limiter": KeyedSubject,
    "bulkhead": BulkheadSubject,
}
STEP_FIELDS = {"op", "expect", "repeat", "note"}


def load(path: Path) -> Dict[str, Any]:
    scenario = json.loads(path.read_text())
    _check_ints(scenario, path.name)
    required = {"description", "covers", "primitive", "config", "steps"}
    if not required <= set(scenario) or set(scenario) - required - {"known_deviation"}:
        raise FormatError(f"{path}: wrong top-level fields {sorted(scenario)}")
    if scenario["primitive"] != path.parent.name or scenario["primitive"] not in SUBJECTS:
        raise FormatError(f"{path}: primitive {scenario['primitive']!r} is not its folder")
    if not scenario["covers"] or not all(c.startswith("§") for c in scenario["covers"]):
        raise FormatError(f"{path}: every `covers` entry starts with §")
    return scenario


def run(path: Path) -> None:
    """Runs one file; raises ``Mismatch`` at the first difference, ``FormatError`` on a
    malformed file."""
    scenario = load(path)
    clock = Clock()
    subject = SUBJECTS[scenario["primitive"]](scenario["config"], clock)
    for index, step in enumerate(scenario["steps"]):
        op = step["op"]
        for _ in range(int(step.get("repeat", 1))):
            seen = out(subject.run(op, step))
            for field, expected in step.get("expect", {}).items():
                if field not in seen:
                    raise FormatError(f"{path.name}: step {index}: {op}: no field `{field}`")
                if seen[field] != expected:
                    raise Mismatch(
                        f"{path.parent.name}/{path.name}: step {index}: {op}: `{field}`: "
                        f"expected {expected!r}, got {seen[field]!r}"
                    )
