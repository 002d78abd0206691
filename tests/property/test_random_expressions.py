"""Hypothesis: random smooth expression trees; the sweep equals sympy.diff everywhere."""

from __future__ import annotations

import math

import sympy as sp
from hypothesis import assume, given
from hypothesis import strategies as st

import symbp
from symbp.testing import program_gradient, sympy_gradient

a, b = sp.symbols("a b", real=True)
x = sp.Symbol("x", real=True)

UNARY = [
    sp.sin,
    sp.cos,
    sp.tanh,
    sp.atan,
    sp.exp,
    lambda e: sp.sqrt(1 + e**2),
    lambda e: sp.log(2 + sp.sin(e)),
    lambda e: sp.erf(e),
    lambda e: 1 / (1 + sp.exp(-e)),
    lambda e: e**2,
    lambda e: e**3,
]
BINARY = [
    lambda u_, r: u_ + r,
    lambda u_, r: u_ - r,
    lambda u_, r: u_ * r,
    lambda u_, r: u_ / (1 + r**2),
    lambda u_, r: sp.atan2(u_, 2 + sp.cos(r)),
]
leaves = st.sampled_from([a, b, x, a * x, sp.Integer(2), sp.Rational(1, 3)])


def extend(children):
    unary = st.builds(lambda f, e: f(e), st.sampled_from(UNARY), children)
    binary = st.builds(lambda f, u_, r: f(u_, r), st.sampled_from(BINARY), children, children)
    return unary | binary


expressions = st.recursive(leaves, extend, max_leaves=8)
points = st.floats(min_value=-1.5, max_value=1.5, allow_nan=False)


@given(expressions, points, points, points)
def test_sweep_equals_sympy_diff(expr, av, bv, xv):
    assume(expr.has(a) or expr.has(b))
    model = symbp.Model(expr, params=[a, b], inputs=[x], name="random")
    params, sample = {"a": av, "b": bv}, {"x": xv}
    ref = sympy_gradient(model, params, sample)
    assume(all(math.isfinite(v) and abs(v) < 1e8 for v in ref.values()))
    ours = program_gradient(model, params, sample)
    for name in ("a", "b"):
        assert math.isclose(ours[name], ref[name], rel_tol=1e-9, abs_tol=1e-9), (expr, name)


@given(expressions)
def test_emitting_twice_gives_identical_text(expr):
    assume(expr.has(a) or expr.has(b))
    first = symbp.Model(expr, params=[a, b], inputs=[x], name="twice").module_source().text
    second = symbp.Model(expr, params=[a, b], inputs=[x], name="twice").module_source().text
    assert first == second


@given(expressions, points, points)
def test_cse_and_inlining_preserve_values(expr, av, xv):
    """The simplified program evaluates to the loss itself (back-substitution check)."""
    assume(expr.has(a))
    model = symbp.Model(expr, params=[a, b], inputs=[x], name="values")
    values = {a: sp.Float(av, 30), b: sp.Float(0.25, 30), x: sp.Float(xv, 30)}
    env = dict(values)
    for target, rhs in model.program.statements:
        result = rhs.xreplace(env)
        env[target] = result.evalf(30) if isinstance(result, sp.Expr) else result
    ours = sp.sympify(model.program.loss).xreplace(env).evalf(30)
    ref = expr.xreplace(values).evalf(30)
    assume(ref.is_finite)
    assert abs(float(ours) - float(ref)) <= 1e-9 * max(1.0, abs(float(ref)))
