"""Structural nonzeros: which entries of an expression can be nonzero, whatever the values.

Evaluates expressions with booleans instead of numbers (``True``: may be nonzero):
declared symbols and data may be anything, a sum may be nonzero where any term may, a
product (matrix, Hadamard or scalar) only where its factors meet, a unit matrix at its
one entry, an elementwise function where its argument may be nonzero when ``f(0) = 0``
(everywhere otherwise). What it proves zero is zero for every value of the leaves: the
Jacobian's sparsity (:meth:`symbp.Trainer.jacobian` with ``sparse=True``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import sympy as sp
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction
from sympy.matrices.expressions.matexpr import MatrixElement

from .matrix import RowLogSumExp, Unit


def _full(expr: sp.Basic, value: bool) -> np.ndarray:
    rows, cols = (int(d) for d in expr.shape)
    return np.full((rows, cols), value)


def structure(expr: sp.Basic, env: Mapping[sp.Basic, Any]) -> Any:
    """A boolean array (matrices) or bool (scalars): where ``expr`` may be nonzero.

    ``env`` maps symbols whose structure is known (earlier statements) to theirs; any
    other symbol may be nonzero everywhere.
    """
    if expr in env:
        return env[expr]
    if isinstance(expr, sp.MatrixExpr):
        return _matrix(expr, env)
    if expr.is_number:
        return bool(expr != 0)
    if isinstance(expr, sp.Symbol | MatrixElement) and not expr.args[1:]:
        return True
    if isinstance(expr, MatrixElement):
        matrix, i, j = expr.args
        return bool(structure(matrix, env)[int(i), int(j)])
    if isinstance(expr, sp.Add):
        return any(structure(a, env) for a in expr.args)
    if isinstance(expr, sp.Mul):
        return all(structure(a, env) for a in expr.args)
    if isinstance(expr, sp.Pow) and expr.args[1].is_positive:
        return structure(expr.args[0], env)
    if isinstance(expr, sp.Trace):
        return bool(np.diagonal(structure(expr.arg, env)).any())
    return True  # a function: nonzero in general


def _matrix(expr: sp.MatrixExpr, env: Mapping[sp.Basic, Any]) -> np.ndarray:
    if isinstance(expr, sp.ZeroMatrix):
        return _full(expr, False)
    if isinstance(expr, sp.Identity):
        return np.eye(int(expr.shape[0]), dtype=bool)
    if isinstance(expr, Unit):
        unit = _full(expr, False)
        unit[expr.position] = True
        return unit
    if isinstance(expr, sp.MatAdd):
        return np.logical_or.reduce([np.broadcast_to(structure(a, env), _full(expr, 0).shape)
                                     for a in expr.args])  # fmt: skip
    if isinstance(expr, sp.MatMul):
        result: Any = True
        for arg in expr.args:
            value = structure(arg, env)
            if isinstance(arg, sp.MatrixExpr) and np.ndim(result):
                result = (result.astype(int) @ value.astype(int)) > 0
            elif isinstance(arg, sp.MatrixExpr):
                result = value & result
            else:
                result = result & value
        return np.broadcast_to(result, _full(expr, 0).shape).copy()
    if isinstance(expr, sp.Transpose):
        return structure(expr.arg, env).T
    if isinstance(expr, sp.HadamardProduct):
        return np.logical_and.reduce([structure(a, env) for a in expr.args])
    if isinstance(expr, sp.HadamardPower):
        return structure(expr.args[0], env)
    if isinstance(expr, ElementwiseApplyFunction):
        (var,) = expr.function.variables
        arg = structure(expr.expr, env)
        body = expr.function.expr
        zero = body.xreplace({var: 0})
        if zero.free_symbols or not zero.is_number or zero != 0:
            return _full(expr, True)
        return arg
    if isinstance(expr, RowLogSumExp):
        return _full(expr, True)
    return _full(expr, True)  # a declared matrix, data, a constant: anything


def program_structure(statements: Any, outputs: list[sp.Basic]) -> list[Any]:
    """The structure of each of ``outputs`` after the program's ``statements``."""
    env: dict[sp.Basic, Any] = {}
    for target, expr in statements:
        env[target] = structure(expr, env)
    return [structure(o, env) for o in outputs]
