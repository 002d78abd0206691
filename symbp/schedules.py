"""Learning-rate schedules as symbolic expressions in the step counter ``t``.

A schedule is compiled into the fit kernel (evaluated once per step) and printed with
the derivation. The step counter starts at 0 for the first update.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import sympy as sp

from .errors import OptionError

#: The step counter, 0 for the first update.
T = sp.Symbol("t", integer=True, nonnegative=True)


def check_rate(name: str, value: Any, *, owner: str, allow_zero: bool = True) -> float:
    """Validate a finite, non-negative float option."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise OptionError(f"{owner}: {name} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        need = "a finite number > 0" if not allow_zero else "a finite number >= 0"
        raise OptionError(f"{owner}: {name} must be {need}, got {value!r}")
    return value


def check_count(name: str, value: Any, *, owner: str) -> int:
    """Validate a positive integer option."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise OptionError(f"{owner}: {name} must be a positive integer, got {value!r}")
    return int(value)


class Schedule:
    """Base class: a learning rate as a function of the step counter."""

    def expr(self) -> sp.Expr:
        """The learning rate at step ``T``."""
        raise NotImplementedError

    @property
    def initial(self) -> float:
        """The learning rate at step 0."""
        return float(self.expr().subs(T, 0))

    def __call__(self, step: int) -> float:
        """The learning rate at ``step`` (float64, for inspection and plots)."""
        return float(self.expr().subs(T, step))


def as_schedule(lr: Any, owner: str) -> Schedule:
    """A float becomes a :class:`Constant`; a schedule is returned as is."""
    if isinstance(lr, Schedule):
        return lr
    if isinstance(lr, bool) or not isinstance(lr, int | float):
        raise OptionError(
            f"{owner}: lr must be a number >= 0 or a schedule from symbp.schedules, got {lr!r}"
        )
    return Constant(check_rate("lr", lr, owner=owner))


@dataclass(frozen=True)
class Constant(Schedule):
    """A constant learning rate."""

    lr: float

    def __post_init__(self) -> None:
        check_rate("lr", self.lr, owner="Constant")

    def expr(self) -> sp.Expr:
        return sp.Float(self.lr)


@dataclass(frozen=True)
class ExponentialDecay(Schedule):
    """``lr * decay_rate ** (t / decay_steps)``; with ``staircase`` the exponent is floored.

    TensorFlow's ``exponential_decay``.
    """

    lr: float
    decay_rate: float
    decay_steps: int
    staircase: bool = False

    def __post_init__(self) -> None:
        check_rate("lr", self.lr, owner="ExponentialDecay")
        check_rate("decay_rate", self.decay_rate, owner="ExponentialDecay", allow_zero=False)
        check_count("decay_steps", self.decay_steps, owner="ExponentialDecay")
        if not isinstance(self.staircase, bool):
            raise OptionError(
                f"ExponentialDecay: staircase must be True or False, got {self.staircase!r}"
            )

    def expr(self) -> sp.Expr:
        exponent = T / self.decay_steps
        if self.staircase:
            exponent = sp.floor(exponent)
        return sp.Float(self.lr) * sp.Pow(sp.Float(self.decay_rate), exponent, evaluate=False)


@dataclass(frozen=True)
class StepDecay(Schedule):
    """``lr * gamma ** floor(t / step_size)`` (PyTorch's ``StepLR``)."""

    lr: float
    step_size: int
    gamma: float = 0.1

    def __post_init__(self) -> None:
        check_rate("lr", self.lr, owner="StepDecay")
        check_count("step_size", self.step_size, owner="StepDecay")
        check_rate("gamma", self.gamma, owner="StepDecay")

    def expr(self) -> sp.Expr:
        return sp.Float(self.lr) * sp.Pow(
            sp.Float(self.gamma), sp.floor(T / self.step_size), evaluate=False
        )


@dataclass(frozen=True)
class CosineDecay(Schedule):
    """``lr * ((1 - alpha) * (1 + cos(pi * min(t, D) / D)) / 2 + alpha)`` (TensorFlow's)."""

    lr: float
    decay_steps: int
    alpha: float = 0.0

    def __post_init__(self) -> None:
        check_rate("lr", self.lr, owner="CosineDecay")
        check_count("decay_steps", self.decay_steps, owner="CosineDecay")
        check_rate("alpha", self.alpha, owner="CosineDecay")
        if self.alpha > 1:
            raise OptionError(f"CosineDecay: alpha must be in [0, 1], got {self.alpha!r}")

    def expr(self) -> sp.Expr:
        progress = sp.Min(T, self.decay_steps) / self.decay_steps
        cosine = sp.Float(0.5) * (1 + sp.cos(sp.pi * progress))
        return sp.Float(self.lr) * ((1 - sp.Float(self.alpha)) * cosine + sp.Float(self.alpha))


@dataclass(frozen=True)
class Warmup(Schedule):
    """Linear warm-up: ``schedule(t) * min(1, (t + 1) / warmup_steps)``."""

    schedule: Schedule
    warmup_steps: int

    def __post_init__(self) -> None:
        if not isinstance(self.schedule, Schedule):
            raise OptionError(f"Warmup: schedule must be a schedule, got {self.schedule!r}")
        check_count("warmup_steps", self.warmup_steps, owner="Warmup")

    def expr(self) -> sp.Expr:
        return self.schedule.expr() * sp.Min(1, (T + 1) / sp.Integer(self.warmup_steps))
