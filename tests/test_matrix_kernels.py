"""Batched matrix-level kernels: against the scalar-unrolled path, finite differences,
and through the Trainer (batching, shuffling, resuming), in float64."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import sympy as sp
from conftest import ROOT

import symbp
from symbp import nn, optim
from symbp.nodes.evaluate import evaluate_program
from symbp.testing import central_difference

J = sp.OneMatrix
x = sp.MatrixSymbol("x", 1, 3)
t = sp.MatrixSymbol("t", 1, 3)
W1, b1 = sp.MatrixSymbol("W1", 3, 4), sp.MatrixSymbol("b1", 1, 4)
W2, b2 = sp.MatrixSymbol("W2", 4, 3), sp.MatrixSymbol("b2", 1, 3)


def mlp_loss() -> sp.MatrixExpr:
    """A small tanh MLP with a softmax cross-entropy, written by hand at matrix level."""
    h = (x * W1 + b1).applyfunc(sp.tanh)
    z = h * W2 + b2
    return (z.applyfunc(sp.exp) * J(3, 1)).applyfunc(sp.log) - z * t.T


def mlp_params(rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {
        "W1": rng.normal(size=(3, 4)),
        "b1": rng.normal(size=(1, 4)),
        "W2": rng.normal(size=(4, 3)),
        "b2": rng.normal(size=(1, 3)),
    }


@pytest.fixture(scope="module")
def mlp():
    model = symbp.Model(
        mlp_loss(),
        params=[W1, b1, W2, b2],
        inputs=[x],
        targets=[t],
        name="matrix_mlp",
        level="matrix",
    )
    assert model.matrix
    return model, model.compile(optimizer=optim.SGD(lr=0.1, momentum=0.9))


@pytest.fixture
def data(rng):
    X = rng.normal(size=(11, 3))
    return {"x": X, "t": np.eye(3)[rng.integers(0, 3, 11)]}


def test_matrix_kernels_match_the_scalar_unrolled_path(mlp, data, rng):
    _, trainer = mlp
    scalar = symbp.Model(
        mlp_loss().as_explicit()[0, 0],
        params=[W1, b1, W2, b2],
        inputs=[x],
        targets=[t],
        name="matrix_mlp_unrolled",
    )
    assert not scalar.matrix
    reference = scalar.compile()
    params = mlp_params(rng)
    assert trainer.loss(params, data) == pytest.approx(reference.loss(params, data), rel=1e-13)
    ours, theirs = trainer.grad(params, data), reference.grad(params, data)
    for name in params:
        np.testing.assert_allclose(ours[name], theirs[name], rtol=1e-12, atol=1e-14)


def test_matrix_gradient_matches_finite_differences(mlp, data, rng):
    _, trainer = mlp
    params = mlp_params(rng)
    grad = trainer.grad(params, data)
    fd = central_difference(lambda p: trainer.loss(p, data), params)
    for name in params:
        # float64 central differences, step 1e-6 * max(1, |p|): error ~1e-9.
        np.testing.assert_allclose(grad[name], fd[name], rtol=1e-6, atol=1e-8)


def test_training_batches_resume_and_shuffle(mlp, data, rng):
    _, trainer = mlp
    params = mlp_params(rng)
    frozen = {k: v.copy() for k, v in params.items()}
    full = trainer.fit(params, data, steps=8, batch_size=4)
    first = trainer.fit(params, data, steps=5, batch_size=4)
    rest = trainer.fit(first.params, data, steps=3, batch_size=4, state=first.state)
    for name in params:
        np.testing.assert_array_equal(rest.params[name], full.params[name])
        np.testing.assert_array_equal(params[name], frozen[name])  # inputs not mutated
    np.testing.assert_array_equal(np.concatenate([first.losses, rest.losses]), full.losses)
    # Step 2 uses the last, shorter chunk [8, 11): its loss is the mean over 3 samples.
    chunk = {k: v[8:11] for k, v in data.items()}
    after_two = trainer.fit(params, data, steps=2, batch_size=4)
    assert full.losses[2] == pytest.approx(trainer.loss(after_two.params, chunk), rel=1e-12)
    shuffled = [
        trainer.fit(params, data, epochs=2, batch_size=4, shuffle=True, seed=5) for _ in range(2)
    ]
    np.testing.assert_array_equal(shuffled[0].losses, shuffled[1].losses)
    assert not np.array_equal(
        shuffled[0].losses, trainer.fit(params, data, epochs=2, batch_size=4).losses
    )
    # A shuffled epoch visits every sample once: its first step's batch is order[:4].
    order = np.random.default_rng([5, 0]).permutation(11)
    batch = {k: v[order[:4]] for k, v in data.items()}
    assert shuffled[0].losses[0] == pytest.approx(trainer.loss(params, batch), rel=1e-12)


def test_large_evaluations_run_in_parallel_chunks_with_the_same_result(mlp, rng):
    _, trainer = mlp
    params = mlp_params(rng)
    data = {"x": rng.normal(size=(1100, 3)), "t": np.eye(3)[rng.integers(0, 3, 1100)]}
    pieces = [{k: v[lo : lo + 220] for k, v in data.items()} for lo in range(0, 1100, 220)]
    # 1100 samples = 5 chunks of 256 (the last shorter), each a prange group.
    assert trainer.loss(params, data) == pytest.approx(
        np.mean([trainer.loss(params, p) for p in pieces]), rel=1e-12
    )
    grad = trainer.grad(params, data)
    parts = [trainer.grad(params, p) for p in pieces]
    for name in params:
        np.testing.assert_allclose(
            grad[name], np.mean([g[name] for g in parts], axis=0), rtol=1e-11
        )


def test_first_step_is_gradient_descent(mlp, data, rng):
    _, trainer = mlp  # momentum's buffer starts as the gradient itself
    params = mlp_params(rng)
    grad = trainer.grad(params, data)
    fit = trainer.fit(params, data, steps=1)
    for name in params:
        np.testing.assert_allclose(fit.params[name], params[name] - 0.1 * grad[name], rtol=1e-12)


def test_column_vectors_scalars_elements_and_sum_reduction(rng):
    """Column-vector layers (W x), a scalar target and parameter, a trace, an element."""
    u = sp.MatrixSymbol("u", 3, 1)
    A = sp.MatrixSymbol("A", 5, 3)
    c = sp.MatrixSymbol("c", 5, 1)
    v = sp.MatrixSymbol("v", 5, 1)
    y = sp.Symbol("y", real=True)
    k = sp.Symbol("k", real=True)
    h = nn.dense(u, A, c, nn.sigmoid)
    regularizer = sp.Trace(A.T * A) / 100 + k**2 + A[1, 2] * c[0, 0]
    loss = nn.binary_cross_entropy_with_logits(k * (v.T * h), y) + sp.MatMul(regularizer, J(1, 1))
    model = symbp.Model(
        loss,
        params=[A, c, v, k],
        inputs=[u],
        targets=[y],
        reduction="sum",
        name="col",
        level="matrix",
    )
    assert model.matrix
    params = {
        "A": rng.normal(size=(5, 3)),
        "c": rng.normal(size=(5, 1)),
        "v": rng.normal(size=(5, 1)),
        "k": 0.7,
    }
    data = {"u": rng.normal(size=(6, 3)), "y": (rng.random(6) < 0.5).astype(float)}
    trainer = model.compile()
    # The reference evaluator runs the same program in NumPy, one sample at a time.
    symbols = {var.name: var.symbol for var in model.variables}
    total_loss, total_grad = 0.0, {name: 0.0 for name in params}
    for s in range(6):
        env = {symbols[name]: value for name, value in params.items()}
        env[u], env[y] = data["u"][s].reshape(3, 1), data["y"][s]
        value, grads = evaluate_program(model.program, env)
        total_loss += value
        total_grad = {name: total_grad[name] + grads[name] for name in params}
    assert trainer.loss(params, data) == pytest.approx(total_loss, rel=1e-13)
    grad = trainer.grad(params, data)
    fd = central_difference(lambda p: trainer.loss(p, data), params)
    for name in params:
        np.testing.assert_allclose(grad[name], total_grad[name], rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(grad[name], fd[name], rtol=1e-6, atol=1e-7)


def test_matrix_modules_are_deterministic_across_hash_seeds():
    script = (
        "import sys; sys.path.insert(0, 'tests'); import test_matrix_kernels as m, symbp\n"
        "from symbp import optim\n"
        "model = symbp.Model(m.mlp_loss(), params=[m.W1, m.b1, m.W2, m.b2], inputs=[m.x], level='matrix', "
        "targets=[m.t], name='d')\n"
        "print(model.module_source(optim.SGD(lr=0.1), 'float32').source_hash)\n"
    )
    hashes = {
        subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
            env={"PYTHONHASHSEED": seed, "PATH": ""},
        ).stdout
        for seed in ("1", "2")
    }
    assert len(hashes) == 1


def test_matrix_model_without_data_trains():
    W = sp.MatrixSymbol("W", 2, 3)
    loss = J(1, 2) * sp.HadamardProduct(W - J(2, 3), W - J(2, 3)) * J(3, 1)
    model = symbp.Model(loss, params=[W], name="matrix_no_data", level="matrix")
    trainer = model.compile(optim.SGD(lr=0.1))
    fit = trainer.fit({"W": np.zeros((2, 3))}, steps=3)
    np.testing.assert_allclose(fit.losses, [6.0, 3.84, 2.4576], rtol=1e-14)
    np.testing.assert_allclose(fit.params["W"], np.full((2, 3), 0.488), rtol=1e-14)


def test_blas_products_match_finite_differences(rng):
    """Layers wide enough for np.dot (BLAS through SciPy): loss, gradient and a fit step."""
    xs, ts = sp.MatrixSymbol("x", 1, 16), sp.MatrixSymbol("t", 1, 3)
    V1, c1 = sp.MatrixSymbol("V1", 16, 8), sp.MatrixSymbol("c1", 1, 8)
    V2, c2 = sp.MatrixSymbol("V2", 8, 3), sp.MatrixSymbol("c2", 1, 3)
    z = nn.dense(nn.dense(xs, V1, c1, sp.tanh), V2, c2)
    model = symbp.Model(
        nn.softmax_cross_entropy(z, ts), params=[V1, c1, V2, c2], inputs=[xs], targets=[ts]
    )
    assert "np.dot(" in model.module_source(optim.SGD(lr=0.1), "float64").text
    trainer = model.compile(optimizer=optim.SGD(lr=0.1))
    params = {
        "V1": rng.normal(size=(16, 8)) * 0.3,
        "c1": rng.normal(size=(1, 8)),
        "V2": rng.normal(size=(8, 3)),
        "c2": rng.normal(size=(1, 3)),
    }
    data = {"x": rng.normal(size=(9, 16)), "t": np.eye(3)[rng.integers(0, 3, 9)]}
    grad = trainer.grad(params, data)
    fd = central_difference(lambda p: trainer.loss(p, data), params)
    for name in params:
        np.testing.assert_allclose(grad[name], fd[name], rtol=1e-6, atol=1e-8)
    fit = trainer.fit(params, data, steps=1)
    for name in params:
        np.testing.assert_allclose(fit.params[name], params[name] - 0.1 * grad[name], atol=1e-12)
