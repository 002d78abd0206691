"""Size rewrites that put a matrix-level loss into the forms the matrix rules expect.

Named passes, each a function ``expr -> expr`` with its identity and domain in the
docstring, run in order before the sweep (:func:`canonicalize`). They keep the value
exactly; the stability passes (:mod:`symbp.simplify.stability`) run after them.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import sympy as sp
from sympy.matrices.expressions.matexpr import MatrixElement

from ..nodes.graph import unique_nodes
from ..nodes.matrix import ELEMENT, Pad, element_sum, elementwise, is_numeric_matrix, map_children
from .recurrence import rewrite_recurrences

Rewrite = Callable[[sp.Basic], sp.Basic]


def bottom_up(expr: sp.Basic, rewrite: Rewrite) -> sp.Basic:
    """``rewrite`` applied to every node of ``expr``, children first, each distinct node
    once (the graph is walked as a DAG: a recurrence of T steps costs T, not 2^T)."""
    memo: dict[sp.Basic, sp.Basic] = {}

    def walk(node: sp.Basic) -> sp.Basic:
        done = memo.get(node)
        if done is None:
            done = memo[node] = rewrite(map_children(node, walk))
        return done

    return walk(expr)


def rewrite_matpow(expr: sp.Basic) -> sp.Basic:
    """``A**n -> A*...*A`` for a positive integer ``n`` (SymPy writes ``A*A`` as ``A**2``)."""

    def expand(e: sp.Basic) -> sp.Basic:
        if isinstance(e, sp.MatPow):
            base, exp = e.args
            if exp.is_Integer and exp > 0:
                return sp.MatMul(*([base] * int(exp)))
        return e

    return bottom_up(expr, expand)


def _progression(values: list[int]) -> tuple[int, int, int] | None:
    """``(start, stop, step)`` when ``values`` step evenly upwards, else None."""
    if not values:
        return None
    step = values[1] - values[0] if len(values) > 1 else 1
    if step < 1 or any(b - a != step for a, b in itertools.pairwise(values)):
        return None
    return values[0], values[-1] + 1, step


def _selection(matrix: sp.MatrixBase) -> tuple[list[int], list[int]] | None:
    """For a 0/1 matrix with at most one 1 per row: the rows holding a 1 and the column
    each one's 1 is in (a row selector: ``C X`` picks those rows of ``X``)."""
    rows, cols = [], []
    for i in range(matrix.rows):
        ones = [j for j in range(matrix.cols) if matrix[i, j] != 0]
        if any(matrix[i, j] != 1 for j in ones) or len(ones) > 1:
            return None
        if ones:
            rows.append(i)
            cols.append(ones[0])
    return (rows, cols) if rows else None


def _select(matrix: sp.MatrixBase, operand: sp.Basic, side: str) -> sp.Basic | None:
    """``matrix * operand`` (side ``"left"``) or ``operand * matrix`` as a slice of the
    operand (padded with zeros where the selector has an empty row or column)."""
    selector = matrix if side == "left" else matrix.T
    found = _selection(selector)
    if found is None:
        return None
    out, source = _progression(found[0]), _progression(found[1])
    if out is None or source is None:
        return None
    rows, cols = (int(d) for d in operand.shape)
    size = selector.rows
    if side == "left":
        picked = sp.MatrixSlice(operand, source, (0, cols, 1))
        if out == (0, size, 1):
            return picked
        return Pad(picked, size, cols, out, (0, cols, 1))
    picked = sp.MatrixSlice(operand, (0, rows, 1), source)
    if out == (0, size, 1):
        return picked
    return Pad(picked, rows, size, (0, rows, 1), out)


def _uniform(matrix: sp.MatrixBase) -> sp.Basic | None:
    """A numeric matrix as a constant node: ``c * ones``, ``zeros``, ``Identity``."""
    values = set(matrix)
    rows, cols = matrix.shape
    if len(values) == 1:
        (value,) = values
        return (
            sp.ZeroMatrix(rows, cols) if value == 0 else sp.MatMul(value, sp.OneMatrix(rows, cols))
        )
    if rows == cols and matrix == sp.eye(rows):
        return sp.Identity(rows)
    return None


def rewrite_constant_matrices(expr: sp.Basic) -> sp.Basic:
    """Explicit numeric matrices in products -> the constant nodes they are; always valid.

    ``sp.ones(n, 1)`` is ``OneMatrix(n, 1)`` (its products are sums and broadcasts),
    ``sp.eye(n)`` the identity, a 0/1 selector times ``X`` the slice of ``X`` it picks
    (``e_t X = X[t, :]``; a shift matrix is a slice padded with a zero row), so a model
    written with explicit constant matrices stays at matrix level, never unrolled. Any
    other numeric matrix stays a constant of the kernel.
    """

    def rewrite(node: sp.Basic) -> sp.Basic:
        if not isinstance(node, sp.MatMul):
            return node
        coeff, mats = node.as_coeff_matrices()
        if not any(is_numeric_matrix(m) for m in mats):
            return node
        out: list[sp.Basic] = []
        k = 0
        while k < len(mats):
            mat = mats[k]
            if is_numeric_matrix(mat):
                uniform = _uniform(mat)
                if isinstance(uniform, sp.ZeroMatrix):
                    return sp.ZeroMatrix(*node.shape)
                if k + 1 < len(mats) and uniform is None:
                    picked = _select(mat, mats[k + 1], "left")
                    if picked is not None:
                        out.append(picked)
                        k += 2
                        continue
                if out and uniform is None:
                    picked = _select(mat, out[-1], "right")
                    if picked is not None:
                        out[-1] = picked
                        k += 1
                        continue
                if isinstance(uniform, sp.Identity) and len(mats) > 1:
                    k += 1
                    continue
                if isinstance(uniform, sp.MatMul):
                    value, ones = uniform.args
                    coeff, mat = coeff * value, ones
                elif uniform is not None:
                    mat = uniform
            out.append(mat)
            k += 1
        return sp.MatMul(coeff, *out).doit(deep=False) if len(out) > 1 or coeff != 1 else out[0]

    return bottom_up(expr, rewrite)


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
CANONICAL_PASSES: tuple[Rewrite, ...] = (
    rewrite_matpow,
    rewrite_constant_matrices,
    rewrite_recurrences,
    rewrite_element_sums,
)


def canonicalize(expr: sp.Basic) -> sp.Basic:
    """Apply every size rewrite, in order."""
    for rewrite in CANONICAL_PASSES:
        expr = rewrite(expr)
    return expr
