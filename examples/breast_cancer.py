"""Binary classifier on the Wisconsin breast-cancer data with the stable logistic loss.

Needs only ``pip install -e .``: the data ship with the project. Run from the
repository root: ``python examples/breast_cancer.py``.

The data: ``examples/data/breast_cancer.npz``, the 569 x 30 features and labels
scikit-learn's ``load_breast_cancer`` returns (sources and licence:
``examples/data/README.md``).

A 30-8-1 tanh network; the loss is ``nn.binary_cross_entropy_with_logits`` (written
``log(1 + exp(z)) - y z``), which symbp evaluates as a stable softplus with the
gradient ``sigmoid(z) - y``: finite for any logit, where the textbook
``-(y log(sigmoid(z)) + (1 - y) log(1 - sigmoid(z)))`` overflows. Features are
standardised with the training set's mean and deviation; the first 400 samples
train, the other 169 test. SGD with momentum, batches of 25, shuffled per epoch.
"""

from __future__ import annotations

import numpy as np
import sympy as sp
from _shared import build_all, load_data

import symbp
from symbp import nn, optim

x = sp.MatrixSymbol("x", 1, 30)
y = sp.Symbol("y", real=True)  # the label, 0 (malignant) or 1 (benign)
W1, b1 = sp.MatrixSymbol("W1", 30, 8), sp.MatrixSymbol("b1", 1, 8)
w2, b2 = sp.MatrixSymbol("w2", 8, 1), sp.MatrixSymbol("b2", 1, 1)
logit = nn.dense(nn.dense(x, W1, b1, sp.tanh), w2, b2)
model = symbp.Model(
    nn.binary_cross_entropy_with_logits(logit, y),
    params=[W1, b1, w2, b2],
    inputs=[x],
    targets=[y],
    name="breast_cancer",
)
MODULES = {"breast_cancer": (model, optim.SGD(lr=0.05, momentum=0.9), "float64")}


def dataset() -> tuple[dict, dict]:
    """Standardised train and test splits."""
    data = load_data("breast_cancer")  # the arrays of scikit-learn's load_breast_cancer()
    X, labels = data["features"], data["labels"].astype(float)
    mean, std = X[:400].mean(axis=0), X[:400].std(axis=0)
    X = (X - mean) / std
    return {"x": X[:400], "y": labels[:400]}, {"x": X[400:], "y": labels[400:]}


def accuracy(params: dict, split: dict) -> float:
    logits = np.tanh(split["x"] @ params["W1"] + params["b1"]) @ params["w2"] + params["b2"]
    return float(np.mean((logits[:, 0] > 0) == (split["y"] > 0.5)))


def main() -> None:
    kernels = build_all("breast_cancer.py", MODULES)["breast_cancer"]
    train, test = dataset()
    rng = np.random.RandomState(0)
    params = {
        "W1": rng.normal(size=(30, 8)) * 0.3,
        "b1": np.zeros((1, 8)),
        "w2": rng.normal(size=(8, 1)) * 0.3,
        "b2": np.zeros((1, 1)),
    }
    print(f"initial loss {kernels.loss(params, train):.4f}")
    fit = kernels.fit(params, train, epochs=30, batch_size=25, shuffle=True, seed=0)
    print(
        f"after 30 epochs: train loss {kernels.loss(fit.params, train):.4f}, "
        f"test loss {kernels.loss(fit.params, test):.4f}, "
        f"train accuracy {accuracy(fit.params, train):.2%}, "
        f"test accuracy {accuracy(fit.params, test):.2%}"
    )
    # An overconfident copy (output layer x 100, logits in the hundreds) on flipped
    # labels: the textbook formula overflows, the compiled stable loss stays exact.
    loud = {**fit.params, "w2": 100 * fit.params["w2"], "b2": 100 * fit.params["b2"]}
    flipped = {"x": train["x"][:3], "y": 1 - train["y"][:3]}
    z = (np.tanh(flipped["x"] @ loud["W1"] + loud["b1"]) @ loud["w2"] + loud["b2"])[:, 0]
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        sig = 1 / (1 + np.exp(-z))
        naive = -np.mean(flipped["y"] * np.log(sig) + (1 - flipped["y"]) * np.log(1 - sig))
    exact = np.mean(np.logaddexp(0, z) - flipped["y"] * z)
    print(
        f"logits {np.round(z, 1)}: textbook loss {naive}, "
        f"symbp {kernels.loss(loud, flipped):.4f} (exact {exact:.4f})"
    )


if __name__ == "__main__":
    main()
