"""Permits held by ``with obj:`` blocks, per thread and per asyncio task.

``__exit__`` does not receive what ``__enter__`` returned, so one shared object used as a
context manager by many threads and tasks keeps each block's permit in a context variable:
an immutable stack, so a task or thread that copies the context never sees another's pops.
"""

from __future__ import annotations

import contextvars
from typing import Generic, Tuple, TypeVar

T = TypeVar("T")


class Held(Generic[T]):
    """A stack of held permits per context."""

    __slots__ = ("_var",)

    def __init__(self, name: str) -> None:
        self._var: contextvars.ContextVar[Tuple[T, ...]] = contextvars.ContextVar(name, default=())

    def push(self, item: T) -> None:
        var = self._var
        var.set(var.get() + (item,))

    def pop(self) -> T:
        var = self._var
        stack = var.get()
        var.set(stack[:-1])
        return stack[-1]
