"""Decorator wrappers with the exact signature of the function they wrap.

A wrapper written as ``def wrapper(*args, **kwargs)`` packs a tuple and a dict on every call
and calls through ``CALL_FUNCTION_EX``; for a cheap protected call that costs more than the
protection itself. So each decorator here compiles, once per decorated function, a wrapper
whose parameters are the function's own (``def wrapper(a, b=_d_b, *, c)``) and which passes
them straight on. Functions without a readable signature, or whose parameter names clash with
the wrapper's own, get the ``*args, **kwargs`` form instead.
"""

from __future__ import annotations

import functools
import inspect
import itertools
import linecache
from typing import Any, Callable, Dict, Optional, Tuple

_PREFIX = "_stanchion_"
#: Numbers the wrappers' file names, so that two functions of one name keep their own lines.
_serial = itertools.count(1)


def is_async(func: object) -> bool:
    """Whether ``func`` is known, before any call, to return an awaitable: a coroutine
    function (or a ``functools.partial`` of one), or an object whose class defines
    ``async def __call__``. Decorators give such callables their ``async`` wrapper."""
    if inspect.iscoroutinefunction(func):
        return True
    if isinstance(func, type):
        return False  # calling a class makes an instance
    return inspect.iscoroutinefunction(getattr(type(func), "__call__", None))


def _parts(func: Callable[..., Any]) -> Optional[Tuple[str, str, Dict[str, Any]]]:
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):
        return None
    params = []
    call = []
    defaults: Dict[str, Any] = {}
    star_seen = False
    positional_only = False
    for p in signature.parameters.values():
        name = p.name
        if name.startswith(_PREFIX) or not name.isidentifier():
            return None
        default = ""
        if p.default is not inspect.Parameter.empty:
            defaults[f"{_PREFIX}d_{name}"] = p.default
            default = f"={_PREFIX}d_{name}"
        if p.kind is inspect.Parameter.POSITIONAL_ONLY:
            positional_only = True
            params.append(name + default)
            call.append(name)
            continue
        if positional_only:
            params.append("/")
            positional_only = False
        if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD:
            params.append(name + default)
            call.append(name)
        elif p.kind is inspect.Parameter.VAR_POSITIONAL:
            star_seen = True
            params.append("*" + name)
            call.append("*" + name)
        elif p.kind is inspect.Parameter.KEYWORD_ONLY:
            if not star_seen:
                star_seen = True
                params.append("*")
            params.append(name + default)
            call.append(f"{name}={name}")
        else:
            params.append("**" + name)
            call.append("**" + name)
    if positional_only:
        params.append("/")
    return ", ".join(params), ", ".join(call), defaults


def wrap(func: Callable[..., Any], template: str, env: Dict[str, Any]) -> Callable[..., Any]:
    """Compiles ``template`` (defining ``_stanchion_wrapper``; ``{params}`` and ``{call}``
    stand for the parameters and the arguments to pass on) with the names of ``env`` and
    ``_stanchion_func`` in scope, and makes it look like ``func``."""
    parts = _parts(func)
    params, call, defaults = parts if parts is not None else ("*args, **kwargs", "*args, **kwargs", {})
    source = template.replace("{params}", params).replace("{call}", call)
    namespace: Dict[str, Any] = {**env, **defaults, "_stanchion_func": func}
    filename = f"<stanchion wrapper {next(_serial)} of {getattr(func, '__qualname__', func)!s}>"
    # Tracebacks through the wrapper show its lines (an entry without a modification time is
    # never evicted by `linecache.checkcache`).
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    exec(compile(source, filename, "exec"), namespace)
    wrapper = namespace["_stanchion_wrapper"]
    return functools.update_wrapper(wrapper, func)
