"""symbp: backpropagation as compiled, readable code.

Declare a model as SymPy expressions, derive its reverse-mode gradient symbolically,
read the derivation, and train it with generated Numba kernels.
"""

from __future__ import annotations

from . import optim, schedules
from .errors import (
    DataError,
    DeclarationError,
    DivergenceError,
    EmitError,
    MissingVJPRule,
    OptimizationError,
    OptionError,
    SymbpError,
    UnsupportedFunction,
)
from .model import Model
from .nodes import elements
from .train.covariance import Covariance, UncertaintyWarning
from .train.fit import Fit, load_fit
from .train.trainer import Trainer
from .version import __version__

elements.install()  # (A*B)[0, 0] stays a matrix-level node: see symbp.nodes.elements

__all__ = [
    "Covariance",
    "DataError",
    "DeclarationError",
    "DivergenceError",
    "EmitError",
    "Fit",
    "MissingVJPRule",
    "Model",
    "OptimizationError",
    "OptionError",
    "SymbpError",
    "Trainer",
    "UncertaintyWarning",
    "UnsupportedFunction",
    "__version__",
    "load_fit",
    "optim",
    "schedules",
]
