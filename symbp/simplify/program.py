"""The program a sweep is simplified into: statements, loss, gradients.

Both levels emit from a :class:`Program` (the matrix level from its subclass
:class:`symbp.simplify.matrix.MatrixProgram`); :func:`rewrite_dead_code` is the pass
they share. An :class:`OutputProgram` is the forward program of a model's outputs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import sympy as sp

from ..declare.outputs import Output
from ..derive.sweep import Derivation
from ..nodes.pattern import program_structure

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


#: One row of a Jacobian: (param name, element index, expression), params in declaration order.
Row = tuple[tuple[str, tuple[int, ...], sp.Basic], ...]


@dataclass(frozen=True)
class JacobianProgram(Program):
    """The program of a Jacobian (:mod:`symbp.derive.jacobian`): the statements compute
    every entry (``values``, in the program's symbols) and, after them, every row
    (``rows[k]``: entry ``k``'s derivative by each parameter; a zero where it does not
    depend on one). ``loss`` and ``gradients`` are unused; ``summed`` is empty (every
    adjoint is per sample: the rows are not summed over the samples)."""

    values: tuple[sp.Basic, ...] = ()
    rows: tuple[Row, ...] = ()
    summed: frozenset[sp.Basic] = frozenset()

    def structure(self) -> np.ndarray:
        """``(entries, parameter elements)`` booleans: where a row may be nonzero, for
        every value of the params and data (:mod:`symbp.nodes.pattern`); the flat
        parameters in declaration order, row-major."""
        params = self.derivation.params
        offsets, size = {}, 0
        for var in params:
            offsets[var.name] = size
            size += var.size
        exprs = [expr for row in self.rows for _, _, expr in row]
        found = iter(program_structure(self.statements, exprs))
        result = np.zeros((len(self.rows), size), dtype=bool)
        shapes = {v.name: v.shape for v in params}
        for k, row in enumerate(self.rows):
            for name, index, _ in row:
                where = np.asarray(next(found), dtype=bool)
                shape = shapes[name]
                start = offsets[name]
                if index:  # one element (scalar level)
                    result[k, start + index[0] * shape[1] + index[1]] = bool(where)
                else:
                    count = max(1, int(np.prod(shape))) if shape else 1
                    result[k, start : start + count] = np.broadcast_to(where, shape or ()).ravel()
        return result


def jacobian_outputs(derivation: Derivation, values: tuple, rows: tuple) -> tuple[list, list]:
    """The statements of a Jacobian's sweeps and its outputs (values, then the rows'
    entries, params in declaration order), for the level's passes."""
    statements = [(s.target, s.expr) for s in derivation.forward]
    statements += [(s.target, s.expr) for s in derivation.adjoint]
    outputs = list(values)
    order = _key_order(derivation)
    for row in rows:
        outputs += [row[key] for key in sorted(row, key=order)]
    return statements, outputs


def _key_order(derivation: Derivation):  # type: ignore[no-untyped-def]
    order = {v.name: k for k, v in enumerate(derivation.params)}
    return lambda key: (order[key[0]], key[1])


def jacobian_program(
    derivation: Derivation, values: tuple, rows: tuple, statements: list, outputs: list
) -> JacobianProgram:
    """Reassemble a :class:`JacobianProgram` from the passes' statements and outputs."""
    kept = rewrite_dead_code(statements, outputs)
    k = len(values)
    new_values = tuple(outputs[:k])
    new_rows = []
    order = _key_order(derivation)
    for row in rows:
        keys = sorted(row, key=order)
        new_rows.append(
            tuple((name, index, outputs[k + n]) for n, (name, index) in enumerate(keys))
        )
        k += len(keys)
    return JacobianProgram(derivation, kept, sp.S.Zero, (), values=new_values, rows=tuple(new_rows))
