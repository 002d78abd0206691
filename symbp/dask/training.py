"""``fit``: training on dask-array data, exact data-parallel steps or local SGD.

``sync="step"`` reduces each step's batch gradient over the blocks holding its rows and
applies the optimizer's compiled update on the client (:func:`symbp.runtime.apply_update`):
the same fit as in memory. ``sync=K`` runs K compiled steps on every block
(:func:`symbp.runtime.block_fit`) and averages params and optimizer state.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import dask.array as da
import distributed
import numpy as np

from ..errors import DataError, DivergenceError, OptionError
from ..train.fit import Fit
from ..train.trainer import Trainer
from .blocks import batch_rows, split
from .cluster import check_timeout, gather, get_client
from .reduce import Prepared
from .ship import LOCAL_FIT


@dataclass
class Run:
    """Where a fit stands: packed params and optimizer state after ``done`` steps."""

    trainer: Trainer
    theta: np.ndarray
    slots: np.ndarray
    t0: int
    seed: int | None
    losses: np.ndarray
    done: int = 0

    def fit(self) -> Fit:
        """The Fit of the steps completed so far (its state resumes exactly)."""
        runtime, spec = self.trainer.runtime, self.trainer.spec
        state = runtime.make_state(spec, self.t0 + self.done, self.slots.copy(), self.seed)
        return Fit(runtime.unpack_params(spec, self.theta), self.losses[: self.done].copy(), state)


def check_sync(sync: Any) -> str | int:
    """``"step"`` or a positive number of local steps; OptionError otherwise."""
    if sync == "step" and isinstance(sync, str):
        return "step"
    if isinstance(sync, bool) or not isinstance(sync, (int, np.integer)) or sync < 1:
        raise OptionError(
            f"sync must be 'step' (exact data-parallel steps) or a positive number of local "
            f"steps between averages (local SGD), got {sync!r}"
        )
    return int(sync)


def fit(
    trainer: Trainer,
    params: Mapping[str, Any],
    data: Mapping[str, da.Array],
    *,
    steps: int | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    shuffle: bool = False,
    seed: int | None = None,
    sync: str | int = "step",
    state: Mapping[str, Any] | None = None,
    client: distributed.Client | None = None,
    timeout: float | None = None,
) -> Fit:
    """Train on dask-array data with the trainer's optimizer, on the cluster.

    ``sync="step"`` (default) is exact data-parallel training: each step's batch is
    the one :meth:`symbp.Trainer.fit` would take from the *global* sample order (the
    consecutive chunks of ``batch_size`` samples, permuted per epoch from ``seed``
    with ``shuffle=True``); the blocks holding its rows compute their loss and
    gradient sums (one task per block involved), the client adds them in a fixed
    order and applies the optimizer's update. The result equals ``trainer.fit`` on the
    same data in memory, to rounding: params, per-step losses and state, which resumes
    with either ``trainer.fit(..., state=)`` or this function. Every step is a round
    trip to the cluster (a few milliseconds), so use large batches.

    ``sync=K`` is local SGD: every block runs ``K`` compiled optimizer steps on its own
    samples (batches of ``batch_size`` from that block alone, shuffled with a seed of
    its own), from the current params and optimizer state; then params and optimizer
    state are averaged, weighted by block size; repeat. It communicates once per ``K``
    steps instead of every step, and it is *not* equal to single-process training: the
    blocks' gradients are taken at diverging params and their optimizer states are
    averaged, so the trajectory and the optimum reached differ (and depend on the
    chunking). ``steps`` counts the local steps of each block; ``epochs=E`` means
    ``E * ceil(m / batch_size)`` of them, ``m`` the largest block's size (``E`` without
    ``batch_size``). ``losses`` holds, per local step, the blocks' batch losses
    averaged by block size.

    Parameters
    ----------
    trainer, params, data
        As for :func:`symbp.dask.loss`; the trainer needs an optimizer.
    steps, epochs, batch_size, shuffle, seed, state
        As for :meth:`symbp.Trainer.fit`.
    sync
        ``"step"`` or the number of local steps between averages.
    client
        The ``distributed.Client`` (default: the current one).
    timeout
        Seconds to wait for one step (or one round of local steps); None waits as long
        as it takes, e.g. while the cluster has no workers.

    Returns
    -------
    symbp.Fit

    Raises
    ------
    symbp.DataError
        Invalid params, data, state or options (before any training).
    symbp.DivergenceError
        A non-finite batch loss or parameter; ``.fit`` holds the steps before it.
    ClusterError
        The cluster could not complete a step (a task failed on every worker that
        tried it, no result within ``timeout``, the cluster shut down); ``.fit``
        holds the last completed steps, resumable with ``state=err.fit.state``.
    """
    if trainer.optimizer is None:
        raise DataError(
            "this trainer was compiled without an optimizer; pass optimizer= to compile()"
        )
    runtime, spec = trainer.runtime, trainer.spec
    sync = check_sync(sync)
    timeout = check_timeout(timeout)
    _, inits = trainer.call(runtime.check_hyper, spec, trainer.hyper)
    theta = trainer.call(runtime.pack_params, spec, params)
    blocks = split(trainer, data)
    t0, slots, seed = trainer.call(
        runtime.fit_start, spec, shuffle, seed, None if state is None else dict(state), inits
    )
    slots = slots.copy()  # averaged and replaced in place: never the runtime's shared empty one
    seed = None if seed is None else int(seed)
    if sync == "step":
        total, batch, per_epoch = trainer.call(
            runtime.schedule, blocks.n, batch_size, steps, epochs
        )
    else:
        largest = max(blocks.sizes)
        batch = None
        if batch_size is not None:
            batch = trainer.call(runtime.positive_int, "batch_size", batch_size)
        per_epoch = 1 if batch is None else -(-largest // batch)
        total, _, _ = trainer.call(runtime.schedule, per_epoch, 1, steps, epochs)
    client = get_client(client)
    run = Run(trainer, theta, slots, t0, seed, np.empty(total, dtype=spec.dtype))
    with Prepared(client, trainer, blocks, timeout, run.fit) as prepared:
        if sync == "step":
            _steps(run, prepared, total, batch, per_epoch, shuffle)
        else:
            _local(run, prepared, total, int(sync), batch, shuffle)
    return run.fit()


def _steps(
    run: Run, prepared: Prepared, total: int, batch: int, per_epoch: int, shuffle: bool
) -> None:
    """sync="step": the exact data-parallel loop."""
    trainer = run.trainer
    runtime, spec = trainer.runtime, trainer.spec
    blocks = prepared.blocks
    n = blocks.n
    order, order_epoch = None, None
    for i in range(total):
        step = run.t0 + i
        lo = (step % per_epoch) * batch
        hi = min(lo + batch, n)
        if shuffle and step // per_epoch != order_epoch:
            order_epoch = step // per_epoch
            order = runtime.epoch_order(n, run.seed, order_epoch)
        rows = batch_rows(blocks, lo, hi, order if shuffle else None)
        loss_sum, grad_sum, count = prepared.rows_sums(
            run.theta, rows, f"step {step} of the fit", run.fit
        )
        batch_loss = spec.dtype(loss_sum)
        if spec.reduction == "mean":
            batch_loss = batch_loss / spec.dtype(count)
        run.losses[i] = batch_loss
        if not math.isfinite(run.losses[i]):
            _diverged(run, step, float(run.losses[i]), None)
        keep = run.theta.copy(), run.slots.copy()
        runtime.apply_update(spec, run.theta, run.slots, grad_sum, count, step, trainer.hyper)
        if not np.isfinite(run.theta).all():
            flat = int(np.flatnonzero(~np.isfinite(run.theta))[0])
            run.theta, run.slots = keep
            _diverged(run, step, float(run.losses[i]), runtime.param_at(spec, flat))
        run.done = i + 1


def _diverged(run: Run, step: int, batch_loss: float, param: Any) -> None:
    """Raise symbp.DivergenceError for a sync="step" fit that went non-finite at ``step``."""
    trainer = run.trainer
    runtime, spec = trainer.runtime, trainer.spec
    lr = runtime.learning_rate(spec, step, trainer.hyper)
    raise DivergenceError(
        runtime.divergence_message(spec, step, batch_loss, lr, param),
        run.fit(),
        step,
        batch_loss,
        lr,
        param,
    )


def _block_seed(seed: int | None, block: int) -> int | None:
    """Each block's own shuffling seed in local SGD, derived from the fit's seed."""
    if seed is None:
        return None
    return int(np.random.SeedSequence([seed, block]).generate_state(1, np.uint64)[0] >> 1)


def _local(
    run: Run, prepared: Prepared, total: int, sync: int, batch: int | None, shuffle: bool
) -> None:
    """sync=K: local SGD, averaging params and optimizer state every K steps."""
    trainer = run.trainer
    spec = trainer.spec
    client = prepared.client
    sizes = prepared.blocks.sizes
    n = prepared.blocks.n
    seeds = [_block_seed(run.seed, k) for k in range(len(sizes))]
    while run.done < total:
        count = min(sync, total - run.done)
        step = run.t0 + run.done
        futures = [
            client.submit(
                LOCAL_FIT,
                prepared.ship,
                run.theta,
                run.slots,
                step,
                count,
                batch,
                shuffle,
                seeds[k],
                trainer.hyper,
                arrays,
                pure=False,
            )
            for k, arrays in enumerate(prepared.arrays)
        ]
        what = f"local steps {step} to {step + count - 1} of the fit"
        results = gather(client, futures, what, prepared.timeout, run.fit)
        theta = np.zeros_like(run.theta)
        slots = np.zeros_like(run.slots)
        losses = np.zeros(count, dtype=spec.dtype)
        with np.errstate(over="ignore", invalid="ignore"):
            for size, (block_theta, block_slots, block_losses) in zip(sizes, results, strict=True):
                weight = spec.dtype(size / n)  # at most 1: huge params do not overflow here
                theta += weight * block_theta
                slots += weight * block_slots
                losses += weight * block_losses
        if not (np.isfinite(theta).all() and np.isfinite(slots).all()):
            _average_diverged(run, step + count, theta)
        run.theta, run.slots = theta, slots
        run.losses[run.done : run.done + count] = losses
        run.done += count


def _average_diverged(run: Run, step: int, theta: np.ndarray) -> None:
    """Raise symbp.DivergenceError for an average of finite blocks that is not finite."""
    runtime, spec = run.trainer.runtime, run.trainer.spec
    bad = np.flatnonzero(~np.isfinite(theta))
    param = runtime.param_at(spec, int(bad[0])) if bad.size else None
    where = "the optimizer state"
    if param is not None:
        where = f"parameter {runtime.param_label(param)}"
    raise DivergenceError(
        f"local SGD of model {spec.model!r} diverged at step {step}: averaging the blocks made "
        f"{where} non-finite. The result up to the last average is kept (.fit); a smaller "
        "learning rate may help",
        run.fit(),
        step,
        None,
        None,
        param,
    )
