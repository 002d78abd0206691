"""Named outputs of a model (``logits``, ``probabilities``, ...) and their forward programs.

``Model(..., outputs={"logits": z})`` declares per-sample expressions in the params and
inputs. :func:`output_program` turns them into a forward-only program at the model's
level, through the same forward pass as the sweep (:func:`symbp.reverse.forward_pass`)
and the same passes as the loss: unrolled to straight-line scalars for a scalar-level
model, whole matrices for a matrix-level one, stabilized in both (a sigmoid output
never overflows). The emitters turn it into the ``_predict`` kernel.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sympy as sp

from .declare import Variable, check_declared, check_evaluated
from .elements import unroll_scalar
from .errors import DeclarationError
from .matrix.canonical import canonicalize
from .matrix.program import MatrixProgram
from .matrix.program import rewrite_inline as rewrite_matrix_inline
from .matrix.reverse import MATRIX
from .reverse import SCALAR, Derivation, forward_pass
from .simplify import Program, rewrite_cse, rewrite_dead_code, rewrite_inline
from .stability import stabilize


@dataclass(frozen=True)
class Output:
    """One declared output: its name, the per-sample expression and its shape."""

    name: str
    expr: sp.Basic
    shape: tuple[int, ...]


def declare_outputs(outputs: Any, variables: tuple[Variable, ...]) -> tuple[Output, ...]:
    """Validate ``outputs`` (a mapping name -> expression in params and inputs)."""
    if outputs is None:
        return ()
    if not isinstance(outputs, Mapping):
        raise DeclarationError(
            f"outputs must be a dict mapping names to expressions, got {type(outputs).__name__}"
        )
    taken = {v.name: v.role[:-1] for v in variables}
    allowed = tuple(v for v in variables if v.role != "targets")
    targets = [v.name for v in variables if v.role == "targets"]
    result = []
    for name, expr in outputs.items():
        if not isinstance(name, str) or not name.isidentifier() or name.startswith("_"):
            raise DeclarationError(
                f"output name {name!r} must be an identifier not starting with '_'"
            )
        if name in taken:
            raise DeclarationError(f"output name {name!r} is already the name of a {taken[name]}")
        if isinstance(expr, int | float):
            expr = sp.sympify(expr)
        if isinstance(expr, sp.MatrixBase):
            expr = sp.ImmutableMatrix(expr)
        if not isinstance(expr, sp.Expr | sp.MatrixExpr):
            raise DeclarationError(
                f"output {name!r} must be a SymPy expression, got {type(expr).__name__}"
            )
        shape = tuple(int(d) for d in expr.shape) if isinstance(expr, sp.MatrixExpr) else ()
        check_evaluated(expr)
        try:
            check_declared(expr, allowed)
        except DeclarationError as err:
            hint = f" (outputs may not use the targets {targets})" if targets else ""
            raise DeclarationError(f"output {name!r}: {err}{hint}") from None
        result.append(Output(name, expr, shape))
    return tuple(result)


@dataclass(frozen=True)
class OutputProgram:
    """The forward program of a model's outputs.

    ``program`` holds the statements (a :class:`~symbp.simplify.Program` or
    :class:`~symbp.matrix.program.MatrixProgram` with no loss and no gradients, so the
    level's writers can read its leaves and params); ``values[k]`` is output ``k`` in the
    program's symbols: one expression per entry, row-major, at the scalar level; one
    matrix expression at the matrix level.
    """

    program: Program
    outputs: tuple[Output, ...]
    values: tuple[tuple[sp.Basic, ...], ...]


def _entries(expr: sp.Basic, shape: tuple[int, ...]) -> list[sp.Basic]:
    """The scalar entries of an output, row-major (multiplied out to its elements)."""
    if not shape:
        return [unroll_scalar(expr)]
    with_explicit = expr.as_explicit() if isinstance(expr, sp.MatrixExpr) else expr
    return [unroll_scalar(sp.sympify(e)) for e in with_explicit]


def output_program(
    outputs: tuple[Output, ...], variables: tuple[Variable, ...], matrix: bool
) -> OutputProgram:
    """The forward program computing ``outputs`` at the model's level."""
    used = tuple(v for v in variables if v.role != "targets")
    if matrix:
        roots = [stabilize(canonicalize(o.expr)) for o in outputs]
        flat: list[sp.Basic] = roots
        level = MATRIX
    else:
        per_output = [[stabilize(e) for e in _entries(o.expr, o.shape)] for o in outputs]
        flat = [e for entries in per_output for e in entries]
        level = SCALAR
    fwd = forward_pass(sp.Tuple(*flat), used, level)
    if not matrix:
        from .model import refuse_unrolled

        refuse_unrolled(
            len(fwd.steps),
            f"the outputs ({', '.join(o.name for o in outputs)}) unroll to",
            "declare the model with level='matrix' so they compile as matrix expressions",
            DeclarationError,
        )
    statements = [(s.target, s.expr) for s in fwd.steps]
    results = [fwd.ref.get(r, r) for r in flat]
    if matrix:
        statements, results = rewrite_matrix_inline(statements, results, frozenset())
    else:
        statements, results = rewrite_inline(statements, results)
        statements, results = rewrite_cse(statements, results)
    kept = rewrite_dead_code(statements, results)  # type: ignore[arg-type]
    derivation = Derivation(used, fwd.leaves, tuple(fwd.steps), (), sp.S.Zero, {})
    if matrix:
        program: Program = MatrixProgram(derivation, kept, sp.S.Zero, (), frozenset())
        values = tuple((r,) for r in results)
    else:
        program = Program(derivation, kept, sp.S.Zero, ())
        values, k = [], 0
        for entries in per_output:
            values.append(tuple(results[k : k + len(entries)]))
            k += len(entries)
        values = tuple(values)  # type: ignore[assignment]
    return OutputProgram(program, outputs, values)  # type: ignore[arg-type]
