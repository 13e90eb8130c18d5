"""The listeners of an event that the core reports (a breaker's transition, an adaptive
limiter's change of limit): checked when added, called in order, and never allowed to break the
call that caused the event."""

from __future__ import annotations

import logging
import weakref
from typing import Any, Callable, Generic, List, TypeVar

from ._errors import described

_log = logging.getLogger("stanchion")

L = TypeVar("L", bound=Callable[..., Any])


class Listeners(Generic[L]):
    """The listeners of the event ``event`` (its option's name, as ``on_state_change``), each
    a callable taking ``taking`` (as written in the error for anything else). One that raises
    is logged, and the others are still called."""

    __slots__ = ("_event", "_taking", "_items")

    def __init__(self, event: str, taking: str) -> None:
        self._event = event
        self._taking = taking
        self._items: List[L] = []

    def add(self, listener: L) -> L:
        if not callable(listener):
            raise TypeError(
                f"{self._event} must be a callable taking {self._taking}, "
                f"got {described(listener)}"
            )
        self._items.append(listener)
        return listener

    def emit(self, *args: Any) -> None:
        for listener in self._items:
            try:
                listener(*args)
            except Exception:
                _log.exception("stanchion: %s listener failed", self._event)


def weak_emitter(owner: Any) -> Callable[..., None]:
    """What the core calls on an event of ``owner`` (an object with ``_listeners``): it holds
    the owner weakly, so no reference cycle runs through native code, and calls nothing once
    the owner is gone."""
    ref = weakref.ref(owner)

    def emit(*args: Any) -> None:
        target = ref()
        if target is not None:
            target._listeners.emit(*args)

    return emit
