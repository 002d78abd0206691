"""Named passes that turn a :class:`Derivation` into a compact :class:`Program`.

The sweep already shares every structurally equal subexpression, so the passes here
only tidy up: inline what is trivial or used once, share what the local derivative
rules created twice (deterministic CSE), and drop what no output needs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import sympy as sp

from .reverse import Derivation

Statement = tuple[sp.Symbol, sp.Expr]

#: Above this many statements CSE is skipped: the sweep's sharing is already complete
#: for structurally equal nodes, and sympy.cse grows superlinearly (see MEASUREMENTS.md).
CSE_LIMIT = 3000
#: Closed-form gradients are passed to sympy.simplify only below this operation count.
SIMPLIFY_OPS_LIMIT = 40


@dataclass(frozen=True)
class Program:
    """A straight-line program computing the per-sample loss and its gradient."""

    derivation: Derivation
    statements: tuple[Statement, ...]
    loss: sp.Expr
    #: (param name, element index, expression), params in declaration order
    gradients: tuple[tuple[str, tuple[int, ...], sp.Expr], ...]

    def needed(self, outputs: Iterable[sp.Expr]) -> tuple[Statement, ...]:
        """The statements that ``outputs`` depend on, in program order."""
        return rewrite_dead_code(self.statements, list(outputs))


def _uses(exprs: Iterable[sp.Expr], targets: set[sp.Symbol]) -> Counter[sp.Symbol]:
    counts: Counter[sp.Symbol] = Counter()
    for expr in exprs:
        for node in sp.preorder_traversal(expr):
            if node in targets:
                counts[node] += 1  # type: ignore[index]
    return counts


def rewrite_inline(
    statements: list[Statement], outputs: list[sp.Expr]
) -> tuple[list[Statement], list[sp.Expr]]:
    """Inline assignments that are atoms or used exactly once.

    Identity: ``t = e; ... f(t) ...`` equals ``... f(e) ...`` when ``t`` is used once;
    valid everywhere, it only changes where a value is computed.
    """
    targets = {t for t, _ in statements}
    uses = _uses([e for _, e in statements] + outputs, targets)
    subst: dict[sp.Symbol, sp.Expr] = {}
    kept: list[Statement] = []
    for target, expr in statements:
        expr = expr.xreplace(subst) if subst else expr
        if expr.is_Atom or uses[target] <= 1:
            subst[target] = expr
        else:
            kept.append((target, expr))
    return kept, [o.xreplace(subst) for o in outputs]


def rewrite_dead_code(
    statements: Iterable[Statement], outputs: list[sp.Expr]
) -> tuple[Statement, ...]:
    """Drop statements that no output depends on."""
    statements = list(statements)
    live: set[sp.Basic] = set()
    for out in outputs:
        live |= out.free_symbols
    kept: list[Statement] = []
    for target, expr in reversed(statements):
        if target in live:
            kept.append((target, expr))
            live |= expr.free_symbols
    return tuple(reversed(kept))


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


#: The passes, in order. Each takes and returns (statements, outputs).
PASSES = (rewrite_inline, rewrite_cse)


def build_program(derivation: Derivation) -> Program:
    """Run the passes over the sweep's steps and return the program."""
    statements: list[Statement] = [(s.target, s.expr) for s in derivation.forward]
    statements += [(s.target, s.expr) for s in derivation.adjoint]
    keys = list(derivation.gradients)
    outputs = [derivation.loss] + [derivation.gradients[k] for k in keys]
    for rewrite in PASSES:
        statements, outputs = rewrite(statements, outputs)
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
    value: dict[sp.Symbol, sp.Expr] = {}
    for target, expr in program.statements:
        value[target] = expr.xreplace(value)
    result = {}
    for name, index, expr in program.gradients:
        flat = expr.xreplace(value)
        if sp.count_ops(flat) <= SIMPLIFY_OPS_LIMIT:
            flat = sp.simplify(flat)
        else:
            flat = sp.factor_terms(flat)
        result[(name, index)] = flat
    return result
