"""The seed tutorials' numbers (../shared/SEEDS.md), reproduced by the shipped examples."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SHARED, generated, load_example

from symbp import optim


def expected_trace(name: str) -> list[str]:
    path = SHARED / "seeds" / f"expected_{name}_trace_float32.txt"
    if not path.exists():
        pytest.skip(f"{path} is not available")
    return path.read_text().splitlines()


def test_seed_000_trace_is_identical_to_tensorflow():
    example = load_example("seed_000")
    lines = example.trace(generated("seed_000"))
    assert lines == expected_trace("000")
    assert lines[1] == "After 1 epoch,w is 1.160000,loss is 12.959999"


def test_seed_000_gradient_closed_form():
    example = load_example("seed_000")
    w = example.w
    assert example.model.gradients()["w"] == 2 * w + 2


def test_seed_003_trace_is_identical_to_tensorflow():
    example = load_example("seed_003")
    assert example.trace(generated("seed_003")) == expected_trace("003")


def test_seed_003_exponential_decay():
    example = load_example("seed_003")
    rows = example.run(generated("seed_003_decay"))
    ws = [w for w, _ in rows]
    # The course's numbers: 5 -> 3.8 -> 2.8496 -> 2.0950014 ... -> -0.9957311 (40 steps).
    assert f"{ws[0]:.1f}" == "3.8"
    assert f"{ws[1]:.4f}" == "2.8496"
    assert f"{ws[2]:.7f}" == "2.0950014"
    assert f"{ws[-1]:.7f}" == "-0.9957311"
    assert len(ws) == 40


def test_seed_004_forward_gradients_and_step():
    example = load_example("seed_004")
    kernels = generated("seed_004")
    params, data = example.PARAMS, example.DATA
    np.testing.assert_allclose(example.outputs(params), [0.75136507, 0.77292847], atol=1e-8)
    assert kernels.loss(params, data) == pytest.approx(0.29837110876, abs=1e-10)
    grads = kernels.grad(params, data)
    expected = {
        "W1": [[0.00043857, 0.00087714], [0.00049771, 0.00099543]],
        "W2": [[0.08216704, 0.08266763], [-0.02260254, -0.02274024]],
        "b1": [[0.00877135], [0.00995425]],
        "b2": [[0.13849856], [-0.03809824]],
    }
    for name, value in expected.items():
        np.testing.assert_allclose(grads[name], value, atol=1e-8, err_msg=name)
    fit = kernels.fit(params, data, steps=1)
    stepped = {
        "W1": [[0.14978072, 0.19956143], [0.24975114, 0.29950229]],
        "b1": [[0.34561432], [0.34502287]],
        "W2": [[0.35891648, 0.40866619], [0.51130127, 0.56137012]],
        "b2": [[0.53075072], [0.61904912]],
    }
    for name, value in stepped.items():
        np.testing.assert_allclose(fit.params[name], value, atol=1e-8, err_msg=name)


def test_seed_002_regression_recovers_the_line():
    example = load_example("seed_002")
    params, trace = example.train(generated("seed_002"))
    assert params["w"] == pytest.approx(3.0, abs=0.1)
    assert params["b"] == pytest.approx(0.8, abs=0.05)
    losses = [loss for _, loss in trace]
    assert losses == sorted(losses, reverse=True)
    assert losses[-1] < 1e-3


def numpy_float32_reference(example, momentum: float) -> tuple[np.ndarray, np.ndarray]:
    """The same algorithm as TensorFlow 1.x's, as a float32 NumPy loop."""
    data = example.dataset()
    X = data["x"].astype(np.float32)
    Y = data["y"].astype(np.float32).reshape(-1, 1)
    W1 = example.W1_0.astype(np.float32)
    W2 = example.W2_0.astype(np.float32)
    v1, v2 = np.zeros_like(W1), np.zeros_like(W2)
    lr, mu = np.float32(0.001), np.float32(momentum)
    for i in range(example.STEPS):
        start = (i * 8) % 32
        xb, yb = X[start : start + 8], Y[start : start + 8]
        a = xb @ W1
        delta = np.float32(2) * (a @ W2 - yb) / np.float32(8)
        g2, g1 = a.T @ delta, xb.T @ (delta @ W2.T)
        v1, v2 = mu * v1 + g1, mu * v2 + g2
        W1, W2 = W1 - lr * v1, W2 - lr * v2
    return W1, W2


@pytest.mark.parametrize("key, momentum", [("sgd", 0.0), ("momentum", 0.9)])
def test_seed_001_ends_where_tensorflow_ends(key, momentum):
    example = load_example("seed_001")
    params, trace = example.train(generated(f"seed_001_{key}"))
    W1, W2 = numpy_float32_reference(example, momentum)
    # Same algorithm in float32; only the order of float32 roundings differs.
    np.testing.assert_allclose(params["W1"], W1, rtol=0, atol=1e-6)
    np.testing.assert_allclose(params["W2"], W2, rtol=0, atol=1e-6)
    assert params["W1"].dtype == np.float32
    # The course's initial full-data loss, printed by TensorFlow as 5.13118.
    assert f"{trace[0][1]:.5f}" == "5.13118"
    if key == "sgd":
        # TensorFlow 1.x's printed end weights for this run of the course.
        np.testing.assert_allclose(
            params["W1"],
            [[-0.7000663, 0.9136318, 0.08953571], [-2.3402493, -0.1464127, 0.58823055]],
            atol=2e-7,
        )
        np.testing.assert_allclose(
            params["W2"].ravel(), [-0.06024268, 0.91956186, -0.06820709], atol=2e-7
        )


def numpy_float32_adaptive(example, kind: str) -> tuple[list[np.ndarray], list[float]]:
    """Adam (lr 0.001) or Rprop (torch's defaults) as a float32 NumPy loop.

    Written from torch.optim's documented algorithms; per-step scalars (bias
    corrections) are Python floats, as in torch. Returns the params and the
    full-data losses after steps 0, 500, ...
    """
    data = example.dataset()
    X = data["x"].astype(np.float32)
    Y = data["y"].astype(np.float32).reshape(-1, 1)
    params = [example.W1_0.astype(np.float32), example.W2_0.astype(np.float32)]
    zeros = [np.zeros_like(p) for p in params]
    m, v, prev = list(zeros), list(zeros), list(zeros)
    delta = [np.full_like(p, 0.01) for p in params]
    trace = []
    for i in range(example.STEPS):
        start = (i * 8) % 32
        xb, yb = X[start : start + 8], Y[start : start + 8]
        W1, W2 = params
        a = xb @ W1
        err = np.float32(2) * (a @ W2 - yb) / np.float32(8)
        grads = [xb.T @ (err @ W2.T), a.T @ err]
        for k, g in enumerate(grads):
            if kind == "adam":
                m[k] = np.float32(0.9) * m[k] + np.float32(1 - 0.9) * g
                v[k] = np.float32(0.999) * v[k] + np.float32(1 - 0.999) * g * g
                step = np.float32(0.001 / (1 - 0.9 ** (i + 1)))
                root = np.float32((1 - 0.999 ** (i + 1)) ** 0.5)
                params[k] = params[k] - step * m[k] / (np.sqrt(v[k]) / root + np.float32(1e-8))
            else:
                c = g * prev[k]
                factor = np.where(c > 0, 1.2, np.where(c < 0, 0.5, 1.0)).astype(np.float32)
                delta[k] = np.clip(delta[k] * factor, np.float32(1e-6), np.float32(50))
                g = np.where(c < 0, np.float32(0), g)
                params[k] = params[k] - np.sign(g) * delta[k]
                prev[k] = g
        if i % example.EVERY == 0:
            trace.append(float(np.mean((X @ params[0] @ params[1] - Y) ** 2)))
    return params, trace


@pytest.mark.parametrize("key", ["adam", "rprop"])
def test_seed_001_adam_and_rprop_match_a_float32_numpy_loop(key):
    example = load_example("seed_001")
    assert example.OPTIMIZERS[key] == {"adam": optim.Adam(lr=0.001), "rprop": optim.Rprop()}[key]
    params, trace = example.train(generated(f"seed_001_{key}"))
    (W1, W2), losses = numpy_float32_adaptive(example, key)
    assert params["W1"].dtype == np.float32
    # Same algorithm in float32; only the order of float32 roundings differs (measured:
    # 2.4e-7 for Adam; Rprop's sign tests make it bit-for-bit equal here).
    np.testing.assert_allclose(params["W1"], W1, rtol=0, atol=1e-6)
    np.testing.assert_allclose(params["W2"], W2, rtol=0, atol=1e-6)
    np.testing.assert_allclose([loss for _, loss in trace], losses, rtol=2e-6)
    # Both end near the least-squares floor that momentum reaches (0.38356).
    assert 0.3835 < trace[-1][1] < 0.3845
