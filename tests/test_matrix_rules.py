"""Matrix-level reverse mode: every matrix VJP rule against finite differences.

No kernels are compiled here: the sweep's program is evaluated by the NumPy
reference evaluator (symbp.nodes.evaluate), and the loss itself by the same
evaluator at perturbed parameters (central differences).
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction
from sympy.matrices.expressions.matexpr import MatrixElement

import symbp
from symbp import nn
from symbp.declare.variables import Variable
from symbp.derive.matrix import sweep
from symbp.derive.matrix_rules import MATRIX_VJP_RULES, elementwise_partials
from symbp.nodes.evaluate import evaluate, evaluate_program
from symbp.nodes.matrix import ELEMENT, Pad, RowLogSumExp
from symbp.nodes.scan import Scan
from symbp.simplify.canonical import canonicalize, rewrite_matpow
from symbp.simplify.matrix import build_matrix_program
from symbp.simplify.stability import stabilize

J = sp.OneMatrix
A = sp.MatrixSymbol("A", 2, 3)
B = sp.MatrixSymbol("B", 3, 2)
C = sp.MatrixSymbol("C", 2, 3)
S = sp.MatrixSymbol("S", 3, 3)
x = sp.MatrixSymbol("x", 1, 2)
s = sp.Symbol("s", real=True)


def derive_matrix(loss, variables):
    """The matrix sweep of the pipeline: canonical forms, stability passes, then the sweep."""
    return sweep(stabilize(canonicalize(loss)), variables)


def total(m: sp.MatrixExpr) -> sp.MatrixExpr:
    """The sum of all elements, as a 1x1 matrix (OneMatrix products)."""
    rows, cols = m.shape
    return J(1, rows) * m * J(cols, 1)


#: name -> (1x1 loss in the params A, B, C, S, x, s; the rule classes it exercises)
CATALOGUE = {
    "matmul_chain": (total(A * B * A), sp.MatMul),
    "matmul_scalar_factor": (total(s * (A * B)) + sp.MatMul(s**2, J(1, 1)), sp.MatMul),
    "matadd": (total(A + C + A), sp.MatAdd),
    "transpose": (total(sp.Transpose(A) * C * sp.Transpose(B.T)), sp.Transpose),
    "hadamard": (total(sp.HadamardProduct(A, C, A)), sp.HadamardProduct),
    "hadamard_power": (total(sp.HadamardPower(A, 3)), sp.HadamardPower),
    "elementwise": (
        total(A.applyfunc(sp.tanh) * B.applyfunc(lambda u: s * sp.sin(u))),
        ElementwiseApplyFunction,
    ),
    "trace": (
        sp.MatMul(sp.Trace(S * S) + sp.log(sp.Trace(J(1, 2) * A * J(3, 1)) ** 2), J(1, 1)),
        sp.Trace,
    ),
    "row_logsumexp": (total(RowLogSumExp(A) * x), RowLogSumExp),
    "broadcast_and_sums": (total(J(2, 1) * x * A - A * J(3, 3)), sp.MatMul),
    "element": (
        total(A * B) + sp.MatMul(A[0, 1] ** 2 + sp.sin(S[2, 0]) * s, J(1, 1)),
        MatrixElement,
    ),
    "slice": (
        total(A[:, 1:] * B[:2, :]) + total(sp.Transpose(C[1:2, :]) * x) + total(S[1:, 1:]),
        sp.MatrixSlice,
    ),
    "pad": (total(nn.tanh(Pad(A, 3, 4, (1, 3, 1), (0, 3, 1)))), Pad),
    "block": (
        total(nn.tanh(sp.BlockMatrix([[A, C], [x * A, s * (x * C)]]))),
        sp.BlockMatrix,
    ),
    "scan": (
        total(nn.scan(lambda h, r: nn.tanh(r * B + h * (A * B) * s), x, A))
        + total(
            nn.scan(lambda h, r, q: nn.tanh(sp.HadamardProduct(q, h) + r * B), x, (A, C * B), True)
            * S[:2, :2]
        ),
        Scan,
    ),
}


def variables_of(loss: sp.Basic) -> tuple[Variable, ...]:
    symbols = sorted(loss.free_symbols, key=sp.default_sort_key)
    return tuple(
        Variable(str(v), "params", tuple(int(d) for d in v.shape) if v.is_Matrix else (), v)
        for v in symbols
    )


def point(seed: int) -> dict[sp.Basic, object]:
    rng = np.random.default_rng(seed)
    return {
        A: rng.normal(size=(2, 3)),
        B: rng.normal(size=(3, 2)),
        C: rng.normal(size=(2, 3)),
        S: rng.normal(size=(3, 3)),
        x: rng.normal(size=(1, 2)),
        s: float(rng.uniform(0.5, 1.5)),
    }


def loss_value(loss: sp.Basic, env: dict) -> float:
    return float(np.asarray(evaluate(loss, env)).reshape(()))


def finite_differences(loss: sp.Basic, env: dict, symbol: sp.Basic, h: float = 1e-6) -> np.ndarray:
    base = np.array(env[symbol], dtype=float)
    grad = np.zeros_like(base)
    for index in np.ndindex(base.shape):
        for sign in (1.0, -1.0):
            moved = base.copy()
            moved[index] += sign * h
            grad[index] += sign * loss_value(
                loss, {**env, symbol: moved if moved.ndim else float(moved)}
            )
    return grad / (2 * h)


def check_gradients(loss: sp.Basic, derivation, env: dict) -> None:
    program = build_matrix_program(derivation)
    value, grads = evaluate_program(program, env)
    # Central differences in float64 with h = 1e-6 on O(1) values: error ~1e-9.
    assert value == pytest.approx(loss_value(loss, env), rel=1e-12, abs=1e-12)
    for var in derivation.variables:
        fd = finite_differences(loss, env, var.symbol)
        np.testing.assert_allclose(np.asarray(grads[var.name], float), fd, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_matrix_rule_matches_finite_differences(name):
    loss, _ = CATALOGUE[name]
    variables = variables_of(loss)
    env = point(sum(map(ord, name)))
    check_gradients(loss, sweep(rewrite_matpow(loss), variables), env)  # the rules alone
    check_gradients(loss, derive_matrix(loss, variables), env)  # with the stability passes


def test_catalogue_covers_every_matrix_rule():
    covered = {cls for _, cls in CATALOGUE.values()}
    assert set(MATRIX_VJP_RULES) <= covered, set(MATRIX_VJP_RULES) - covered


def test_elementwise_derivative_is_written_in_the_output_where_possible():
    d = ELEMENT
    (tanh,) = elementwise_partials(sp.Lambda(d, sp.tanh(d)), (d,))
    assert tanh == (1 - d**2, True)
    (exp,) = elementwise_partials(sp.Lambda(d, sp.exp(d)), (d,))
    assert exp == (d, True)
    (relu,) = elementwise_partials(sp.Lambda(d, sp.Max(0, d)), (d,))
    assert relu[1] is False  # derivative 0 at 0, from the scalar rules' conventions
    assert relu[0].subs(d, 0) == 0 and relu[0].subs(d, 1) == 1


def test_shared_layers_are_one_step_and_nothing_is_unrolled():
    W = sp.MatrixSymbol("W", 64, 512)
    v = sp.MatrixSymbol("v", 1, 64)
    h = (v * W).applyfunc(sp.tanh)
    loss = total(h) + h * J(512, 1)  # h used twice
    derivation = derive_matrix(loss, variables_of(loss))
    assert len([s for s in derivation.forward if isinstance(s.node, ElementwiseApplyFunction)]) == 1
    assert len(derivation.forward) < 10 and len(derivation.adjoint) < 10


def test_model_takes_the_matrix_path_only_for_matrix_level_losses():
    v = sp.MatrixSymbol("v", 1, 2)
    W = sp.MatrixSymbol("W", 2, 2)
    matrix = symbp.Model(
        total((v * W).applyfunc(sp.tanh)), params=[W], inputs=[v], name="m", level="matrix"
    )
    assert matrix.matrix
    # An element read of a product stays a matrix-level node (symbp.nodes.elements) ...
    indexed = symbp.Model((v * W)[0, 0] ** 2, params=[W], inputs=[v], name="m", level="matrix")
    assert indexed.matrix
    # ... and a model this small is unrolled by default (level="auto")
    assert not symbp.Model((v * W)[0, 0] ** 2, params=[W], inputs=[v], name="m").matrix
    # ... reads of declared symbols, and explicit matrices, keep the scalar path.
    assert not symbp.Model(W[0, 0] ** 2 * v[0, 1], params=[W], inputs=[v], name="m").matrix
    explicit = (v.as_explicit() * W)[0, 0] ** 2
    assert explicit.is_Pow and not symbp.Model(explicit, params=[W], inputs=[v], name="m").matrix
    traced = symbp.Model(sp.log(1 + sp.Trace(W.T * W)), params=[W], name="m", level="matrix")
    assert traced.matrix
    grads = matrix.gradients()
    assert isinstance(grads["W"], sp.MatrixExpr) and grads["W"].shape == (2, 2)


def test_matrix_level_declaration_errors():
    v = sp.MatrixSymbol("v", 1, 2)
    W = sp.MatrixSymbol("W", 2, 2)
    with pytest.raises(symbp.DeclarationError, match="1x1"):
        symbp.Model(v * W, params=[W], inputs=[v])
    with pytest.raises(symbp.DeclarationError, match="not declared"):
        symbp.Model(total(v * W), params=[W], level="matrix")
    with pytest.raises(symbp.DeclarationError, match="not declared"):
        symbp.Model(total(v * W), params=[W])
    with pytest.raises(symbp.DeclarationError, match="level must be one of"):
        symbp.Model(total(v * W), params=[W], inputs=[v], level="vector")
    # an explicit Matrix of symbols: the loss is multiplied out (the scalar path)
    row = sp.ImmutableMatrix([[sp.Symbol("a"), sp.Symbol("b")]])
    assert not symbp.Model(total(row * W), params=[W], inputs={"v": row}).matrix
    # what no kernel computes is refused at Model(), not later at compile()
    with pytest.raises(symbp.DeclarationError, match=r"Inverse .* an input"):
        symbp.Model(total(v * sp.Inverse(W)), params=[W], inputs=[v], level="matrix")


def test_nn_helpers_match_their_textbook_formulas():
    rng = np.random.default_rng(7)
    z = sp.MatrixSymbol("z", 1, 4)
    t = sp.MatrixSymbol("t", 1, 4)
    zv, tv = rng.normal(size=(1, 4)) * 3, rng.dirichlet(np.ones(4)).reshape(1, 4)
    env = {z: zv, t: tv}
    logp = zv - np.log(np.exp(zv).sum())
    np.testing.assert_allclose(evaluate(nn.log_softmax(z), env), logp, rtol=1e-12)
    np.testing.assert_allclose(evaluate(nn.softmax(z), env), np.exp(logp), rtol=1e-12)
    assert loss_value(nn.softmax_cross_entropy(z, t), env) == pytest.approx(-(tv * logp).sum())
    sig = 1 / (1 + np.exp(-zv))
    np.testing.assert_allclose(evaluate(nn.sigmoid(z), env), sig, rtol=1e-12)
    np.testing.assert_allclose(evaluate(nn.relu(z), env), np.maximum(zv, 0), rtol=1e-12)
    np.testing.assert_allclose(evaluate(nn.softplus(z), env), np.log1p(np.exp(zv)), rtol=1e-12)
    bce = -(tv * np.log(sig) + (1 - tv) * np.log(1 - sig)).sum()
    assert loss_value(nn.binary_cross_entropy_with_logits(z, t), env) == pytest.approx(bce)
    assert loss_value(nn.mse(z, t), env) == pytest.approx(((zv - tv) ** 2).mean())
    W = sp.MatrixSymbol("W", 4, 3)
    b = sp.MatrixSymbol("b", 1, 3)
    Wv, bv = rng.normal(size=(4, 3)), rng.normal(size=(1, 3))
    dense = nn.dense(z, W, b, sp.tanh)
    np.testing.assert_allclose(evaluate(dense, {**env, W: Wv, b: bv}), np.tanh(zv @ Wv + bv))
    column = nn.dense(z.T, W.T, b.T, nn.sigmoid)
    assert column.shape == (3, 1)
    u = sp.Symbol("u", real=True)
    assert nn.sigmoid(u) == 1 / (1 + sp.exp(-u))  # ordinary SymPy on scalars
    assert nn.binary_cross_entropy_with_logits(u, s) == sp.log(1 + sp.exp(u)) - s * u
    with pytest.raises(symbp.DeclarationError, match="dense"):
        nn.dense(z, W.T)
