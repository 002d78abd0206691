"""Short plain-text forms of expressions, for messages, docstrings and kernel comments.

``tanh.(X)`` applies ``tanh`` to every element of ``X``; ``(d -> 1 - d**2).(X)`` a
general elementwise function; ``A o B`` is the elementwise (Hadamard) product;
``ones(r, c)`` the all-ones matrix (its products are sums and broadcasts).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sympy as sp
from sympy.printing.str import StrPrinter

from .graph import node_count
from .matrix import block_grid


class SummaryPrinter(StrPrinter):  # type: ignore[misc]
    """SymPy's str printer with short forms for the matrix-level nodes; ``names`` prints
    chosen symbols under other names (a kernel's identifiers)."""

    def __init__(self, names: Mapping[sp.Basic, str] | None = None, **settings: Any):
        super().__init__(settings)
        self.names = dict(names or {})

    def _print_Symbol(self, expr: Any) -> str:
        return self.names.get(expr) or super()._print_Symbol(expr)

    def _print_MatrixSymbol(self, expr: Any) -> str:
        return self.names.get(expr) or super()._print_MatrixSymbol(expr)

    def _print_ElementwiseApplyFunction(self, expr: Any) -> str:
        lam = expr.function
        (var,) = lam.variables
        body = lam.expr
        arg = self.parenthesize(expr.expr, 100)
        if isinstance(body, sp.Function) and body.args == (var,):
            return f"{type(body).__name__}.({self._print(expr.expr)})"
        text = self._print(body.xreplace({var: sp.Symbol("d")}))
        return f"(d -> {text}).({self._print(expr.expr)})" if arg else text

    def _print_HadamardProduct(self, expr: Any) -> str:
        return " o ".join(self.parenthesize(a, 50) for a in expr.args)

    def _print_OneMatrix(self, expr: Any) -> str:
        rows, cols = expr.shape
        return f"ones({rows}, {cols})"

    def _print_MatrixBase(self, expr: Any) -> str:
        if expr.rows * expr.cols <= 4:
            return f"Matrix({self._print(expr.tolist())})"
        return f"<{expr.rows}x{expr.cols} Matrix>"  # shapes, not whole matrices

    _print_ImmutableDenseMatrix = _print_MatrixBase
    _print_MutableDenseMatrix = _print_MatrixBase
    _print_ImmutableSparseMatrix = _print_MatrixBase

    def _print_BlockMatrix(self, expr: Any) -> str:
        rows = [", ".join(self._print(block) for block in row) for row in block_grid(expr)]
        return "[" + "; ".join(rows) + "]"


def brief(expr: Any, limit: int = 160) -> str:
    """A short one-line form of ``expr`` for an error message (at most ``limit`` characters)."""
    return summary_text(expr, limit)


def summary_text(expr: Any, limit: int = 400) -> str:
    """One line of ``expr`` as written (``tanh.(x*W1 + b1)``), summarized when large."""
    if not isinstance(expr, sp.Basic):
        return str(expr)
    count = node_count(expr)
    if count > 120:
        return f"<expression with {count} distinct nodes>"
    text = SummaryPrinter().doprint(expr)
    return text if len(text) <= limit else text[: limit - 3] + "..."
