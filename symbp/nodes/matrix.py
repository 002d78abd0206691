"""Matrix-level nodes and small constructors shared by every stage.

The elementwise functions (``f.(X)`` with the canonical variable :data:`ELEMENT`), the
row log-sum-exp, the unit matrices of element adjoints, and the expression surgery
(:func:`substitute`) that keeps elementwise functions from being composed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import sympy as sp
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction

from .scalar import LogSumExp
from .scan import Scan


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


def is_numeric_matrix(expr: sp.Basic) -> bool:
    """An explicit matrix of numbers (``sp.ones(3, 1)``, a selector): a constant."""
    return isinstance(expr, sp.MatrixBase) and all(v.is_Number for v in expr)


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


def slice_bounds(index: Any, size: Any) -> tuple[int, int, int]:
    """``(start, stop, step)`` of one axis of a ``MatrixSlice`` (SymPy keeps them as
    tuples or Integers), as Python ints."""
    start, stop, step = (int(v) for v in index)
    return start, min(stop, int(size)), step


class Pad(sp.MatrixExpr):  # type: ignore[misc]
    """The ``rows x cols`` matrix holding ``inner`` at the rows ``r0:r1:rs`` and the
    columns ``c0:c1:cs``, and 0 elsewhere.

    The adjoint of a slice ``M[r0:r1:rs, c0:c1:cs]`` is its cotangent padded back to
    ``M``'s shape; the kernels write it as a comparison of loop indices (or, summed
    into a gradient, a loop over the block), never as a stored array of zeros.
    """

    def __new__(cls, inner: Any, rows: int, cols: int, row: Any, col: Any) -> Pad:
        args = [sp.sympify(inner), sp.Integer(rows), sp.Integer(cols)]
        args += [sp.Tuple(*(sp.Integer(v) for v in row)), sp.Tuple(*(sp.Integer(v) for v in col))]
        return sp.Basic.__new__(cls, *args)  # type: ignore[no-any-return]

    @property
    def inner(self) -> sp.MatrixExpr:
        """The matrix placed into the zeros."""
        return self.args[0]

    @property
    def shape(self) -> tuple[Any, Any]:
        return self.args[1], self.args[2]

    @property
    def rows_of(self) -> tuple[int, int, int]:
        """``(start, stop, step)`` of the rows ``inner`` fills."""
        return tuple(int(v) for v in self.args[3])  # type: ignore[return-value]

    @property
    def cols_of(self) -> tuple[int, int, int]:
        """``(start, stop, step)`` of the columns ``inner`` fills."""
        return tuple(int(v) for v in self.args[4])  # type: ignore[return-value]

    def _entry(self, i: Any, j: Any, **kwargs: Any) -> sp.Expr:
        (r0, r1, rs), (c0, c1, cs) = self.rows_of, self.cols_of
        i, j = int(i), int(j)
        if r0 <= i < r1 and (i - r0) % rs == 0 and c0 <= j < c1 and (j - c0) % cs == 0:
            return self.inner[(i - r0) // rs, (j - c0) // cs]  # type: ignore[no-any-return]
        return sp.S.Zero

    def _sympystr(self, printer: Any) -> str:
        (r0, r1, rs), (c0, c1, cs) = self.rows_of, self.cols_of
        rows, cols = self.shape
        return f"pad_{rows}x{cols}[{r0}:{r1}:{rs}, {c0}:{c1}:{cs}]({printer._print(self.inner)})"

    def _latex(self, printer: Any) -> str:
        (r0, r1, rs), (c0, c1, cs) = self.rows_of, self.cols_of

        def axis(start: int, stop: int, step: int) -> str:
            if stop == start + 1:
                return str(start + 1)
            text = f"{start + 1}{{:}}{stop}"
            return text if step == 1 else f"{text}{{:}}{step}"

        rows, cols = self.shape
        where = rf"{axis(r0, r1, rs)},\,{axis(c0, c1, cs)}"
        return (
            rf"\mathbf{{0}}_{{{rows} \times {cols}}}\!\left[{where}\right] \leftarrow "
            rf"{printer._print(self.inner)}"
        )


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


def block_grid(matrix: sp.BlockMatrix) -> list[list[sp.Basic]]:
    """The blocks of ``matrix``, row by row."""
    grid = matrix.blocks
    return [[grid[i, j] for j in range(grid.cols)] for i in range(grid.rows)]


def block_ranges(matrix: sp.BlockMatrix) -> list[tuple[sp.Basic, tuple[int, int], tuple[int, int]]]:
    """``(block, (row0, row1), (col0, col1))`` for each block of ``matrix``: where it sits."""
    result = []
    row = 0
    for blocks in block_grid(matrix):
        col = 0
        height = int(blocks[0].shape[0])
        for block in blocks:
            width = int(block.shape[1])
            result.append((block, (row, row + height), (col, col + width)))
            col += width
        row += height
    return result


def structure_children(node: sp.Basic) -> list[sp.Basic] | None:
    """The operands of the matrix nodes whose ``args`` are not just their operands (a
    slice's bounds, a BlockMatrix's grid, a padding's placement), else None."""
    if isinstance(node, sp.MatrixSlice):
        return [node.parent]
    if isinstance(node, Pad):
        return [node.inner]
    if isinstance(node, sp.BlockMatrix):
        return [b for row in block_grid(node) for b in row]
    if isinstance(node, Scan):
        return node.operands()
    return None


def operands(node: sp.Basic) -> list[sp.Basic]:
    """The operands of ``node``: :func:`structure_children` where ``args`` hold more, else
    ``args``."""
    structure = structure_children(node)
    return structure if structure is not None else list(node.args)


def map_children(node: sp.Basic, func: Callable[[sp.Basic], sp.Basic]) -> sp.Basic:
    """``node`` with ``func`` applied to each operand (``node`` itself when none changes).

    Elementwise functions are rebuilt without SymPy's composition; slices, paddings
    and BlockMatrix grids keep their placement; symbols, functions and explicit
    matrices have no operands.
    """
    if isinstance(node, ElementwiseApplyFunction):
        arg = func(node.expr)
        return node if arg is node.expr else elementwise(node.function, arg)
    if isinstance(node, sp.MatrixSlice):
        parent = func(node.parent)
        return (
            node if parent is node.parent else sp.MatrixSlice(parent, node.rowslice, node.colslice)
        )
    if isinstance(node, Pad):
        inner = func(node.inner)
        return node if inner is node.inner else Pad(inner, *node.shape, node.rows_of, node.cols_of)
    if isinstance(node, Scan):
        body, init = func(node.body), func(node.init)
        sequences = [func(seq) for seq in node.sequences]
        if (
            body is node.body
            and init is node.init
            and all(a is b for a, b in zip(sequences, node.sequences, strict=True))
        ):
            return node
        return Scan(body, node.state, node.row_symbols, init, sequences, node.return_all)
    if isinstance(node, sp.BlockMatrix):
        grid = block_grid(node)
        new = [[func(b) for b in row] for row in grid]
        same = all(
            a is b for r, s in zip(grid, new, strict=True) for a, b in zip(r, s, strict=True)
        )
        return node if same else sp.BlockMatrix(new)
    if not node.args or isinstance(node, sp.MatrixSymbol | sp.Lambda | sp.MatrixBase):
        return node
    args = [func(a) for a in node.args]
    changed = any(a is not b for a, b in zip(args, node.args, strict=True))
    return node.func(*args) if changed else node


def substitute(expr: sp.Basic, mapping: Mapping[sp.Basic, sp.Basic]) -> sp.Basic:
    """``expr.xreplace(mapping)``, rebuilding elementwise functions without composing them
    (and each distinct node once: shared subexpressions are walked once)."""
    memo: dict[sp.Basic, sp.Basic] = {}

    def walk(node: sp.Basic) -> sp.Basic:
        if node in mapping:
            return mapping[node]
        done = memo.get(node)
        if done is None:
            done = memo[node] = map_children(node, walk)
        return done

    return walk(expr) if mapping else expr
