"""Training semantics of DESIGN.md: batches, epochs, shuffling, reductions, resuming."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

import symbp
from symbp import optim

w, x = sp.symbols("w x", real=True)


@pytest.fixture(scope="module")
def probe():
    """loss = w * x with SGD at lr 1: each step moves w by minus the batch mean of x."""
    model = symbp.Model(w * x, params=[w], inputs=[x], name="probe")
    return model.compile(optim.SGD(lr=1.0))


def batch_means(trainer, n, steps, **kwargs):
    data = {"x": np.arange(n, dtype=float)}
    params, state, means = {"w": 0.0}, None, []
    for _ in range(steps):
        fit = trainer.fit(params, data, steps=1, state=state, **kwargs)
        means.append(params["w"] - fit.params["w"])
        params, state = fit.params, fit.state
    return means


def test_batches_are_consecutive_chunks_with_a_short_last_one(probe):
    # n = 10, b = 4: chunks [0,4), [4,8), [8,10), then again from the start.
    assert batch_means(probe, 10, 5, batch_size=4) == [1.5, 5.5, 8.5, 1.5, 5.5]


def test_without_batch_size_every_step_uses_all_samples(probe):
    assert batch_means(probe, 5, 2) == [2.0, 2.0]


def test_multiple_of_batch_is_the_seed_rule(probe):
    # start = (i * b) % n as in the seed tutorials.
    means = batch_means(probe, 32, 6, batch_size=8)
    assert means == [np.mean(np.arange(s, s + 8)) for s in ((i * 8) % 32 for i in range(6))]


def test_epochs_means_ceil_n_over_b_steps(probe):
    fit = probe.fit({"w": 0.0}, {"x": np.arange(10.0)}, epochs=3, batch_size=4)
    assert fit.losses.shape == (9,)
    assert fit.steps == 9


def test_shuffle_permutes_each_epoch_reproducibly(probe):
    data = {"x": np.arange(12.0)}
    a = probe.fit({"w": 0.0}, data, steps=9, batch_size=4, shuffle=True, seed=7)
    b = probe.fit({"w": 0.0}, data, steps=9, batch_size=4, shuffle=True, seed=7)
    c = probe.fit({"w": 0.0}, data, steps=9, batch_size=4, shuffle=True, seed=8)
    assert np.array_equal(a.losses, b.losses)
    assert not np.array_equal(a.losses, c.losses)
    means = batch_means(probe, 12, 6, batch_size=4, shuffle=True, seed=7)
    # Each epoch is a permutation: its three batches cover all samples once.
    for epoch in range(2):
        assert sum(means[3 * epoch : 3 * epoch + 3]) * 4 == pytest.approx(sum(range(12)))
    assert means[:3] != [1.5, 5.5, 9.5]


def test_resume_is_bit_exact(probe):
    data = {"x": np.linspace(-1, 1, 10)}
    one = probe.fit({"w": 0.3}, data, steps=10, batch_size=3, shuffle=True, seed=1)
    first = probe.fit({"w": 0.3}, data, steps=4, batch_size=3, shuffle=True, seed=1)
    second = probe.fit(first.params, data, steps=6, batch_size=3, shuffle=True, state=first.state)
    assert second.params["w"] == one.params["w"]
    assert np.array_equal(np.concatenate([first.losses, second.losses]), one.losses)


def test_momentum_resume_and_inputs_not_mutated():
    W = sp.MatrixSymbol("W", 2, 2)
    v = sp.MatrixSymbol("v", 1, 2)
    y = sp.Symbol("y")
    model = symbp.Model(
        ((v * W * v.T)[0, 0] - y) ** 2, params=[W], inputs=[v], targets=[y], name="quadform"
    )
    trainer = model.compile(optim.SGD(lr=0.01, momentum=0.9, nesterov=True, weight_decay=0.01))
    rng = np.random.default_rng(0)
    params = {"W": rng.normal(size=(2, 2))}
    data = {"v": rng.normal(size=(6, 2)), "y": rng.normal(size=6)}
    copies = {k: v.copy() for k, v in {**params, **data}.items()}
    one = trainer.fit(params, data, steps=50, batch_size=4)
    a = trainer.fit(params, data, steps=20, batch_size=4)
    b = trainer.fit(a.params, data, steps=30, batch_size=4, state=a.state)
    assert np.array_equal(b.params["W"], one.params["W"])
    for k, value in {**params, **data}.items():
        assert np.array_equal(value, copies[k]), f"{k} was mutated"
    assert one.params["W"] is not params["W"]


def test_mean_and_sum_reductions():
    b = sp.Symbol("b")
    data = {"x": np.array([1.0, 2.0, 3.0, 4.0])}
    mean = symbp.Model((w * x - b) ** 2, params=[w, b], inputs=[x], name="red_mean").compile()
    total = symbp.Model(
        (w * x - b) ** 2, params=[w, b], inputs=[x], reduction="sum", name="red_sum"
    ).compile()
    params = {"w": 0.5, "b": 0.25}
    per_sample = (0.5 * data["x"] - 0.25) ** 2
    assert mean.loss(params, data) == pytest.approx(per_sample.mean(), rel=1e-15)
    assert total.loss(params, data) == pytest.approx(per_sample.sum(), rel=1e-15)
    gm, gs = mean.grad(params, data), total.grad(params, data)
    assert gs["w"] == pytest.approx(4 * gm["w"], rel=1e-15)
    assert gs["w"] == pytest.approx(np.sum(2 * (0.5 * data["x"] - 0.25) * data["x"]), rel=1e-15)


def test_float32_kernels_compute_in_float32():
    model = symbp.Model((w * x - 1) ** 2, params=[w], inputs=[x], name="f32")
    trainer = model.compile(optim.SGD(lr=0.1), dtype="float32")
    fit = trainer.fit({"w": 0.1}, {"x": np.array([0.1, 0.2, 0.3])}, steps=3)
    assert fit.losses.dtype == np.float32
    assert fit.state["slots"].dtype == np.float32
    ref = np.float32(0.1)
    xs = np.array([0.1, 0.2, 0.3], dtype=np.float32)
    for _ in range(3):
        g = np.mean(np.float32(2) * (ref * xs - np.float32(1)) * xs, dtype=np.float32)
        ref = ref - np.float32(0.1) * g
    assert fit.params["w"] == pytest.approx(float(ref), rel=1e-6)


def test_row_and_column_vectors_accept_flat_sample_arrays():
    v = sp.MatrixSymbol("v", 1, 3)
    c = sp.MatrixSymbol("c", 3, 1)
    model = symbp.Model((v * c)[0, 0] ** 2, params=[c], inputs=[v], name="shapes")
    trainer = model.compile()
    params = {"c": np.array([[1.0], [2.0], [3.0]])}
    flat = np.arange(6.0).reshape(2, 3)
    full = flat.reshape(2, 1, 3)
    assert trainer.loss(params, {"v": flat}) == trainer.loss(params, {"v": full})
    with pytest.raises(
        symbp.DataError, match=r"has shape \(3, 2\); expected \(3, 1, 3\) or \(3, 3\)"
    ):
        trainer.loss(params, {"v": flat.T})


def test_progress_gives_the_same_result():
    pytest.importorskip("tqdm")
    model = symbp.Model((w * x - 2) ** 2, params=[w], inputs=[x], name="progress")
    trainer = model.compile(optim.SGD(lr=0.05, momentum=0.5))
    data = {"x": np.linspace(0, 1, 7)}
    plain = trainer.fit({"w": 0.0}, data, steps=250, batch_size=3)
    shown = trainer.fit({"w": 0.0}, data, steps=250, batch_size=3, progress=True)
    assert shown.params["w"] == plain.params["w"]
    assert np.array_equal(shown.losses, plain.losses)
