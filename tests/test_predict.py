"""Outputs and predictions against a NumPy forward pass, at both levels."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

import symbp
from symbp import nn, optim

x, t = sp.MatrixSymbol("x", 1, 12), sp.MatrixSymbol("t", 1, 4)
W1, b1 = sp.MatrixSymbol("W1", 12, 16), sp.MatrixSymbol("b1", 1, 16)
W2, b2 = sp.MatrixSymbol("W2", 16, 4), sp.MatrixSymbol("b2", 1, 4)
Z = nn.dense(nn.dense(x, W1, b1, sp.tanh), W2, b2)


def numpy_forward(p, X):
    z = np.tanh(X @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"]
    return z, np.exp(z - z.max(1, keepdims=True)) / np.exp(z - z.max(1, keepdims=True)).sum(
        1, keepdims=True
    )


@pytest.fixture(scope="module")
def mlp():
    outputs = {"logits": Z, "probs": nn.softmax(Z), "second": Z[0, 1], "gram": Z.T * Z}
    model = symbp.Model(
        nn.softmax_cross_entropy(Z, t), params=[W1, b1, W2, b2], inputs=[x], targets=[t],
        outputs=outputs, name="predict_mlp",
    )  # fmt: skip
    assert model.matrix
    return model.compile(optim.SGD(lr=0.1))


def mlp_params(rng):
    return {"W1": rng.normal(size=(12, 16)) * 0.5, "b1": rng.normal(size=(1, 16)),
            "W2": rng.normal(size=(16, 4)), "b2": rng.normal(size=(1, 4))}  # fmt: skip


@pytest.mark.parametrize("n", [1, 37, 3000])  # 3000: several parts on threads
def test_matrix_level_predictions_match_numpy(mlp, rng, n):
    params, X = mlp_params(rng), rng.normal(size=(n, 12))
    out = mlp.predict(params, {"x": X, "t": np.zeros((n, 4))})  # targets are ignored
    z, probs = numpy_forward(params, X)
    assert out["logits"].shape == (n, 4) and out["second"].shape == (n,)
    assert out["gram"].shape == (n, 4, 4)
    np.testing.assert_allclose(out["logits"], z, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(out["probs"], probs, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(out["second"], z[:, 1], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(out["gram"], z[:, :, None] * z[:, None, :], rtol=1e-12, atol=1e-12)


def test_scalar_level_predictions_and_stability():
    w, b, xs, y = sp.symbols("w b xs y", real=True)
    line = w * xs + b
    model = symbp.Model(
        (line - y) ** 2, params=[w, b], inputs=[xs], targets=[y], name="predict_line",
        outputs={"yhat": line, "p": 1 / (1 + sp.exp(-line)), "both": sp.Matrix([[line, 2 * line]])},
    )  # fmt: skip
    assert not model.matrix
    out = model.compile(dtype="float32").predict(
        {"w": 2.0, "b": 1.0}, {"xs": np.array([0.0, 1.0, -500.0])}
    )
    assert out["yhat"].dtype == np.float32
    np.testing.assert_allclose(out["yhat"], [1.0, 3.0, -999.0])
    np.testing.assert_allclose(
        out["p"], [1 / (1 + np.exp(-1)), 1 / (1 + np.exp(-3)), 0.0], rtol=1e-6
    )
    assert np.all(np.isfinite(out["p"]))  # the sigmoid of -999 is stable
    np.testing.assert_allclose(out["both"], [[1, 2], [3, 6], [-999, -1998]])


def test_outputs_are_declared_like_the_loss():
    w, xs, y = sp.symbols("w xs y")
    with pytest.raises(symbp.DeclarationError, match="targets"):
        symbp.Model(
            (w * xs - y) ** 2, params=[w], inputs=[xs], targets=[y], outputs={"r": w * xs - y}
        )
    with pytest.raises(symbp.DeclarationError, match="already the name"):
        symbp.Model((w * xs - y) ** 2, params=[w], inputs=[xs], targets=[y], outputs={"w": w})
    with pytest.raises(symbp.DeclarationError, match="not declared"):
        symbp.Model(
            (w * xs - y) ** 2, params=[w], inputs=[xs], targets=[y], outputs={"q": sp.Symbol("q")}
        )
    trainer = symbp.Model((w * xs - y) ** 2, params=[w], inputs=[xs], targets=[y]).compile()
    with pytest.raises(symbp.DataError, match="declares no outputs"):
        trainer.predict({"w": 1.0}, {"xs": np.ones(3)})
    with_out = symbp.Model(
        (w * xs - y) ** 2, params=[w], inputs=[xs], targets=[y], outputs={"o": w * xs}
    )
    with pytest.raises(symbp.DataError, match="'xs'"):
        with_out.compile().predict({"w": 1.0}, {"y": np.ones(3)})


def test_generated_module_exposes_outputs_and_predict(tmp_path, rng):
    import importlib.util

    w, xs, y = sp.symbols("w xs y")
    model = symbp.Model((w * xs - y) ** 2, params=[w], inputs=[xs], targets=[y],
                        outputs={"yhat": w * xs}, name="predict_module")  # fmt: skip
    path = model.generate(tmp_path / "predict_module.py", optim.SGD(lr=0.1))
    spec = importlib.util.spec_from_file_location("predict_module", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.OUTPUTS == {"yhat": ()}
    np.testing.assert_allclose(
        module.predict({"w": 3.0}, {"xs": np.arange(4.0)})["yhat"], 3 * np.arange(4.0)
    )


def test_scalar_level_outputs_with_a_trace():
    """Outputs are unrolled like the loss: a trace becomes the sum of its diagonal."""
    W, x, y = sp.MatrixSymbol("W", 2, 2), sp.MatrixSymbol("x", 1, 2), sp.Symbol("y")
    model = symbp.Model(
        ((x * W)[0, 0] - y) ** 2, params=[W], inputs=[x], targets=[y],
        outputs={"scaled_trace": sp.Trace(W) * x[0, 1]}, name="trace_output", level="scalar",
    )  # fmt: skip
    assert not model.matrix
    W0 = np.array([[1.5, -2.0], [0.5, 3.0]])
    X = np.array([[1.0, 2.0], [0.5, -1.0], [3.0, 0.25]])
    got = model.compile().predict({"W": W0}, {"x": X})["scaled_trace"]
    np.testing.assert_allclose(got, np.trace(W0) * X[:, 1], rtol=1e-15)
