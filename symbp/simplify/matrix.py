"""Named passes turning a matrix-level Derivation into a compact :class:`MatrixProgram`.

The same idea as :mod:`symbp.simplify`, for statements that compute whole matrices:
inline what is used once (so elementwise chains become one fused loop), drop what
no output needs. There is no CSE: the sweep already shares structurally equal nodes,
and what the rules repeat (``W^T`` views) costs nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import sympy as sp

from ..declare.outputs import Output
from ..declare.variables import Variable
from ..derive.jacobian import JacobianDerivation
from ..derive.matrix import MATRIX
from ..derive.sweep import Derivation, forward_pass
from ..nodes.matrix import is_constant_matrix, substitute
from .canonical import canonicalize
from .program import (
    JacobianProgram,
    OutputProgram,
    Program,
    Statement,
    jacobian_outputs,
    jacobian_program,
    rewrite_dead_code,
)
from .stability import stabilize


@dataclass(frozen=True)
class MatrixProgram(Program):
    """A program of matrix statements, evaluated per sample (batched by the emitter).

    ``summed`` holds the adjoints of nodes that do not depend on the data (the
    params' own subexpressions): the kernels keep one copy of each, summed over the
    batch, since every use of it downstream is linear and sample-independent.
    """

    summed: frozenset[sp.Basic] = frozenset()


def _targets_in(expr: sp.Basic, targets: set[sp.Basic]) -> Iterable[sp.Basic]:
    for node in sp.preorder_traversal(expr):
        if node in targets:
            yield node


def _trivial(expr: sp.Basic) -> bool:
    """Aliases and constants: inlining them never repeats work."""
    return expr.is_Atom or isinstance(expr, sp.MatrixSymbol) or is_constant_matrix(expr)


def rewrite_inline(
    statements: list[Statement], outputs: list[sp.Basic], keep: frozenset[sp.Basic]
) -> tuple[list[Statement], list[sp.Basic]]:
    """Inline statements used exactly once (or atoms), except those in ``keep``.

    Identity: ``T = E; ... f(T) ...`` equals ``... f(E) ...`` when ``T`` is used once.
    Elementwise chains then reach the emitter as one expression, which it fuses into
    one loop; products inside it are still computed once, into a temporary.
    """
    targets = {t for t, _ in statements}
    uses: Counter[sp.Basic] = Counter()
    for expr in [e for _, e in statements] + outputs:
        uses.update(_targets_in(expr, targets))
    subst: dict[sp.Basic, sp.Basic] = {}
    kept: list[Statement] = []
    for target, expr in statements:
        expr = substitute(expr, subst)
        if target not in keep and (uses[target] <= 1 or _trivial(expr)):
            subst[target] = expr
        else:
            kept.append((target, expr))  # type: ignore[arg-type]
    return kept, [substitute(o, subst) for o in outputs]


def build_matrix_program(
    derivation: Derivation,
    keep: frozenset[sp.Basic] = frozenset(),
    per_sample: frozenset[sp.Basic] | None = None,
) -> MatrixProgram:
    """Run the passes over the sweep's steps and return the program; the steps in
    ``keep`` (the quantities the derivation names) stay statements of their own.
    ``per_sample`` are the symbols that differ between samples (by default the inputs
    and targets; a scan's step adds its placeholders)."""
    data = per_sample
    if data is None:
        data = frozenset(v.symbol for v in derivation.variables if v.role in ("inputs", "targets"))
    summed = frozenset(
        step.target for step in derivation.adjoint if not (step.node.free_symbols & data)
    )
    statements: list[Statement] = [(s.target, s.expr) for s in derivation.forward]
    statements += [(s.target, s.expr) for s in derivation.adjoint]
    keys = list(derivation.gradients)
    outputs: list[sp.Basic] = [derivation.loss] + [derivation.gradients[k] for k in keys]
    statements, outputs = rewrite_inline(statements, outputs, summed | keep)
    kept = rewrite_dead_code(statements, outputs)  # type: ignore[arg-type]
    gradients = tuple(
        (name, index, expr) for (name, index), expr in zip(keys, outputs[1:], strict=True)
    )
    return MatrixProgram(derivation, kept, outputs[0], gradients, summed)  # type: ignore[arg-type]


def closed_form_matrix(program: Program) -> dict[str, sp.Basic]:
    """Each parameter's gradient written out in the declared symbols (no simplify)."""
    value = statement_values(program)
    return {name: substitute(expr, value) for name, _, expr in program.gradients}


def statement_values(program: Program | JacobianProgram) -> dict[sp.Basic, sp.Basic]:
    """Each statement's target written out in the declared symbols, in program order."""
    value: dict[sp.Basic, sp.Basic] = {}
    for target, expr in program.statements:
        value[target] = substitute(expr, value)
    return value


def output_program(outputs: tuple[Output, ...], variables: tuple[Variable, ...]) -> OutputProgram:
    """The forward program of ``outputs`` at the matrix level: each output one matrix
    expression (canonical and stable), through the sweep's forward pass, inlined as the
    loss is."""
    used = tuple(v for v in variables if v.role != "targets")
    roots = [stabilize(canonicalize(o.expr)) for o in outputs]
    fwd = forward_pass(sp.Tuple(*roots), used, MATRIX)
    statements = [(s.target, s.expr) for s in fwd.steps]
    results = [fwd.ref.get(r, r) for r in roots]
    statements, results = rewrite_inline(statements, results, frozenset())
    kept = rewrite_dead_code(statements, results)  # type: ignore[arg-type]
    derivation = Derivation(used, fwd.leaves, tuple(fwd.steps), (), sp.S.Zero, {})
    program = MatrixProgram(derivation, kept, sp.S.Zero, (), frozenset())
    return OutputProgram(program, outputs, tuple((r,) for r in results), len(fwd.steps))


def build_matrix_jacobian_program(jacobian: JacobianDerivation) -> JacobianProgram:
    """A Jacobian's matrix-level sweeps with what is used once inlined, no dead code."""
    derivation = jacobian.derivation
    statements, outputs = jacobian_outputs(derivation, jacobian.values, jacobian.rows)
    statements, outputs = rewrite_inline(statements, outputs, frozenset())
    return jacobian_program(derivation, jacobian.values, jacobian.rows, statements, outputs)


def output_entries(output: Output) -> list[sp.Basic]:
    """An output's entries, row-major: element reads of the (canonical, stable) matrix
    expression, never unrolled; a scalar output is its own entry."""
    expr = stabilize(canonicalize(output.expr))
    if not output.shape:
        return [expr]
    rows, cols = output.shape
    return [expr[i, j] for i in range(rows) for j in range(cols)]


def closed_form_jacobian(program: JacobianProgram) -> tuple[list[sp.Basic], list[list]]:
    """A matrix-level Jacobian program's entries and nonzero rows written out in the
    declared symbols (no simplify)."""
    value = statement_values(program)
    values = [substitute(v, value) for v in program.values]
    rows = [
        [(n, i, substitute(e, value)) for n, i, e in row if not (e == 0 or e.is_ZeroMatrix)]
        for row in program.rows
    ]
    return values, rows
