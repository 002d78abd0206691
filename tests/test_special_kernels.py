"""Special functions inside compiled kernels, at both levels, against SciPy."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from conftest import load_example

import symbp
from symbp.testing import central_difference

special = pytest.importorskip("scipy.special")
w = sp.Symbol("w")
v = sp.Symbol("v")


@pytest.mark.parametrize("order", [0, 1, 2, 3])
def test_polygamma_in_a_scalar_kernel(order, rng):
    model = symbp.Model(sp.polygamma(order, w * v), params=[w], inputs=[v], name=f"pg{order}")
    trainer = model.compile()
    xs = np.concatenate([rng.uniform(0.05, 30, 40), -rng.uniform(0.1, 9.9, 20) - 0.5])
    for value in xs[:: len(xs) // 12]:
        one = {"v": np.array([value])}
        assert trainer.loss({"w": 1.0}, one) == pytest.approx(
            float(special.polygamma(order, value)), rel=1e-12
        )
        slope = float(special.polygamma(order + 1, value)) * value  # d/dw at w = 1
        assert trainer.grad({"w": 1.0}, one)["w"] == pytest.approx(slope, rel=1e-11)


def test_loggamma_and_beta_elementwise_at_matrix_level(rng):
    x = sp.MatrixSymbol("x", 1, 5)
    W = sp.MatrixSymbol("W", 5, 5)
    z = (x * W).applyfunc(lambda u: sp.loggamma(u**2 + 1) + sp.beta(u**2 + 0.5, 2))
    model = symbp.Model(z * sp.OneMatrix(5, 1), params=[W], inputs=[x], name="special_matrix")
    trainer = model.compile()
    data = {"x": rng.normal(size=(7, 5))}
    params = {"W": rng.normal(size=(5, 5))}
    zz = data["x"] @ params["W"]
    expected = (special.gammaln(zz**2 + 1) + special.beta(zz**2 + 0.5, 2)).sum(axis=1).mean()
    assert trainer.loss(params, data) == pytest.approx(expected, rel=1e-12)
    numeric = central_difference(lambda p: trainer.loss(p, data), params)
    np.testing.assert_allclose(trainer.grad(params, data)["W"], numeric["W"], rtol=1e-6)


@pytest.mark.parametrize("dtype, rtol", [("float64", 1e-12), ("float32", 1e-5)])
def test_student_t_example_matches_scipy(dtype, rtol, rng):
    example = load_example("student_t")
    trainer = example.model.compile(symbp.optim.Adam(lr=0.05), dtype=dtype)
    data = example.dataset(200)
    for _ in range(3):
        params = {
            "a": float(rng.normal()),
            "b": float(rng.normal()),
            "log_s": float(rng.normal() * 0.5),
            "log_nu": float(rng.uniform(-1, 3)),
        }
        assert trainer.loss(params, data) == pytest.approx(
            example.scipy_nll(params, data), rel=rtol
        )
    if dtype == "float64":
        numeric = central_difference(lambda p: trainer.loss(p, data), params)
        grads = trainer.grad(params, data)
        for name in params:
            assert grads[name] == pytest.approx(numeric[name], rel=1e-6, abs=1e-9)
        fit = trainer.fit(
            {"a": 0.0, "b": 0.0, "log_s": 0.0, "log_nu": np.log(10.0)}, data, steps=1500
        )
        assert np.exp(fit.params["log_nu"]) == pytest.approx(example.TRUTH["nu"], rel=0.5)
        assert fit.params["b"] == pytest.approx(example.TRUTH["b"], abs=0.1)
