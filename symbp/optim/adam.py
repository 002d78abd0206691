"""Adam and AdamW: bias-corrected moment estimates, optionally AMSGrad."""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from ..errors import OptionError
from ..schedules import Schedule, T, as_schedule, check_rate
from .base import (
    LR,
    G,
    Optimizer,
    P,
    UpdateRule,
    check_flag,
    check_pair,
    check_positive,
    freeze_pair,
    l2_decay,
    sign_flip,
    state_symbol,
)


def _check_betas(owner: str, betas: object) -> tuple[float, float]:
    pair = check_pair(owner, "betas", betas)
    for k, beta in enumerate(pair):
        value = check_rate(f"betas[{k}]", beta, owner=owner)
        if value >= 1:
            raise OptionError(f"{owner}: betas[{k}] must be in [0, 1), got {beta!r}")
    return float(pair[0]), float(pair[1])


def _check_common(opt: Adam | AdamW) -> None:
    """The checks Adam and AdamW share (lr, betas, eps, weight_decay, amsgrad, maximize)."""
    owner = type(opt).__name__
    as_schedule(opt.lr, owner)
    freeze_pair(opt, "betas", _check_betas(owner, opt.betas))
    check_positive(owner, "eps", opt.eps)
    check_rate("weight_decay", opt.weight_decay, owner=owner)
    check_flag(owner, "amsgrad", opt.amsgrad)
    check_flag(owner, "maximize", opt.maximize)


def adam_rule(
    *,
    betas: tuple[float, float],
    eps: float,
    weight_decay: float,
    amsgrad: bool,
    maximize: bool,
    decoupled: bool,
) -> UpdateRule:
    """The Adam update of ``torch.optim.Adam`` (``decoupled``: AdamW's weight decay).

    ``m <- b1 * m + (1 - b1) * g``; ``v <- b2 * v + (1 - b2) * g**2`` (both start at 0);
    with AMSGrad ``v_max <- max(v_max, v)`` replaces ``v`` below; then
    ``denom = sqrt(v) / sqrt(1 - b2**(t+1)) + eps`` and
    ``p <- p - lr / (1 - b1**(t+1)) * m / denom``.
    L2 decay adds ``weight_decay * p`` to ``g`` first; decoupled decay instead scales
    ``p <- p * (1 - lr * weight_decay)`` before the step.
    """
    b1, b2 = sp.Float(betas[0]), sp.Float(betas[1])
    m, v, v_max = state_symbol("m"), state_symbol("v"), state_symbol("v_max")
    step = T + 1  # torch's step count
    step_size = sp.Symbol("step_size", positive=True)
    bc2 = sp.Symbol("bc2", positive=True)
    decay = sp.Symbol("decay", real=True)
    scalars = [
        (step_size, LR / (1 - sp.Pow(b1, step, evaluate=False))),
        (bc2, sp.sqrt(1 - sp.Pow(b2, step, evaluate=False))),
    ]
    updates = sign_flip(maximize)
    if decoupled and weight_decay:
        scalars.append((decay, 1 - LR * sp.Float(weight_decay)))
        updates.append((P, P * decay))
    elif weight_decay:
        updates += l2_decay(weight_decay)
    state = [(m, 0.0), (v, 0.0)]
    updates.append((m, b1 * m + (1 - b1) * G))
    updates.append((v, b2 * v + (1 - b2) * G**2))
    second = v
    if amsgrad:
        state.append((v_max, 0.0))
        updates.append((v_max, sp.Max(v_max, v)))
        second = v_max
    denom = state_symbol("denom")
    updates.append((denom, sp.sqrt(second) / bc2 + sp.Float(eps)))
    updates.append((P, P - step_size * m / denom))
    return UpdateRule(tuple(state), tuple(scalars), tuple(updates))


@dataclass(frozen=True)
class Adam(Optimizer):
    """``torch.optim.Adam``: the same arguments, defaults and update (see :func:`adam_rule`).

    ``weight_decay`` is an L2 penalty added to the gradient, unless
    ``decoupled_weight_decay=True``, which makes this optimizer AdamW.
    """

    lr: float | Schedule = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 0.0
    amsgrad: bool = False
    maximize: bool = False
    decoupled_weight_decay: bool = False

    def __post_init__(self) -> None:
        _check_common(self)
        check_flag("Adam", "decoupled_weight_decay", self.decoupled_weight_decay)

    def rule(self) -> UpdateRule:
        return adam_rule(
            betas=self.betas,
            eps=self.eps,
            weight_decay=self.weight_decay,
            amsgrad=self.amsgrad,
            maximize=self.maximize,
            decoupled=self.decoupled_weight_decay,
        )


@dataclass(frozen=True)
class AdamW(Optimizer):
    """``torch.optim.AdamW``: Adam with decoupled weight decay (default 0.01).

    ``p <- p * (1 - lr * weight_decay)`` first, then the Adam step of :func:`adam_rule`
    with the gradient taken at the undecayed ``p``.
    """

    lr: float | Schedule = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 0.01
    amsgrad: bool = False
    maximize: bool = False

    def __post_init__(self) -> None:
        _check_common(self)

    def rule(self) -> UpdateRule:
        return adam_rule(
            betas=self.betas,
            eps=self.eps,
            weight_decay=self.weight_decay,
            amsgrad=self.amsgrad,
            maximize=self.maximize,
            decoupled=True,
        )
