"""The declaration of a model: its variables, its loss at the level it is derived at.

:func:`declare` validates what a user passes to :class:`symbp.Model` and decides the
level: a loss kept at matrix level (a 1x1 matrix expression, or a scalar built from
``Trace`` or element reads of compound matrix expressions) is never unrolled into
scalars; anything else, and small matrix models under ``level="auto"``, is multiplied
out to its elements and derived as straight-line scalar code. The result is an
immutable :class:`Declaration`, the input of every later stage.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import sympy as sp

from ..errors import DeclarationError
from ..nodes.elements import is_leaf_read, unroll_scalar
from ..nodes.graph import unique_nodes
from ..nodes.matrix import slice_bounds
from ..nodes.scan import scans_in
from ..nodes.text import brief
from .outputs import Output, declare_outputs
from .variables import (
    REDUCTIONS,
    ROLES,
    Variable,
    check_declared,
    check_evaluated,
    declare_role,
    scalar_loss,
)

#: The levels a model can be declared at (``"auto"`` chooses one of the other two).
LEVEL_CHOICES = ("auto", "matrix", "scalar")
#: ``level="auto"`` unrolls a matrix-level loss to scalars when it has at most this many
#: scalar operations (:func:`unrolled_size`): seed 001's 2-3-1 network (9) and
#: the 2-2-2 sigmoid net of seed 004 (10) ran 1.2-1.6x faster as straight-line code than
#: batched; micrograd's 2-16-16-1 network (300) stays batched.
SMALL_UNROLLED = 100
#: A loss is refused before it is unrolled when it would unroll to more than this many
#: scalar operations (:func:`unrolled_size`): unrolling costs about 1 ms per operation
#: (an 8-unit RNN over 10 steps, 1,059 operations: 0.9 s), and with an adjoint for
#: about every operation, such a loss is beyond the straight-line limit anyway
#: (:data:`symbp.levels.STRAIGHT_LINE_LIMIT`, 1,500 sweep steps).
UNROLL_LIMIT = 1_500


@dataclass(frozen=True)
class Declaration:
    """A validated model, at the level it is derived at.

    ``loss`` is the per-sample loss as the sweep sees it: a scalar expression in the
    declared elements (``level == "scalar"``), or the matrix expression
    (``level == "matrix"``). ``written`` is the loss as the user gave it.
    """

    name: str
    loss: sp.Basic
    written: Any
    variables: tuple[Variable, ...]
    reduction: str
    level: str
    outputs: tuple[Output, ...]

    @property
    def params(self) -> tuple[Variable, ...]:
        """The parameters, in declaration order."""
        return tuple(v for v in self.variables if v.role == "params")

    def role(self, role: str) -> tuple[Variable, ...]:
        """The variables of one role (``"params"``, ``"inputs"``, ``"targets"``)."""
        return tuple(v for v in self.variables if v.role == role)


def unroll(loss: Any) -> sp.Expr:
    """The loss multiplied out to scalar elements (element reads expanded)."""
    if isinstance(loss, sp.MatrixExpr):
        loss = loss.as_explicit()[0, 0]
    return unroll_scalar(loss)  # type: ignore[return-value]


def declare(
    loss: Any,
    params: Any,
    inputs: Any = (),
    targets: Any = (),
    reduction: str = "mean",
    name: str | None = None,
    level: str = "auto",
    outputs: Any = None,
) -> Declaration:
    """Validate a model's arguments (see :class:`symbp.Model`) and choose its level."""
    if reduction not in REDUCTIONS:
        raise DeclarationError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
    model_name = "model" if name is None else name
    if not isinstance(model_name, str) or not model_name.isidentifier():
        raise DeclarationError(f"model name must be a Python identifier, got {name!r}")
    given = {"params": params, "inputs": inputs, "targets": targets}
    variables: list[Variable] = []
    for role in ROLES:
        variables.extend(declare_role(given[role], role))
    if not any(v.role == "params" for v in variables):
        raise DeclarationError("a model needs at least one parameter in params")
    if level not in LEVEL_CHOICES:
        raise DeclarationError(f"level must be one of {LEVEL_CHOICES}, got {level!r}")
    declared = tuple(variables)
    declared_outputs = declare_outputs(outputs, declared)
    for expr in (loss, *(output.expr for output in declared_outputs)):
        refuse_stepped_slices(expr)
    # A loss kept at matrix level is never unrolled; anything else is unrolled to
    # scalars (straight-line kernels).
    derived = loss
    matrix = is_matrix_level(derived)
    recurrent = matrix and bool(scans_in(derived))
    if recurrent and level == "scalar":
        raise DeclarationError(
            "level='scalar' unrolls the loss to its elements, but an nn.scan is a loop over "
            "its steps, compiled at matrix level only; use level='matrix' (or 'auto')"
        )
    explicit = any(v.is_explicit for v in declared)  # symbols the user multiplied out
    square = not isinstance(derived, sp.MatrixExpr) or tuple(derived.shape) == (1, 1)
    forced = level == "scalar" or explicit  # unrolled whatever its size
    size = (
        unrolled_size(derived)
        if matrix and not recurrent and square and (forced or level == "auto")
        else None
    )
    if size is not None and (forced or size <= SMALL_UNROLLED):
        if size > UNROLL_LIMIT:
            raise DeclarationError(
                f"the loss would unroll to about {size} scalar operations (more than "
                f"{UNROLL_LIMIT}: unrolling alone would take seconds to minutes, and the "
                "straight-line code would be too large to compile); write it at matrix level "
                "(level='matrix'), with matrices as MatrixSymbols, not explicit"
            )
        derived = unroll(derived)
        matrix = is_matrix_level(derived)
    if matrix:
        derived = check_matrix_loss(derived, declared)
    else:
        derived = scalar_loss(derived)
        check_declared(derived, declared)
    return Declaration(
        name=model_name,
        loss=derived,
        written=loss,
        variables=declared,
        reduction=reduction,
        level="matrix" if matrix else "scalar",
        outputs=declared_outputs,
    )


def refuse_stepped_slices(expr: sp.Basic) -> None:
    """Refuse a stepped slice whose shape SymPy gets wrong: ``X[:, ::2]`` of 5 columns
    picks 3 of them, but SymPy's ``MatrixSlice`` says 2 (``(stop - start) // step``),
    and every expression built on it follows that shape (at either level)."""
    if not isinstance(expr, sp.Basic):
        return
    for node in unique_nodes(expr, stop=lambda n: isinstance(n, sp.MatrixSymbol)):
        if not isinstance(node, sp.MatrixSlice):
            continue
        parent = node.parent
        for axis, index, size, shown in (
            ("rows", node.rowslice, parent.shape[0], node.shape[0]),
            ("columns", node.colslice, parent.shape[1], node.shape[1]),
        ):
            start, stop, step = slice_bounds(index, size)
            picked = len(range(start, stop, step))
            if picked != int(shown):
                raise DeclarationError(
                    f"the slice {brief(node, 80)} picks {picked} {axis} but SymPy gives it "
                    f"{shown} (SymPy's shape of a stepped slice is wrong unless the step "
                    "divides the length); slice an axis whose length the step divides, or "
                    "join step-1 slices with sp.Matrix.hstack / vstack"
                )


def is_matrix_level(loss: object) -> bool:
    """Whether ``loss`` is kept at matrix level (and so takes the matrix path).

    A matrix expression (not an explicit ``Matrix``), or a scalar expression with a
    matrix expression inside other than a declared ``MatrixSymbol``: a ``Trace(...)``,
    or an element read ``(x*W)[0, 0]`` of a compound expression
    (:class:`symbp.nodes.elements.Element`). Reads of declared symbols (``W[0, 1]``) alone
    keep a loss on the scalar path.
    """
    if isinstance(loss, sp.MatrixBase) or not isinstance(loss, sp.Basic):
        return False
    if isinstance(loss, sp.MatrixExpr):
        return True
    # unique_nodes walks the shared graph once (preorder_traversal is exponential in
    # the depth of models that reuse their layers).
    return any(
        isinstance(node, sp.MatrixExpr) and not isinstance(node, sp.MatrixSymbol)
        for node in unique_nodes(loss, stop=is_leaf_read)
    )


def unrolled_size(loss: sp.Basic) -> int:
    """About how many scalar operations ``loss`` unrolls to (without unrolling it).

    Each distinct matrix node counts its entries, a product its multiply-adds; scalar
    nodes count 1. Cheap (one pass over the shared graph), so the level can be chosen
    before anything is expanded.
    """
    total = 0
    for node in unique_nodes(loss, stop=is_leaf_read):
        if isinstance(node, sp.MatrixSymbol | sp.MatrixBase) or not node.args:
            continue
        if isinstance(node, sp.MatMul):
            mats = [a for a in node.args if a.is_Matrix]
            rows = int(mats[0].shape[0]) if mats else 1
            for left, right in itertools.pairwise(mats):
                total += rows * int(left.shape[1]) * int(right.shape[1])
        elif isinstance(node, sp.MatrixExpr):
            rows, cols = node.shape
            total += int(rows) * int(cols)
        else:
            total += 1
    return total


def check_matrix_loss(loss: sp.Basic, variables: tuple[Variable, ...]) -> sp.Basic:
    """Validate a matrix-level loss against the declarations; return it unchanged."""
    if isinstance(loss, sp.MatrixExpr) and tuple(loss.shape) != (1, 1):
        raise DeclarationError(
            f"the loss must be a scalar or a 1x1 matrix, got shape {tuple(loss.shape)}"
        )
    explicit = [v.name for v in variables if v.is_explicit]
    if explicit:
        raise DeclarationError(
            f"{explicit[0]!r} is an explicit Matrix of symbols, but the loss is kept at "
            "matrix level; declare it as a MatrixSymbol"
        )
    # The same DAG-aware checks as the scalar path: unevaluated nodes, undeclared
    # symbols (Lambda-bound variables excluded), names, roles and element indices.
    check_evaluated(loss)
    check_declared(loss, variables)
    return loss
