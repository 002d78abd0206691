# symbp runtime: symbp writes this file next to generated modules; do not edit it.
"""Evaluations over a whole data set: loss, gradient, outputs, Hessian-vector products.

Each runs the module's kernel over a fixed partition of the samples (on several threads
where that pays, :mod:`~symbp.runtime.threads`) and adds the parts' sums in part order,
so the result does not depend on the thread count.
"""

import numpy as np

from .checks import check_data, pack_params, storage, unpack_params
from .fit import run_kernel
from .spec import GRAD, LOSS, InputError
from .threads import in_order, partition, require_blas, run_parts


def evaluate(spec, theta, n, arrays, grad=False):
    """Loss sum (and, with ``grad``, gradient sum) over all ``n`` samples of validated
    ``arrays`` (:func:`~symbp.runtime.checks.check_data`) at the packed params ``theta``.

    Returns ``(loss sum, gradient sum or None)``; the caller reduces by the mean.
    """
    mode = GRAD if grad else LOSS
    bounds = partition(n)
    parts = len(bounds) - 1
    sums = np.zeros((parts, 1), dtype=spec.dtype)
    grads = np.zeros((parts, theta.shape[0]) if grad else (parts, 0), dtype=spec.dtype)
    slots = np.empty((0, 0), dtype=spec.dtype)
    info = np.zeros(2)
    constants = np.zeros(spec.n_hyper)  # the update is not run

    def part(k):
        run_kernel(
            spec, mode, theta, slots, grads[k] if grad else theta, sums[k], info, constants,
            arrays, batch=spec.chunk, lo=bounds[k], hi=bounds[k + 1], limit=False,
        )  # fmt: skip

    run_parts(spec, parts, part, ("parts", mode, int(n).bit_length()))
    return in_order(sums)[0], (in_order(grads) if grad else None)


def run_loss(spec, params, data):
    """The loss reduced over all samples of ``data``, as a float."""
    require_blas(spec)
    theta = pack_params(spec, params)
    n, arrays = check_data(spec, data)
    return reduced_loss(spec, theta, n, arrays)


def reduced_loss(spec, theta, n, arrays):
    """The loss of validated ``arrays`` of ``n`` samples at the packed params, reduced
    (summed, or averaged) as the model declares, as a float."""
    total, _ = evaluate(spec, theta, n, arrays)
    return float(total / n) if spec.reduction == "mean" else float(total)


def run_grad(spec, params, data):
    """The gradient of the reduced loss: dict name -> array (or float for scalars)."""
    require_blas(spec)
    theta = pack_params(spec, params)
    n, arrays = check_data(spec, data)
    _, out = evaluate(spec, theta, n, arrays, grad=True)
    if spec.reduction == "mean":
        out = out / spec.dtype(n)
    return unpack_params(spec, out)


def hessp_sums(spec, theta, direction, n, arrays):
    """``sum_s H_s v`` over all ``n`` samples (flat), in the fixed partition of :func:`evaluate`."""
    bounds = partition(n)
    parts = len(bounds) - 1
    outs = np.zeros((parts, theta.shape[0]), dtype=spec.dtype)

    def part(k):
        spec.hessp(theta, direction, outs[k], bounds[k], bounds[k + 1], spec.chunk, *arrays)

    run_parts(spec, parts, part, ("parts", "hessp", int(n).bit_length()))
    return in_order(outs)


def run_hessp(spec, params, direction, data):
    """The Hessian of the reduced loss times ``direction`` (a dict laid out as params)."""
    require_blas(spec)
    theta = pack_params(spec, params)
    vector = pack_params(spec, direction, "direction")
    n, arrays = check_data(spec, data)
    out = hessp_sums(spec, theta, vector, n, arrays)
    if spec.reduction == "mean":
        out = out / spec.dtype(n)
    return unpack_params(spec, out)


def predict_arrays(spec, theta, n, arrays):
    """The outputs of validated inputs ``arrays`` at the packed params: arrays in the
    storage layout (``(n,)``, ``(n, k)`` or ``(n, r, c)``), in declaration order."""
    outs = [np.empty((n, *storage(shape)), dtype=spec.dtype) for _, shape in spec.outputs]
    bounds = partition(n)
    parts = len(bounds) - 1

    def part(k):
        spec.predict(theta, bounds[k], bounds[k + 1], spec.predict_chunk, *outs, *arrays)

    run_parts(spec, parts, part, ("parts", "predict", int(n).bit_length()))
    return outs


def run_predict(spec, params, data):
    """The outputs for every sample of ``data`` (its inputs): name -> array, samples first.

    A scalar output comes back as ``(n,)``, a row or column vector of length ``k`` as
    ``(n, k)``, an ``r x c`` matrix as ``(n, r, c)``.
    """
    if spec.predict is None:
        raise InputError(
            f"model {spec.model!r} declares no outputs; pass outputs={{name: expression}} "
            "to symbp.Model to predict"
        )
    require_blas(spec)
    theta = pack_params(spec, params)
    n, arrays = check_data(spec, data, inputs_only=True)
    outs = predict_arrays(spec, theta, n, arrays)
    return {name: out for (name, _), out in zip(spec.outputs, outs, strict=True)}
