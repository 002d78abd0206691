"""NumbaPrinter: SymPy scalar expression -> Python source that Numba compiles.

Every literal is printed in the kernel's precision (``np.float32(...)`` in float32
kernels, since Numba would otherwise promote the arithmetic to float64), numeric
constant subexpressions (``log(2)``, ``pi``) are folded into literals, and any
function without a translation fails at generation time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy as sp
from sympy.printing.pycode import PythonCodePrinter

from ..errors import UnsupportedFunction

#: SymPy function -> Numba-compatible callable (math.* keeps the argument's precision).
FUNCTIONS: dict[type, str] = {
    sp.exp: "math.exp",
    sp.log: "math.log",
    sp.sin: "math.sin",
    sp.cos: "math.cos",
    sp.tan: "math.tan",
    sp.asin: "math.asin",
    sp.acos: "math.acos",
    sp.atan: "math.atan",
    sp.atan2: "math.atan2",
    sp.sinh: "math.sinh",
    sp.cosh: "math.cosh",
    sp.tanh: "math.tanh",
    sp.asinh: "math.asinh",
    sp.acosh: "math.acosh",
    sp.atanh: "math.atanh",
    sp.erf: "math.erf",
    sp.erfc: "math.erfc",
    sp.Abs: "abs",
    sp.floor: "np.floor",
    sp.ceiling: "np.ceil",
}

#: Functions printed as the reciprocal of another: f(x) = 1 / g(x).
RECIPROCALS: dict[type, str] = {
    sp.cot: "math.tan",
    sp.sec: "math.cos",
    sp.csc: "math.sin",
    sp.coth: "math.tanh",
    sp.sech: "math.cosh",
    sp.csch: "math.sinh",
}

#: Inverse reciprocal functions: f(x) = g(1 / x).
INVERSE_RECIPROCALS: dict[type, str] = {
    sp.acot: "math.atan",
    sp.asec: "math.acos",
    sp.acsc: "math.asin",
    sp.acoth: "math.atanh",
    sp.asech: "math.acosh",
    sp.acsch: "math.asinh",
}


#: Special functions computed by the Numba functions of :mod:`symbp.emit.special`, which
#: the emitter pastes into every module that calls them (no SciPy at run time).
SPECIAL: dict[type, str] = {sp.gamma: "_gamma", sp.loggamma: "_loggamma", sp.beta: "_beta"}


def supported_functions() -> list[type]:
    """Every SymPy function class the printer can translate (plus Max, Min, ...)."""
    extra = [sp.Max, sp.Min, sp.Heaviside, sp.sign, sp.Piecewise, sp.polygamma]
    return [*FUNCTIONS, *RECIPROCALS, *INVERSE_RECIPROCALS, *SPECIAL, *extra]


@dataclass(frozen=True)
class PrinterConfig:
    """Everything that shapes the printed text."""

    dtype: str = "float64"
    #: how a leaf (declared symbol or matrix element) is printed
    leaf_names: Mapping[sp.Basic, str] = field(default_factory=dict)


def format_literal(value: float, dtype: str) -> str:
    """A float literal in the kernel precision, shortest round-trip text."""
    if dtype == "float32":
        return f"np.float32({np.float32(value)!s})"
    text = repr(float(value))
    return text


def fold_constants(expr: sp.Expr) -> sp.Expr:
    """Replace numeric subexpressions that are not plain numbers (log(2), pi) by Floats."""

    def is_foldable(e: sp.Basic) -> bool:
        return (
            isinstance(e, sp.Expr)
            and not e.is_Number
            and e.is_number
            and not e.has(sp.Piecewise)
            and bool(e.free_symbols) is False
        )

    return expr.replace(is_foldable, lambda e: sp.Float(sp.N(e, 30), 30))


class NumbaPrinter(PythonCodePrinter):  # type: ignore[misc]
    """Prints scalar expressions for Numba kernels in a fixed precision."""

    printmethod = "_numbacode"

    def __init__(self, config: PrinterConfig) -> None:
        super().__init__({"strict": True, "fully_qualified_modules": True})
        self.config = config
        #: the helper functions (symbp.emit.helpers) the printed code calls
        self.helpers: set[str] = set()

    def __call__(self, expr: sp.Basic) -> str:
        """Print one expression (as :meth:`print_expr`)."""
        return self.print_expr(expr)

    def helper(self, name: str) -> str:
        """``name``, a helper function the printed code calls, recorded in :attr:`helpers`
        (the module then defines it)."""
        self.helpers.add(name)
        return name

    # -- entry point -----------------------------------------------------------
    def print_expr(self, expr: sp.Basic) -> str:
        """Print one expression (the public entry point)."""
        return str(self.doprint(fold_constants(sp.sympify(expr))))

    def lit(self, value: float) -> str:
        """A literal in the configured precision."""
        return format_literal(value, self.config.dtype)

    # -- atoms -----------------------------------------------------------------
    def _print_Symbol(self, expr: sp.Symbol) -> str:
        name = self.config.leaf_names.get(expr)
        return name if name is not None else expr.name

    def _print_MatrixElement(self, expr: sp.Basic) -> str:
        name = self.config.leaf_names.get(expr)
        if name is None:
            raise UnsupportedFunction(f"matrix element {expr} is not a declared symbol")
        return name

    def _print_Integer(self, expr: sp.Integer) -> str:
        return self.lit(float(expr))

    _print_Zero = _print_Integer
    _print_One = _print_Integer
    _print_NegativeOne = _print_Integer

    def _print_Rational(self, expr: sp.Rational) -> str:
        return self.lit(float(expr))

    _print_Half = _print_Rational

    def _print_Float(self, expr: sp.Float) -> str:
        return self.lit(float(expr))

    def _print_BooleanTrue(self, expr: sp.Basic) -> str:
        return "True"

    def _print_BooleanFalse(self, expr: sp.Basic) -> str:
        return "False"

    # -- arithmetic ------------------------------------------------------------
    def _print_Add(self, expr: sp.Add, order: str | None = None) -> str:
        terms = list(expr.as_ordered_terms())
        # Positive terms first, so `p - lr*g` rather than `-lr*g + p`.
        terms.sort(key=lambda term: term.could_extract_minus_sign())
        text = self._print(terms[0])
        for term in terms[1:]:
            if term.could_extract_minus_sign():
                text += " - " + self.parenthesize(-term, 40)
            else:
                text += " + " + self.parenthesize(term, 40)
        return text

    def _print_Mul(self, expr: sp.Mul) -> str:
        coeff, rest = expr.as_coeff_Mul()
        if coeff == -1 and rest != 1:
            return "-" + self.parenthesize(rest, 50)  # precedence of Mul
        factors = sp.Mul.make_args(expr)
        parts = [self.parenthesize(f, 50) for f in factors]
        return "*".join(parts)

    def _print_Pow(self, expr: sp.Pow, rational: bool = False) -> str:
        base, exp = expr.args
        one = self.lit(1.0)
        if exp == sp.S.Half:
            return f"math.sqrt({self._print(base)})"
        if exp == -sp.S.Half:
            return f"{one}/math.sqrt({self._print(base)})"
        if exp == -1:
            return f"{one}/{self.parenthesize(base, 60)}"
        if exp.is_Integer and exp < 0:
            # Numba raises ZeroDivisionError for 0.0**-n whatever the error model; a
            # division gives IEEE's inf.
            return f"{one}/{self.parenthesize(base, 60)}**{-int(exp)}"
        if exp.is_Integer:
            # Integer powers keep the base's precision in Numba (LLVM powi).
            return f"{self.parenthesize(base, 60)}**{int(exp)}"
        return f"{self.parenthesize(base, 60)}**{self.parenthesize(exp, 60)}"

    # -- functions ---------------------------------------------------------------
    def _special(self, name: str, args: list[str], ints: str = "") -> str:
        """A call of a special function, computed in float64 (and rounded once in float32)."""
        self.helper(name)
        if self.config.dtype == "float32":
            inner = ", ".join(f"np.float64({a})" for a in args)
            return f"np.float32({name}({ints}{inner}))"
        return f"{name}({ints}{', '.join(args)})"

    # SymPy's Python printer maps loggamma to math.lgamma (log|Gamma|, finite where
    # Gamma < 0) and gamma to math.gamma: these take precedence over _print_Function.
    def _print_gamma(self, expr: sp.gamma) -> str:
        return self._print_Function(expr)

    def _print_loggamma(self, expr: sp.loggamma) -> str:
        return self._print_Function(expr)

    def _print_beta(self, expr: sp.beta) -> str:
        return self._print_Function(expr)

    def _print_polygamma(self, expr: sp.polygamma) -> str:
        order, x = expr.args
        if not (order.is_Integer and order >= 0):
            raise UnsupportedFunction(
                f"polygamma({order}, ...) needs a non-negative integer order, got {order}"
            )
        if order == 0:
            return self._special("_digamma", [self._print(x)])
        return self._special("_polygamma", [self._print(x)], f"{int(order)}, ")

    def _print_Function(self, expr: sp.Function) -> str:
        cls = type(expr)
        for klass in cls.__mro__:
            if klass in SPECIAL:
                return self._special(SPECIAL[klass], [self._print(a) for a in expr.args])
        args = ", ".join(self._print(a) for a in expr.args)
        for klass in cls.__mro__:
            if klass in FUNCTIONS:
                return f"{FUNCTIONS[klass]}({args})"
            if klass in RECIPROCALS:
                return f"({self.lit(1.0)}/{RECIPROCALS[klass]}({args}))"
            if klass in INVERSE_RECIPROCALS:
                return f"{INVERSE_RECIPROCALS[klass]}({self.lit(1.0)}/({args}))"
        raise UnsupportedFunction(
            f"function {cls.__name__} cannot be compiled to a Numba kernel (supported: "
            f"{', '.join(sorted(c.__name__ for c in supported_functions()))})"
        )

    def _print_extremum(self, name: str, expr: sp.Basic) -> str:
        args = [self._print(a) for a in expr.args]
        text = args[0]
        for arg in args[1:]:
            text = f"{name}({text}, {arg})"
        return text

    def _print_Max(self, expr: sp.Max) -> str:
        return self._print_extremum("max", expr)

    def _print_Min(self, expr: sp.Min) -> str:
        return self._print_extremum("min", expr)

    def _print_sign(self, expr: sp.sign) -> str:
        x = self._print(expr.args[0])
        one, zero = self.lit(1.0), self.lit(0.0)
        return f"({one} if {x} > {zero} else (-{one} if {x} < {zero} else {zero}))"

    def _print_Heaviside(self, expr: sp.Heaviside) -> str:
        x = self._print(expr.args[0])
        h0 = expr.args[1] if len(expr.args) > 1 else sp.S.Half
        one, zero = self.lit(1.0), self.lit(0.0)
        return f"({one} if {x} > {zero} else ({self._print(h0)} if {x} == {zero} else {zero}))"

    def _print_Piecewise(self, expr: sp.Piecewise) -> str:
        pieces = list(expr.args)
        if pieces[-1].cond != sp.true:
            raise UnsupportedFunction(
                f"Piecewise {expr} has no final (value, True) branch: it is undefined "
                "for some inputs"
            )
        text = self._print(pieces[-1].expr)
        for piece in reversed(pieces[:-1]):
            text = f"({self._print(piece.expr)} if {self._print(piece.cond)} else {text})"
        return text

    def _print_Relational(self, expr: sp.core.relational.Relational) -> str:
        ops = {"==": "==", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
        op = ops[expr.rel_op]
        return f"({self._print(expr.lhs)} {op} {self._print(expr.rhs)})"

    def _print_not_supported(self, expr: Any) -> str:
        raise UnsupportedFunction(
            f"{type(expr).__name__} ({expr}) cannot be compiled to a Numba kernel"
        )

    def emptyPrinter(self, expr: Any) -> str:
        return self._print_not_supported(expr)


def function_compiles(cls: type) -> bool:
    """Whether the kernels can compute a SymPy function of class ``cls`` (the printer's
    own dispatch: the first ``_print_<class>`` along the MRO; the generic one knows the
    functions of the tables); a class that prints itself (``_numbacode``) compiles."""
    if hasattr(cls, NumbaPrinter.printmethod):
        return True
    for klass in cls.__mro__:
        method = getattr(NumbaPrinter, f"_print_{klass.__name__}", None)
        if method is None:
            continue
        if method is not NumbaPrinter._print_Function:
            return True
        tables = (SPECIAL, FUNCTIONS, RECIPROCALS, INVERSE_RECIPROCALS)
        return any(k in table for k in cls.__mro__ for table in tables)
    return False


def make_printer(dtype: str, leaf_names: Mapping[sp.Basic, str]) -> NumbaPrinter:
    """A printer (call it on an expression) for the given precision and leaf naming."""
    return NumbaPrinter(PrinterConfig(dtype, leaf_names))
