"""The matrix-level reverse sweep: a loss kept as matrix expressions -> a Derivation.

The sweep of :mod:`symbp.derive.sweep` run at :data:`MATRIX` level: every distinct subexpression
(structural equality, so shared subexpressions are one node) is a forward step
``_V<k> = f(children)`` holding a whole matrix (``_v<k>`` for a scalar), and each
adjoint step ``_V<k>_bar`` sums the cotangents the matrix rules sent to that node.
Nothing is unrolled: a 64x512 layer is one ``MatMul`` step and a handful of adjoints.

The result is a :class:`symbp.derive.sweep.Derivation` whose leaves are whole declared
variables (``Leaf(var, ())``) and whose gradients are keyed ``(name, ())``, each a
matrix expression (or a scalar for a scalar parameter).

``Transpose`` nodes, slices (``X[t, :]``) and paddings are views: they get no step of
their own (the kernels read them in place); a cotangent reaching one is passed on at
once (transposed, or padded into the sliced matrix's shape). A ``BlockMatrix`` is a
step whose operands are its blocks. Elementwise functions list the free scalar
symbols of their body (e.g. a target ``t`` in a merged cross-entropy) as children.
"""

from __future__ import annotations

import sympy as sp
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction

from ..declare.variables import Variable
from ..nodes.matrix import Pad, is_constant_matrix, map_children, structure_children
from .matrix_rules import find_matrix_rule, missing_rule
from .sweep import Derivation, Leaf, Pairs, SweepLevel
from .sweep import sweep as run_sweep


class MatrixLevel(SweepLevel):
    """Whole matrices: one step per matrix node, views and elementwise bodies.

    ``tag`` goes into the step names (``_<tag>V3``): the step of a scan is derived by a
    sweep of its own, whose names must not meet the model's.
    """

    def __init__(self, tag: str = ""):
        self.tag = tag

    def leaves(self, variables: tuple[Variable, ...], root: sp.Basic) -> dict[sp.Basic, Leaf]:
        return {var.symbol: Leaf(var, ()) for var in variables}

    def children(self, node: sp.Basic) -> list[sp.Basic]:
        """The nodes ``node`` is computed from (an elementwise body's free symbols too)."""
        if isinstance(node, ElementwiseApplyFunction):
            lam = node.function
            free = sorted(lam.expr.free_symbols - set(lam.variables), key=sp.default_sort_key)
            return [node.expr, *free]
        structure = structure_children(node)
        return structure if structure is not None else super().children(node)

    def is_atom(self, node: sp.Basic, leaves: dict[sp.Basic, Leaf]) -> bool:
        return (
            super().is_atom(node, leaves)
            or is_constant_matrix(node)
            or isinstance(node, sp.MatrixBase)
        )

    def is_view(self, node: sp.Basic) -> bool:
        return isinstance(node, sp.Transpose | sp.MatrixSlice | Pad)

    def rebuild(self, node: sp.Basic, ref: dict[sp.Basic, sp.Basic]) -> sp.Basic:
        return map_children(node, lambda child: ref.get(child, child))

    def prefix(self, node: sp.Basic) -> str:
        return f"_{self.tag}{'V' if isinstance(node, sp.MatrixExpr) else 'v'}"

    def symbol(self, node: sp.Basic, name: str) -> sp.Basic:
        if isinstance(node, sp.MatrixExpr):
            return sp.MatrixSymbol(name, *node.shape)
        return sp.Symbol(name, real=True)

    def total(self, node: sp.Basic, terms: list[sp.Basic]) -> sp.Basic:
        if len(terms) == 1:
            return terms[0]
        if isinstance(node, sp.MatrixExpr):
            return sp.MatAdd(*terms)
        return sp.Add(*terms)

    def seed(self, loss: sp.Basic) -> sp.Basic:
        return sp.OneMatrix(1, 1) if isinstance(loss, sp.MatrixExpr) else sp.S.One

    def pullback(
        self, node: sp.Basic, local: sp.Basic, out_bar: sp.Basic, out: sp.Basic | None
    ) -> Pairs:
        rule = find_matrix_rule(node)
        if rule is None:
            raise missing_rule(node)
        return list(rule(local, out_bar, out))

    def gradient_leaves(
        self, var: Variable, leaves: dict[sp.Basic, Leaf]
    ) -> list[tuple[tuple[int, ...], sp.Basic, sp.Basic]]:
        zero = sp.ZeroMatrix(*var.shape) if var.shape else sp.S.Zero
        return [((), var.symbol, zero)]


MATRIX = MatrixLevel()


def sweep(loss: sp.Basic, variables: tuple[Variable, ...]) -> Derivation:
    """The reverse sweep over ``loss`` at matrix level, exactly as given (the pipeline
    runs the canonical and stability passes of :mod:`symbp.simplify` first)."""
    return run_sweep(loss, variables, MATRIX)
