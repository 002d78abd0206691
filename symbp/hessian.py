"""Second derivatives: Hessian-vector products by a second sweep, at both levels.

The per-sample gradient ``g(theta)`` is itself a program (the first sweep's). For a
direction ``v`` laid out as the parameters, ``H v = grad_theta (v . g(theta))``: one
more reverse sweep, over the scalar ``q = <v, g>``, through the same machinery and the
same rule registries as the first (reverse-over-reverse). At the matrix level ``g`` is
a handful of matrix expressions and ``q = sum_k <V_k, G_k>`` (Frobenius products), so
nothing is ever unrolled; at the scalar level ``q`` is a sum over the gradient's
elements. The direction becomes variables of the role ``"directions"``: the same for
every sample, read from ``_dir`` (laid out as ``_theta``), never differentiated.

``closed_form_hessian`` writes the whole Hessian of a small scalar-level model in
closed form (row ``i`` is the gradient of ``g_i``, by the same sweep).
"""

from __future__ import annotations

import sympy as sp

from .declare import Variable
from .emit.kernel import direction_of
from .matrix.nodes import element_sum
from .matrix.program import substitute
from .matrix.reverse import MATRIX
from .reverse import SCALAR, Derivation, sweep
from .simplify import SIMPLIFY_OPS_LIMIT, Program

#: ``closed_form_hessian`` refuses models with more parameter elements than this.
CLOSED_FORM_LIMIT = 60


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


def _gradient_values(program: Program, matrix: bool) -> dict[str, object]:
    """The gradient outputs of ``program`` written in the declared symbols (shared DAG)."""
    value: dict[sp.Basic, sp.Basic] = {}
    for target, expr in program.statements:
        value[target] = substitute(expr, value) if matrix else expr.xreplace(value)
    grads: dict[str, object] = {}
    for name, index, expr in program.gradients:
        done = substitute(expr, value) if matrix else sp.sympify(expr).xreplace(value)
        if matrix:
            grads[name] = done
        else:
            grads.setdefault(name, {})[index] = done  # type: ignore[index]
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


def hvp_derivation(program: Program, variables: tuple[Variable, ...], matrix: bool) -> Derivation:
    """The sweep of ``q = <v, g>`` over the params: its gradients are ``H v`` per sample."""
    dirs = directions(variables)
    grads = _gradient_values(program, matrix)
    by_name = {v.name.removeprefix("_dir_"): v for v in dirs}
    terms: list[sp.Basic] = []
    for var in variables:
        if var.role != "params" or var.name not in grads:
            continue
        v = by_name[var.name].symbol
        if matrix:
            g = grads[var.name]
            if var.shape:
                terms.append(frobenius(v, g))  # type: ignore[arg-type]
            else:
                terms.append(v * g)  # type: ignore[operator]
        else:
            for index, g in grads[var.name].items():  # type: ignore[attr-defined]
                entry = v[index] if index else v  # type: ignore[index]
                terms.append(entry * g)
    q = sp.Add(*terms) if terms else sp.S.Zero
    return sweep(q, (*variables, *dirs), MATRIX if matrix else SCALAR)


def closed_form_hessian(program: Program, variables: tuple[Variable, ...]) -> sp.ImmutableMatrix:
    """The Hessian of the per-sample loss (scalar level) over the flat parameters, simplified.

    Rows and columns follow the parameters in declaration order, row-major; entry
    ``(i, j)`` is ``d^2 L / d theta_i d theta_j``, from the sweep of ``g_i``.
    """
    params = [v for v in variables if v.role == "params"]
    flat = [(v, index) for v in params for index in v.indices()]
    if len(flat) > CLOSED_FORM_LIMIT:
        from .errors import OptionError

        raise OptionError(
            f"the closed-form Hessian has {len(flat)}x{len(flat)} entries; it is printed for "
            f"at most {CLOSED_FORM_LIMIT} parameter elements (trainer.hessp and "
            "trainer.hessian compute it numerically at any size)"
        )
    grads = _gradient_values(program, matrix=False)
    position = {(v.name, index): k for k, (v, index) in enumerate(flat)}
    rows = []
    for var, index in flat:
        g = grads.get(var.name, {}).get(index, sp.S.Zero)  # type: ignore[union-attr]
        row = [sp.S.Zero] * len(flat)
        if g != 0:
            second = sweep(g, variables, SCALAR)
            value: dict[sp.Basic, sp.Basic] = {}
            for step in second.forward + second.adjoint:
                value[step.target] = step.expr.xreplace(value)
            for (name, idx), expr in second.gradients.items():
                entry = sp.sympify(expr).xreplace(value)
                entry = (
                    sp.simplify(entry)
                    if sp.count_ops(entry) <= SIMPLIFY_OPS_LIMIT
                    else sp.factor_terms(entry)
                )
                row[position[(name, idx)]] = entry
        rows.append(row)
    return sp.ImmutableMatrix(rows)
