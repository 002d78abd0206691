"""The kernels read like the derivation: every quantity and adjoint the LaTeX names is a
line of the generated kernel, under the rule of symbp.explain.code."""

from __future__ import annotations

import re

import pytest
import sympy as sp
from conftest import load_example
from test_latex_matrix import tanh_mlp

import symbp
from symbp import nn, optim
from symbp.explain.code import identifier
from symbp.explain.matrix import MatrixNames
from symbp.explain.names import element_name
from symbp.explain.scalar import explain
from symbp.nodes.text import SummaryPrinter


@pytest.mark.parametrize(
    ("tex", "code"),
    [
        (("u", "", "3"), "u3"),
        (("z", "(1)", "2"), "z1_2"),
        (("W", "(1)", "12"), "W1_12"),
        (("W", "(10)", "1,12"), "W10_1_12"),
        ((r"\hat{y}", "", "1"), "y_hat_1"),
        ((r"\hat{y}", "", ""), "y_hat"),
        (("L", "", ""), "L"),
        ((r"\alpha", "", "2"), "alpha_2"),
        ((r"\mathrm{loss}", "", ""), "loss"),
    ],
)
def test_the_name_rule(tex, code):
    from symbp.explain.names import Name

    name = Name(*tex)
    assert identifier(name) == code
    assert identifier(name, bar=True) == code + "_bar"


def named(model: symbp.Model) -> list[tuple[str, str]]:
    """(LaTeX, identifier) of every quantity and adjoint the model's LaTeX names."""
    derivation = model.kernel_derivation
    pairs = []
    if model.matrix:
        names = MatrixNames(derivation)
        pairs += [(name.tex(), identifier(name)) for name in names.name.values()]
        for step in derivation.adjoint:
            forward = names.of[step.target]
            if step.target not in names.alias and forward in names.name:
                name = names.name[forward]
                pairs.append((name.tex(bar=True), identifier(name, True)))
        for var in derivation.params:
            name = names.variables[var.symbol]  # W_{1}: its adjoint \bar{W}_{1}
            pairs.append((name.replace(name[0], rf"\bar{{{name[0]}}}", 1), var.name + "_bar"))
    else:
        ex = explain(derivation)
        for q in ex.quantities:
            pairs.append((q.name.tex(), identifier(q.name)))
        for line in ex.adjoints:
            pairs.append((line.child.name.tex(bar=True), identifier(line.child.name, True)))
        for line in ex.gradients:
            element = line.child
            name = element_name(element.var, element.index)
            pairs.append((name.tex(bar=True), identifier(name, True)))
    return pairs


def kernel(model: symbp.Model, optimizer=None) -> str:
    """The text of the model function of the model's generated module."""
    text = model.module_source(optimizer or optim.SGD(lr=0.1)).text
    return text.split("def loss_and_grad(", 1)[1].split("\n\n\n", 1)[0]


def logistic() -> symbp.Model:
    w, b, x, t = sp.symbols("w b x t")
    return symbp.Model(
        sp.log(1 + sp.exp(-t * (w * x + b))), params=[w, b], inputs=[x], targets=[t], name="lr"
    )


def sigmoid_net() -> symbp.Model:
    x, t = sp.MatrixSymbol("x", 1, 2), sp.MatrixSymbol("t", 1, 1)
    W, b = sp.MatrixSymbol("W", 2, 3), sp.MatrixSymbol("b", 1, 3)
    v = sp.MatrixSymbol("v", 3, 1)
    y = nn.dense(nn.dense(x, W, b, nn.sigmoid), v)
    return symbp.Model(nn.mse(y, t), params=[W, b, v], inputs=[x], targets=[t], level="matrix")


MODELS = {
    "seed_000": lambda: load_example("seed_000").model,
    "seed_002": lambda: load_example("seed_002").model,
    "seed_004": lambda: load_example("seed_004").model,
    "digits_mlp": lambda: load_example("digits_mlp").model,
    "breast_cancer": lambda: load_example("breast_cancer").model,
    "tiny_mlp": tanh_mlp,
    "logistic": logistic,
    "sigmoid_net": sigmoid_net,
}


@pytest.mark.parametrize("key", sorted(MODELS))
def test_every_name_of_the_latex_is_a_line_of_the_kernel(key):
    model = MODELS[key]()
    latex = model.latex()
    code = kernel(model)
    assignments = set(re.findall(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:\[.*\])?\s*\+?=", code, re.M))
    assignments |= set(re.findall(r"np\.dot\(.*, ([A-Za-z_][A-Za-z0-9_]*)\)\s*$", code, re.M))
    pairs = named(model)
    assert pairs
    for tex, name in pairs:
        assert tex in latex, (tex, key)
        assert name in assignments, (
            f"{key}: {tex} is named {name!r} but no line of the kernel computes it"
        )


def test_each_adjoint_line_says_its_chain_rule_step():
    code = kernel(load_example("seed_004").model)
    assert "# chain rule: r2_bar * dr2/dy_hat_2" in code
    assert re.search(r"# chain rule: z2_\d_bar \* dz2_\d/dh1_1 \+ z2_\d_bar \* dz2_\d/dh1_1", code)
    assert "y_hat_2_bar = r2_bar" in code


def test_docstrings_print_the_model_as_written():
    text = load_example("digits_mlp").model.module_source(optim.SGD(lr=0.1)).text
    assert "Lambda" not in text.split('"""')[1]
    assert "tanh.(" in text.split('"""')[1]
    assert SummaryPrinter().doprint(sp.Symbol("w") + 1) == "w + 1"


def test_nothing_is_computed_twice_in_the_digits_kernel():
    code = kernel(load_example("digits_mlp").model)
    # the sum of the targets (t 1 in the loss, 1^T t^T in its adjoint) is one loop
    assert len(re.findall(r"_a \+= .*t\[_b, _k\]", code)) == 2  # -z2 t^T, and t 1 once
    # the softmax of the log-sum-exp loop is kept, not exponentiated again
    assert code.count("math.exp(") == 1
