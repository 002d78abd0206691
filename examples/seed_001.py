"""Seed 001: the course's 2-3-1 network trained by backpropagation (graph-mode TensorFlow).

Needs only ``pip install -e .``. Run from the repository root:
``python examples/seed_001.py``.

y = (x W1) W2 with no bias and no activation, mean squared error, 32 samples from
``RandomState(23455)`` labelled ``x0 + x1 < 1``, minibatches of 8 taken cyclically,
3000 steps in float32, TensorFlow's initial weights. The full-data loss is printed
after steps 0, 500, ..., 2500, as the course's program prints it, for the four
optimizers the course names: gradient descent, momentum, Adam (learning rate 0.001)
and Riedmiller's resilient backpropagation (Rprop, torch's defaults).
"""

from __future__ import annotations

import numpy as np
import sympy as sp
from _shared import build_all

import symbp
from symbp import optim

x = sp.MatrixSymbol("x", 1, 2)
W1, W2 = sp.MatrixSymbol("W1", 2, 3), sp.MatrixSymbol("W2", 3, 1)
y = sp.Symbol("y")
model = symbp.Model(
    ((x * W1 * W2)[0, 0] - y) ** 2, params=[W1, W2], inputs=[x], targets=[y], name="seed_001"
)
OPTIMIZERS = {
    "sgd": optim.SGD(lr=0.001),
    "momentum": optim.SGD(lr=0.001, momentum=0.9),
    "adam": optim.Adam(lr=0.001),
    "rprop": optim.Rprop(),
}
MODULES = {f"seed_001_{key}": (model, opt, "float32") for key, opt in OPTIMIZERS.items()}
STEPS, BATCH, EVERY = 3000, 8, 500

#: TensorFlow 1.x's tf.random_normal draws for W1 and W2 in the course's run.
W1_0 = np.array([[-0.8113182, 1.4845988, 0.06532937], [-2.4427042, 0.0992484, 0.5912243]])
W2_0 = np.array([[-0.8113182], [1.4845988], [0.06532937]])


def dataset(seed: int = 23455) -> dict[str, np.ndarray]:
    """32 points in the unit square, labelled 1 below the line x0 + x1 = 1."""
    X = np.random.RandomState(seed).rand(32, 2)
    Y = np.array([float(x0 + x1 < 1) for x0, x1 in X])
    return {"x": X, "y": Y}


def train(kernels, steps: int = STEPS) -> tuple[dict, list[tuple[int, float]]]:
    """Train like the course: report the full-data loss after steps 0, 500, ..."""
    data = dataset()
    params, state, trace = {"W1": W1_0, "W2": W2_0}, None, []
    done = 0
    for report in range(0, steps, EVERY):
        fit = kernels.fit(params, data, steps=report + 1 - done, batch_size=BATCH, state=state)
        params, state, done = fit.params, fit.state, report + 1
        trace.append((report, kernels.loss(params, data)))
    fit = kernels.fit(params, data, steps=steps - done, batch_size=BATCH, state=state)
    return fit.params, trace


def main() -> None:
    modules = build_all("seed_001.py", MODULES)
    results = {key: train(modules[f"seed_001_{key}"]) for key in OPTIMIZERS}
    print("full-data loss after step i (float32):")
    print("step  " + "".join(f"{key:>12}" for key in OPTIMIZERS))
    for row in range(len(results["sgd"][1])):
        step = results["sgd"][1][row][0]
        print(f"{step:>4}  " + "".join(f"{results[k][1][row][1]:>12.6f}" for k in OPTIMIZERS))
    np.set_printoptions(precision=8, suppress=True)
    for key, (params, _) in results.items():
        print(
            f"{key}: W1 = {params['W1'].tolist()}\n{' ' * len(key)}  W2 = {params['W2'].ravel().tolist()}"
        )


if __name__ == "__main__":
    main()
