"""A reference evaluator for matrix expressions (NumPy, float64): the tests' oracle.

Independent of the emitter: it interprets SymPy matrix expressions directly, one
NumPy operation per node, so the batched kernels and the sweep's programs can be
checked against it on small sizes. Not fast, not meant for training.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import sympy as sp
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction
from sympy.matrices.expressions.matexpr import MatrixElement

from .matrix import Pad, RowLogSumExp, Unit, block_ranges
from .scalar import LogSumExp, Sigmoid, Softplus
from .scan import Scan


def _logsumexp(*args: Any) -> Any:
    stacked = np.stack(np.broadcast_arrays(*args))
    m = stacked.max(axis=0)
    return m + np.log(np.exp(stacked - m).sum(axis=0))


#: NumPy versions of the primitives (stable, like the kernels) for ``lambdify``.
NUMPY_PRIMITIVES = {
    Sigmoid.__name__: lambda x: np.where(
        x >= 0, 1 / (1 + np.exp(-np.abs(x))), np.exp(-np.abs(x)) / (1 + np.exp(-np.abs(x)))
    ),
    Softplus.__name__: lambda x: np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x))),
    LogSumExp.__name__: _logsumexp,
}


def _scalar(expr: sp.Expr, env: Mapping[sp.Basic, Any]) -> float:
    symbols = sorted(expr.free_symbols, key=sp.default_sort_key)
    func = sp.lambdify(symbols, expr, modules=[NUMPY_PRIMITIVES, "numpy"])
    return float(func(*(env[s] for s in symbols)))


Evaluator = Callable[[Any, Mapping[sp.Basic, Any]], Any]

#: Evaluators of node classes defined by later stages (a scan's cotangents:
#: :mod:`symbp.simplify.scan`), consulted before the built-in ones.
EVALUATORS: dict[type, Evaluator] = {}


def _slice(index: Any) -> slice:
    start, stop, step = (int(v) for v in index)
    return slice(start, stop, step)


def scan_states(scan: Scan, env: Mapping[sp.Basic, Any]) -> np.ndarray:
    """Every state ``h_0..h_T`` of a scan, one row each (a ``(T + 1) x H`` array)."""
    sequences = [evaluate(seq, env) for seq in scan.sequences]
    states = [evaluate(scan.init, env).reshape(1, -1)]
    for t in range(scan.steps):
        local = {**env, scan.state: states[-1]}
        local.update(
            {row: seq[t : t + 1] for row, seq in zip(scan.row_symbols, sequences, strict=True)}
        )
        states.append(np.asarray(evaluate(scan.body, local), dtype=np.float64).reshape(1, -1))
    return np.vstack(states)


def evaluate(expr: sp.Basic, env: Mapping[sp.Basic, Any]) -> Any:
    """The value of ``expr`` (a 2-D array, or a float for a scalar) given ``env``.

    ``env`` maps each ``MatrixSymbol`` to a 2-D array and each ``Symbol`` to a float.
    """
    if expr in env:
        value = env[expr]
        return np.asarray(value, dtype=np.float64) if isinstance(expr, sp.MatrixExpr) else value
    for cls in type(expr).__mro__:
        if cls in EVALUATORS:
            return EVALUATORS[cls](expr, env)
    if isinstance(expr, sp.MatrixBase):
        return np.array(expr.tolist(), dtype=np.float64)
    if isinstance(expr, sp.MatrixSlice):
        return evaluate(expr.parent, env)[_slice(expr.rowslice), _slice(expr.colslice)]
    if isinstance(expr, Pad):
        out = np.zeros(tuple(int(d) for d in expr.shape))
        out[slice(*expr.rows_of), slice(*expr.cols_of)] = evaluate(expr.inner, env)
        return out
    if isinstance(expr, sp.BlockMatrix):
        out = np.zeros(tuple(int(d) for d in expr.shape))
        for block, (r0, r1), (c0, c1) in block_ranges(expr):
            out[r0:r1, c0:c1] = evaluate(block, env)
        return out
    if isinstance(expr, Scan):
        states = scan_states(expr, env)
        return states[1:] if expr.return_all else states[-1:]
    if isinstance(expr, sp.OneMatrix):
        return np.ones(tuple(int(d) for d in expr.shape))
    if isinstance(expr, sp.ZeroMatrix):
        return np.zeros(tuple(int(d) for d in expr.shape))
    if isinstance(expr, sp.Identity):
        return np.eye(int(expr.shape[0]))
    if isinstance(expr, Unit):
        unit = np.zeros(tuple(int(d) for d in expr.shape))
        unit[expr.position] = 1.0
        return unit
    if isinstance(expr, MatrixElement):
        matrix, i, j = expr.args
        return float(evaluate(matrix, env)[int(i), int(j)])
    if isinstance(expr, sp.MatMul):
        result: Any = 1.0
        for arg in expr.args:
            value = evaluate(arg, env)
            result = result @ value if arg.is_Matrix and np.ndim(result) else result * value
        return result
    if isinstance(expr, sp.MatAdd):
        return sum(evaluate(a, env) for a in expr.args)
    if isinstance(expr, sp.Transpose):
        return evaluate(expr.arg, env).T
    if isinstance(expr, sp.HadamardProduct):
        result = evaluate(expr.args[0], env)
        for arg in expr.args[1:]:
            result = result * evaluate(arg, env)
        return result
    if isinstance(expr, sp.HadamardPower):
        return evaluate(expr.args[0], env) ** evaluate(expr.args[1], env)
    if isinstance(expr, ElementwiseApplyFunction):
        lam = expr.function
        (var,) = lam.variables
        free = sorted(lam.expr.free_symbols - {var}, key=sp.default_sort_key)
        func = sp.lambdify([var, *free], lam.expr, modules=[NUMPY_PRIMITIVES, "numpy"])
        arg = evaluate(expr.expr, env)
        return np.broadcast_to(func(arg, *(env[s] for s in free)), arg.shape).astype(float)
    if isinstance(expr, RowLogSumExp):
        arg = evaluate(expr.arg, env)
        m = arg.max(axis=1, keepdims=True)
        return m + np.log(np.exp(arg - m).sum(axis=1, keepdims=True))
    if isinstance(expr, sp.MatPow):
        return np.linalg.matrix_power(evaluate(expr.args[0], env), int(expr.args[1]))
    if isinstance(expr, sp.Trace):
        return float(np.trace(evaluate(expr.arg, env)))
    if isinstance(expr, sp.MatrixExpr):
        raise TypeError(f"cannot evaluate {type(expr).__name__}: {expr}")
    inner = {n: sp.Float(evaluate(n, env)) for n in expr.atoms(sp.Trace)}
    return _scalar(expr.xreplace(inner), env)


def evaluate_program(program: Any, env: Mapping[sp.Basic, Any]) -> tuple[float, dict[str, Any]]:
    """The per-sample loss and gradients of a matrix program (a
    :class:`symbp.simplify.program.Program`) at ``env``."""
    values: dict[sp.Basic, Any] = dict(env)
    for target, expr in program.statements:
        values[target] = evaluate(expr, values)
    loss = evaluate(program.loss, values)
    grads = {name: evaluate(expr, values) for name, _, expr in program.gradients}
    return float(np.asarray(loss).reshape(())), grads
