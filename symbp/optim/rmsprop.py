"""RMSprop: gradients scaled by a running RMS, optionally centered and with momentum."""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from ..schedules import Schedule, as_schedule, check_rate
from .base import (
    LR,
    G,
    Optimizer,
    P,
    UpdateRule,
    check_flag,
    check_fraction,
    check_positive,
    l2_decay,
    sign_flip,
    state_symbol,
)


@dataclass(frozen=True)
class RMSprop(Optimizer):
    """``torch.optim.RMSprop``: the same arguments, defaults and update.

    ``g <- -g`` when maximizing, ``g <- g + weight_decay * p``;
    ``v <- alpha * v + (1 - alpha) * g**2``; centered: ``a <- alpha * a + (1 - alpha) * g``
    and ``denom = sqrt(v - a**2) + eps``, else ``denom = sqrt(v) + eps``; with momentum
    ``b <- momentum * b + g / denom`` and ``p <- p - lr * b``, else
    ``p <- p - lr * g / denom``.
    Every state starts at 0 (no bias correction).
    """

    lr: float | Schedule = 0.01
    alpha: float = 0.99
    eps: float = 1e-8
    weight_decay: float = 0.0
    momentum: float = 0.0
    centered: bool = False
    maximize: bool = False

    def __post_init__(self) -> None:
        as_schedule(self.lr, "RMSprop")
        check_fraction("RMSprop", "alpha", self.alpha, closed=True)
        check_positive("RMSprop", "eps", self.eps)
        check_rate("weight_decay", self.weight_decay, owner="RMSprop")
        check_fraction("RMSprop", "momentum", self.momentum)
        check_flag("RMSprop", "centered", self.centered)
        check_flag("RMSprop", "maximize", self.maximize)

    def rule(self) -> UpdateRule:
        alpha = sp.Float(self.alpha)
        v, a, b = state_symbol("v"), state_symbol("a"), state_symbol("b")
        d = state_symbol("denom")
        state = [(v, 0.0)]
        updates = [*sign_flip(self.maximize), *l2_decay(self.weight_decay)]
        updates.append((v, alpha * v + (1 - alpha) * G**2))
        if self.centered:
            state.append((a, 0.0))
            updates.append((a, alpha * a + (1 - alpha) * G))
            updates.append((d, sp.sqrt(v - a**2) + sp.Float(self.eps)))
        else:
            updates.append((d, sp.sqrt(v) + sp.Float(self.eps)))
        if self.momentum:
            state.append((b, 0.0))
            updates.append((b, sp.Float(self.momentum) * b + G / d))
            updates.append((P, P - LR * b))
        else:
            updates.append((P, P - LR * G / d))
        return UpdateRule(tuple(state), (), tuple(updates))
