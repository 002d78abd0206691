"""``Trainer.minimize``: SciPy's optimizers on the compiled loss, gradient and Hessian.

SciPy sees a function of the flat parameter vector (float64). Each evaluation is one
pass of the compiled kernel over the data, validated once beforehand (no dict packing
inside SciPy's loop): the loss and the gradient together (``jac=True``), the exact
Hessian-vector product for the Hessian methods. ``fit.losses`` records the loss after
every iteration.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import OptionError, SymbpError
from .failures import Problem, failure, fresh_state, problem_fit
from .fit import Fit
from .second import check_hessian_size, dense_hessian

#: Methods that use the gradient; all of scipy.optimize.minimize's.
GRADIENT_METHODS = frozenset(
    {"cg", "bfgs", "l-bfgs-b", "tnc", "slsqp", "trust-constr", "newton-cg", "trust-ncg",
     "trust-krylov", "trust-exact", "dogleg"}
)  # fmt: skip
#: Methods that take a Hessian-vector product, and those that need the whole Hessian.
HESSP_METHODS = frozenset({"newton-cg", "trust-ncg", "trust-krylov", "trust-constr"})
HESS_METHODS = frozenset({"dogleg", "trust-exact"})
#: Methods whose callback receives only the current point (no intermediate result).
LEGACY_CALLBACK = frozenset({"tnc", "slsqp", "cobyla", "cobyqa"})
DERIVATIVE_FREE = frozenset({"nelder-mead", "powell", "cobyla", "cobyqa"})


class Objective(Problem):
    """The loss (and gradient) of a trainer's model as a function of the flat vector.

    The params and data are validated once; every evaluation is one pass of the
    compiled kernel (:func:`symbp.runtime.evaluate`).
    """

    def __init__(self, trainer: Any, params: Mapping[str, Any], data: Any):
        super().__init__(trainer.runtime, trainer.spec, params, data)
        self.trainer = trainer
        self.scale = 1.0 / self.n if self.spec.reduction == "mean" else 1.0
        self.last: tuple[np.ndarray, float] | None = None

    def _seen(self, x: np.ndarray, value: float) -> None:
        self.last = (np.array(x, dtype=np.float64), value)
        self.keep_best(x, value)

    def value_and_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """The reduced loss and its gradient at ``x``."""
        total, grad = self.runtime.evaluate(self.spec, self.as_theta(x), self.n, self.arrays, True)
        value = float(total) * self.scale
        self._seen(x, value)
        return value, np.asarray(grad, dtype=np.float64) * self.scale

    def value(self, x: np.ndarray) -> float:
        """The reduced loss at ``x``."""
        total, _ = self.runtime.evaluate(self.spec, self.as_theta(x), self.n, self.arrays)
        value = float(total) * self.scale
        self._seen(x, value)
        return value

    def hessp(self, x: np.ndarray, p: np.ndarray) -> np.ndarray:
        """The exact Hessian of the reduced loss at ``x`` times ``p``."""
        hessian = self.trainer.hessian_module
        out = hessian.RUNTIME.hessp_sums(
            hessian.SPEC, self.as_theta(x), self.as_theta(p), self.n, self.arrays
        )
        return np.asarray(out, dtype=np.float64) * self.scale

    def hess(self, x: np.ndarray) -> np.ndarray:
        """The dense Hessian at ``x``."""
        return dense_hessian(self.trainer.hessian_module, self.as_theta(x), self.n, self.arrays)

    def value_at(self, x: np.ndarray) -> float:
        """The loss at ``x``, reusing the last evaluation when it was there."""
        if self.last is not None and np.array_equal(self.last[0], x):
            return self.last[1]
        return self.value(x)


def check_tol(tol: Any) -> None:
    """``tol`` for scipy.optimize.minimize: None or a positive number."""
    if tol is not None and (
        isinstance(tol, bool) or not isinstance(tol, (int, float, np.floating, np.integer))
        or not np.isfinite(tol) or tol <= 0
    ):  # fmt: skip
        raise OptionError(f"tol must be a positive number (or None), got {tol!r}")


def scipy_bounds(spec: Any, bounds: Any) -> Any:
    """SciPy bounds for the flat vector from a dict ``name -> (low, high)``."""
    if bounds is None or not isinstance(bounds, Mapping):
        return bounds
    names = [name for name, _, _ in spec.params]
    unknown = sorted(set(bounds) - set(names))
    if unknown:
        raise OptionError(f"bounds name unknown params {unknown}; the params are {names}")
    size = sum(int(np.prod(shape)) if shape else 1 for _, shape, _ in spec.params)
    low, high = np.full(size, -np.inf), np.full(size, np.inf)
    for name, shape, offset in spec.params:
        if name not in bounds:
            continue
        count = int(np.prod(shape)) if shape else 1
        try:
            lo, hi = bounds[name]
        except (TypeError, ValueError):
            raise OptionError(
                f"bounds[{name!r}] must be a pair (low, high), got {bounds[name]!r}"
            ) from None
        for target, value in ((low, lo), (high, hi)):
            if value is not None:
                try:
                    array = np.broadcast_to(np.asarray(value, dtype=np.float64), shape or ())
                except (TypeError, ValueError):
                    expected = f"a number or an array of shape {shape}" if shape else "a number"
                    raise OptionError(
                        f"bounds[{name!r}]: {value!r} is not {expected} (or None for no bound)"
                    ) from None
                if np.isnan(array).any():
                    raise OptionError(f"bounds[{name!r}] contains NaN; use None for no bound")
                target[offset : offset + count] = array.reshape(-1)
    from scipy.optimize import Bounds

    return Bounds(low, high)


def run_minimize(
    trainer: Any,
    params: Mapping[str, Any],
    data: Any,
    method: str,
    tol: float | None,
    options: Mapping[str, Any] | None,
    bounds: Any,
) -> Fit:
    """See :meth:`symbp.Trainer.minimize`."""
    from scipy import optimize

    if not isinstance(method, str):
        raise OptionError(f"method must be a scipy.optimize.minimize method name, got {method!r}")
    key = method.lower()
    if key not in GRADIENT_METHODS | DERIVATIVE_FREE:
        known = sorted(GRADIENT_METHODS | DERIVATIVE_FREE)
        raise OptionError(f"unknown minimize method {method!r}; expected one of {known}")
    if options is not None and not isinstance(options, Mapping):
        raise OptionError(f"options must be a dict, got {options!r}")
    check_tol(tol)
    objective = Objective(trainer, params, data)
    losses = objective.losses

    def record(*args: Any, **kwargs: Any) -> None:
        intermediate = kwargs.get("intermediate_result")
        if intermediate is not None and np.isscalar(getattr(intermediate, "fun", None)):
            losses.append(float(intermediate.fun))
        else:
            losses.append(objective.value_at(np.asarray(args[0])))

    kwargs: dict[str, Any] = {"method": method, "tol": tol, "options": dict(options or {})}
    if key in DERIVATIVE_FREE:
        fun: Any = objective.value
    else:
        fun, kwargs["jac"] = objective.value_and_grad, True
    if key in HESSP_METHODS:
        kwargs["hessp"] = objective.hessp
    if key in HESS_METHODS:
        check_hessian_size(objective.theta0.shape[0])
        kwargs["hess"] = objective.hess
    spec_bounds = scipy_bounds(objective.spec, bounds)
    if spec_bounds is not None:
        kwargs["bounds"] = spec_bounds
    if key in LEGACY_CALLBACK:
        kwargs["callback"] = lambda xk, *rest: record(xk)
    else:
        kwargs["callback"] = lambda intermediate_result: record(
            intermediate_result=intermediate_result
        )
    x0 = np.asarray(objective.theta0, dtype=np.float64)
    try:
        result = optimize.minimize(fun, x0, **kwargs)
    except SymbpError:
        raise
    except Exception as err:
        raise failure("minimize", method, err, problem_fit(trainer, objective)) from err
    runtime, spec = objective.runtime, objective.spec
    best = runtime.unpack_params(spec, np.ascontiguousarray(result.x, dtype=spec.dtype))
    return Fit(best, np.array(losses, dtype=np.float64), fresh_state(trainer), result=result)
