"""The matrix-level reverse sweep: a loss kept as matrix expressions -> a Derivation.

The same sweep as :mod:`symbp.reverse`, one level up: every distinct subexpression
(structural equality, so shared subexpressions are one node) is a forward step
``_V<k> = f(children)`` holding a whole matrix (``_v<k>`` for a scalar), and each
adjoint step ``_V<k>_bar`` sums the cotangents the matrix rules sent to that node.
Nothing is unrolled: a 64x512 layer is one ``MatMul`` step and a handful of adjoints.

The result is a :class:`symbp.reverse.Derivation` whose leaves are whole declared
variables (``Leaf(var, ())``) and whose gradients are keyed ``(name, ())``, each a
matrix expression (or a scalar for a scalar parameter).

``Transpose`` nodes are views: they get no step of their own; a cotangent reaching
one is passed on transposed at once. Elementwise functions list the free scalar
symbols of their body (e.g. a target ``t`` in a merged cross-entropy) as children.
"""

from __future__ import annotations

from collections import defaultdict

import sympy as sp
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction

from ..declare import Variable
from ..graph import unique_nodes
from ..reverse import Derivation, Leaf, Step
from ..rules import non_differentiable
from ..stability import elementwise, stabilize
from .nodes import is_constant_matrix
from .rules import find_matrix_rule, missing_rule

LOSS_BAR = sp.Symbol("_loss_bar")


def children(node: sp.Basic) -> list[sp.Basic]:
    """The nodes ``node`` is computed from (an elementwise body's free symbols too)."""
    if isinstance(node, ElementwiseApplyFunction):
        lam = node.function
        free = sorted(lam.expr.free_symbols - set(lam.variables), key=sp.default_sort_key)
        return [node.expr, *free]
    return list(node.args)


def _is_atom(node: sp.Basic, leaves: dict[sp.Basic, Leaf]) -> bool:
    return (
        node in leaves
        or node.is_Number
        or node.is_NumberSymbol
        or node in (sp.true, sp.false)
        or is_constant_matrix(node)
        or isinstance(node, sp.MatrixBase)
    )


def _is_view(node: sp.Basic) -> bool:
    return isinstance(node, sp.Transpose)


def topological_order(root: sp.Basic, leaves: dict[sp.Basic, Leaf]) -> list[sp.Basic]:
    """Distinct non-atomic subexpressions of ``root``, children before parents."""
    return unique_nodes(root, skip=lambda node: _is_atom(node, leaves), children=children)


def _rebuild(node: sp.Basic, ref: dict[sp.Basic, sp.Basic]) -> sp.Basic:
    if isinstance(node, ElementwiseApplyFunction):
        return elementwise(node.function, ref.get(node.expr, node.expr))
    args = [ref.get(a, a) for a in node.args]
    return node.func(*args) if args else node


def _new_symbol(node: sp.Basic, name: str) -> sp.Basic:
    if isinstance(node, sp.MatrixExpr):
        return sp.MatrixSymbol(name, *node.shape)
    return sp.Symbol(name, real=True)


def _total(node: sp.Basic, terms: list[sp.Basic]) -> sp.Basic:
    if len(terms) == 1:
        return terms[0]
    if isinstance(node, sp.MatrixExpr):
        return sp.MatAdd(*terms)
    return sp.Add(*terms)


def rewrite_matpow(expr: sp.Basic) -> sp.Basic:
    """``A**n -> A*...*A`` for a positive integer ``n`` (SymPy writes ``A*A`` as ``A**2``)."""
    if not expr.has(sp.MatPow):
        return expr

    def expand(e: sp.MatPow) -> sp.Basic:
        base, exp = e.args
        if exp.is_Integer and exp > 0:
            return sp.MatMul(*([base] * int(exp)))
        return e

    return expr.replace(lambda e: isinstance(e, sp.MatPow), expand)


def derive_matrix(loss: sp.Basic, variables: tuple[Variable, ...]) -> Derivation:
    """Canonicalize and stabilize ``loss`` (a 1x1 matrix or scalar), then run the sweep."""
    return sweep(stabilize(rewrite_matpow(loss)), variables)


def sweep(loss: sp.Basic, variables: tuple[Variable, ...]) -> Derivation:
    """The reverse sweep over ``loss`` exactly as given (no stability passes)."""
    leaves = {var.symbol: Leaf(var, ()) for var in variables}
    order = topological_order(loss, leaves)
    local: dict[sp.Basic, sp.Basic] = {}
    ref: dict[sp.Basic, sp.Basic] = {}  # node -> its symbol (or, for views, local expr)
    symbol: dict[sp.Basic, sp.Basic] = {}
    back: dict[sp.Basic, sp.Basic] = {}  # a child as it appears in local expressions -> node
    depends: dict[sp.Basic, bool] = {}
    forward: list[Step] = []

    def needs_adjoint(child: sp.Basic) -> bool:
        leaf = leaves.get(child)
        if leaf is not None:
            return leaf.var.role == "params"
        return depends.get(child, False)

    for node in order:
        expr = _rebuild(node, ref)
        local[node] = expr
        depends[node] = any(needs_adjoint(c) for c in children(node))
        if _is_view(node) or non_differentiable(node):
            ref[node] = expr
            back[expr] = node
            continue
        prefix = "_V" if isinstance(node, sp.MatrixExpr) else "_v"
        target = _new_symbol(node, f"{prefix}{len(forward)}")
        symbol[node] = ref[node] = target
        back[target] = node
        forward.append(Step(target, expr, node))  # type: ignore[arg-type]

    cotangents: dict[sp.Basic, list[tuple[sp.Basic, sp.Basic]]] = defaultdict(list)

    def deliver(child_ref: sp.Basic, cotangent: sp.Basic, parent: sp.Basic) -> None:
        child = back.get(child_ref, child_ref)
        if not needs_adjoint(child):
            return
        if _is_view(child):
            for grandchild, cot in _apply(child, local[child], cotangent, None):
                deliver(grandchild, cot, parent)
            return
        cotangents[child].append((parent, cotangent))

    seed = sp.OneMatrix(1, 1) if isinstance(loss, sp.MatrixExpr) else sp.S.One
    if needs_adjoint(loss) or loss in leaves:
        deliver(ref.get(loss, loss), seed, LOSS_BAR)

    adjoint: list[Step] = []
    for node in reversed(order):
        if node not in symbol or not depends[node] or node not in cotangents:
            continue
        terms = cotangents.pop(node)
        target = _new_symbol(node, f"{symbol[node].name}_bar")  # type: ignore[attr-defined]
        total = _total(node, [c for _, c in terms])
        adjoint.append(Step(target, total, node, tuple(terms)))  # type: ignore[arg-type]
        for child_ref, cotangent in _apply(node, local[node], target, symbol[node]):
            deliver(child_ref, cotangent, target)

    gradients: dict[tuple[str, tuple[int, ...]], sp.Expr] = {}
    for var in variables:
        if var.role != "params":
            continue
        terms = [c for _, c in cotangents.get(var.symbol, [])]
        if terms:
            gradients[(var.name, ())] = _total(var.symbol, terms)  # type: ignore[assignment]
        else:
            zero = sp.ZeroMatrix(*var.shape) if var.shape else sp.S.Zero
            gradients[(var.name, ())] = zero  # type: ignore[assignment]
    return Derivation(
        variables=variables,
        leaves=leaves,
        forward=tuple(forward),
        adjoint=tuple(adjoint),
        loss=ref.get(loss, loss),  # type: ignore[arg-type]
        gradients=gradients,
    )


def _apply(
    node: sp.Basic, local: sp.Basic, out_bar: sp.Basic, out: sp.Basic | None
) -> list[tuple[sp.Basic, sp.Basic]]:
    rule = find_matrix_rule(node)
    if rule is None:
        raise missing_rule(node)
    return list(rule(local, out_bar, out))
