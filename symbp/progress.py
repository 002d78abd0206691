"""``fit(..., progress=True)``: run the compiled loop in chunks under a progress bar."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import DivergenceError, OptionError

if TYPE_CHECKING:
    from .trainer import Fit, Trainer

#: The compiled loop is called this many times at most, so the bar costs ~nothing.
CHUNKS = 100


def fit_with_progress(
    trainer: Trainer,
    params: Mapping[str, Any],
    data: Mapping[str, Any] | None,
    *,
    steps: int | None,
    epochs: int | None,
    batch_size: int | None,
    shuffle: bool,
    seed: int | None,
    state: Mapping[str, Any] | None,
) -> Fit:
    """Same result as one fit (resuming is exact), shown with a tqdm bar."""
    try:
        from tqdm.auto import tqdm
    except ImportError:
        raise OptionError("progress=True needs tqdm: pip install 'symbp[progress]'") from None
    from .trainer import Fit

    module = trainer.module

    # The module's own validation decides the step count (one source of truth for
    # the epoch arithmetic and for every error message).
    def total_steps() -> int:
        n, _ = module.check_data(module._SPEC, data)
        return int(module._schedule(n, batch_size, steps, epochs)[0])

    steps = trainer._call(total_steps)
    chunk = max(1, -(-steps // CHUNKS))
    losses: list[np.ndarray] = []
    done = 0
    with tqdm(total=steps, unit="step") as bar:
        while done < steps:
            size = min(chunk, steps - done)
            try:
                result = trainer._call(
                    module.fit,
                    params,
                    data,
                    steps=size,
                    batch_size=batch_size,
                    shuffle=shuffle,
                    seed=seed,
                    state=state,
                    hyper=trainer.hyper,
                )
            except DivergenceError as err:  # keep the losses of the chunks before it
                part = err.fit
                err.fit = Fit(part.params, np.concatenate([*losses, part.losses]), part.state)
                raise
            params, state = result.params, result.state
            seed = result.state["seed"]
            losses.append(result.losses)
            done += size
            bar.update(size)
            bar.set_postfix(loss=f"{float(result.losses[-1]):.6g}")
    return Fit(dict(params), np.concatenate(losses), dict(state))  # type: ignore[arg-type]
