"""Matrix expressions multiplied out to their entries, each distinct node once.

SymPy's own ``as_explicit`` writes every entry of a product as a symbolic ``Sum`` and
substitutes indices into the operands' expressions as trees, which takes exponential
time on a model that reuses its layers (a recurrence: 0.1 / 0.3 / 1.4 / 5.7 s for 1..4
steps of an 8-unit RNN). :func:`explicit_entries` walks the shared graph instead, with
the entry formulas SymPy uses (a chain of products multiplied left to right, each
entry a sum over the inner index), so its result is the expression SymPy writes (the
generated straight-line kernels are unchanged), at a cost proportional to the unrolled
size.
"""

from __future__ import annotations

import itertools
from typing import Any

import sympy as sp
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction
from sympy.matrices.expressions.matexpr import MatrixElement

from .graph import unique_nodes
from .matrix import Pad, RowLogSumExp, block_ranges, operands
from .scalar import LogSumExp
from .scan import Scan

Entries = sp.ImmutableMatrix


def _grid(rows: int, cols: int, entry: Any) -> Entries:
    return sp.ImmutableMatrix(rows, cols, [entry(i, j) for i in range(rows) for j in range(cols)])


def _product(coeff: sp.Expr, factors: list[Entries]) -> Entries:
    """The entries of ``coeff * F_1 ... F_n`` as SymPy writes them: multiplied left to
    right, each entry of a partial product the sum over the inner index (SymPy sums the
    innermost index first and keeps the factors that do not depend on it outside)."""
    result = factors[0]
    for right in factors[1:]:
        left = result
        result = _grid(
            left.rows,
            right.cols,
            lambda i, j, left=left, right=right: sp.Add(
                *(left[i, k] * right[k, j] for k in range(left.cols))
            ),
        )
    if coeff != 1:
        result = _grid(result.rows, result.cols, lambda i, j: coeff * result[i, j])
    return result


def _node_entries(node: sp.Basic, done: dict[sp.Basic, Any]) -> Any:
    """The entries of ``node`` (a matrix) or its scalar value, its operands' already in
    ``done``."""

    def of(child: sp.Basic) -> Any:
        return done.get(child, child)

    if isinstance(node, Scan):
        raise TypeError("a scan is a loop over its steps: it is never unrolled to elements")
    if isinstance(node, sp.MatrixSymbol):
        rows, cols = (int(d) for d in node.shape)
        return _grid(rows, cols, lambda i, j: node[i, j])
    if isinstance(node, sp.MatrixBase):
        return sp.ImmutableMatrix(node)
    if isinstance(node, MatrixElement):  # an element read (Element: of a compound)
        parent, i, j = node.args
        entries = of(parent)
        if isinstance(entries, sp.MatrixBase):
            return entries[int(i), int(j)]
        return node
    if isinstance(node, sp.Trace):
        entries = of(node.arg)
        return sp.Add(*(entries[k, k] for k in range(entries.rows)))
    if not isinstance(node, sp.MatrixExpr):
        if not node.args or isinstance(node, sp.Lambda):
            return node
        args = [of(a) for a in node.args]
        if all(a is b for a, b in zip(args, node.args, strict=True)):
            return node
        return node.func(*args)
    rows, cols = (int(d) for d in node.shape)
    if isinstance(node, sp.MatMul):
        coeff, mats = node.as_coeff_matrices()
        return _product(of(coeff), [of(m) for m in mats])
    if isinstance(node, sp.MatAdd):
        parts = [of(a) for a in node.args]
        return _grid(rows, cols, lambda i, j: sp.Add(*(p[i, j] for p in parts)))
    if isinstance(node, sp.Transpose):
        return of(node.arg).T
    if isinstance(node, sp.HadamardProduct):
        parts = [of(a) for a in node.args]
        return _grid(rows, cols, lambda i, j: sp.Mul(*(p[i, j] for p in parts)))
    if isinstance(node, sp.HadamardPower):
        base, exp = (of(a) for a in node.args)
        return _grid(rows, cols, lambda i, j: base[i, j] ** exp)
    if isinstance(node, ElementwiseApplyFunction):
        arg = of(node.expr)
        return _grid(rows, cols, lambda i, j: node.function(arg[i, j]))
    if isinstance(node, sp.MatPow) and node.exp.is_Integer and node.exp > 0:
        base = of(node.base)
        return _product(sp.S.One, [base] * int(node.exp))
    if isinstance(node, sp.MatrixSlice):
        parent = of(node.parent)
        (r0, _, rs), (c0, _, cs) = node.rowslice, node.colslice
        return _grid(rows, cols, lambda i, j: parent[r0 + rs * i, c0 + cs * j])
    if isinstance(node, sp.BlockMatrix):
        out = sp.zeros(rows, cols)
        for block, (r0, r1), (c0, c1) in block_ranges(node):
            out[r0:r1, c0:c1] = of(block)
        return sp.ImmutableMatrix(out)
    if isinstance(node, Pad):
        inner = of(node.inner)
        out = sp.zeros(rows, cols)
        (r0, _, rs), (c0, _, cs) = node.rows_of, node.cols_of
        for i, j in itertools.product(range(inner.rows), range(inner.cols)):
            out[r0 + rs * i, c0 + cs * j] = inner[i, j]
        return sp.ImmutableMatrix(out)
    if isinstance(node, RowLogSumExp):
        arg = of(node.arg)
        return _grid(rows, 1, lambda i, j: LogSumExp(*arg.row(i)))
    # the constants (OneMatrix, Identity, ZeroMatrix, unit matrices) and anything else
    return sp.ImmutableMatrix(node.func(*(of(a) for a in node.args)).as_explicit())


def explicit_entries(expr: sp.Basic) -> Any:
    """``expr`` multiplied out: a scalar expression in the elements of the declared
    matrices (element reads and traces expanded), or the explicit matrix of a matrix
    expression; shared subexpressions stay shared."""
    done: dict[sp.Basic, Any] = {}
    nodes = unique_nodes(
        expr,
        stop=lambda n: isinstance(n, sp.MatrixSymbol | sp.MatrixBase | sp.Lambda),
        children=operands,
    )
    for node in nodes:
        done[node] = _node_entries(node, done)
    return done[expr]
