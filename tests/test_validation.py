"""Validation after every epoch and early stopping (Keras' restore_best_weights=True)."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

import symbp
from symbp import optim

w, x, y = sp.symbols("w x y", real=True)
MODEL = symbp.Model((w * x - y) ** 2, params=[w], inputs=[x], targets=[y], name="val_line")
TRAIN = {"x": np.linspace(0.1, 1, 20), "y": 2 * np.linspace(0.1, 1, 20)}  # optimum w = 2
VALID = {"x": np.linspace(0.1, 1, 7), "y": np.linspace(0.1, 1, 7)}  # optimum w = 1

OPTIMIZERS = [
    optim.SGD(lr=0.05),
    optim.SGD(lr=0.02, momentum=0.9),
    optim.Adam(lr=0.02),
    optim.RMSprop(lr=0.005),
    optim.Adagrad(lr=0.1),
    optim.Rprop(lr=0.01),
]


@pytest.mark.parametrize("optimizer", OPTIMIZERS, ids=lambda o: type(o).__name__)
def test_validation_loss_after_every_epoch(optimizer):
    trainer = MODEL.compile(optimizer)
    fit = trainer.fit({"w": 0.0}, TRAIN, epochs=6, batch_size=8, validation=VALID)
    plain = trainer.fit({"w": 0.0}, TRAIN, epochs=6, batch_size=8)
    assert fit.params == plain.params and np.array_equal(fit.losses, plain.losses)
    assert fit.state["step"] == plain.state["step"] == 18 and len(fit.val_losses) == 6
    for epoch in range(6):  # the loss of the params after each epoch (3 steps each)
        after = trainer.fit({"w": 0.0}, TRAIN, steps=3 * (epoch + 1), batch_size=8)
        assert fit.val_losses[epoch] == trainer.loss(after.params, VALID)
    assert fit.best_step == 3 * (int(np.argmin(fit.val_losses)) + 1)


@pytest.mark.parametrize("optimizer", OPTIMIZERS[:3], ids=lambda o: type(o).__name__)
def test_patience_restores_the_best_params_and_resumes_exactly(optimizer):
    trainer = MODEL.compile(optimizer)
    fit = trainer.fit({"w": 0.0}, TRAIN, epochs=200, batch_size=8, validation=VALID, patience=3)
    best = int(np.argmin(fit.val_losses))
    assert len(fit.val_losses) == best + 1 + 3  # stopped 3 epochs after the best
    assert fit.best_step == 3 * (best + 1) and fit.state["step"] == 3 * len(fit.val_losses)
    at_best = trainer.fit({"w": 0.0}, TRAIN, steps=fit.best_step, batch_size=8)
    assert fit.params == at_best.params and fit.params["w"] == pytest.approx(1.0, abs=0.15)
    # the state is where training stopped: it continues exactly from last_params
    more = trainer.fit(fit.last_params, TRAIN, steps=5, batch_size=8, state=fit.state)
    straight = trainer.fit({"w": 0.0}, TRAIN, steps=fit.state["step"] + 5, batch_size=8)
    assert more.params == straight.params and more.state["step"] == straight.state["step"]
    np.testing.assert_array_equal(more.state["slots"], straight.state["slots"])


def test_progress_and_shuffle_with_validation_give_the_same_fit():
    pytest.importorskip("tqdm")
    trainer = MODEL.compile(optim.Adam(lr=0.05))
    kw = dict(epochs=30, batch_size=6, shuffle=True, seed=4, validation=VALID, patience=2)
    a = trainer.fit({"w": 0.0}, TRAIN, **kw)
    b = trainer.fit({"w": 0.0}, TRAIN, progress=True, **kw)
    assert a.params == b.params and a.best_step == b.best_step
    assert np.array_equal(a.losses, b.losses) and np.array_equal(a.val_losses, b.val_losses)


def test_validation_errors_come_before_training():
    trainer = MODEL.compile(optim.SGD(lr=0.1))
    with pytest.raises(symbp.OptionError, match="patience= needs validation="):
        trainer.fit({"w": 0.0}, TRAIN, epochs=3, patience=2)
    with pytest.raises(symbp.OptionError, match="positive integer"):
        trainer.fit({"w": 0.0}, TRAIN, epochs=3, validation=VALID, patience=0)
    with pytest.raises(symbp.DataError, match="'y'"):
        trainer.fit({"w": 0.0}, TRAIN, epochs=3, validation={"x": VALID["x"]})


def test_saved_fits_keep_validation_results(tmp_path):
    trainer = MODEL.compile(optim.SGD(lr=0.05))
    fit = trainer.fit({"w": 0.0}, TRAIN, epochs=100, batch_size=8, validation=VALID, patience=2)
    back = symbp.load_fit(fit.save(tmp_path / "fit.npz"))
    assert back.params == fit.params and back.best_step == fit.best_step
    assert back.last_params == fit.last_params
    np.testing.assert_array_equal(back.val_losses, fit.val_losses)


def test_last_params_resume_when_the_last_epoch_is_the_best():
    trainer = MODEL.compile(optim.SGD(lr=0.05))
    fit = trainer.fit({"w": 0.0}, TRAIN, epochs=4, batch_size=8, validation=TRAIN, patience=3)
    assert fit.best_step == fit.state["step"] == 12 and fit.last_params == fit.params
    more = trainer.fit(fit.last_params, TRAIN, steps=2, batch_size=8, state=fit.state)
    straight = trainer.fit({"w": 0.0}, TRAIN, steps=14, batch_size=8)
    assert more.params == straight.params


def test_a_fit_resumed_mid_epoch_validates_where_epochs_end():
    trainer = MODEL.compile(optim.SGD(lr=0.05))
    first = trainer.fit({"w": 0.0}, TRAIN, steps=4, batch_size=8)  # 3 steps per epoch
    fit = trainer.fit(first.params, TRAIN, steps=8, batch_size=8, state=first.state,
                      validation=VALID)  # fmt: skip
    # steps 5..12: epochs end after steps 6, 9 and 12
    expected = [
        trainer.loss(trainer.fit({"w": 0.0}, TRAIN, steps=k, batch_size=8).params, VALID)
        for k in (6, 9, 12)
    ]
    assert list(fit.val_losses) == expected and fit.state["step"] == 12


def test_a_nan_validation_loss_is_never_the_best():
    v = sp.Symbol("v")
    model = symbp.Model((w * x - y) ** 2 + sp.log(v), params=[w], inputs=[x, v], targets=[y],
                        name="val_nan")  # fmt: skip
    trainer = model.compile(optim.SGD(lr=0.05))
    train = {**TRAIN, "v": np.full(20, 1.0)}
    nan_valid = {"x": VALID["x"], "y": VALID["y"], "v": np.full(7, -1.0)}  # log(-1): nan
    fit = trainer.fit({"w": 0.0}, train, epochs=3, batch_size=8, validation=nan_valid,
                      patience=2)  # fmt: skip
    assert np.isnan(fit.val_losses).all() and fit.best_step is None
    assert len(fit.val_losses) == 2 and fit.params == fit.last_params
