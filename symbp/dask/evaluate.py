"""Loss, gradient and outputs of dask-array data, computed on the cluster.

``loss``, ``grad`` and ``loss_and_grad`` run one task per block (its loss and gradient
sums in the compiled kernel) and add the sums in the fixed tree of
:mod:`symbp.dask.reduce`: they equal the trainer's in-memory results to rounding.
``predict`` returns lazy dask arrays, one task per block.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping
from typing import Any

import dask
import dask.array as da
import distributed
import numpy as np

from ..errors import DataError
from ..train.trainer import Trainer
from .blocks import split
from .cluster import check_timeout, get_client
from .reduce import sums
from .ship import BLOCK_SUMS, PREDICT, held_ship, ship_node
from .worker import Partial


def reduce_all(
    trainer: Trainer,
    params: Mapping[str, Any],
    data: Any,
    grad: bool,
    client: distributed.Client | None,
    timeout: float | None,
) -> Partial:
    """Loss sum (and gradient sum) over all samples: one task per block, a fixed tree."""
    theta = trainer.call(trainer.runtime.pack_params, trainer.spec, params)
    blocks = split(trainer, data)
    timeout = check_timeout(timeout)
    client = get_client(client)
    ship = held_ship(client, trainer)
    partials = [  # theta goes inline into each task: a node of its own would cost a hop
        dask.delayed(BLOCK_SUMS, pure=False)(ship, theta, grad, blocks.names, offset, *block)
        for block, offset in zip(blocks.blocks, blocks.offsets, strict=True)
    ]
    return sums(client, partials, "the gradient" if grad else "the loss", timeout)


def mean(trainer: Trainer, value: Any, n: int) -> Any:
    """A sum over ``n`` samples reduced as the model reduces its loss."""
    return value / n if trainer.spec.reduction == "mean" else value


def _gradient(trainer: Trainer, total: Any, count: int) -> dict[str, Any]:
    """The reduced gradient from a gradient sum over ``count`` samples, unpacked."""
    spec = trainer.spec
    out = np.asarray(total, dtype=spec.dtype)
    if spec.reduction == "mean":
        out = out / spec.dtype(count)
    return trainer.runtime.unpack_params(spec, out)  # type: ignore[no-any-return]


def loss(
    trainer: Trainer,
    params: Mapping[str, Any],
    data: Mapping[str, da.Array],
    *,
    client: distributed.Client | None = None,
    timeout: float | None = None,
) -> float:
    """The loss reduced over all samples of dask-array data, computed on the cluster.

    Parameters
    ----------
    trainer
        A compiled model (``model.compile(...)``).
    params
        Name -> value, as for :meth:`symbp.Trainer.loss`.
    data
        Name -> dask array of every input and target, chunked along the sample axis
        only, with the same chunks for every array.
    client
        The ``distributed.Client`` to use (default: the current one).
    timeout
        Seconds to wait for the result; None waits as long as it takes.

    Returns
    -------
    float
        Equal to ``trainer.loss(params, data)`` on the same samples in memory, to
        rounding: one task per block sums its samples in the compiled kernel and the
        sums are added in a fixed tree order.

    Raises
    ------
    symbp.DataError
        Misaligned chunks, chunks along a feature axis, wrong shapes, non-finite values
        (with the index in the whole array).
    ClusterError
        No client, or the cluster could not compute it.
    """
    total, _, count = reduce_all(trainer, params, data, False, client, timeout)
    return float(mean(trainer, total, count))


def grad(
    trainer: Trainer,
    params: Mapping[str, Any],
    data: Mapping[str, da.Array],
    *,
    client: distributed.Client | None = None,
    timeout: float | None = None,
) -> dict[str, Any]:
    """The gradient of the reduced loss over dask-array data, computed on the cluster.

    Parameters
    ----------
    trainer, params, data, client, timeout
        As for :func:`loss`.

    Returns
    -------
    dict
        Name -> array of the param's shape (a float for a scalar param), equal to
        ``trainer.grad(params, data)`` in memory to rounding.

    Raises
    ------
    symbp.DataError, ClusterError
        As for :func:`loss`.
    """
    _, total, count = reduce_all(trainer, params, data, True, client, timeout)
    return _gradient(trainer, total, count)


def loss_and_grad(
    trainer: Trainer,
    params: Mapping[str, Any],
    data: Mapping[str, da.Array],
    *,
    client: distributed.Client | None = None,
    timeout: float | None = None,
) -> tuple[float, dict[str, Any]]:
    """:func:`loss` and :func:`grad` from one pass over the data (what an optimizer
    needs at each evaluation).

    Parameters
    ----------
    trainer, params, data, client, timeout
        As for :func:`loss`.

    Returns
    -------
    tuple
        ``(loss, gradient)``: a float and a dict name -> array, as :func:`loss` and
        :func:`grad` return them.

    Raises
    ------
    symbp.DataError, ClusterError
        As for :func:`loss`.
    """
    total, gsum, count = reduce_all(trainer, params, data, True, client, timeout)
    return float(mean(trainer, total, count)), _gradient(trainer, gsum, count)


def predict(
    trainer: Trainer, params: Mapping[str, Any], inputs: Mapping[str, da.Array]
) -> dict[str, da.Array]:
    """The model's outputs for dask-array inputs, as lazy dask arrays (samples first).

    One task per block runs the compiled predict kernel (``run_predict``) on that
    block. Nothing runs until you compute the arrays, with the current client or any
    Dask scheduler.

    Parameters
    ----------
    trainer
        A model compiled with ``outputs=`` declared.
    params
        Name -> value, as for :meth:`symbp.Trainer.predict`.
    inputs
        Name -> dask array of every input, chunked along the sample axis only, with
        the same chunks for every array; targets, if given, are ignored.

    Returns
    -------
    dict
        Output name -> dask array with the inputs' sample chunks: shape ``(n,)`` for a
        scalar output, ``(n, k)`` for a vector, ``(n, r, c)`` for a matrix; equal to
        ``trainer.predict`` in memory.

    Raises
    ------
    symbp.DataError
        No outputs declared; inputs as for :func:`loss`.
    """
    runtime, spec = trainer.runtime, trainer.spec
    if spec.predict is None:
        raise DataError(
            f"model {spec.model!r} declares no outputs; pass outputs={{name: expression}} "
            "to symbp.Model to predict"
        )
    theta = trainer.call(runtime.pack_params, spec, params)
    blocks = split(trainer, inputs, inputs_only=True)
    ship = ship_node(trainer)
    tasks = iter(
        dask.delayed(PREDICT, pure=True)(ship, theta, blocks.names, offset, *block)
        for block, offset in zip(blocks.blocks, blocks.offsets, strict=True)
    )
    per_block = [next(tasks) if size else None for size in blocks.chunks]
    outputs = {}
    for name, shape in spec.outputs:
        storage = tuple(runtime.storage(shape))
        pieces = [
            da.from_delayed(
                dask.delayed(operator.getitem, pure=True)(task, name),
                shape=(size, *storage),
                dtype=spec.dtype,
            )
            if task is not None
            else da.empty((0, *storage), dtype=spec.dtype)
            for task, size in zip(per_block, blocks.chunks, strict=True)
        ]
        output = da.concatenate(pieces, axis=0)  # (this leaves out empty pieces)
        if output.chunks[0] != blocks.chunks:
            output = output.rechunk({0: blocks.chunks})  # the inputs' chunks, empty ones too
        outputs[name] = output
    return outputs
