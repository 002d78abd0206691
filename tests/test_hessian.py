"""Second derivatives against sympy.hessian, central differences of the gradient, and JAX."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

import symbp
from symbp import nn

u, v, x = sp.symbols("u v x", real=True)
SCALAR = sp.sin(u * x) * v**2 + sp.exp(u * v) / (1 + x**2) + sp.log(1 + u**2 + v**2 * x)


def test_closed_form_hessian_is_sympys():
    model = symbp.Model(SCALAR, params=[u, v], inputs=[x], name="hess_scalar")
    ours = model.hessian()
    assert ours.shape == (2, 2)
    reference = sp.hessian(SCALAR, (u, v))
    at = {u: 0.7, v: -0.4, x: 1.3}
    np.testing.assert_allclose(
        np.array(ours.subs(at), dtype=float), np.array(reference.subs(at), dtype=float), rtol=1e-12
    )


def test_dense_hessian_over_data_is_the_mean_of_sympys(rng):
    model = symbp.Model(SCALAR, params=[u, v], inputs=[x], name="hess_scalar")
    trainer = model.compile()
    xs = rng.normal(size=9)
    params = {"u": 0.3, "v": 0.8}
    expected = np.mean(
        [
            np.array(sp.hessian(SCALAR, (u, v)).subs({u: 0.3, v: 0.8, x: xi}), dtype=float)
            for xi in xs
        ],
        axis=0,
    )
    np.testing.assert_allclose(trainer.hessian(params, {"x": xs}), expected, rtol=1e-12)
    hv = trainer.hessp(params, {"u": 1.0, "v": -2.0}, {"x": xs})
    np.testing.assert_allclose([hv["u"], hv["v"]], expected @ [1.0, -2.0], rtol=1e-12)


def digits_like() -> symbp.Model:
    xs, t = sp.MatrixSymbol("x", 1, 8), sp.MatrixSymbol("t", 1, 3)
    W1, b1 = sp.MatrixSymbol("W1", 8, 16), sp.MatrixSymbol("b1", 1, 16)
    W2, b2 = sp.MatrixSymbol("W2", 16, 3), sp.MatrixSymbol("b2", 1, 3)
    z = nn.dense(nn.dense(xs, W1, b1, sp.tanh), W2, b2)
    return symbp.Model(nn.softmax_cross_entropy(z, t), params=[W1, b1, W2, b2], inputs=[xs],
                       targets=[t], name="hess_mlp")  # fmt: skip


def mlp_point(rng):
    params = {
        "W1": rng.normal(size=(8, 16)) * 0.5,
        "b1": rng.normal(size=(1, 16)) * 0.1,
        "W2": rng.normal(size=(16, 3)) * 0.5,
        "b2": rng.normal(size=(1, 3)) * 0.1,
    }
    data = {"x": rng.normal(size=(50, 8)), "t": np.eye(3)[rng.integers(0, 3, 50)]}
    direction = {k: rng.normal(size=value.shape) for k, value in params.items()}
    return params, data, direction  # fmt: skip


def test_matrix_level_hessp_matches_central_differences_of_the_gradient(rng):
    model = digits_like()
    assert model.matrix
    trainer = model.compile()
    params, data, direction = mlp_point(rng)
    hv = trainer.hessp(params, direction, data)
    h = 1e-5
    up = trainer.grad({k: params[k] + h * direction[k] for k in params}, data)
    down = trainer.grad({k: params[k] - h * direction[k] for k in params}, data)
    for name in params:
        numeric = (up[name] - down[name]) / (2 * h)
        np.testing.assert_allclose(hv[name], numeric, rtol=1e-6, atol=1e-8 * np.abs(numeric).max())
    # the matrix-level product never unrolls: a few dozen matrix statements
    assert len(model.hvp_program.statements) < 80


def test_matrix_level_hessian_matches_jax(rng):
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    model = digits_like()
    trainer = model.compile()
    params, data, _ = mlp_point(rng)
    names = ["W1", "b1", "W2", "b2"]
    sizes = [params[k].size for k in names]

    def loss(flat):
        parts = jnp.split(flat, np.cumsum(sizes)[:-1])
        p = {k: part.reshape(params[k].shape) for k, part in zip(names, parts, strict=True)}
        z = jnp.tanh(data["x"] @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"]
        return jnp.mean(jax.nn.logsumexp(z, axis=1) - jnp.sum(data["t"] * z, axis=1))

    flat = np.concatenate([params[k].ravel() for k in names])
    np.testing.assert_allclose(
        trainer.hessian(params, data), jax.hessian(loss)(flat), rtol=1e-9, atol=1e-12
    )


def test_hessian_limits_and_errors():
    model = digits_like()
    with pytest.raises(symbp.OptionError, match="scalar-level"):
        model.hessian()
    big = sp.MatrixSymbol("B", 100, 100)
    wide = symbp.Model(sp.Trace(big.T * big), params=[big], name="hess_big", level="matrix")
    trainer = wide.compile()
    with pytest.raises(symbp.OptionError, match="hessp"):
        trainer.hessian({"B": np.zeros((100, 100))})
    assert "hessian_module" not in trainer.__dict__  # refused before generating
    w, b, x = sp.symbols("w b x")
    line = symbp.Model((w * x + b) ** 2, params=[w, b], inputs=[x], name="hess_errors")
    trainer = line.compile()
    with pytest.raises(symbp.DataError, match=r"direction 'w' has shape \(2,\)"):
        trainer.hessp({"w": 1.0, "b": 0.0}, {"w": [1.0, 2.0], "b": 0.0}, {"x": np.ones(3)})
    with pytest.raises(symbp.DataError, match=r"directions: missing \['b'\]"):
        trainer.hessp({"w": 1.0, "b": 0.0}, {"w": 1.0}, {"x": np.ones(3)})
    wide_trainer = wide.compile()
    with pytest.raises(symbp.OptionError, match="hessp"):
        wide_trainer.minimize({"B": np.ones((100, 100))}, method="trust-exact")
    assert "hessian_module" not in wide_trainer.__dict__
