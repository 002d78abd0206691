"""Jacobians of outputs and residuals against central differences and JAX, at both levels;
their structural zeros; the generated modules' residuals and jacobian."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

import symbp
from symbp import nn


def central(f, flat, h=1e-6):
    """Central differences of ``f`` (flat params -> array) by every flat parameter."""
    columns = []
    for k in range(flat.size):
        step = np.zeros_like(flat)
        step[k] = h * max(1.0, abs(flat[k]))
        columns.append((f(flat + step) - f(flat - step)) / (2 * step[k]))
    return np.stack(columns, axis=-1)


def mlp(level):
    x = sp.MatrixSymbol("x", 1, 3)
    W1, b1 = sp.MatrixSymbol("W1", 3, 5), sp.MatrixSymbol("b1", 1, 5)
    W2, b2 = sp.MatrixSymbol("W2", 5, 2), sp.MatrixSymbol("b2", 1, 2)
    t = sp.MatrixSymbol("t", 1, 2)
    z = nn.dense(nn.dense(x, W1, b1, sp.tanh), W2, b2)
    model = symbp.Model(nn.mse(z, t), params=[W1, b1, W2, b2], inputs=[x], targets=[t],
                        outputs={"z": z, "first": z[0, 0] ** 2}, level=level,
                        name=f"jac_mlp_{level}")  # fmt: skip
    rng = np.random.default_rng(1)
    params = {"W1": rng.normal(size=(3, 5)), "b1": rng.normal(size=(1, 5)) * 0.1,
              "W2": rng.normal(size=(5, 2)), "b2": rng.normal(size=(1, 2)) * 0.1}  # fmt: skip
    data = {"x": rng.normal(size=(7, 3)), "t": rng.normal(size=(7, 2))}
    return model, params, data


def flatten(params):
    return np.concatenate([np.ravel(params[k]) for k in ("W1", "b1", "W2", "b2")])


def unflatten(flat, like):
    result, k = {}, 0
    for name in ("W1", "b1", "W2", "b2"):
        size = np.size(like[name])
        result[name] = flat[k : k + size].reshape(np.shape(like[name]))
        k += size
    return result


@pytest.mark.parametrize("level", ["scalar", "matrix"])
def test_jacobians_equal_central_differences(level):
    model, params, data = mlp(level)
    assert model.matrix == (level == "matrix")
    trainer = model.compile()
    flat = flatten(params)
    for output, shape in (("z", (1, 2)), ("first", ())):
        jac = trainer.jacobian(params, data, output=output)
        assert jac.shape == (7, *shape, flat.size)

        def value(f, output=output, shape=shape):
            out = trainer.predict(unflatten(f, params), data)[output]
            return out.reshape((7, *shape))

        np.testing.assert_allclose(jac, central(value, flat), rtol=1e-6, atol=1e-8)
    # the residuals: nn.mse of 2 entries is the sum of ((z - t)/sqrt(2))**2
    jac = trainer.jacobian(params, data)
    assert jac.shape == (7, 2, flat.size)

    def residuals(f):
        return trainer.residuals(unflatten(f, params), data)

    np.testing.assert_allclose(jac, central(residuals, flat), rtol=1e-6, atol=1e-8)
    r = trainer.residuals(params, data)
    assert np.sum(r**2) / 7 == pytest.approx(trainer.loss(params, data), rel=1e-12)
    by_param = trainer.jacobian(params, data, output="z", by_param=True)
    assert by_param["W1"].shape == (7, 1, 2, 3, 5) and by_param["b2"].shape == (7, 1, 2, 1, 2)


def test_matrix_level_jacobians_are_not_unrolled_and_match_jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    model, params, data = mlp("matrix")
    program = model.pipeline.output_jacobian_program("z")
    assert len(program.statements) < 40  # whole-matrix statements, two sweeps
    trainer = model.compile()

    def z(flat):
        p = unflatten(flat, params)
        h = jnp.tanh(data["x"] @ p["W1"] + p["b1"])
        return h @ p["W2"] + p["b2"]

    reference = jax.jacfwd(z)(flatten(params))
    np.testing.assert_allclose(
        trainer.jacobian(params, data, output="z").reshape(7, 2, -1), reference, rtol=1e-10
    )


def test_sparse_jacobians_store_what_the_graph_cannot_prove_zero():
    x = sp.MatrixSymbol("x", 1, 4)
    W, b = sp.MatrixSymbol("W", 4, 3), sp.MatrixSymbol("b", 1, 3)
    t = sp.MatrixSymbol("t", 1, 3)
    model = symbp.Model(nn.mse(x * W + b, t), params=[W, b], inputs=[x], targets=[t],
                        outputs={"z": x * W + b}, level="matrix", name="jac_sparse")  # fmt: skip
    trainer = model.compile()
    rng = np.random.default_rng(2)
    params = {"W": rng.normal(size=(4, 3)), "b": rng.normal(size=(1, 3))}
    data = {"x": rng.normal(size=(5, 4)), "t": rng.normal(size=(5, 3))}
    pattern = trainer.jacobian_pattern("z")
    # output k depends on column k of W and on b[0, k] only
    expected = np.zeros((3, 15), dtype=bool)
    for k in range(3):
        expected[k, [k, 3 + k, 6 + k, 9 + k, 12 + k]] = True
    np.testing.assert_array_equal(pattern, expected)
    sparse = trainer.jacobian(params, data, output="z", sparse=True)
    dense = trainer.jacobian(params, data, output="z").reshape(15, 15)
    assert sparse.nnz == 5 * 3 * 5
    np.testing.assert_array_equal(sparse.toarray(), dense)
    np.testing.assert_array_equal(trainer.jacobian_pattern(None), expected)


def test_output_jacobian_errors():
    model, params, data = mlp("matrix")
    trainer = model.compile()
    with pytest.raises(symbp.OptionError, match="has no output 'logits'; its outputs are"):
        trainer.jacobian(params, data, output="logits")
    with pytest.raises(symbp.DataError, match="param 'W1' has shape"):
        trainer.jacobian({**params, "W1": np.zeros(3)}, data, output="z")


def test_generated_modules_carry_residuals_and_jacobian(tmp_path):
    from generated import seed_000

    assert seed_000.residuals({"w": 2.0}) == pytest.approx([3.0])
    assert seed_000.jacobian({"w": 2.0}).tolist() == [[1.0]]
    b1, b2, x, y = sp.symbols("b1 b2 x y", real=True)
    model = symbp.Model((b1 * (1 - sp.exp(-b2 * x)) - y) ** 2, params=[b1, b2], inputs=[x],
                        targets=[y], name="gen_lsq")  # fmt: skip
    path = model.generate(tmp_path / "gen_lsq.py")
    import importlib.util

    spec = importlib.util.spec_from_file_location("gen_lsq", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    data = {"x": np.array([1.0, 2.0]), "y": np.array([1.0, 3.0])}
    params = {"b1": 2.0, "b2": 0.5}
    trainer = model.compile()
    np.testing.assert_allclose(module.residuals(params, data), trainer.residuals(params, data))
    np.testing.assert_allclose(module.jacobian(params, data), trainer.jacobian(params, data))
    logistic = symbp.Model(sp.log(1 + sp.exp(-y * b1 * x)), params=[b1], inputs=[x], targets=[y],
                           name="gen_not_lsq")  # fmt: skip
    path = logistic.generate(tmp_path / "gen_not_lsq.py")
    spec = importlib.util.spec_from_file_location("gen_not_lsq", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with pytest.raises(module.InputError, match="not a sum of squares"):
        module.residuals({"b1": 1.0}, data)


def test_least_squares_hands_scipy_a_sparse_jacobian_on_large_sparse_problems():
    x = sp.MatrixSymbol("x", 1, 20)
    W, b = sp.MatrixSymbol("W", 20, 10), sp.MatrixSymbol("b", 1, 10)
    t = sp.MatrixSymbol("t", 1, 10)
    trainer = symbp.Model(nn.mse(x * W + b, t), params=[W, b], inputs=[x], targets=[t],
                          reduction="sum", level="matrix", name="lsq_sparse").compile()  # fmt: skip
    rng = np.random.default_rng(3)
    X = rng.normal(size=(200, 20))
    T = X @ rng.normal(size=(20, 10)) + rng.normal(size=(1, 10)) + 0.1 * rng.normal(size=(200, 10))
    fit = trainer.least_squares({"W": np.zeros((20, 10)), "b": np.zeros((1, 10))},
                                {"x": X, "t": T})  # fmt: skip
    assert hasattr(fit.result.jac, "toarray")  # sparse: lsmr on 2000 x 210, 10% nonzero
    design = np.column_stack([X, np.ones(200)])
    solution, *_ = np.linalg.lstsq(design, T, rcond=None)
    np.testing.assert_allclose(fit.params["W"], solution[:20], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(fit.params["b"], solution[20:], rtol=1e-5, atol=1e-7)
