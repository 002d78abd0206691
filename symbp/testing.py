"""Independent oracles for checking gradients (public: users can test their models)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import sympy as sp

from .model import Model


def central_difference(
    loss: Callable[[dict[str, Any]], float], params: Mapping[str, Any], *, rel_step: float = 1e-6
) -> dict[str, Any]:
    """Central finite differences of ``loss(params)``, step scaled to each |value|."""
    base = {k: np.array(v, dtype=np.float64) for k, v in params.items()}
    result: dict[str, Any] = {}
    for name, value in base.items():
        grad = np.zeros_like(value)
        for index in np.ndindex(value.shape):
            h = rel_step * max(1.0, abs(float(value[index])))
            plus = {k: v.copy() for k, v in base.items()}
            minus = {k: v.copy() for k, v in base.items()}
            plus[name][index] += h
            minus[name][index] -= h
            grad[index] = (loss(plus) - loss(minus)) / (2 * h)
        result[name] = float(grad) if grad.ndim == 0 else grad
    return result


def _substitutions(model: Model, params: Mapping[str, Any], sample: Mapping[str, Any]) -> dict:
    values = {**params, **sample}
    subs: dict[sp.Basic, float] = {}
    for var in model.variables:
        array = np.asarray(values[var.name], dtype=np.float64).reshape(var.shape or ())
        for index in var.indices():
            subs[var.element(index)] = sp.Float(float(array[index] if index else array), 30)
    return subs


def _diff(expr: sp.Expr, wrt: sp.Basic) -> sp.Expr:
    """``sympy.diff``, with the a.e.-zero derivatives of floor/ceiling made explicit."""
    result = sp.diff(expr, wrt)

    def piecewise_constant(e: sp.Basic) -> bool:
        inner = e.expr if isinstance(e, sp.Subs | sp.Derivative) else None
        if isinstance(inner, sp.Derivative):
            inner = inner.expr
        return isinstance(inner, sp.floor | sp.ceiling)

    return result.replace(piecewise_constant, lambda e: sp.S.Zero).replace(
        lambda e: isinstance(e, sp.Subs) and e.expr == 0, lambda e: sp.S.Zero
    )


def sympy_gradient(
    model: Model, params: Mapping[str, Any], sample: Mapping[str, Any]
) -> dict[str, Any]:
    """The per-sample gradient from ``sympy.diff`` of the loss (no sweep involved)."""
    subs = _substitutions(model, params, sample)
    result: dict[str, Any] = {}
    for var in model.variables:
        if var.role != "params":
            continue
        values = [
            float(_diff(model.scalar, var.element(i)).xreplace(subs).evalf(30))
            for i in var.indices()
        ]
        result[var.name] = np.array(values).reshape(var.shape) if var.shape else values[0]
    return result


def program_gradient(
    model: Model, params: Mapping[str, Any], sample: Mapping[str, Any]
) -> dict[str, Any]:
    """The per-sample gradient by evaluating the sweep's program exactly in SymPy."""
    subs = _substitutions(model, params, sample)
    value: dict[sp.Basic, sp.Expr] = dict(subs)
    for target, expr in model.program.statements:
        result = expr.xreplace(value)
        value[target] = result.evalf(30) if isinstance(result, sp.Expr) else result
    result: dict[str, Any] = {}
    for var in model.variables:
        if var.role != "params":
            continue
        grads = {(n, i): e for n, i, e in model.program.gradients}
        values = [
            float(sp.sympify(grads.get((var.name, i), 0)).xreplace(value).evalf(30))
            for i in var.indices()
        ]
        result[var.name] = np.array(values).reshape(var.shape) if var.shape else values[0]
    return result
