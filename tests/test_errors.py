"""Every error of DESIGN.md: a SymbpError naming the culprit, raised before compiled code runs."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

import symbp
from symbp import optim, schedules
from symbp.errors import (
    DataError,
    DeclarationError,
    MissingVJPRule,
    OptionError,
    SymbpError,
    UnsupportedFunction,
)

w, b = sp.symbols("w b", real=True)
x, y = sp.symbols("x y", real=True)
X = sp.MatrixSymbol("X", 1, 2)
W = sp.MatrixSymbol("W", 2, 1)


# -- declarations ----------------------------------------------------------------------
def test_undeclared_symbol_is_named():
    with pytest.raises(DeclarationError, match=r"symbol y appears in the loss but is not declared"):
        symbp.Model((w * x - y) ** 2, params=[w], inputs=[x])


def test_undeclared_matrix_symbol_is_named():
    with pytest.raises(DeclarationError, match=r"MatrixSymbol X appears"):
        symbp.Model((X * W)[0, 0] ** 2, params=[W])


def test_symbol_declared_twice():
    with pytest.raises(DeclarationError, match=r"'w' is declared twice"):
        symbp.Model(w**2, params=[w], inputs=[w])


def test_two_symbols_with_one_name():
    with pytest.raises(DeclarationError, match=r"name 'w' is used by two symbols"):
        symbp.Model(w**2, params=[w], inputs=[sp.Symbol("w", positive=True)])


def test_loss_must_be_scalar():
    with pytest.raises(DeclarationError, match=r"scalar or a 1x1 matrix, got shape \(2, 1\)"):
        symbp.Model(W, params=[W])


def test_loss_must_be_an_expression():
    with pytest.raises(DeclarationError, match="must be a SymPy expression"):
        symbp.Model(w > 1, params=[w])


def test_unevaluated_derivative_rejected():
    with pytest.raises(DeclarationError, match="unevaluated Derivative"):
        symbp.Model(sp.Derivative(w**3, w), params=[w])


def test_bad_entries_and_names():
    with pytest.raises(DeclarationError, match="is a string"):
        symbp.Model(w**2, params=["w"])
    with pytest.raises(DeclarationError, match="reserved"):
        symbp.Model(sp.Symbol("_w") ** 2, params=[sp.Symbol("_w")])
    with pytest.raises(DeclarationError, match="not a valid Python identifier"):
        symbp.Model(sp.Symbol("a b") ** 2, params=[sp.Symbol("a b")])
    with pytest.raises(DeclarationError, match="reduction must be"):
        symbp.Model(w**2, params=[w], reduction="max")
    with pytest.raises(DeclarationError, match="at least one parameter"):
        symbp.Model(x**2, params=[], inputs=[x])
    with pytest.raises(DeclarationError, match="symbolic shape"):
        n = sp.Symbol("n", integer=True)
        M = sp.MatrixSymbol("M", n, 1)
        symbp.Model(M[0, 0] ** 2, params=[M])
    with pytest.raises(DeclarationError, match="distinct Symbols"):
        symbp.Model(w**2, params=[w, sp.Matrix([[w + 1]])])


def test_matrix_element_out_of_range():
    with pytest.raises((DeclarationError, IndexError, ValueError)):
        symbp.Model(W[5, 0] ** 2, params=[W])


# -- unsupported functions ---------------------------------------------------------------
def test_undefined_function_has_no_rule():
    f = sp.Function("f")
    with pytest.raises(MissingVJPRule, match=r"f\(w\) is an undefined function"):
        symbp.Model(f(w) ** 2, params=[w])  # refused at Model(), not at compile()


def test_function_without_translation_is_named():
    with pytest.raises(UnsupportedFunction, match=r"the function Ei .* cannot be compiled"):
        symbp.Model(sp.Ei(w), params=[w])  # the exponential integral: no kernel code


def test_function_without_closed_form_derivative():
    with pytest.raises(UnsupportedFunction):
        symbp.Model(sp.besselj(w, 1.5), params=[w])


# -- options -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: optim.SGD(lr=-0.1), "lr must be a finite number >= 0"),
        (lambda: optim.SGD(lr=float("nan")), "lr must be"),
        (lambda: optim.SGD(lr=float("inf")), "lr must be"),
        (lambda: optim.SGD(lr="0.1"), "lr must be a number"),
        (lambda: optim.SGD(lr=0.1, momentum=1.0), r"momentum must be in \[0, 1\)"),
        (lambda: optim.SGD(lr=0.1, momentum=-0.5), "momentum must be"),
        (lambda: optim.SGD(lr=0.1, nesterov=True), "nesterov=True requires momentum"),
        (lambda: optim.SGD(lr=0.1, weight_decay=-1), "weight_decay"),
        (
            lambda: schedules.ExponentialDecay(0.1, 0.99, 0),
            "decay_steps must be a positive integer",
        ),
        (lambda: schedules.ExponentialDecay(0.1, -0.5, 1), "decay_rate"),
    ],
)
def test_bad_optimizer_arguments(make, match):
    with pytest.raises(OptionError, match=match):
        make()


def test_bad_dtype_and_optimizer_type():
    model = symbp.Model(w**2, params=[w])
    with pytest.raises(OptionError, match="dtype must be 'float32' or 'float64', got 'float16'"):
        model.compile(dtype="float16")
    with pytest.raises(OptionError, match=r"optimizer must be one from symbp\.optim"):
        model.compile(optimizer="sgd")


# -- data and params -----------------------------------------------------------------
@pytest.fixture(scope="module")
def trainer():
    model = symbp.Model(
        ((X * W)[0, 0] + b - y) ** 2, params=[W, b], inputs=[X], targets=[y], name="errs"
    )
    return model.compile(optim.SGD(lr=0.1))


PARAMS = {"W": np.ones((2, 1)), "b": 0.5}
DATA = {"X": np.ones((4, 2)), "y": np.zeros(4)}


def fit_error(trainer, params=None, data=None, **kwargs):
    kwargs.setdefault("steps", 1)
    with pytest.raises(DataError) as info:
        trainer.fit(PARAMS if params is None else params, DATA if data is None else data, **kwargs)
    return str(info.value)


def test_missing_and_extra_keys(trainer):
    assert "missing ['b']" in fit_error(trainer, params={"W": np.ones((2, 1))})
    assert "unexpected ['c']" in fit_error(trainer, params={**PARAMS, "c": 1.0})
    assert "missing ['y']" in fit_error(trainer, data={"X": DATA["X"]})
    assert "unexpected ['z']" in fit_error(trainer, data={**DATA, "z": DATA["y"]})


def test_wrong_shapes(trainer):
    assert "param 'W' has shape (1, 2); expected (2, 1)" in fit_error(
        trainer, params={**PARAMS, "W": np.ones((1, 2))}
    )
    assert "data 'X' has shape (4, 3)" in fit_error(trainer, data={**DATA, "X": np.ones((4, 3))})
    assert "param 'b' has shape (2,)" in fit_error(trainer, params={**PARAMS, "b": np.ones(2)})


def test_mismatched_sample_counts(trainer):
    message = fit_error(trainer, data={**DATA, "y": np.zeros(3)})
    assert "data 'y' has 3 samples, but 'X' has 4" in message


def test_non_finite_values_name_array_and_index(trainer):
    bad = DATA["X"].copy()
    bad[2, 1] = np.nan
    assert "data 'X' has a non-finite value at index (2, 1)" in fit_error(
        trainer, data={**DATA, "X": bad}
    )
    assert "param 'b' has a non-finite value" in fit_error(trainer, params={**PARAMS, "b": np.inf})
    with pytest.raises(DataError, match=r"index \(1, 0\)"):
        trainer.loss({**PARAMS, "W": np.array([[1.0], [np.inf]])}, DATA)


def test_bad_dtypes_of_arrays(trainer):
    assert "dtype <U1" in fit_error(trainer, data={**DATA, "y": np.array(["a"] * 4)})
    assert "dtype complex128" in fit_error(trainer, data={**DATA, "y": np.zeros(4) + 1j})


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"steps": 0}, "steps must be a positive integer, got 0"),
        ({"steps": 2.5}, "steps must be a positive integer"),
        ({"steps": True}, "steps must be a positive integer"),
        ({"steps": None}, "give exactly one of steps= or epochs="),
        ({"steps": 3, "epochs": 1}, "give exactly one"),
        ({"steps": None, "epochs": -1}, "epochs must be a positive integer"),
        ({"batch_size": 0}, "batch_size must be a positive integer, got 0"),
        ({"shuffle": "yes"}, "shuffle must be True or False"),
        ({"shuffle": True, "seed": -3}, "seed must be a non-negative integer"),
    ],
)
def test_bad_training_options(trainer, kwargs, match):
    assert match in fit_error(trainer, **kwargs)


def test_data_for_a_model_without_data():
    model = symbp.Model((w + 1) ** 2, params=[w], name="nodata")
    trainer = model.compile(optim.SGD(lr=0.1))
    with pytest.raises(DataError, match="has no inputs or targets"):
        trainer.fit({"w": 1.0}, {"x": np.ones(3)}, steps=1)
    with pytest.raises(DataError, match="batch_size needs data"):
        trainer.fit({"w": 1.0}, steps=1, batch_size=2)


def test_errors_are_symbp_errors():
    for cls in (DataError, DeclarationError, MissingVJPRule, OptionError, UnsupportedFunction):
        assert issubclass(cls, SymbpError)


def test_fit_without_optimizer():
    trainer = symbp.Model(w**2, params=[w], name="noopt").compile()
    with pytest.raises(DataError, match="without an optimizer"):
        trainer.fit({"w": 1.0}, steps=1)
    assert trainer.grad({"w": 3.0}) == {"w": 6.0}
