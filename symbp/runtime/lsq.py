# symbp runtime: symbp writes this file next to generated modules; do not edit it.
"""Residuals and Jacobians over a whole data set, for least squares and ``jacobian``.

A module whose loss is a sum of squares carries ``_jacobian(_theta, _val, _jac, _want,
_lo, _hi, *data)``: for each sample ``s`` of ``_lo:_hi`` its residuals into ``_val[s]``
and, when ``_want``, their derivatives by the flat parameters into ``_jac[s]`` (a
Trainer compiles the same kernel for an output's entries). :func:`jacobian_values` runs
it over the fixed partition of the samples (on several threads where that pays); the
parts write disjoint rows, so nothing depends on the thread count.
"""

import math

import numpy as np

from .checks import check_data, pack_params, storage
from .spec import InputError
from .threads import partition, require_blas, run_parts


def jacobian_values(spec, theta, n, arrays, want=True):
    """``(values, jacobian)`` of all ``n`` samples of validated ``arrays`` at the packed
    params ``theta``: ``(n, m)`` and ``(n, m, size)`` (None unless ``want``), with ``m``
    the entries per sample."""
    m = math.prod(spec.jacobian_shape)
    values = np.empty((n, m), dtype=spec.dtype)
    jac = np.zeros((n, m, theta.shape[0]) if want else (1, m, theta.shape[0]), dtype=spec.dtype)
    bounds = partition(n)
    if len(bounds) == 2 and not spec.blas:  # one part, no BLAS to hold: call it directly
        spec.jacobian(theta, values, jac, want, 0, n, *arrays)
        return values, (jac if want else None)

    def part(k):
        spec.jacobian(theta, values, jac, want, bounds[k], bounds[k + 1], *arrays)

    run_parts(spec, len(bounds) - 1, part, ("parts", "jacobian", want, int(n).bit_length()))
    return values, (jac if want else None)


def _require(spec):
    if spec.jacobian is None:
        raise InputError(
            f"model {spec.model!r}'s module has no residuals kernel: its loss is not a sum of "
            "squares (least squares needs a loss like (f - y)**2, sum(r_k**2) or nn.mse), or "
            "its Jacobian was too large to generate"
        )
    require_blas(spec)


def _shaped(spec, values, jac):
    shape = storage(spec.jacobian_shape)
    n = values.shape[0]
    values = values.reshape((n, *shape))
    return values if jac is None else (values, jac.reshape((n, *shape, jac.shape[-1])))


def run_residuals(spec, params, data):
    """Each sample's residuals: ``(n,)`` for one per sample, else ``(n, k)``."""
    _require(spec)
    theta = pack_params(spec, params)
    n, arrays = check_data(spec, data)
    values, _ = jacobian_values(spec, theta, n, arrays, want=False)
    return _shaped(spec, values, None)


def run_jacobian(spec, params, data, inputs_only=False):
    """Each sample's residuals' derivatives by the flat parameters (declaration order,
    row-major): ``(n, size)`` for one residual per sample, else ``(n, k, size)``.
    ``inputs_only``: the kernel reads the inputs only (an output's Jacobian)."""
    _require(spec)
    theta = pack_params(spec, params)
    n, arrays = check_data(spec, data, inputs_only=inputs_only)
    values, jac = jacobian_values(spec, theta, n, arrays)
    return _shaped(spec, values, jac)[1]


def least_squares_functions(spec):
    """A module's ``residuals(params, data=None)`` and ``jacobian(params, data=None)``."""

    def residuals(params, data=None):
        """Each sample's residuals r (the loss is the sum, or mean, of their squares):
        ``(n,)`` for one per sample, else ``(n, k)``."""
        return run_residuals(spec, params, data)

    def jacobian(params, data=None):
        """Each sample's dr/dtheta, by the flat params (declaration order, row-major):
        ``(n, size)`` for one residual per sample, else ``(n, k, size)``."""
        return run_jacobian(spec, params, data)

    return residuals, jacobian
