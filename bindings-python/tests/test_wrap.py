"""Decorated functions keep every kind of parameter, default and name."""

from __future__ import annotations

import asyncio
import inspect

import stanchion


def decorators() -> list:
    return [
        stanchion.CircuitBreaker(),
        stanchion.Bulkhead(max_concurrent=2),
        stanchion.RateLimiter(capacity=100),
        stanchion.Retry(stanchion.Backoff.constant(0.0)),
        stanchion.Policy(breaker=stanchion.CircuitBreaker()),
    ]


def every_kind(a, b=2, /, c=3, *args, d, e=5, **kwargs):  # type: ignore[no-untyped-def]
    return (a, b, c, args, d, e, kwargs)


async def aevery_kind(a, b=2, /, c=3, *args, d, e=5, **kwargs):  # type: ignore[no-untyped-def]
    return (a, b, c, args, d, e, kwargs)


def test_every_parameter_kind_passes_through() -> None:
    expected = (1, 2, 3, (), 4, 5, {})
    full = (1, 20, 30, (40,), 4, 50, {"z": 6})
    for decorate in decorators():
        wrapped = decorate(every_kind)
        assert inspect.signature(wrapped) == inspect.signature(every_kind)
        assert wrapped(1, d=4) == expected
        assert wrapped(1, 20, 30, 40, d=4, e=50, z=6) == full
        awrapped = decorate(aevery_kind)
        assert inspect.iscoroutinefunction(awrapped)
        assert asyncio.run(awrapped(1, d=4)) == expected
        assert asyncio.run(awrapped(1, 20, 30, 40, d=4, e=50, z=6)) == full


def test_mutable_defaults_are_the_same_object() -> None:
    marker: list[int] = []

    def f(x: list[int] = marker) -> list[int]:
        return x

    assert stanchion.CircuitBreaker()(f)() is marker


def test_names_that_clash_and_builtins_fall_back_to_a_generic_wrapper() -> None:
    def clash(_stanchion_func: int) -> int:
        return _stanchion_func * 2

    breaker = stanchion.CircuitBreaker()
    assert breaker(clash)(_stanchion_func=4) == 8
    assert breaker(len)([1, 2, 3]) == 3
    assert breaker.snapshot().successes == 2


def test_tracebacks_through_a_wrapper_show_its_lines() -> None:
    import traceback

    import stanchion

    def twin() -> None:
        raise ValueError("boom")

    first = stanchion.Retry(stanchion.Backoff.constant(0.0, max_attempts=1))(twin)

    def twin(x: int) -> None:  # type: ignore[no-redef]  # the same name, other parameters
        raise KeyError(x)

    second = stanchion.Retry(stanchion.Backoff.constant(0.0, max_attempts=1))(twin)
    for wrapped, error, line in ((first, ValueError, "_stanchion_func()"), (second, KeyError, "_stanchion_func(x)")):
        try:
            wrapped(*(() if error is ValueError else (1,)))
        except error as exc:
            text = "".join(traceback.format_exception(exc))
        assert "<stanchion wrapper" in text and line in text, text
