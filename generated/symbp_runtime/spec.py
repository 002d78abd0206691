# symbp runtime: symbp writes this file next to generated modules; do not edit it.
"""What a generated module tells the runtime about itself, and the errors it raises.

A module builds one :class:`Spec` at import (``SPEC = RUNTIME.Spec(...)``): its model's
parameter layout, data shapes, kernels and optimizer form. Every driver takes it as
its first argument.
"""

import math
from typing import NamedTuple

import numpy as np

#: The modes of a module's ``_kernel`` (the protocol of :mod:`symbp.emit.driver`).
LOSS, GRAD, FIT, UPDATE = 0, 1, 2, 3


class InputError(ValueError):
    """Params, data or options passed to a generated module are invalid."""


class FitResult(NamedTuple):
    """Trained params (declared shapes), per-step batch losses, and resumable state."""

    params: dict
    losses: np.ndarray
    state: dict


class DivergenceError(ArithmeticError):
    """Training produced a non-finite batch loss or parameter.

    ``fit`` is the FitResult of every step before the first non-finite one (its
    state resumes exactly); ``step``, ``loss``, ``lr`` describe that step and
    ``param`` is ``(name, index)`` of the first non-finite parameter, or None.
    """

    def __init__(self, message, fit, step, loss, lr, param):
        super().__init__(message)
        self.fit = fit
        self.step = step
        self.loss = loss
        self.lr = lr
        self.param = param


def size_of(shape):
    """Number of elements of a declared shape (``()`` is one)."""
    return math.prod(shape)


class Spec:
    """Everything the drivers need to know about one generated module.

    Given by the module: ``model`` (its name), ``dtype`` (``np.float32``/``np.float64``),
    ``params`` (``(name, shape, offset)`` in the flat vector), ``data`` (``(name, shape)``
    of the inputs then the targets), ``n_inputs``, ``reduction``, ``slots`` (names of the
    per-element optimizer state), ``source_hash``, the kernels (``kernel``, ``predict``,
    ``hessp``, each None when absent), ``can_fit`` (generated with an optimizer),
    ``blas`` (its kernels call ``np.dot``, run through SciPy's BLAS), ``chunk`` and
    ``predict_chunk`` (samples per batch of an evaluation: the workspace stays
    cache-sized), ``n_hyper``, ``form`` and ``hyper`` (the optimizer's numbers: how
    many, the fingerprint of its form, and the module's own, or None), ``outputs``
    (``(name, shape)``), ``jacobian`` (the kernel of the residuals, or of an output's
    entries, and their Jacobian: :mod:`.lsq`; None when absent) and ``jacobian_shape``
    (the per-sample shape of those values). Derived: ``names``, ``size``, ``data_names``; ``cache`` holds
    what the drivers remember about the module (the last optimizer numbers, threading
    decisions).
    """

    __slots__ = (
        "blas",
        "cache",
        "can_fit",
        "chunk",
        "data",
        "data_names",
        "dtype",
        "form",
        "hessp",
        "hyper",
        "jacobian",
        "jacobian_shape",
        "kernel",
        "model",
        "n_hyper",
        "n_inputs",
        "names",
        "outputs",
        "params",
        "predict",
        "predict_chunk",
        "reduction",
        "size",
        "slots",
        "source_hash",
    )

    def __init__(
        self,
        *,
        model,
        dtype,
        params,
        data=(),
        n_inputs=0,
        reduction="mean",
        slots=(),
        source_hash="",
        kernel=None,
        predict=None,
        hessp=None,
        can_fit=False,
        blas=False,
        chunk=256,
        predict_chunk=256,
        n_hyper=0,
        form="",
        hyper=None,
        outputs=(),
        jacobian=None,
        jacobian_shape=(),
    ):
        self.model = model
        self.dtype = dtype
        self.params = tuple(params)
        self.data = tuple(data)
        self.n_inputs = n_inputs
        self.reduction = reduction
        self.slots = tuple(slots)
        self.source_hash = source_hash
        self.kernel = kernel
        self.predict = predict
        self.hessp = hessp
        self.can_fit = can_fit
        self.blas = blas
        self.chunk = chunk
        self.predict_chunk = predict_chunk
        self.n_hyper = n_hyper
        self.form = form
        self.hyper = hyper
        self.outputs = tuple(outputs)
        self.jacobian = jacobian
        self.jacobian_shape = tuple(jacobian_shape)
        self.names = tuple(name for name, _, _ in self.params)
        self.size = sum(size_of(shape) for _, shape, _ in self.params)
        self.data_names = tuple(name for name, _ in self.data)
        self.cache = {}

    def __repr__(self):
        return f"Spec(model={self.model!r}, params={self.names}, data={self.data_names})"


def param_at(spec, flat):
    """``(name, index)`` of the element ``flat`` of the packed parameters."""
    for name, shape, offset in spec.params:
        if offset <= flat < offset + size_of(shape):
            index = np.unravel_index(flat - offset, shape) if shape else ()
            return name, tuple(int(i) for i in index)
    raise IndexError(flat)


def param_label(param):
    """``W1[0, 2]`` for ``("W1", (0, 2))``, ``w`` for ``("w", ())``."""
    name, index = param
    return f"{name}[{', '.join(map(str, index))}]" if index else name


def divergence_message(spec, step, loss, lr, param):
    """What DivergenceError says of a step whose batch loss (``param`` None) or update
    (``param``: the first non-finite parameter) went non-finite."""
    if param is None:
        what = (
            f"the batch loss is {loss} (learning rate {lr:.6g} at that step; every parameter "
            "is still finite)"
        )
    else:
        what = (
            f"its update (batch loss {loss:.6g}, learning rate {lr:.6g}) made parameter "
            f"{param_label(param)} non-finite"
        )
    return (
        f"training of model {spec.model!r} diverged at step {step}: {what}. The result "
        f"up to step {step} is kept (.fit); a smaller learning rate may help"
    )
