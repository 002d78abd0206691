"""Stochastic gradient descent with momentum, dampening, Nesterov and weight decay."""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from ..errors import OptionError
from ..schedules import Schedule, as_schedule, check_rate
from .base import (
    LR,
    G,
    Optimizer,
    P,
    UpdateRule,
    check_flag,
    check_fraction,
    first_step,
    l2_decay,
    sign_flip,
    state_symbol,
)


@dataclass(frozen=True)
class SGD(Optimizer):
    """``torch.optim.SGD``: the same arguments, defaults and update (``lr`` defaults to 1e-3).

    ``g <- -g`` when maximizing, ``g <- g + weight_decay * p``; with momentum ``b <- g`` on the first step and
    ``b <- momentum * b + (1 - dampening) * g`` afterwards, then ``g <- b`` (or
    ``g <- g + momentum * b`` with Nesterov); finally ``p <- p - lr * g``.
    """

    lr: float | Schedule = 1e-3
    momentum: float = 0.0
    dampening: float = 0.0
    nesterov: bool = False
    weight_decay: float = 0.0
    maximize: bool = False

    def __post_init__(self) -> None:
        as_schedule(self.lr, "SGD")
        momentum = check_fraction("SGD", "momentum", self.momentum)
        check_rate("dampening", self.dampening, owner="SGD")
        check_rate("weight_decay", self.weight_decay, owner="SGD")
        check_flag("SGD", "nesterov", self.nesterov)
        check_flag("SGD", "maximize", self.maximize)
        if self.nesterov and (momentum <= 0 or self.dampening != 0):
            raise OptionError("SGD: nesterov=True requires momentum > 0 and dampening = 0")

    def rule(self) -> UpdateRule:
        updates: list[tuple[sp.Symbol, sp.Expr]] = []
        state: list[tuple[sp.Symbol, float]] = []
        updates += sign_flip(self.maximize)
        updates += l2_decay(self.weight_decay)
        if self.momentum:
            b = state_symbol("b")
            state.append((b, 0.0))
            later = sp.Float(self.momentum) * b + (1 - sp.Float(self.dampening)) * G
            if not self.dampening:
                later = sp.Float(self.momentum) * b + G
            updates.append((b, first_step(G, later)))
            updates.append((G, G + sp.Float(self.momentum) * b if self.nesterov else b))
        updates.append((P, P - LR * G))
        return UpdateRule(tuple(state), (), tuple(updates))
