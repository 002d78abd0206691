"""Straight-line code has a size limit, and nothing is materialized that the loss does not use."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import sympy as sp

import symbp
from symbp.derive.scalar import SCALAR
from symbp.derive.sweep import count_steps
from symbp.levels import STRAIGHT_LINE_LIMIT


def explicit_mlp(n: int, h: int) -> sp.Expr:
    """An n-h-1 tanh network multiplied out element by element (the scalar path)."""
    x = sp.MatrixSymbol("x", 1, n)
    W1, b1, W2 = (
        sp.MatrixSymbol("W1", n, h),
        sp.MatrixSymbol("b1", 1, h),
        sp.MatrixSymbol("W2", h, 1),
    )
    hidden = (x.as_explicit() * W1.as_explicit() + b1.as_explicit()).applyfunc(sp.tanh)
    return ((hidden * W2.as_explicit())[0, 0] - sp.Symbol("y")) ** 2, [W1, b1, W2], [x]


def test_a_model_too_large_for_straight_line_code_is_refused_with_a_way_out():
    # every entry of W read on its own: ~6 steps per entry, 2,400 in all
    W, x = sp.MatrixSymbol("W", 20, 20), sp.MatrixSymbol("x", 1, 20)
    loss = sp.Add(*(sp.tanh(W[i, j] * x[0, j] + i) ** 2 for i in range(20) for j in range(20)))
    with pytest.raises(symbp.DeclarationError) as caught:
        symbp.Model(loss, params=[W], inputs=[x])
    message = str(caught.value)
    assert f"the {STRAIGHT_LINE_LIMIT} that Numba compiles" in message
    assert "straight-line steps" in message and "matrix level" in message
    assert "nn.dense" in message and "[0, 0]" in message


def test_the_same_network_at_matrix_level_is_accepted():
    x = sp.MatrixSymbol("x", 1, 16)
    W1, b1, W2 = (
        sp.MatrixSymbol("W1", 16, 64),
        sp.MatrixSymbol("b1", 1, 64),
        sp.MatrixSymbol("W2", 64, 1),
    )
    y = sp.Symbol("y")
    loss = ((x * W1 + b1).applyfunc(sp.tanh) * W2)[0, 0] - y
    model = symbp.Model(loss**2, params=[W1, b1, W2], inputs=[x], targets=[y])
    assert model.matrix and len(model.kernel_derivation.forward) < 20


def test_the_count_is_what_the_sweep_does():
    loss, params, inputs = explicit_mlp(3, 4)
    model = symbp.Model(loss, params=params, inputs=inputs, targets=[sp.Symbol("y")])
    derivation = model.derivation
    assert count_steps(model.scalar, model.variables, SCALAR) >= len(derivation.forward) + len(
        derivation.adjoint
    )
    assert count_steps(model.scalar, model.variables, SCALAR) <= 2 * len(derivation.forward)


def test_a_large_declared_matrix_costs_only_the_entries_used():
    A = sp.MatrixSymbol("A", 5000, 5000)
    tracemalloc.start()
    model = symbp.Model(A[0, 0] ** 2 + 3 * A[3, 7], params=[A], name="big_matrix")
    derivation = model.derivation
    text = model.module_source(symbp.optim.SGD(lr=0.1)).text
    grads = model.gradients()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 50e6  # all 25 million entries as SymPy objects took more than 16 GB
    assert len(derivation.leaves) == 2 and len(derivation.gradients) == 2
    assert isinstance(grads["A"], sp.ImmutableSparseMatrix) and grads["A"][3, 7] == 3
    assert grads["A"][0, 0] == 2 * A[0, 0] and grads["A"][1, 1] == 0
    assert len(text) < 50_000


def test_a_large_declared_matrix_trains(rng):
    A = sp.MatrixSymbol("A", 300, 400)
    trainer = symbp.Model((A[1, 2] - 3) ** 2 + A[0, 0] ** 2, params=[A], name="wide").compile(
        symbp.optim.SGD(lr=0.25)
    )
    start = rng.normal(size=(300, 400))
    fit = trainer.fit({"A": start}, steps=40)
    assert fit.params["A"][1, 2] == pytest.approx(3.0) and abs(fit.params["A"][0, 0]) < 1e-6
    untouched = np.ones((300, 400), dtype=bool)
    untouched[1, 2] = untouched[0, 0] = False
    np.testing.assert_array_equal(fit.params["A"][untouched], start[untouched])


def test_a_hessian_too_large_for_straight_line_code_is_refused_before_compiling():
    loss, params, inputs = explicit_mlp(12, 28)  # under the limit itself, not its Hessian
    model = symbp.Model(loss, params=params, inputs=inputs, targets=[sp.Symbol("y")],
                        name="guard_hvp")  # fmt: skip
    assert count_steps(model.scalar, model.variables, SCALAR) < STRAIGHT_LINE_LIMIT
    with pytest.raises(symbp.OptionError, match=r"Hessian-vector product .* level='matrix'"):
        model.compile().hessp({}, {}, {})


def test_outputs_too_large_for_straight_line_code_are_refused():
    W, x = sp.MatrixSymbol("W", 40, 40), sp.MatrixSymbol("x", 1, 40)
    model = symbp.Model(W[0, 0] ** 2, params=[W], inputs=[x], outputs={"big": x * W},
                        level="scalar", name="guard_outputs")  # fmt: skip
    with pytest.raises(symbp.DeclarationError, match=r"outputs \(big\) .* level='matrix'"):
        model.module_source()
