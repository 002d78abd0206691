"""``Trainer.least_squares``: ``scipy.optimize.least_squares`` on compiled residuals and
their exact Jacobian, with the fit's covariance and standard errors.

SciPy sees the flat parameter vector and the flat residual vector (every residual of
every sample). Each residual evaluation is one pass of the compiled Jacobian kernel
over the data (validated once), computing the residuals and their Jacobian together;
the Jacobian SciPy asks for next, at the point it just evaluated, is that one. A
Jacobian whose structural zeros make it sparse enough is handed over as a
``scipy.sparse`` matrix (``tr_solver="lsmr"``). SciPy's failures become
:class:`~symbp.OptimizationError` with the best point evaluated so far.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import OptionError, SymbpError
from .covariance import flat_names, least_squares_covariance, standard_errors
from .failures import Problem, failure, fresh_state, problem_fit
from .fit import Fit
from .jacobians import sparse_jacobian, structural_positions
from .minimize import scipy_bounds

METHODS = ("trf", "dogbox", "lm")
LOSSES = ("linear", "soft_l1", "huber", "cauchy", "arctan")
#: A Jacobian goes to SciPy as a sparse matrix when it has at least this many entries
#: and at most this share of them can be nonzero...
SPARSE_MIN = 200_000
SPARSE_DENSITY = 0.25


def _positive(name: str, value: Any, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if (
        isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating)
        or not np.isfinite(value) or value <= 0
    ):  # fmt: skip
        raise OptionError(f"{name} must be a positive number, got {value!r}")


def check_options(
    method: Any, loss: Any, f_scale: Any, tolerances: dict[str, Any], max_nfev: Any, bounds: Any
) -> None:
    """Refuse what SciPy would refuse, with symbp's message, before anything runs."""
    if method not in METHODS:
        raise OptionError(f"method must be one of {list(METHODS)}, got {method!r}")
    if not (loss in LOSSES or callable(loss)):
        raise OptionError(f"loss must be one of {list(LOSSES)} or a callable, got {loss!r}")
    _positive("f_scale", f_scale)
    for name, value in tolerances.items():
        _positive(name, value, allow_none=method != "lm")
    if max_nfev is not None and (
        isinstance(max_nfev, bool) or not isinstance(max_nfev, int | np.integer) or max_nfev < 1
    ):
        raise OptionError(f"max_nfev must be a positive integer or None, got {max_nfev!r}")
    if method == "lm" and bounds is not None:
        raise OptionError("method='lm' does not handle bounds; use method='trf' or 'dogbox'")
    if method == "lm" and loss != "linear":
        raise OptionError(f"method='lm' supports loss='linear' only, got {loss!r}")


#: SciPy's iterations run with BLAS on one thread up to this many parameters: its
#: products are then matrix-vector products and p x p factorizations, where BLAS's
#: threads only wait for each other (100,000 residuals x 3 parameters on the 2-core
#: machines: a trf fit took 0.27 s with OpenBLAS's default threads, 0.055 s with one).
ONE_THREAD_PARAMS = 64


def one_blas_thread(runtime: Any, size: int) -> Any:
    """A context holding BLAS to one thread for a problem of ``size`` parameters (the
    runtime's process-wide limit; a no-op above :data:`ONE_THREAD_PARAMS`)."""
    if size <= ONE_THREAD_PARAMS:
        return runtime.blas_one_thread()
    return contextlib.nullcontext()


def square_sum(values: np.ndarray) -> float:
    """The sum of squares of a vector, without BLAS (a ``ddot`` on a loaded machine waits
    for BLAS's threads: 6-13 ms for 100,000 residuals where this takes 0.1 ms)."""
    return float(np.einsum("i,i->", values, values))


class Residuals(Problem):
    """The flat residual vector of a trainer's model and its Jacobian, as SciPy wants them."""

    def __init__(self, trainer: Any, params: Mapping[str, Any], data: Any):
        module = trainer.jacobian_module(None)
        super().__init__(module.RUNTIME, module.SPEC, params, data)
        self.per_sample = int(np.prod(self.spec.jacobian_shape))
        self.last: tuple[np.ndarray, np.ndarray] | None = None
        self.pattern: np.ndarray | None = None  # rows x params: may be nonzero
        self.positions: Any = None  # their positions in the rows of every sample

    def residuals(self, x: np.ndarray) -> np.ndarray:
        """The residuals at ``x`` (the Jacobian is computed with them and kept)."""
        values, jac = self.runtime.jacobian_values(self.spec, self.as_theta(x), self.n, self.arrays)
        flat = np.asarray(values, dtype=np.float64).reshape(-1)
        self.last = (np.array(x, dtype=np.float64), jac)
        with np.errstate(over="ignore", invalid="ignore"):
            cost = square_sum(flat)
        self.keep_best(x, cost)
        return flat

    def jacobian(self, x: np.ndarray) -> Any:
        """The Jacobian at ``x`` (m x p): the one computed with the residuals there."""
        if self.last is None or not np.array_equal(self.last[0], x):
            self.residuals(x)
        assert self.last is not None
        jac = np.asarray(self.last[1], dtype=np.float64).reshape(-1, self.theta0.shape[0])
        if self.pattern is None:
            return jac
        if self.positions is None:  # the structural nonzeros of every sample's rows, found once
            self.positions = structural_positions(self.pattern, self.n)
        return sparse_jacobian(jac, self.positions)

    def reduced(self, rss: float) -> float:
        """The model's loss for a residual sum of squares ``rss``."""
        return rss / self.n if self.spec.reduction == "mean" else rss


def flat_bounds(bounds: Any, size: int) -> tuple[np.ndarray, np.ndarray]:
    """``(low, high)`` of the flat vector's ``size`` elements from a
    ``scipy.optimize.Bounds`` or a pair ``(lb, ub)`` (scalars or one value per element),
    as SciPy's ``least_squares`` takes them."""
    from scipy import optimize

    try:
        if not isinstance(bounds, optimize.Bounds):
            bounds = optimize.Bounds(*bounds)
        return tuple(  # type: ignore[return-value]
            np.broadcast_to(np.asarray(side, dtype=np.float64), (size,))
            for side in (bounds.lb, bounds.ub)
        )
    except (TypeError, ValueError):
        raise OptionError(
            "bounds must be a dict name -> (low, high), a scipy.optimize.Bounds or a pair "
            f"(lb, ub) of scalars or of the {size} flat parameter elements, got {bounds!r}"[:400]
        ) from None


def run_least_squares(
    trainer: Any, params: Mapping[str, Any], data: Any, options: dict[str, Any]
) -> Fit:
    """See :meth:`symbp.Trainer.least_squares`."""
    from scipy import optimize

    method, loss, bounds = options["method"], options["loss"], options["bounds"]
    absolute_sigma = options.pop("absolute_sigma")
    tolerances = {k: options[k] for k in ("ftol", "xtol", "gtol")}
    check_options(method, loss, options["f_scale"], tolerances, options["max_nfev"], bounds)
    problem = Residuals(trainer, params, data)
    runtime, spec = problem.runtime, problem.spec
    m, p = problem.n * problem.per_sample, problem.theta0.shape[0]
    if method == "lm" and m < p:
        raise OptionError(
            f"method='lm' needs at least as many residuals as parameters; model "
            f"{spec.model!r} has {m} residuals for {p} parameters (use method='trf')"
        )
    kwargs: dict[str, Any] = dict(options)
    if kwargs["x_scale"] is None:
        del kwargs["x_scale"]  # SciPy's default for the method (1, or "jac" for lm)
    kwargs["bounds"] = (-np.inf, np.inf)
    if bounds is not None:
        low, high = flat_bounds(scipy_bounds(spec, bounds), p)
        kwargs["bounds"] = optimize.Bounds(low, high)
        outside = np.flatnonzero((problem.theta0 < low) | (problem.theta0 > high))
        if outside.size:
            name = runtime.param_label(runtime.param_at(spec, int(outside[0])))
            raise OptionError(
                f"the starting point is outside the bounds: param {name} is "
                f"{float(problem.theta0[outside[0]])!r}, bounds ({low[outside[0]]}, {high[outside[0]]})"
            )
    if method != "lm" and m * p >= SPARSE_MIN:
        pattern = trainer.jacobian_pattern(None)
        if pattern.mean() <= SPARSE_DENSITY:
            problem.pattern = pattern
            kwargs["tr_solver"] = "lsmr"

    if method != "lm":

        def record(intermediate_result: Any) -> None:
            fun = np.asarray(intermediate_result.fun)
            problem.losses.append(problem.reduced(square_sum(fun)))

        kwargs["callback"] = record
    x0 = np.asarray(problem.theta0, dtype=np.float64)
    try:
        with one_blas_thread(runtime, p):
            result = optimize.least_squares(problem.residuals, x0, jac=problem.jacobian, **kwargs)
    except SymbpError:
        raise
    except Exception as err:
        raise failure("least_squares", method, err, problem_fit(trainer, problem)) from err
    if method == "lm":  # MINPACK reports no iterations: the final loss
        problem.losses.append(problem.reduced(square_sum(result.fun)))
    best = runtime.unpack_params(spec, np.ascontiguousarray(result.x, dtype=spec.dtype))
    names = flat_names(spec, runtime)
    jac = result.jac.toarray() if hasattr(result.jac, "toarray") else np.asarray(result.jac)
    rss = 2.0 * float(result.cost)  # curve_fit's: the robust loss's sum when not linear
    covariance = least_squares_covariance(jac, rss, absolute_sigma, names)
    return Fit(
        best,
        np.array(problem.losses, dtype=np.float64),
        fresh_state(trainer),
        result=result,
        covariance=covariance,
        stderr=standard_errors(covariance, spec, runtime),
        flat_names=names,
    )
