"""Rprop: Riedmiller and Braun's resilient backpropagation (sign-based, per-element steps)."""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from ..errors import OptionError
from ..schedules import Schedule, as_schedule, check_rate
from .base import (
    G,
    Optimizer,
    P,
    UpdateRule,
    check_flag,
    check_pair,
    freeze_pair,
    sign_flip,
    state_symbol,
)


@dataclass(frozen=True)
class Rprop(Optimizer):
    """``torch.optim.Rprop``: the same arguments, defaults and update.

    Every element keeps its previous gradient ``prev`` (starts at 0) and step size
    ``delta`` (starts at the learning rate at step 0; later values of a schedule are
    ignored, as in torch). With ``c = g * prev``: ``delta`` is multiplied by
    ``eta_plus`` if ``c > 0``, by ``eta_minus`` if ``c < 0``, and clamped to
    ``step_sizes``; on a sign change (``c < 0``) ``g <- 0``, so the element does not
    move and the next step sees ``prev = 0``; then ``p <- p - sign(g) * delta`` and
    ``prev <- g``.
    """

    lr: float | Schedule = 0.01
    etas: tuple[float, float] = (0.5, 1.2)
    step_sizes: tuple[float, float] = (1e-6, 50.0)
    maximize: bool = False

    def __post_init__(self) -> None:
        as_schedule(self.lr, "Rprop")
        minus, plus = check_pair("Rprop", "etas", self.etas)
        minus = check_rate("etas[0]", minus, owner="Rprop")
        plus = check_rate("etas[1]", plus, owner="Rprop")
        if not 0 < minus < 1 < plus:
            raise OptionError(
                f"Rprop: etas must satisfy 0 < etas[0] < 1 < etas[1], got {self.etas!r}"
            )
        freeze_pair(self, "etas", (minus, plus))
        low, high = check_pair("Rprop", "step_sizes", self.step_sizes)
        low = check_rate("step_sizes[0]", low, owner="Rprop")
        high = check_rate("step_sizes[1]", high, owner="Rprop")
        if low > high:
            raise OptionError(
                "Rprop: step_sizes must satisfy 0 <= step_sizes[0] <= step_sizes[1], "
                f"got {self.step_sizes!r}"
            )
        freeze_pair(self, "step_sizes", (low, high))
        check_flag("Rprop", "maximize", self.maximize)

    def rule(self) -> UpdateRule:
        prev, delta = state_symbol("prev"), state_symbol("delta")
        c, factor = state_symbol("c"), state_symbol("factor")
        minus, plus = (sp.Float(e) for e in self.etas)
        low, high = (sp.Float(s) for s in self.step_sizes)
        updates = [*sign_flip(self.maximize)]
        updates.append((c, G * prev))
        updates.append((factor, sp.Piecewise((plus, c > 0), (minus, c < 0), (1, True))))
        # torch: step_size.mul_(factor).clamp_(min, max)
        updates.append((delta, sp.Min(sp.Max(delta * factor, low), high)))
        updates.append((G, sp.Piecewise((0, c < 0), (G, True))))
        updates.append((P, P - sp.sign(G) * delta))
        updates.append((prev, G))
        state = ((prev, 0.0), (delta, self.schedule.initial))
        return UpdateRule(state, (), tuple(updates))
