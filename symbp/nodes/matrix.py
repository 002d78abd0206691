"""Matrix-level nodes and small constructors shared by every stage.

The elementwise functions (``f.(X)`` with the canonical variable :data:`ELEMENT`), the
row log-sum-exp, the unit matrices of element adjoints, and the expression surgery
(:func:`substitute`) that keeps elementwise functions from being composed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sympy as sp
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction

from .scalar import LogSumExp


class RowLogSumExp(sp.MatrixExpr):  # type: ignore[misc]
    """``log(sum_j exp(Z[i, j]))`` for each row ``i`` of ``Z``: an ``(rows, 1)`` matrix.

    The stability pass :func:`symbp.simplify.stability.rewrite_matrix_logsumexp` produces it
    from ``log.(exp.(Z) * OneMatrix(cols, 1))``; kernels evaluate it max-shifted.
    """

    def __new__(cls, arg: sp.MatrixExpr) -> RowLogSumExp:
        arg = sp.sympify(arg)
        if not getattr(arg, "is_Matrix", False):
            raise TypeError(f"RowLogSumExp needs a matrix, got {arg}")
        return sp.Basic.__new__(cls, arg)  # type: ignore[no-any-return]

    @property
    def arg(self) -> sp.MatrixExpr:
        """The matrix whose rows are reduced."""
        return self.args[0]

    @property
    def shape(self) -> tuple[Any, Any]:
        return (self.arg.shape[0], sp.S.One)

    def _entry(self, i: Any, j: Any, **kwargs: Any) -> sp.Expr:
        cols = self.arg.shape[1]
        return LogSumExp(*(self.arg[i, k] for k in range(int(cols))))

    def doit(self, **hints: Any) -> sp.Basic:
        arg = self.arg.doit(**hints) if hints.get("deep", True) else self.arg
        if isinstance(arg, sp.MatrixBase):
            return sp.ImmutableMatrix(
                arg.rows, 1, [LogSumExp(*arg.row(i)) for i in range(arg.rows)]
            )
        return RowLogSumExp(arg)

    def _sympystr(self, printer: Any) -> str:
        return f"logsumexp_rows({printer._print(self.arg)})"

    def _latex(self, printer: Any) -> str:
        # the formula it equals, as a user writes it: log.(exp.(Z) 1)
        cols = self.arg.shape[1]
        exp = elementwise(sp.Lambda(ELEMENT, sp.exp(ELEMENT)), self.arg)
        summed = sp.MatMul(exp, sp.OneMatrix(cols, 1))
        return printer._print(elementwise(sp.Lambda(ELEMENT, sp.log(ELEMENT)), summed))  # type: ignore[no-any-return]


def softmax_of(arg: sp.MatrixExpr, lse: sp.MatrixExpr) -> sp.MatrixExpr:
    """``exp.(arg - lse 1^T)``: the row softmax, given ``lse = logsumexp_rows(arg)``.

    The adjoint rule of :class:`RowLogSumExp` writes it in exactly this form, and
    the batched kernels recognise it (they keep the softmax the log-sum-exp loop
    computes anyway).
    """
    spread = sp.OneMatrix(1, arg.shape[1])
    shifted = sp.MatAdd(arg, sp.MatMul(-1, lse, spread, evaluate=True))
    return elementwise(sp.Lambda(ELEMENT, sp.exp(ELEMENT)), shifted)


def is_constant_matrix(expr: sp.Basic) -> bool:
    """``OneMatrix``, ``Identity``, ``ZeroMatrix`` or a ``Unit``: no adjoint, no storage."""
    return isinstance(expr, sp.OneMatrix | sp.Identity | sp.ZeroMatrix | Unit)


def element_sum(matrix: sp.MatrixExpr) -> sp.Expr:
    """The sum of all elements of ``matrix`` as a scalar: ``Trace(1^T M 1)``."""
    rows, cols = matrix.shape
    if rows != 1:
        matrix = sp.MatMul(sp.OneMatrix(1, rows), matrix)
    if cols != 1:
        matrix = sp.MatMul(matrix, sp.OneMatrix(cols, 1))
    return sp.Trace(matrix)


def as_matrix(scalar: sp.Expr) -> sp.MatrixExpr:
    """A scalar as a 1x1 matrix expression (``s * OneMatrix(1, 1)``)."""
    return sp.MatMul(scalar, sp.OneMatrix(1, 1))


class Unit(sp.MatrixExpr):  # type: ignore[misc]
    """The ``rows x cols`` matrix with a 1 at ``(i, j)`` and 0 elsewhere.

    The adjoint of an element ``M[i, j]`` is ``c_bar * Unit(rows, cols, i, j)``; the
    kernels write it as a comparison of loop indices, never as a stored array.
    """

    def __new__(cls, rows: int, cols: int, i: int, j: int) -> Unit:
        args = [sp.Integer(a) for a in (rows, cols, i, j)]
        return sp.Basic.__new__(cls, *args)  # type: ignore[no-any-return]

    @property
    def shape(self) -> tuple[Any, Any]:
        return self.args[0], self.args[1]

    @property
    def position(self) -> tuple[int, int]:
        """``(i, j)``, the position of the 1."""
        return int(self.args[2]), int(self.args[3])

    def _entry(self, i: Any, j: Any, **kwargs: Any) -> sp.Expr:
        row, col = self.position
        return sp.KroneckerDelta(i, row) * sp.KroneckerDelta(j, col)

    def _sympystr(self, printer: Any) -> str:
        rows, cols = self.shape
        row, col = self.position
        return f"unit_{rows}x{cols}[{row}, {col}]"

    def _latex(self, printer: Any) -> str:
        # the unit matrix: E_{ij} (1-based, as the elements are named)
        row, col = self.position
        return f"E_{{{row + 1}{col + 1}}}"


#: The variable of every elementwise function after canonicalization. SymPy compares
#: ``Lambda(d1, tanh(d1))`` and ``Lambda(d2, tanh(d2))`` as different, so one fixed
#: variable makes equal functions equal nodes (shared by the sweep). User symbols
#: cannot start with ``_``, so the name never clashes.
ELEMENT = sp.Symbol("_d", real=True)


def elementwise(function: sp.Lambda, arg: sp.MatrixExpr) -> ElementwiseApplyFunction:
    """``function.(arg)`` with the canonical variable :data:`ELEMENT`.

    Built directly, without SymPy's composition of nested elementwise functions and
    its 1x1 special case (which calls the function on the matrix itself).
    """
    (var,) = function.variables
    if var != ELEMENT:
        function = sp.Lambda(ELEMENT, function.expr.xreplace({var: ELEMENT}))
    return sp.MatrixExpr.__new__(ElementwiseApplyFunction, function, arg)  # type: ignore[no-any-return]


def substitute(expr: sp.Basic, mapping: Mapping[sp.Basic, sp.Basic]) -> sp.Basic:
    """``expr.xreplace(mapping)``, rebuilding elementwise functions without composing them."""
    memo: dict[sp.Basic, sp.Basic] = {}

    def walk(node: sp.Basic) -> sp.Basic:
        if node in mapping:
            return mapping[node]
        done = memo.get(node)
        if done is not None:
            return done
        if isinstance(node, ElementwiseApplyFunction):
            arg = walk(node.expr)
            result = node if arg == node.expr else elementwise(node.function, arg)
        elif not node.args or isinstance(node, sp.MatrixSymbol | sp.Lambda):
            result = node
        else:
            args = [walk(a) for a in node.args]
            changed = any(a is not b for a, b in zip(args, node.args, strict=True))
            result = node.func(*args) if changed else node
        memo[node] = result
        return result

    return walk(expr) if mapping else expr
