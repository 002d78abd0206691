"""No silent NaN: a diverging fit stops at its first non-finite step, nothing is lost."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

import symbp
from symbp import nn, optim

w = sp.Symbol("w")


def quadratic() -> symbp.Model:
    return symbp.Model((w - 1) ** 2, params=[w], name="diverge_quad")


def test_a_too_large_learning_rate_raises_with_the_step_loss_lr_and_parameter():
    trainer = quadratic().compile(optim.SGD(lr=3.0))  # |w - 1| grows 5x per step
    with pytest.raises(symbp.DivergenceError) as caught:
        trainer.fit({"w": 2.0}, steps=1000)
    err = caught.value
    assert isinstance(err, symbp.SymbpError)
    message = str(err)
    assert f"step {err.step}" in message and "learning rate 3" in message
    # the batch loss overflows first (5^k squared), before w itself does
    assert err.param is None and not np.isfinite(err.loss) and "every parameter" in message
    fit = err.fit
    assert fit.steps == err.step and len(fit.losses) == err.step
    assert np.all(np.isfinite(fit.losses)) and np.isfinite(fit.params["w"])
    # exactly the fit of that many steps, and it resumes exactly
    again = trainer.fit({"w": 2.0}, steps=err.step)
    assert again.params == fit.params and np.array_equal(again.losses, fit.losses)
    calm = quadratic().compile(optim.SGD(lr=3.0))
    with pytest.raises(symbp.DivergenceError):
        calm.fit(fit.params, steps=5, state=fit.state)


def test_a_parameter_that_goes_non_finite_is_named():
    # The loss ignores b below zero (a ReLU), so b = -inf keeps the loss finite: only
    # the parameter check sees it. The first update overflows b.
    b = sp.Symbol("b")
    x = sp.MatrixSymbol("x", 1, 2)
    W = sp.MatrixSymbol("W", 2, 1)
    model = symbp.Model(
        sp.Max(0, b) + (x * W)[0, 0] ** 2 - 1e300 * b, params=[W, b], inputs=[x], name="nan_param"
    )
    trainer = model.compile(optim.SGD(lr=1e10))
    data = {"x": np.ones((4, 2))}
    with pytest.raises(symbp.DivergenceError) as caught:
        trainer.fit({"W": np.full((2, 1), 0.1), "b": 0.5}, data, steps=50)
    err = caught.value
    assert err.param == ("b", ()) and err.step == 0 and np.isfinite(err.loss)
    assert "made parameter b non-finite" in str(err)
    assert err.fit.steps == 0 and err.fit.params["b"] == 0.5  # nothing was applied


def test_non_finite_loss_from_the_data_domain():
    trainer = symbp.Model(sp.log(w), params=[w], name="diverge_log").compile(optim.SGD(lr=2.0))
    with pytest.raises(symbp.DivergenceError) as caught:
        trainer.fit({"w": 1.0}, steps=10)  # w = 1 - 2 = -1 after one step: log(-1) = nan
    assert caught.value.step == 1 and np.isnan(caught.value.loss)
    assert caught.value.fit.params["w"] == pytest.approx(-1.0)


def test_matrix_level_divergence_with_minibatches_and_progress(rng):
    x = sp.MatrixSymbol("x", 1, 3)
    W = sp.MatrixSymbol("W", 3, 1)
    t = sp.Symbol("t")
    model = symbp.Model(
        nn.mse((x * W)[0, 0], t), params=[W], inputs=[x], targets=[t], name="diverge_mse"
    )
    trainer = model.compile(optim.SGD(lr=10.0, momentum=0.9))
    data = {"x": rng.normal(size=(64, 3)) * 10, "t": rng.normal(size=64)}
    with pytest.raises(symbp.DivergenceError) as plain:
        trainer.fit({"W": np.zeros((3, 1))}, data, epochs=200, batch_size=8, shuffle=True, seed=3)
    pytest.importorskip("tqdm")
    with pytest.raises(symbp.DivergenceError) as shown:
        trainer.fit(
            {"W": np.zeros((3, 1))},
            data,
            epochs=200,
            batch_size=8,
            shuffle=True,
            seed=3,
            progress=True,
        )
    a, b = plain.value, shown.value
    assert a.step == b.step and np.array_equal(a.fit.losses, b.fit.losses)
    np.testing.assert_array_equal(a.fit.params["W"], b.fit.params["W"])
    np.testing.assert_array_equal(a.fit.state["slots"], b.fit.state["slots"])


def test_generated_modules_raise_their_own_divergence_error(tmp_path):
    import importlib.util

    path = quadratic().generate(tmp_path / "diverge_module.py", optim.SGD(lr=3.0))
    spec = importlib.util.spec_from_file_location("diverge_module", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with pytest.raises(module.DivergenceError) as caught:
        module.fit({"w": 2.0}, steps=1000)
    assert caught.value.fit.state["step"] == caught.value.step
    assert caught.value.lr == 3.0
