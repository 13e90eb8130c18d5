"""The examples in the package's docstrings run and give what they show."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "stanchion.breaker",
    "stanchion.limiter",
    "stanchion.bulkhead",
    "stanchion.adaptive",
    "stanchion.backoff",
    "stanchion.retry",
    "stanchion.policy",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    failures, tried = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert tried > 0 and failures == 0
