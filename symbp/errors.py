"""Exception hierarchy: every error symbp raises derives from :class:`SymbpError`."""

from __future__ import annotations

from typing import Any


class SymbpError(Exception):
    """Base class of every error raised by symbp."""


class DeclarationError(SymbpError, ValueError):
    """A model declaration is invalid (symbols, roles, shapes, names)."""


class DataError(SymbpError, ValueError):
    """Params or data given to a trainer or generated module are invalid."""


class OptionError(SymbpError, ValueError):
    """An optimizer, schedule, dtype or training option is invalid."""


class EmitError(SymbpError, RuntimeError):
    """Code generation failed, or a file could not be written safely."""


class UnsupportedFunction(SymbpError, NotImplementedError):
    """A function in the model has no derivative rule or no kernel translation."""


class MissingVJPRule(UnsupportedFunction):
    """A function in the model has no derivative rule."""


class DivergenceError(SymbpError, ArithmeticError):
    """Training produced a non-finite batch loss or parameter.

    Raised by :meth:`symbp.Trainer.fit` at the first such step. ``fit`` is the
    :class:`symbp.Fit` of every step before it (params, losses and a state that
    resumes exactly), so nothing trained is lost; ``step``, ``loss`` and ``lr``
    describe the failing step, ``param`` is ``(name, index)`` of the first
    non-finite parameter (None when only the loss was non-finite).
    """

    def __init__(
        self,
        message: str,
        fit: Any = None,
        step: int | None = None,
        loss: float | None = None,
        lr: float | None = None,
        param: tuple[str, tuple[int, ...]] | None = None,
    ):
        super().__init__(message)
        self.fit = fit
        self.step = step
        self.loss = loss
        self.lr = lr
        self.param = param


class OptimizationError(SymbpError, RuntimeError):
    """SciPy failed inside :meth:`symbp.Trainer.minimize` or :meth:`symbp.Trainer.least_squares`.

    ``method`` is the SciPy method that failed and ``fit`` the :class:`symbp.Fit` of the
    best point evaluated before the failure (its ``losses`` those recorded so far), as
    :class:`DivergenceError` keeps the fit so far; the SciPy exception is the cause.
    """

    def __init__(self, message: str, fit: Any = None, method: str | None = None):
        super().__init__(message)
        self.fit = fit
        self.method = method
