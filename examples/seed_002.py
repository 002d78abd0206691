"""Seed 002: linear regression by gradient descent, y = 3x + 0.8 (PyTorch in the seed).

Needs only ``pip install -e .`` (its two figures need the ``plot`` extra,
``pip install -e ".[plot]"``). Run from the repository root: ``python examples/seed_002.py``.

50 samples x in [0, 1), y = 3x + 0.8, w and b random in [0, 1), mean squared error,
3000 full-batch steps of plain gradient descent at 0.01, loss printed every 500 steps.
With the ``plot`` extra the script also saves the data with the fitted line and the
computational graph with its adjoints.
"""

from __future__ import annotations

import numpy as np
import sympy as sp
from _shared import ROOT, build_all

import symbp
from symbp import optim

w, b, x, y = sp.symbols("w b x y")
model = symbp.Model((w * x + b - y) ** 2, params=[w, b], inputs=[x], targets=[y], name="seed_002")
MODULES = {"seed_002": (model, optim.SGD(lr=0.01), "float64")}
STEPS, EVERY = 3000, 500


def problem(seed: int = 2) -> tuple[dict, dict]:
    """The seed's data and random start (NumPy's generator standing in for torch.rand)."""
    rng = np.random.default_rng(seed)
    xs = rng.random(50)
    w0, b0 = rng.random(2)
    return {"w": w0, "b": b0}, {"x": xs, "y": 3 * xs + 0.8}


def train(kernels) -> tuple[dict, list[tuple[int, float]]]:
    """Train, returning the final params and (step, loss) every 500 steps."""
    params, data = problem()
    fit = kernels.fit(params, data, steps=STEPS)
    return fit.params, [(i, float(fit.losses[i])) for i in range(0, STEPS, EVERY)]


def main() -> None:
    kernels = build_all("seed_002.py", MODULES)["seed_002"]
    params, trace = train(kernels)
    for step, loss in trace:
        print(step, f"{loss:.6f}")
    print(f"w {params['w']:.6f}  b {params['b']:.6f}   (data: y = 3x + 0.8)")
    try:
        from symbp import plot

        _, data = problem()
        ax = plot.fitted_line(
            data["x"],
            data["y"],
            lambda x_: params["w"] * x_ + params["b"],
            title=f"y = 3x + 0.8 fitted: w = {params['w']:.4f}, b = {params['b']:.4f}",
        )
        out = plot.save(ax, ROOT / "examples" / "output" / "seed_002.png")
        print(f"plot: {out.relative_to(ROOT)}")
        values = {"w": params["w"], "b": params["b"], "x": data["x"][0], "y": data["y"][0]}
        out = plot.save(
            plot.graph(model, values), ROOT / "examples" / "output" / "seed_002_graph.png"
        )
        print(f"plot: {out.relative_to(ROOT)}")
    except symbp.OptionError:  # matplotlib is not installed (the optional plot extra)
        return


if __name__ == "__main__":
    main()
