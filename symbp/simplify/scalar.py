"""Named passes that turn a :class:`Derivation` into a compact :class:`Program`.

The sweep already shares every structurally equal subexpression, so the passes here
only tidy up: inline what is trivial or used once, share what the local derivative
rules created twice (deterministic CSE), and drop what no output needs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import sympy as sp

from ..declare.outputs import Output
from ..declare.variables import Variable
from ..derive.hessian import gradient_values
from ..derive.jacobian import JacobianDerivation
from ..derive.scalar import SCALAR
from ..derive.sweep import Derivation, forward_pass, sweep
from ..errors import OptionError
from ..nodes.elements import unroll_scalar
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

#: Above this many statements CSE is skipped: the sweep's sharing is already complete
#: for structurally equal nodes, and sympy.cse grows superlinearly (see MEASUREMENTS.md).
CSE_LIMIT = 3000
#: Closed-form gradients are passed to sympy.simplify only below this operation count.
SIMPLIFY_OPS_LIMIT = 40


def _uses(exprs: Iterable[sp.Expr], targets: set[sp.Symbol]) -> Counter[sp.Symbol]:
    counts: Counter[sp.Symbol] = Counter()
    for expr in exprs:
        for node in sp.preorder_traversal(expr):
            if node in targets:
                counts[node] += 1  # type: ignore[index]
    return counts


def rewrite_inline(
    statements: list[Statement], outputs: list[sp.Expr], keep: frozenset[sp.Basic] = frozenset()
) -> tuple[list[Statement], list[sp.Expr]]:
    """Inline assignments that are atoms or used exactly once, except those in ``keep``
    (the quantities the derivation names: they stay lines of their own).

    Identity: ``t = e; ... f(t) ...`` equals ``... f(e) ...`` when ``t`` is used once;
    valid everywhere, it only changes where a value is computed.
    """
    targets = {t for t, _ in statements}
    uses = _uses([e for _, e in statements] + outputs, targets)
    subst: dict[sp.Symbol, sp.Expr] = {}
    kept: list[Statement] = []
    for target, expr in statements:
        expr = expr.xreplace(subst) if subst else expr
        if target not in keep and (expr.is_Atom or uses[target] <= 1):
            subst[target] = expr
        else:
            kept.append((target, expr))
    return kept, [o.xreplace(subst) for o in outputs]


def rewrite_cse(
    statements: list[Statement], outputs: list[sp.Expr]
) -> tuple[list[Statement], list[sp.Expr]]:
    """Share subexpressions that the local rules produced more than once.

    Uses ``sympy.cse(order="canonical")`` (hash-independent) with temporaries
    ``_c0, _c1, ...``; each temporary is placed just before its first use.
    """
    if not statements or len(statements) > CSE_LIMIT:
        return statements, outputs
    exprs = [e for _, e in statements] + outputs
    symbols = sp.numbered_symbols("_c", real=True)
    replacements, reduced = sp.cse(exprs, symbols=symbols, order="canonical")
    if not replacements:
        return statements, outputs
    pending = {sym: expr for sym, expr in replacements}
    rank = {sym: i for i, (sym, _) in enumerate(replacements)}
    result: list[Statement] = []

    def emit_needed(expr: sp.Expr) -> None:
        needed = sorted((s for s in expr.free_symbols if s in pending), key=rank.__getitem__)
        for sym in needed:
            if sym in pending:
                sub = pending.pop(sym)
                emit_needed(sub)
                result.append((sym, sub))

    n = len(statements)
    for (target, _), expr in zip(statements, reduced[:n], strict=True):
        emit_needed(expr)
        result.append((target, expr))
    outs = reduced[n:]
    for out in outs:
        emit_needed(out)
    return result, outs


def build_program(derivation: Derivation, keep: frozenset[sp.Basic] = frozenset()) -> Program:
    """Run the passes over the sweep's steps and return the program; the steps in
    ``keep`` stay statements of their own (see :func:`rewrite_inline`)."""
    statements: list[Statement] = [(s.target, s.expr) for s in derivation.forward]
    statements += [(s.target, s.expr) for s in derivation.adjoint]
    keys = list(derivation.gradients)
    outputs = [derivation.loss] + [derivation.gradients[k] for k in keys]
    statements, outputs = rewrite_inline(statements, outputs, keep)
    statements, outputs = rewrite_cse(statements, outputs)
    kept = rewrite_dead_code(statements, outputs)
    gradients = tuple(
        (name, index, expr) for (name, index), expr in zip(keys, outputs[1:], strict=True)
    )
    return Program(derivation, kept, outputs[0], gradients)


def closed_form(program: Program) -> dict[tuple[str, tuple[int, ...]], sp.Expr]:
    """Each gradient element written out in the declared symbols, simplified.

    Expressions are substituted back in program order, then ``sympy.simplify`` runs
    on each element below :data:`SIMPLIFY_OPS_LIMIT` operations (a deterministic
    budget: larger elements get the cheap ``factor_terms`` only).
    """
    value = statement_values(program)
    return {(name, index): tidy(expr, value) for name, index, expr in program.gradients}


def statement_values(program: Program | JacobianProgram) -> dict[sp.Symbol, sp.Expr]:
    """Each statement's target written out in the declared symbols, in program order."""
    value: dict[sp.Symbol, sp.Expr] = {}
    for target, expr in program.statements:
        value[target] = expr.xreplace(value)
    return value


def tidy(expr: sp.Basic, value: dict[sp.Symbol, sp.Expr]) -> sp.Basic:
    """``expr`` in the declared symbols (``value``: :func:`statement_values`), simplified
    below :data:`SIMPLIFY_OPS_LIMIT` operations, else with ``factor_terms`` only."""
    flat = sp.sympify(expr).xreplace(value)
    return sp.simplify(flat) if sp.count_ops(flat) <= SIMPLIFY_OPS_LIMIT else sp.factor_terms(flat)


#: ``closed_form_hessian`` refuses models with more parameter elements than this.
CLOSED_FORM_LIMIT = 60


def closed_form_hessian(program: Program, variables: tuple[Variable, ...]) -> sp.ImmutableMatrix:
    """The Hessian of the per-sample loss (scalar level) over the flat parameters, simplified.

    Rows and columns follow the parameters in declaration order, row-major; entry
    ``(i, j)`` is ``d^2 L / d theta_i d theta_j``, from the sweep of ``g_i``.
    """
    params = [v for v in variables if v.role == "params"]
    flat = [(v, index) for v in params for index in v.indices()]
    if len(flat) > CLOSED_FORM_LIMIT:
        raise OptionError(
            f"the closed-form Hessian has {len(flat)}x{len(flat)} entries; it is printed for "
            f"at most {CLOSED_FORM_LIMIT} parameter elements (trainer.hessp and "
            "trainer.hessian compute it numerically at any size)"
        )
    grads = gradient_values(program)
    position = {(v.name, index): k for k, (v, index) in enumerate(flat)}
    rows = []
    for var, index in flat:
        g = grads.get(var.name, {}).get(index, sp.S.Zero)  # type: ignore[union-attr]
        row = [sp.S.Zero] * len(flat)
        if g != 0:
            second = sweep(g, variables, SCALAR)
            value: dict[sp.Basic, sp.Basic] = {}
            for step in second.forward + second.adjoint:
                value[step.target] = step.expr.xreplace(value)
            for (name, idx), expr in second.gradients.items():
                entry = sp.sympify(expr).xreplace(value)
                entry = (
                    sp.simplify(entry)
                    if sp.count_ops(entry) <= SIMPLIFY_OPS_LIMIT
                    else sp.factor_terms(entry)
                )
                row[position[(name, idx)]] = entry
        rows.append(row)
    return sp.ImmutableMatrix(rows)


def _entries(expr: sp.Basic, shape: tuple[int, ...]) -> list[sp.Basic]:
    """The scalar entries of an output, row-major (multiplied out to its elements)."""
    if not shape:
        return [unroll_scalar(expr)]
    with_explicit = expr.as_explicit() if isinstance(expr, sp.MatrixExpr) else expr
    return [unroll_scalar(sp.sympify(e)) for e in with_explicit]


def output_program(outputs: tuple[Output, ...], variables: tuple[Variable, ...]) -> OutputProgram:
    """The forward program of ``outputs`` at the scalar level: each entry multiplied out
    and stabilized, through the sweep's forward pass, inlined and shared as the loss."""
    used = tuple(v for v in variables if v.role != "targets")
    per_output = [[stabilize(e) for e in _entries(o.expr, o.shape)] for o in outputs]
    flat = [e for entries in per_output for e in entries]
    fwd = forward_pass(sp.Tuple(*flat), used, SCALAR)
    statements = [(s.target, s.expr) for s in fwd.steps]
    results = [fwd.ref.get(r, r) for r in flat]
    statements, results = rewrite_inline(statements, results)
    statements, results = rewrite_cse(statements, results)
    kept = rewrite_dead_code(statements, results)
    derivation = Derivation(used, fwd.leaves, tuple(fwd.steps), (), sp.S.Zero, {})
    program = Program(derivation, kept, sp.S.Zero, ())
    values, k = [], 0
    for entries in per_output:
        values.append(tuple(results[k : k + len(entries)]))
        k += len(entries)
    return OutputProgram(program, outputs, tuple(values), len(fwd.steps))


def build_jacobian_program(jacobian: JacobianDerivation) -> JacobianProgram:
    """A Jacobian's sweeps simplified as the loss's are: inlined, shared (CSE), no dead code."""
    derivation = jacobian.derivation
    statements, outputs = jacobian_outputs(derivation, jacobian.values, jacobian.rows)
    statements, outputs = rewrite_inline(statements, outputs)
    statements, outputs = rewrite_cse(statements, outputs)
    return jacobian_program(derivation, jacobian.values, jacobian.rows, statements, outputs)


def output_entries(output: Output) -> list[sp.Basic]:
    """An output's entries, row-major, multiplied out and stabilized (scalar level)."""
    return [stabilize(e) for e in _entries(output.expr, output.shape)]


def closed_form_jacobian(program: JacobianProgram) -> tuple[list[sp.Basic], list[list]]:
    """A Jacobian program's entries and nonzero rows ``(name, index, expression)`` written
    out in the declared symbols, simplified under the same budget as :func:`closed_form`."""
    value = statement_values(program)
    values = [tidy(v, value) for v in program.values]
    rows = [[(n, i, tidy(e, value)) for n, i, e in row if e != 0] for row in program.rows]
    return values, rows
