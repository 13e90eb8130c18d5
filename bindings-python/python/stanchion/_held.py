"""Permits held by ``with obj:`` blocks, per thread and per asyncio task.

``__exit__`` does not receive what ``__enter__`` returned, so one shared object used as a
context manager by many threads and tasks keeps each block's permit in a context variable:
an immutable stack, so a task or thread that copies the context never sees another's pops.
"""

from __future__ import annotations

import contextvars
from typing import Any, Generic, Optional, Tuple, TypeVar

T = TypeVar("T")


class Held(Generic[T]):
    """A stack of held permits per context, as a linked list of pairs."""

    __slots__ = ("_var",)

    def __init__(self, name: str) -> None:
        self._var: contextvars.ContextVar[Optional[Tuple[T, Any]]] = contextvars.ContextVar(
            name, default=None
        )

    def push(self, item: T) -> None:
        var = self._var
        var.set((item, var.get()))

    def pop(self) -> T:
        var = self._var
        top = var.get()
        if top is None:
            raise RuntimeError("__exit__ without a matching __enter__ in this context")
        item, rest = top
        var.set(rest)
        return item
