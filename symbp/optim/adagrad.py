"""Adagrad: per-element learning rates from the accumulated squared gradients."""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from ..schedules import Schedule, T, as_schedule, check_rate
from .base import (
    LR,
    G,
    Optimizer,
    P,
    UpdateRule,
    check_flag,
    check_positive,
    l2_decay,
    sign_flip,
    state_symbol,
)


@dataclass(frozen=True)
class Adagrad(Optimizer):
    """``torch.optim.Adagrad``: the same arguments, defaults and update.

    ``g <- -g`` when maximizing, ``g <- g + weight_decay * p``;
    ``s <- s + g**2`` (``s`` starts at ``initial_accumulator_value``);
    ``p <- p - lr / (1 + t * lr_decay) * g / (sqrt(s) + eps)``.
    """

    lr: float | Schedule = 0.01
    lr_decay: float = 0.0
    weight_decay: float = 0.0
    initial_accumulator_value: float = 0.0
    eps: float = 1e-10
    maximize: bool = False

    def __post_init__(self) -> None:
        as_schedule(self.lr, "Adagrad")
        check_rate("lr_decay", self.lr_decay, owner="Adagrad")
        check_rate("weight_decay", self.weight_decay, owner="Adagrad")
        check_rate("initial_accumulator_value", self.initial_accumulator_value, owner="Adagrad")
        check_positive("Adagrad", "eps", self.eps)
        check_flag("Adagrad", "maximize", self.maximize)

    def rule(self) -> UpdateRule:
        s = state_symbol("s")
        clr = sp.Symbol("clr", positive=True)
        # torch's hyperbolic decay uses its step count minus one, i.e. our t.
        scalars = ((clr, LR / (1 + T * sp.Float(self.lr_decay))),) if self.lr_decay else ()
        rate = clr if self.lr_decay else LR
        updates = [*sign_flip(self.maximize), *l2_decay(self.weight_decay)]
        updates.append((s, s + G**2))
        updates.append((P, P - rate * G / (sp.sqrt(s) + sp.Float(self.eps))))
        return UpdateRule(((s, float(self.initial_accumulator_value)),), scalars, tuple(updates))
