"""Named outputs of a model (``logits``, ``probabilities``, ...), validated.

``Model(..., outputs={"logits": z})`` declares per-sample expressions in the params and
inputs; :mod:`symbp.simplify.outputs` turns them into a forward program at the model's
level.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sympy as sp

from ..errors import DeclarationError
from .variables import Variable, check_declared, check_evaluated


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
