"""Waiting in one of the core's FIFO queues (the bulkhead's, the adaptive limiter's) from an
asyncio task."""

from __future__ import annotations

import asyncio
from typing import Callable, List, Optional, Protocol, TypeVar

P = TypeVar("P")
P_co = TypeVar("P_co", covariant=True)


class Waiter(Protocol[P_co]):
    """A place in a queue: the native ``BulkheadWaiter`` or ``AdaptiveWaiter``."""

    def poll(self) -> Optional[P_co]: ...

    def cancel(self) -> None: ...


async def await_permit(
    try_enter: Callable[[], Optional[P]],
    enqueue: Callable[[Callable[[], None]], Waiter[P]],
    timeout: Optional[float],
) -> Optional[P]:
    """A permit, waiting in the queue up to ``timeout`` seconds (``None``: as long as it
    takes): ``None`` when that wait timed out, so that a caller whose own deadline cut the wait
    short can say so. A full queue raises its refusal; a timeout or a cancellation leaves the
    queue clean, and a permit handed over meanwhile passes on."""
    permit = try_enter()
    if permit is not None:
        return permit
    loop = asyncio.get_running_loop()
    # The event exists only once the first poll had to wait; a wake-up before that is seen by
    # the poll that follows its creation.
    box: List[asyncio.Event] = []

    def wake() -> None:
        if box:
            loop.call_soon_threadsafe(box[0].set)

    waiter = enqueue(wake)
    try:
        permit = waiter.poll()
        if permit is not None:
            return permit
        ready = asyncio.Event()
        box.append(ready)
        end = None if timeout is None else loop.time() + timeout
        while True:
            ready.clear()
            permit = waiter.poll()
            if permit is not None:
                return permit
            if end is None:
                await ready.wait()
            else:
                await asyncio.wait_for(ready.wait(), max(0.0, end - loop.time()))
    except asyncio.TimeoutError:
        waiter.cancel()
        return None
    except BaseException:
        waiter.cancel()
        raise
