"""Permits held by ``with obj:`` blocks, per thread and per asyncio task.

``__exit__`` does not receive what ``__enter__`` returned, so one shared object used as a
context manager by many threads and tasks keeps each block's permit in a context variable:
an immutable stack, so a task or thread that copies the context never sees another's pops.
"""

from __future__ import annotations

import contextvars
from typing import Any, Optional, Tuple



#: A context variable holding a linked stack ``(top, rest)`` of permits, or ``None``.
Held = contextvars.ContextVar


def new_held(name: str) -> "contextvars.ContextVar[Optional[Tuple[Any, Any]]]":
    """A fresh, empty stack. Callers push with ``var.set((item, var.get()))`` and pop with
    ``item, rest = var.get(); var.set(rest)``, inline: a helper call per ``with`` would cost
    more than the primitive."""
    return contextvars.ContextVar(name, default=None)
