"""``minimize``: full-batch ``scipy.optimize.minimize`` with the loss and gradient
map-reduced on the cluster (dask-glm's approach)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dask.array as da
import distributed
import numpy as np

from ..errors import OptionError
from ..train.failures import fresh_state
from ..train.fit import Fit
from ..train.minimize import GRADIENT_METHODS as SCIPY_GRADIENT_METHODS
from ..train.minimize import check_tol, scipy_bounds
from ..train.trainer import Trainer
from .blocks import split
from .cluster import check_timeout, get_client
from .evaluate import mean
from .reduce import Prepared

#: scipy.optimize.minimize methods that use the gradient (and not the Hessian).
GRADIENT_METHODS = ("CG", "BFGS", "Newton-CG", "L-BFGS-B", "TNC", "SLSQP", "trust-constr")
#: The rest of trainer.minimize's methods need the Hessian, which is not distributed.
HESSIAN_METHODS = SCIPY_GRADIENT_METHODS - {m.lower() for m in GRADIENT_METHODS}


def check_method(method: Any) -> str:
    """``method`` spelled as :data:`GRADIENT_METHODS` spells it; OptionError otherwise."""
    if not isinstance(method, str):
        raise OptionError(
            f"method must be the name of a scipy.optimize.minimize method, got {method!r}"
        )
    for known in GRADIENT_METHODS:
        if method.lower() == known.lower():
            return known
    if method.lower() in HESSIAN_METHODS:
        raise OptionError(
            f"method {method!r} needs the Hessian, which symbp.dask does not distribute; use "
            f"one of {list(GRADIENT_METHODS)}, or trainer.minimize in memory"
        )
    raise OptionError(
        f"method {method!r} is not a gradient-based method of scipy.optimize.minimize; "
        f"symbp.dask.minimize takes one of {list(GRADIENT_METHODS)}"
    )


def minimize(
    trainer: Trainer,
    params: Mapping[str, Any],
    data: Mapping[str, da.Array],
    method: str = "L-BFGS-B",
    tol: float | None = None,
    options: Mapping[str, Any] | None = None,
    bounds: Any = None,
    *,
    client: distributed.Client | None = None,
    timeout: float | None = None,
) -> Fit:
    """Full-batch ``scipy.optimize.minimize`` with the loss and gradient map-reduced on
    the cluster (dask-glm's approach).

    SciPy runs on the client; each evaluation sends the params to the workers, every
    block computes its loss and gradient sums in the compiled kernel, and the sums come
    back added in a fixed tree order. The data are validated once and kept on the
    workers for the whole optimization.

    Parameters
    ----------
    trainer, params, data
        As for :func:`symbp.dask.loss`.
    method
        A gradient-based method of ``scipy.optimize.minimize``
        (:data:`GRADIENT_METHODS`).
    tol, options
        Passed to ``scipy.optimize.minimize``.
    bounds
        A dict name -> ``(low, high)`` (each None, a number, or an array of the param's
        shape), or what SciPy accepts for the packed params in declaration order.
    client, timeout
        The client (default: the current one) and the seconds to wait for one
        evaluation (None: no limit).

    Returns
    -------
    symbp.Fit
        ``params`` at the optimum, ``losses`` the loss after each iteration (the last
        is ``result.fun``), ``state`` a fresh optimizer state (step 0) for a
        ``fit`` that continues from there, and ``result`` SciPy's ``OptimizeResult``.

    Raises
    ------
    symbp.OptionError
        A method that does not use the gradient or needs the Hessian; malformed bounds.
    ClusterError
        The cluster could not evaluate; ``.fit`` holds the last iterate.
    """
    from scipy.optimize import OptimizeResult
    from scipy.optimize import minimize as scipy_minimize

    runtime, spec = trainer.runtime, trainer.spec
    method = check_method(method)
    check_tol(tol)
    theta0 = trainer.call(runtime.pack_params, spec, params).astype(np.float64)
    bounds = scipy_bounds(spec, bounds)
    blocks = split(trainer, data)
    timeout = check_timeout(timeout)
    client = get_client(client)
    state = fresh_state(trainer)
    losses: list[float] = []
    last = [theta0]
    cache: dict[bytes, tuple[float, np.ndarray]] = {}

    def partial_fit() -> Fit:
        return Fit(runtime.unpack_params(spec, last[0]), np.array(losses), state)

    with Prepared(client, trainer, blocks, timeout, partial_fit) as prepared:

        def evaluate(x: np.ndarray) -> tuple[float, np.ndarray]:
            key = np.asarray(x, dtype=np.float64).tobytes()
            if key not in cache:
                theta = np.asarray(x, dtype=spec.dtype)
                total, gsum, count = prepared.sums(theta, "an evaluation", partial_fit)
                value = float(mean(trainer, total, count))
                gradient = np.asarray(mean(trainer, gsum, count), dtype=np.float64)
                if len(cache) >= 8:
                    cache.pop(next(iter(cache)))
                cache[key] = (value, gradient)
            value, gradient = cache[key]
            return value, gradient.copy()

        def callback(*args: Any) -> None:
            x = args[0].x if isinstance(args[0], OptimizeResult) else args[0]
            last[0] = np.array(x, dtype=np.float64)
            losses.append(evaluate(last[0])[0])

        result = scipy_minimize(
            evaluate,
            theta0,
            jac=True,
            method=method,
            tol=tol,
            options=None if options is None else dict(options),
            bounds=bounds,
            callback=callback,
        )
    theta = np.asarray(result.x, dtype=spec.dtype)
    return Fit(runtime.unpack_params(spec, theta), np.array(losses), state, result=result)
