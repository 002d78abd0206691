"""Residuals: a per-sample loss that is a sum of squares, and the terms it squares.

``r**2``, ``sum(r_k**2)``, ``(r.T*r)[0, 0]`` or ``Trace(R.T*R)`` of a residual matrix,
``nn.mse`` (a mean of squares) and any positive multiple of them are least-squares
losses: :func:`residuals` returns their residuals, each a scalar expression or a whole
matrix expression (never unrolled), with a positive constant factor ``c`` folded in as
``sqrt(c) r`` so that the loss is exactly the sum of the residuals' squared entries.
Weights are inputs inside the square (``((f - y)/s)**2``, which SymPy writes
``(f - y)**2 / s**2``: even powers multiply into one square). Anything else is refused
with a :class:`~symbp.DeclarationError` naming the first term that is not a square.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import sympy as sp
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction

from ..errors import DeclarationError
from ..nodes.elements import Element
from ..nodes.matrix import ELEMENT, elementwise
from ..nodes.text import brief

#: A product of sums of squares is multiplied out into at most this many squares.
MAX_PRODUCT_TERMS = 64


@dataclass(frozen=True)
class Residual:
    """One residual: ``expr`` (a scalar, or a matrix whose every entry is one) times ``scale``."""

    scale: sp.Expr
    expr: sp.Basic

    @property
    def shape(self) -> tuple[int, ...]:
        """``()`` for a scalar residual, ``(rows, cols)`` for a matrix of them."""
        if isinstance(self.expr, sp.MatrixExpr):
            return tuple(int(d) for d in self.expr.shape)
        return ()

    @property
    def size(self) -> int:
        """How many residuals per sample (entries)."""
        rows, cols = self.shape or (1, 1)
        return rows * cols

    def entries(self) -> list[sp.Basic]:
        """Each residual as a scalar expression, row-major; a matrix's entries stay element
        reads of the matrix expression (``R[i, j]``: nothing is unrolled)."""
        if not self.shape:
            return [self.scale * self.expr]
        rows, cols = self.shape
        return [self.scale * self.expr[i, j] for i in range(rows) for j in range(cols)]


class NotASquare(Exception):
    """A term of the loss that is not a square (internal: becomes a DeclarationError)."""

    def __init__(self, term: sp.Basic):
        super().__init__(str(term))
        self.term = term


def _positive(number: sp.Expr, term: sp.Basic) -> None:
    if not (number.is_extended_real and number > 0):
        raise NotASquare(term)


def _transpose_equal(a: sp.Basic, b: sp.Basic) -> bool:
    """Whether ``b`` is ``a.T``, however SymPy distributed the transpose."""
    return bool(b == sp.Transpose(a) or b == sp.Transpose(a).doit(deep=False) or b == a.T)


def _element_squares(matrix: sp.MatrixExpr, term: sp.Basic) -> list[tuple[sp.Expr, sp.Basic]]:
    """``sum(F)`` over every entry of ``F`` where ``F`` squares elementwise."""
    if isinstance(matrix, sp.HadamardPower) and matrix.args[1] == 2:
        return [(sp.S.One, matrix.args[0])]
    if isinstance(matrix, sp.HadamardProduct) and len(matrix.args) == 2:
        first, second = matrix.args
        if first == second:
            return [(sp.S.One, first)]
    if isinstance(matrix, ElementwiseApplyFunction):
        (var,) = matrix.function.variables
        body = matrix.function.expr.xreplace({var: ELEMENT})
        if not body.has(ELEMENT):
            raise NotASquare(term)
        result = []
        for scale, base in _squares(body, term):
            function = sp.Lambda(ELEMENT, base)
            result.append(
                (scale, matrix.expr if base == ELEMENT else elementwise(function, matrix.expr))
            )
        return result
    raise NotASquare(term)


def _factors(product: sp.MatMul) -> tuple[sp.Expr, list[sp.Basic]]:
    """``(coefficient, matrices)`` of a product, nested products flattened."""
    coeff, mats = product.as_coeff_matrices()
    flat: list[sp.Basic] = []
    for mat in mats:
        if isinstance(mat, sp.MatMul):
            inner, more = _factors(mat)
            coeff, flat = coeff * inner, flat + more
        else:
            flat.append(mat)
    return coeff, flat


def _summed(mats: list[sp.Basic]) -> sp.Basic | None:
    """``F`` for ``1^T F 1`` (the sum of every entry of ``F``), else None."""
    inner = [m for m in mats if not isinstance(m, sp.OneMatrix)]
    if len(inner) != 1:
        return None
    k = mats.index(inner[0])
    if all(isinstance(m, sp.OneMatrix) for m in mats[:k] + mats[k + 1 :]) and len(mats) <= 3:
        return inner[0]
    return None


def _matrix_squares(coeff: sp.Expr, mats: list[sp.Basic], term: sp.Basic) -> list:
    """Squares of a 1x1 product ``coeff * mats[0] * mats[1] * ...``."""
    mats = [m for m in mats if not (isinstance(m, sp.OneMatrix) and m.shape == (1, 1))]
    if not mats:
        return _squares(coeff, term)
    scale = _squares(coeff, term) if coeff != 1 else [(sp.S.One, sp.S.One)]
    if len(mats) == 1:
        found = _squares(mats[0], term)
    elif len(mats) == 2 and _transpose_equal(mats[0], mats[1]):
        found = [(sp.S.One, mats[0])]  # r r^T of a row r
    elif len(mats) == 2 and _transpose_equal(mats[1], mats[0]):
        found = [(sp.S.One, mats[1])]  # r^T r of a column r
    else:
        inner = _summed(mats)
        if inner is None:
            raise NotASquare(term)
        found = _element_squares(inner, term)
    return _product([scale, found], term)


def _product(factors: list[list], term: sp.Basic) -> list[tuple[sp.Expr, sp.Basic]]:
    """The squares of a product of sums of squares (multiplied out)."""
    total = 1
    for squares in factors:
        total *= len(squares)
    if total > MAX_PRODUCT_TERMS:
        raise NotASquare(term)
    result = []
    for combo in itertools.product(*factors):
        scale, base = sp.S.One, sp.S.One
        for c, b in combo:
            scale *= c
            if isinstance(b, sp.MatrixExpr) and isinstance(base, sp.MatrixExpr):
                raise NotASquare(term)  # a product of two residual matrices
            base = b * base if isinstance(b, sp.MatrixExpr) else base * b
        result.append((scale, base))
    return result


def _squares(expr: sp.Basic, term: sp.Basic | None = None) -> list[tuple[sp.Expr, sp.Basic]]:
    """``[(c, r), ...]`` with ``expr == sum(c * r**2)`` (entries summed for a matrix ``r``)
    and every ``c`` a positive number; raises :class:`NotASquare` naming the term."""
    if isinstance(expr, sp.Add | sp.MatAdd):
        return [square for arg in expr.args for square in _squares(arg)]
    term = expr if term is None else term
    if expr.is_number:
        if expr == 0:
            return []
        _positive(expr, term)  # a positive constant is the square of its root
        return [(expr, sp.S.One)]
    if isinstance(expr, sp.MatMul):
        return _matrix_squares(*_factors(expr), term)
    if isinstance(expr, sp.Mul):
        coeff, rest = expr.as_coeff_Mul()
        if coeff != 1:
            _positive(coeff, term)
            return [(coeff * c, r) for c, r in _squares(rest, term)]
        return _product([_squares(f, term) for f in expr.args], term)
    if isinstance(expr, sp.Pow):
        base, exp = expr.args
        if exp.is_Integer and exp % 2 == 0:
            return [(sp.S.One, base ** (exp // 2))]
        raise NotASquare(term)
    if isinstance(expr, sp.Trace):
        arg = expr.arg
        if isinstance(arg, sp.MatMul):
            coeff, mats = _factors(arg)
            if len(mats) == 2 and (
                _transpose_equal(mats[0], mats[1]) or _transpose_equal(mats[1], mats[0])
            ):  # Trace(R R^T) = Trace(R^T R) = the sum of R's squared entries
                first = mats[0] if _transpose_equal(mats[0], mats[1]) else mats[1]
                return _product([_squares(coeff, term) if coeff != 1 else [(1, 1)],
                                 [(sp.S.One, first)]], term)  # fmt: skip
            return _matrix_squares(coeff, mats, term)
        if tuple(arg.shape) == (1, 1):
            return _squares(arg, term)
        raise NotASquare(term)
    if isinstance(expr, Element) and tuple(expr.parent.shape) == (1, 1):
        return _squares(expr.parent, term)
    if isinstance(expr, sp.HadamardPower | sp.HadamardProduct | ElementwiseApplyFunction):
        if tuple(expr.shape) == (1, 1):
            return _element_squares(expr, term)
    raise NotASquare(term)


def residuals(loss: sp.Basic, model: str) -> tuple[Residual, ...]:
    """The residuals of a sum-of-squares ``loss`` (see the module docstring).

    Raises :class:`~symbp.DeclarationError` naming the first term of ``loss`` that is
    not a square (``model`` names the model in the message).
    """
    try:
        squares = _squares(loss)
    except NotASquare as err:
        text = brief(err.term)
        raise DeclarationError(
            f"the loss of model {model!r} is not a sum of squares: its term {text} is not a "
            "square (least squares needs a loss like (f - y)**2, sum(r_k**2) or nn.mse; a "
            "weight goes inside the square, ((f - y)/s)**2)"
        ) from None
    if not squares:
        raise DeclarationError(f"the loss of model {model!r} is 0: it has no residuals")
    return tuple(Residual(sp.sqrt(scale), base) for scale, base in squares)
