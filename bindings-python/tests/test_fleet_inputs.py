"""Bad input to ``stanchion.redis`` is refused before anything reaches Redis, with the
package's errors and words: ``TypeError`` for a wrong type, ``ConfigError`` (a
``ValueError``) naming the Python parameter, what it accepts and what it got, checked by the
core's ``stanchion::fleet`` rules. No server is needed: redis-py connects lazily."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
from typing import Any, Dict

import pytest
import redis
import redis.asyncio
import redis_support

from stanchion import CircuitOpenError, ConfigError, _stanchion
from stanchion.redis import DEFAULT_ON_UNAVAILABLE, DEFAULT_PREFIX, DEFAULT_TIMEOUT, FleetLimiter

#: A port nothing listens on: nothing here connects.
NOWHERE = "redis://127.0.0.1:9/"


def blocking(**options: Any) -> Any:
    options.setdefault("socket_timeout", 0.25)
    options.setdefault("socket_connect_timeout", 0.25)
    return redis.Redis.from_url(NOWHERE, **options)


def make(**options: Any) -> FleetLimiter:
    options.setdefault("capacity", 10)
    return FleetLimiter(blocking(), **options)


def config_error(match: str, **options: Any) -> ConfigError:
    with pytest.raises(ConfigError) as raised:
        make(**options)
    assert str(raised.value) == match
    return raised.value


def test_the_defaults_are_the_cores() -> None:
    defaults = _stanchion.fleet_defaults()
    assert DEFAULT_PREFIX == defaults["default_prefix"] == "stanchion:"
    assert DEFAULT_TIMEOUT == defaults["default_call_timeout_ns"] / 1e9 == 0.25
    assert DEFAULT_ON_UNAVAILABLE == defaults["default_on_unavailable"] == "raise"
    assert defaults["on_unavailable"] == ["local", "allow", "deny", "raise"]
    assert (defaults["max_name_len"], defaults["max_prefix_len"]) == (1024, 256)
    assert defaults["max_burst_units"] == 2**52
    limiter = make()
    assert (limiter.prefix, limiter.timeout, limiter.on_unavailable) == ("stanchion:", 0.25, "raise")


@pytest.mark.parametrize(
    "client",
    [None, 5, "redis://127.0.0.1/", object()],
    ids=["None", "int", "url", "object"],
)
def test_a_client_that_is_not_a_redis_client_is_a_type_error(client: Any) -> None:
    with pytest.raises(TypeError) as raised:
        FleetLimiter(client, capacity=1)
    message = str(raised.value)
    assert message.startswith(
        "client must be a redis-py client: redis.Redis, redis.cluster.RedisCluster, "
        "redis.asyncio.Redis or redis.asyncio.cluster.RedisCluster (not a pipeline), got "
    )
    assert message.endswith(f"({type(client).__name__})")


def test_a_pipeline_is_refused() -> None:
    with pytest.raises(TypeError, match=r"\(not a pipeline\), got .*\(Pipeline\)"):
        FleetLimiter(blocking().pipeline(), capacity=1)
    with pytest.raises(TypeError, match=r"\(Pipeline\)"):
        FleetLimiter(redis.asyncio.Redis.from_url(NOWHERE).pipeline(), capacity=1)


def test_a_blocking_client_must_bound_its_reads_within_the_timeout() -> None:
    unbounded = redis.Redis.from_url(NOWHERE, socket_timeout=None, socket_connect_timeout=None)
    with pytest.raises(ConfigError) as raised:
        FleetLimiter(unbounded, capacity=1)
    error = raised.value
    assert (error.parameter, error.field) == ("client", "client")
    assert error.got == {"socket_timeout": None, "socket_connect_timeout": None}
    assert "socket_timeout and socket_connect_timeout are set and at most the limiter's timeout (0.25 s)" in str(error)
    assert "redis.Redis(..., socket_timeout=0.25, socket_connect_timeout=0.25)" in str(error)
    # redis-py's defaults (5 s in 8.x), given or left to the connection class, are longer
    # than the limiter's 0.25 s.
    defaults = r"got \{'socket_timeout': 5, 'socket_connect_timeout': 5\}"
    with pytest.raises(ConfigError, match=defaults):
        FleetLimiter(redis.Redis.from_url(NOWHERE), capacity=1)
    with pytest.raises(ConfigError, match=defaults):
        FleetLimiter(redis.Redis(host="127.0.0.1", port=9), capacity=1)
    with pytest.raises(ConfigError, match=r"got \{'socket_timeout': 0.25, 'socket_connect_timeout': 5\}"):
        FleetLimiter(redis.Redis(host="127.0.0.1", port=9, socket_timeout=0.25), capacity=1)
    with pytest.raises(ConfigError, match="'socket_connect_timeout': 2"):
        FleetLimiter(blocking(socket_connect_timeout=2), capacity=1)
    # An unset connect timeout is the read timeout, as redis-py makes it.
    assert FleetLimiter(blocking(socket_connect_timeout=None), capacity=1).timeout == 0.25
    # Within a longer timeout of the limiter's own, the defaults are accepted.
    assert FleetLimiter(redis.Redis.from_url(NOWHERE), capacity=1, timeout=5).timeout == 5
    # An asyncio client's calls are cancelled at the timeout instead: its settings are its own.
    assert FleetLimiter(redis.asyncio.Redis.from_url(NOWHERE), capacity=1).is_async


def test_bucket_errors_name_the_parameter_and_the_core_field() -> None:
    bound = ", with capacity × refill_every at most 2^52 ns once the rate is in lowest terms (a full burst refills within about 52 days)"
    error = config_error(f"capacity must be an int from 1 to 4294967295{bound}, got 0", capacity=0)
    assert (error.parameter, error.field, error.got) == ("capacity", "capacity", 0)
    # 10^7 tokens at one per second refill in 116 days.
    config_error(f"capacity must be an int from 1 to 4294967295{bound}, got 10000000", capacity=10_000_000)
    config_error(f"capacity must be an int from 1 to 4294967295{bound}, got -1", capacity=-1)
    with pytest.raises(TypeError, match=r"^capacity must be an int, got '5' \(str\)$"):
        make(capacity="5")
    with pytest.raises(TypeError, match=r"^capacity must be an int, got 2.5 \(float\)$"):
        make(capacity=2.5)
    config_error(
        "refill_amount must be an int from 1 to 4294967295, and at most one token per nanosecond "
        "of refill_every (10^9 tokens per second), got -1",
        refill_amount=-1,
    )
    config_error(
        "refill_amount must be an int from 1 to 4294967295, and at most one token per nanosecond "
        "of refill_every (10^9 tokens per second), got 2",
        refill_amount=2,
        refill_every=1e-9,
    )
    for bad in (math.nan, -1.0, math.inf):
        config_error(f"refill_every must be a finite number of seconds ≥ 0, got {bad!r}", refill_every=bad)
    error = config_error(
        "refill_every must be a number of seconds > 0, at most 2^52 ns once the rate is in lowest "
        "terms (refill_every / gcd(refill_amount, refill_every), in ns), got 0",
        refill_every=0,
    )
    assert error.field == "refill_every"
    with pytest.raises(TypeError, match=r"^refill_every must be a number of seconds, got '1' \(str\)$"):
        make(refill_every="1")


def test_prefix_timeout_and_policy_errors() -> None:
    prefix = "prefix must be a str of at most 256 bytes in UTF-8, without `{` or `}`"
    config_error(f"{prefix}, got 'a{{b}}:'", prefix="a{b}:")
    config_error(f"{prefix}, got 'a}}'", prefix="a}")
    error = config_error(f"{prefix}, got '{'p' * 257}'", prefix="p" * 257)
    assert error.field == "prefix"
    assert make(prefix="p" * 256).prefix == "p" * 256
    assert make(prefix="").redis_key("k") == "{k}:limiter"
    with pytest.raises(TypeError, match=r"^prefix must be a str, got b'p:' \(bytes\)$"):
        make(prefix=b"p:")

    config_error("timeout must be a number of seconds from 1 ns to 1 hour, got 0", timeout=0)
    config_error("timeout must be a number of seconds from 1 ns to 1 hour, got 3601", timeout=3601)
    config_error("timeout must be a finite number of seconds ≥ 0, got nan", timeout=math.nan)
    config_error("timeout must be a finite number of seconds ≥ 0, got -0.5", timeout=-0.5)

    policies = 'on_unavailable must be "local", "allow", "deny" or "raise"'
    config_error(f"{policies}, got 'open'", on_unavailable="open")
    config_error(f"{policies}, got 'RAISE'", on_unavailable="RAISE")
    with pytest.raises(TypeError, match=r'^on_unavailable must be "local", "allow", "deny" or "raise", got 3 \(int\)$'):
        make(on_unavailable=3)


def test_local_share_goes_with_local_only() -> None:
    needed = 'local_share must be a number in (0, 1] when on_unavailable is "local"'
    error = config_error(f"{needed}, got None", on_unavailable="local")
    assert (error.parameter, error.field) == ("local_share", "local_share")
    for bad in (0, 0.0, -0.5, 1.5, math.nan, math.inf):
        config_error(f"{needed}, got {bad!r}", on_unavailable="local", local_share=bad)
    config_error(
        'local_share must be None unless on_unavailable is "local", got 0.5',
        on_unavailable="allow",
        local_share=0.5,
    )
    config_error('local_share must be None unless on_unavailable is "local", got 1', local_share=1)
    with pytest.raises(TypeError, match=r"^local_share must be a number, got '0.5' \(str\)$"):
        make(on_unavailable="local", local_share="0.5")
    assert make(on_unavailable="local", local_share=1).on_unavailable == "local"


@pytest.mark.parametrize(
    "key, shown",
    [
        ("", "''"),
        ("k" * 1025, repr("k" * 1025)),
        ("é" * 513, repr("é" * 513)),  # 1026 bytes in UTF-8
        ("a{b", "'a{b'"),
        ("a}b", "'a}b'"),
        ("\udc80", "'\\udc80'"),  # a lone surrogate has no UTF-8 form
    ],
    ids=["empty", "1025 bytes", "1026 bytes of UTF-8", "open brace", "close brace", "surrogate"],
)
def test_bad_keys_are_refused_before_any_call(key: str, shown: str) -> None:
    limiter = make()
    counted = redis_support.Counted(limiter.client)
    with pytest.raises(ConfigError) as raised:
        limiter.try_acquire(key)
    assert str(raised.value) == f"key must be a str of 1 to 1024 bytes in UTF-8, without `{{` or `}}`, got {shown}"
    assert raised.value.field == "key"
    with pytest.raises(ConfigError):
        limiter.for_key(key)
    with pytest.raises(ConfigError):
        limiter.redis_key(key)
    assert len(counted) == 0


def test_the_longest_keys_are_taken() -> None:
    limiter = make()
    assert limiter.redis_key("k" * 1024) == "stanchion:{" + "k" * 1024 + "}:limiter"
    assert limiter.redis_key("é" * 512).startswith("stanchion:{é")


@pytest.mark.parametrize("key", [5, b"k", None, ["k"]], ids=["int", "bytes", "None", "list"])
def test_a_key_that_is_not_a_str_is_a_type_error(key: Any) -> None:
    with pytest.raises(TypeError, match=r"^key must be a str, got .* \(" + type(key).__name__ + r"\)$"):
        make().try_acquire(key)


def test_bad_costs_are_refused_before_any_call() -> None:
    limiter = make()
    counted = redis_support.Counted(limiter.client)
    for bad in (-1, 2**32):
        with pytest.raises(ConfigError, match=rf"^n must be an int from 0 to 4294967295, got {bad}$"):
            limiter.try_acquire("k", bad)
    for bad in (1.5, math.nan, "1"):
        with pytest.raises(TypeError, match=r"^n must be an int, got "):
            limiter.peek("k", bad)
    assert len(counted) == 0


def test_decorators_need_a_callable_key() -> None:
    with pytest.raises(TypeError, match=r"^key must be a callable computing the key from the arguments, got 'k' \(str\)$"):
        make().limit("k")  # type: ignore[arg-type]


def test_the_native_rules_are_the_cores() -> None:
    _stanchion.fleet_check_name("key", "tenant-7")
    with pytest.raises(ConfigError, match=r"^name must be a str of 1 to 1024 bytes"):
        _stanchion.fleet_check_name("name", "a}b")
    with pytest.raises(ValueError, match='parameter must be "key" or "name"'):
        _stanchion.fleet_check_name("other", "x")
    _stanchion.fleet_check_prefix("app:login:")
    with pytest.raises(ConfigError):
        _stanchion.fleet_check_prefix("a{b}:")
    assert _stanchion.fleet_check_timeout(0.25) == 250_000_000
    with pytest.raises(ConfigError, match="1 ns to 1 hour"):
        _stanchion.fleet_check_timeout(0)
    # The rate comes back in lowest terms: 100 per second is one per 10 ms.
    config: Dict[str, Any] = {"capacity": 10, "refill_amount": 100, "refill_every": 1}
    assert _stanchion.fleet_check_bucket(config) == (10, 1, 10_000_000)
    # A quarter of it: 3 tokens (rounded up), one per 40 ms.
    assert _stanchion.fleet_local_share(config, 0.25) == (3, 1, 40_000_000)
    with pytest.raises(ConfigError, match=r"^local_share must be a number in \(0, 1\], got 0$"):
        _stanchion.fleet_local_share(config, 0)
    assert _stanchion.fleet_check_unavailable("local", 0.5) == "local"
    assert _stanchion.fleet_check_unavailable("deny") == "deny"
    with pytest.raises(ConfigError, match="has no local stand-in"):
        _stanchion.fleet_check_unavailable("local", 0.5, has_local=False)
    limiter = make(capacity=10, refill_amount=100, on_unavailable="local", local_share=0.25)
    assert limiter._core.local_bucket == (3, 1, 40_000_000)


def test_the_connection_breaker_is_the_cores() -> None:
    clock = [0]
    changes: list[tuple[str, str]] = []
    breaker = _stanchion.fleet_connection_breaker(lambda: clock[0], lambda old, new: changes.append((old, new)))
    for _ in range(2):
        breaker.acquire().failure()
    breaker.acquire().success()  # an answer breaks the run of failures
    for _ in range(3):
        breaker.acquire().failure()
    assert breaker.state == "open" and changes == [("closed", "open")]
    with pytest.raises(CircuitOpenError) as refused:
        breaker.acquire()
    # Open for 1 s, with up to 20 % jitter.
    assert refused.value.retry_after is not None and 0.8 <= refused.value.retry_after <= 1.2
    clock[0] += 1_200_000_000
    probe = breaker.acquire()
    with pytest.raises(CircuitOpenError):
        breaker.acquire()  # one probe at a time
    probe.success()
    assert breaker.state == "closed"


def test_stanchion_imports_without_redis_py() -> None:
    program = textwrap.dedent(
        """
        import sys
        sys.modules["redis"] = None  # as if redis-py were not installed
        import stanchion
        import stanchion.redis
        from stanchion.redis import FleetLimiter
        try:
            FleetLimiter(object(), capacity=1)
        except ImportError as missing:
            print(missing)
        """
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "stanchion.redis needs redis-py: pip install 'stanchion[redis]'"
