"""Building blocks for neural-network losses, as ordinary SymPy expressions.

Every helper returns the textbook formula a user could have written by hand (on a
scalar, or elementwise on a matrix expression, never unrolled); nothing here is
special to symbp's compiler. The numerical stability comes afterwards, from the
always-on passes of :mod:`symbp.simplify.stability`, which recognise these formulas:
``log(1 + exp(z))`` runs as a stable softplus, ``log(sum(exp(z)))`` max-shifted, and
a softmax or sigmoid cross-entropy gets the ``p - t`` gradient.

Vectors are per-sample rows (``1 x k``) or columns (``k x 1``); the helpers work on
either. On a general ``r x c`` matrix, softmax-type helpers act on each row.

>>> import sympy as sp
>>> from symbp import nn
>>> x, W, b = sp.MatrixSymbol("x", 1, 4), sp.MatrixSymbol("W", 4, 3), sp.MatrixSymbol("b", 1, 3)
>>> t = sp.MatrixSymbol("t", 1, 3)
>>> loss = nn.softmax_cross_entropy(nn.dense(x, W, b), t)    # a 1x1 matrix expression
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sympy as sp

from .errors import DeclarationError
from .nodes.matrix import ELEMENT, elementwise
from .nodes.scan import ROW, STATE, Scan, scans_in

Activation = Callable[[Any], Any]


def _is_matrix(z: Any) -> bool:
    return isinstance(z, sp.MatrixExpr | sp.MatrixBase)


def _map(formula: Callable[[sp.Expr], sp.Expr], z: Any) -> Any:
    """``formula`` on a scalar, or elementwise on a matrix expression."""
    if _is_matrix(z):
        return elementwise(sp.Lambda(ELEMENT, formula(ELEMENT)), z)
    return formula(sp.sympify(z))


def sigmoid(z: Any) -> Any:
    """The logistic function ``1 / (1 + exp(-z))`` (elementwise on a matrix)."""
    return _map(lambda u: 1 / (1 + sp.exp(-u)), z)


def relu(z: Any) -> Any:
    """``max(0, z)`` (elementwise); its derivative at 0 is 0, like ``torch.relu``."""
    return _map(lambda u: sp.Max(0, u), z)


def softplus(z: Any) -> Any:
    """``log(1 + exp(z))`` (elementwise)."""
    return _map(lambda u: sp.log(1 + sp.exp(u)), z)


def tanh(z: Any) -> Any:
    """``tanh(z)`` (elementwise)."""
    return _map(sp.tanh, z)


def _activate(activation: Activation | None, z: sp.MatrixExpr) -> sp.MatrixExpr:
    if activation is None:
        return z
    if activation in (sigmoid, relu, softplus, tanh):
        return activation(z)  # type: ignore[no-any-return]
    return _map(activation, z)  # type: ignore[no-any-return]


def dense(
    x: sp.MatrixExpr,
    W: sp.MatrixExpr,
    b: sp.MatrixExpr | None = None,
    activation: Activation | None = None,
) -> sp.MatrixExpr:
    """A fully connected layer: ``activation(x W + b)`` for a row ``x``, ``activation(W x + b)``
    for a column ``x``.

    ``activation`` is any scalar function (``sp.tanh``, :func:`sigmoid`, :func:`relu`,
    a ``lambda``), applied elementwise.
    """
    rows, cols = x.shape
    if rows == 1 and W.shape[0] == cols:
        z = x * W
    elif cols == 1 and W.shape[1] == rows:
        z = W * x
    else:
        raise DeclarationError(
            f"dense: cannot multiply x of shape {x.shape} with W of shape {W.shape}; "
            "W must be (inputs, outputs) for a row x, (outputs, inputs) for a column x"
        )
    if b is not None:
        if b.shape != z.shape:
            raise DeclarationError(f"dense: bias has shape {b.shape}; expected {z.shape}")
        z = z + b
    return _activate(activation, z)


def _exp(z: sp.MatrixExpr) -> sp.MatrixExpr:
    return elementwise(sp.Lambda(ELEMENT, sp.exp(ELEMENT)), z)


def _log(z: sp.MatrixExpr) -> sp.MatrixExpr:
    return elementwise(sp.Lambda(ELEMENT, sp.log(ELEMENT)), z)


def _column(z: sp.MatrixExpr) -> bool:
    return z.shape[1] == 1 and z.shape[0] != 1


def logsumexp(z: sp.MatrixExpr) -> sp.MatrixExpr:
    """``log(sum(exp(z)))`` over a vector (a 1x1 result), or over each row of a matrix."""
    rows, cols = z.shape
    if _column(z):
        return _log(sp.OneMatrix(1, rows) * _exp(z))
    return _log(_exp(z) * sp.OneMatrix(cols, 1))


def log_softmax(z: sp.MatrixExpr) -> sp.MatrixExpr:
    """``z - logsumexp(z)``, the log-probabilities of a vector (or of each row)."""
    rows, cols = z.shape
    if _column(z):
        return z - sp.OneMatrix(rows, 1) * logsumexp(z)
    return z - logsumexp(z) * sp.OneMatrix(1, cols)


def softmax(z: sp.MatrixExpr) -> sp.MatrixExpr:
    """``exp(z) / sum(exp(z))`` over a vector (or each row), as ``exp(log_softmax(z))``."""
    return _exp(log_softmax(z))


def _element_sum(m: sp.MatrixExpr) -> sp.MatrixExpr:
    rows, cols = m.shape
    if rows != 1:
        m = sp.OneMatrix(1, rows) * m
    if cols != 1:
        m = m * sp.OneMatrix(cols, 1)
    return m


def softmax_cross_entropy(z: sp.MatrixExpr, t: sp.MatrixExpr) -> sp.MatrixExpr:
    """``-sum(t * log_softmax(z))``: cross-entropy of target probabilities ``t``
    (e.g. one-hot) and the softmax of the logits ``z``, as a 1x1 matrix."""
    if z.shape != t.shape:
        raise DeclarationError(f"softmax_cross_entropy: z has shape {z.shape}, t has {t.shape}")
    # -sum(t (z - lse)) = lse sum(t) - t.z: one log-sum-exp and one inner product.
    rows, cols = z.shape
    if rows == 1:
        return logsumexp(z) * (t * sp.OneMatrix(cols, 1)) - z * t.T
    if cols == 1:
        return (sp.OneMatrix(1, rows) * t) * logsumexp(z) - t.T * z
    return -_element_sum(sp.HadamardProduct(t, log_softmax(z)))


def binary_cross_entropy_with_logits(z: Any, t: Any) -> Any:
    """``-(t log(sigmoid(z)) + (1 - t) log(1 - sigmoid(z)))``, summed over elements.

    Written as the equal ``log(1 + exp(z)) - t z`` (so the gradient is
    ``sigmoid(z) - t``); a scalar ``z`` gives a scalar, a matrix ``z`` (with a scalar
    ``t`` or a ``t`` of the same shape) a 1x1 matrix.
    """
    if not _is_matrix(z):
        return softplus(z) - t * z
    if _is_matrix(t):
        if t.shape != z.shape:
            raise DeclarationError(
                f"binary_cross_entropy_with_logits: z has shape {z.shape}, t has {t.shape}"
            )
        return _element_sum(softplus(z) - sp.HadamardProduct(t, z))
    return _element_sum(_map(lambda u: sp.log(1 + sp.exp(u)) - t * u, z))


def mse(y: Any, t: Any) -> Any:
    """Mean squared error over the elements: ``mean((y - t)^2)`` (1x1 for matrices)."""
    if not _is_matrix(y):
        return (y - t) ** 2
    rows, cols = y.shape
    diff = y - t
    return _element_sum(sp.HadamardProduct(diff, diff)) / (rows * cols)


def scan(
    step: Callable[..., Any],
    init: Any,
    xs: Any,
    return_all: bool = False,
) -> sp.MatrixExpr:
    """A recurrence over the rows of a sequence, as one node: ``h_t = step(h_{t-1}, x_t)``.

    ``xs`` is a ``T x D`` matrix expression (a per-sample input, or one computed from
    it, e.g. ``X * Wx``) or a tuple of them with the same ``T``; ``step(h, x_t)`` (or
    ``step(h, x_t, y_t, ...)`` for a tuple) returns the next state, a ``1 x H`` matrix
    expression of ``h``, the rows and parameters; ``init`` is ``h_0`` (``1 x H``, e.g.
    ``sp.ZeroMatrix(1, H)`` or a parameter). The result is the last state (``1 x H``),
    or with ``return_all=True`` every state ``h_1..h_T`` stacked (``T x H``), for
    per-step losses.

    The derivation holds the step once; its reverse mode is backpropagation through
    time, and the kernels run both as loops over ``t``, so neither the build time nor
    the compiled code grows with ``T``.

    >>> X = sp.MatrixSymbol("X", 50, 3)
    >>> Wx, Wh, b = sp.MatrixSymbol("Wx", 3, 8), sp.MatrixSymbol("Wh", 8, 8), sp.MatrixSymbol("b", 1, 8)
    >>> h = scan(lambda h, x: tanh(x * Wx + h * Wh + b), sp.ZeroMatrix(1, 8), X)
    """
    sequences = tuple(xs) if isinstance(xs, tuple | list) else (xs,)
    if not sequences:
        raise DeclarationError("scan: xs must be a T x D matrix expression or a tuple of them")
    for k, seq in enumerate(sequences):
        if not _is_matrix(seq) or len(seq.shape) != 2:
            raise DeclarationError(
                f"scan: xs[{k}] must be a T x D matrix expression, got {type(seq).__name__}"
            )
    steps = {int(seq.shape[0]) for seq in sequences}
    if len(steps) != 1:
        shapes = ", ".join(str(tuple(s.shape)) for s in sequences)
        raise DeclarationError(f"scan: the sequences must have the same length T; got {shapes}")
    init = sp.sympify(init)
    if not _is_matrix(init) or int(init.shape[0]) != 1:
        shape = tuple(init.shape) if _is_matrix(init) else "a scalar"
        raise DeclarationError(f"scan: init must be a 1 x H matrix expression, got {shape}")
    if isinstance(init, sp.MatrixBase):
        init = sp.ImmutableMatrix(init)
    width = int(init.shape[1])
    state = sp.MatrixSymbol(STATE, 1, width)
    rows = tuple(
        sp.MatrixSymbol(f"{ROW}{k}", 1, int(seq.shape[1])) for k, seq in enumerate(sequences)
    )
    body = sp.sympify(step(state, *rows))
    if not _is_matrix(body) or tuple(int(d) for d in body.shape) != (1, width):
        shape = tuple(body.shape) if _is_matrix(body) else type(body).__name__
        raise DeclarationError(
            f"scan: step(h, x_t) must return the next state, a 1 x {width} matrix expression "
            f"like init; it returned {shape}"
        )
    if scans_in(body):
        raise DeclarationError(
            "scan: a step that runs a scan of its own is not supported; run the inner "
            "recurrence first (return_all=True) and scan over its states"
        )
    return Scan(body, state, rows, init, sequences, return_all)
