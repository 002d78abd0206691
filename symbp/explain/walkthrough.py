"""Numeric walk-through: the value of every step of a derivation at one sample.

The values are computed by evaluating the sweep's own steps (forward, then adjoint)
in 30-digit arithmetic, so each number printed beside a formula is the value of that
formula, and the gradients equal the generated kernels' up to float64 rounding.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy as sp

from ..errors import DataError
from ..optim.base import LR, G, Optimizer, P
from ..schedules import T
from .scalar import Explanation

DIGITS = 30


@dataclass(frozen=True)
class Walkthrough:
    """Numbers for an :class:`Explanation`: symbol (quantity, adjoint, param bar) -> value."""

    values: dict[sp.Basic, float]
    #: param name -> updated value (float or ndarray) after one optimizer step, if any
    updated: dict[str, Any]
    #: param name -> gradient (float or ndarray)
    gradients: dict[str, Any]
    #: the learning rate of the first step, if an optimizer is given
    lr: float | None
    #: param name -> the given value as an array of the declared shape
    params: dict[str, np.ndarray]


def _as_array(name: str, value: Any, shape: tuple[int, ...]) -> np.ndarray:
    try:
        array = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise DataError(f"values[{name!r}] is not numeric: {value!r}") from None
    size = int(np.prod(shape)) if shape else 1
    if array.size != size:
        raise DataError(
            f"values[{name!r}] has shape {array.shape}; expected {shape or 'a scalar'} (one sample)"
        )
    if not np.all(np.isfinite(array)):
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(array.reshape(shape or ())))[0])
        raise DataError(f"values[{name!r}] is not finite at index {bad}")
    return array.reshape(shape)


def evaluate(
    explanation: Explanation, values: Mapping[str, Any], optimizer: Optimizer | None = None
) -> Walkthrough:
    """Evaluate the derivation at ``values`` (every param, input and target, one sample)."""
    derivation = explanation.derivation
    if not isinstance(values, Mapping):
        raise DataError(f"values must be a dict name -> number or array, got {values!r}")
    unknown = sorted(set(values) - {v.name for v in derivation.variables})
    if unknown:
        raise DataError(f"values names {unknown[0]!r}, which the model does not declare")
    env: dict[sp.Basic, sp.Expr] = {}
    arrays: dict[str, np.ndarray] = {}
    for var in derivation.variables:
        if var.name not in values:
            raise DataError(f"values has no entry for {var.role[:-1]} {var.name!r}")
        arrays[var.name] = _as_array(var.name, values[var.name], var.shape)
        for index in var.indices():
            env[var.element(index)] = sp.Float(float(arrays[var.name][index]), DIGITS)
    for step in derivation.forward:
        env[step.target] = step.expr.xreplace(env).evalf(DIGITS)
    for step in derivation.adjoint:
        env[step.target] = step.expr.xreplace(env).evalf(DIGITS)

    out: dict[sp.Basic, float] = {}
    bars = {a.target.name[: -len("_bar")]: a.target for a in derivation.adjoint}
    for q in explanation.quantities:
        out[q.key] = q.sign * float(env[q.anchor])
        if q.anchor.name in bars:
            out[q.bar] = q.sign * float(env[bars[q.anchor.name]])
    gradients: dict[str, Any] = {}
    for line in explanation.gradients:
        element = line.child
        key = (element.var.name, element.index)  # type: ignore[union-attr]
        value = float(sp.sympify(derivation.gradients.get(key, 0)).xreplace(env).evalf(DIGITS))
        out[element.bar] = value
        grad = gradients.setdefault(element.var.name, np.zeros(element.var.shape))  # type: ignore[union-attr]
        grad[element.index] = value  # type: ignore[union-attr]
    gradients = {k: (float(v) if v.shape == () else v) for k, v in gradients.items()}
    updated: dict[str, Any] = {}
    lr = None
    if optimizer is not None:
        lr, updated = one_step(optimizer, derivation, arrays, gradients)
    params = {v.name: arrays[v.name] for v in derivation.params}
    return Walkthrough(out, updated, gradients, lr, params)


def one_step(
    optimizer: Optimizer, derivation: Any, arrays: dict[str, np.ndarray], grads: dict[str, Any]
) -> tuple[float, dict[str, Any]]:
    """The optimizer's first update (t = 0) from the symbolic rule, element by element."""
    rule = optimizer.rule()
    lr = float(optimizer.schedule.expr().subs(T, 0))
    updated: dict[str, Any] = {}
    for var in derivation.params:
        new = np.array(arrays[var.name], dtype=float)
        grad = np.asarray(grads[var.name], dtype=float)
        for index in var.indices():
            env: dict[sp.Basic, sp.Expr] = {T: sp.Integer(0), LR: sp.Float(lr, DIGITS)}
            env.update({sym: sp.Float(init, DIGITS) for sym, init in rule.state})
            env[P] = sp.Float(float(new[index]), DIGITS)
            env[G] = sp.Float(float(grad[index]), DIGITS)
            for sym, expr in rule.scalars + rule.updates:
                env[sym] = expr.xreplace(env).evalf(DIGITS)
            new[index] = float(env[P])
        updated[var.name] = float(new) if new.shape == () else new
    return lr, updated
