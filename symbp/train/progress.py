"""Fits run in chunks: a progress bar, validation after every epoch, early stopping.

The compiled loop resumes exactly (``state=``), so a fit cut into chunks gives the same
params, losses and state as one call. This module cuts it:

* ``progress=True``: into at most :data:`CHUNKS` pieces under a tqdm bar showing the
  running batch loss (and the validation loss);
* ``validation=data``: into epochs (``ceil(n / batch_size)`` steps); after each, the
  loss over the validation data is computed with the compiled kernel and recorded in
  ``fit.val_losses``, and ``fit.best_step`` is the step count after the best epoch;
* ``patience=k``: training stops after ``k`` epochs without a lower validation loss and
  ``fit.params`` are the best params seen (Keras' ``restore_best_weights=True``).
  ``fit.state`` is the state where training stopped and ``fit.last_params`` the params
  there, so ``trainer.fit(fit.last_params, data, state=fit.state)`` continues exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import OptionError
from .calls import symbp_errors
from .fit import Fit

#: Without validation, the compiled loop is called this many times at most.
CHUNKS = 100


def _check_patience(patience: Any, validation: Any) -> int | None:
    if patience is None:
        return None
    if validation is None:
        raise OptionError("patience= needs validation= (the data whose loss it watches)")
    if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
        raise OptionError(f"patience must be a positive integer, got {patience!r}")
    return patience


def fit_in_chunks(
    trainer: Any,
    params: Mapping[str, Any],
    data: Mapping[str, Any] | None,
    *,
    steps: int | None,
    epochs: int | None,
    batch_size: int | None,
    shuffle: bool,
    seed: int | None,
    state: Mapping[str, Any] | None,
    progress: bool,
    validation: Mapping[str, Any] | None,
    patience: int | None,
) -> Fit:
    """The same fit as one call, run in chunks (see the module docstring).

    The params, data, state and validation data are validated and packed once
    (:class:`symbp.runtime.FitRun`); each chunk runs the compiled loop from where the
    last one stopped, and each validation is one evaluation of the packed params.
    """
    patience = _check_patience(patience, validation)
    runtime, spec = trainer.runtime, trainer.spec
    with symbp_errors(runtime):
        run = runtime.FitRun(
            spec, params, data, steps, epochs, batch_size, shuffle, seed, state, trainer.hyper
        )
        if validation is not None:  # rejected before any training
            val_n, val_arrays = runtime.check_data(spec, validation)
    total, per_epoch = run.total, run.per_epoch
    chunk = per_epoch if validation is not None else max(1, -(-total // CHUNKS))
    bar = _bar(total) if progress else None
    val_losses: list[float] = []
    best: tuple[float, int, dict[str, Any]] | None = None  # (loss, step, params)
    waited = 0
    try:
        while run.done < total:
            # validation: chunks end where epochs end (a state may resume mid-epoch)
            offset = run.step % chunk if validation is not None else 0
            size = min(chunk - offset, total - run.done)
            with symbp_errors(runtime):
                losses = run.advance(size)
            shown = {"loss": f"{float(losses[-1]):.6g}"}
            if validation is not None and run.step % per_epoch == 0:
                val = runtime.reduced_loss(spec, run.theta, val_n, val_arrays)
                val_losses.append(val)
                shown["val_loss"] = f"{val:.6g}"
                if not np.isnan(val) and (best is None or val < best[0]):  # nan: never better
                    best, waited = (val, run.step, run.params), 0
                else:
                    waited += 1
            if bar is not None:
                bar.update(size)
                bar.set_postfix(**shown)
            if patience is not None and waited >= patience:
                break
    finally:
        if bar is not None:
            bar.close()
    fit: Fit = run.result(Fit)
    if validation is None:
        return fit
    restore = patience is not None and best is not None and best[1] != run.step
    return fit._replace(
        params=best[2] if restore else fit.params,  # type: ignore[index]
        val_losses=np.array(val_losses),
        best_step=None if best is None else best[1],
        last_params=dict(fit.params),
    )


def _bar(total: int) -> Any:
    try:
        from tqdm.auto import tqdm
    except ImportError:
        raise OptionError("progress=True needs tqdm: pip install 'symbp[progress]'") from None
    return tqdm(total=total, unit="step")
