"""Model.latex: names, chain-rule lines, the numeric walk-through, pdflatex."""

from __future__ import annotations

import re

import numpy as np
import pytest
import sympy as sp
from conftest import SHARED, latex_error, load_example, run_pdflatex

import symbp
from symbp import optim
from symbp.explain.latex import number
from symbp.explain.scalar import explain
from symbp.explain.walkthrough import evaluate

QUADRATIC = r"""\begin{aligned}
& \textbf{Forward pass} \\
u &= w + 1 && = 6 \\
L &= u^{2} && = 36 \\[1ex]
& \textbf{Backward pass (reverse sweep)} \\
\bar{L} &= 1 \\
\bar{u} &= \bar{L} \frac{\partial L}{\partial u} = \bar{L} \cdot 2 u && = 12 \\[1ex]
& \textbf{Gradients} \\
\frac{\partial L}{\partial w} = \bar{w} &= \bar{u} \frac{\partial u}{\partial w} = \bar{u} && = 12 \\[1ex]
& \textbf{Gradients in the forward quantities} \\
\frac{\partial L}{\partial w} &= 2 u \\[1ex]
& \textbf{Closed form} \\
\frac{\partial L}{\partial w} &= 2 w + 2 \\[1ex]
& \textbf{Update} \\
\eta_t &= 0.2 \\
p &\leftarrow p - g \eta_t \\
\eta_0 &= 0.2 \\
w &\leftarrow 5 - 0.2 \cdot 12 = 2.6
\end{aligned}"""


def seed_004_document() -> str:
    example = load_example("seed_004")
    values = {**example.PARAMS, **example.DATA}
    return example.model.latex(document=True, optimizer=optim.SGD(lr=0.5), values=values)


def test_scalar_derivation_exact():
    w = sp.Symbol("w")
    model = symbp.Model((w + 1) ** 2, params=[w], name="quadratic")
    text = model.latex(optimizer=optim.SGD(lr=0.2), values={"w": 5.0}, least_squares=False)
    assert text == QUADRATIC
    assert model._repr_latex_() == "$$\n" + model.latex() + "\n$$"


def test_seed_004_names_follow_the_network():
    text = load_example("seed_004").model.latex()
    for name in (r"z^{(1)}_{1}", r"h^{(1)}_{2}", r"z^{(2)}_{2}", r"\hat{y}_{1}", "r_{2}"):
        assert name in text, name
    assert r"h^{(1)}_{1} &= \sigma{\left(z^{(1)}_{1} \right)}" in text
    # a chain-rule line with two parents, and the sigmoid's derivative by its output
    assert (
        r"\bar{h}^{(1)}_{1} &= \bar{z}^{(2)}_{2} \frac{\partial z^{(2)}_{2}}{\partial h^{(1)}_{1}}"
        r" + \bar{z}^{(2)}_{1} \frac{\partial z^{(2)}_{1}}{\partial h^{(1)}_{1}}"
    ) in text
    assert r"\bar{\hat{y}}_{1} \, \hat{y}_{1} \left(1 - \hat{y}_{1}\right)" in text
    assert "_v" not in text and "_q" not in text


def seed_004_numbers() -> list[float]:
    """Every number of seed 004's worked example, read from SEEDS.md."""
    path = SHARED / "SEEDS.md"
    if not path.exists():
        pytest.skip(f"{path} is not available")
    section = path.read_text().split("## 004", 1)[1]
    return [float(v) for v in re.findall(r"-?\d+\.\d{4,}", section)]


def test_seed_004_document_has_every_number_of_the_worked_example():
    text = seed_004_document()
    numbers = seed_004_numbers()
    assert len(numbers) == 27  # 2 outputs, E, 12 gradients, 12 updated weights
    for value in numbers:
        assert number(round(value, 8)) in text, value
    assert "0.75136507" in text and "0.77292847" in text and "0.29837111" in text


def test_every_adjoint_line_adds_up():
    """The contracted chain-rule lines reproduce the sweep's values exactly."""
    example = load_example("seed_004")
    ex = explain(example.model.derivation)
    walk = evaluate(ex, {**example.PARAMS, **example.DATA})
    value = dict(walk.values)
    data = {**example.PARAMS, **example.DATA}
    env = {q.key: sp.Float(value[q.key]) for q in ex.quantities}
    for leaf, v in ex.derivation.leaves.items():
        env[leaf] = sp.Float(np.asarray(data[v.var.name]).reshape(v.var.shape)[v.index])
    for line in ex.adjoints + ex.gradients:
        total = float(line.constant)
        for term in line.terms:
            total += value[term.parent.bar] * float(sp.sympify(term.local).xreplace(env))
        assert total == pytest.approx(value[line.child.bar], rel=1e-12, abs=1e-15)


def test_values_errors_are_clear():
    w = sp.Symbol("w")
    model = symbp.Model((w + 1) ** 2, params=[w])
    with pytest.raises(symbp.DataError, match="no entry for param 'w'"):
        model.latex(values={})
    with pytest.raises(symbp.DataError, match="does not declare"):
        model.latex(values={"w": 1.0, "v": 2.0})
    with pytest.raises(symbp.DataError, match="not finite"):
        model.latex(values={"w": float("nan")})


def test_seed_004_document_compiles_with_pdflatex(tmp_path, pdflatex):
    (tmp_path / "seed_004.tex").write_text(seed_004_document())
    result = run_pdflatex(pdflatex, tmp_path, "seed_004.tex")
    assert result.returncode == 0, f"{latex_error(result)}\n{result.stdout[-2000:]}"
    assert (tmp_path / "seed_004.pdf").stat().st_size > 10_000


def test_matrix_level_models_print_at_matrix_level():
    x, y = sp.MatrixSymbol("x", 1, 3), sp.MatrixSymbol("y", 1, 1)
    W, v = sp.MatrixSymbol("W", 3, 2), sp.MatrixSymbol("v", 2, 1)
    residual = x * W * v - y
    model = symbp.Model(residual.T * residual, params=[W, v], inputs=[x], targets=[y])
    if not getattr(model, "matrix", False):
        pytest.skip("this model is unrolled to elements")
    assert r"\bar{W}" in model.latex()  # matrix level: see tests/test_latex_matrix.py
    with pytest.raises(symbp.EmitError, match="matrix level"):
        explain(model.derivation)  # the element-level explainer still says so clearly


def test_hessian_section_prints_the_second_derivatives():
    w, b, x, y = sp.symbols("w b x y")
    model = symbp.Model((w * x + b - y) ** 2, params=[w, b], inputs=[x], targets=[y])
    text = model.latex(hessian=True)
    assert r"\textbf{Second derivatives}" in text
    assert r"\frac{\partial^2 L}{\partial w^2} &= 2 x^{2}" in text
    assert r"\frac{\partial^2 L}{\partial w\,\partial b} &= 2 x" in text
    assert "Second derivatives" not in model.latex()
