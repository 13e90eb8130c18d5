"""How exceptions and results become the core's outcomes."""

from __future__ import annotations

from typing import Any, Callable, Optional, Tuple, Type, Union, cast

from ._errors import described

SUCCESS = 0
FAILURE = 1
IGNORED = 2

ExceptionTypes = Union[Type[BaseException], Tuple[Type[BaseException], ...]]
#: Exception types, or a predicate over the exception.
ExceptionFilter = Union[ExceptionTypes, Callable[[BaseException], bool]]
#: A predicate over a call's result: ``True`` means the call failed.
ResultFilter = Callable[[Any], bool]


def _matcher(spec: Optional[ExceptionFilter], name: str) -> Callable[[BaseException], bool]:
    if spec is None:
        return lambda exc: False
    if isinstance(spec, type) and issubclass(spec, BaseException):
        return lambda exc: isinstance(exc, spec)
    if isinstance(spec, tuple):
        for item in spec:
            if not (isinstance(item, type) and issubclass(item, BaseException)):
                raise TypeError(
                    f"{name} must be an exception type, a tuple of them, or a predicate; "
                    f"the tuple holds {described(item)}"
                )
        types = spec
        return lambda exc: isinstance(exc, types)
    if callable(spec):
        predicate = cast(Callable[[BaseException], object], spec)
        return lambda exc: bool(predicate(exc))
    raise TypeError(
        f"{name} must be an exception type, a tuple of them, or a predicate, "
        f"got {described(spec)}"
    )


class Classifier:
    """Maps an exception to an outcome: ``ignore_on`` first, then ``failure_on``; any other
    exception means the dependency answered (a success). A result is a failure when
    ``failure_result(result)`` is true."""

    __slots__ = ("_failure", "_ignore", "failure_result")

    def __init__(
        self,
        failure_on: Optional[ExceptionFilter],
        ignore_on: Optional[ExceptionFilter],
        failure_result: Optional[ResultFilter],
    ) -> None:
        self._failure = _matcher(failure_on, "failure_on")
        self._ignore = _matcher(ignore_on, "ignore_on")
        if failure_result is not None and not callable(failure_result):
            raise TypeError(
                f"failure_result must be a callable or None, got {described(failure_result)}"
            )
        self.failure_result = failure_result

    def exception(self, exc: BaseException) -> int:
        """The outcome of a call that raised ``exc``."""
        if self._ignore(exc):
            return IGNORED
        if self._failure(exc):
            return FAILURE
        return SUCCESS

    def result(self, value: object) -> int:
        """The outcome of a call that returned ``value``."""
        predicate = self.failure_result
        if predicate is not None and predicate(value):
            return FAILURE
        return SUCCESS
