"""SciPy's failures as symbp's: an :class:`~symbp.OptimizationError` with the best fit reached."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import OptimizationError
from .calls import symbp_errors
from .fit import Fit


class Problem:
    """What SciPy optimizes over the flat vector of a compiled module's params: the params
    and data validated once (``theta0``, ``n``, ``arrays``), the losses recorded and the
    best finite point evaluated (what a failure keeps: :func:`problem_fit`)."""

    def __init__(self, runtime: Any, spec: Any, params: Any, data: Any):
        self.runtime, self.spec = runtime, spec
        with symbp_errors(runtime):
            runtime.require_blas(spec)
            self.theta0 = runtime.pack_params(spec, params)
            self.n, self.arrays = runtime.check_data(spec, data)
        #: the lowest finite value evaluated and where
        self.best: tuple[float, np.ndarray] | None = None
        self.losses: list[float] = []

    def as_theta(self, x: np.ndarray) -> np.ndarray:
        """SciPy's point ``x`` as the kernels' packed params."""
        return np.ascontiguousarray(x, dtype=self.spec.dtype)

    def keep_best(self, x: np.ndarray, value: float) -> None:
        """Remember ``x`` when ``value`` is the lowest finite value so far."""
        if np.isfinite(value) and (self.best is None or value < self.best[0]):
            self.best = (value, np.array(x, dtype=np.float64))


def fresh_state(trainer: Any) -> dict[str, Any]:
    """The optimizer state of a fit that starts now (a SciPy fit has none of its own: the
    Fit it returns can be continued by ``trainer.fit``)."""
    return trainer.call(trainer.runtime.initial_state, trainer.spec, trainer.hyper)  # type: ignore[no-any-return]


def problem_fit(trainer: Any, problem: Any) -> Fit | None:
    """The Fit of the best point an objective evaluated (None before any finite one)."""
    if problem.best is None:
        return None
    runtime, spec = problem.runtime, problem.spec
    best = runtime.unpack_params(spec, np.ascontiguousarray(problem.best[1], dtype=spec.dtype))
    return Fit(best, np.array(problem.losses, dtype=np.float64), fresh_state(trainer))


def failure(function: str, method: str, err: BaseException, fit: Fit | None) -> OptimizationError:
    """The OptimizationError of SciPy's ``function`` failing with ``err``."""
    text = f"{type(err).__name__}: {err}".replace("\n", " ")
    if len(text) > 200:
        text = text[:197] + "..."
    kept = "no finite point was reached" if fit is None else "the best point reached is kept (.fit)"
    return OptimizationError(
        f"scipy.optimize.{function}(method={method!r}) failed: {text}; {kept}",
        fit,
        method,
    )
