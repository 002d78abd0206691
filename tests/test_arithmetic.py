"""One arithmetic model in every kernel: IEEE results, never a Python exception."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

import symbp
from symbp import optim

w = sp.Symbol("w")

CASES = [
    # loss, w, expected loss, expected gradient
    (1 / w, 0.0, np.inf, -np.inf),
    (w**-2, 0.0, np.inf, -np.inf),
    (sp.exp(1 / w), 0.0, np.inf, -np.inf),
    (sp.log(w), -1.0, np.nan, -1.0),
    (sp.log(w), 0.0, -np.inf, np.inf),
    (sp.sqrt(w), -1.0, np.nan, np.nan),
    (sp.acos(w), 2.0, np.nan, np.nan),
    (sp.gamma(w), 0.0, np.inf, -np.inf),  # gamma' = gamma * digamma = inf * -inf
    (sp.loggamma(w), -0.5, np.nan, 2 - 0.5772156649015329 - 2 * np.log(2)),  # psi(-1/2)
]


def same(value: float, expected: float) -> bool:
    if np.isnan(expected) or np.isinf(expected):
        return bool(np.isnan(expected) and np.isnan(value)) or value == expected
    return value == pytest.approx(expected, rel=1e-14)


@pytest.mark.parametrize("loss, at, value, slope", CASES, ids=[str(c[0]) for c in CASES])
def test_scalar_kernels_follow_ieee(loss, at, value, slope):
    trainer = symbp.Model(loss, params=[w], name="ieee").compile()
    assert same(trainer.loss({"w": at}), value)
    assert same(trainer.grad({"w": at})["w"], slope)


def test_matrix_kernels_follow_ieee():
    x = sp.MatrixSymbol("x", 1, 3)
    W = sp.MatrixSymbol("W", 3, 3)
    z = x * W
    loss = (z.applyfunc(lambda u: 1 / u) * sp.OneMatrix(3, 1)) + (
        z.applyfunc(sp.log) * sp.OneMatrix(3, 1)
    )
    trainer = symbp.Model(loss, params=[W], inputs=[x], name="ieee_matrix").compile()
    data = {"x": np.array([[1.0, 0.0, 0.0]])}
    params = {"W": np.zeros((3, 3))}
    params["W"][0] = [0.0, -1.0, 2.0]  # z = (0, -1, 2): 1/0 = inf, log(-1) = nan
    assert np.isnan(trainer.loss(params, data))
    grad = trainer.grad(params, data)["W"]
    # d/dz (1/z + log z) = -1/z^2 + 1/z: -inf + inf at 0, -2 at -1, 0.25 at 2
    assert np.isnan(grad[0, 0]) and grad[0, 1] == -2.0 and grad[0, 2] == 0.25


def test_training_with_a_division_by_zero_stops_clearly():
    trainer = symbp.Model(1 / w + w**2, params=[w], name="ieee_fit").compile(optim.SGD(lr=0.5))
    with pytest.raises(symbp.DivergenceError, match="batch loss is inf"):
        trainer.fit({"w": 0.0}, steps=3)
