"""Calling a generated module's runtime: its errors become symbp's.

The runtime (:mod:`symbp.runtime`) raises its own ``InputError`` and ``DivergenceError``
(a module runs where symbp is not installed); code of symbp that calls it turns them
into :class:`~symbp.DataError` and :class:`symbp.DivergenceError` (with a :class:`Fit`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any, NoReturn, TypeVar

from ..errors import DataError, DivergenceError
from .fit import Fit

R = TypeVar("R")


def as_fit(result: Any) -> Fit:
    """A runtime's ``FitResult`` (params, losses, state) as a :class:`Fit`."""
    return Fit(result.params, result.losses, result.state)


def reraise(runtime: ModuleType, err: BaseException) -> NoReturn:
    """Raise the symbp error for a runtime's ``InputError`` or ``DivergenceError``."""
    if isinstance(err, runtime.DivergenceError):
        raise DivergenceError(
            str(err), as_fit(err.fit), err.step, err.loss, err.lr, err.param
        ) from None
    raise DataError(str(err)) from None


@contextmanager
def symbp_errors(runtime: ModuleType) -> Iterator[None]:
    """Inside the block, the runtime's errors are raised as symbp's."""
    try:
        yield
    except (runtime.InputError, runtime.DivergenceError) as err:
        reraise(runtime, err)


def call(runtime: ModuleType, func: Callable[..., R], *args: Any, **kwargs: Any) -> R:
    """``func(*args, **kwargs)`` with the runtime's errors raised as symbp's."""
    with symbp_errors(runtime):
        return func(*args, **kwargs)
    raise AssertionError("unreachable")  # pragma: no cover
