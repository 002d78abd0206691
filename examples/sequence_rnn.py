"""A recurrent network predicting the next value of a noisy sine wave, with ``nn.scan``.

Needs only ``pip install -e .``. Run from the repository root:
``python examples/sequence_rnn.py`` (about 15 s, most of it compiling).

Each sample is a sequence of ``T = 40`` readings ``x_t = sin(w t + phi) + noise`` with
its own frequency and phase; at every step the network predicts the next reading:

    h_t = tanh(x_t W_x + h_{t-1} W_h + b),   y_hat_t = h_t W_y + c,

and the loss is the mean squared error over the steps. The recurrence is one
``nn.scan`` node: symbp derives its step once and backpropagation through time as a
loop (printed below as the textbook equations), and the kernels loop over ``t``, so the
build time does not grow with ``T``. The gradient is checked against central
differences before training; the trained network is compared with the naive forecast
``y_hat_t = x_t``.
"""

from __future__ import annotations

import argparse

import numpy as np
import sympy as sp

import symbp
from symbp import nn, optim
from symbp.testing import central_difference

T, H = 40, 16

X = sp.MatrixSymbol("X", T, 1)  # one sequence of readings
Y = sp.MatrixSymbol("Y", T, 1)  # the next reading at every step
Wx, Wh, b = sp.MatrixSymbol("Wx", 1, H), sp.MatrixSymbol("Wh", H, H), sp.MatrixSymbol("b", 1, H)
Wy, c = sp.MatrixSymbol("Wy", H, 1), sp.MatrixSymbol("c", 1, 1)

states = nn.scan(lambda h, x: nn.tanh(x * Wx + h * Wh + b), sp.ZeroMatrix(1, H), X, return_all=True)
prediction = states * Wy + sp.OneMatrix(T, 1) * c  # T x 1: one forecast per step
model = symbp.Model(
    nn.mse(prediction, Y),
    params=[Wx, Wh, b, Wy, c],
    inputs=[X],
    targets=[Y],
    outputs={"forecast": prediction},
    name="sine_rnn",
)


def dataset(n: int, seed: int) -> dict[str, np.ndarray]:
    """``n`` noisy sine waves of T + 1 readings: inputs the first T, targets the last T."""
    rng = np.random.default_rng(seed)
    t = np.arange(T + 1)
    w = rng.uniform(0.15, 0.45, (n, 1))
    phase = rng.uniform(0, 2 * np.pi, (n, 1))
    wave = np.sin(w * t + phase) + 0.05 * rng.standard_normal((n, T + 1))
    return {"X": wave[:, :T, None], "Y": wave[:, 1:, None]}


def initial(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    scale = 1 / np.sqrt(H)
    return {
        "Wx": rng.uniform(-scale, scale, (1, H)),
        "Wh": rng.uniform(-scale, scale, (H, H)),
        "b": np.zeros((1, H)),
        "Wy": rng.uniform(-scale, scale, (H, 1)),
        "c": np.zeros((1, 1)),
    }


def main(epochs: int = 60) -> dict[str, float]:
    print(model.latex().split(r"\textbf{Recurrence")[1].split(r"\end{aligned}")[0])
    train, test = dataset(512, seed=1), dataset(256, seed=2)
    trainer = model.compile(optimizer=optim.Adam(lr=0.01))
    start = initial()

    small = {k: v[:4] for k, v in train.items()}
    numeric = central_difference(lambda p: trainer.loss(p, small), start)
    exact = trainer.grad(start, small)
    error = max(float(np.max(np.abs(exact[k] - numeric[k]))) for k in start)
    print(f"gradient vs central differences: max abs difference {error:.1e}")

    fit = trainer.fit(start, train, epochs=epochs, batch_size=32)
    forecast = trainer.predict(fit.params, {"X": test["X"]})["forecast"].reshape(-1, T, 1)
    mse = float(np.mean((forecast - test["Y"]) ** 2))
    naive = float(np.mean((test["X"] - test["Y"]) ** 2))
    print(f"training loss: {fit.losses[0]:.4f} -> {fit.losses[-1]:.4f} ({epochs} epochs)")
    print(f"test MSE of the next reading: RNN {mse:.4f}, naive forecast x_t {naive:.4f}")
    return {"gradient_error": error, "mse": mse, "naive": naive}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=60)
    main(parser.parse_args().epochs)
