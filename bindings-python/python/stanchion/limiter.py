"""``RateLimiter`` and ``KeyedRateLimiter``: the core's token buckets, in seconds."""

from __future__ import annotations

import asyncio
import functools
import time
from types import TracebackType
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Optional, Type, TypeVar, Union, cast

from . import _stanchion
from ._clock import Clock
from ._errors import described
from ._wrap import is_async, wrap

if TYPE_CHECKING:
    from typing_extensions import ParamSpec

    P = ParamSpec("P")
R = TypeVar("R")
Key = Union[str, bytes, int]
Sleep = Callable[[float], None]
AsyncSleep = Callable[[float], Awaitable[None]]


class _Waiting:
    """Sleeping through a reservation: real sleeps by default, fake ones in tests."""

    __slots__ = ("timeout", "sleep", "async_sleep")

    def __init__(
        self, timeout: float, sleep: Optional[Sleep], async_sleep: Optional[AsyncSleep]
    ) -> None:
        self.timeout = timeout
        self.sleep: Sleep = time.sleep if sleep is None else sleep
        self.async_sleep: AsyncSleep = asyncio.sleep if async_sleep is None else async_sleep


def _wrap(
    func: Callable[..., Any],
    take: Callable[[], None],
    atake: Callable[[], Awaitable[None]],
) -> Callable[..., Any]:
    env = {"_stanchion_take": take, "_stanchion_atake": atake}
    return wrap(func, _ASYNC if is_async(func) else _SYNC, env)


_SYNC = """
def _stanchion_wrapper({params}):
    _stanchion_take()
    return _stanchion_func({call})
"""

_ASYNC = """
async def _stanchion_wrapper({params}):
    await _stanchion_atake()
    return await _stanchion_func({call})
"""


class RateLimiter:
    """A token bucket: bursts of up to ``capacity``, refilled by ``refill_amount`` tokens
    every ``refill_every`` seconds (exact in integer nanoseconds; 1 per 3 s and 10⁹/s alike).

    As a decorator or context manager it takes one token per call. With ``timeout=0`` (the
    default) a call without a token raises ``RateLimitedError`` at once; with a timeout it
    reserves the token and waits for it (``asyncio.sleep`` / ``time.sleep``) if it comes
    within the timeout.

    >>> limiter = RateLimiter(capacity=2, refill_amount=1, refill_every=1.0)
    >>> limiter.try_acquire(), limiter.try_acquire(), limiter.try_acquire()
    (True, True, False)
    """

    __slots__ = ("_core", "_waiting", "try_acquire")

    def __init__(
        self,
        *,
        capacity: int,
        refill_amount: int = 1,
        refill_every: float = 1.0,
        timeout: float = 0.0,
        clock: Optional[Clock] = None,
        sleep: Optional[Sleep] = None,
        async_sleep: Optional[AsyncSleep] = None,
    ) -> None:
        config = {"capacity": capacity, "refill_amount": refill_amount, "refill_every": refill_every}
        self._core = _stanchion.RateLimiter(config, clock)
        _stanchion.Deadline.after(0, timeout)  # checks `timeout` now, not at the first call
        self._waiting = _Waiting(timeout, sleep, async_sleep)
        #: Takes one token if there is one now: ``True``, else ``False``. Never waits.
        self.try_acquire: Callable[[], bool] = self._core.try_acquire

    def acquire_nowait(self, n: int = 1) -> None:
        """Takes ``n`` tokens now or raises ``RateLimitedError`` (with ``retry_after``)."""
        self._core.acquire_nowait(n)

    def reserve_ns(self, n: int = 1, *, max_wait: float = 0.0) -> int:
        """Takes ``n`` tokens now if they are due within ``max_wait`` seconds: returns the
        nanoseconds to wait before proceeding; else raises ``RateLimitedError`` and takes
        nothing. The building block of ``acquire`` for other event loops."""
        return self._core.reserve(n, max_wait)

    def acquire_blocking(self, n: int = 1, *, timeout: Optional[float] = None) -> None:
        """Takes ``n`` tokens, sleeping until they are due if that is within ``timeout``
        seconds (default: the limiter's); else raises ``RateLimitedError`` and takes nothing."""
        waiting = self._waiting
        wait_ns = self._core.reserve(n, waiting.timeout if timeout is None else timeout)
        if wait_ns:
            waiting.sleep(wait_ns / 1e9)

    async def acquire(self, n: int = 1, *, timeout: Optional[float] = None) -> None:
        """Takes ``n`` tokens, awaiting them if they are due within ``timeout`` seconds
        (default: the limiter's); else raises ``RateLimitedError`` and takes nothing.
        Reservations are served in the order made. Cancelled while waiting, the reserved
        tokens stay spent (a token bucket cannot give time back)."""
        waiting = self._waiting
        wait_ns = self._core.reserve(n, waiting.timeout if timeout is None else timeout)
        if wait_ns:
            await waiting.async_sleep(wait_ns / 1e9)

    def _take(self) -> None:
        if self._waiting.timeout:
            self.acquire_blocking()
        else:
            self._core.acquire_nowait(1)

    def _max_wait(self) -> float:
        """How long a call may wait for a token by default: the ``timeout`` given."""
        return self._waiting.timeout

    def available(self) -> int:
        """Whole tokens available now."""
        return self._core.available()

    def snapshot(self) -> _stanchion.LimiterSnapshot:
        """The bucket now (read-only)."""
        return self._core.snapshot()

    def __call__(self, func: Callable[P, R]) -> Callable[P, R]:
        """Takes a token before each call of ``func`` (``def`` or ``async def``)."""
        take: Callable[[], None]
        if not self._waiting.timeout:
            take = functools.partial(self._core.acquire_nowait, 1)
        else:
            take = self.acquire_blocking
        return cast("Callable[P, R]", _wrap(func, take, self.acquire))

    def __enter__(self) -> RateLimiter:
        self._take()
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        return None

    async def __aenter__(self) -> RateLimiter:
        await self.acquire()
        return self

    async def __aexit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        return None


#: The table size when ``max_keys`` is left out: the binding's choice (the core has no default
#: size), the same in the Node binding.
_MAX_KEYS: int = _stanchion.defaults()["keyed_max_keys"]


class KeyedRateLimiter:
    """A token bucket per key (``str``, ``bytes`` or ``int``) in a fixed table of exactly
    ``max_keys`` slots: 1 to 16, or a power of two up to 65536 (the same sizes in every
    binding; default 1024). A key whose bucket is full again frees its slot. When every slot
    a new key may use is active, ``on_full`` decides: ``"reject"`` (``RateLimitedError``,
    reason ``table_full``) or ``"admit"``.

    >>> per_user = KeyedRateLimiter(capacity=1, refill_every=60.0)
    >>> per_user.try_acquire("ann"), per_user.try_acquire("ann"), per_user.try_acquire("bob")
    (True, False, True)
    """

    __slots__ = ("_core", "_waiting", "try_acquire")

    def __init__(
        self,
        *,
        capacity: int,
        refill_amount: int = 1,
        refill_every: float = 1.0,
        max_keys: int = _MAX_KEYS,
        on_full: str = "reject",
        timeout: float = 0.0,
        clock: Optional[Clock] = None,
        sleep: Optional[Sleep] = None,
        async_sleep: Optional[AsyncSleep] = None,
    ) -> None:
        config = {
            "capacity": capacity,
            "refill_amount": refill_amount,
            "refill_every": refill_every,
            "max_keys": max_keys,
            "on_full": on_full,
        }
        self._core = _stanchion.KeyedRateLimiter(config, clock)
        _stanchion.Deadline.after(0, timeout)
        self._waiting = _Waiting(timeout, sleep, async_sleep)
        #: Takes one token of ``key`` if there is one now: ``True``, else ``False``.
        self.try_acquire: Callable[[Key], bool] = self._core.try_acquire

    @property
    def max_keys(self) -> int:
        """The table size."""
        return self._core.slots

    def acquire_nowait(self, key: Key, n: int = 1) -> None:
        """Takes ``n`` tokens of ``key`` now or raises ``RateLimitedError``."""
        self._core.acquire_nowait(key, n)

    def reserve_ns(self, key: Key, n: int = 1, *, max_wait: float = 0.0) -> int:
        """``RateLimiter.reserve_ns`` for ``key``."""
        return self._core.reserve(key, n, max_wait)

    def acquire_blocking(self, key: Key, n: int = 1, *, timeout: Optional[float] = None) -> None:
        """Takes ``n`` tokens of ``key``, sleeping until due within ``timeout`` seconds."""
        waiting = self._waiting
        wait_ns = self._core.reserve(key, n, waiting.timeout if timeout is None else timeout)
        if wait_ns:
            waiting.sleep(wait_ns / 1e9)

    async def acquire(self, key: Key, n: int = 1, *, timeout: Optional[float] = None) -> None:
        """Takes ``n`` tokens of ``key``, awaiting them if due within ``timeout`` seconds."""
        waiting = self._waiting
        wait_ns = self._core.reserve(key, n, waiting.timeout if timeout is None else timeout)
        if wait_ns:
            await waiting.async_sleep(wait_ns / 1e9)

    def available(self, key: Key) -> int:
        """Whole tokens ``key`` has now."""
        return self._core.available(key)

    def snapshot(self, key: Key) -> _stanchion.LimiterSnapshot:
        """``key``'s bucket now (read-only)."""
        return self._core.snapshot(key)

    def active_keys(self) -> int:
        """Keys whose bucket is not full now (the slots in use)."""
        return self._core.active_keys()

    def limit(self, key: Callable[..., Key]) -> Callable[[Callable[P, R]], Callable[P, R]]:
        """A decorator taking a token of ``key(*args, **kwargs)`` before each call."""
        if not callable(key):
            raise TypeError(
                f"key must be a callable computing the key from the arguments, got {described(key)}"
            )

        def decorate(func: Callable[P, R]) -> Callable[P, R]:
            if is_async(func):
                afunc = cast(Callable[..., Awaitable[Any]], func)

                @functools.wraps(func)
                async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                    await self.acquire(key(*args, **kwargs))
                    return await afunc(*args, **kwargs)

                return cast("Callable[P, R]", async_wrapper)

            @functools.wraps(func)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                k = key(*args, **kwargs)
                if self._waiting.timeout:
                    self.acquire_blocking(k)
                else:
                    self._core.acquire_nowait(k, 1)
                return func(*args, **kwargs)

            return cast("Callable[P, R]", wrapper)

        return decorate

    def for_key(self, key: Key) -> RateLimiter:
        """A view limiting calls of one ``key``: a decorator and context manager like
        ``RateLimiter``."""
        return cast(RateLimiter, _KeyView(self, key))


class _KeyView:
    """One key of a keyed limiter, shaped like a ``RateLimiter``."""

    __slots__ = ("_limiter", "_key")

    def __init__(self, limiter: KeyedRateLimiter, key: Key) -> None:
        _stanchion.key_of(key)  # a bad key fails here
        self._limiter = limiter
        self._key = key

    def try_acquire(self) -> bool:
        return self._limiter.try_acquire(self._key)

    def acquire_nowait(self, n: int = 1) -> None:
        self._limiter.acquire_nowait(self._key, n)

    def acquire_blocking(self, n: int = 1, *, timeout: Optional[float] = None) -> None:
        self._limiter.acquire_blocking(self._key, n, timeout=timeout)

    async def acquire(self, n: int = 1, *, timeout: Optional[float] = None) -> None:
        await self._limiter.acquire(self._key, n, timeout=timeout)

    def available(self) -> int:
        return self._limiter.available(self._key)

    def snapshot(self) -> _stanchion.LimiterSnapshot:
        return self._limiter.snapshot(self._key)

    def _take(self) -> None:
        if self._limiter._waiting.timeout:
            self.acquire_blocking()
        else:
            self.acquire_nowait()

    def _max_wait(self) -> float:
        return self._limiter._waiting.timeout

    def __call__(self, func: Callable[P, R]) -> Callable[P, R]:
        return cast("Callable[P, R]", _wrap(func, self._take, self.acquire))

    def __enter__(self) -> _KeyView:
        self._take()
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    async def __aenter__(self) -> _KeyView:
        await self.acquire()
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None


__all__ = ["RateLimiter", "KeyedRateLimiter"]
