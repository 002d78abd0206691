"""Matrix-level vector-Jacobian-product rules: the registry the matrix sweep consults.

A rule receives a node's *local* expression (children replaced by the symbols of
the forward program), the node's adjoint ``out_bar`` (a ``MatrixSymbol`` of the
node's shape, or a scalar ``Symbol``) and the node's own forward symbol ``out``
(so a derivative can be written in terms of the output, e.g. ``1 - tanh^2``). It
returns ``(child, cotangent)`` pairs, ``child`` exactly as it appears in the local
expression; constant children (numbers, ``OneMatrix``, ``Identity``) are left out.

Rules are pure SymPy matrix algebra, with the usual adjoints

* ``C = c A_1 ... A_n``:  ``A_i_bar = c (A_1..A_{i-1})^T C_bar (A_{i+1}..A_n)^T``
  and ``c_bar = sum(C_bar o (A_1..A_n))`` for a scalar factor ``c``;
  products with ``OneMatrix`` (row/column sums, broadcasts) are the same rule;
* ``A + B``: ``C_bar`` to each term;   ``A^T``: ``C_bar^T``;   ``Trace(A)``: ``c_bar I``;
* ``A o B``: ``C_bar o B`` and ``C_bar o A``;   ``A^{o p}``: ``C_bar o p A^{o (p-1)}``;
* ``f.(A)``: ``C_bar o f'.(A)``, with ``f'`` derived once from the scalar ``f`` by the
  scalar sweep (so kinks follow the README's conventions) and rewritten in terms of
  the output ``C`` when that removes ``A`` (``tanh' = 1 - C^2``, ``sigmoid' = C (1 - C)``);
* ``logsumexp_rows(Z)``: ``(C_bar 1^T) o exp.(Z - C 1^T)`` (the softmax);
* ``M[i, j]``: ``c_bar`` times the unit matrix with its 1 at ``(i, j)``;
* ``M[r0:r1, c0:c1]``: ``C_bar`` padded with zeros to ``M``'s shape (added into that
  block of a zero matrix); a padding's adjoint is the slice again;
* ``[A, B; C, D]`` (``BlockMatrix``): each block gets its slice of ``C_bar``;
* ``scan(step, h_0, X)``: each operand (``h_0``, the sequences, the parameters the step
  reads) gets a :class:`~symbp.nodes.scan.ScanGrad`, backpropagation through time
  (the kernels run it as one loop over ``t`` for all operands).

Scalar nodes (sums, products, functions of traces and scalar symbols) use the scalar
registry of :mod:`symbp.derive.scalar_rules`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

import sympy as sp
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction
from sympy.matrices.expressions.matexpr import MatrixElement

from ..declare.variables import Variable
from ..errors import MissingVJPRule
from ..nodes.matrix import (
    ELEMENT,
    Pad,
    RowLogSumExp,
    Unit,
    as_matrix,
    block_ranges,
    element_sum,
    elementwise,
    is_constant_matrix,
    softmax_of,
)
from ..nodes.scan import Scan, ScanGrad
from .scalar import derive
from .scalar_rules import describe, find_rule

Cotangents = Sequence[tuple[sp.Basic, sp.Basic]]
MatrixVJPRule = Callable[[Any, Any, Any], Cotangents]

MATRIX_VJP_RULES: dict[type, MatrixVJPRule] = {}


def matrix_vjp_rule(*classes: type) -> Callable[[MatrixVJPRule], MatrixVJPRule]:
    """Register ``func`` as the matrix VJP rule of every class in ``classes``."""

    def register(func: MatrixVJPRule) -> MatrixVJPRule:
        for cls in classes:
            MATRIX_VJP_RULES[cls] = func
        return func

    return register


def find_matrix_rule(node: sp.Basic) -> MatrixVJPRule | None:
    """The rule for ``node``'s class, walking the MRO; scalar nodes use the scalar registry."""
    for cls in type(node).__mro__:
        rule = MATRIX_VJP_RULES.get(cls)
        if rule is not None:
            return rule
    if isinstance(node, sp.MatrixExpr):
        return None
    scalar = find_rule(node)
    if scalar is None:
        return None

    def wrapped(local: sp.Expr, out_bar: sp.Expr, out: sp.Expr) -> Cotangents:
        # The scalar rules write derivatives with the node itself (exp -> exp(u));
        # replacing it by the node's symbol shares the forward value.
        return [(child, cot.xreplace({local: out})) for child, cot in scalar(local, out_bar)]

    return wrapped


def matmul(*factors: sp.Basic) -> sp.Basic:
    """A product, flattened, without unit coefficients or identities."""
    return sp.MatMul(*factors, evaluate=True)


def _differentiable(arg: sp.Basic) -> bool:
    return not (arg.is_Number or is_constant_matrix(arg) or isinstance(arg, sp.MatrixBase))


@matrix_vjp_rule(sp.MatMul)
def _matmul(node: sp.MatMul, out_bar: sp.MatrixExpr, out: sp.MatrixExpr) -> Cotangents:
    scalars = [a for a in node.args if not a.is_Matrix]
    mats = [a for a in node.args if a.is_Matrix]
    coeff = sp.Mul(*scalars)
    pairs: list[tuple[sp.Basic, sp.Basic]] = []
    for i, arg in enumerate(mats):
        if not _differentiable(arg):
            continue
        parts: list[sp.Basic] = [coeff]
        if i > 0:
            parts.append(matmul(*mats[:i]).T)
        parts.append(out_bar)
        if i < len(mats) - 1:
            parts.append(matmul(*mats[i + 1 :]).T)
        pairs.append((arg, matmul(*parts)))
    product = matmul(*mats)
    for k, arg in enumerate(scalars):
        if arg.is_Number:
            continue
        others = sp.Mul(*(s for j, s in enumerate(scalars) if j != k))
        pairs.append((arg, others * element_sum(sp.HadamardProduct(out_bar, product))))
    return pairs


@matrix_vjp_rule(sp.MatAdd)
def _matadd(node: sp.MatAdd, out_bar: sp.MatrixExpr, out: sp.MatrixExpr) -> Cotangents:
    return [(arg, out_bar) for arg in node.args if _differentiable(arg)]


@matrix_vjp_rule(sp.Transpose)
def _transpose(node: sp.Transpose, out_bar: sp.MatrixExpr, out: sp.MatrixExpr) -> Cotangents:
    return [(node.arg, out_bar.T)] if _differentiable(node.arg) else []


@matrix_vjp_rule(sp.Trace)
def _trace(node: sp.Trace, out_bar: sp.Expr, out: sp.Expr) -> Cotangents:
    arg = node.arg
    if not _differentiable(arg):
        return []
    n = arg.shape[0]
    return [(arg, as_matrix(out_bar) if n == 1 else matmul(out_bar, sp.Identity(n)))]


@matrix_vjp_rule(sp.HadamardProduct)
def _hadamard(node: sp.HadamardProduct, out_bar: sp.MatrixExpr, out: sp.MatrixExpr) -> Cotangents:
    args = node.args
    return [
        (arg, sp.HadamardProduct(out_bar, *(a for j, a in enumerate(args) if j != i)))
        for i, arg in enumerate(args)
        if _differentiable(arg)
    ]


@matrix_vjp_rule(sp.HadamardPower)
def _hadamard_power(
    node: sp.HadamardPower, out_bar: sp.MatrixExpr, out: sp.MatrixExpr
) -> Cotangents:
    base, exp = node.args
    if not exp.is_Number:
        raise MissingVJPRule(
            f"HadamardPower with the symbolic exponent {exp} has no derivative rule; "
            "write it as an elementwise function, A.applyfunc(lambda u: u**p)"
        )
    if not _differentiable(base):
        return []
    lower = base if exp - 1 == 1 else sp.HadamardPower(base, exp - 1)
    return [(base, sp.HadamardProduct(out_bar, matmul(exp, lower)))]


#: Stands for an elementwise function's output while its derivative is rewritten.
OUTPUT = sp.Symbol("_y", real=True)


def canonical_function(function: sp.Lambda) -> sp.Lambda:
    """``function`` written in the canonical variable :data:`ELEMENT`."""
    (var,) = function.variables
    if var == ELEMENT:
        return function
    return sp.Lambda(ELEMENT, function.expr.xreplace({var: ELEMENT}))


@lru_cache(maxsize=512)
def elementwise_partials(
    function: sp.Lambda, wrt: tuple[sp.Symbol, ...]
) -> tuple[tuple[sp.Expr, bool], ...]:
    """The partial derivatives of a scalar function body, derived once per function.

    ``function`` uses the variable :data:`ELEMENT`; ``wrt`` lists it and/or free
    scalar symbols of the body. For each, returns ``(derivative, in_output)``: when
    ``in_output`` is true the derivative is written with :data:`ELEMENT` standing for
    the function's *output* (``tanh: 1 - y^2``), else for its input. The derivative
    comes from the scalar sweep over the body, so kinks follow :mod:`symbp.derive.scalar_rules`.
    """
    body = function.expr
    symbols = [ELEMENT, *sorted(body.free_symbols - {ELEMENT}, key=sp.default_sort_key)]
    variables = tuple(
        Variable(f"_a{k}", "params" if sym in wrt else "inputs", (), sym)
        for k, sym in enumerate(symbols)
    )
    derivation = derive(body, variables)
    value: dict[sp.Basic, sp.Basic] = {}
    for step in derivation.forward + derivation.adjoint:
        value[step.target] = step.expr.xreplace(value)
    names = {v.symbol: v.name for v in variables}
    results = []
    for sym in wrt:
        partial = sp.sympify(derivation.gradients.get((names[sym], ()), 0)).xreplace(value)
        output = partial.xreplace({body: OUTPUT})
        if OUTPUT in output.free_symbols and ELEMENT not in output.free_symbols:
            results.append((output.xreplace({OUTPUT: ELEMENT}), True))
        else:
            results.append((partial, False))
    return tuple(results)


@matrix_vjp_rule(ElementwiseApplyFunction)
def _elementwise(
    node: ElementwiseApplyFunction, out_bar: sp.MatrixExpr, out: sp.MatrixExpr
) -> Cotangents:
    function, arg = canonical_function(node.function), node.expr
    var = ELEMENT
    free = sorted(function.expr.free_symbols - {var}, key=sp.default_sort_key)
    wanted = ([var] if _differentiable(arg) else []) + free
    partials = elementwise_partials(function, tuple(wanted))
    pairs: list[tuple[sp.Basic, sp.Basic]] = []
    for sym, (partial, in_output) in zip(wanted, partials, strict=True):
        if partial == 0:
            continue
        source = out if in_output else arg
        factor: sp.Basic | None = None
        if partial == ELEMENT:
            factor = source
        elif partial != 1:
            factor = elementwise(sp.Lambda(ELEMENT, partial), source)
        cot = out_bar if factor is None else sp.HadamardProduct(out_bar, factor)
        if sym == var:
            pairs.append((arg, cot))
        else:
            pairs.append((sym, element_sum(cot)))
    return pairs


@matrix_vjp_rule(RowLogSumExp)
def _row_logsumexp(node: RowLogSumExp, out_bar: sp.MatrixExpr, out: sp.MatrixExpr) -> Cotangents:
    arg = node.arg
    if not _differentiable(arg):
        return []
    spread = sp.OneMatrix(1, arg.shape[1])
    return [(arg, sp.HadamardProduct(matmul(out_bar, spread), softmax_of(arg, out)))]


@matrix_vjp_rule(MatrixElement)
def _element(node: MatrixElement, out_bar: sp.Expr, out: sp.Expr) -> Cotangents:
    matrix, i, j = node.args
    if not _differentiable(matrix):
        return []
    rows, cols = matrix.shape
    return [(matrix, matmul(out_bar, Unit(rows, cols, i, j)))]


@matrix_vjp_rule(sp.MatrixSlice)
def _slice(node: sp.MatrixSlice, out_bar: sp.MatrixExpr, out: sp.MatrixExpr) -> Cotangents:
    parent = node.parent
    if not _differentiable(parent):
        return []
    rows, cols = parent.shape
    return [(parent, Pad(out_bar, rows, cols, node.rowslice, node.colslice))]


@matrix_vjp_rule(Pad)
def _pad(node: Pad, out_bar: sp.MatrixExpr, out: sp.MatrixExpr) -> Cotangents:
    if not _differentiable(node.inner):
        return []
    return [(node.inner, sp.MatrixSlice(out_bar, node.rows_of, node.cols_of))]


@matrix_vjp_rule(sp.BlockMatrix)
def _blocks(node: sp.BlockMatrix, out_bar: sp.MatrixExpr, out: sp.MatrixExpr) -> Cotangents:
    return [
        (block, sp.MatrixSlice(out_bar, (r0, r1, 1), (c0, c1, 1)))
        for block, (r0, r1), (c0, c1) in block_ranges(node)
        if _differentiable(block)
    ]


@matrix_vjp_rule(Scan)
def _scan(node: Scan, out_bar: sp.MatrixExpr, out: sp.MatrixExpr) -> Cotangents:
    pairs: list[tuple[sp.Basic, sp.Basic]] = []
    for k, operand in enumerate(node.operands()):
        if not _differentiable(operand):
            continue
        grad = ScanGrad(node, out, out_bar, k)
        pairs.append((operand, grad if isinstance(operand, sp.MatrixExpr) else sp.Trace(grad)))
    return pairs


def missing_rule(node: sp.Basic) -> MissingVJPRule:
    """The error for a node without a rule, naming its class and the supported ones."""
    if isinstance(node, ScanGrad):
        return MissingVJPRule(
            "second derivatives through nn.scan (backpropagation through time differentiated "
            "again) are not supported, so a model with a scan has no Hessian-vector products; "
            "minimize it with a first-order or quasi-Newton method (method='L-BFGS-B')"
        )
    known = sorted(c.__name__ for c in MATRIX_VJP_RULES)
    return MissingVJPRule(
        f"no matrix-level derivative rule for {describe(node)} (in {node}); supported "
        f"are {', '.join(known)}, and scalar functions of traces and scalar symbols"
    )
