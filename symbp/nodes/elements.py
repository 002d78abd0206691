"""Element reads of matrix expressions that keep the matrix structure.

SymPy expands ``(A*B)[0, 0]`` at once into ``A[0, 0]*B[0, 0] + A[0, 1]*B[1, 0] + ...``
(and ``relu.(X W)[0, k]`` into a ``Max`` of such a sum): by the time a loss written
with ``s[0, 0]`` reaches :class:`symbp.Model`, every matrix in it has been unrolled
into scalars, and a 2-16-16-1 network becomes thousands of straight-line statements.

``import symbp`` therefore makes an integer index into a *compound* matrix expression
(a product, sum, elementwise function, ... — anything but a declared ``MatrixSymbol``
or an explicit ``Matrix``) return an :class:`Element`: the same number, kept as a
node ``(A*B)[0, 0]`` whose parent stays a matrix expression. The matrix-level sweep
treats it as one more matrix node (its adjoint adds into that entry of a zero matrix,
:class:`symbp.nodes.matrix.Unit`), so the model stays at matrix level.

An :class:`Element` is mathematically the expanded entry, and behaves as such where it
matters: ``.doit()`` and ``.as_explicit()`` expand, ``sympy.diff`` and ``evalf``
differentiate and evaluate the expansion (SymPy's own ``MatrixElement`` of a product
differentiates to an unevaluated ``Derivative``). Reads of declared symbols
(``W[0, 1]``) and of explicit matrices are SymPy's as always.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

import sympy as sp
from sympy.matrices.expressions.matexpr import MatrixElement

from .explicit import explicit_entries
from .graph import unique_nodes
from .matrix import block_grid

_ORIGINAL_GETITEM: Callable[..., Any] = sp.MatrixExpr.__getitem__
_ORIGINAL_AS_EXPLICIT: Callable[..., Any] = sp.MatrixExpr.as_explicit
_ORIGINAL_ARRAY: Callable[..., Any] = sp.MatrixExpr.__array__
_STATE = threading.local()

#: Matrix expressions whose entries are already plain: leaves and constants.
_PLAIN: tuple[type, ...] = (
    sp.MatrixSymbol,
    sp.MatrixBase,
    sp.Identity,
    sp.ZeroMatrix,
    sp.OneMatrix,
    sp.MatrixSlice,
)


@contextmanager
def expanding() -> Iterator[None]:
    """Inside this block, indexing expands entries the way plain SymPy does."""
    previous = getattr(_STATE, "expanding", False)
    _STATE.expanding = True
    try:
        yield
    finally:
        _STATE.expanding = previous


def is_compound(matrix: Any) -> bool:
    """A matrix expression with integer shape whose entries SymPy would expand.

    Shapes given as Python ints (``h * sp.ones(n, 1)`` has one) count as integers.
    """
    if isinstance(matrix, sp.MatrixSlice):
        return is_compound(matrix.parent)  # a slice of a product is a compound too
    if not isinstance(matrix, sp.MatrixExpr) or isinstance(matrix, _PLAIN):
        return False
    if isinstance(matrix, sp.Transpose) and isinstance(matrix.arg, _PLAIN):
        return False  # W.T[i, j] is W[j, i]: a read of the declared symbol
    rows, cols = matrix.shape
    if not all(isinstance(d, int | sp.Integer) and not isinstance(d, bool) for d in (rows, cols)):
        return False
    return _reads_symbols(matrix)  # of explicit matrices only: SymPy's own entry


@lru_cache(maxsize=4096)
def _reads_symbols(matrix: sp.MatrixExpr) -> bool:
    """Whether ``matrix`` reads a MatrixSymbol (walking the shared graph once)."""
    return any(isinstance(n, sp.MatrixSymbol) for n in unique_nodes(matrix))


def _position(matrix: sp.MatrixExpr, key: Any) -> tuple[int, int] | None:
    """``(i, j)`` for an integer key (``[i, j]`` or a row-major ``[k]``), else None."""
    rows, cols = (int(d) for d in matrix.shape)
    if isinstance(key, tuple) and len(key) == 2:
        i, j = key
    elif isinstance(key, int | sp.Integer) and not isinstance(key, bool):
        i, j = divmod(int(key), cols)
    else:
        return None
    if not all(isinstance(v, int | sp.Integer) and not isinstance(v, bool) for v in (i, j)):
        return None
    i, j = int(i), int(j)
    i, j = i + rows if i < 0 else i, j + cols if j < 0 else j
    if not (0 <= i < rows and 0 <= j < cols):
        raise IndexError(f"index ({i}, {j}) is outside the shape {(rows, cols)} of {matrix}")
    return i, j


def _getitem(self: sp.MatrixExpr, key: Any) -> Any:
    if not getattr(_STATE, "expanding", False) and is_compound(self):
        position = _position(self, key)
        if position is not None:
            return Element(self, *position)
    return _ORIGINAL_GETITEM(self, key)


def _as_explicit(self: sp.MatrixExpr) -> Any:
    with expanding():
        return _ORIGINAL_AS_EXPLICIT(self)


def _array(self: sp.MatrixExpr, *args: Any, **kwargs: Any) -> Any:
    with expanding():
        return _ORIGINAL_ARRAY(self, *args, **kwargs)


class Element(MatrixElement):  # type: ignore[misc]
    """Entry ``(i, j)`` of a compound matrix expression, kept unexpanded.

    Built by indexing (``(x*W + b)[0, 3]``) once symbp is imported. ``parent`` is the
    matrix expression, ``i`` and ``j`` integers.
    """

    _diff_wrt = False
    is_symbol = False

    def __new__(cls, parent: Any, i: Any, j: Any) -> Any:
        parent = sp.sympify(parent)
        i, j = sp.sympify(i), sp.sympify(j)
        if not is_compound(parent):
            with expanding():
                return parent[i, j]  # a leaf, an explicit matrix: SymPy's own entry
        return sp.Expr.__new__(cls, parent, i, j)

    def expand_entry(self) -> sp.Expr:
        """The entry written out in the elements of the leaves (plain SymPy)."""
        with expanding():
            entry = self.parent.doit()[self.i, self.j]
            return expand_elements(sp.sympify(entry))

    def doit(self, **hints: Any) -> sp.Basic:
        return self.expand_entry().doit(**hints) if hints.get("deep", True) else self

    def _eval_derivative(self, v: sp.Basic) -> sp.Expr:
        return sp.diff(self.expand_entry(), v)

    def _eval_evalf(self, prec: int) -> sp.Expr:
        return self.expand_entry()._eval_evalf(prec)  # type: ignore[no-any-return]


def is_leaf_read(node: sp.Basic) -> bool:
    """An element read of a declared symbol or explicit matrix (not an :class:`Element`)."""
    return isinstance(node, MatrixElement) and not isinstance(node, Element)


def expand_elements(expr: sp.Basic) -> sp.Basic:
    """``expr`` with every :class:`Element` replaced by its expanded entry."""
    if not expr.has(Element):
        return expr
    return expr.replace(lambda e: isinstance(e, Element), lambda e: e.expand_entry())


def unroll_scalar(expr: sp.Basic) -> sp.Basic:
    """A scalar expression multiplied out to the elements of its matrices: element reads
    expanded, traces written as sums of diagonal entries (each shared node once:
    :func:`symbp.nodes.explicit.explicit_entries`)."""
    return explicit_entries(expr)  # type: ignore[no-any-return]


def _blocks(matrix: Any) -> list[list[Any]]:
    """The block grid of ``matrix`` (itself, for a matrix that is not a BlockMatrix)."""
    return block_grid(matrix) if isinstance(matrix, sp.BlockMatrix) else [[matrix]]


def _row_join(self: sp.MatrixExpr, other: Any) -> sp.BlockMatrix:
    """``[self, other]`` side by side as one BlockMatrix (what ``Matrix.hstack`` calls)."""
    left, right = _blocks(self), _blocks(sp.sympify(other))
    if len(left) == 1 and len(right) == 1:
        return sp.BlockMatrix([left[0] + right[0]])
    return sp.BlockMatrix([[self, other]])


def _col_join(self: sp.MatrixExpr, other: Any) -> sp.BlockMatrix:
    """``[self; other]`` stacked as one BlockMatrix (what ``Matrix.vstack`` calls)."""
    top, bottom = _blocks(self), _blocks(sp.sympify(other))
    if all(len(row) == 1 for row in top + bottom):
        return sp.BlockMatrix(top + bottom)
    return sp.BlockMatrix([[self], [other]])


def install() -> None:
    """Make element reads of compound matrix expressions lazy, and ``Matrix.hstack`` /
    ``Matrix.vstack`` of matrix expressions a BlockMatrix (done by ``import symbp``)."""
    sp.MatrixExpr.__getitem__ = _getitem  # type: ignore[method-assign]
    sp.MatrixExpr.as_explicit = _as_explicit  # type: ignore[method-assign]
    sp.MatrixExpr.__array__ = _array  # type: ignore[method-assign]
    sp.MatrixExpr.row_join = _row_join  # type: ignore[attr-defined]
    sp.MatrixExpr.col_join = _col_join  # type: ignore[attr-defined]


def uninstall() -> None:
    """Restore SymPy's own indexing (every entry expanded at once)."""
    sp.MatrixExpr.__getitem__ = _ORIGINAL_GETITEM  # type: ignore[method-assign]
    sp.MatrixExpr.as_explicit = _ORIGINAL_AS_EXPLICIT  # type: ignore[method-assign]
    sp.MatrixExpr.__array__ = _ORIGINAL_ARRAY  # type: ignore[method-assign]
    for name in ("row_join", "col_join"):
        if name in vars(sp.MatrixExpr):
            delattr(sp.MatrixExpr, name)
