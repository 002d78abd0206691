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

from ..errors import DivergenceError, OptionError
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
    """The same fit as one call, run in chunks (see the module docstring)."""
    patience = _check_patience(patience, validation)
    module = trainer.module
    spec = module._SPEC

    # The module's own validation decides the step count (one source of truth for
    # the epoch arithmetic and for every error message).
    def schedule() -> tuple[int, int]:
        n, _ = module.check_data(spec, data)
        total, _, per_epoch = module._schedule(n, batch_size, steps, epochs)
        return int(total), int(per_epoch)

    total, per_epoch = trainer._call(schedule)
    size = module._layout(spec)[1]
    step = 0 if state is None else trainer._call(module._check_state, spec, state, size)[0]
    if validation is not None:
        trainer._call(module.check_data, spec, validation)  # reject bad data before training
        chunk = per_epoch
    else:
        chunk = max(1, -(-total // CHUNKS))
    bar = _bar(total) if progress else None
    losses: list[np.ndarray] = []
    val_losses: list[float] = []
    best: tuple[float, int, dict[str, Any]] | None = None  # (loss, step, params)
    waited = 0
    done = 0
    try:
        while done < total:
            # validation: chunks end where epochs end (a state may resume mid-epoch)
            size = min(chunk - (step % chunk if validation is not None else 0), total - done)
            try:
                result = trainer._call(
                    module.run_fit,
                    spec,
                    params,
                    data,
                    size,
                    None,
                    batch_size,
                    shuffle,
                    seed,
                    state,
                    trainer.hyper,
                )
            except DivergenceError as err:  # keep the losses of the chunks before it
                part = err.fit
                err.fit = Fit(part.params, np.concatenate([*losses, part.losses]), part.state)
                raise
            params, state = result.params, result.state
            seed = result.state["seed"]
            losses.append(result.losses)
            done += size
            step += size
            shown = {"loss": f"{float(result.losses[-1]):.6g}"}
            if validation is not None and step % per_epoch == 0:
                val = trainer.loss(params, validation)
                val_losses.append(val)
                shown["val_loss"] = f"{val:.6g}"
                if not np.isnan(val) and (best is None or val < best[0]):  # nan: never better
                    best, waited = (val, step, dict(params)), 0
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
    all_losses = np.concatenate(losses) if losses else np.empty(0)
    if validation is None:
        return Fit(dict(params), all_losses, dict(state))  # type: ignore[arg-type]
    restore = patience is not None and best is not None and best[1] != step
    return Fit(
        best[2] if restore else dict(params),  # type: ignore[index]
        all_losses,
        dict(state),  # type: ignore[arg-type]
        val_losses=np.array(val_losses),
        best_step=None if best is None else best[1],
        last_params=dict(params),
    )


def _bar(total: int) -> Any:
    try:
        from tqdm.auto import tqdm
    except ImportError:
        raise OptionError("progress=True needs tqdm: pip install 'symbp[progress]'") from None
    return tqdm(total=total, unit="step")
