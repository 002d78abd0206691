"""symbp: backpropagation as compiled, readable code.

Declare a model as SymPy expressions, derive its reverse-mode gradient symbolically,
read the derivation, and train it with generated Numba kernels.
"""

from __future__ import annotations

__version__ = "0.1.0"

from . import elements, optim, schedules
from .errors import (
    DataError,
    DeclarationError,
    DivergenceError,
    EmitError,
    MissingVJPRule,
    OptionError,
    SymbpError,
    UnsupportedFunction,
)
from .model import Model
from .trainer import Fit, Trainer, load_fit

elements.install()  # (A*B)[0, 0] stays a matrix-level node: see symbp.elements

__all__ = [
    "DataError",
    "DeclarationError",
    "DivergenceError",
    "EmitError",
    "Fit",
    "MissingVJPRule",
    "Model",
    "OptionError",
    "SymbpError",
    "Trainer",
    "UnsupportedFunction",
    "__version__",
    "load_fit",
    "optim",
    "schedules",
]
