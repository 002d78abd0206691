"""Optimizers: symbolic update rules with the semantics of ``torch.optim``."""

from .adagrad import Adagrad
from .adam import Adam, AdamW
from .base import Optimizer, UpdateRule
from .rmsprop import RMSprop
from .rprop import Rprop
from .sgd import SGD

__all__ = ["SGD", "Adagrad", "Adam", "AdamW", "Optimizer", "RMSprop", "Rprop", "UpdateRule"]
