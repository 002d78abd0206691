"""Seed 004: the 2-2-2 sigmoid network, one backpropagation step checked by hand.

Needs only ``pip install -e .`` (its graph figure needs the ``plot`` extra,
``pip install -e ".[plot]"``). Run from the repository root: ``python examples/seed_004.py``.

h = sigmoid(W1 x + b1), o = sigmoid(W2 h + b2), E = sum((o - t)^2) / 2, one sample,
weights from the seed (rows are output units), one SGD step at learning rate 0.5.
"""

from __future__ import annotations

import numpy as np
import sympy as sp
from _shared import ROOT, build_all

import symbp
from symbp import optim

x = sp.MatrixSymbol("x", 2, 1)
t = sp.MatrixSymbol("t", 2, 1)
W1, b1 = sp.MatrixSymbol("W1", 2, 2), sp.MatrixSymbol("b1", 2, 1)
W2, b2 = sp.MatrixSymbol("W2", 2, 2), sp.MatrixSymbol("b2", 2, 1)


def sigmoid(z: sp.Expr) -> sp.Expr:
    """The logistic function, written out as the seed writes it."""
    return 1 / (1 + sp.exp(-z))


h = (W1 * x + b1).as_explicit().applyfunc(sigmoid)
o = (W2.as_explicit() * h + b2.as_explicit()).applyfunc(sigmoid)
E = sum((o[k] - t[k, 0]) ** 2 for k in range(2)) / 2
model = symbp.Model(
    E, params=[W1, b1, W2, b2], inputs=[x], targets=[t], reduction="sum", name="seed_004"
)
MODULES = {"seed_004": (model, optim.SGD(lr=0.5), "float64")}

PARAMS = {
    "W1": np.array([[0.15, 0.20], [0.25, 0.30]]),
    "b1": np.array([[0.35], [0.35]]),
    "W2": np.array([[0.40, 0.45], [0.50, 0.55]]),
    "b2": np.array([[0.60], [0.60]]),
}
DATA = {"x": np.array([[0.05, 0.10]]), "t": np.array([[0.01, 0.99]])}


def outputs(params: dict) -> np.ndarray:
    """The network's outputs o for the seed's sample (evaluated from the SymPy model)."""
    values = {x: sp.Matrix(DATA["x"].reshape(2, 1))}
    values.update({sym: sp.Matrix(params[sym.name]) for sym in (W1, b1, W2, b2)})
    return np.array([float(o[k].subs(values).evalf(30)) for k in range(2)])


def main() -> None:
    kernels = build_all("seed_004.py", MODULES)["seed_004"]
    np.set_printoptions(precision=8, suppress=True)
    print("forward: o =", outputs(PARAMS), f" E = {kernels.loss(PARAMS, DATA):.11f}")
    for name, value in kernels.grad(PARAMS, DATA).items():
        print(f"dE/d{name} =", np.asarray(value).ravel())
    fit = kernels.fit(PARAMS, DATA, steps=1)
    print("after one SGD step at lr 0.5 (generated/seed_004.py):")
    for name, value in fit.params.items():
        print(f"  {name} =", np.asarray(value).ravel())

    out = ROOT / "examples" / "output" / "seed_004.tex"
    out.parent.mkdir(exist_ok=True)
    values = {**PARAMS, **DATA}
    out.write_text(model.latex(document=True, optimizer=optim.SGD(lr=0.5), values=values))
    print(f"derivation with every number of the worked example: {out.relative_to(ROOT)}")
    try:
        from symbp import plot

        ax = plot.graph(model, values)
    except symbp.OptionError:  # matplotlib is not installed (the optional plot extra)
        return
    out = plot.save(ax, ROOT / "examples" / "output" / "seed_004_graph.png", dpi=90)
    print(f"plot: {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
