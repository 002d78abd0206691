"""Large evaluations: a fixed partition on several threads, BLAS kept to one thread."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import sympy as sp

import symbp
from symbp import nn


@pytest.fixture(scope="module")
def mlp():
    x, t = sp.MatrixSymbol("x", 1, 16), sp.MatrixSymbol("t", 1, 4)
    W1, b1 = sp.MatrixSymbol("W1", 16, 32), sp.MatrixSymbol("b1", 1, 32)
    W2, b2 = sp.MatrixSymbol("W2", 32, 4), sp.MatrixSymbol("b2", 1, 4)
    z = nn.dense(nn.dense(x, W1, b1, sp.tanh), W2, b2)
    model = symbp.Model(
        nn.softmax_cross_entropy(z, t),
        params=[W1, b1, W2, b2],
        inputs=[x],
        targets=[t],
        name="eval_mlp",
    )
    return model.compile()


def test_threads_do_not_change_the_result(mlp, rng, monkeypatch):
    shared = sys.modules[f"{mlp.runtime.__name__}.threads"].shared()
    params = {
        "W1": rng.normal(size=(16, 32)),
        "b1": rng.normal(size=(1, 32)),
        "W2": rng.normal(size=(32, 4)),
        "b2": rng.normal(size=(1, 4)),
    }
    data = {"x": rng.normal(size=(3000, 16)), "t": np.eye(4)[rng.integers(0, 4, 3000)]}
    results = []
    for threads in (1, 2):
        monkeypatch.setitem(shared, "threads", threads)
        results.append((mlp.loss(params, data), mlp.grad(params, data)))
    (l1, g1), (l2, g2) = results
    assert l1 == l2  # bit for bit: the partition depends on the sample count only
    for name in params:
        np.testing.assert_array_equal(g1[name], g2[name])
    # and it is the mean over the samples, whatever the partition
    halves = [{k: v[:1500] for k, v in data.items()}, {k: v[1500:] for k, v in data.items()}]
    assert l1 == pytest.approx(np.mean([mlp.loss(params, h) for h in halves]), rel=1e-13)


def test_blas_is_limited_to_one_thread_while_symbp_kernels_run(mlp):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    spec = mlp.spec
    mlp.runtime.require_blas(spec)  # SciPy's BLAS is loaded

    def blas_threads():
        return [
            i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"
        ]

    before = blas_threads()
    with mlp.runtime.blas_limit(spec):
        assert before and blas_threads() == [1] * len(before)
        with mlp.runtime.blas_limit(spec):  # nested (another thread's kernel)
            assert blas_threads() == [1] * len(before)
        assert blas_threads() == [1] * len(before)
    assert blas_threads() == before
