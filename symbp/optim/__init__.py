"""Optimizers: symbolic update rules with the semantics of ``torch.optim``."""

from .base import Optimizer, UpdateRule
from .sgd import SGD

__all__ = ["SGD", "Optimizer", "UpdateRule"]
