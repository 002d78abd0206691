"""Optimizers as symbolic update rules, fused into the generated kernels.

An optimizer contributes no hand-written kernel code: it is an :class:`UpdateRule`,
a list of per-element assignments in the symbols below, which the emitter prints
inside the fit kernel's parameter loop and the explainer prints as equations.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import sympy as sp

from ..schedules import Schedule, T, as_schedule

#: One element of a parameter, its gradient, and the scheduled learning rate.
P = sp.Symbol("p", real=True)
G = sp.Symbol("g", real=True)
LR = sp.Symbol("lr", positive=True)


@dataclass(frozen=True)
class UpdateRule:
    """The symbolic update of one parameter element per step.

    ``state`` lists per-element state symbols with their initial (numeric) values.
    ``scalars`` are per-step quantities in ``T`` and ``LR`` computed once per step.
    ``updates`` are assignments executed in order for every element; a target that
    is a state symbol or ``P`` is stored back.
    """

    state: tuple[tuple[sp.Symbol, float], ...]
    scalars: tuple[tuple[sp.Symbol, sp.Expr], ...]
    updates: tuple[tuple[sp.Symbol, sp.Expr], ...]


class Optimizer:
    """Base class of the optimizers in :mod:`symbp.optim`."""

    lr: float | Schedule

    @property
    def schedule(self) -> Schedule:
        """The learning rate as a schedule (a constant for a float ``lr``)."""
        return as_schedule(self.lr, type(self).__name__)

    def rule(self) -> UpdateRule:
        """The symbolic update rule."""
        raise NotImplementedError

    def options(self) -> dict[str, Any]:
        """The constructor arguments, for headers, hashing and printing."""
        return {f.name: getattr(self, f.name) for f in fields(self)}  # type: ignore[arg-type]

    def describe(self) -> str:
        """``SGD(lr=0.1, momentum=0.9)``: the non-default arguments."""
        parts = []
        for f in fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if f.name == "lr" or value != f.default:
                parts.append(f"{f.name}={value!r}")
        return f"{type(self).__name__}({', '.join(parts)})"


def state_symbol(name: str) -> sp.Symbol:
    """A per-element state variable."""
    return sp.Symbol(name, real=True)


def first_step(value_at_zero: sp.Expr, later: sp.Expr) -> sp.Expr:
    """``value_at_zero`` on the first update (t = 0), ``later`` afterwards."""
    return sp.Piecewise((value_at_zero, sp.Eq(T, 0)), (later, True))
