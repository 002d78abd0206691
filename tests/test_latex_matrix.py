"""Model.latex on the matrix path: names, \\odot, ^{\\top}, updates, errors, pdflatex."""

from __future__ import annotations

import pytest
import sympy as sp
from conftest import latex_error, run_pdflatex

import symbp
from symbp import nn, optim
from symbp.errors import OptionError


def tanh_mlp() -> symbp.Model:
    x, t = sp.MatrixSymbol("x", 1, 3), sp.MatrixSymbol("t", 1, 2)
    W1, b1 = sp.MatrixSymbol("W1", 3, 4), sp.MatrixSymbol("b1", 1, 4)
    W2, b2 = sp.MatrixSymbol("W2", 4, 2), sp.MatrixSymbol("b2", 1, 2)
    h = nn.dense(x, W1, b1, sp.tanh)
    z = nn.dense(h, W2, b2)
    return symbp.Model(
        nn.softmax_cross_entropy(z, t),
        params=[W1, b1, W2, b2],
        inputs=[x],
        targets=[t],
        name="tiny_mlp",
        level="matrix",
    )


def test_matrix_model_prints_at_matrix_level():
    model = tanh_mlp()
    assert model.matrix
    text = model.latex()
    for line in (
        r"z_{1} &= x W_{1} + b_{1}",
        r"h_{1} &= \tanh{\left(z_{1} \right)}",
        r"z_{2} &= h_{1} W_{2} + b_{2}",
        r"\bar{h}_{1} &= \bar{z}_{2} W_{2}^{\top}",
        r"\bar{z}_{1} &= \bar{h}_{1} \odot \left(1 - h_{1}^{\odot 2}\right)",
        r"\frac{\partial L}{\partial W_{1}} = \bar{W}_{1} &= x^{\top} \bar{z}_{1}",
        r"\frac{\partial L}{\partial W_{2}} = \bar{W}_{2} &= h_{1}^{\top} \bar{z}_{2}",
        r"\frac{\partial L}{\partial b_{2}} = \bar{b}_{2} &= \bar{z}_{2}",
    ):
        assert line in text, line
    assert "_V" not in text and "_v" not in text
    assert text.startswith(r"\begin{aligned}") and text.endswith(r"\end{aligned}")
    assert model._repr_latex_() == "$$\n" + text + "\n$$"


def test_adjoints_follow_the_sweep_order():
    model = tanh_mlp()
    text = model.latex()
    order = [
        text.index(name)
        for name in (r"\bar{L} &=", r"\bar{z}_{2} &=", r"\bar{h}_{1} &=", r"\bar{z}_{1} &=")
    ]
    assert order == sorted(order)
    # every displayed adjoint is one step of the derivation the kernels are compiled from
    # (two pass-throughs are merged)
    shown = text.split(r"\textbf{Backward pass")[1].split(r"\textbf{Gradients}")[0]
    assert shown.count("&=") == len(model.kernel_derivation.adjoint) - 2


def test_matrix_model_with_optimizer_and_sigmoid():
    x, t = sp.MatrixSymbol("x", 1, 2), sp.MatrixSymbol("t", 1, 1)
    W, b = sp.MatrixSymbol("W", 2, 1), sp.MatrixSymbol("b", 1, 1)
    y = nn.dense(x, W, b, nn.sigmoid)
    model = symbp.Model((y - t).T * (y - t), params=[W, b], inputs=[x], targets=[t], level="matrix")
    text = model.latex(optimizer=optim.SGD(lr=0.1, momentum=0.9))
    assert r"\textbf{Update}" in text and r"\leftarrow" in text and r"\eta_t" in text
    assert r"\hat{y}" in text
    assert r"= \bar{W} &=" in text


def test_values_are_refused_clearly():
    with pytest.raises(OptionError, match="not supported for matrix-level models"):
        tanh_mlp().latex(values={"x": [[1.0, 2.0, 3.0]]})


def test_cli_latex_digits(capsys):
    from symbp.cli import main

    assert main(["latex", "examples/digits_mlp.py", "--fragment"]) == 0
    out = capsys.readouterr().out
    assert r"\bar{W}_{2}" in out and r"\odot" in out


def test_matrix_document_compiles(tmp_path, pdflatex):
    text = tanh_mlp().latex(document=True, optimizer=optim.SGD(lr=0.1))
    assert r"$W_{1} \in \mathbb{R}^{3 \times 4}$" in text
    tex = tmp_path / "tiny.tex"
    tex.write_text(text, encoding="utf-8")
    result = run_pdflatex(pdflatex, tmp_path, tex.name)
    assert result.returncode == 0, f"{latex_error(result)}\n{result.stdout[-2000:]}"
    assert (tmp_path / "tiny.pdf").stat().st_size > 0
