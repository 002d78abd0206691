"""Second derivatives: Hessian-vector products by a second sweep, at both levels.

The per-sample gradient ``g(theta)`` is itself a program (the first sweep's). For a
direction ``v`` laid out as the parameters, ``H v = grad_theta (v . g(theta))``: one
more reverse sweep, over the scalar ``q = <v, g>``, through the same machinery and the
same rule registries as the first (reverse-over-reverse). At the matrix level ``g`` is
a handful of matrix expressions and ``q = sum_k <V_k, G_k>`` (Frobenius products), so
nothing is ever unrolled; at the scalar level ``q`` is a sum over the gradient's
elements. The direction becomes variables of the role ``"directions"``: the same for
every sample, read from ``_dir`` (laid out as ``_theta``), never differentiated.
"""

from __future__ import annotations

from typing import Any

import sympy as sp

from ..declare.variables import Variable
from ..nodes.matrix import element_sum, substitute
from .sweep import Derivation, SweepLevel, sweep

#: How the direction variable of a parameter is named (the kernels read it from
#: ``_dir``, laid out as the parameters).
DIRECTION_PREFIX = "_dir_"


def direction_of(name: str) -> str:
    """The name of the direction variable that goes with a parameter."""
    return f"{DIRECTION_PREFIX}{name}"


def directions(variables: tuple[Variable, ...]) -> tuple[Variable, ...]:
    """A direction variable for each parameter, of the same shape."""
    result = []
    for var in variables:
        if var.role != "params":
            continue
        name = direction_of(var.name)
        symbol: sp.Basic = sp.MatrixSymbol(name, *var.shape) if var.shape else sp.Symbol(name)
        result.append(Variable(name, "directions", var.shape, symbol))
    return tuple(result)


def gradient_values(program: Any) -> dict[str, dict[tuple[int, ...], sp.Basic]]:
    """The gradient outputs of ``program`` (a :class:`symbp.simplify.program.Program`)
    written in the declared symbols, shared DAG: name -> index -> expression (index
    ``()`` for a whole matrix or a scalar)."""
    value: dict[sp.Basic, sp.Basic] = {}
    for target, expr in program.statements:
        value[target] = substitute(expr, value)
    grads: dict[str, dict[tuple[int, ...], sp.Basic]] = {}
    for name, index, expr in program.gradients:
        grads.setdefault(name, {})[index] = substitute(sp.sympify(expr), value)
    return grads


def frobenius(v: sp.MatrixExpr, g: sp.MatrixExpr) -> sp.Basic:
    """``<v, g>`` (the sum of ``v o g``), written so no large product is formed.

    A parameter's gradient is typically ``X.T * D``: summed over the samples it is one
    matrix product, but inside ``<V, .>`` it would be an outer product per sample
    (``p x k`` for every sample). ``<V, F R> = <F.T V, R>`` moves ``V`` through the
    factor whose inner dimension is the smaller (``sum((X V) o D)``: one batched
    product and a row-wise dot); sums are taken term by term.
    """
    if isinstance(g, sp.MatAdd):
        return sp.Add(*(frobenius(v, term) for term in g.args))
    if isinstance(g, sp.MatMul):
        coeff, factors = g.as_coeff_matrices()
        if len(factors) >= 2 and factors[0].shape[1] < factors[0].shape[0]:
            rest = factors[1] if len(factors) == 2 else sp.MatMul(*factors[1:])
            return coeff * frobenius(factors[0].T * v, rest)
    return element_sum(sp.HadamardProduct(v, g))


def hvp_derivation(program: Any, variables: tuple[Variable, ...], level: SweepLevel) -> Derivation:
    """The sweep of ``q = <v, g>`` over the params at ``level``: its gradients are
    ``H v`` per sample (``program`` is the first sweep's simplified program)."""
    dirs = directions(variables)
    grads = gradient_values(program)
    by_name = {v.name.removeprefix(DIRECTION_PREFIX): v for v in dirs}
    terms: list[sp.Basic] = []
    for var in variables:
        if var.role != "params" or var.name not in grads:
            continue
        v = by_name[var.name].symbol
        for index, g in grads[var.name].items():
            if index:  # one element (scalar level)
                terms.append(v[index] * g)  # type: ignore[index]
            elif var.shape:  # a whole matrix (matrix level)
                terms.append(frobenius(v, g))  # type: ignore[arg-type]
            else:
                terms.append(v * g)
    q = sp.Add(*terms) if terms else sp.S.Zero
    return sweep(q, (*variables, *dirs), level)
