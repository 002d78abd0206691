"""Every optimizer on seed 001's network: the full-data loss against the step, as a plot.

Needs only ``pip install -e .`` (its figure needs the ``plot`` extra,
``pip install -e ".[plot]"``). Run from the repository root: ``python examples/optimizers.py``.

Seed 001's 2-3-1 network (same data, same initial weights, minibatches of 8, float32)
trained for 3000 steps by each optimizer of ``symbp.optim``. The full-data loss is
measured every 10 steps by resuming the fit (``state=``), which continues exactly where
the previous piece stopped, and plotted on a log scale into
``examples/output/optimizers.png``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from seed_001 import BATCH, STEPS, W1_0, W2_0, dataset, model

from symbp import optim

OUTPUT = Path(__file__).resolve().parent / "output" / "optimizers.png"
EVERY = 10

#: label -> optimizer; the learning rates are each method's usual starting point.
OPTIMIZERS = {
    "SGD (lr 0.001)": optim.SGD(lr=0.001),
    "SGD + momentum 0.9": optim.SGD(lr=0.001, momentum=0.9),
    "Adagrad (lr 0.01)": optim.Adagrad(lr=0.01),
    "RMSprop (lr 0.001)": optim.RMSprop(lr=0.001),
    "Adam (lr 0.001)": optim.Adam(lr=0.001),
    "AdamW (lr 0.001, decay 0.01)": optim.AdamW(lr=0.001),
    "Rprop (defaults)": optim.Rprop(),
}


def loss_curve(optimizer: optim.Optimizer, steps: int = STEPS) -> tuple[np.ndarray, np.ndarray]:
    """(steps taken, full-data loss after them), starting with step 0 = no update."""
    trainer = model.compile(optimizer, dtype="float32")
    data = dataset()
    params, state = {"W1": W1_0, "W2": W2_0}, None
    taken, losses = [0], [trainer.loss(params, data)]
    while taken[-1] < steps:
        fit = trainer.fit(params, data, steps=EVERY, batch_size=BATCH, state=state)
        params, state = fit.params, fit.state
        taken.append(fit.steps)
        losses.append(trainer.loss(params, data))
    return np.array(taken), np.array(losses)


def least_squares_loss() -> float:
    """The network computes x (W1 W2), a linear map, so its best loss is least squares."""
    data = dataset()
    _, residual, _, _ = np.linalg.lstsq(data["x"], data["y"], rcond=None)
    return float(residual[0] / len(data["y"]))


def plot(curves: dict[str, tuple[np.ndarray, np.ndarray]], path: Path = OUTPUT) -> Path | None:
    """Write the loss-vs-step figure; ``None`` when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    best = least_squares_loss()
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5.5), dpi=110)
    for k, (label, (steps, losses)) in enumerate(curves.items()):
        style = {"label": label, "linewidth": 1.6, "linestyle": "--" if k % 2 else "-"}
        left.plot(steps, losses, **style)
        # float32 losses can land a hair below the exact minimum; keep them on the plot
        right.plot(steps[1:], np.maximum(losses[1:] - best, 1e-7), **style)
    left.set_yscale("log")
    left.set_xlabel("step (minibatch of 8)")
    left.set_ylabel("mean squared error on all 32 samples")
    left.set_title("loss")
    left.axhline(best, color="black", linewidth=0.8, linestyle=":", label="least-squares minimum")
    left.legend(loc="upper right")
    right.set_xscale("log")
    right.set_yscale("log")
    right.set_xlabel("step (log scale)")
    right.set_ylabel(f"loss minus the least-squares minimum {best:.6f}")
    right.set_title("distance to the best this network can do")
    for ax in (left, right):
        ax.grid(True, which="both", alpha=0.3)
    fig.suptitle("Seed 001's 2-3-1 network in float32: one model, every optimizer")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def main() -> None:
    curves = {label: loss_curve(opt) for label, opt in OPTIMIZERS.items()}
    width = max(len(label) for label in curves)
    print(f"{'optimizer':<{width}}  " + "".join(f"{s:>10}" for s in (0, 500, 1000, 2000, STEPS)))
    for label, (steps, losses) in curves.items():
        picks = [losses[np.searchsorted(steps, s)] for s in (0, 500, 1000, 2000, STEPS)]
        print(f"{label:<{width}}  " + "".join(f"{v:>10.6f}" for v in picks))
    path = plot(curves)
    if path is None:
        print('matplotlib is not installed (pip install -e ".[plot]"); no plot written')
    else:
        print(f"wrote {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")


if __name__ == "__main__":
    main()
