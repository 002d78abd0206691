"""A plain-text summary of a matrix-level derivation, in sweep order (notation of
:mod:`symbp.nodes.text`)."""

from __future__ import annotations

import sympy as sp

from ..derive.sweep import Derivation
from ..nodes.text import SummaryPrinter
from ..simplify.program import Program


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
