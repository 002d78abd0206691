"""Size rewrites that put a matrix-level loss into the forms the matrix rules expect.

Named passes, each a function ``expr -> expr`` with its identity and domain in the
docstring, run in order before the sweep (:func:`canonicalize`). They keep the value
exactly; the stability passes (:mod:`symbp.simplify.stability`) run after them.
"""

from __future__ import annotations

from collections.abc import Callable

import sympy as sp
from sympy.matrices.expressions.matexpr import MatrixElement

from ..nodes.graph import unique_nodes
from ..nodes.matrix import ELEMENT, element_sum, elementwise

Rewrite = Callable[[sp.Basic], sp.Basic]


def rewrite_matpow(expr: sp.Basic) -> sp.Basic:
    """``A**n -> A*...*A`` for a positive integer ``n`` (SymPy writes ``A*A`` as ``A**2``)."""
    if not expr.has(sp.MatPow):
        return expr

    def expand(e: sp.MatPow) -> sp.Basic:
        base, exp = e.args
        if exp.is_Integer and exp > 0:
            return sp.MatMul(*([base] * int(exp)))
        return e

    return expr.replace(lambda e: isinstance(e, sp.MatPow), expand)


def _single_read(term: sp.Basic) -> MatrixElement | None:
    """The one element read in ``term`` (``c * f(M[i, j])``), if it reads exactly one."""
    reads = [
        n
        for n in unique_nodes(term, stop=lambda n: isinstance(n, MatrixElement))
        if isinstance(n, MatrixElement)
    ]
    if len(reads) != 1:
        return None
    return reads[0]  # type: ignore[no-any-return]


def _element_sums(add: sp.Add) -> sp.Basic:
    """One Add: terms ``f(M[i, j])`` for every ``(i, j)`` of ``M`` -> ``sum(f.(M))``."""
    groups: dict[tuple[sp.Basic, sp.Basic], dict[tuple[int, int], int]] = {}
    for position, term in enumerate(add.args):
        read = _single_read(term)
        if read is None:
            continue
        matrix, i, j = read.args
        template = term.xreplace({read: ELEMENT})
        if template.has(sp.MatrixExpr) or template.has(MatrixElement):
            continue
        # SymPy's Add merges equal terms, so each entry appears at most once per template.
        groups.setdefault((matrix, template), {})[(int(i), int(j))] = position
    sums: list[sp.Basic] = []
    used: set[int] = set()
    for (matrix, template), members in groups.items():
        rows, cols = (int(d) for d in matrix.shape)
        if rows * cols < 2 or len(members) != rows * cols:
            continue
        applied = elementwise(sp.Lambda(ELEMENT, template), matrix)
        sums.append(element_sum(applied))
        used.update(members.values())
    if not sums:
        return add
    return sp.Add(*sums, *(t for k, t in enumerate(add.args) if k not in used))


def rewrite_element_sums(expr: sp.Basic) -> sp.Basic:
    """``sum_{i,j} f(M[i, j]) -> sum(f.(M))`` over every entry of a matrix ``M``; always valid.

    The way a weight penalty is written by hand, ``alpha * sum(W[i, j]**2 for i, j)``
    (micrograd's ``sum(p*p for p in parameters)``), reads each entry on its own; as one
    elementwise function summed over ``M`` it is two matrix nodes instead of ``2 r c``
    scalar ones. Terms that read only some entries are left as they are.
    """
    memo: dict[sp.Basic, sp.Basic] = {}

    def walk(node: sp.Basic) -> sp.Basic:
        done = memo.get(node)
        if done is not None:
            return done
        result = node
        # Penalties are scalar sums: matrix expressions and element reads are left whole.
        if node.args and not isinstance(node, sp.MatrixExpr | sp.Lambda | MatrixElement):
            args = [walk(a) for a in node.args]
            if any(a is not b for a, b in zip(args, node.args, strict=True)):
                result = node.func(*args)
        if isinstance(result, sp.Add):
            result = _element_sums(result)
        memo[node] = result
        return result

    return walk(expr)


#: The passes, in order.
CANONICAL_PASSES: tuple[Rewrite, ...] = (rewrite_matpow, rewrite_element_sums)


def canonicalize(expr: sp.Basic) -> sp.Basic:
    """Apply every size rewrite, in order."""
    for rewrite in CANONICAL_PASSES:
        expr = rewrite(expr)
    return expr
