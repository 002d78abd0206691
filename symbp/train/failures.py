"""SciPy's failures as symbp's: an :class:`~symbp.OptimizationError` with the best fit reached."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import OptimizationError
from .fit import Fit


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
