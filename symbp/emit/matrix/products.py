"""Products in batched kernels: chain order, ``np.dot`` on 2-D views, or loop nests.

A contraction ``A B`` becomes ``np.dot`` when its shapes map onto one 2-D product of
stored arrays and it has at least :data:`~symbp.emit.matrix.values.BLAS_MIN`
multiply-adds per sample; otherwise an ``i-k-j`` loop nest (``OneMatrix`` factors
become sums and broadcasts). Longer chains are multiplied in the cheapest order.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import sympy as sp

from .values import BATCHED, BLAS_MIN, SHARED, SUMMED, Operand, Value, dims, fold_ones, loop_index


def _transpose(matrix: sp.Basic) -> sp.Basic:
    """The transpose of a factor, without a double transpose."""
    if isinstance(matrix, sp.Transpose):
        return matrix.arg
    if isinstance(matrix, sp.OneMatrix):
        return sp.OneMatrix(matrix.shape[1], matrix.shape[0])
    return sp.Transpose(matrix)


class ProductLowering:
    """The product part of :class:`symbp.emit.matrix.lower.BatchLowering` (a mixin)."""

    values: dict[sp.Basic, Value]
    computed: dict[sp.Basic, sp.Basic]
    body: Any
    print: Any
    plain_code: Any
    array: Any
    blas: bool

    def operand(self, expr: sp.Basic) -> Operand:
        """A product factor as a stored value (materialized if needed)."""
        rows, cols = dims(expr)
        if isinstance(expr, sp.OneMatrix):
            return Operand(None, False, rows, cols)
        transposed = isinstance(expr, sp.Transpose)
        inner = expr.arg if transposed else expr
        return Operand(self.values[self.materialize(inner)], transposed, rows, cols)

    def product(self, target: Value, expr: sp.MatMul, *, first: bool, reduce: bool) -> None:
        """``target (=|+=) expr`` for a product, summed over the batch when ``reduce``."""
        coeff, mats = expr.as_coeff_matrices()
        coeff, mats = fold_ones(coeff, [m for m in mats if not isinstance(m, sp.Identity)])
        mats = self.reuse(mats)
        operands = [self.operand(m) for m in mats]
        if len(operands) == 1:  # the ones folded away: an elementwise scaling
            self.elementwise(target, [sp.MatMul(coeff, mats[0])], first=first, reduce=reduce)
            return
        if not coeff.is_Number:
            # A symbolic factor (a per-sample scalar, say): scale the smallest operand.
            k = min(
                (n for n, o in enumerate(operands) if not o.ones),
                key=lambda n: operands[n].rows * operands[n].cols,
            )
            operands[k] = self.operand(self.materialize(sp.MatMul(coeff, mats[k])))
            coeff = sp.S.One
        left, right = self._chain(operands, mats, 0, len(operands) - 1, top=True)
        self.binary(target, left, right, first=first, reduce=reduce, coeff=coeff)

    def reuse(self, mats: list[sp.Basic]) -> list[sp.Basic]:
        """``mats`` with each run of factors whose product the batch computed already
        (or whose transpose it did: ``(A B)^T = B^T A^T``) replaced by the stored value,
        so a product the forward and backward blocks write differently is computed once
        (the softmax cross-entropy's ``t 1`` and ``1^T t^T``)."""
        for size in range(len(mats), 1, -1):
            for start in range(len(mats) - size + 1):
                run = mats[start : start + size]
                found = self.computed.get(sp.MatMul(*run))
                if found is None:
                    flipped = self.computed.get(sp.MatMul(*(_transpose(m) for m in reversed(run))))
                    found = None if flipped is None else sp.Transpose(flipped)
                if found is not None:
                    return self.reuse([*mats[:start], found, *mats[start + size :]])
        return mats

    def _chain(
        self, operands: list[Operand], mats: list[sp.Basic], lo: int, hi: int, top: bool = False
    ) -> Any:
        """Multiply ``operands[lo..hi]`` (the factors ``mats[lo..hi]``) in the order with
        the fewest multiply-adds (per sample, a batched product counting 32 times); return
        the last two factors when ``top``, else the product (computed into a temporary,
        which later products may reuse)."""
        if lo == hi:
            return operands[lo]
        best = min(range(lo, hi), key=lambda m: self._chain_cost(operands, lo, m, hi))
        left = self._chain(operands, mats, lo, best)
        right = self._chain(operands, mats, best + 1, hi)
        if top:
            return left, right
        kinds = {o.value.kind for o in (left, right) if o.value is not None}
        kind = BATCHED if BATCHED in kinds else (SUMMED if SUMMED in kinds else SHARED)
        key = self.temp(left.rows, right.cols, kind)
        self.binary(self.values[key], left, right, first=True, reduce=False)
        self.computed.setdefault(sp.MatMul(*mats[lo : hi + 1]), key)
        return Operand(self.values[key], False, left.rows, right.cols)

    def _chain_cost(self, operands: list[Operand], lo: int, split: int, hi: int) -> int:
        @cache
        def cost(a: int, b: int) -> tuple[int, bool]:
            """(multiply-adds, batched) of the best order for operands[a..b]."""
            if a == b:
                return 0, operands[a].batched
            options = []
            for m in range(a, b):
                (cl, bl), (cr, br) = cost(a, m), cost(m + 1, b)
                size = operands[a].rows * operands[m].cols * operands[b].cols
                options.append((cl + cr + size * (32 if bl or br else 1), bl or br))
            return min(options)

        (cl, bl), (cr, br) = cost(lo, split), cost(split + 1, hi)
        size = operands[lo].rows * operands[split].cols * operands[hi].cols
        return cl + cr + size * (32 if bl or br else 1)

    def blas_arguments(
        self, target: Value, left: Operand, right: Operand, reduce: bool
    ) -> tuple[str, str] | None:
        """The two ``np.dot`` arguments computing ``left @ right`` into ``target``, if any.

        The product must map onto one 2-D product of stored arrays: shared matrices;
        batched row vectors times a shared matrix (``X W``); a shared matrix times
        batched column vectors (``X W^T`` in storage); or, reduced over the batch, the
        outer products of two batched vectors (``X^T D``).
        """
        lv, rv = left.value, right.value
        if lv is None or rv is None or target.storage == "local":
            return None
        if left.rows * left.cols * right.cols < BLAS_MIN:
            return None
        if reduce:
            if left.cols == 1 and lv.vector and rv.vector:
                return f"{self.array(lv)}.T", self.array(rv)
            return None
        if not lv.batched and not rv.batched and not target.batched:
            return left.matrix(), right.matrix()
        if lv.vector and not rv.batched and left.rows == 1 and target.vector:
            return self.array(lv), right.matrix()
        if rv.vector and not lv.batched and right.cols == 1 and target.vector:
            return self.array(rv), (lv.name if left.transposed else f"{lv.name}.T")
        return None

    def binary(
        self,
        target: Value,
        left: Operand,
        right: Operand,
        *,
        first: bool,
        reduce: bool,
        coeff: sp.Expr = sp.S.One,
    ) -> None:
        """``target (=|+=) coeff * left @ right`` (summed over the batch when ``reduce``)."""
        args = self.blas_arguments(target, left, right, reduce)
        if args is not None:
            self.blas = True
            if first and coeff == 1:
                with self.plain_code():
                    self.body(f"np.dot({args[0]}, {args[1]}, {self.array(target)})")
                return
            key = self.temp(target.rows, target.cols, target.kind)
            with self.plain_code():
                self.body(f"np.dot({args[0]}, {args[1]}, {self.array(self.values[key])})")
            self.elementwise(target, [sp.MatMul(coeff, key)], first=first, reduce=False)
            return
        one = self.lit(1.0)
        rows, inner, cols = left.rows, left.cols, right.cols
        i, k, j = loop_index("_i", rows), loop_index("_k", inner), loop_index("_j", cols)
        batched = left.batched or right.batched or target.batched
        scale = "" if coeff == 1 else f"{self.print(coeff)} * "
        if cols == 1:
            # Dot products (a column result): accumulate in a register, store once.
            if first and (reduce or not target.batched):
                self.zero(target)
            store = "=" if first and not reduce and target.batched else "+="
            with self._loops(
                ("_b", "_nb", batched),
                ("_i", rows, rows > 1),
                reduces=target.name if reduce else None,
            ):
                self.body(f"_a = {self.lit(0.0)}")
                with self._loops(("_k", inner, inner > 1)):
                    self.body(f"_a += {left.access(i, k, one)} * {right.access(k, j, one)}")
                self.body(f"{target.access(i, j)} {store} {scale}_a")
            return
        if first:
            self.zero(target)
        with self._loops(
            ("_b", "_nb", batched),
            ("_i", rows, rows > 1),
            ("_k", inner, inner > 1),
            reduces=target.name if reduce else None,
        ):
            self.body(f"_a = {scale}{left.access(i, k, one)}")
            with self._loops(("_j", cols, cols > 1)):
                self.body(f"{target.access(i, j)} += _a * {right.access(k, j, one)}")
