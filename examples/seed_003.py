"""Seed 003: the learning rate, and an exponentially decaying learning rate.

Needs only ``pip install -e .`` (its figure needs the ``plot`` extra,
``pip install -e ".[plot]"``). Run from the repository root: ``python examples/seed_003.py``.

Part 1 is seed 000's problem in graph-mode TensorFlow, printing the loss *after* each
update. Part 2 is the course's exponential decay: lr = 0.1 * 0.99 ** (step / 1), 40
steps from w = 5 (w: 5 -> 3.8 -> 2.8496 -> 2.0950014 ... -> -0.9957311 after 40 steps).
Part 1 runs in float32 like the course's program; the decay numbers the course prints
(2.0950014, -0.9957311) are float64 values (float32 gives 2.0950012 and -0.9957312),
so part 2 runs in float64.
"""

from __future__ import annotations

import sympy as sp
from _shared import ROOT, build_all

import symbp
from symbp import optim, schedules

w = sp.Symbol("w")
model = symbp.Model((w + 1) ** 2, params=[w], name="seed_003")
DECAY = schedules.ExponentialDecay(lr=0.1, decay_rate=0.99, decay_steps=1)
MODULES = {
    "seed_003": (model, optim.SGD(lr=0.2), "float32"),
    "seed_003_decay": (model, optim.SGD(lr=DECAY), "float64"),
}


def run(kernels, steps: int = 40, w0: float = 5.0) -> list[tuple[float, float]]:
    """(w after each update, loss at that w) for every step."""
    params, state, rows = {"w": w0}, None, []
    for _ in range(steps):
        fit = kernels.fit(params, steps=1, state=state)
        params, state = fit.params, fit.state
        rows.append((params["w"], kernels.loss(params)))
    return rows


def trace(kernels) -> list[str]:
    """The seed's printed lines: ``After i steps,W is ... ,loss is ...``."""
    fmt = "After %d steps,W is %f ,loss is %f"  # the seed's own format
    return [fmt % (i, w_, l_) for i, (w_, l_) in enumerate(run(kernels))]


def main() -> None:
    kernels = build_all("seed_003.py", MODULES)
    print("Part 1: constant learning rate 0.2 (generated/seed_003.py)")
    for line in trace(kernels["seed_003"]):
        print(line)
    print("Part 2: exponential decay lr = 0.1 * 0.99 ** (step / 1) (generated/seed_003_decay.py)")
    for i, (w_, l_) in enumerate(run(kernels["seed_003_decay"])):
        print(f"After {i} steps: learning rate {DECAY(i):.6f}, w is {w_:.7f}, loss is {l_:f}")

    try:
        from symbp import plot
    except ImportError:
        return
    curves = {}
    for lr in (0.001, 0.2, 0.999):
        fit = model.compile(optim.SGD(lr=lr), "float32").fit({"w": 5.0}, steps=40)
        curves[f"lr = {lr}"] = fit.losses
    fit = model.compile(optim.SGD(lr=DECAY), "float64").fit({"w": 5.0}, steps=40)
    curves["lr = 0.1 * 0.99^t (exponential decay)"] = fit.losses
    try:
        ax = plot.compare(curves, title="loss (w + 1)^2 from w = 5: loss before each step")
    except symbp.OptionError:  # matplotlib is not installed (the optional plot extra)
        return
    ax.set_ylim(top=2e3)
    ax.text(
        20,
        150,
        "lr = 0.001 crawls and lr = 0.999 oscillates: both stay near 36",
        ha="center",
        fontsize=9,
    )
    out = plot.save(ax, ROOT / "examples" / "output" / "seed_003_learning_rates.png")
    print(f"plot: {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
