"""Matrix-level models: reverse mode over whole matrices, batched kernels.

A loss kept at matrix level (a 1x1 matrix expression, or a scalar built from
``Trace`` of matrix expressions) is never unrolled into scalars:
:mod:`~symbp.matrix.reverse` derives it with the matrix rules of
:mod:`~symbp.matrix.rules`, :mod:`~symbp.matrix.program` inlines it into a few
statements, and :mod:`~symbp.matrix.lower` / :mod:`~symbp.matrix.kernel` emit
batched Numba kernels behind the same module contract as the scalar path.
"""

from __future__ import annotations

import itertools

import sympy as sp

from ..declare import Variable, check_declared, check_evaluated
from ..elements import is_leaf_read
from ..errors import DeclarationError
from ..graph import unique_nodes


def is_matrix_level(loss: object) -> bool:
    """Whether ``loss`` is kept at matrix level (and so takes the matrix path).

    A matrix expression (not an explicit ``Matrix``), or a scalar expression with a
    matrix expression inside other than a declared ``MatrixSymbol``: a ``Trace(...)``,
    or an element read ``(x*W)[0, 0]`` of a compound expression
    (:class:`symbp.elements.Element`). Reads of declared symbols (``W[0, 1]``) alone
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
