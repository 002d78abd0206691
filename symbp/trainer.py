"""Trainer and Fit: the Python face of a compiled, generated module."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from .errors import DataError

if TYPE_CHECKING:
    from .model import Model
    from .optim.base import Optimizer

R = TypeVar("R")


@dataclass(frozen=True)
class Fit:
    """The result of :meth:`Trainer.fit`.

    ``params`` holds the trained values in the declared shapes, ``losses`` the batch
    loss before each update, and ``state`` the optimizer state and step counter that
    ``Trainer.fit(..., state=fit.state)`` continues from.
    """

    params: dict[str, Any]
    losses: np.ndarray
    state: dict[str, Any] = field(repr=False)

    @property
    def steps(self) -> int:
        """The step counter after this fit (counting earlier fits it resumed)."""
        return int(self.state["step"])


@contextmanager
def _translated(module: ModuleType) -> Iterator[None]:
    """Re-raise a generated module's InputError as symbp's DataError."""
    try:
        yield
    except module.InputError as err:
        raise DataError(str(err)) from None


class Trainer:
    """Loss, gradient and training for a model compiled with one optimizer and dtype.

    Every call goes through the generated module's own functions, so a ``Trainer``
    and ``from generated import <model>`` give identical results.
    """

    def __init__(self, model: Model, module: ModuleType, optimizer: Optimizer | None, dtype: str):
        self.model = model
        self.module = module
        self.optimizer = optimizer
        self.dtype = dtype

    def __repr__(self) -> str:
        opt = self.optimizer.describe() if self.optimizer is not None else "None"
        return f"Trainer(model={self.model.name!r}, optimizer={opt}, dtype={self.dtype!r})"

    def _call(self, func: Callable[..., R], *args: Any, **kwargs: Any) -> R:
        with _translated(self.module):
            return func(*args, **kwargs)

    def loss(self, params: Mapping[str, Any], data: Mapping[str, Any] | None = None) -> float:
        """The loss reduced over all samples of ``data``."""
        return self._call(self.module.loss, params, data)

    def grad(
        self, params: Mapping[str, Any], data: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """The gradient of the reduced loss: name -> array (float for scalars)."""
        return self._call(self.module.grad, params, data)

    def fit(
        self,
        params: Mapping[str, Any],
        data: Mapping[str, Any] | None = None,
        *,
        steps: int | None = None,
        epochs: int | None = None,
        batch_size: int | None = None,
        shuffle: bool = False,
        seed: int | None = None,
        progress: bool = False,
        state: Mapping[str, Any] | None = None,
    ) -> Fit:
        """Train from ``params`` for ``steps`` (or ``epochs``) in compiled code."""
        if self.optimizer is None:
            raise DataError(
                "this trainer was compiled without an optimizer; pass optimizer= to compile()"
            )
        kwargs = dict(steps=steps, epochs=epochs, batch_size=batch_size, shuffle=shuffle, seed=seed)
        if not progress:
            result = self._call(self.module.fit, params, data, state=state, **kwargs)
            return Fit(result.params, result.losses, result.state)
        from .progress import fit_with_progress

        return fit_with_progress(self, params, data, state=state, **kwargs)
