"""A plain-text summary of a matrix-level derivation, in sweep order.

``tanh.(X)`` applies ``tanh`` to every element of ``X``; ``(d -> 1 - d**2).(X)`` a
general elementwise function; ``A o B`` is the elementwise (Hadamard) product;
``ones(r, c)`` the all-ones matrix (its products are sums and broadcasts).
"""

from __future__ import annotations

from typing import Any

import sympy as sp
from sympy.printing.str import StrPrinter

from ..reverse import Derivation
from ..simplify import Program


class SummaryPrinter(StrPrinter):  # type: ignore[misc]
    """SymPy's str printer with short forms for the matrix-level nodes."""

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


def _line(printer: SummaryPrinter, target: sp.Basic, expr: sp.Basic) -> str:
    shape = f"  [{target.shape[0]}x{target.shape[1]}]" if isinstance(target, sp.MatrixExpr) else ""
    return f"  {printer.doprint(target)} = {printer.doprint(expr)}{shape}"


def summary(derivation: Derivation, program: Program | None = None) -> str:
    """The forward steps, the adjoint steps (in sweep order), and each gradient.

    With ``program``, also the statements the kernels compute after inlining.
    """
    printer = SummaryPrinter()
    lines = ["forward:"]
    lines += [_line(printer, s.target, s.expr) for s in derivation.forward]
    lines.append("reverse (adjoints):")
    lines += [_line(printer, s.target, s.expr) for s in derivation.adjoint]
    lines.append("gradients:")
    for (name, _), expr in derivation.gradients.items():
        lines.append(f"  d loss / d {name} = {printer.doprint(expr)}")
    if program is not None:
        lines.append("kernel statements (after inlining; elementwise chains fuse into one loop):")
        lines += [_line(printer, target, expr) for target, expr in program.statements]
        lines.append(f"  loss = {printer.doprint(program.loss)}")
    return "\n".join(lines)
