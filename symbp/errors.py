"""Exception hierarchy: every error symbp raises derives from :class:`SymbpError`."""

from __future__ import annotations


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
