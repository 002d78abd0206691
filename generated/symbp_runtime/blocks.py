# symbp runtime: symbp writes this file next to generated modules; do not edit it.
"""Pieces for data-parallel drivers (``symbp.dask``): one block of samples at a time.

A driver that holds the data in blocks on other processes combines these: the loss and
gradient sums of a block (:func:`block_sums`), one optimizer step from a gradient
reduced elsewhere (:func:`apply_update`), compiled steps on one block (:func:`block_fit`)
and the learning rate at a step (:func:`learning_rate`).
"""

import numpy as np

from .checks import check_hyper, initial_slots, make_state, schedule, storage, unpack_params
from .fit import fit_steps, run_fit, run_kernel
from .spec import GRAD, LOSS, UPDATE


def block_sums(spec, theta, arrays, grad=True, rows=None):
    """Sum of the per-sample losses (and of their gradients) of one block of samples.

    ``theta`` is the packed parameters (pack_params), ``arrays`` the block's data as
    check_data returns them; ``rows`` (int64 indices into the block) restricts the sums
    to those samples, in that order. Serial and deterministic: the caller combines the
    blocks' sums in a fixed order. Returns ``(loss sum, gradient sum or None)``.
    """
    if rows is not None:
        order = np.asarray(rows, dtype=np.int64).reshape(-1)
        arrays = [array[order] for array in arrays]
    n = arrays[0].shape[0] if arrays else (1 if rows is None else len(rows))
    mode = GRAD if grad else LOSS
    out = np.zeros(theta.shape[0] if grad else 0, dtype=spec.dtype)
    total = np.zeros(1, dtype=spec.dtype)
    run_kernel(
        spec, mode, theta, np.empty((0, 0), dtype=spec.dtype), out if grad else theta, total,
        np.zeros(2), np.zeros(spec.n_hyper), arrays, batch=max(1, spec.chunk), hi=n,
    )  # fmt: skip
    return float(total[0]), (out if grad else None)


def _update(spec, theta, slots, grad, step, count, info, constants):
    """The kernel's update mode: one step from ``grad`` summed over ``count`` samples
    (it reads no data: one row of zeros per data array stands in)."""
    no_data = [np.zeros((1, *storage(shape)), dtype=spec.dtype) for _, shape in spec.data]
    run_kernel(
        spec, UPDATE, theta, slots, grad, np.zeros(1, dtype=spec.dtype), info, constants,
        no_data, t0=int(step), steps=1, batch=int(count), hi=1, limit=False,
    )  # fmt: skip


def apply_update(spec, theta, slots, grad_sum, count, step, hyper=None):
    """One optimizer step at step counter ``step`` from a gradient summed over ``count``
    samples (the reduction of a data-parallel step), on theta and slots in place."""
    constants, _ = check_hyper(spec, hyper)
    grad = np.ascontiguousarray(grad_sum, dtype=spec.dtype)
    _update(spec, theta, slots, grad, step, count, np.zeros(2), constants)
    return theta, slots


def block_fit(spec, theta, slots, arrays, t0, steps, batch_size, shuffle, seed, hyper=None):
    """``steps`` optimizer steps on one block's arrays (as check_data returns them) from
    the packed params ``theta`` and optimizer state ``slots`` at step counter ``t0``, in
    place; returns the batch losses. The batches follow run_fit's rule on this block
    alone (``seed`` shuffles it). A step that goes non-finite raises DivergenceError
    exactly as run_fit does (theta and slots are then left as they were given).
    """
    constants, _ = check_hyper(spec, hyper)
    n = arrays[0].shape[0] if arrays else 1
    steps, batch, _ = schedule(n, batch_size, steps, None)
    losses = np.empty(steps, dtype=spec.dtype)
    info = np.zeros(2)
    start = theta.copy(), slots.copy()
    done = fit_steps(spec, theta, slots, losses, info, constants, arrays, t0, steps, batch, n,
                     shuffle, seed)  # fmt: skip
    if done == steps and info[1] < 0:
        return losses
    theta[:], slots[:] = start  # run_fit replays the steps and raises DivergenceError
    data = dict(zip(spec.data_names, arrays, strict=True))
    state = make_state(spec, t0, slots.copy(), seed)
    params = unpack_params(spec, theta)
    run_fit(spec, params, data, steps, None, batch_size, shuffle, seed, state, hyper)
    raise RuntimeError(f"model {spec.model!r}: a diverged block fit did not replay")


def learning_rate(spec, step, hyper=None):
    """The learning rate of the module's optimizer at step counter ``step``."""
    constants, inits = check_hyper(spec, hyper)
    theta = np.zeros(spec.size, dtype=spec.dtype)
    slots = initial_slots(spec, inits).copy()
    info = np.zeros(2)
    _update(spec, theta, slots, theta.copy(), step, 1, info, constants)
    return float(info[0])
