"""The storage model of batched kernels: values, product operands, small helpers.

A per-sample row or column vector of length ``k`` is stored as a ``(batch, k)``
array, a per-sample scalar as ``(batch,)``, a per-sample ``r x c`` matrix as
``(batch, r, c)``; a value that does not depend on the data is stored once.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

BATCHED, SHARED, SUMMED = "batched", "shared", "summed"

#: Products with at least this many multiply-adds per sample use ``np.dot``. Measured
#: on the 2-core machines for batches of 32 (float64 and float32): ``np.dot`` beats
#: the loop nests at every size from 2x3 up (2.5 vs 10 us at 64x32, 49 vs 128 us at
#: 64x512); below 64 both take well under a microsecond, and loops compile faster.
BLAS_MIN = 64


@dataclass(frozen=True)
class Value:
    """A value of the batch program and where it is stored.

    ``storage`` is ``"param"`` (a view of ``_theta``), ``"grad"`` (a view of
    ``_grad``), ``"data"`` (a batch argument), ``"temp"`` (a workspace slice),
    ``"local"`` (a scalar variable: shared scalars and 1x1 temporaries), ``"const"`` (a
    constant array of the module) or ``"stack"``: the states of a scan, ``rows`` steps
    of a ``1 x cols`` state stored step-major after the initial state (``S[t]`` is the
    batch's state ``t``, contiguous; element ``(i, j)`` is state ``i + 1``).
    """

    name: str
    rows: int
    cols: int
    kind: str
    storage: str

    @property
    def batched(self) -> bool:
        """Whether each sample has its own value."""
        return self.kind == BATCHED

    @property
    def size(self) -> int:
        """Elements per sample (a stack holds its initial state too)."""
        if self.storage == "stack":
            return (self.rows + 1) * self.cols
        return self.rows * self.cols

    def access(self, i: str, j: str) -> str:
        """The element ``(i, j)`` of this sample's value (``_b`` is the sample)."""
        if self.storage == "local":
            return self.name
        if self.storage == "stack":
            step = str(int(i) + 1) if i.isdigit() else f"{i} + 1"
            if not self.batched:
                return f"{self.name}[{step}, 0, {j}]"
            return f"{self.name}[{step}, _b]" if self.cols == 1 else f"{self.name}[{step}, _b, {j}]"
        if self.batched:
            if self.rows == 1 and self.cols == 1:
                return f"{self.name}[_b]"
            if self.rows == 1:
                return f"{self.name}[_b, {j}]"
            if self.cols == 1:
                return f"{self.name}[_b, {i}]"
            return f"{self.name}[_b, {i}, {j}]"
        return f"{self.name}[{i}, {j}]"

    def storage_shape(self, batch: str) -> str:
        """The shape of the stored array, as source text."""
        if self.storage == "stack":
            step = Value(self.name, 1, self.cols, self.kind, "temp").storage_shape(batch)
            return f"({self.rows + 1}, {step[1:]}"
        if not self.batched:
            return f"({self.rows}, {self.cols})"
        if self.rows == 1 and self.cols == 1:
            return f"({batch},)"
        if self.rows == 1 or self.cols == 1:
            return f"({batch}, {self.size})"
        return f"({batch}, {self.rows}, {self.cols})"

    @property
    def vector(self) -> bool:
        """A batched row or column vector of length > 1 (stored ``(batch, k)``)."""
        return self.batched and (self.rows == 1) != (self.cols == 1)


@dataclass(frozen=True)
class Operand:
    """A factor of a product: a stored value, maybe transposed, or a ``OneMatrix``."""

    value: Value | None
    transposed: bool
    rows: int
    cols: int

    @property
    def ones(self) -> bool:
        """A ``OneMatrix`` factor (every element 1)."""
        return self.value is None

    @property
    def batched(self) -> bool:
        """Whether the operand differs per sample."""
        return self.value is not None and self.value.batched

    def access(self, i: str, j: str, one: str) -> str:
        """Element ``(i, j)`` of the operand."""
        if self.value is None:
            return one
        return self.value.access(j, i) if self.transposed else self.value.access(i, j)

    def matrix(self) -> str:
        """A 2-D array holding this (shared) operand, transposed as a view if needed."""
        assert self.value is not None
        return f"{self.value.name}.T" if self.transposed else self.value.name


def loop_index(name: str, size: int) -> str:
    """The index of a loop over ``size`` entries: ``name``, or ``"0"`` when there is one."""
    return name if size > 1 else "0"


def dims(expr: sp.Basic) -> tuple[int, int]:
    """``(rows, cols)`` of a matrix expression, ``(1, 1)`` for a scalar."""
    if isinstance(expr, sp.MatrixExpr):
        rows, cols = expr.shape
        return int(rows), int(cols)
    return 1, 1


def terms_of(expr: sp.Basic) -> tuple[sp.Basic, ...]:
    """The terms of a sum (the expression itself when it is not one)."""
    if isinstance(expr, sp.MatAdd | sp.Add):
        return expr.args
    return (expr,)


#: The variable holding the batch count in the dtype (shared terms of a batch sum).
COUNT = sp.Symbol("_nbf")


#: Traces of larger matrices are not unrolled into one expression.
MAX_TRACE = 256


def fold_ones(coeff: sp.Expr, mats: list[sp.Basic]) -> tuple[sp.Expr, list[sp.Basic]]:
    """Multiply out adjacent ``OneMatrix`` factors: ``1_(a,b) 1_(b,c) = b 1_(a,c)``;
    a 1x1 one between other factors is dropped."""
    folded: list[sp.Basic] = []
    for mat in mats:
        if folded and isinstance(mat, sp.OneMatrix) and isinstance(folded[-1], sp.OneMatrix):
            prev = folded.pop()
            coeff = coeff * prev.shape[1]
            mat = sp.OneMatrix(prev.shape[0], mat.shape[1])
        folded.append(mat)
    if len(folded) > 1:
        folded = [
            m for m in folded if not (isinstance(m, sp.OneMatrix) and m.shape == (1, 1))
        ] or folded[:1]
    return coeff, folded


def is_broadcast(expr: sp.MatMul) -> bool:
    """A product whose inner dimensions are all 1 (scaling, outer product, broadcast)."""
    _, mats = expr.as_coeff_matrices()
    return all(int(a.shape[1]) == 1 for a in mats[:-1])
