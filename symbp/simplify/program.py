"""The program a sweep is simplified into: statements, loss, gradients.

Both levels emit from a :class:`Program` (the matrix level from its subclass
:class:`symbp.simplify.matrix.MatrixProgram`); :func:`rewrite_dead_code` is the pass
they share. An :class:`OutputProgram` is the forward program of a model's outputs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import sympy as sp

from ..declare.outputs import Output
from ..derive.sweep import Derivation

Statement = tuple[sp.Symbol, sp.Expr]


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


@dataclass(frozen=True)
class OutputProgram:
    """The forward program of a model's outputs.

    ``program`` holds the statements (a :class:`Program` or
    :class:`~symbp.simplify.matrix.MatrixProgram` with no loss and no gradients, so the
    level's writers can read its leaves and params); ``values[k]`` is output ``k`` in the
    program's symbols: one expression per entry, row-major, at the scalar level; one
    matrix expression at the matrix level. ``steps`` counts its forward steps.
    """

    program: Program
    outputs: tuple[Output, ...]
    values: tuple[tuple[sp.Basic, ...], ...]
    steps: int = 0
