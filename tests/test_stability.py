"""Stability passes: the rewrites themselves, and compiled kernels at extreme inputs.

At |z| = 800 (float64) and |z| = 90 (float32) the textbook formulas overflow
(``exp(800) = inf``); the compiled loss and gradient must stay finite and equal the
exact values (mpmath, 50 digits). At moderate inputs they must equal the textbook
formulas evaluated directly.
"""

from __future__ import annotations

import mpmath
import numpy as np
import pytest
import sympy as sp

import symbp
from symbp.nodes.scalar import LogSumExp, Sigmoid, Softplus
from symbp.simplify.stability import (
    MATRIX_PASSES,
    SCALAR_PASSES,
    rewrite_logsumexp,
    rewrite_softplus_pair,
    stabilize,
)

u, t = sp.symbols("u t", real=True)
SIG = 1 / (1 + sp.exp(-u))


@pytest.mark.parametrize(
    "naive, stable",
    [
        (SIG, Sigmoid(u)),
        (sp.exp(u) / (1 + sp.exp(u)), Sigmoid(u)),
        (1 - SIG, Sigmoid(-u)),
        (SIG**2, Sigmoid(u) ** 2),
        (sp.log(1 + sp.exp(u)), Softplus(u)),
        (sp.log(SIG), -Softplus(-u)),
        (sp.log(1 - SIG), -Softplus(u)),
        (sp.log(sp.exp(u) + sp.exp(2 * u) + 1), LogSumExp(0, u, 2 * u)),
        # the sigmoid cross-entropy, reduced to one softplus: gradient sigmoid(u) - t
        (-(t * sp.log(SIG) + (1 - t) * sp.log(1 - SIG)), Softplus(u) - t * u),
    ],
)
def test_scalar_rewrites(naive, stable):
    assert stabilize(naive) == stable
    # The identities hold exactly (checked in 30-digit arithmetic at a few points).
    for value in (sp.Integer(-3), sp.Rational(2, 5), sp.Rational(5, 2)):
        at = {u: value, t: sp.Rational(3, 10)}
        assert float((naive - stable).subs(at).evalf(30)) == pytest.approx(0, abs=1e-25)


def test_rewrites_leave_other_expressions_alone():
    for expr in (sp.log(u + 1), sp.exp(u) / (2 + sp.exp(u)), sp.log(sp.exp(u) + u)):
        assert stabilize(expr) == expr
    assert rewrite_logsumexp(sp.log(2 + sp.exp(u))) == LogSumExp(sp.log(2), u)
    assert rewrite_softplus_pair(Softplus(u) + Softplus(-u)) == 2 * Softplus(u) - u


def test_every_pass_is_named_and_documented():
    for rewrite in SCALAR_PASSES + MATRIX_PASSES:
        assert rewrite.__name__.startswith("rewrite_")
        assert rewrite.__doc__ and ("all real" in rewrite.__doc__ or "valid" in rewrite.__doc__)


def test_matrix_logsumexp_and_merged_cross_entropy():
    z = sp.MatrixSymbol("z", 1, 3)
    naive_lse = (z.applyfunc(sp.exp) * sp.OneMatrix(3, 1)).applyfunc(sp.log)
    assert "logsumexp_rows(z)" in str(stabilize(naive_lse))
    col = sp.MatrixSymbol("c", 3, 1)
    naive_col = (sp.OneMatrix(1, 3) * col.applyfunc(sp.exp)).applyfunc(sp.log)
    assert "logsumexp_rows(c.T)" in str(stabilize(naive_col))
    bce = -(
        t * z.applyfunc(lambda v: sp.log(1 / (1 + sp.exp(-v))))
        + (1 - t) * z.applyfunc(lambda v: sp.log(1 - 1 / (1 + sp.exp(-v))))
    )
    merged = stabilize(bce)
    var = merged.function.variables[0]
    assert merged.function.expr == Softplus(var) - t * var


# -- compiled kernels at extreme inputs -------------------------------------------------
x = sp.MatrixSymbol("x", 1, 4)  # extreme logits arrive as data
w = sp.MatrixSymbol("w", 1, 4)  # evaluated at w = 1, so z = x
T = sp.MatrixSymbol("T", 1, 4)  # class probabilities
y = sp.Symbol("y", real=True)  # a 0/1 label
J = sp.OneMatrix


def _total(m):
    return m * J(4, 1)


def naive_loss() -> sp.MatrixExpr:
    """Textbook formulas, as a user would write them (every term overflows at 800)."""
    z = sp.HadamardProduct(x, w)
    sig = sp.Lambda(u, 1 / (1 + sp.exp(-u)))
    softmax_ce = (z.applyfunc(sp.exp) * J(4, 1)).applyfunc(sp.log) - z * T.T
    bce = -(
        y * _total(z.applyfunc(lambda v: sp.log(sig(v))))
        + (1 - y) * _total(z.applyfunc(lambda v: sp.log(1 - sig(v))))
    )
    softplus = _total(z.applyfunc(lambda v: sp.log(1 + sp.exp(v))))
    sigmoid = _total(z.applyfunc(sig))
    return softmax_ce + bce + softplus + sigmoid


@pytest.fixture(scope="module")
def stability_model():
    return symbp.Model(naive_loss(), params=[w], inputs=[x], targets=[T, y], name="stability")


def exact(xrow, trow, label):
    """Loss and dL/dw at w = 1 for one sample, in 50-digit arithmetic."""
    mpmath.mp.dps = 50
    z = [mpmath.mpf(float(v)) for v in xrow]
    tt = [mpmath.mpf(float(v)) for v in trow]
    sig = [1 / (1 + mpmath.exp(-v)) for v in z]
    lse = mpmath.log(sum(mpmath.exp(v) for v in z))
    softplus = [mpmath.log(1 + mpmath.exp(v)) for v in z]
    loss = lse - sum(a * b for a, b in zip(z, tt, strict=True))
    loss += sum(sp_ - label * v for sp_, v in zip(softplus, z, strict=True))
    loss += sum(softplus) + sum(sig)
    dz = [
        mpmath.exp(v - lse) - tk + (s - label) + s + s * (1 - s)
        for v, tk, s in zip(z, tt, sig, strict=True)
    ]
    grad = [float(d * v) for d, v in zip(dz, z, strict=True)]
    return float(loss), np.array(grad).reshape(1, 4)


def naive_numpy(xrow, trow, label):
    """The textbook loss and gradient in NumPy (fine for moderate inputs)."""
    z = xrow.astype(np.float64)
    sig = 1 / (1 + np.exp(-z))
    p = np.exp(z) / np.exp(z).sum()
    loss = np.log(np.exp(z).sum()) - z @ trow
    loss += -(label * np.log(sig) + (1 - label) * np.log(1 - sig)).sum()
    loss += np.log(1 + np.exp(z)).sum() + sig.sum()
    dz = p - trow + (sig - label) + sig + sig * (1 - sig)
    return float(loss), (dz * z).reshape(1, 4)


@pytest.mark.parametrize("dtype, big, rtol", [("float64", 800.0, 1e-12), ("float32", 90.0, 2e-5)])
def test_extreme_inputs_stay_finite_and_exact(stability_model, dtype, big, rtol):
    trainer = stability_model.compile(dtype=dtype)
    X = np.array([[big, -big, 0.5, -0.5], [-big, -big, big, 3.0], [big, big, -big, -big]])
    Tp = np.array([[0, 1, 0, 0], [0.25, 0.25, 0.5, 0], [1, 0, 0, 0]], dtype=float)
    Y = np.array([1.0, 0.0, 1.0])
    params = {"w": np.ones((1, 4))}
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        naive = [naive_numpy(X[k], Tp[k], Y[k]) for k in range(3)]
    assert not all(np.isfinite(v) and np.all(np.isfinite(g)) for v, g in naive)  # naive overflows
    for k in range(3):
        data = {"x": X[k : k + 1], "T": Tp[k : k + 1], "y": Y[k : k + 1]}
        loss = trainer.loss(params, data)
        grad = trainer.grad(params, data)["w"]
        ref_loss, ref_grad = exact(X[k], Tp[k], Y[k])
        assert np.isfinite(loss) and np.all(np.isfinite(grad))
        assert loss == pytest.approx(ref_loss, rel=rtol)
        # Entries that cancel to ~0 in exact arithmetic get an absolute tolerance.
        np.testing.assert_allclose(grad, ref_grad, rtol=rtol, atol=rtol * big)


@pytest.mark.parametrize("dtype, rtol", [("float64", 1e-12), ("float32", 2e-5)])
def test_moderate_inputs_equal_the_textbook_formulas(stability_model, dtype, rtol):
    trainer = stability_model.compile(dtype=dtype)
    rng = np.random.default_rng(11)
    X = rng.normal(size=(5, 4)) * 4
    Tp = rng.dirichlet(np.ones(4), size=5)
    Y = (rng.random(5) < 0.5).astype(float)
    data = {"x": X, "T": Tp, "y": Y}
    params = {"w": np.ones((1, 4))}
    ref = [naive_numpy(X[k], Tp[k], Y[k]) for k in range(5)]
    assert trainer.loss(params, data) == pytest.approx(np.mean([v for v, _ in ref]), rel=rtol)
    np.testing.assert_allclose(
        trainer.grad(params, data)["w"],
        np.mean([g for _, g in ref], axis=0),
        rtol=rtol * 10,
        atol=rtol,
    )


# -- the scalar path: the same passes, always on ---------------------------------------
def logistic_models() -> list[symbp.Model]:
    """The textbook logistic loss log(1 + exp(-t z)), on both levels and with Symbols."""
    a, b, xs = sp.symbols("a b xs", real=True)
    scalar = symbp.Model(
        sp.log(1 + sp.exp(-y * (a * xs + b))),
        params=[a, b],
        inputs=[xs],
        targets=[y],
        name="logistic_scalar",
    )
    v = sp.MatrixSymbol("v", 3, 1)
    row = sp.MatrixSymbol("row", 1, 3)
    z = (row * v)[0, 0] + b  # an element read: the matrix level
    mixed = symbp.Model(
        sp.log(1 + sp.exp(-y * z)), params=[v, b], inputs=[row], targets=[y], name="logistic_mixed"
    )
    return [scalar, mixed]


def logistic_data(model: symbp.Model, z: np.ndarray) -> tuple[dict, dict]:
    """Params and data giving the logits ``z`` (label 1 on even samples, -1 on odd)."""
    labels = np.where(np.arange(len(z)) % 2 == 0, 1.0, -1.0)
    if "a" in {v.name for v in model.variables}:
        return {"a": 1.0, "b": 0.0}, {"xs": z, "y": labels}
    rows = np.zeros((len(z), 3))
    rows[:, 0] = z
    return {"v": np.array([[1.0], [0.0], [0.0]]), "b": 0.0}, {"row": rows, "y": labels}


@pytest.mark.parametrize("dtype, big, rtol", [("float64", 800.0, 1e-13), ("float32", 90.0, 1e-6)])
def test_scalar_logistic_loss_is_finite_at_extreme_logits(dtype, big, rtol):
    for model in logistic_models():
        trainer = model.compile(dtype=dtype)
        z = np.array([big, big, -big, -big, 3.0, -2.0])
        params, data = logistic_data(model, z)
        margin = np.where(np.arange(6) % 2 == 0, 1.0, -1.0) * z  # t z
        with mpmath.workdps(50):
            exact = [float(mpmath.log(1 + mpmath.exp(-mpmath.mpf(float(m))))) for m in margin]
        for k in range(6):
            one = {name: value[k : k + 1] for name, value in data.items()}
            loss = trainer.loss(params, one)
            grads = trainer.grad(params, one)
            assert np.isfinite(loss) and all(np.all(np.isfinite(g)) for g in grads.values())
            assert loss == pytest.approx(exact[k], rel=rtol, abs=1e-300)


def test_scalar_logistic_equals_the_naive_formula_where_it_does_not_overflow(rng):
    for model in logistic_models():
        trainer = model.compile()
        z = rng.normal(size=40) * 5
        params, data = logistic_data(model, z)
        margin = data["y"] * z
        assert trainer.loss(params, data) == pytest.approx(
            np.log1p(np.exp(-margin)).mean(), rel=1e-13
        )


def test_the_derivation_shows_the_loss_as_written():
    scalar, mixed = logistic_models()
    for model in (scalar, mixed):
        assert model.kernel_derivation is not model.derivation
        assert any(isinstance(s.expr, Softplus) for s in model.kernel_derivation.forward)
        assert not any(s.expr.has(Softplus) for s in model.derivation.forward)
    assert "softplus" not in scalar.latex() and r"\log" in scalar.latex()
