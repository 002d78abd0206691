"""Optimizers as symbolic update rules, fused into the generated kernels.

An optimizer contributes no hand-written kernel code: it is an :class:`UpdateRule`,
a list of per-element assignments in the symbols below, which the emitter prints
inside the fit kernel's parameter loop and the explainer prints as equations.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, fields
from typing import Any

import sympy as sp

from ..errors import OptionError
from ..schedules import Schedule, T, as_schedule, check_rate

#: One element of a parameter, its gradient, and the scheduled learning rate.
P = sp.Symbol("p", real=True)
G = sp.Symbol("g", real=True)
LR = sp.Symbol("lr", positive=True)


@dataclass(frozen=True)
class UpdateRule:
    """The symbolic update of one parameter element per step.

    ``state`` lists per-element state symbols with their initial (numeric) values.
    ``scalars`` are per-step quantities in ``T`` and ``LR`` computed once per step
    (in float64 and rounded once to the kernel precision, as torch computes them as
    Python floats).
    ``updates`` are assignments executed in order for every element; a target that
    is a state symbol or ``P`` is stored back.
    """

    state: tuple[tuple[sp.Symbol, float], ...]
    scalars: tuple[tuple[sp.Symbol, sp.Expr], ...]
    updates: tuple[tuple[sp.Symbol, sp.Expr], ...]


@dataclass(frozen=True)
class Template:
    """An update rule and schedule with their numbers taken out.

    Every floating-point constant of the learning-rate schedule and of the rule becomes
    a symbol ``_h<k>`` (in order of first appearance), so optimizers that differ only in
    their numbers (``SGD(lr=0.1)`` and ``SGD(lr=0.5)``) share one compiled kernel, which
    reads the numbers at run time: ``constants``, and the initial values of the state
    ``inits``. Integers and the rule's form (momentum or not, Nesterov, AMSGrad, ...)
    stay in the template.
    """

    lr: sp.Expr
    rule: UpdateRule
    constants: tuple[float, ...]
    inits: tuple[float, ...]

    @property
    def form(self) -> str:
        """A short fingerprint of the template (the kernel checks numbers against it)."""
        text = sp.srepr((self.lr, self.rule.state, self.rule.scalars, self.rule.updates))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def numbers(self) -> tuple[tuple[float, ...], tuple[float, ...], str]:
        """``(constants, initial state values, form)``: what a kernel of this form reads."""
        return self.constants, self.inits, self.form

    @property
    def symbols(self) -> tuple[sp.Symbol, ...]:
        """``_h0, _h1, ...``: the constants' symbols, in slot order."""
        return tuple(hyper_symbol(k) for k in range(len(self.constants)))


def hyper_symbol(k: int) -> sp.Symbol:
    """The symbol of the ``k``-th constant of a :class:`Template`."""
    return sp.Symbol(f"_h{k}", real=True)


def template(lr: sp.Expr, rule: UpdateRule) -> Template:
    """``lr`` and ``rule`` with their Float constants replaced by symbols (see Template)."""
    exprs = [lr, *(e for _, e in rule.scalars), *(e for _, e in rule.updates)]
    slots: dict[sp.Float, sp.Symbol] = {}
    for expr in exprs:
        # keys=True: arguments in SymPy's canonical order (Min/Max keep theirs in a set)
        for node in sp.preorder_traversal(expr, keys=True):
            if isinstance(node, sp.Float) and node not in slots:
                slots[node] = hyper_symbol(len(slots))
    abstract = UpdateRule(
        tuple((sym, 0.0) for sym, _ in rule.state),
        tuple((sym, e.xreplace(slots)) for sym, e in rule.scalars),
        tuple((sym, e.xreplace(slots)) for sym, e in rule.updates),
    )
    constants = tuple(float(f) for f in slots)
    return Template(lr.xreplace(slots), abstract, constants, tuple(float(v) for _, v in rule.state))


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

    def template(self) -> Template:
        """The rule and schedule with their numbers taken out (see :class:`Template`)."""
        return template(self.schedule.expr(), self.rule())

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


# -- argument validation shared by the optimizers ---------------------------------------
def check_flag(owner: str, name: str, value: Any) -> bool:
    """A ``True``/``False`` option."""
    if not isinstance(value, bool):
        raise OptionError(f"{owner}: {name} must be True or False, got {value!r}")
    return value


def check_positive(owner: str, name: str, value: Any) -> float:
    """A finite float option > 0 (an ``eps`` that keeps a denominator away from 0)."""
    return check_rate(name, value, owner=owner, allow_zero=False)


def check_fraction(owner: str, name: str, value: Any, *, closed: bool = False) -> float:
    """A float option in ``[0, 1)`` (or ``[0, 1]`` when ``closed``): a decay or momentum."""
    number = check_rate(name, value, owner=owner)
    if number > 1 or (number == 1 and not closed):
        interval = "[0, 1]" if closed else "[0, 1)"
        raise OptionError(f"{owner}: {name} must be in {interval}, got {value!r}")
    return number


def check_pair(owner: str, name: str, value: Any) -> tuple[Any, Any]:
    """A two-element tuple or list option such as ``betas``; returns it as a tuple."""
    if isinstance(value, str) or not isinstance(value, tuple | list) or len(value) != 2:
        raise OptionError(f"{owner}: {name} must be a pair of numbers, got {value!r}")
    return value[0], value[1]


def freeze_pair(optimizer: Any, name: str, pair: tuple[float, float]) -> None:
    """Store a validated pair as a tuple of floats on a frozen dataclass."""
    object.__setattr__(optimizer, name, (float(pair[0]), float(pair[1])))


def sign_flip(maximize: bool) -> list[tuple[sp.Symbol, sp.Expr]]:
    """``g <- -g`` when maximizing (torch negates the gradient before anything else)."""
    return [(G, -G)] if maximize else []


def l2_decay(weight_decay: float) -> list[tuple[sp.Symbol, sp.Expr]]:
    """``g <- g + weight_decay * p`` (L2 penalty folded into the gradient)."""
    return [(G, G + sp.Float(weight_decay) * P)] if weight_decay else []
