"""Models that read entries of matrix expressions stay at matrix level (issue: mixed levels).

The reference network is micrograd's demo: 2-16-16-1 ReLU, hinge loss, L2 penalty. Written
the obvious way (``sp.Max(0, 1 - y*s[0, 0])`` and ``sum(W[i, j]**2)``) it used to unroll
into ~3,700 straight-line statements and crash Numba; it must give the same losses as the
``nn.relu`` / ``Trace`` form.
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

import symbp
from symbp import nn, optim
from symbp.testing import central_difference

x = sp.MatrixSymbol("x", 1, 2)
y = sp.Symbol("y")
W1, b1 = sp.MatrixSymbol("W1", 2, 16), sp.MatrixSymbol("b1", 1, 16)
W2, b2 = sp.MatrixSymbol("W2", 16, 16), sp.MatrixSymbol("b2", 1, 16)
W3, b3 = sp.MatrixSymbol("W3", 16, 1), sp.MatrixSymbol("b3", 1, 1)
PARAMS = [W1, b1, W2, b2, W3, b3]
ALPHA = 1e-4


def hinge_models() -> tuple[symbp.Model, symbp.Model]:
    h2 = nn.relu(nn.relu(x * W1 + b1) * W2 + b2)
    s = h2 * W3 + b3
    by_entry = sum(
        P[i, j] ** 2 for P in PARAMS for i in range(P.shape[0]) for j in range(P.shape[1])
    )
    indexed = sp.Max(0, 1 - y * s[0, 0]) + ALPHA * by_entry
    penalty = sum(sp.Trace(P.T * P) for P in PARAMS)
    matrix = nn.relu(sp.OneMatrix(1, 1) - y * s) + ALPHA * penalty * sp.OneMatrix(1, 1)
    kw = dict(params=PARAMS, inputs=[x], targets=[y])
    return symbp.Model(indexed, **kw, name="hinge_indexed"), symbp.Model(matrix, **kw, name="hinge")


@pytest.fixture(scope="module")
def hinge():
    return hinge_models()


def moons(rng: np.random.Generator, n: int = 60) -> dict[str, np.ndarray]:
    X = rng.normal(size=(n, 2))
    return {"x": X, "y": np.where(X[:, 0] * X[:, 1] + 0.1 > 0, 1.0, -1.0)}


def init(rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {P.name: rng.normal(size=P.shape) * 0.5 for P in PARAMS}


def test_indexed_hinge_network_stays_at_matrix_level(hinge):
    indexed, _ = hinge
    assert indexed.matrix
    # the penalty over every entry became elementwise sums: no step per weight
    assert len(indexed.derivation.forward) < 40 and len(indexed.kernel_derivation.adjoint) < 40
    text = indexed.module_source(optim.SGD(lr=0.05)).text
    assert len(text.splitlines()) < 1500  # it was ~3,700 lines of straight-line code


def test_indexed_hinge_network_trains_like_the_matrix_form(hinge, rng):
    indexed, matrix = hinge
    data, params = moons(rng), init(rng)
    a = indexed.compile(optim.SGD(lr=0.05)).fit(params, data, steps=20)
    b = matrix.compile(optim.SGD(lr=0.05)).fit(params, data, steps=20)
    np.testing.assert_allclose(a.losses, b.losses, rtol=1e-12, atol=0)
    for P in PARAMS:
        np.testing.assert_allclose(a.params[P.name], b.params[P.name], rtol=1e-12, atol=1e-15)


def test_indexed_hinge_gradient_matches_finite_differences(hinge, rng):
    indexed, _ = hinge
    trainer = indexed.compile()
    data, params = moons(rng, 8), init(rng)
    grad = trainer.grad(params, data)
    numeric = central_difference(lambda p: trainer.loss(p, data), params)
    for P in PARAMS:  # ReLU kinks: the random points are off them almost surely
        np.testing.assert_allclose(grad[P.name], numeric[P.name], rtol=1e-6, atol=1e-8)


def test_row_entries_of_a_layer_stay_at_matrix_level(rng):
    """A softmax cross-entropy written with z[0, k]: the same as nn.softmax_cross_entropy."""
    xs, t = sp.MatrixSymbol("x", 1, 4), sp.MatrixSymbol("t", 1, 3)
    W, b = sp.MatrixSymbol("W", 4, 3), sp.MatrixSymbol("b", 1, 3)
    z = xs * W + b
    by_hand = sp.log(sum(sp.exp(z[0, k]) for k in range(3))) - sum(
        t[0, k] * z[0, k] for k in range(3)
    )
    kw = dict(params=[W, b], inputs=[xs], targets=[t], level="matrix")
    hand = symbp.Model(by_hand, **kw, name="ce_hand")
    ref = symbp.Model(nn.softmax_cross_entropy(z, t), **kw, name="ce_ref")
    assert hand.matrix
    data = {"x": rng.normal(size=(20, 4)), "t": np.eye(3)[rng.integers(0, 3, 20)]}
    params = {"W": rng.normal(size=(4, 3)), "b": rng.normal(size=(1, 3))}
    a, b_ = hand.compile(), ref.compile()
    assert a.loss(params, data) == pytest.approx(b_.loss(params, data), rel=1e-13)
    for name in params:
        np.testing.assert_allclose(
            a.grad(params, data)[name], b_.grad(params, data)[name], rtol=1e-12
        )
    # logits of 800: the log-sum-exp of the hand-written form is stabilized too
    big = {"W": params["W"] * 0, "b": np.array([[800.0, 0.0, -800.0]])}
    assert np.isfinite(a.loss(big, data)) and a.loss(big, data) == pytest.approx(b_.loss(big, data))
