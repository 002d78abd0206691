"""A 1-D convolutional classifier written with slices and blocks, at matrix level.

Needs only ``pip install -e .``. Run from the repository root:
``python examples/conv1d.py`` (about 10 s, most of it compiling).

Each sample is a noisy signal of ``L = 48`` readings holding either a smooth bump or a
sharp spike somewhere; the classifier convolves it with ``C = 4`` learnt filters of
``K = 5`` taps (channel ``c`` is ``sum_k Wc[k, c] * x[:, k:k+M]``, ``M = L - K + 1``: a
sum of slices of the input), applies ReLU, concatenates the channels side by side
(``sp.Matrix.hstack``, a BlockMatrix), and reads a logit off the concatenation:

    z = [relu(conv_1(x)) ... relu(conv_C(x))] w + c.

The slices, their adjoints (each slice's cotangent added into its window of the
input's shape) and the blocks stay matrix-level nodes, never unrolled to elements; the
LaTeX prints them as slices (``x_{:,2:45}``) and a block row.
"""

from __future__ import annotations

import argparse

import numpy as np
import sympy as sp

import symbp
from symbp import nn, optim

L, K, C = 48, 5, 4
M = L - K + 1

x = sp.MatrixSymbol("x", 1, L)  # one signal
t = sp.Symbol("t")  # its class: 1 for a spike, 0 for a bump
Wc, bc = sp.MatrixSymbol("Wc", K, C), sp.MatrixSymbol("bc", 1, C)
w, c = sp.MatrixSymbol("w", C * M, 1), sp.Symbol("c")

channels = [
    nn.relu(
        sp.MatAdd(*(Wc[k, j] * x[:, k : k + M] for k in range(K))) + bc[0, j] * sp.OneMatrix(1, M)
    )
    for j in range(C)
]
features = sp.Matrix.hstack(*channels)  # 1 x (C M): the channels side by side
logit = (features * w)[0, 0] + c
model = symbp.Model(
    nn.binary_cross_entropy_with_logits(logit, t),
    params=[Wc, bc, w, c],
    inputs=[x],
    targets=[t],
    outputs={"logit": logit},
    name="conv1d",
)


def dataset(n: int, seed: int) -> dict[str, np.ndarray]:
    """Signals with a bump (class 0) or a spike (class 1) at a random place, plus noise."""
    rng = np.random.default_rng(seed)
    grid = np.arange(L)
    where = rng.uniform(8, L - 8, (n, 1))
    spike = rng.integers(0, 2, n)
    width = np.where(spike[:, None] == 1, 1.2, 2.5)
    signal = np.exp(-0.5 * ((grid - where) / width) ** 2)
    signal += 0.35 * rng.standard_normal((n, L))
    return {"x": signal, "t": spike.astype(float)}


def initial(seed: int = 0) -> dict[str, np.ndarray | float]:
    rng = np.random.default_rng(seed)
    return {
        "Wc": rng.normal(0, 0.5, (K, C)),
        "bc": np.zeros((1, C)),
        "w": rng.normal(0, 1 / np.sqrt(C * M), (C * M, 1)),
        "c": 0.0,
    }


def main(epochs: int = 30) -> dict[str, float]:
    assert model.matrix  # slices and blocks: no element is unrolled
    forward = model.latex().split(r"\textbf{Backward")[0]
    print("\n".join(line for line in forward.splitlines() if "x_{:," in line)[:400])
    train, test = dataset(1024, seed=1), dataset(512, seed=2)
    trainer = model.compile(optimizer=optim.Adam(lr=0.01))
    fit = trainer.fit(initial(), train, epochs=epochs, batch_size=32)
    logits = trainer.predict(fit.params, {"x": test["x"]})["logit"]
    accuracy = float(np.mean((logits > 0) == (test["t"] == 1)))
    print(f"training loss: {fit.losses[0]:.4f} -> {fit.losses[-1]:.4f} ({epochs} epochs)")
    print(f"test accuracy: {accuracy:.1%} (chance: 50%)")
    return {"accuracy": accuracy}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    main(parser.parse_args().epochs)
