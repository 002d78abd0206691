"""Numerical-stability rewrites: named passes, always on, at both levels.

Each pass is a *local* rewrite ``node -> node`` with a docstring stating the identity
and the domain where it holds. :func:`stabilize` applies the scalar passes to every
scalar subexpression (including the bodies of elementwise functions) and the matrix
passes to every matrix subexpression, bottom-up, until nothing changes.

The passes turn textbook formulas into the stable primitives of
:mod:`symbp.nodes.scalar` (and :class:`symbp.nodes.matrix.RowLogSumExp`), whose
printed code never overflows and whose derivatives are written in stable forms. They
keep the value exactly (as real-number identities); only the floating-point
evaluation changes, from overflowing to finite.

Stability rewrites are kept apart from size rewrites (``simplify.py``), as PyTensor
separates its ``stabilize`` from ``canonicalize`` passes. ``Model.kernel_derivation``
runs them on every loss (and ``symbp.declare.outputs`` on every output) before the kernels
are emitted; ``Model.derivation``, what the LaTeX explains, keeps the loss as written.
A loss no pass applies to (the seed examples') is left exactly as it was.
"""

from __future__ import annotations

from collections.abc import Callable

import sympy as sp
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction

from ..nodes.matrix import ELEMENT, RowLogSumExp, elementwise
from ..nodes.scalar import LogSumExp, Sigmoid, Softplus

Rewrite = Callable[[sp.Basic], sp.Basic]


# -- scalar passes -------------------------------------------------------------------
def rewrite_sigmoid(node: sp.Basic) -> sp.Basic:
    """``1/(1 + exp(-u)) -> sigmoid(u)``; all real ``u`` (powers ``(1 + exp(-u))^-n`` too).

    Also ``exp(u) * sigmoid(-u) -> sigmoid(u)`` (the form ``exp(u)/(1 + exp(u))``
    takes after the first rewrite). The naive derivative ``exp(-u)/(1 + exp(-u))^2``
    is ``inf/inf = nan`` at ``u = -800``; ``sigmoid' = sigmoid (1 - sigmoid)`` is 0.
    """
    if isinstance(node, sp.Pow) and node.exp.is_Integer and node.exp < 0:
        terms = node.base.args if isinstance(node.base, sp.Add) else ()
        if len(terms) == 2 and sp.S.One in terms:
            other = terms[0] if terms[1] == 1 else terms[1]
            if isinstance(other, sp.exp):
                return Sigmoid(-other.args[0]) ** (-node.exp)
    if isinstance(node, sp.Mul):
        factors = list(node.args)
        for i, f in enumerate(factors):
            if not isinstance(f, sp.exp):
                continue
            for j, g in enumerate(factors):
                if isinstance(g, Sigmoid) and g.args[0] == -f.args[0]:
                    rest = [h for k, h in enumerate(factors) if k not in (i, j)]
                    return sp.Mul(Sigmoid(f.args[0]), *rest)
    return node


def rewrite_one_minus_sigmoid(node: sp.Basic) -> sp.Basic:
    """``1 - sigmoid(u) -> sigmoid(-u)``; all real ``u``.

    ``1 - sigmoid(40)`` cancels to 0 in float64, ``sigmoid(-40) = 4.2e-18`` does not,
    and ``log(1 - sigmoid(u))`` becomes ``log(sigmoid(-u))`` for the next pass.
    """
    if isinstance(node, sp.Add) and sp.S.One in node.args:
        for term in node.args:
            if isinstance(term, sp.Mul) and term.args[0] == -1 and len(term.args) == 2:
                inner = term.args[1]
                if isinstance(inner, Sigmoid):
                    rest = list(node.args)
                    rest.remove(sp.S.One)
                    rest.remove(term)
                    return sp.Add(Sigmoid(-inner.args[0]), *rest)
    return node


def rewrite_softplus(node: sp.Basic) -> sp.Basic:
    """``log(1 + exp(u)) -> softplus(u)``; all real ``u``.

    ``log(1 + exp(800))`` overflows to ``inf``; ``softplus(800) = 800``.
    """
    if isinstance(node, sp.log) and isinstance(node.args[0], sp.Add):
        terms = node.args[0].args
        if len(terms) == 2 and sp.S.One in terms:
            other = terms[0] if terms[1] == 1 else terms[1]
            if isinstance(other, sp.exp):
                return Softplus(other.args[0])
    return node


def rewrite_log_sigmoid(node: sp.Basic) -> sp.Basic:
    """``log(sigmoid(u)) -> -softplus(-u)``; all real ``u``.

    ``log(sigmoid(-800))`` is ``log(0) = -inf`` in float64; ``-softplus(800) = -800``.
    """
    if isinstance(node, sp.log) and isinstance(node.args[0], Sigmoid):
        return -Softplus(-node.args[0].args[0])
    return node


def rewrite_logsumexp(node: sp.Basic) -> sp.Basic:
    """``log(exp(a_1) + ... + exp(a_n)) -> logsumexp(a_1, ..., a_n)``; all real ``a_i``.

    A positive number ``c`` among the terms counts as ``exp(log(c))``. The result is
    evaluated max-shifted, so ``log(exp(800) + exp(0))`` is 800 rather than ``inf``.
    """
    if isinstance(node, sp.log) and isinstance(node.args[0], sp.Add):
        exponents = []
        for term in node.args[0].args:
            if isinstance(term, sp.exp):
                exponents.append(term.args[0])
            elif term.is_Number and term.is_positive:
                exponents.append(sp.log(term))
            else:
                return node
        if sum(1 for e in exponents if not e.is_Number) >= 1 and len(exponents) >= 2:
            return LogSumExp(*exponents)
    return node


def rewrite_log_sum_exp_entries(node: sp.Basic) -> sp.Basic:
    """``log(sum_k exp(z_k))`` over the entries of a row or column ``z`` -> its log-sum-exp.

    The sum reaches here as ``Trace(exp.(z) 1)`` (a row) or ``Trace(1^T exp.(z))`` (a
    column), the form :func:`symbp.simplify.canonical.rewrite_element_sums` gives
    ``log(exp(z[0, 0]) + ... + exp(z[0, k]))``; all real ``z``. The result is the
    max-shifted row log-sum-exp, finite for logits of 800.
    """
    if not (isinstance(node, sp.log) and isinstance(node.args[0], sp.Trace)):
        return node
    inner = node.args[0].arg
    if not isinstance(inner, sp.MatMul):
        return node
    coeff, factors = inner.as_coeff_matrices()
    if coeff != 1 or len(factors) != 2:
        return node
    left, right = factors
    if isinstance(right, sp.OneMatrix) and left.shape[0] == 1:
        z = _exp_argument(left)
        if z is not None:
            return sp.Trace(RowLogSumExp(z))
    if isinstance(left, sp.OneMatrix) and right.shape[1] == 1:
        z = _exp_argument(right)
        if z is not None:
            return sp.Trace(RowLogSumExp(sp.Transpose(z)))
    return node


def _positive_form(arg: sp.Expr) -> bool:
    return not arg.could_extract_minus_sign()


def rewrite_softplus_pair(node: sp.Basic) -> sp.Basic:
    """In a sum holding both, ``softplus(-u) -> softplus(u) - u``, then distribute.

    Identity ``log(1 + e^-u) = log(1 + e^u) - u``; all real ``u``. This is the
    sigmoid cross-entropy shortcut: ``t softplus(-z) + (1 - t) softplus(z)`` becomes
    ``softplus(z) - t z``, whose gradient is ``sigmoid(z) - t`` (``p - t``), one
    softplus instead of two.
    """
    if not isinstance(node, sp.Add):
        return node
    found = {s for term in node.args for s in sp.Mul.make_args(term) if isinstance(s, Softplus)}
    args = {s.args[0] for s in found}
    pairs = sorted((a for a in args if _positive_form(a) and -a in args), key=sp.default_sort_key)
    if not pairs:
        return node
    subst = {Softplus(-a): Softplus(a) - a for a in pairs}
    terms = [sp.expand_mul(term.xreplace(subst), deep=False) for term in node.args]
    return sp.Add(*terms)


#: Scalar passes in order; a later pass sees the output of the earlier ones.
SCALAR_PASSES: tuple[Rewrite, ...] = (
    rewrite_sigmoid,
    rewrite_one_minus_sigmoid,
    rewrite_softplus,
    rewrite_log_sigmoid,
    rewrite_logsumexp,
    rewrite_log_sum_exp_entries,
    rewrite_softplus_pair,
)


# -- matrix passes -----------------------------------------------------------------
def _exp_argument(node: sp.Basic) -> sp.MatrixExpr | None:
    """``Z`` if ``node`` is ``exp.(Z)`` (the body may compose: ``exp(g(d)).(Z)``)."""
    if not isinstance(node, ElementwiseApplyFunction):
        return None
    lam = node.function
    (d,) = lam.variables
    body = lam.expr
    if not isinstance(body, sp.exp):
        return None
    inner = body.args[0]
    if inner == d:
        return node.expr
    return elementwise(sp.Lambda(d, inner), node.expr)


def rewrite_matrix_logsumexp(node: sp.Basic) -> sp.Basic:
    """``log.(exp.(Z) 1) -> logsumexp_rows(Z)`` and ``log.(1^T exp.(Z)) -> logsumexp_rows(Z^T)^T``.

    ``1`` is a ``OneMatrix`` column; the identity holds for all real ``Z``. The
    result is evaluated max-shifted per row, and its adjoint is
    ``out_bar * exp(Z - out)`` (the softmax, at most 1), so a softmax cross-entropy
    gets the ``p - t`` gradient without ever forming ``exp(Z)``.
    """
    if not isinstance(node, ElementwiseApplyFunction):
        return node
    lam = node.function
    (d,) = lam.variables
    if lam.expr != sp.log(d) or not isinstance(node.expr, sp.MatMul):
        return node
    coeff, factors = node.expr.as_coeff_matrices()
    if coeff != 1 or len(factors) != 2:
        return node
    left, right = factors
    if isinstance(right, sp.OneMatrix) and right.shape[1] == 1:
        inner = _exp_argument(left)
        if inner is not None:
            return RowLogSumExp(inner)
    if isinstance(left, sp.OneMatrix) and left.shape[0] == 1:
        inner = _exp_argument(right)
        if inner is not None:
            return sp.Transpose(RowLogSumExp(sp.Transpose(inner)))
    return node


def _scaled_elementwise(term: sp.Basic) -> tuple[sp.Expr, ElementwiseApplyFunction] | None:
    """``(c, f.(Z))`` if ``term`` is ``c * f.(Z)`` with ``c`` a scalar in plain symbols."""
    if isinstance(term, ElementwiseApplyFunction):
        return sp.S.One, term
    if isinstance(term, sp.MatMul):
        coeff, factors = term.as_coeff_matrices()
        if len(factors) == 1 and isinstance(factors[0], ElementwiseApplyFunction):
            if all(isinstance(s, sp.Symbol) for s in coeff.free_symbols) and not coeff.has(
                sp.MatrixExpr
            ):
                return coeff, factors[0]
    return None


def rewrite_merge_elementwise(node: sp.Basic) -> sp.Basic:
    """``c_1 f_1.(Z) + c_2 f_2.(Z) -> (c_1 f_1 + c_2 f_2).(Z)``; always valid.

    Terms of a matrix sum that apply scalar functions to the same matrix (scaled by
    scalars such as a target ``t``) become one elementwise function, so the scalar
    passes see the whole formula: a sigmoid cross-entropy written as two terms gets
    the ``p - t`` shortcut of :func:`rewrite_softplus_pair`, and runs as one loop.
    """
    if not isinstance(node, sp.MatAdd):
        return node
    groups: dict[sp.Basic, list[tuple[int, sp.Expr, ElementwiseApplyFunction]]] = {}
    for i, term in enumerate(node.args):
        found = _scaled_elementwise(term)
        if found is not None:
            groups.setdefault(found[1].expr, []).append((i, *found))
    merged = []
    used: set[int] = set()
    for arg in sorted(groups, key=sp.default_sort_key):
        members = groups[arg]
        if len(members) < 2:
            continue
        body = sp.Add(*(c * f.function(ELEMENT) for _, c, f in members))
        merged.append(elementwise(sp.Lambda(ELEMENT, body), arg))
        used |= {i for i, _, _ in members}
    if not merged:
        return node
    terms = merged + [t for i, t in enumerate(node.args) if i not in used]
    return terms[0] if len(terms) == 1 else sp.MatAdd(*terms)


#: Matrix passes in order.
MATRIX_PASSES: tuple[Rewrite, ...] = (rewrite_matrix_logsumexp, rewrite_merge_elementwise)


# -- driver ------------------------------------------------------------------------
def stabilize(expr: sp.Basic) -> sp.Basic:
    """Apply every stability pass to a scalar or matrix expression, to a fixed point."""
    return _rewrite(expr, {})


def _apply(node: sp.Basic) -> sp.Basic:
    passes = MATRIX_PASSES if isinstance(node, sp.MatrixExpr) else SCALAR_PASSES
    for rewrite in passes:
        new = rewrite(node)
        if new != node:
            return new
    return node


def _rewrite(expr: sp.Basic, memo: dict[sp.Basic, sp.Basic]) -> sp.Basic:
    done = memo.get(expr)
    if done is not None:
        return done
    node = expr
    for _ in range(50):  # each rewrite removes a pattern; a bound guards against cycles
        node = _rebuild(node, memo)
        new = _apply(node)
        if new == node:
            break
        node = new
    memo[expr] = node
    return node


def _rebuild(node: sp.Basic, memo: dict[sp.Basic, sp.Basic]) -> sp.Basic:
    if isinstance(node, ElementwiseApplyFunction):
        lam = node.function
        (d,) = lam.variables
        body = _rewrite(lam.expr, memo)
        arg = _rewrite(node.expr, memo)
        if body == lam.expr and arg == node.expr and d == ELEMENT:
            return node
        return elementwise(sp.Lambda(d, body), arg)  # type: ignore[arg-type]
    if not node.args or isinstance(node, sp.MatrixSymbol | sp.Symbol | sp.Number):
        return node
    if isinstance(node, sp.Lambda):
        return node
    args = [_rewrite(a, memo) for a in node.args]
    if all(a == b for a, b in zip(args, node.args, strict=True)):
        return node
    return node.func(*args)
